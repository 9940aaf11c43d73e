#!/usr/bin/env bash
# make demo: the Knative release-strategy story on Ramp, then a Rollout's
# default canary analysis (a promotion, then rollbacks of a canary with 5%
# errors and of one 30% slower), with live progress and the evidence.
#
# `make up` has started the local cluster and installed Ramp with its Helm
# chart. This deploys the notifications service at 1.0.0, rolls out 1.1.0 with
# a 50/50 split, then moves to blue/green with tags. Each step waits for the
# Service to be Ready while printing what the controller reports, then sends
# a few requests through the gateway on 127.0.0.1:8080 (loopback only).
set -euo pipefail
cd "$(dirname "$0")/../.."
# RAMP_LOCAL_DIR: the cluster make up started (.ramp/local, or .ramp/real for NODE=real).
LOCAL=${RAMP_LOCAL_DIR:-.ramp/local}
KUBECTL=(bin/k8s/kubectl --kubeconfig "$LOCAL/kubeconfig")
NS=ramp-demo
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if ! command -v curl >/dev/null; then
  echo "curl is missing; installing it with apt-get"
  apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi

apply() { # version traffic-yaml
  sed -e "s/__VERSION__/$1/g" test/demo/notifications.yaml |
    awk -v t="$2" '{ if ($0 == "__TRAFFIC__") print t; else print }' |
    "${KUBECTL[@]}" -n "$NS" apply -f - >/dev/null
}

# wait_ready waits (up to 120 s) for the Service to be Ready at its latest
# generation (which includes every gateway replica serving its routing
# table), printing its condition whenever it changes.
wait_ready() {
  local last="" line gen obs ready
  for _ in $(seq 1 240); do
    line=$("${KUBECTL[@]}" -n "$NS" get rsvc notifications -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null || true)
    read -r gen obs ready _ <<<"$line"
    if [ "$line" != "$last" ]; then echo "  Ready=${ready:-?}  ${line#* * * }"; last=$line; fi
    if [ "$ready" = "True" ] && [ "$gen" = "$obs" ]; then return 0; fi
    sleep 0.5
  done
  echo "the service did not become ready in time" >&2
  "${KUBECTL[@]}" -n "$NS" get rsvc,revisions,pods >&2
  return 1
}

# tally HOST [HEADER]: 20 requests through the gateway on 127.0.0.1:8080,
# counted by the version that answered.
tally() {
  local host=$1; shift
  for _ in $(seq 1 20); do
    curl -s -o /dev/null --max-time 5 -w '%header{x-sampleapp-version}\n' -H "Host: $host" "$@" http://127.0.0.1:8080/
  done | sort | uniq -c | awk '{printf "%s×%s  ", $2, $1} END {print ""}'
}

show() {
  "${KUBECTL[@]}" -n "$NS" get rsvc,revisions
  echo
  echo "traffic:"
  "${KUBECTL[@]}" -n "$NS" get rsvc notifications \
    -o jsonpath='{range .status.traffic[*]}  {.revisionName}  {.percent}%  {.tag}  {.url}{"\n"}{end}'
  local host="notifications.$NS.example.com"
  echo "20 requests through the gateway (curl -H 'Host: $host' http://127.0.0.1:8080/):"
  echo "  $(tally "$host")"
  for tag in $("${KUBECTL[@]}" -n "$NS" get rsvc notifications -o jsonpath='{.status.traffic[*].tag}'); do
    echo "  tag $tag (Host: $tag-$host):  $(tally "$tag-$host")"
  done
}

if "${KUBECTL[@]}" get namespace "$NS" >/dev/null 2>&1; then
  echo "Removing the previous run's namespace $NS"
  "${KUBECTL[@]}" delete namespace "$NS" --wait --timeout=120s >/dev/null
fi
"${KUBECTL[@]}" create namespace "$NS" >/dev/null

bold "1. Deploy notifications 1.0.0 (a Knative Service manifest with apiVersion serving.ramp.dev/v1)"
apply 1.0.0 ""
wait_ready
show

bold "2. Release 1.1.0 as a new revision, splitting traffic 50/50"
apply 1.1.0 "  traffic:
  - {revisionName: notifications-00001, percent: 50}
  - {latestRevision: true, percent: 50}"
wait_ready
show

bold "3. Blue/green: 1.0.0 keeps 100% as 'current'; 1.1.0 gets 0% and its own URL as 'version110'"
apply 1.1.0 "  traffic:
  - {revisionName: notifications-00001, percent: 100, tag: current}
  - {revisionName: notifications-00002, percent: 0, tag: version110}"
wait_ready
show

bold "4. Flip: 1.1.0 takes 100%"
apply 1.1.0 "  traffic:
  - {revisionName: notifications-00002, percent: 100, tag: current}
  - {revisionName: notifications-00001, percent: 0, tag: previous}"
wait_ready
show

bold "5. Progressive delivery: a Rollout (rollouts.ramp.dev/v1alpha1) owns Service 'shop'"
echo "test/demo/shop-rollout.yaml has no analysis block: every step is judged by the default"
echo "analysis (error rate and p90 latency, canary against stable, sequential tests)."
RAMP=(bin/ramp --kubeconfig "$LOCAL/kubeconfig" -n "$NS")
rollout() { # version error-rate latency
  sed -e "s/__VERSION__/$1/g" -e "s/__ERROR_RATE__/$2/" -e "s/__LATENCY__/$3/" test/demo/shop-rollout.yaml |
    "${KUBECTL[@]}" -n "$NS" apply -f - >/dev/null
}
# evidence prints `ramp rollout get shop`: its measurements and the evidence
# of the last one, which the status message quotes.
evidence() {
  "${RAMP[@]}" rollout get shop
  echo
  echo "status.message: $("${KUBECTL[@]}" -n "$NS" get ro shop -o jsonpath='{.status.message}')"
}
rollout v1 0 30ms+-30ms
echo "The first revision has no stable to compare with: it takes 100% at once."
"${RAMP[@]}" rollout watch shop --timeout 3m

# Bounded load through the gateway for the rest of the demo, loopback only:
# 4 clients, each sending batches of 100 sequential requests (one curl, one
# kept-alive connection) for at most 6 minutes and 15,000 requests.
load() {
  local end=$((SECONDS + 360)) n=0
  while [ $SECONDS -lt $end ] && [ $n -lt 15000 ]; do
    curl -s --max-time 60 -H "Host: shop.$NS.example.com" "http://127.0.0.1:8080/?n=[1-100]" >/dev/null || true
    n=$((n + 100))
  done
}
LOADS=()
for _ in 1 2 3 4; do load & LOADS+=($!); done
trap 'kill "${LOADS[@]}" 2>/dev/null || true' EXIT

bold "6. Roll out a good v2 under load: each step advances on evidence of non-regression, after at least 30 s"
rollout v2 0 30ms+-30ms
"${RAMP[@]}" rollout watch shop --timeout 5m
"${RAMP[@]}" rollout get shop

bold "7. Roll out v3, which answers 5% of its requests with a 500: rolled back on evidence of regression"
rollout v3 0.05 30ms+-30ms
"${RAMP[@]}" rollout watch shop --timeout 5m || true
evidence

bold "8. Roll out v4, 30% slower on every request (39ms+-39ms): rolled back on the latency"
rollout v4 0 39ms+-39ms
"${RAMP[@]}" rollout watch shop --timeout 5m || true
evidence
"${RAMP[@]}" rollout status shop || true

cat <<MSG

Explore:
  bin/ramp --kubeconfig "$LOCAL/kubeconfig" -n $NS rollout get shop
  bin/ramp --kubeconfig "$LOCAL/kubeconfig" -n $NS rollout list
  bin/ramp --kubeconfig "$LOCAL/kubeconfig" dashboard     # then open http://127.0.0.1:3100/
  bin/k8s/kubectl --kubeconfig "$LOCAL/kubeconfig" -n $NS get rsvc,configurations,revisions,routes
Stop everything with: make down
MSG
