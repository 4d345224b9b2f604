#!/usr/bin/env bash
# Fetches TensorFlow Lite 2.9's C library for linux x64 and arm64 from the
# npm package tfjs-tflite-node (the only source reachable from the build
# machines), verifies it and installs it as
#   third_party/tflite/<arch>/libtensorflowlite_c.so
#   third_party/tflite/include/tensorflow/lite/c/*.h   (reference only)
# `npm pack` + `tar` only: `npm install` would build the package's node
# addon. The Go backend loads the library with dlopen, so no headers or link
# flags are needed to build it. Idempotent: a verified library is left alone.
# Usage: scripts/fetch-tflite.sh [x64|arm64 ...]
set -euo pipefail

VERSION=0.0.2
TARBALL_SHA256=3be1632328a76a2475e5b6833253763c802c859433becb4d879ee1860e3b5284
declare -A SO_SHA256=(
	[x64]=dc89b4cd86d956516570bd483668e6dd98907f49901d0567dedc69a29a56b7f7
	[arm64]=ec0dee4fb3418e680d010248ac1e304d9656cc5c8de54caaf91d666712e2f633
)
declare -A NPM_DIR=([x64]=linux_amd64 [arm64]=linux_arm64)

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/third_party/tflite
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x64 arm64)

verified() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

todo=()
for a in "${archs[@]}"; do
	[ -n "${SO_SHA256[$a]:-}" ] || { echo "fetch-tflite: unknown arch $a (want x64 or arm64)" >&2; exit 2; }
	verified "$dest/$a/libtensorflowlite_c.so" "${SO_SHA256[$a]}" || todo+=("$a")
done
[ ${#todo[@]} -gt 0 ] || exit 0

cache=$root/.cache/npm
mkdir -p "$cache"
tgz=$cache/tfjs-tflite-node-$VERSION.tgz
if ! verified "$tgz" "$TARBALL_SHA256"; then
	echo "fetch-tflite: npm pack tfjs-tflite-node@$VERSION (5 MB)" >&2
	(cd "$cache" && npm pack --silent "tfjs-tflite-node@$VERSION" >/dev/null)
	verified "$tgz" "$TARBALL_SHA256" || { echo "fetch-tflite: $tgz: sha256 mismatch" >&2; rm -f "$tgz"; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" package/cc_deps/include
mkdir -p "$dest"
rm -rf "$dest/include"
mv "$tmp/package/cc_deps/include" "$dest/include"
for a in "${todo[@]}"; do
	member=package/cc_deps/${NPM_DIR[$a]}/libtensorflowlite_c.so
	tar -xzf "$tgz" -C "$tmp" "$member"
	verified "$tmp/$member" "${SO_SHA256[$a]}" || { echo "fetch-tflite: $member: sha256 mismatch" >&2; exit 1; }
	mkdir -p "$dest/$a"
	mv "$tmp/$member" "$dest/$a/libtensorflowlite_c.so"
	echo "fetch-tflite: installed $dest/$a/libtensorflowlite_c.so (TFLite 2.9, npm tfjs-tflite-node@$VERSION)" >&2
done
