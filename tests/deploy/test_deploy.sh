#!/usr/bin/env bash
# test_deploy.sh: offline validation of deploy/ and the Dockerfile (no
# container engine, no cluster): `docker-compose config -q` with every
# profile, `kubectl kustomize` of the base and the example overlay checked
# against the Kubernetes schemas (npm kubernetes-models + yaml, installed
# once into $COIN_BUILD_DIR/npm-deploy) and the project's rules
# (k8s_check.js, with the cluster rules of k8s_cluster_check.js: NATS
# StatefulSet, replicas, PDBs, NetworkPolicy), the nginx snippets copied into
# the base identical to deploy/nginx, the NATS role table and cluster node of
# deploy/nats run by compose and k8s (nats_check.js) and accepted by
# nats-server -t, the compose profile cluster (compose_cluster_check.js) with
# its three NATS servers started on loopback and routed, deliberate breakages
# of each refused, and the Dockerfile's rules (bookworm, non-root, no
# recommends). Fails, never skips, when a tool is missing.
set -euo pipefail

: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"

src="$COIN_SOURCE_DIR"
npm_dir="$COIN_BUILD_DIR/npm-deploy"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-deploy-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT  # and the NATS servers it starts (below)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v docker-compose >/dev/null || fail "docker-compose missing (scripts/install-deps.sh installs it)"
command -v kubectl >/dev/null || fail "kubectl missing (scripts/install-deps.sh installs kubernetes-client)"

# ---- compose ------------------------------------------------------------------
compose="$src/deploy/compose/docker-compose.yml"
if docker-compose -f "$compose" config -q 2>"$tmp/c.err"; then ok "compose config -q"; else bad "compose config -q: $(cat "$tmp/c.err")"; fi
if docker-compose -f "$compose" --profile alerting --profile train --profile offline config -q 2>"$tmp/c.err"; then
  ok "compose config -q with every profile"
else
  bad "compose profiles: $(cat "$tmp/c.err")"
fi
docker-compose -f "$compose" --profile alerting --profile train --profile offline config >"$tmp/compose.yml" 2>/dev/null || true
services=$(docker-compose -f "$compose" --profile alerting --profile train --profile offline config --services 2>/dev/null | sort | tr '\n' ' ')
if [ "$services" = "alertmanager influxdb ingest ingest-2 ingest-3 monitor monitor-2 nats nats-2 nats-3 nginx publish publish-2 replay train " ]; then
  ok "compose services: $services"
else
  bad "compose services: $services"
fi
# (docker-compose 1.29 lists every service whatever the profiles: read them.)
profiles=$(python3 - "$tmp/compose.yml" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
out = []
for name in ("alertmanager", "train", "replay", "nats", "ingest", "nats-2", "nats-3", "ingest-2", "ingest-3", "publish-2", "monitor-2"):
    m = re.search(r"^  %s:\n((?:    .*\n|\n)*)" % name, text, re.M)
    block = m.group(1) if m else ""
    p = re.search(r"^    profiles:\n((?:    - .*\n)+)", block, re.M)
    out.append("%s=%s" % (name, ",".join(x.strip()[2:] for x in p.group(1).splitlines()) if p else "-"))
print(" ".join(out))
EOF
)
if [ "$profiles" = "alertmanager=alerting train=train replay=offline nats=- ingest=- nats-2=cluster nats-3=cluster ingest-2=cluster ingest-3=cluster publish-2=cluster monitor-2=cluster" ]; then
  ok "alertmanager, train, replay and the cluster replicas only with their profiles"
else
  bad "profiles: $profiles"
fi
if grep -q -- '-js' "$tmp/compose.yml" && grep -q 'nats-data:/data\|source: nats-data' "$tmp/compose.yml"; then
  ok "nats with JetStream and a volume"
else
  bad "nats must run -js with a volume"
fi
# A broken compose file must be refused (the check can fail).
sed 's/^services:/servicez:/' "$compose" >"$tmp/broken.yml"
cp -r "$src/deploy/compose/secrets" "$src/deploy/compose/coin.env" "$tmp/" 2>/dev/null || true
if docker-compose -f "$tmp/broken.yml" config -q >/dev/null 2>&1; then bad "a broken compose file passed"; else ok "a broken compose file is refused"; fi

# The node modules of the checks below (compose cluster, kubernetes), once per
# build tree.
if [ ! -f "$npm_dir/node_modules/kubernetes-models/package.json" ] || [ ! -f "$npm_dir/node_modules/yaml/package.json" ]; then
  mkdir -p "$npm_dir"
  if ! timeout 300 npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
      yaml@2 kubernetes-models@4 >"$tmp/npm.log" 2>&1; then
    tail -n 5 "$tmp/npm.log" >&2 || true
    fail "npm install yaml kubernetes-models failed (is the npm registry reachable?)"
  fi
fi

# ---- compose profile cluster (cluster.env): 3 routed NATS servers, 3 ingest,
# 2 publish, 2 monitor, every service on the three servers ----------------------
cluster_env="$src/deploy/compose/cluster.env"
ccompose() { docker-compose -f "$1" --env-file "$cluster_env" --profile cluster config; }
if ccompose "$compose" >"$tmp/compose-cluster.yml" 2>"$tmp/c.err"; then
  ok "compose --env-file cluster.env --profile cluster config"
else
  bad "compose cluster config: $(cat "$tmp/c.err")"
fi
docker-compose -f "$compose" config >"$tmp/compose-default.yml" 2>/dev/null || true
# cluster_check COMPOSE_DIR [CLUSTER_YML]: compose_cluster_check.js on it
cluster_check() {
  NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/compose_cluster_check.js" "${2:-$tmp/compose-cluster.yml}" \
    "$tmp/compose-default.yml" "$1"
}
if cluster_check "$src/deploy/compose" >"$tmp/cc.out" 2>&1; then
  ok "compose cluster: $(grep -c '^ok' "$tmp/cc.out") checks"
else
  bad "compose cluster: $(grep -v '^ok' "$tmp/cc.out" | head -5)"
fi
# The checks can fail: a second publish with the first one's SERVICE_ID (two
# holders of one name), a third ingest left on one NATS server, coin-cluster.env
# drifting from coin.env, a NATS server sharing another's volume.
# A copy of deploy/compose and deploy/nats (the mounts of ../nats resolve
# next to it), one mutation at a time.
mutate_compose() { # NAME SED-SCRIPT FILE WANT: the check must fail, saying WANT
  local name="$1" script="$2" file="$3" want="$4" out cm="$tmp/m/deploy/compose"
  rm -rf "$tmp/m" && mkdir -p "$cm" && cp -r "$src/deploy/compose/." "$cm/" && cp -r "$src/deploy/nats" "$tmp/m/deploy/"
  sed -i "$script" "$cm/$file"
  if ! docker-compose -f "$cm/docker-compose.yml" --env-file "$cm/cluster.env" --profile cluster config >"$tmp/cm.yml" 2>"$tmp/cm.err"; then
    bad "mutation $name: compose refused it: $(head -2 "$tmp/cm.err")"
    return
  fi
  out=$(cluster_check "$cm" "$tmp/cm.yml" 2>&1 || true)
  if printf '%s\n' "$out" | grep -q "^FAIL - .*$want"; then ok "compose cluster check refuses $name"; else bad "mutation $name passed: $(printf '%s\n' "$out" | grep -v '^ok' | head -3)"; fi
}
mutate_compose "publish-2 with publish's SERVICE_ID" 's/SERVICE_ID: compose-publish-2/SERVICE_ID: compose/' docker-compose.yml \
  "publish: a SERVICE_ID per replica"
mutate_compose "an ingest on one NATS server" '/^  ingest-3:/,/^$/s/SERVICE_ID: compose-ingest-3/SERVICE_ID: compose-ingest-3\n      NATS_URL: nats:\/\/nats:4222/' \
  docker-compose.yml "ingest-3: NATS_URL lists the three servers"
mutate_compose "coin-cluster.env drifting from coin.env" 's/^SYMBOLS=.*/SYMBOLS=BTCUSDT/' coin-cluster.env \
  "coin-cluster.env: coin.env with"
mutate_compose "nats-3 on nats-2's volume" 's/nats-data-3:\/data/nats-data-2:\/data/' docker-compose.yml \
  "each its own name (-n) and its own data volume"
mutate_compose "a cluster.env without the cluster config" '/^COIN_NATS_CONFIG=/d' cluster.env \
  "nats-2: runs -c /etc/nats/nats-cluster.conf"

# ---- kubernetes ---------------------------------------------------------------
for dir in base overlays/example; do
  out="$tmp/$(echo "$dir" | tr / _).yaml"
  if kubectl kustomize "$src/deploy/k8s/$dir" >"$out" 2>"$tmp/k.err"; then
    ok "kubectl kustomize $dir"
  else
    bad "kubectl kustomize $dir: $(head -3 "$tmp/k.err")"
    continue
  fi
  extra="--ha"
  [ "$dir" = overlays/example ] && extra="--pinned"
  if NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/k8s_check.js" "$out" $extra; then
    ok "schema and rules: $dir"
  else
    bad "schema and rules: $dir"
  fi
done
# Model lifecycle: a first-champion Job that does not stop at a failed step
# and a CronJob still running `coin-train train` must be refused.
cp -r "$src/deploy/k8s/base" "$tmp/k8s-lifecycle"
sed -i 's/coin-train cycle && coin-train show champion/coin-train cycle; coin-train show champion/' \
  "$tmp/k8s-lifecycle/train-first-champion-job.yaml"
sed -i 's/command: \["coin-train", "cycle"\]/command: ["coin-train", "train"]/' "$tmp/k8s-lifecycle/train-cronjob.yaml"
if kubectl kustomize "$tmp/k8s-lifecycle" >"$tmp/lifecycle.yaml" 2>"$tmp/k.err" &&
   ! NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/k8s_check.js" "$tmp/lifecycle.yaml" >"$tmp/lifecycle.out" 2>&1 &&
   grep -q "FAIL - Job coin-train-first-champion: sh -c" "$tmp/lifecycle.out" &&
   grep -q "FAIL - CronJob coin-train runs .coin-train cycle." "$tmp/lifecycle.out"; then
  ok "the checker refuses a broken first-champion Job and a CronJob not running cycle"
else
  bad "lifecycle mutations: $(head -5 "$tmp/lifecycle.out" "$tmp/k.err" 2>/dev/null)"
fi
# The cluster rules can fail: one breakage at a time in a copy of the base,
# the checker must say what broke.
mutate_k8s() { # NAME FILE SED-SCRIPT WANT
  local name="$1" file="$2" script="$3" want="$4"
  rm -rf "$tmp/k8s-m" && cp -r "$src/deploy/k8s/base" "$tmp/k8s-m" && sed -i "$script" "$tmp/k8s-m/$file"
  if cmp -s "$src/deploy/k8s/base/$file" "$tmp/k8s-m/$file"; then bad "mutation $name: the sed script changed nothing"; return; fi
  if ! kubectl kustomize "$tmp/k8s-m" >"$tmp/m.yaml" 2>"$tmp/k.err"; then bad "mutation $name: kustomize: $(head -2 "$tmp/k.err")"; return; fi
  NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/k8s_check.js" "$tmp/m.yaml" --ha >"$tmp/m.out" 2>&1 || true
  NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/nats_check.js" "$tmp/compose.yml" "$tmp/m.yaml" "$tmp/m.yaml" \
    "$src/deploy/nats/nats-permissions.conf" "$src/deploy/nats/nats-cluster.conf" >>"$tmp/m.out" 2>&1 || true
  if grep -qF -- "FAIL - $want" "$tmp/m.out"; then ok "the checker refuses $name"; else bad "mutation $name passed: $(grep FAIL "$tmp/m.out" | head -3)"; fi
}
mutate_k8s "NATS with 1 replica" nats.yaml 's/^  replicas: 3$/  replicas: 1/' "StatefulSet nats: 3 replicas"
mutate_k8s "NATS pod names unpublished before ready" nats.yaml '/publishNotReadyAddresses: true/d' \
  "StatefulSet nats: its serviceName is a headless Service"
mutate_k8s "NATS started without the full /healthz" nats.yaml '/startupProbe:/,/failureThreshold: 90/d' \
  "StatefulSet nats: a startup probe on the full /healthz"
mutate_k8s "NATS pods allowed on one machine" nats.yaml 's/requiredDuringSchedulingIgnoredDuringExecution/preferredDuringSchedulingIgnoredDuringExecution/' \
  "StatefulSet nats: one pod per machine"
mutate_k8s "a routes secret without nats-2" nats/nats-routes.example.conf '/nats-2\.nats-headless/d' \
  "$tmp/m.yaml: Secret nats-routes.conf routes to the 3 pods"
mutate_k8s "NATS_URL naming one server" kustomization.yaml 's#NATS_URL=nats://nats-0.*#NATS_URL=nats://nats:4222#' \
  "coin-config: NATS_URL lists the 3 NATS pods"
mutate_k8s "publish rolling with maxUnavailable 1" publish.yaml 's/maxSurge: 1, maxUnavailable: 0/maxSurge: 1, maxUnavailable: 1/' \
  "Deployment/coin-publish: RollingUpdate with maxUnavailable 0"
mutate_k8s "monitor with one replica" monitor.yaml 's/^  replicas: 2$/  replicas: 1/' "Deployment/coin-monitor: 2 replicas"
mutate_k8s "SERVICE_ID from the node name" ingest.yaml '/name: SERVICE_ID/{n;s/metadata.name/spec.nodeName/}' \
  "Deployment/coin-ingest: SERVICE_ID from the pod name"
mutate_k8s "a NATS PDB letting two go" pdb.yaml '0,/maxUnavailable: 1/s//maxUnavailable: 2/' \
  "StatefulSet/nats: one PodDisruptionBudget, one pod down at a time"
mutate_k8s "no default deny" networkpolicy.yaml '0,/^  podSelector: {}$/s//  podSelector: {matchLabels: {x: y}}/' \
  "NetworkPolicy: a default deny"
mutate_k8s "DNS over UDP blocked" networkpolicy.yaml 's/{protocol: UDP, port: 53}/{protocol: UDP, port: 54}/' \
  "NetworkPolicy allows coin-ingest -> kube-dns 53/UDP"
mutate_k8s "NATS clients open to every pod" networkpolicy.yaml '0,/matchLabels: {coin-predict\/nats-client: "true"}/s//matchLabels: {}/' \
  "NetworkPolicy refuses coin-site -> nats 4222/TCP"
mutate_k8s "the train pods without the client label" train-cronjob.yaml 's/, coin-predict\/nats-client: "true"//' \
  "NetworkPolicy allows coin-train -> nats 4222/TCP"
# Compose's train profile: the same steps, one-shot.
if NODE_PATH="$npm_dir/node_modules" node -e '
  const t = require("yaml").parse(require("fs").readFileSync(process.argv[1], "utf8")).services.train;
  const c = t.command || [];
  const ok = c.length === 3 && c[0] === "sh" && c[1] === "-c" &&
    c[2] === "coinctl wait-backfill --timeout 1800 && coin-train cycle && coin-train show champion" &&
    String(t.restart) === "no" && t.depends_on && "ingest" in t.depends_on;
  if (!ok) { console.log(JSON.stringify({command: c, restart: t.restart, depends_on: t.depends_on})); process.exit(1); }
' "$tmp/compose.yml" >"$tmp/ct.out" 2>&1; then
  ok "compose train: wait-backfill && cycle && show champion, restart no, after ingest"
else
  bad "compose train: $(head -3 "$tmp/ct.out")"
fi
# The checker must be able to fail: a Deployment without probes and a bad field.
cat >"$tmp/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: coin-ingest}
spec:
  replicas: "one"
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: x, image: "coin-predict:latest"}]
EOF
if NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/k8s_check.js" "$tmp/bad.yaml" --pinned >"$tmp/bad.out" 2>&1; then
  bad "a broken manifest passed the checker"
else
  if grep -q "schema" "$tmp/bad.out" && grep -q "liveness" "$tmp/bad.out"; then ok "the checker refuses a broken manifest"; else bad "checker output: $(head -5 "$tmp/bad.out")"; fi
fi
ns=$(grep -c '^  namespace: coin-example' "$tmp/overlays_example.yaml" || true)
if [ "$ns" -gt 10 ]; then ok "overlay puts everything in its namespace"; else bad "overlay namespace ($ns)"; fi

# ---- nginx snippets: the copies in the base match deploy/nginx ----------------
for f in site-rules.conf coin-gone.conf coin-json-headers.conf coin-json-nocache.conf; do
  if cmp -s "$src/deploy/nginx/$f" "$src/deploy/k8s/base/nginx/$f"; then
    ok "k8s base nginx/$f matches deploy/nginx"
  else
    bad "deploy/k8s/base/nginx/$f differs from deploy/nginx/$f (run deploy/k8s/sync-nginx.sh)"
  fi
done

# ---- NATS cluster node (deploy/nats/nats-cluster.conf) ------------------------
# nats_cluster_tests: nats-server -t accepts the node with generated routes
# (compose and k8s hosts) and the example secrets, refuses it without the
# route password; then the three NATS servers of the compose profile cluster,
# their commands as compose resolves them (-c, -n, -js), on loopback with free
# ports: they route to each other and JetStream has a meta leader; a node
# with another route password gets no route. Stopped by PID.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
nats_pids=()
stop_nats() {
  local p
  for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${nats_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  nats_pids=()
}
trap 'stop_nats; rm -rf "$tmp"' EXIT
nats_t() { # DIR ROUTES-FILE: nats-server -t on nats-cluster.conf with those routes
  mkdir -p "$1" && cp "$tmp/natsconf/nats-passwords.conf" "$roles_src" "$cluster_src" "$1/" && cp "$2" "$1/nats-routes.conf"
  /usr/sbin/nats-server -t -c "$1/nats-cluster.conf" >"$1/t.out" 2>&1
}
# routes_of NODE_DIR: the routes of the server whose monitor port is in NODE_DIR/mport
routes_of() { curl -sf "http://127.0.0.1:$(cat "$1/mport")/routez" | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_routes"])' 2>/dev/null || echo -1; }
nats_cluster_tests() {
  cp "$roles_src" "$tmp/natsconf/nats-permissions.conf"  # undo the broken one
  "$src/scripts/nats-routes.sh" "$tmp/rc" nats:6222 nats-2:6222 nats-3:6222
  "$src/scripts/nats-routes.sh" "$tmp/rk" nats-0.nats-headless:6222 nats-1.nats-headless:6222 nats-2.nats-headless:6222
  local f
  for f in "$tmp/rc/nats-routes.conf" "$tmp/rk/nats-routes.conf" "$src/deploy/k8s/base/nats/nats-routes.example.conf" \
           "$src/deploy/k8s/overlays/example/nats-routes.example.conf"; do
    if nats_t "$tmp/nt" "$f"; then ok "nats-server -t accepts nats-cluster.conf with $(basename "$(dirname "$f")")/$(basename "$f")"; else bad "nats-server -t nats-cluster.conf with $f: $(cat "$tmp/nt/t.out")"; fi
  done
  grep -v '^COIN_NATS_ROUTE_PASSWORD' "$tmp/rc/nats-routes.conf" >"$tmp/nr-bad.conf"
  if nats_t "$tmp/nt" "$tmp/nr-bad.conf"; then bad "nats-server -t accepted routes without COIN_NATS_ROUTE_PASSWORD"; else ok "nats-server -t refuses routes without the route password"; fi

  # The compose cluster, live. Each node: its own dir with the node's config
  # (listen on its own loopback port), the commands of compose.
  local names=(nats nats-2 nats-3) i hp=() dirs=()
  for i in 0 1 2; do
    dirs[i]="$tmp/live/${names[i]}"
    mkdir -p "${dirs[i]}/etc" "${dirs[i]}/data"
    free_port >"${dirs[i]}/rport"; free_port >"${dirs[i]}/cport"; free_port >"${dirs[i]}/mport"
    hp[i]="127.0.0.1:$(cat "${dirs[i]}/rport")"
  done
  "$src/scripts/nats-routes.sh" "$tmp/live/secrets" "${hp[@]}"
  for i in 0 1 2; do
    local d="${dirs[i]}"
    cp "$tmp/natsconf/nats-passwords.conf" "$roles_src" "$tmp/live/secrets/nats-routes.conf" "$d/etc/"
    sed "s/^  listen: 0\.0\.0\.0:6222$/  listen: ${hp[i]}/" "$cluster_src" >"$d/etc/nats-cluster.conf"
    # compose's command with the paths and ports of this node
    python3 - "$tmp/compose-cluster.yml" "${names[i]}" "$d" >"$d/args" <<'PYEOF'
import sys, yaml
svc = yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]
d = sys.argv[3]
a = [x.replace("/etc/nats/", d + "/etc/") for x in svc["command"]]
a[a.index("-sd") + 1] = d + "/data"
a[a.index("-m") + 1] = open(d + "/mport").read().strip()
print("\n".join(a + ["-a", "127.0.0.1", "-p", open(d + "/cport").read().strip(), "-l", d + "/log"]))
PYEOF
  done
  if ! grep -q -- "-n" "${dirs[0]}/args" || ! grep -q "nats-cluster.conf" "${dirs[0]}/args"; then
    bad "compose cluster nats command: $(tr '\n' ' ' <"${dirs[0]}/args")"
    return
  fi
  for i in 0 1 2; do
    mapfile -t args <"${dirs[i]}/args"
    /usr/sbin/nats-server "${args[@]}" &
    nats_pids+=($!)
  done
  local deadline=$((SECONDS + 30)) r=() healthy
  while :; do
    r=("$(routes_of "${dirs[0]}")" "$(routes_of "${dirs[1]}")" "$(routes_of "${dirs[2]}")")
    # (an if, not &&: a node not up yet must not end the loop in failure,
    # which pipefail and set -e would turn into a silent exit)
    healthy=$(for i in 0 1 2; do if curl -sf "http://127.0.0.1:$(cat "${dirs[i]}/mport")/healthz" >/dev/null; then echo y; fi; done | wc -l)
    [ "${r[*]}" = "2 2 2" ] && [ "$healthy" -eq 3 ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.2
  done
  if [ "${r[*]}" = "2 2 2" ] && [ "$healthy" -eq 3 ]; then
    ok "the compose cluster's 3 NATS servers route to each other (routes ${r[*]}), JetStream healthy on all 3"
  else
    bad "compose cluster live: routes ${r[*]}, $healthy of 3 healthy: $(grep -h 'ERR' "${dirs[0]}/log" | tail -2)"
  fi
  # The route password is checked: node 3 restarted with another one gets no route.
  kill "${nats_pids[2]}" && wait "${nats_pids[2]}" 2>/dev/null || true
  sed -i 's/coin-route:[A-Za-z0-9]*@/coin-route:wrongpassword@/; s/^COIN_NATS_ROUTE_PASSWORD: .*/COIN_NATS_ROUTE_PASSWORD: "wrongpassword"/' \
    "${dirs[2]}/etc/nats-routes.conf"
  mapfile -t args <"${dirs[2]}/args"
  /usr/sbin/nats-server "${args[@]}" &
  nats_pids[2]=$!
  deadline=$((SECONDS + 30))
  while :; do
    r=("$(routes_of "${dirs[0]}")" "$(routes_of "${dirs[1]}")" "$(routes_of "${dirs[2]}")")
    [ "${r[*]}" = "1 1 0" ] && grep -q "authentication error" "${dirs[2]}/log" 2>/dev/null && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.2
  done
  if [ "${r[*]}" = "1 1 0" ] && grep -q "authentication error" "${dirs[2]}/log"; then
    ok "a node with another route password is refused (routes ${r[*]})"
  else
    bad "route auth: routes ${r[*]}: $(grep -h 'auth' "${dirs[2]}/log" | tail -2)"
  fi
  stop_nats
}

# ---- NATS users and permissions: one role table (deploy/nats), used by
# compose and k8s, valid for nats-server, each service logged in as its user ----
roles_src="$src/deploy/nats/nats-permissions.conf"
cluster_src="$src/deploy/nats/nats-cluster.conf"
for f in nats-permissions.conf nats-cluster.conf; do
  if cmp -s "$src/deploy/nats/$f" "$src/deploy/k8s/base/nats/$f"; then
    ok "k8s base nats/$f matches deploy/nats"
  else
    bad "deploy/k8s/base/nats/$f differs from deploy/nats (run deploy/k8s/sync-nats.sh)"
  fi
done
if [ -x /usr/sbin/nats-server ]; then
  mkdir -p "$tmp/natsconf"
  "$src/scripts/nats-passwords.sh" "$tmp/natsconf" && cp "$roles_src" "$tmp/natsconf/"
  if /usr/sbin/nats-server -t -c "$tmp/natsconf/nats-permissions.conf" >"$tmp/nt.out" 2>&1; then
    ok "nats-server -t accepts the role table with generated passwords"
  else
    bad "nats-server -t: $(cat "$tmp/nt.out")"
  fi
  # the check can fail: a role table with a syntax error
  sed 's/^authorization {/authorization {{/' "$roles_src" >"$tmp/natsconf/nats-permissions.conf"
  if /usr/sbin/nats-server -t -c "$tmp/natsconf/nats-permissions.conf" >/dev/null 2>&1; then
    bad "nats-server -t accepted a broken role table"
  else
    ok "nats-server -t refuses a broken role table"
  fi
  nats_cluster_tests
else
  bad "/usr/sbin/nats-server missing (Debian package nats-server)"
fi
if NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/nats_check.js" "$tmp/compose.yml" "$tmp/base.yaml" \
     "$tmp/overlays_example.yaml" "$roles_src" "$cluster_src" >"$tmp/np.out" 2>&1; then
  ok "NATS users: compose and k8s run the role table, each service as its user ($(grep -c '^ok' "$tmp/np.out") checks)"
else
  bad "NATS users: $(grep -v '^ok' "$tmp/np.out" | head -5)"
fi
# the checker can fail: compose's publish with ingest's credentials
sed 's/NATS_USER: coin-publish/NATS_USER: coin-ingest/' "$tmp/compose.yml" >"$tmp/compose-bad.yml"
if NODE_PATH="$npm_dir/node_modules" node "$src/tests/deploy/nats_check.js" "$tmp/compose-bad.yml" "$tmp/base.yaml" \
     "$tmp/overlays_example.yaml" "$roles_src" "$cluster_src" >"$tmp/np-bad.out" 2>&1; then
  bad "the NATS users check accepted publish logged in as coin-ingest"
elif grep -q "FAIL - compose publish: NATS_USER coin-publish" "$tmp/np-bad.out"; then
  ok "the NATS users check refuses a service logged in as another role"
else
  bad "NATS users mutation: $(head -3 "$tmp/np-bad.out")"
fi

# ---- Dockerfile ---------------------------------------------------------------
df="$src/Dockerfile"
if [ "$(grep -c '^FROM debian:bookworm' "$df")" -ge 2 ]; then ok "Dockerfile: multi-stage on Debian bookworm"; else bad "Dockerfile: want two bookworm stages"; fi
last_user=$(grep '^USER ' "$df" | tail -1 | awk '{print $2}')
if [ -n "$last_user" ] && [ "${last_user%%:*}" != 0 ] && [ "${last_user%%:*}" != root ]; then ok "Dockerfile: runs as $last_user"; else bad "Dockerfile: must end with a non-root USER"; fi
n_install=$(grep -c 'apt-get install' "$df")
n_norec=$(grep -c 'apt-get install -y --no-install-recommends' "$df")
if [ "$n_install" -eq "$n_norec" ]; then ok "Dockerfile: every apt-get install without recommends"; else bad "Dockerfile: $n_install installs, $n_norec without recommends"; fi
for f in CMakeLists.txt proto lib services tools tests web deploy/docker/coin-install-web; do
  [ -e "$src/$f" ] || bad "Dockerfile copies $f, which does not exist"
done
ok "Dockerfile: every COPY source exists"
# The deploy commands (compose train, the k8s Jobs) run `sh -c "coinctl ...
# && coin-train ..."`: both built and installed, no ENTRYPOINT in the way.
targets=$(grep -A2 -- '--target' "$df" | tr '\n' ' ')
case "$targets" in
  *" coinctl "*) case "$targets" in *" coin-train "*) ok "Dockerfile: builds coinctl and coin-train" ;; *) bad "Dockerfile: coin-train not built" ;; esac ;;
  *) bad "Dockerfile: coinctl not built" ;;
esac
if grep -q '^COPY --from=build /src/build/bin/ /usr/local/bin/' "$df" && ! grep -q '^ENTRYPOINT' "$df"; then
  ok "Dockerfile: the binaries on PATH, no ENTRYPOINT (sh -c commands run as given)"
else
  bad "Dockerfile: want build/bin/ copied to /usr/local/bin and no ENTRYPOINT"
fi
if sh -n "$src/deploy/docker/coin-install-web"; then ok "coin-install-web: sh syntax"; else bad "coin-install-web: sh syntax"; fi
# coin-install-web really installs the page atomically.
mkdir -p "$tmp/site"
if STATIC_DATA_DIR="$tmp/site" COIN_WEB_DIR="$src/web" sh "$src/deploy/docker/coin-install-web" >/dev/null &&
   cmp -s "$src/web/index.html" "$tmp/site/index.html" && [ -z "$(find "$tmp/site" -name '.*')" ]; then
  ok "coin-install-web installs the page, no temp files left"
else
  bad "coin-install-web"
fi

# ---- Alertmanager examples: valid for the Alertmanager we ship, and route the
# always-firing Watchdog to the dead-man receiver only --------------------------
command -v amtool >/dev/null || fail "amtool missing (scripts/install-deps.sh installs prometheus-alertmanager)"
for f in deploy/alertmanager/alertmanager.yml deploy/compose/alertmanager.yml; do
  if amtool check-config "$src/$f" >"$tmp/am.out" 2>&1; then ok "amtool check-config $f"; else bad "amtool check-config $f: $(grep -v '^ ' "$tmp/am.out" | head -3)"; fi
  got=$(amtool config routes test --config.file="$src/$f" alertname=Watchdog severity=none exchange=binance 2>/dev/null || true)
  if [ "$got" = "deadman" ]; then ok "$f: Watchdog goes to deadman only"; else bad "$f: Watchdog routed to '$got', want deadman"; fi
  got=$(amtool config routes test --config.file="$src/$f" alertname=CoinHardStale severity=critical exchange=binance symbol=BTCUSDT timeframe=1m 2>/dev/null || true)
  case "$got" in *deadman*) bad "$f: a series alert reaches the dead-man receiver ($got)" ;; *) ok "$f: series alerts stay off the dead-man receiver ($got)" ;; esac
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
