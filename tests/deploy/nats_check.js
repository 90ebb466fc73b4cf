// nats_check.js COMPOSE BASE OVERLAY ROLES CLUSTER: the NATS role table of
// deploy/nats is what compose and k8s run (docs/bus.md "Permissions"), and
// each service logs in as its own user with its own password only; k8s runs
// the cluster node CLUSTER (deploy/nats/nats-cluster.conf: the role table
// plus authenticated routes) with routes to exactly the pods of the
// StatefulSet, as the route user, with the route password.
// Prints "ok - ..." / "FAIL - ..." lines; exit 1 on any failure.
const fs = require("fs");
const YAML = require("yaml");
const [composeFile, baseFile, ovFile, rolesFile, clusterFile] = process.argv.slice(2);
const roles = fs.readFileSync(rolesFile, "utf8");
const clusterConf = fs.readFileSync(clusterFile, "utf8");
let failed = 0;
const check = (name, cond, detail) => {
  if (cond) console.log(`ok - ${name}`);
  else {
    failed++;
    console.log(`FAIL - ${name}${detail ? ": " + detail : ""}`);
  }
};

// ---- compose
const c = YAML.parse(fs.readFileSync(composeFile, "utf8")).services;
const ncmd = (c.nats.command || []).join(" ");
check("compose nats runs -c /etc/nats/nats-permissions.conf", ncmd.includes("-c /etc/nats/nats-permissions.conf"), ncmd);
const vols = (c.nats.volumes || []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`));
check("compose nats mounts deploy/nats/nats-permissions.conf",
  vols.some((v) => /deploy\/nats\/nats-permissions\.conf:\/etc\/nats\/nats-permissions\.conf/.test(v)), JSON.stringify(vols));
check("compose nats mounts its passwords next to it",
  vols.some((v) => /:\/etc\/nats\/nats-passwords\.conf/.test(v)), JSON.stringify(vols));
for (const role of ["ingest", "publish", "monitor", "train"]) {
  const s = c[role] || {};
  const env = s.environment || {};
  const secrets = (s.secrets || []).map((x) => (typeof x === "string" ? x : x.source));
  check(`compose ${role}: NATS_USER coin-${role}`, env.NATS_USER === `coin-${role}`, env.NATS_USER);
  check(`compose ${role}: its own NATS password only`,
    env.NATS_PASSWORD_FILE === `/run/secrets/nats_${role}_password` &&
      secrets.includes(`nats_${role}_password`) &&
      secrets.filter((x) => /^nats_/.test(x)).length === 1,
    JSON.stringify({ file: env.NATS_PASSWORD_FILE, secrets }));
}

// ---- the cluster node: the role table as it is, routes authenticated
check("nats-cluster.conf includes the role table and the routes file",
  /^include "nats-permissions\.conf"$/m.test(clusterConf) && /^include "nats-routes\.conf"$/m.test(clusterConf));
const clusterBlock = (/^cluster \{([\s\S]*?)^\}/m.exec(clusterConf) || [])[1] || "";
check("nats-cluster.conf: cluster listens on 6222, routes from $COIN_NATS_ROUTES, route user coin-route with $COIN_NATS_ROUTE_PASSWORD",
  /^\s*listen: 0\.0\.0\.0:6222$/m.test(clusterBlock) && /^\s*routes: \$COIN_NATS_ROUTES$/m.test(clusterBlock) &&
    /authorization \{[^}]*user: coin-route[^}]*password: \$COIN_NATS_ROUTE_PASSWORD/.test(clusterBlock), clusterBlock);

// ---- kubernetes (base and overlay)
for (const file of [baseFile, ovFile]) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJSON()).filter(Boolean);
  const cms = docs.filter((d) => d.kind === "ConfigMap" && /^coin-nats(-[a-z0-9]+)?$/.test(d.metadata.name));
  check(`${file}: ConfigMap coin-nats holds deploy/nats/nats-permissions.conf and nats-cluster.conf`,
    cms.length === 1 && cms[0].data["nats-permissions.conf"] === roles && cms[0].data["nats-cluster.conf"] === clusterConf);
  const nats = docs.find((d) => d.kind === "StatefulSet" && d.metadata.name === "nats");
  const pod = nats && nats.spec.template.spec;
  const args = pod ? (pod.containers[0].args || []).join(" ") : "";
  check(`${file}: nats runs -c /etc/nats/nats-cluster.conf`, / -c \/etc\/nats\/nats-cluster\.conf /.test(` ${args} `), args);
  const mount = pod && (pod.containers[0].volumeMounts || []).find((m) => m.mountPath === "/etc/nats");
  const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
  const srcs = (vol && vol.projected && vol.projected.sources) || [];
  const cmItems = srcs.filter((x) => x.configMap && cms[0] && x.configMap.name === cms[0].metadata.name).flatMap((x) => x.configMap.items || []);
  const secret = srcs.find((x) => x.secret && (x.secret.items || []).some((i) => i.path === "nats-passwords.conf"));
  const secItems = secret ? secret.secret.items : [];
  check(`${file}: /etc/nats holds the role table, the cluster node, its passwords and its routes`,
    ["nats-permissions.conf", "nats-cluster.conf"].every((k) => cmItems.some((i) => i.key === k && i.path === k)) &&
      ["nats-passwords.conf", "nats-routes.conf"].every((k) => secItems.some((i) => i.key === k && i.path === k)),
    JSON.stringify({ cmItems, secItems }));
  // The routes: one per pod of the StatefulSet (pod DNS names through its
  // headless Service), as coin-route with the password the server checks.
  const sec = secret && docs.find((d) => d.kind === "Secret" && d.metadata.name === secret.secret.name);
  const routesConf = sec && sec.data && sec.data["nats-routes.conf"] ? Buffer.from(String(sec.data["nats-routes.conf"]).replace(/\s+/g, ""), "base64").toString("utf8") : "";
  const pw = (/^COIN_NATS_ROUTE_PASSWORD:\s*"([^"]+)"/m.exec(routesConf) || [])[1];
  const urls = [...routesConf.matchAll(/"(nats-route:\/\/[^"]+)"/g)].map((m) => m[1]);
  const want = nats ? Array.from({ length: nats.spec.replicas }, (_, i) => `nats-route://coin-route:${pw}@nats-${i}.${nats.spec.serviceName}:6222`) : [];
  check(`${file}: Secret nats-routes.conf routes to the ${want.length} pods as coin-route with COIN_NATS_ROUTE_PASSWORD`,
    pw && urls.length === want.length && want.every((u) => urls.includes(u)) && /^COIN_NATS_ROUTES:\s*\[/m.test(routesConf),
    JSON.stringify({ urls, want }));
  const pods = [];
  for (const d of docs) {
    if (d.kind === "Deployment" && d.metadata.name !== "coin-site") pods.push([d.metadata.name, d.spec.template.spec]);
    if (d.kind === "CronJob") pods.push([d.metadata.name, d.spec.jobTemplate.spec.template.spec]);
    if (d.kind === "Job") pods.push([d.metadata.name, d.spec.template.spec]);
  }
  for (const [name, spec] of pods) {
    const role = name.replace(/^coin-/, "").replace(/-.*$/, "");
    for (const ct of (spec.initContainers || []).concat(spec.containers)) {
      if (ct.name === "install-web") continue; // no NATS
      const env = Object.fromEntries((ct.env || []).map((e) => [e.name, e.value]));
      const m = (ct.volumeMounts || []).find((x) => x.mountPath === "/run/secrets/nats");
      const v = m && (spec.volumes || []).find((x) => x.name === m.name);
      const items = (v && v.secret && v.secret.items) || [];
      check(`${file}: ${name}/${ct.name} logs in as coin-${role} with its own password only`,
        env.NATS_USER === `coin-${role}` && env.NATS_PASSWORD_FILE === "/run/secrets/nats/password" &&
          items.length === 1 && items[0].key === role && items[0].path === "password",
        JSON.stringify({ user: env.NATS_USER, items }));
    }
  }
}
process.exit(failed ? 1 : 0);
