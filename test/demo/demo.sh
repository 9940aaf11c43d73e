#!/usr/bin/env bash
# make demo: a rollout story on Ramp's local cluster, with live progress.
#
# The local cluster is already up (make up). This deploys the sample app
# v1.0.0 behind a Service, shows every replica answering on its own loopback
# IP, then rolls out v1.1.0 and shows traffic-serving replicas switch version
# while the EndpointSlices follow. The load it sends is bounded and only
# targets 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBECTL=(bin/k8s/kubectl --kubeconfig .ramp/local/kubeconfig)
NS=ramp-demo
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if ! command -v curl >/dev/null; then
  echo "curl is missing; installing it with apt-get"
  apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi

bold "Deploying notifications v1.0.0 (3 replicas) into namespace $NS"
"${KUBECTL[@]}" create namespace "$NS" --dry-run=client -o yaml | "${KUBECTL[@]}" apply -f - >/dev/null
render() {
  sed -e "s/__VERSION__/$1/g" test/demo/notifications.yaml
}
render 1.0.0 | "${KUBECTL[@]}" -n "$NS" apply -f -
"${KUBECTL[@]}" -n "$NS" rollout status deployment/notifications --timeout=120s

pod_versions() {
  # Ask every ready endpoint which version it runs (loopback only).
  local ips
  ips=$("${KUBECTL[@]}" -n "$NS" get endpointslices -l kubernetes.io/service-name=notifications \
        -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}')
  local line=""
  for ip in $ips; do
    case "$ip" in 127.*) ;; *) continue ;; esac
    v=$(curl -s --max-time 2 "http://$ip:8080/service/info" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')
    line+="$ip=${v:-?}  "
  done
  echo "${line:-no ready endpoints}"
}

bold "Every replica answers on its own loopback IP (from the EndpointSlice)"
"${KUBECTL[@]}" -n "$NS" get pods -o wide
echo "ready endpoints: $(pod_versions)"

bold "Rolling out v1.1.0 (maxSurge 1, maxUnavailable 0)"
render 1.1.0 | "${KUBECTL[@]}" -n "$NS" apply -f - >/dev/null
for i in $(seq 1 120); do
  printf '  t=%3ss  %s\n' "$i" "$(pod_versions)"
  if "${KUBECTL[@]}" -n "$NS" rollout status deployment/notifications --timeout=1s >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
"${KUBECTL[@]}" -n "$NS" rollout status deployment/notifications --timeout=60s

bold "Done: every ready endpoint now serves v1.1.0"
echo "ready endpoints: $(pod_versions)"
cat <<MSG

Try it yourself:
  bin/k8s/kubectl --kubeconfig .ramp/local/kubeconfig -n $NS get pods,endpointslices
  curl http://<pod-ip>:8080/service/info
Stop the cluster with: make down
MSG
