// k8s_cluster_check.js: the cluster rules of the Kubernetes manifests, used
// by k8s_check.js on the output of `kubectl kustomize`: NATS as a 3-node
// StatefulSet (headless Service with the route port and unready addresses,
// Parallel start, a volume per pod, anti-affinity, --ha: required), every
// service's NATS_URL naming the 3 pods and NATS_REPLICAS=3, a
// PodDisruptionBudget per replicated workload that lets one pod go and keeps
// the rest, and the NetworkPolicy set evaluated as the API defines it
// (a pod is isolated in a direction once a policy selects it; a connection
// passes when the source's egress and the destination's ingress allow it):
// every needed connection allowed, a few that must not be, refused by the
// destination's own ingress rules (or, going out, by the source's egress).
"use strict";

module.exports = function clusterChecks(docs, check, opts) {
  const find = (kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  const podOf = (d) =>
    d.kind === "CronJob" ? d.spec.jobTemplate.spec.template : ["Deployment", "StatefulSet", "Job"].includes(d.kind) ? d.spec.template : null;

  // ---- NATS: a 3-node StatefulSet with routes ------------------------------
  const sts = find("StatefulSet", "nats");
  const NODES = 3;
  check("StatefulSet nats: 3 replicas", sts && sts.spec.replicas === NODES, sts && `${sts.spec.replicas}`);
  check("StatefulSet nats: podManagementPolicy Parallel (a node is ready only with a quorum)",
    sts && sts.spec.podManagementPolicy === "Parallel", sts && sts.spec.podManagementPolicy);
  const hl = sts && find("Service", sts.spec.serviceName);
  const podLabels = sts ? sts.spec.template.metadata.labels : {};
  check("StatefulSet nats: its serviceName is a headless Service over its pods with the route port 6222, unready addresses published",
    hl && hl.spec.clusterIP === "None" && hl.spec.publishNotReadyAddresses === true &&
      matchLabels(hl.spec.selector || {}, podLabels) && (hl.spec.ports || []).some((p) => p.port === 6222),
    hl ? JSON.stringify(hl.spec) : `no Service ${sts && sts.spec.serviceName}`);
  const nc = sts && sts.spec.template.spec.containers[0];
  check("StatefulSet nats: container port 6222 (cluster)", nc && (nc.ports || []).some((p) => p.containerPort === 6222));
  const vct = sts ? (sts.spec.volumeClaimTemplates || []).map((v) => v.metadata.name) : [];
  const dataMount = nc && (nc.volumeMounts || []).find((m) => m.mountPath === "/data");
  check("StatefulSet nats: a PVC per pod (volumeClaimTemplates) for /data",
    dataMount && vct.includes(dataMount.name), JSON.stringify({ vct, dataMount }));
  const args = nc ? (nc.args || []).join(" ") : "";
  check("StatefulSet nats: node name from the pod name (-n $(POD_NAME))",
    / -n \$\(POD_NAME\)( |$)/.test(` ${args}`) &&
      (nc.env || []).some((e) => e.name === "POD_NAME" && e.valueFrom && e.valueFrom.fieldRef.fieldPath === "metadata.name"), args);
  check("StatefulSet nats: a startup probe on the full /healthz (caught up before a rollout goes on)",
    nc && nc.startupProbe && nc.startupProbe.httpGet && nc.startupProbe.httpGet.path === "/healthz", JSON.stringify(nc && nc.startupProbe));
  const aff = sts && sts.spec.template.spec.affinity && sts.spec.template.spec.affinity.podAntiAffinity;
  const terms = (aff && aff.requiredDuringSchedulingIgnoredDuringExecution) || [];
  const prefs = ((aff && aff.preferredDuringSchedulingIgnoredDuringExecution) || []).map((p) => p.podAffinityTerm);
  const spreads = (t) => t.topologyKey === "kubernetes.io/hostname" && t.labelSelector && matchSelector(t.labelSelector, podLabels);
  if (opts.ha) check("StatefulSet nats: one pod per machine (required anti-affinity on the host name)", terms.some(spreads), JSON.stringify(aff));
  else check("StatefulSet nats: anti-affinity on the host name", terms.concat(prefs).some(spreads), JSON.stringify(aff));

  // The clients: every NATS_URL lists the 3 pods, NATS_REPLICAS = 3.
  const want = Array.from({ length: NODES }, (_, i) => `nats://nats-${i}.${sts ? sts.spec.serviceName : "?"}:4222`).join(",");
  const cfg = find("ConfigMap", (docs.find((d) => d.kind === "ConfigMap" && /^coin-config(-[a-z0-9]+)?$/.test(d.metadata.name)) || { metadata: {} }).metadata.name);
  const data = (cfg && cfg.data) || {};
  check("coin-config: NATS_URL lists the 3 NATS pods", data.NATS_URL === want, `${data.NATS_URL} (want ${want})`);
  check("coin-config: NATS_REPLICAS=3", data.NATS_REPLICAS === "3", data.NATS_REPLICAS);
  for (const d of docs) {
    const pod = podOf(d);
    if (!pod || d.metadata.name === "nats" || d.metadata.name === "influxdb" || d.metadata.name === "coin-site") continue;
    for (const c of (pod.spec.initContainers || []).concat(pod.spec.containers)) {
      if (c.name === "install-web") continue;
      const env = Object.fromEntries((c.env || []).filter((e) => "value" in e).map((e) => [e.name, e.value]));
      const fromCfg = (c.envFrom || []).some((e) => e.configMapRef && cfg && e.configMapRef.name === cfg.metadata.name);
      check(`${d.kind}/${d.metadata.name}/${c.name}: NATS_URL and NATS_REPLICAS of coin-config`,
        fromCfg && !("NATS_URL" in env) && !("NATS_REPLICAS" in env), JSON.stringify({ fromCfg, env }));
    }
  }

  // ---- PodDisruptionBudgets --------------------------------------------------
  for (const [kind, name, keep] of [["StatefulSet", "nats", 2], ["Deployment", "coin-ingest", 2], ["Deployment", "coin-publish", 1], ["Deployment", "coin-monitor", 1]]) {
    const w = find(kind, name);
    if (!w) {
      check(`${kind}/${name} exists`, false);
      continue;
    }
    const labels = w.spec.template.metadata.labels;
    const pdbs = docs.filter((d) => d.kind === "PodDisruptionBudget" && matchSelector(d.spec.selector || {}, labels));
    const p = pdbs[0] && pdbs[0].spec;
    const n = w.spec.replicas;
    const maxDown = !p ? 0 : "maxUnavailable" in p ? Number(p.maxUnavailable) : n - Number(p.minAvailable);
    check(`${kind}/${name}: one PodDisruptionBudget, one pod down at a time, ${keep} kept`,
      pdbs.length === 1 && maxDown === 1 && n - maxDown >= keep && !String(p.maxUnavailable || p.minAvailable).includes("%"),
      JSON.stringify({ pdbs: pdbs.map((x) => x.spec), replicas: n }));
  }

  // ---- NetworkPolicy ---------------------------------------------------------
  const pols = docs.filter((d) => d.kind === "NetworkPolicy");
  check("NetworkPolicy: a default deny of both directions for every pod",
    pols.some((x) => Object.keys(x.spec.podSelector || {}).length === 0 && (x.spec.policyTypes || []).includes("Ingress") &&
      (x.spec.policyTypes || []).includes("Egress") && !(x.spec.ingress || []).length && !(x.spec.egress || []).length));
  const ns = { "kubernetes.io/metadata.name": "coin" };
  const pods = {};
  for (const d of docs) {
    const pod = podOf(d);
    if (pod) pods[d.metadata.name] = { labels: pod.metadata.labels || {}, ns };
  }
  const ext = { external: true };
  const dns = { labels: { "k8s-app": "kube-dns" }, ns: { "kubernetes.io/metadata.name": "kube-system" }, foreign: true };
  const P = (n) => pods[n] || { labels: { missing: n }, ns };
  const must = [
    ["coin-ingest", "nats", 4222], ["coin-publish", "nats", 4222], ["coin-monitor", "nats", 4222],
    ["coin-train", "nats", 4222], ["coin-train-first-champion", "nats", 4222],
    ["coin-ingest", "influxdb", 8086], ["coin-publish", "influxdb", 8086], ["coin-monitor", "influxdb", 8086],
    ["coin-train", "influxdb", 8086], ["coin-train-first-champion", "influxdb", 8086],
    ["nats", "nats", 6222], ["coin-ingest", ext, 443], ["coin-monitor", ext, 443], ["coin-monitor", "coin-site", 8080],
    [ext, "coin-site", 8080],
  ];
  for (const n of Object.keys(pods)) must.push([n, dns, 53, "UDP"], [n, dns, 53, "TCP"]);
  const mustNot = [
    [ext, "nats", 4222], [ext, "influxdb", 8086], ["coin-site", "nats", 4222], ["coin-site", "influxdb", 8086],
    ["coin-ingest", "nats", 6222], ["coin-publish", ext, 443], ["coin-site", ext, 443], ["nats", ext, 443],
    ["influxdb", ext, 443], ["coin-train", ext, 443], [ext, "coin-ingest", 9101], ["nats", "influxdb", 8086],
  ];
  const name = (x) => (typeof x === "string" ? x : x.external ? "outside" : "kube-dns");
  for (const [a, b, port, proto] of must)
    check(`NetworkPolicy allows ${name(a)} -> ${name(b)} ${port}/${proto || "TCP"}`,
      allowed(pols, typeof a === "string" ? P(a) : a, typeof b === "string" ? P(b) : b, port, proto || "TCP"));
  // Refused by the side that is ours to protect: the destination's ingress
  // (whatever the source's egress says), else the source's egress.
  for (const [a, b, port] of mustNot) {
    const src = typeof a === "string" ? P(a) : a;
    const dst = typeof b === "string" ? P(b) : b;
    const open = dst.external ? side(pols, src, "Egress", dst, port, "TCP") : side(pols, dst, "Ingress", src, port, "TCP");
    check(`NetworkPolicy refuses ${name(a)} -> ${name(b)} ${port}/TCP`, !open);
  }
};

function matchLabels(sel, labels) {
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

function matchSelector(sel, labels) {
  if (!matchLabels(sel.matchLabels || {}, labels)) return false;
  return (sel.matchExpressions || []).every((e) => {
    const has = e.key in labels;
    if (e.operator === "In") return has && e.values.includes(labels[e.key]);
    if (e.operator === "NotIn") return !has || !e.values.includes(labels[e.key]);
    if (e.operator === "Exists") return has;
    if (e.operator === "DoesNotExist") return !has;
    return false;
  });
}

// A peer (from/to entry) matches an endpoint: pods of this namespace by
// podSelector, of selected namespaces with namespaceSelector; ipBlock only
// outside addresses (pod addresses in an ipBlock are left to the CNI).
function peerMatches(peer, ep) {
  if (peer.ipBlock) return !!ep.external && peer.ipBlock.cidr === "0.0.0.0/0";
  if (ep.external) return false;
  if (peer.namespaceSelector) {
    if (!matchSelector(peer.namespaceSelector, ep.ns)) return false;
  } else if (ep.foreign) return false;
  return !peer.podSelector || matchSelector(peer.podSelector, ep.labels);
}

function portMatches(ports, port, proto) {
  if (!ports || !ports.length) return true;
  return ports.some((p) => (p.protocol || "TCP") === proto && (p.port === undefined || p.port === port ||
    (p.endPort !== undefined && port >= p.port && port <= p.endPort)));
}

function side(pols, ep, dir, peer, port, proto) {
  if (ep.external || ep.foreign) return true; // not ours to isolate
  const key = dir === "Ingress" ? "ingress" : "egress";
  const peerKey = dir === "Ingress" ? "from" : "to";
  const sel = pols.filter((x) => matchSelector(x.spec.podSelector || {}, ep.labels) &&
    (x.spec.policyTypes || ["Ingress"].concat(x.spec.egress ? ["Egress"] : [])).includes(dir));
  if (!sel.length) return true;
  return sel.some((x) => (x.spec[key] || []).some((r) =>
    portMatches(r.ports, port, proto) && (!r[peerKey] || !r[peerKey].length || r[peerKey].some((p) => peerMatches(p, peer)))));
}

function allowed(pols, src, dst, port, proto) {
  return side(pols, src, "Egress", dst, port, proto) && side(pols, dst, "Ingress", src, port, proto);
}
