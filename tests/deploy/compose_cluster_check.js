// compose_cluster_check.js CLUSTER DEFAULT COMPOSE_DIR: the compose profile
// cluster as `docker-compose --env-file cluster.env --profile cluster config`
// (CLUSTER) resolves it, and the default (DEFAULT, no env file): three NATS
// servers on nats-cluster.conf with their own names, volumes and the
// generated routes, 3 ingest, 2 publish and 2 monitor that differ from their
// first replica only in SERVICE_ID (unique per role), every service on all
// three servers with NATS_REPLICAS=3, coin-cluster.env equal to coin.env but
// for those two variables, the routes command of cluster.env naming the NATS
// services; the default keeps one server on the role table alone.
// Prints "ok - ..." / "FAIL - ..." lines; exit 1 on any failure.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const [clusterFile, defaultFile, dir] = process.argv.slice(2);
let failed = 0;
const check = (name, cond, detail) => {
  if (cond) console.log(`ok - ${name}`);
  else {
    failed++;
    console.log(`FAIL - ${name}${detail ? ": " + detail : ""}`);
  }
};

const c = YAML.parse(fs.readFileSync(clusterFile, "utf8")).services;
const d = YAML.parse(fs.readFileSync(defaultFile, "utf8")).services;
const cmd = (s) => (Array.isArray(s.command) ? s.command : String(s.command || "").split(" "));
const arg = (s, flag) => {
  const a = cmd(s);
  const i = a.indexOf(flag);
  return i >= 0 ? a[i + 1] : undefined;
};
const vols = (s) => (s.volumes || []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`));
const mountOf = (s, target) => (vols(s).find((v) => v.split(":")[1] === target) || "").split(":")[0];

const inCluster = Object.keys(c).filter((n) => (c[n].profiles || []).includes("cluster")).sort();
check("profile cluster: nats-2, nats-3, ingest-2, ingest-3, publish-2, monitor-2",
  inCluster.join(",") === "ingest-2,ingest-3,monitor-2,nats-2,nats-3,publish-2", inCluster.join(","));

// ---- the three NATS servers ------------------------------------------------
const natsNames = Object.keys(c).filter((n) => c[n].image && /^nats:/.test(c[n].image)).sort();
check("three NATS servers: nats, nats-2, nats-3", natsNames.join(",") === "nats,nats-2,nats-3", natsNames.join(","));
const seen = { name: new Set(), data: new Set() };
for (const n of natsNames) {
  const s = c[n];
  check(`${n}: runs -c /etc/nats/nats-cluster.conf -js`, arg(s, "-c") === "/etc/nats/nats-cluster.conf" && cmd(s).includes("-js"), cmd(s).join(" "));
  seen.name.add(arg(s, "-n"));
  seen.data.add(mountOf(s, "/data"));
  check(`${n}: nats-cluster.conf and the role table from deploy/nats, the passwords next to them`,
    /deploy\/nats\/nats-cluster\.conf$/.test(mountOf(s, "/etc/nats/nats-cluster.conf")) &&
      /deploy\/nats\/nats-permissions\.conf$/.test(mountOf(s, "/etc/nats/nats-permissions.conf")) &&
      /nats-passwords\.conf$/.test(mountOf(s, "/etc/nats/nats-passwords.conf")), JSON.stringify(vols(s)));
  check(`${n}: the generated routes (not the placeholder)`,
    /secrets\/nats\/nats-routes\.conf$/.test(mountOf(s, "/etc/nats/nats-routes.conf")), mountOf(s, "/etc/nats/nats-routes.conf"));
}
check("NATS servers: each its own name (-n) and its own data volume", seen.name.size === 3 && seen.data.size === 3 && !seen.data.has(""),
  JSON.stringify({ names: [...seen.name], data: [...seen.data] }));

// ---- the services ----------------------------------------------------------
const wantUrl = natsNames.map((n) => `nats://${n}:4222`).join(",");
const roleOf = (n) => (c[n].image && /^nats:/.test(c[n].image) ? null : /^(ingest|publish|monitor|train)(-[0-9]+)?$/.exec(n));
const byRole = {};
for (const n of Object.keys(c)) {
  const m = roleOf(n);
  if (!m) continue;
  const env = c[n].environment || {};
  check(`${n}: NATS_URL lists the three servers, NATS_REPLICAS=3`, env.NATS_URL === wantUrl && String(env.NATS_REPLICAS) === "3",
    JSON.stringify({ NATS_URL: env.NATS_URL, NATS_REPLICAS: env.NATS_REPLICAS }));
  (byRole[m[1]] = byRole[m[1]] || []).push(n);
}
for (const [role, want] of [["ingest", 3], ["publish", 2], ["monitor", 2]]) {
  const names = (byRole[role] || []).sort();
  check(`${role}: ${want} replicas`, names.length === want, names.join(","));
  const ids = names.map((n) => (c[n].environment || {}).SERVICE_ID);
  check(`${role}: a SERVICE_ID per replica (${ids.join(",")})`, ids.every(Boolean) && new Set(ids).size === ids.length);
  const strip = (n) => {
    const s = JSON.parse(JSON.stringify(c[n]));
    delete s.environment.SERVICE_ID;
    delete s.profiles;
    delete s.ports;
    delete s.container_name;
    return JSON.stringify(s);
  };
  for (const n of names.slice(1))
    check(`${n}: as ${role} but for SERVICE_ID (same command, config, secrets, site volume)`, strip(n) === strip(role));
}
const hostPorts = [];
// "IP:HOST:CONTAINER/proto" or {published, target}: the host side
const hostPort = (p) => (typeof p === "string" ? p.split(":").slice(0, -1).join(":") : `${p.host_ip || ""}:${p.published}`);
for (const n of Object.keys(c)) for (const p of c[n].ports || []) hostPorts.push(hostPort(p));
check("no host port taken twice", new Set(hostPorts).size === hostPorts.length, hostPorts.join(" "));

// ---- the env files -----------------------------------------------------------
const lines = (f) => fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
const base = lines("coin.env").filter((l) => !/^NATS_(URL|REPLICAS)=/.test(l));
const clus = lines("coin-cluster.env");
check("coin-cluster.env: coin.env with NATS_URL of the three servers and NATS_REPLICAS=3",
  JSON.stringify(clus.filter((l) => !/^NATS_(URL|REPLICAS)=/.test(l))) === JSON.stringify(base) &&
    clus.includes(`NATS_URL=${wantUrl}`) && clus.includes("NATS_REPLICAS=3"), clus.join(" "));
const envText = fs.readFileSync(path.join(dir, "cluster.env"), "utf8");
const routesCmd = (/scripts\/nats-routes\.sh (\S+) (.*)$/m.exec(envText) || [])[2] || "";
check("cluster.env: the nats-routes.sh command names the three NATS services on 6222",
  routesCmd.trim().split(/\s+/).sort().join(" ") === natsNames.map((n) => `${n}:6222`).sort().join(" "), routesCmd);

// ---- the default stays a single server ---------------------------------------
check("default: nats runs the role table alone", arg(d.nats, "-c") === "/etc/nats/nats-permissions.conf", cmd(d.nats).join(" "));
for (const n of ["ingest", "publish", "monitor"]) {
  const env = d[n].environment || {};
  check(`default ${n}: NATS_URL nats://nats:4222, no NATS_REPLICAS`, env.NATS_URL === "nats://nats:4222" && !("NATS_REPLICAS" in env),
    JSON.stringify({ NATS_URL: env.NATS_URL, NATS_REPLICAS: env.NATS_REPLICAS }));
}
process.exit(failed ? 1 : 0);
