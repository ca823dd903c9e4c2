#!/usr/bin/env bash
# Installs, by Debian package name, everything runbox needs to build, test and benchmark.
# Idempotent: only missing packages are installed. Run as root (or through sudo).
set -euo pipefail

build_pkgs=(
	build-essential pkg-config
	libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
	libcjson-dev libarchive-dev libssl-dev libmicrohttpd-dev libsqlite3-dev
	libcurl4-openssl-dev libcmocka-dev
	musl-tools
)
# busybox-static is the source of the built-in default image (see docs/images.md).
run_pkgs=(busybox-static)
# Real tools that make the test fixtures and the peers the benchmarks compare against.
test_pkgs=(umoci skopeo zstd gzip tar python3 hyperfine crun clang clang-format clang-tidy cppcheck
	nftables iperf3 iproute2 curl dnsmasq-base sqlite3)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
case "${1:-all}" in
run) ;;
all | test) want+=("${test_pkgs[@]}") ;;
*) echo "usage: $0 [run|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "runbox: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
