#!/usr/bin/env bash
# Builds the release tarballs
#   dist/edgeclip-<version>-linux-amd64.tar.gz  cgo build: -tags "gocv ort", OpenCV linked
#                                               dynamically, ONNX Runtime's library beside it
#   dist/edgeclip-<version>-linux-arm64.tar.gz  pure Go (CGO_ENABLED=0): native backend and
#                                               synth:// only (see docs/release.md)
# and dist/SHA256SUMS over every tarball in dist/. Each tarball holds one folder
# edgeclip-<version>-linux-<arch>/ with the binary, the shipped models and their
# cards, the systemd unit, the sysusers.d entry, an example config, install.sh,
# the docs and its own SHA256SUMS.
#
# Reproducible: -trimpath, no build id, every tar member owned by 0:0 with the
# mtime of the last commit ($SOURCE_DATE_EPOCH), names sorted, gzip without a
# timestamp; rerunning on the same tree gives the same bytes.
#
# Usage: scripts/release.sh [VERSION]     (default: git describe --tags --always --dirty)
# Environment: ARCHS ("amd64 arm64"), DIST (dist), SHIPPED (models/shipped),
#   TAGS_AMD64 ("gocv ort"), SOURCE_DATE_EPOCH (last commit's time), GO (go).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
VERSION=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ARCHS=${ARCHS:-amd64 arm64}
DIST=${DIST:-$root/dist}
SHIPPED=${SHIPPED:-$root/models/shipped}
TAGS_AMD64=${TAGS_AMD64-gocv ort}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

die() { echo "release: $*" >&2; exit 1; }

# The version ends up in file names and in -X main.version.
[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "version $VERSION: want letters, digits and . _ + -"
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH: want seconds since 1970"
for a in $ARCHS; do
	case $a in amd64 | arm64) ;; *) die "arch $a: want amd64 or arm64" ;; esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DIST"

ldflags="-s -w -buildid= -X main.version=$VERSION"

# A host binary (pure Go) writes the example config, whatever the targets are.
CGO_ENABLED=0 GOOS= GOARCH= "$GO" build -trimpath -o "$work/host-edgeclip" ./cmd/edgeclip
"$work/host-edgeclip" config example >"$work/config.example.yaml"
[ -s "$work/config.example.yaml" ] || die "edgeclip config example printed nothing"

# build ARCH OUT: the binary for linux/ARCH.
build() {
	local arch=$1 out=$2
	case $arch in
	amd64)
		[ "$("$GO" env GOHOSTARCH)" = amd64 ] || die "the amd64 build links OpenCV with cgo and must run on an amd64 host"
		CGO_ENABLED=1 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -tags "$TAGS_AMD64" \
			-ldflags "$ldflags" -o "$out" ./cmd/edgeclip
		;;
	arm64)
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 "$GO" build -trimpath \
			-ldflags "$ldflags" -o "$out" ./cmd/edgeclip
		;;
	esac
}

# write_depends BIN: the Debian packages that provide BIN's shared libraries,
# one per line (none for a static binary), so install.sh can apt-get them.
write_depends() {
	local bin=$1 libs lib path real p ldcache
	libs=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$libs" ] || return 0
	if grep -q '^libopencv_core\.so' <<<"$libs"; then
		# OpenCV loads these at run time for gst:// (and csi://) sources.
		printf '%s\n' gstreamer1.0-plugins-base gstreamer1.0-plugins-good
	elif [[ " $TAGS_AMD64 " == *" gocv "* ]]; then
		echo "release: warning: built with -tags gocv but $bin links no OpenCV" \
			"(cmd/edgeclip has no link_gocv.go?): it has only synth:// sources" >&2
	fi
	ldcache=$(ldconfig -p)
	for lib in $libs; do
		path=$(awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }' <<<"$ldcache")
		[ -n "$path" ] || die "$bin needs $lib, which this machine does not have"
		real=$(readlink -f "$path")
		# dpkg knows a file by the path its package ships (/lib or /usr/lib on merged-/usr).
		p=$( (dpkg -S "$path" "$real" "${real#/usr}" 2>/dev/null || true) | sed -n '1s/:.*//p')
		[ -n "$p" ] || die "$lib ($real) belongs to no Debian package"
		echo "$p"
	done | LC_ALL=C sort -u
}

# stage ARCH DIR: everything the tarball holds, modes normalised.
stage() {
	local arch=$1 d=$2
	mkdir -p "$d/deploy/sysusers.d" "$d/models" "$d/docs"
	build "$arch" "$d/edgeclip"
	if [ "$arch" = amd64 ] && [[ " $TAGS_AMD64 " == *" ort "* ]]; then
		scripts/fetch-ort.sh x64
		mkdir -p "$d/lib"
		cp third_party/onnxruntime/x64/libonnxruntime.so.1 "$d/lib/"
		cat >"$d/lib/README" <<-'EOF'
			libonnxruntime.so.1: ONNX Runtime 1.24.3 for linux x64, taken unchanged from the npm
			package onnxruntime-node@1.24.3 (scripts/fetch-ort.sh checks its sha256). ONNX Runtime is
			Copyright (c) Microsoft Corporation, MIT License: https://github.com/microsoft/onnxruntime
			install.sh puts it in /usr/local/lib, where `--backend ort` finds it by its soname.
		EOF
	fi
	write_depends "$d/edgeclip" >"$d/DEPENDS"
	[ -s "$d/DEPENDS" ] || rm -f "$d/DEPENDS"
	local m n=0
	for m in "$SHIPPED"/*.safetensors "$SHIPPED"/*.md; do
		[ -f "$m" ] || continue
		cp "$m" "$d/models/"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || echo "release: warning: no model in $SHIPPED; the tarball ships none" >&2
	cp deploy/edgeclip.service "$d/deploy/"
	cp deploy/sysusers.d/edgeclip.conf "$d/deploy/sysusers.d/"
	cp "$work/config.example.yaml" "$d/config.example.yaml"
	cp scripts/install.sh "$d/install.sh"
	for m in README.md LICENSE LICENSE.md NOTICE; do
		[ -f "$m" ] && cp "$m" "$d/"
	done
	for m in docs/operations.md docs/release.md; do
		[ -f "$m" ] && cp "$m" "$d/docs/"
	done
	find "$d" -type d -exec chmod 0755 {} +
	find "$d" -type f -exec chmod 0644 {} +
	chmod 0755 "$d/edgeclip" "$d/install.sh"
	(cd "$d" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' |
		xargs -d '\n' sha256sum >SHA256SUMS)
}

for arch in $ARCHS; do
	name=edgeclip-$VERSION-linux-$arch
	echo "release: building $name" >&2
	stage "$arch" "$work/$name"
	tar -C "$work" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
		--mtime="@$SOURCE_DATE_EPOCH" -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz.tmp"
	mv -f "$DIST/$name.tar.gz.tmp" "$DIST/$name.tar.gz"
	rm -rf "${work:?}/$name"
done

(cd "$DIST" && ls edgeclip-*.tar.gz | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
for arch in $ARCHS; do
	f=$DIST/edgeclip-$VERSION-linux-$arch.tar.gz
	printf '%s\t%s bytes\n' "$f" "$(stat -c %s "$f")"
done
