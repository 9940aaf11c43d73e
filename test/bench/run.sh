#!/usr/bin/env bash
# make bench: data-plane throughput on loopback, every path measured in the
# same run, rounds alternating between paths, so that ratios are meaningful
# on a shared machine (docs/performance.md explains how to read the output).
#
# Paths: direct to the sample app; through Knative Serving's queue-proxy
# (the baseline, when bin/knative-queue-<version> is built); through Ramp's
# queue-proxy alone; through Ramp's gateway (static routing table) and
# queue-proxy; through an nginx reverse proxy (when nginx is installed). For
# each: requests/s, p50, p99 (wrk --latency), failed responses, and each
# proxy process' own CPU µs per request (utime+stime from /proc, the gateway's
# apart from the queue-proxy's), plus every proxy's RSS and the ratios to
# Knative's queue-proxy, to direct and to nginx. Results go to
# _out/bench/dataplane.md.
#
# As root the run happens in a private network namespace (BENCH_NETNS=0 turns
# that off): Knative's queue-proxy binds fixed ports (8022, 9090) on every
# address, which must not collide with other processes on the machine. Only
# 127.0.0.0/8 is ever targeted; every load run is bounded by -d.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${BENCH_NETNS:-1}" = 1 ] && [ -z "${RAMP_BENCH_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
  command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  exec unshare -n env RAMP_BENCH_NETNS=1 "$PWD/test/bench/run.sh" "$@"
fi
NETWORK="the host's loopback"
if [ -n "${RAMP_BENCH_NETNS:-}" ]; then
  ip link set lo up
  NETWORK="loopback in a private network namespace"
fi

BIN=$PWD/bin
OUT=$PWD/_out/bench
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
KNATIVE_VERSION=${KNATIVE_VERSION:-v0.50.0}
KNATIVE_QUEUE=${KNATIVE_QUEUE:-$BIN/knative-queue-$KNATIVE_VERSION}
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "bench: wrk is missing (make bench installs it with apt-get)" >&2; exit 1; }
for b in sampleapp queue gateway; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b is missing: run make build" >&2; exit 1; }
done

# The "pod" is 127.0.0.1: Knative's queue-proxy always dials
# 127.0.0.1:USER_PORT, and both queue-proxies must reach the same sample app
# process for the comparison to be fair. Knative's queue-proxy listens on
# every address; it is reached through its own IP.
POD_IP=127.0.0.1
APP_PORT=18080
QUEUE_PORT=18012 QUEUE_ADMIN_PORT=18022 QUEUE_METRICS_PORT=18091
KNATIVE_IP=127.0.0.205
KNATIVE_PORT=18013 KNATIVE_TLS_PORT=18113
KNATIVE_FIXED_PORTS="8022 9090" # Knative's admin and autoscaling-metrics ports; not configurable
NGINX_IP=127.0.0.203
GATEWAY_IP=127.0.0.204
HOST=hello.bench.example.com

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; } # host port: something accepts connections there
# wait_up HOST PORT PID: wait until PID listens on HOST:PORT; fails if PID exits or after 10s.
wait_up() {
  for _ in $(seq 1 100); do
    answers "$1" "$2" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# need_free HOST PORT: the bench's own ports must not already answer, or
# another server would be measured.
need_free() {
  if answers "$1" "$2"; then echo "bench: $1:$2 is already in use by another process" >&2; exit 1; fi
}

echo ">> starting the sample app, Ramp's queue-proxy and gateway$(command -v nginx >/dev/null && echo ", nginx") on $NETWORK"
need_free $POD_IP $APP_PORT; need_free $POD_IP $QUEUE_PORT; need_free $GATEWAY_IP 8080
POD_IP=$POD_IP PORT=$APP_PORT "$BIN/sampleapp" >"$OUT/sampleapp.log" 2>&1 & app_pid=$!; pids+=($app_pid)
POD_IP=$POD_IP USER_PORT=$APP_PORT QUEUE_SERVING_PORT=$QUEUE_PORT QUEUE_ADMIN_PORT=$QUEUE_ADMIN_PORT \
  QUEUE_METRICS_PORT=$QUEUE_METRICS_PORT CONTAINER_CONCURRENCY=0 REVISION_TIMEOUT_SECONDS=300 SERVING_REVISION=hello-00001 \
  "$BIN/queue" >"$OUT/queue.log" 2>&1 & queue_pid=$!; pids+=($queue_pid)
cat >"$OUT/gateway.json" <<JSON
{"routes": [{"Namespace": "bench", "Name": "hello", "Hash": "bench",
  "Rules": [{"Hosts": ["$HOST"], "Backends": [{"Revision": "hello-00001", "Percent": 100}]}]}],
 "endpoints": [{"namespace": "bench", "service": "hello-00001", "ip": "$POD_IP", "port": $QUEUE_PORT}]}
JSON
POD_IP=$GATEWAY_IP "$BIN/gateway" --static-config "$OUT/gateway.json" >"$OUT/gateway.log" 2>&1 & gateway_pid=$!; pids+=($gateway_pid)
wait_up $POD_IP $APP_PORT $app_pid || { echo "bench: the sample app did not start (see $OUT/sampleapp.log)" >&2; exit 1; }
wait_up $POD_IP $QUEUE_PORT $queue_pid || { echo "bench: Ramp's queue-proxy did not start (see $OUT/queue.log)" >&2; exit 1; }
wait_up $GATEWAY_IP 8080 $gateway_pid || { echo "bench: Ramp's gateway did not start (see $OUT/gateway.log)" >&2; exit 1; }

declare -A PID_OF=([queue]=$queue_pid [gateway]=$gateway_pid)
declare -A LABEL=([direct]="direct (sample app)" [knative]="Knative queue-proxy $KNATIVE_VERSION"
  [queue-proxy]="Ramp queue-proxy" [gateway+queue-proxy]="Ramp gateway + queue-proxy" [nginx]="nginx")
declare -A URL=([direct]="http://$POD_IP:$APP_PORT/" [knative]="http://$KNATIVE_IP:$KNATIVE_PORT/"
  [queue-proxy]="http://$POD_IP:$QUEUE_PORT/" [gateway+queue-proxy]="http://$GATEWAY_IP:8080/" [nginx]="http://$NGINX_IP:8080/")
# The processes whose CPU is counted on each path, the gateway's apart.
declare -A GW=([gateway+queue-proxy]=gateway)
declare -A PROXY=([knative]=knative [queue-proxy]=queue [gateway+queue-proxy]=queue [nginx]=nginx)
paths=(direct)

nginx_why=
if ! command -v nginx >/dev/null; then
  nginx_why="nginx is not installed"
else
  need_free $NGINX_IP 8080
  cat >"$OUT/nginx.conf" <<NGINX
worker_processes auto;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server $POD_IP:$APP_PORT; keepalive 64; }
  server {
    listen $NGINX_IP:8080;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
  nginx -c "$OUT/nginx.conf" -p "$OUT" 2>>"$OUT/nginx-error.log" & nginx_pid=$!; pids+=($nginx_pid)
  if wait_up $NGINX_IP 8080 $nginx_pid; then PID_OF[nginx]=$nginx_pid
  else nginx_why="nginx did not start: $(tail -n 1 "$OUT/nginx-error.log")"; fi
fi

# Knative's queue-proxy with the environment its revision reconciler gives
# it in a default install (pkg/reconciler/revision/resources/queue.go):
# containerConcurrency 0 like Ramp's, no request log, metrics and tracing
# off (the default OBSERVABILITY_CONFIG), config-logging's default logger.
knative_why=${KNATIVE_QUEUE_WHY:-}
if [ -z "$knative_why" ] && [ ! -x "$KNATIVE_QUEUE" ]; then
  knative_why="$KNATIVE_QUEUE is not built (make bench builds it)"
fi
if [ -z "$knative_why" ]; then
  for port in $KNATIVE_PORT $KNATIVE_FIXED_PORTS; do
    if answers 127.0.0.1 "$port"; then knative_why="port $port, which it binds on every address, is in use"; fi
  done
fi
if [ -z "$knative_why" ]; then
  echo ">> starting Knative's queue-proxy $KNATIVE_VERSION on $KNATIVE_IP:$KNATIVE_PORT"
  SERVING_NAMESPACE=bench SERVING_SERVICE=hello SERVING_CONFIGURATION=hello SERVING_REVISION=hello-00001 \
    SERVING_POD=hello-00001-deployment-bench SERVING_POD_IP=$KNATIVE_IP SYSTEM_NAMESPACE=knative-serving \
    QUEUE_SERVING_PORT=$KNATIVE_PORT QUEUE_SERVING_TLS_PORT=$KNATIVE_TLS_PORT USER_PORT=$APP_PORT \
    CONTAINER_CONCURRENCY=0 REVISION_TIMEOUT_SECONDS=300 REVISION_RESPONSE_START_TIMEOUT_SECONDS=0 \
    REVISION_IDLE_TIMEOUT_SECONDS=0 ENABLE_HTTP2_AUTO_DETECTION=false ENABLE_HTTP_FULL_DUPLEX=false \
    ENABLE_MULTI_CONTAINER_PROBES=false SERVING_LOGGING_LEVEL=info \
    SERVING_READINESS_PROBE="{\"tcpSocket\":{\"port\":$APP_PORT,\"host\":\"127.0.0.1\"},\"successThreshold\":1}" \
    SERVING_LOGGING_CONFIG='{"level": "info", "development": false, "outputPaths": ["stdout"], "errorOutputPaths": ["stderr"],
      "encoding": "json", "encoderConfig": {"timeKey": "timestamp", "levelKey": "severity", "nameKey": "logger",
      "callerKey": "caller", "messageKey": "message", "stacktraceKey": "stacktrace", "timeEncoder": "iso8601"}}' \
    "$KNATIVE_QUEUE" >"$OUT/knative-queue.log" 2>&1 & knative_pid=$!; pids+=($knative_pid)
  if wait_up $KNATIVE_IP $KNATIVE_PORT $knative_pid; then PID_OF[knative]=$knative_pid
  else knative_why="it did not start (see $OUT/knative-queue.log): $(tail -n 1 "$OUT/knative-queue.log" | cut -c1-200)"; fi
fi
[ -n "$knative_why" ] && echo ">> without Knative's queue-proxy: $knative_why"
[ -n "$nginx_why" ] && echo ">> without nginx: $nginx_why"
[ -n "${PID_OF[knative]:-}" ] && paths+=(knative)
paths+=(queue-proxy gateway+queue-proxy)
[ -n "${PID_OF[nginx]:-}" ] && paths+=(nginx)

# pids_of NAME: the process and, for nginx, its workers.
pids_of() { [ -n "${PID_OF[$1]:-}" ] && echo "${PID_OF[$1]}" $(pgrep -P "${PID_OF[$1]}" || true); }
# cpu_ticks NAME...: utime+stime of the processes (all their threads,
# exited ones included) and their children. The command name is skipped
# up to its closing parenthesis: it may contain spaces.
cpu_ticks() {
  local t=0 n p
  for n in "$@"; do
    for p in $(pids_of "$n"); do
      [ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
  done
  echo $t
}
# mem_kb NAME FIELD: VmRSS or VmHWM (kB) of the process and its children.
mem_kb() {
  local t=0 p
  for p in $(pids_of "$1"); do
    t=$((t + $(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)
per_req() { awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'; }

# load PATH: one wrk round; prints "rps p50 p99 gateway_cpu_us proxy_cpu_us failed".
load() {
  local p=$1 gw=${GW[$1]:-} px=${PROXY[$1]:-} g0 q0 g1 q1 out
  g0=$(cpu_ticks $gw); q0=$(cpu_ticks $px)
  out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST" "${URL[$p]}")
  g1=$(cpu_ticks $gw); q1=$(cpu_ticks $px)
  local rps reqs p50 p99 failed gcpu=- qcpu=-
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  failed=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  [ -n "$gw" ] && gcpu=$(per_req $((g1 - g0)) "$reqs")
  [ -n "$px" ] && qcpu=$(per_req $((q1 - q0)) "$reqs")
  echo "$rps $p50 $p99 $gcpu $qcpu $failed"
}

echo ">> warming up every path for 2s"
for p in "${paths[@]}"; do wrk -t2 -c"$CONNS" -d2s -H "Host: $HOST" "${URL[$p]}" >/dev/null; done

declare -A RESULTS RSS
n=${#paths[@]}
echo ">> measuring: $ROUNDS rounds × $n paths × $DURATION (wrk -t2 -c$CONNS); each round starts one path later"
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    p=${paths[$(((i + round - 1) % n))]}
    r=$(load "$p")
    RESULTS[$p]+="$r"$'\n'
    # RSS right after the load, while the proxies still hold its buffers.
    for proc in ${GW[$p]:-} ${PROXY[$p]:-}; do RSS[$proc]+="$(mem_kb "$proc" VmRSS)"$'\n'; done
    printf '   round %s  %-34s req/s %-10s p50 %-8s p99 %-8s gateway CPU µs/req %-5s proxy CPU µs/req %-5s failed %s\n' \
      "$round" "${LABEL[$p]}" $r
  done
done

median() { sort -g | awk 'NF {a[++n] = $1} END {print a[int((n + 1) / 2)]}'; }
# col PATH N: the median of column N, with wrk's latencies (us/ms/s) in ms; "-" when not measured.
col() {
  awk -v c="$2" 'NF { v = $c
    if (v == "-") { print v; next }
    if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
    print v }' <<<"${RESULTS[$1]:-}" | median
}
sum_col() { awk -v c="$2" 'NF {n += $c} END {print n + 0}' <<<"${RESULTS[$1]:-}"; }
ratio() { # A B [FORMAT]: A/B, or "-" when either is missing
  awk -v a="$1" -v b="$2" -v f="${3:-%.2f×}" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b == 0) print "-"; else printf f, a / b }'
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# goal LABEL VALUE OP LIMIT UNIT: "met"/"missed" from the measured VALUE.
goal() {
  local v=$2
  if [ "$v" = - ] || [ -z "$v" ]; then echo "- $1: not measured in this run"; return; fi
  awk -v l="$1" -v v="$v" -v op="$3" -v lim="$4" -v u="$5" 'BEGIN {
    ok = (op == ">=") ? v + 0 >= lim + 0 : v + 0 <= lim + 0
    printf "- %s: %s%s — %s\n", l, v, u, ok ? "met" : "missed" }'
}

declare -A RPS TOTAL_CPU
for p in "${paths[@]}"; do
  RPS[$p]=$(col "$p" 1)
  TOTAL_CPU[$p]=$(awk -v g="$(col "$p" 4)" -v q="$(col "$p" 5)" 'BEGIN {
    if (q == "-") print "-"; else printf "%.1f", (g == "-" ? 0 : g) + q }')
done
kn_rps=${RPS[knative]:-}
kn_cpu=${TOTAL_CPU[knative]:-}
kn_hwm=; [ -n "${PID_OF[knative]:-}" ] && kn_hwm=$(mem_kb knative VmHWM)

{
  echo "# Data-plane benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION, median of $ROUNDS round(s), $NETWORK)"
  echo
  [ -n "$knative_why" ] && echo "Knative's queue-proxy $KNATIVE_VERSION is not in this run: $knative_why." && echo
  [ -n "$nginx_why" ] && echo "nginx is not in this run: $nginx_why." && echo
  echo "| path | req/s | p50 (ms) | p99 (ms) | failed | gateway CPU µs/req | queue-proxy (or nginx) CPU µs/req | req/s ÷ Knative QP | proxy CPU ÷ Knative QP | req/s ÷ direct | req/s ÷ nginx |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for p in "${paths[@]}"; do
    printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$p]}" "${RPS[$p]}" "$(col "$p" 2)" "$(col "$p" 3)" \
      "$(sum_col "$p" 6)" "$(col "$p" 4)" "$(col "$p" 5)" "$(ratio "${RPS[$p]}" "$kn_rps")" "$(ratio "${TOTAL_CPU[$p]}" "$kn_cpu")" \
      "$(ratio "${RPS[$p]}" "${RPS[direct]}")" "$(ratio "${RPS[$p]}" "${RPS[nginx]:-}")"
  done
  echo
  echo "CPU is each process' own utime+stime over the round divided by the requests served; \"proxy CPU\" adds the gateway's and the queue-proxy's."
  echo "Failed counts non-2xx responses and socket errors over all rounds: a path with failures is not comparable."
  echo
  echo "| process | peak RSS MB (VmHWM) | RSS after load MB (median VmRSS) | peak ÷ Knative QP |"
  echo "|---|---|---|---|"
  for proc in knative queue gateway nginx; do
    [ -n "${PID_OF[$proc]:-}" ] || continue
    hwm=$(mem_kb "$proc" VmHWM)
    case $proc in knative) name="Knative queue-proxy" ;; queue) name="Ramp queue-proxy" ;; gateway) name="Ramp gateway" ;; nginx) name="nginx (master + workers)" ;; esac
    printf '| %s | %s | %s | %s |\n' "$name" "$(mb "$hwm")" "$(mb "$(median <<<"${RSS[$proc]:-0}")")" "$(ratio "$hwm" "$kn_hwm")"
  done
  echo
  echo "Goals (issue 17), from this run:"
  goal "Ramp gateway + queue-proxy ≥ 2.5× Knative queue-proxy's req/s" "$(ratio "${RPS[gateway+queue-proxy]}" "$kn_rps" %.2f)" ">=" 2.5 ×
  goal "Ramp gateway CPU ≤ 35 µs/req (its own, apart from the queue-proxy's)" "$(col gateway+queue-proxy 4)" "<=" 35 " µs"
  goal "Ramp queue-proxy ≥ 3× Knative queue-proxy's req/s" "$(ratio "${RPS[queue-proxy]}" "$kn_rps" %.2f)" ">=" 3 ×
  echo
  echo "Targets (issue 4):"
  goal "Ramp queue-proxy ≥ 0.6× nginx req/s" "$(ratio "${RPS[queue-proxy]}" "${RPS[nginx]:-}" %.2f)" ">=" 0.6 ×
  goal "Ramp gateway + queue-proxy ≥ 0.35× nginx req/s" "$(ratio "${RPS[gateway+queue-proxy]}" "${RPS[nginx]:-}" %.2f)" ">=" 0.35 ×
  qhwm=$(mb "$(mem_kb queue VmHWM)")
  if awk -v m="$qhwm" 'BEGIN { exit !(m <= 15) }'; then
    echo "- Ramp queue-proxy RSS ≤ 15 MB at 1,000 rps: peak ${qhwm} MB at full load, an upper bound — met"
  else
    echo "- Ramp queue-proxy RSS ≤ 15 MB at 1,000 rps: peak ${qhwm} MB at full load; 1,000 rps alone is not measured here — not shown"
  fi
} | tee "$OUT/dataplane.md"
for p in "${paths[@]}"; do
  f=$(sum_col "$p" 6)
  [ "$f" = 0 ] || echo "bench: ${LABEL[$p]} had $f failed responses: its figures are not comparable" >&2
done
echo ">> results written to $OUT/dataplane.md"
