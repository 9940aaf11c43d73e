#!/usr/bin/env bash
# stage.sh: times the stages of `make demo` and `make test` (README: cold
# builds) and prints them at the end, so a slow cold start says where its
# time went.
#
#   stage.sh reset                  start a new run (records its start time)
#   stage.sh begin NAME             a stage starts
#   stage.sh end NAME               it ended; its seconds are recorded
#   stage.sh run NAME -- CMD...     begin, CMD, end (end only if CMD succeeds)
#   stage.sh report TITLE STAGE...  the table: each named stage's time, or
#                                   "up to date" when it did not run (or
#                                   "did not finish"), then
#                                   the total wall-clock time since reset
#
# State lives in $RAMP_STAGES (a directory; the Makefile sets _out/stages).
# Stages run in parallel under make -j, so their times add up to more than
# the total.
set -euo pipefail
dir=${RAMP_STAGES:?RAMP_STAGES is not set}
now() { date +%s.%N; }
slug() { tr -c 'a-zA-Z0-9\n' '-' <<<"$1"; }

cmd=${1:-}
shift || true
case "$cmd" in
reset)
  rm -rf "$dir" && mkdir -p "$dir"
  now >"$dir/.start"
  ;;
begin)
  mkdir -p "$dir"
  now >"$dir/$(slug "$1").begin"
  echo ">> stage: $1"
  ;;
end)
  b="$dir/$(slug "$1").begin"
  [ -f "$b" ] || { echo "stage.sh: stage \"$1\" was never begun" >&2; exit 2; }
  awk -v b="$(cat "$b")" -v e="$(now)" 'BEGIN { printf "%.1f\n", e - b }' >"$dir/$(slug "$1").secs"
  rm -f "$b"
  ;;
run)
  name=$1; shift
  [ "${1:-}" = "--" ] && shift
  "$0" begin "$name"
  "$@"
  "$0" end "$name"
  ;;
report)
  title=$1; shift
  start=$(cat "$dir/.start" 2>/dev/null || now)
  total=$(awk -v b="$start" -v e="$(now)" 'BEGIN { printf "%.0f", e - b }')
  echo
  echo ">> $title: stage times (cold-build figures: README)"
  for s in "$@"; do
    f="$dir/$(slug "$s").secs"
    if [ -f "$f" ]; then
      awk -v n="$s" -v t="$(cat "$f")" 'BEGIN { printf "   %-34s %7.1fs  (%dm%02ds)\n", n, t, t / 60, t % 60 }'
    elif [ -f "$dir/$(slug "$s").begin" ]; then
      printf '   %-34s %8s\n' "$s" "did not finish"
    else
      printf '   %-34s %8s\n' "$s" "up to date"
    fi
  done
  awk -v t="$total" 'BEGIN { printf "   %-34s %7ds  (%dm%02ds)\n", "total (wall clock)", t, t / 60, t % 60 }'
  ;;
*)
  echo "usage: stage.sh reset | begin NAME | end NAME | run NAME -- CMD... | report TITLE STAGE..." >&2
  exit 2
  ;;
esac
