// k8s_check.js FILE [--pinned]: validates the output of `kubectl kustomize`
// offline. Every document is checked against the Kubernetes OpenAPI schema
// (npm kubernetes-models, ajv) and against the project's rules: probes on
// /healthz and /readyz for the coin services, memory requests within the
// benchmark targets, non-root pods, every referenced ConfigMap, Secret and
// PVC present in the same output, and (--pinned) no image without a tag or
// with :latest. Prints "ok - ..." / "FAIL - ..." and a count line.
"use strict";
const fs = require("fs");
const YAML = require("yaml");

const file = process.argv[2];
const pinned = process.argv.includes("--pinned");
let passed = 0;
let failed = 0;
function check(name, cond, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.log(`FAIL - ${name}${detail ? ": " + detail : ""}`);
  }
}

const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJSON()).filter(Boolean);
check("documents parsed", docs.length > 0, "none");

// Schema: kubernetes-models/<group path>/<version>/<Kind>.
function modelFor(doc) {
  const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const mod = group === "" ? `kubernetes-models/${version}/${doc.kind}` : `kubernetes-models/${group}/${version}/${doc.kind}`;
  return require(mod)[doc.kind];
}
const byKind = {};
for (const doc of docs) {
  const id = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
  byKind[doc.kind] = (byKind[doc.kind] || []).concat([doc]);
  let Model;
  try {
    Model = modelFor(doc);
  } catch (e) {
    check(`${id}: known apiVersion/kind`, false, e.message);
    continue;
  }
  try {
    new Model(doc).validate();
    check(`${id}: schema`, true);
  } catch (e) {
    check(`${id}: schema`, false, e.message.split("\n").slice(0, 3).join(" "));
  }
}

const names = (kind) => new Set((byKind[kind] || []).map((d) => d.metadata.name));
const configMaps = names("ConfigMap");
const secrets = names("Secret");
const pvcs = names("PersistentVolumeClaim");

const MEM_TARGET_MI = { "coin-ingest": 32, "coin-publish": 64, "coin-monitor": 16 };
function mi(q) {
  const m = /^([0-9.]+)(Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) return NaN;
  const v = parseFloat(m[1]);
  return m[2] === "Gi" ? v * 1024 : m[2] === "Ki" ? v / 1024 : m[2] === "Mi" ? v : v / 1048576;
}

function podSpecs() {
  const out = [];
  for (const d of docs) {
    if (["Deployment", "StatefulSet"].includes(d.kind)) out.push([d, d.spec.template.spec]);
    if (d.kind === "CronJob") out.push([d, d.spec.jobTemplate.spec.template.spec]);
  }
  return out;
}

for (const [d, spec] of podSpecs()) {
  const id = `${d.kind}/${d.metadata.name}`;
  const containers = (spec.initContainers || []).concat(spec.containers);
  for (const c of containers) {
    check(`${id}/${c.name}: memory request and limit`, c.resources && c.resources.requests &&
      c.resources.requests.memory && c.resources.limits && c.resources.limits.memory);
    if (pinned) check(`${id}/${c.name}: image pinned`, /:[^/]+$/.test(c.image) && !/:latest$/.test(c.image), c.image);
    for (const ef of c.envFrom || [])
      if (ef.configMapRef) check(`${id}: ConfigMap ${ef.configMapRef.name} exists`, configMaps.has(ef.configMapRef.name));
    for (const e of c.env || [])
      if (e.valueFrom && e.valueFrom.secretKeyRef)
        check(`${id}: Secret ${e.valueFrom.secretKeyRef.name} exists`, secrets.has(e.valueFrom.secretKeyRef.name));
  }
  for (const v of spec.volumes || []) {
    if (v.configMap) check(`${id}: ConfigMap ${v.configMap.name} exists`, configMaps.has(v.configMap.name));
    if (v.secret) check(`${id}: Secret ${v.secret.secretName} exists`, secrets.has(v.secret.secretName));
    if (v.persistentVolumeClaim) check(`${id}: PVC ${v.persistentVolumeClaim.claimName} exists`, pvcs.has(v.persistentVolumeClaim.claimName));
  }
  const app = d.metadata.name;
  if (app in MEM_TARGET_MI) {
    const c = spec.containers[0];
    check(`${id}: liveness on /healthz`, c.livenessProbe && c.livenessProbe.httpGet && c.livenessProbe.httpGet.path === "/healthz");
    check(`${id}: readiness on /readyz`, c.readinessProbe && c.readinessProbe.httpGet && c.readinessProbe.httpGet.path === "/readyz");
    const req = mi(c.resources.requests.memory);
    check(`${id}: memory request ${c.resources.requests.memory} within the ${MEM_TARGET_MI[app]} MiB target`, req <= MEM_TARGET_MI[app]);
    check(`${id}: runs as non-root`, spec.securityContext && spec.securityContext.runAsNonRoot === true && spec.securityContext.runAsUser > 0);
    check(`${id}: read-only root filesystem`, c.securityContext && c.securityContext.readOnlyRootFilesystem === true);
    check(`${id}: Recreate (one instance per shard)`, d.spec.strategy && d.spec.strategy.type === "Recreate");
  }
}

const kinds = (k) => (byKind[k] || []).map((d) => d.metadata.name).sort().join(",");
check("StatefulSets nats and influxdb", kinds("StatefulSet") === "influxdb,nats", kinds("StatefulSet"));
check("Deployments ingest, publish, monitor, site", kinds("Deployment") === "coin-ingest,coin-monitor,coin-publish,coin-site", kinds("Deployment"));
check("CronJob train", kinds("CronJob") === "coin-train", kinds("CronJob"));
check("Secret and ConfigMap", secrets.size >= 1 && configMaps.size >= 2);
const cron = (byKind.CronJob || [])[0];
check("train never runs twice at once", cron && cron.spec.concurrencyPolicy === "Forbid");

console.log(`${file}: ${docs.length} documents; ${passed} checks passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
