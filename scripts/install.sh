#!/usr/bin/env bash
# Installs edgeclip on this machine:
#   /usr/local/bin/edgeclip                      the binary
#   /usr/local/lib/libonnxruntime.so.1           ONNX Runtime, when the release has it (amd64)
#   /usr/local/share/edgeclip/                   models, model cards, config.example.yaml
#   /etc/systemd/system/edgeclip.service         the unit
#   /usr/lib/sysusers.d/edgeclip.conf            its user (applied with systemd-sysusers)
#   /etc/edgeclip/config.yaml                    the example config, only if there is none
# The Debian packages named in the release's DEPENDS (OpenCV's libraries for the
# amd64 build) are apt-get installed when missing. It enables and starts
# nothing; it prints the commands that do.
#
# Usage: install.sh TARBALL        a release tarball from scripts/release.sh
#        install.sh DIR            an unpacked release (the default: this script's folder)
#        install.sh --from-build   the source tree: bin/edgeclip (make build), models/shipped, deploy/
# DESTDIR=/some/root installs under that root instead (no sysusers, ldconfig or
# systemctl; any architecture). Rerunning is safe: unchanged files are left alone,
# changed ones are replaced by rename (a running daemon keeps its old binary until
# restarted), and an existing config.yaml is never touched.
set -euo pipefail

DESTDIR=${DESTDIR:-}
PREFIX=/usr/local # the unit's ExecStart names /usr/local/bin/edgeclip

die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
arg=${1:-$here}
[ $# -le 1 ] || die "usage: install.sh [TARBALL | DIR | --from-build]"
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root, or set DESTDIR"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The files to install, wherever they come from.
bin= ortlib= unit= sysusers= example= models=()
case $arg in
--from-build)
	src=$(cd "$here/.." && pwd)
	bin=$src/bin/edgeclip
	[ -x "$bin" ] || die "$bin: not built (run make build)"
	"$bin" config example >"$tmp/config.example.yaml" || die "$bin config example failed"
	example=$tmp/config.example.yaml
	unit=$src/deploy/edgeclip.service
	sysusers=$src/deploy/sysusers.d/edgeclip.conf
	for f in "$src"/models/shipped/*.safetensors "$src"/models/shipped/*.md; do
		[ -f "$f" ] && models+=("$f")
	done
	# The ONNX Runtime library is only used by a build with -tags ort.
	case $(uname -m) in x86_64) lib=x64 ;; aarch64) lib=arm64 ;; *) lib=none ;; esac
	lib=$src/third_party/onnxruntime/$lib/libonnxruntime.so.1
	if [ -f "$lib" ]; then ortlib=$lib; fi
	;;
*)
	if [ -f "$arg" ]; then
		case $arg in *.tar.gz | *.tgz) ;; *) die "$arg: not a .tar.gz release" ;; esac
		tar -xzf "$arg" -C "$tmp" || die "$arg: cannot unpack"
		top=("$tmp"/edgeclip-*-linux-*/)
		[ ${#top[@]} = 1 ] && [ -d "${top[0]}" ] || die "$arg: want one folder edgeclip-<version>-linux-<arch>/ in it"
		src=${top[0]%/}
	elif [ -d "$arg" ]; then
		src=$(cd "$arg" && pwd)
	else
		die "$arg: no such file or folder"
	fi
	[ -f "$src/SHA256SUMS" ] && [ -f "$src/edgeclip" ] || die "$src: not a release (no edgeclip or SHA256SUMS)"
	(cd "$src" && sha256sum --quiet --strict -c SHA256SUMS >&2) || die "$src: checksums do not match SHA256SUMS"
	# A binary for another architecture is fine only when staging into DESTDIR.
	want=$(basename "$src")
	want=${want##*-linux-}
	case $(uname -m) in x86_64) have=amd64 ;; aarch64 | arm64) have=arm64 ;; *) have=$(uname -m) ;; esac
	[ -n "$DESTDIR" ] || [ "$want" = "$have" ] || die "$arg: built for linux/$want, this machine is $have"
	bin=$src/edgeclip
	example=$src/config.example.yaml
	unit=$src/deploy/edgeclip.service
	sysusers=$src/deploy/sysusers.d/edgeclip.conf
	[ -f "$src/lib/libonnxruntime.so.1" ] && ortlib=$src/lib/libonnxruntime.so.1
	for f in "$src"/models/*; do
		[ -f "$f" ] && models+=("$f")
	done
	;;
esac
for f in "$bin" "$example" "$unit" "$sysusers"; do
	[ -f "$f" ] || die "$f: missing"
done

# The Debian packages of the binary's shared libraries (OpenCV), from DEPENDS.
if [ -z "$DESTDIR" ] && [ -f "${src:-}/DEPENDS" ] && command -v dpkg-query >/dev/null; then
	missing=()
	while read -r p; do
		[ -n "$p" ] || continue
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done <"$src/DEPENDS"
	if [ ${#missing[@]} -gt 0 ]; then
		say "apt-get install ${missing[*]}"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } ||
			die "cannot install the libraries edgeclip needs: ${missing[*]}"
	fi
fi

# put SRC DEST MODE: install SRC as DEST unless it is already identical.
changed=0
put() {
	local s=$1 d=$DESTDIR$2 mode=$3
	if [ -f "$d" ] && cmp -s "$s" "$d"; then
		chmod "$mode" "$d"
		say "unchanged $2"
		return
	fi
	mkdir -p "$(dirname "$d")"
	install -m "$mode" "$s" "$d.new"
	mv -f "$d.new" "$d"
	changed=1
	say "installed $2"
}

put "$bin" $PREFIX/bin/edgeclip 0755
if [ -n "$ortlib" ]; then
	put "$ortlib" $PREFIX/lib/libonnxruntime.so.1 0644
	[ -n "$DESTDIR" ] || ! command -v ldconfig >/dev/null || ldconfig
fi
for f in "${models[@]}"; do
	put "$f" "$PREFIX/share/edgeclip/$(basename "$f")" 0644
done
put "$example" $PREFIX/share/edgeclip/config.example.yaml 0644
put "$unit" /etc/systemd/system/edgeclip.service 0644
put "$sysusers" /usr/lib/sysusers.d/edgeclip.conf 0644

if [ -z "$DESTDIR" ]; then
	if command -v systemd-sysusers >/dev/null; then
		systemd-sysusers edgeclip.conf
	else
		say "no systemd-sysusers: create the system user edgeclip (group video) by hand"
	fi
fi

# The config is the operator's: written once, never replaced.
conf=$DESTDIR/etc/edgeclip/config.yaml
install -d -m 0755 "$DESTDIR/etc/edgeclip"
if [ -e "$conf" ]; then
	say "kept      /etc/edgeclip/config.yaml (the new example is $PREFIX/share/edgeclip/config.example.yaml)"
else
	# It may come to hold an MQTT password: readable by the service's group only.
	if [ -z "$DESTDIR" ] && getent group edgeclip >/dev/null; then
		install -m 0640 -g edgeclip "$example" "$conf"
	else
		install -m 0644 "$example" "$conf"
	fi
	say "installed /etc/edgeclip/config.yaml"
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	if [ "$changed" = 1 ] && systemctl is-active --quiet edgeclip; then
		say "edgeclip is running the old files: systemctl restart edgeclip"
	fi
fi
[ -n "$DESTDIR" ] || cat >&2 <<EOF
install: next:
  edit /etc/edgeclip/config.yaml (source.uri, mqtt.broker, device_id), then
  edgeclip run --check --config /etc/edgeclip/config.yaml
  systemctl enable --now edgeclip
EOF
