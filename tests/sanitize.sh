#!/usr/bin/env bash
# Fuzzing and sanitizers (GitHub issue 6), each in a build directory of its
# own beside build/:
#
#   fuzz      build-fuzz (clang, -Dfuzzing=true): each libFuzzer target
#             replays what once failed, then fuzzes FUZZ_SECONDS (20)
#   asan      build-asan (-fsanitize=address,undefined): the unit, fuzz,
#             stress and integration suites
#   tsan      build-tsan (-fsanitize=thread): tests/stress, many threads
#             running transfers, queries and cleanups with the log on
#   valgrind  build/: tests/client, tests/apihost and tests/stress under the
#             preload and memcheck, nothing definitely lost at exit; and
#             some unit tests with meson test --setup valgrind
#
#   tests/sanitize.sh [fuzz|asan|tsan|valgrind]...      (default: all four)
#
# Every step runs; the exit status is 1 when any failed.  tests/run.sh runs
# this after the plain suite when CI=true or with --all.
#
#   tests/sanitize.sh memcheck COMMAND [ARG...]
#
# runs COMMAND and the programs it starts under memcheck and fails when any
# of them had an error or a definite leak: meson test --setup valgrind uses
# it, because Criterion ignores the exit status valgrind gives a test's own
# process.
set -euo pipefail

if [[ ${1:-} == memcheck ]]; then
	shift
	logs=$(mktemp -d /tmp/authtap-memcheck-XXXXXX)
	code=0
	valgrind --leak-check=full --errors-for-leak-kinds=definite --trace-children=yes \
		--trace-children-skip='/usr/bin/*,/bin/*,*/httpd,*/nghttpx' \
		--child-silent-after-fork=yes --log-file="$logs/%p.log" "$@" || code=$?
	bad=$(grep -l 'ERROR SUMMARY: [1-9]' "$logs"/*.log || true)
	for f in $bad; do
		cat "$f" >&2
	done
	rm -rf "$logs"
	[[ -z $bad ]] || exit 1
	exit "$code"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${AUTHTAP_BUILD_DIR:-$root/build}
fuzz_seconds=${FUZZ_SECONDS:-20}
tmp=$(mktemp -d /tmp/authtap-sanitize-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=()

say() { printf '\n== %s\n' "$*"; }

# Configures (once) and builds a directory.  Quiet unless it fails.
setup() {
	local dir=$1
	shift
	local out=$tmp/setup.log
	if [[ ! -f $dir/build.ninja ]] &&
		! "${setup_env[@]}" meson setup "$dir" "$root" "$@" >"$out" 2>&1; then
		cat "$out" >&2
		return 1
	fi
	meson compile -C "$dir" "${targets[@]}" >"$out" 2>&1 || {
		cat "$out" >&2
		return 1
	}
}

# Starts tests/httpd of build dir $1 and sets httpd_url; stop_httpd ends it.
start_httpd() {
	local port
	coproc HTTPD { exec "$1/tests/httpd"; }
	read -r -t 10 port <&"${HTTPD[0]}"
	httpd_url=http://127.0.0.1:$port
}

# bash unsets HTTPD_PID once the coprocess has ended by itself.
stop_httpd() {
	[[ -n ${HTTPD_PID:-} ]] || return 0
	kill "$HTTPD_PID" 2>/dev/null || true
	wait "$HTTPD_PID" 2>/dev/null || true
}

# Each target first replays regress/<target>/ (every input that once
# failed), then fuzzes from corpus/<target>/ into a scratch corpus.  A
# crash prints the input in hex: save it in regress/<target>/.
step_fuzz() {
	local dir=$root/build-fuzz ok=0
	setup_env=(env CC=clang)
	targets=(tests/fuzz/fuzz-challenge tests/fuzz/fuzz-log tests/fuzz/fuzz-stream)
	setup "$dir" -Dfuzzing=true -Dexamples=false || return 1
	for t in challenge log stream; do
		local exe=$dir/tests/fuzz/fuzz-$t out=$tmp/fuzz-$t
		mkdir -p "$out/corpus" "$out/crash"
		local regress=("$root"/tests/fuzz/regress/$t/*)
		[[ -e ${regress[0]} ]] || regress=()
		say "fuzz-$t: ${#regress[@]} regression inputs, then ${fuzz_seconds}s"
		if ((${#regress[@]})) && ! "$exe" "${regress[@]}" >"$out/log" 2>&1; then
			tail -n 40 "$out/log"
			ok=1
			continue
		fi
		if ! "$exe" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
			-max_len=8192 -print_final_stats=1 -artifact_prefix="$out/crash/" \
			"$out/corpus" "$root/tests/fuzz/corpus/$t" >"$out/log" 2>&1; then
			tail -n 40 "$out/log"
			for f in "$out"/crash/*; do
				[[ -e $f ]] || continue
				echo "input ($(basename "$f")), to save in tests/fuzz/regress/$t/:"
				od -An -tx1 -v "$f" | head -n 64
			done
			ok=1
			continue
		fi
		grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$out/log"
	done
	return $ok
}

# ASan+UBSan.  Hosts built here are instrumented; in the others (curl,
# git, php, python3) the runtime loads after libc and checks all but the
# heap (see TEST_PRELOAD in tests/meson.build).  Left out: abi (the preload
# needs libasan); the builds tests that dlopen with RTLD_DEEPBIND or
# through $ORIGIN, which ASan's dlopen refuses or breaks; and forks of a
# threaded host, whose children can hang on a lock of GCC 12's ASan
# allocator that the fork left held.
step_asan() {
	local dir=$root/build-asan
	setup_env=(env)
	targets=()
	setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false -Dexamples=false ||
		return 1
	local names=() name
	while read -r name; do
		name=${name##* / }
		[[ $name == abi ]] || names+=("$name")
	done < <(meson test -C "$dir" --no-rebuild --list --suite unit --suite fuzz \
		--suite stress --suite integration 2>/dev/null)
	say "asan: ${names[*]}"
	CRITERION_TEST_PATTERN='!(builds/*deepbind*|builds/origin_relative*|faults/fork_*)' \
		meson test -C "$dir" --no-rebuild --print-errorlogs "${names[@]}"
}

# TSan needs the host instrumented too: the stress program is built here.
# Any report is a failure, whatever the exit status.
step_tsan() {
	local dir=$root/build-tsan rc=0
	setup_env=(env)
	targets=(preload/authtap:shared_library tests/httpd tests/stress/stress)
	setup "$dir" -Db_sanitize=thread -Db_lundef=false -Dexamples=false || return 1
	for format in json text; do
		say "tsan: stress, $format log"
		local out=$tmp/tsan-$format bad=0
		TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1" \
			LD_PRELOAD=$dir/preload/libauthtap.so AUTHTAP_LOG=$tmp/stress-%p.log \
			AUTHTAP_FORMAT=$format \
			"$dir/tests/stress/stress" "$dir/tests/httpd" --threads 8 --readers 2 \
			--seconds 20 --transfers 120 >"$out" 2>&1 || bad=1
		grep -q 'ThreadSanitizer' "$out" && bad=1
		if ((bad)); then
			head -n 200 "$out"
			rc=1
		else
			tail -n 1 "$out"
		fi
	done
	return $rc
}

# Memcheck on the plain build, the preload given through valgrind's own
# environment.  Only definite leaks count: the preload keeps a dlopen handle
# on the host's libcurl by design, which stays reachable.
step_valgrind() {
	local rc=0
	setup_env=(env)
	targets=()
	setup "$build" || return 1
	start_httpd "$build"
	local u=$httpd_url
	vg() {
		local name=$1
		shift
		LD_PRELOAD=$build/preload/libauthtap.so AUTHTAP_LOG=$tmp/vg-$name-%p.log \
			valgrind --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite --child-silent-after-fork=yes \
			--log-file="$tmp/vg-$name.txt" "$@" >"$tmp/vg-$name.out" 2>&1
		local code=$?
		local summary
		summary=$(grep -E 'definitely lost:|ERROR SUMMARY' "$tmp/vg-$name.txt" |
			sed 's/^==[0-9]*== *//' | paste -sd ' ')
		# 99 is memcheck's verdict, above 128 a signal; a failed transfer
		# (the NUL byte of hostile) makes the client exit 1, which is fine.
		if ((code == 99 || code > 128)); then
			echo "valgrind $name: FAIL (exit $code) ${summary:-}"
			cat "$tmp/vg-$name.txt"
			tail -n 20 "$tmp/vg-$name.out"
			rc=1
		else
			echo "valgrind $name: ok ${summary:-}"
		fi
	}
	say "valgrind"
	vg serial "$build/tests/client" "$u/401" "$u/200" "$u/401-many"
	vg cleanup-each "$build/tests/client" --cleanup-each --repeat 3 "$u/401" \
		"$u/401-none" "$u/403-scope"
	vg digest "$build/tests/client" --digest user:pass "$u/digest"
	vg follow "$build/tests/client" --follow "$u/redirect-401" "$u/302-challenge"
	vg threads "$build/tests/client" --threads 4 --repeat 3 "$u/401" "$u/200" "$u/401-many"
	vg hostile "$build/tests/client" "$u/hostile?size=100000&count=3" \
		"$u/hostile?hex=4261736963207265616c6d3d2200&count=2"
	AUTHTAP_FORMAT=text vg text "$build/tests/client" "$u/401" "$u/401-many"
	vg apihost "$build/tests/apihost" get "$u/401" status count value 0 64 \
		param Bearer scope 64 last
	vg stress "$build/tests/stress/stress" "$build/tests/httpd" --threads 2 --readers 1 \
		--transfers 20 --forks 0
	stop_httpd
	# meson's valgrind setup (tests/meson.build) on the table's unit tests
	# and the fuzz replays; the whole unit suite takes about 2 minutes more.
	say "valgrind: meson test --setup valgrind"
	meson test -C "$build" --no-rebuild --setup valgrind --print-errorlogs \
		table config fuzz-challenge fuzz-log fuzz-stream || rc=1
	return $rc
}

steps=("$@")
((${#steps[@]})) || steps=(fuzz asan tsan valgrind)
for s in "${steps[@]}"; do
	case $s in
	fuzz | asan | tsan | valgrind) ;;
	*)
		echo "usage: tests/sanitize.sh [fuzz|asan|tsan|valgrind]..." >&2
		exit 2
		;;
	esac
	start=$SECONDS
	if ! "step_$s"; then
		failed+=("$s")
	fi
	echo "-- $s: $((SECONDS - start))s"
done
if ((${#failed[@]})); then
	echo "sanitize: failed: ${failed[*]}" >&2
	exit 1
fi
echo "sanitize: ${steps[*]}: clean"
