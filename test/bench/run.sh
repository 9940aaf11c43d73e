#!/usr/bin/env bash
# make bench: data-plane throughput on loopback, every path measured in the
# same run so that ratios are meaningful on a shared machine.
#
# Paths: direct to the sample app; through the queue-proxy alone; through the
# gateway (static routing table) and the queue-proxy; through an nginx reverse
# proxy (the reference). For each: requests/s, p50, p99 (wrk
# --latency) and the proxy's CPU µs per request (utime+stime from /proc),
# plus each path's ratio to direct and to nginx. Results go to
# _out/bench/dataplane.md. Only 127.0.0.0/8 is ever targeted; every load
# run is bounded by -d.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/bin
OUT=$PWD/_out/bench
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
mkdir -p "$OUT"
for tool in wrk nginx; do
  command -v $tool >/dev/null || { echo "bench: $tool is missing (make bench installs it with apt-get)" >&2; exit 1; }
done

POD_IP=127.0.0.202   # sample app (:8080) and queue-proxy (:8012) share a "pod"
NGINX_IP=127.0.0.203
GATEWAY_IP=127.0.0.204
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { # host port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listens on $1:$2" >&2; return 1
}

echo ">> starting the sample app, the queue-proxy and nginx on loopback"
POD_IP=$POD_IP PORT=8080 "$BIN/sampleapp" >"$OUT/sampleapp.log" 2>&1 & pids+=($!)
POD_IP=$POD_IP USER_PORT=8080 CONTAINER_CONCURRENCY=0 SERVING_REVISION=bench-00001 \
  "$BIN/queue" >"$OUT/queue.log" 2>&1 & queue_pid=$!; pids+=($queue_pid)
cat >"$OUT/gateway.json" <<JSON
{"routes": [{"Namespace": "bench", "Name": "hello", "Hash": "bench",
  "Rules": [{"Hosts": ["hello.bench.example.com"], "Backends": [{"Revision": "hello-00001", "Percent": 100}]}]}],
 "endpoints": [{"namespace": "bench", "service": "hello-00001", "ip": "$POD_IP", "port": 8012}]}
JSON
POD_IP=$GATEWAY_IP "$BIN/gateway" --static-config "$OUT/gateway.json" >"$OUT/gateway.log" 2>&1 & gateway_pid=$!; pids+=($gateway_pid)
cat >"$OUT/nginx.conf" <<NGINX
worker_processes auto;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server $POD_IP:8080; keepalive 64; }
  server {
    listen $NGINX_IP:8080;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$OUT/nginx.conf" -p "$OUT" & nginx_pid=$!; pids+=($nginx_pid)
wait_port $POD_IP 8080; wait_port $POD_IP 8012; wait_port $NGINX_IP 8080; wait_port $GATEWAY_IP 8080

# cpu_ticks PID...: summed utime+stime of the processes and their children threads.
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    for s in /proc/$p/task/*/stat; do
      [ -r "$s" ] || continue
      t=$(( t + $(awk '{print $14 + $15}' "$s") ))
    done
    for c in $(pgrep -P "$p" || true); do t=$(( t + $(cpu_ticks "$c") )); done
  done
  echo $t
}
HZ=$(getconf CLK_TCK)

# run URL HOST PROXY-PIDS...: one wrk round; prints "rps p50 p99 cpu_us_per_req".
run() {
  local url=$1 host=$2; shift 2
  local before after out
  before=$(cpu_ticks "$@")
  out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Host: $host" "$url")
  after=$(cpu_ticks "$@")
  local rps p50 p99 reqs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local cpu="-"
  if [ $# -gt 0 ]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  fi
  echo "$rps $p50 $p99 $cpu"
}

declare -A URL=( [direct]="http://$POD_IP:8080/" [queue-proxy]="http://$POD_IP:8012/" [nginx]="http://$NGINX_IP:8080/"
  [gateway+queue-proxy]="http://$GATEWAY_IP:8080/" )
declare -A PIDS=( [direct]="" [queue-proxy]="$queue_pid" [nginx]="$nginx_pid" [gateway+queue-proxy]="$gateway_pid $queue_pid" )
HOST=hello.bench.example.com
paths=(direct queue-proxy gateway+queue-proxy nginx)

echo ">> warming up"
for p in "${paths[@]}"; do wrk -t2 -c"$CONNS" -d2s -H "Host: $HOST" "${URL[$p]}" >/dev/null; done

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for p in "${paths[@]}"; do
    # shellcheck disable=SC2086
    r=$(run "${URL[$p]}" "$HOST" ${PIDS[$p]})
    RESULTS[$p]+="$r"$'\n'
    echo "   round $round  $(printf '%-12s' "$p") rps/p50/p99/cpu_us: $r"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# col PATH N: the median of column N, with wrk's latencies (us/ms/s) in ms.
col() {
  awk -v c="$2" 'NF { v = $c
    if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
    print v }' <<<"${RESULTS[$1]}" | median
}

{
  echo "# Data-plane benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION, median of $ROUNDS)"
  echo
  echo "| path | req/s | p50 (ms) | p99 (ms) | proxy CPU µs/req | req/s vs direct | req/s vs nginx |"
  echo "|---|---|---|---|---|---|---|"
  d=$(col direct 1); n=$(col nginx 1)
  for p in "${paths[@]}"; do
    rps=$(col "$p" 1)
    printf '| %s | %.0f | %s | %s | %s | %.2f× | %.2f× |\n' "$p" "$rps" "$(col "$p" 2)" "$(col "$p" 3)" "$(col "$p" 4)" \
      "$(awk -v a="$rps" -v b="$d" 'BEGIN{print a/b}')" "$(awk -v a="$rps" -v b="$n" 'BEGIN{print a/b}')"
  done
  echo
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$queue_pid/status)
  echo "queue-proxy peak RSS (VmHWM) over the whole run, at full load: ${hwm} MB — an upper bound for the 1,000 rps target."
  echo
  echo "Targets (issue 4): queue-proxy ≥ 0.6× nginx req/s; gateway + queue-proxy ≥ 0.35× nginx; queue-proxy RSS ≤ 15 MB at 1,000 rps."
} | tee "$OUT/dataplane.md"
echo ">> results written to $OUT/dataplane.md"
