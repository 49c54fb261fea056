#!/usr/bin/env bash
# authtap demo: an MCP client behind a reverse proxy gets a 401 and no way to
# learn where to sign in.  authtap, preloaded into the proxy, shows the
# challenge the upstream sent and the proxy dropped; then the fixed proxy.
#
#   examples/demo.sh
#
# On Debian 12 it installs what is missing (apt-get, as root or via sudo),
# builds into build/ (or $DEMO_BUILD_DIR), runs everything on free loopback
# ports and stops it again, also on Ctrl-C.  Exits non-zero as soon as
# anything does not behave as described.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${DEMO_BUILD_DIR:-$root/build}
prm=/.well-known/oauth-protected-resource

tmp=
pids=()

fail() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Packages and the build: the same script the test command uses.
build_all() {
	local f

	echo "Installing what is missing and building in $build"
	AUTHTAP_BUILD_DIR=$build "$root/tests/bootstrap.sh" || fail "the build failed"
	if meson introspect --buildoptions "$build" 2>/dev/null |
		jq -e '.[] | select(.name == "examples") | .value == false' >/dev/null; then
		echo "Turning on the examples option of $build"
		meson configure "$build" -Dexamples=true >"$tmp/setup.log" 2>&1 || {
			tail -n 20 "$tmp/setup.log" >&2
			fail "meson configure -Dexamples=true failed"
		}
		meson compile -C "$build" >"$tmp/build.log" 2>&1 || {
			tail -n 30 "$tmp/build.log" >&2
			fail "meson compile failed"
		}
	fi
	for f in shim/authtap preload/libauthtap.so examples/upstream \
		examples/lossy-proxy examples/fixed-proxy examples/gateway-proxy; do
		[ -e "$build/$f" ] || fail "$build/$f was not built"
	done
}

# start NAME COMMAND...: runs COMMAND in the background and waits (10 s at
# most) for its "listening URL" line; sets $url.
start() {
	local name=$1 out="$tmp/$1.out" pid i
	shift

	"$@" >"$out" 2>"$tmp/$name.err" </dev/null &
	pid=$!
	pids+=("$pid")
	for ((i = 0; i < 100; i++)); do
		url=$(sed -n 's/^listening //p' "$out")
		[ -n "$url" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$tmp/$name.err" >&2
			fail "$name exited before listening"
		fi
		sleep 0.1
	done
	fail "$name did not start within 10 s"
}

stop_last() {
	kill "${pids[-1]}" 2>/dev/null || true
	wait "${pids[-1]}" 2>/dev/null || true
	unset 'pids[-1]'
}

# post_mcp URL: what an MCP client does first; sets $status and $challenge.
post_mcp() {
	echo "    \$ curl -s -D - -X POST $1/mcp"
	curl -s -D "$tmp/head" -o "$tmp/body" -X POST "$1/mcp" ||
		fail "curl could not reach $1/mcp"
	tr -d '\r' <"$tmp/head" | grep -v -i '^date:' | sed 's/^./    &/'
	sed 's/^./    &/' "$tmp/body"
	echo
	status=$(awk 'NR == 1 { print $2 }' "$tmp/head")
	challenge=$(tr -d '\r' <"$tmp/head" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *//p')
}

# authtap_record LOG: reads the 401 authtap recorded at the proxy and checks
# it carries the upstream's challenge; sets $rec, $scheme, $rm and $scope.
authtap_record() {
	local log=$1 i

	for ((i = 0; i < 20; i++)); do
		[ -s "$log" ] && break
		sleep 0.1
	done
	[ -s "$log" ] || fail "authtap recorded nothing in $log"
	rec=$(jq -c 'select(.type == "response" and .status == 401)' "$log" | head -n 1)
	[ -n "$rec" ] || fail "authtap recorded no 401 (log: $(cat "$log"))"
	scheme=$(jq -r '.challenges[0].scheme // empty' <<<"$rec")
	rm=$(jq -r '.challenges[0].params.resource_metadata // empty' <<<"$rec")
	scope=$(jq -r '.challenges[0].params.scope // empty' <<<"$rec")

	[ "$scheme" = Bearer ] || fail "authtap: scheme is '$scheme', not Bearer"
	[ "$rm" = "$upstream$prm" ] || fail "authtap: resource_metadata is '$rm', not $upstream$prm"
	[ "$scope" = mcp:tools ] || fail "authtap: scope is '$scope', not mcp:tools"
}

# verdict LOG WANT: authtap's verdict on what the proxy passed on to its own
# client (written when the proxy writes its response, so give it a moment);
# prints it and checks it is WANT.
verdict() {
	local log=$1 want=$2 v i

	for ((i = 0; i < 30; i++)); do
		v=$(jq -c 'select(.type == "verdict")' "$log" | head -n 1)
		[ -n "$v" ] && break
		sleep 0.1
	done
	[ -n "$v" ] || fail "authtap gave no verdict (log: $(cat "$log"))"
	echo
	echo "   authtap's verdict on what the proxy passed on to its client:"
	jq -r '"    \(.verdict): upstream \(.upstream_status) -> client \(.downstream_status)"' <<<"$v"
	jq -r '.challenges[] | "    \(.name) \(.result)" +
		(if .changes then (.changes[] | "\n      \(.scheme) \(.param // "(challenge)"): \(.upstream // "(none)")\n        -> \(.downstream // "(none)")") else "" end)' <<<"$v"
	[ "$(jq -r .verdict <<<"$v")" = "$want" ] ||
		fail "the verdict is $(jq -r .verdict <<<"$v"), not $want"
}

lossy() {
	local proxy log="$tmp/lossy.jsonl" rec scheme rm scope

	echo
	echo "1. The lossy proxy (examples/lossy.c), run under authtap"
	start lossy-proxy "$build/shim/authtap" -o "$log" -- \
		"$build/examples/lossy-proxy" --upstream "$upstream" 0
	proxy=$url
	echo "   proxy     $proxy -> $upstream"
	echo
	echo "   What the client got:"
	post_mcp "$proxy"
	[ "$status" = 401 ] || fail "the client got $status, not 401"
	[ -z "$challenge" ] || fail "the lossy proxy relayed WWW-Authenticate: $challenge"
	echo "   -> a 401 with no challenge: nothing says how to authorize."
	echo
	echo "   What authtap saw arrive at the proxy from the upstream:"
	authtap_record "$log"
	echo "    $(jq -r '"\(.status) \(.method) \(.url)"' <<<"$rec")"
	jq -r '.headers[] | "    \(.name): \(.value)"' <<<"$rec"
	printf '      scheme             %s\n' "$scheme"
	printf '      resource_metadata  %s\n' "$rm"
	printf '      scope              %s\n' "$scope"
	verdict "$log" dropped
	echo
	echo "   Conclusion: the upstream sent a Bearer challenge and the proxy dropped it."
	stop_last
}

fixed() {
	local proxy log="$tmp/fixed.jsonl" resource rec scheme rm scope

	echo
	echo "2. The fixed proxy (examples/fixed.c), run under authtap"
	start fixed-proxy "$build/shim/authtap" -o "$log" -- \
		"$build/examples/fixed-proxy" --upstream "$upstream" 0
	proxy=$url
	echo "   proxy     $proxy -> $upstream"
	echo
	echo "   What the client got:"
	post_mcp "$proxy"
	[ "$status" = 401 ] || fail "the client got $status, not 401"
	[ -n "$challenge" ] || fail "the fixed proxy relayed no WWW-Authenticate"
	case $challenge in
	Bearer*"resource_metadata=\"$proxy$prm\""*) ;;
	*) fail "the challenge does not point at $proxy$prm: $challenge" ;;
	esac
	case $challenge in
	*'scope="mcp:tools"'*) ;;
	*) fail "the challenge lost its scope: $challenge" ;;
	esac
	echo "   -> the challenge, with resource_metadata pointing at the proxy."
	echo
	echo "   The metadata it points at:"
	echo "    \$ curl -s $proxy$prm"
	curl -sf "$proxy$prm" >"$tmp/prm" || fail "GET $proxy$prm failed"
	sed 's/^./    &/' "$tmp/prm"
	echo
	resource=$(jq -r '.resource // empty' "$tmp/prm") ||
		fail "$proxy$prm is not JSON"
	[ "$resource" = "$proxy" ] || fail "resource is '$resource', not $proxy"
	echo "   -> resource is the proxy's own URL, as RFC 9728 §3.3 has clients check."
	echo
	authtap_record "$log"
	echo "   authtap saw the same challenge arrive from the upstream (resource_metadata"
	echo "   $rm); the proxy rewrote it."
	verdict "$log" altered
	echo
	echo "   Conclusion: the client now gets the challenge, pointing at the proxy."
	stop_last
}

gateway() {
	local proxy log="$tmp/gateway.jsonl" rec scheme rm scope

	echo
	echo "3. A gateway that hides upstream errors (examples/gateway.c), under authtap"
	start gateway-proxy "$build/shim/authtap" -o "$log" -- \
		"$build/examples/gateway-proxy" --upstream "$upstream" 0
	proxy=$url
	echo "   proxy     $proxy -> $upstream"
	echo
	echo "   What the client got:"
	post_mcp "$proxy"
	[ "$status" = 502 ] || fail "the client got $status, not 502"
	authtap_record "$log"
	verdict "$log" converted
	echo
	echo "   Conclusion: the upstream asked for a Bearer token; the gateway turned that"
	echo "   into a 502, so no client can ever sign in through it."
	stop_last
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/authtap-demo.XXXXXX")
build_all

echo
echo "authtap demo: client (curl) -> reverse proxy -> upstream MCP server"
start upstream "$build/examples/upstream" 0
upstream=$url
echo "   upstream  $upstream (POST /mcp without a Bearer token gets a 401 and a challenge)"

lossy
fixed
gateway
echo
echo "All as described."
