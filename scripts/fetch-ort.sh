#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library for linux x64 and arm64 from the npm
# package onnxruntime-node (the only source reachable from the build
# machines), verifies it and installs it as
#   third_party/onnxruntime/<arch>/libonnxruntime.so.1
# `npm pack` + `tar` only: `npm install` would run the package's postinstall,
# which downloads CUDA provider libraries from elsewhere and fails offline.
# Idempotent: a verified library is left alone. Usage: scripts/fetch-ort.sh [x64|arm64 ...]
set -euo pipefail

VERSION=1.24.3
TARBALL_SHA256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
declare -A SO_SHA256=(
	[x64]=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
	[arm64]=33032cb5b91c12edbf028d7c69fa40a31848d66c0095448758af237d5e0b07db
)

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/third_party/onnxruntime
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x64 arm64)

verified() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

todo=()
for a in "${archs[@]}"; do
	[ -n "${SO_SHA256[$a]:-}" ] || { echo "fetch-ort: unknown arch $a (want x64 or arm64)" >&2; exit 2; }
	verified "$dest/$a/libonnxruntime.so.1" "${SO_SHA256[$a]}" || todo+=("$a")
done
[ ${#todo[@]} -gt 0 ] || exit 0

cache=$root/.cache/npm
mkdir -p "$cache"
tgz=$cache/onnxruntime-node-$VERSION.tgz
if ! verified "$tgz" "$TARBALL_SHA256"; then
	echo "fetch-ort: npm pack onnxruntime-node@$VERSION (86 MB)" >&2
	(cd "$cache" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
	verified "$tgz" "$TARBALL_SHA256" || { echo "fetch-ort: $tgz: sha256 mismatch" >&2; rm -f "$tgz"; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for a in "${todo[@]}"; do
	member=package/bin/napi-v6/linux/$a/libonnxruntime.so.1
	tar -xzf "$tgz" -C "$tmp" "$member"
	verified "$tmp/$member" "${SO_SHA256[$a]}" || { echo "fetch-ort: $member: sha256 mismatch" >&2; exit 1; }
	mkdir -p "$dest/$a"
	mv "$tmp/$member" "$dest/$a/libonnxruntime.so.1"
	echo "fetch-ort: installed $dest/$a/libonnxruntime.so.1 (ORT $VERSION)" >&2
done
