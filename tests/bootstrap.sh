#!/usr/bin/env bash
# Installs what authtap needs to build, test and run its demo on Debian 12
# (only what is missing), then configures and builds it in build/.
# Used by tests/run.sh and examples/demo.sh; safe to run again.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${AUTHTAP_BUILD_DIR:-$root/build}

packages=(
	meson ninja-build gcc pkg-config binutils
	libcurl4-openssl-dev uthash-dev libcriterion-dev libjansson-dev libmicrohttpd-dev
	curl jq
	libcurl3-gnutls libcurl3-nss git openssl nghttp2-proxy python3-pycurl php-cli php-curl php-fpm libfcgi-bin ruby ruby-typhoeus
	python3-requests python3-httpx python3-tornado nodejs gnutls-bin
	clang libclang-rt-14-dev valgrind
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "authtap: installing ${missing[*]}" >&2
	if ((EUID == 0)); then
		sudo=()
	elif command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "authtap: please install as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Quiet when all is well; everything it said when a step fails.
quietly() {
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "authtap: failed: $*" >&2
		exit 1
	fi
}

if [[ -f $build/build.ninja ]]; then
	quietly meson setup --reconfigure "$build" "$root"
else
	quietly meson setup "$build" "$root"
fi
quietly meson compile -C "$build"
