#!/usr/bin/env bash
# toolcache.sh: a machine-wide cache of the tools the Makefile builds
# (Kubernetes, etcd, helm, controller-gen), keyed by version and by the
# files of the recipe, so that a fresh clone on a machine that built them
# once copies them instead of building them again (a cold Kubernetes build
# is several minutes on 2 cores; a copy is a second).
#
#   toolcache.sh KEY DESTDIR FILE... -- BUILD-COMMAND...
#
# On a hit (the cache has KEY, complete) it copies FILE... into DESTDIR. On
# a miss it runs BUILD-COMMAND, which must leave FILE... in DESTDIR, and then
# saves them under KEY (a partial entry is never used: it is written aside
# and renamed). The cache is $RAMP_TOOL_CACHE; when that is empty it builds
# every time.
set -euo pipefail
key=${1:?usage: toolcache.sh KEY DESTDIR FILE... -- BUILD-COMMAND...}
dest=${2:?usage: toolcache.sh KEY DESTDIR FILE... -- BUILD-COMMAND...}
shift 2
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
[ "${1:-}" = "--" ] || { echo "toolcache.sh: no -- BUILD-COMMAND" >&2; exit 2; }
shift
[ ${#files[@]} -gt 0 ] && [ $# -gt 0 ] || { echo "toolcache.sh: want FILE... and a BUILD-COMMAND" >&2; exit 2; }

cache=${RAMP_TOOL_CACHE:-}
entry="$cache/$key"
if [ -n "$cache" ] && [ -f "$entry/.complete" ]; then
  mkdir -p "$dest"
  for f in "${files[@]}"; do cp -f "$entry/$f" "$dest/$f.tmp.$$" && mv -f "$dest/$f.tmp.$$" "$dest/$f"; done
  echo ">> $key: restored ${files[*]} from the tool cache $cache (RAMP_TOOL_CACHE= builds instead)"
  exit 0
fi

"$@"

if [ -n "$cache" ]; then
  tmp="$cache/.$key.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in "${files[@]}"; do cp "$dest/$f" "$tmp/$f"; done
  touch "$tmp/.complete"
  rm -rf "$entry" && mv "$tmp" "$entry"
  # Older versions of the same tool are not needed again.
  tool=${key%%@*}
  for old in "$cache/$tool@"*; do
    [ "$old" = "$entry" ] || rm -rf "$old"
  done
  echo ">> $key: saved ${files[*]} in the tool cache $cache"
fi
