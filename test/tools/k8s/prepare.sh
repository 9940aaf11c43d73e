#!/usr/bin/env bash
# Prepares a build of kube-apiserver, kube-controller-manager and kubectl that
# accepts loopback endpoint addresses, and prints the directory to build in.
#
# Why: on Ramp's local node every pod IP is a loopback address (127.0.0.N),
# and upstream's ValidateEndpointIP rejects 127.0.0.0/8, so
# kube-controller-manager could never publish EndpointSlices for those pods.
# Relaxing that one clause is the only change made to the upstream control
# plane. It is applied at build time to a copy of the module (Go refuses
# overlays of module-cache files); no upstream source is kept in this repo.
#
# usage: prepare.sh OUTDIR   (run from test/tools/k8s)
set -euo pipefail
out=${1:?usage: prepare.sh OUTDIR}
here=$(pwd)
mod=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
src="$out/kubernetes-$version"
if [ ! -f "$src/.prepared" ]; then
  rm -rf "$src" && mkdir -p "$src"
  for d in cmd pkg plugin third_party go.mod go.sum; do cp -r "$mod/$d" "$src/"; done
  chmod -R u+w "$src"
  f="$src/pkg/apis/core/validation/validation.go"
  needle='	if ip.IsLoopback() {'
  count=$(grep -cxF "$needle" "$f" || true)
  if [ "$count" != 1 ]; then
    echo "prepare.sh: expected exactly one loopback check in $f, found $count; update this script for $version" >&2
    exit 1
  fi
  # Same line count as upstream, so stack traces still match.
  sed -i 's/^\tif ip\.IsLoopback() {$/\tif ip.IsLoopback() \&\& false { \/\/ ramp local node: pod IPs are loopback addresses/' "$f"
  touch "$src/.prepared"
fi
build="$out/build-$version"
mkdir -p "$build"
cp "$here/go.mod" "$here/go.sum" "$here/tools.go" "$build/"
printf '\nreplace k8s.io/kubernetes => %s\n' "$src" >> "$build/go.mod"
echo "$build"
