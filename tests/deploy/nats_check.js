// nats_check.js COMPOSE BASE OVERLAY ROLES: the NATS role table of
// deploy/nats is what compose and k8s run (docs/bus.md "Permissions"), and
// each service logs in as its own user with its own password only.
// Prints "ok - ..." / "FAIL - ..." lines; exit 1 on any failure.
const fs = require("fs");
const YAML = require("yaml");
const [composeFile, baseFile, ovFile, rolesFile] = process.argv.slice(2);
const roles = fs.readFileSync(rolesFile, "utf8");
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

// ---- kubernetes (base and overlay)
for (const file of [baseFile, ovFile]) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJSON()).filter(Boolean);
  const cms = docs.filter((d) => d.kind === "ConfigMap" && /^coin-nats(-[a-z0-9]+)?$/.test(d.metadata.name));
  check(`${file}: ConfigMap coin-nats holds deploy/nats/nats-permissions.conf`,
    cms.length === 1 && cms[0].data["nats-permissions.conf"] === roles);
  const nats = docs.find((d) => d.kind === "StatefulSet" && d.metadata.name === "nats");
  const pod = nats && nats.spec.template.spec;
  const args = pod ? (pod.containers[0].args || []).join(" ") : "";
  check(`${file}: nats runs -c /etc/nats/nats-permissions.conf`, args.includes("-c /etc/nats/nats-permissions.conf"), args);
  const mount = pod && (pod.containers[0].volumeMounts || []).find((m) => m.mountPath === "/etc/nats");
  const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
  const srcs = (vol && vol.projected && vol.projected.sources) || [];
  check(`${file}: /etc/nats holds the role table and its passwords`,
    srcs.some((x) => x.configMap && cms[0] && x.configMap.name === cms[0].metadata.name) &&
      srcs.some((x) => x.secret && (x.secret.items || []).some((i) => i.path === "nats-passwords.conf")));
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
