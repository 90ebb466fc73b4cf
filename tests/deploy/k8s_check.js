// k8s_check.js FILE [--pinned] [--ha]: validates the output of `kubectl kustomize`
// offline. Every document is checked against the Kubernetes OpenAPI schema
// (npm kubernetes-models, ajv) and against the project's rules: probes on
// /healthz and /readyz for the coin services, memory requests within the
// benchmark targets, non-root pods, every referenced ConfigMap, Secret and
// PVC present in the same output, (--pinned) no image without a tag or
// with :latest, and the model lifecycle: the CronJob runs `coin-train cycle`
// hourly, one Job coin-train-first-champion waits for the backfill, runs a
// cycle and succeeds only with a champion; the cluster rules of
// k8s_cluster_check.js (NATS StatefulSet, replicas, PDBs, NetworkPolicy;
// --ha: NATS one pod per machine). Prints "FAIL - ..." lines and a count
// line.
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
  // kustomize wraps the base64 of a Secret's longer values (generated from
  // files) in lines; the API server's decoder skips the newlines, the
  // schema's "byte" format does not: validate the unwrapped value.
  const forSchema =
    doc.kind === "Secret" && doc.data
      ? { ...doc, data: Object.fromEntries(Object.entries(doc.data).map(([k, v]) => [k, String(v).replace(/\s+/g, "")])) }
      : doc;
  try {
    Model = modelFor(doc);
  } catch (e) {
    check(`${id}: known apiVersion/kind`, false, e.message);
    continue;
  }
  try {
    new Model(forSchema).validate();
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
// Scale-out (docs/operations.md "Cluster deployment"): ingest replicas share
// the series, publish and monitor run an active and a standby.
const REPLICAS = { "coin-ingest": 3, "coin-publish": 2, "coin-monitor": 2 };
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
    if (d.kind === "Job") out.push([d, d.spec.template.spec]);
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
  // Training pods (CronJob and Job): non-root, read-only root, no escalation.
  if (["CronJob", "Job"].includes(d.kind)) {
    check(`${id}: runs as non-root`, spec.securityContext && spec.securityContext.runAsNonRoot === true && spec.securityContext.runAsUser > 0);
    for (const c of containers)
      check(`${id}/${c.name}: read-only root filesystem, no privilege escalation`, c.securityContext &&
        c.securityContext.readOnlyRootFilesystem === true && c.securityContext.allowPrivilegeEscalation === false);
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
    const ru = d.spec.strategy && d.spec.strategy.type === "RollingUpdate" && d.spec.strategy.rollingUpdate;
    check(`${id}: RollingUpdate with maxUnavailable 0 (a new pod ready before an old one stops)`,
      ru && String(ru.maxUnavailable) === "0" && Number(ru.maxSurge) >= 1, JSON.stringify(d.spec.strategy));
    check(`${id}: ${REPLICAS[app]} replicas`, d.spec.replicas === REPLICAS[app], `${d.spec.replicas}`);
    const sid = (c.env || []).find((e) => e.name === "SERVICE_ID");
    check(`${id}: SERVICE_ID from the pod name (unique per replica)`,
      sid && !("value" in sid) && sid.valueFrom && sid.valueFrom.fieldRef && sid.valueFrom.fieldRef.fieldPath === "metadata.name",
      JSON.stringify(sid));
  }
}

const kinds = (k) => (byKind[k] || []).map((d) => d.metadata.name).sort().join(",");
check("StatefulSets nats and influxdb", kinds("StatefulSet") === "influxdb,nats", kinds("StatefulSet"));
check("Deployments ingest, publish, monitor, site", kinds("Deployment") === "coin-ingest,coin-monitor,coin-publish,coin-site", kinds("Deployment"));
check("CronJob train", kinds("CronJob") === "coin-train", kinds("CronJob"));
check("Secret and ConfigMap", secrets.size >= 1 && configMaps.size >= 2);
const cron = (byKind.CronJob || [])[0];
check("train never runs twice at once", cron && cron.spec.concurrencyPolicy === "Forbid");

// Model lifecycle: the hourly `coin-train cycle` and the first champion's Job.
const cmdOf = (c) => (c && c.command ? c.command : []).concat(c && c.args ? c.args : []);
const cronPod = cron && cron.spec.jobTemplate.spec.template.spec;
const cronCmd = cmdOf(cronPod && cronPod.containers[0]);
check("CronJob coin-train runs `coin-train cycle`", cronCmd.join(" ") === "coin-train cycle", JSON.stringify(cronCmd));
check("CronJob coin-train hourly", cron && /^[0-9]+ \* \* \* \*$/.test(cron.spec.schedule), cron && cron.spec.schedule);
const firstJobs = (byKind.Job || []).filter((d) => d.metadata.name === "coin-train-first-champion");
check("exactly one Job coin-train-first-champion", firstJobs.length === 1, `${firstJobs.length}`);
for (const job of firstJobs) {
  const pod = job.spec.template.spec;
  const cmd = cmdOf(pod.containers[0]);
  // sh -c "A && B && C": the script is the last word; every step in order,
  // each joined to the next by && (a failed step fails the Job).
  const script = cmd.length >= 3 && cmd[0] === "sh" && cmd[1] === "-c" ? cmd[cmd.length - 1] : "";
  const steps = script.split("&&").map((x) => x.trim().split(/\s+/).slice(0, 2).join(" "));
  check("Job coin-train-first-champion: sh -c with wait-backfill && cycle && show champion",
    steps.length === 3 && steps[0] === "coinctl wait-backfill" && steps[1] === "coin-train cycle" &&
      script.split("&&")[2].trim() === "coin-train show champion" && !/[;|]/.test(script), JSON.stringify(cmd));
  check("Job coin-train-first-champion: restartPolicy Never or OnFailure", ["Never", "OnFailure"].includes(pod.restartPolicy), pod.restartPolicy);
  check("Job coin-train-first-champion: retried (backoffLimit 1..10)", job.spec.backoffLimit >= 1 && job.spec.backoffLimit <= 10, `${job.spec.backoffLimit}`);
  check("Job coin-train-first-champion: activeDeadlineSeconds and ttlSecondsAfterFinished",
    job.spec.activeDeadlineSeconds > 0 && job.spec.ttlSecondsAfterFinished > 0);
  // The same environment and volumes as the CronJob's training container.
  const strip = (c) => JSON.stringify({ envFrom: c.envFrom, env: c.env, volumeMounts: c.volumeMounts, image: c.image });
  check("Job coin-train-first-champion: env, volumes and image as the CronJob's",
    cronPod && strip(pod.containers[0]) === strip(cronPod.containers[0]) &&
      JSON.stringify(pod.volumes) === JSON.stringify(cronPod.volumes) &&
      JSON.stringify(pod.securityContext) === JSON.stringify(cronPod.securityContext));
}

require("./k8s_cluster_check.js")(docs, check, { ha: process.argv.includes("--ha") });

console.log(`${file}: ${docs.length} documents; ${passed} checks passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
