#!/usr/bin/env bash
# What authtap costs a busy libcurl program (GitHub issue 7).
#
#   tests/bench/run.sh [--quick] [--alternatives] [--rounds N] [--build-dir DIR] [--no-build]
#
# Builds what it needs, starts tests/bench/bench_server on 127.0.0.1, and runs
# the unmodified bench_client alternately without and with
# LD_PRELOAD=libauthtap.so (ABBA order, medians of the rounds):
#
#   easy       keep-alive transfers on one handle (200; 401 with the JSON log)
#   threads    the same on 8 threads, each with its own handle
#   multi      1,000 concurrent handles through curl_multi_perform
#   handles    401 transfers spread over 1,000 and 100,000 live handles, each
#              of which has an entry in authtap's table (lookups must stay flat)
#   append     the 401 transfers without the preload, the client appending a
#              record-sized line after each: the record's write(2) in place
#   write      one O_APPEND write(2) of a record's size, alone
#   callgrind  instructions authtap adds per transfer, exact (cgsplit.py),
#              beside the floor: reading the status and asking for a second
#              response; easy and multi, 200 and 401 with the log
#   strace     system calls authtap adds per transfer, when strace is there
#   socket     the socket source (tests/bench/sock_client, plain libc calls, no
#              libcurl), under callgrind: instructions added per read(2) and
#              write(2) on a pipe, before and after a followed connection, and
#              per keep-alive 200 on a followed connection, with the system
#              calls counted inside the loop (--collect-systime)
#
# It prints a Markdown table on stdout, progress on stderr.  A full run takes
# 3-4 minutes on 2 lightly loaded cores (half of it populating 100,000
# handles: libcurl keeps ~14 KB per handle), --quick about 30 s (what
# `meson test --benchmark` runs).
# --alternatives adds ltrace and mitmproxy's reverse mode when installed
# (apt-get install ltrace mitmproxy).  Nothing here asserts a timing.  Set
# AUTHTAP_BENCH_KEEP=1 to keep the scratch directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
quick=0
alternatives=0
do_build=1
rounds_opt=

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit "$1"
}

while (($#)); do
	case $1 in
	--quick) quick=1 ;;
	--alternatives) alternatives=1 ;;
	--no-build) do_build=0 ;;
	--rounds)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage 2
		rounds_opt=$2
		shift
		;;
	--build-dir)
		[[ -n ${2:-} ]] || usage 2
		build=$2
		shift
		;;
	-h | --help) usage 0 ;;
	*) usage 2 ;;
	esac
	shift
done

# Sizes: transfers per run and rounds per scenario.
if ((quick)); then
	n_easy=1000 r_easy=3
	t_threads=8 n_thread=125 r_threads=3
	h_multi=1000 n_multi=2000 r_multi=1
	k_small=1000 k_large=5000 n_lookups=2000 r_handles=1
	n_cg=300 h_cg=10
	n_alt=500 r_alt=1
else
	n_easy=3000 r_easy=13
	t_threads=8 n_thread=400 r_threads=9
	h_multi=1000 n_multi=10000 r_multi=5
	k_small=1000 k_large=100000 n_lookups=20000 r_handles=2
	n_cg=2000 h_cg=20
	n_alt=2000 r_alt=3
fi
if [[ -n $rounds_opt ]]; then
	r_easy=$rounds_opt r_threads=$rounds_opt r_multi=$rounds_opt
	r_handles=$rounds_opt r_alt=$rounds_opt
fi

# Whatever the caller had preloaded or configured stays out.
unset LD_PRELOAD AUTHTAP_LOG AUTHTAP_FORMAT AUTHTAP_STATUS AUTHTAP_URL AUTHTAP_DISABLE

if ((do_build)); then
	[[ -f $build/build.ninja ]] || meson setup "$build" "$root" >/dev/null
	# Only what the benchmark runs; a build that does not know the targets
	# yet (configured before tests/bench existed) is built whole, which
	# regenerates it.
	meson compile -C "$build" preload/authtap:shared_library \
		tests/bench/bench_client:executable tests/bench/bench_server:executable \
		tests/bench/sock_client:executable \
		>"$build/bench-compile.log" 2>&1 || meson compile -C "$build" >/dev/null
fi
preload=$build/preload/libauthtap.so
client=$build/tests/bench/bench_client
server=$build/tests/bench/bench_server
sock_client=$build/tests/bench/sock_client
for f in "$preload" "$client" "$server" "$sock_client"; do
	[[ -e $f ]] || {
		echo "run.sh: $f is missing (build with: meson compile -C $build)" >&2
		exit 1
	}
done

tmp=
server_pid=
server_in=
mitm_pid=
# On exit, whatever the status, which it keeps: the server ends with its
# stdin, mitmdump is killed.
cleanup() {
	local rc=$?
	set +e
	[[ -n $server_in ]] && exec {server_in}>&-
	[[ -n $mitm_pid ]] && kill "$mitm_pid" 2>/dev/null
	[[ -n $server_pid ]] && wait "$server_pid" 2>/dev/null
	[[ -n $mitm_pid ]] && wait "$mitm_pid" 2>/dev/null
	if [[ -n $tmp && ${AUTHTAP_BENCH_KEEP:-0} == 1 ]]; then
		echo "kept $tmp" >&2
	elif [[ -n $tmp ]]; then
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authtap-bench.XXXXXX")

# Copies: a rebuild during the run must not swap the preload under it.
cp "$preload" "$tmp/libauthtap.so"
cp "$client" "$tmp/bench_client"
cp "$server" "$tmp/bench_server"
cp "$sock_client" "$tmp/sock_client"
preload=$tmp/libauthtap.so client=$tmp/bench_client server=$tmp/bench_server
sock_client=$tmp/sock_client
preload_id="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no git"),"
preload_id+=" libauthtap.so sha256 $(sha256sum "$preload" | cut -c1-12)"

# The server lives as long as the write end of its stdin.
mkfifo "$tmp/server.in"
"$server" --port-file "$tmp/port" <"$tmp/server.in" >/dev/null 2>"$tmp/server.err" &
server_pid=$!
exec {server_in}>"$tmp/server.in"
for _ in $(seq 100); do
	[[ -s $tmp/port ]] && break
	sleep 0.05
done
[[ -s $tmp/port ]] || {
	echo "run.sh: bench_server did not start" >&2
	exit 1
}
port=$(<"$tmp/port")

# Says why and stops when the server is gone: every transfer would fail.
server_alive() {
	kill -0 "$server_pid" 2>/dev/null && return 0
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	echo "run.sh: bench_server exited (status $rc) before the benchmark ended:" >&2
	cat "$tmp/server.err" >&2
	exit 1
}

# The value of key=... in a bench line.
field() {
	local line=$1 key=$2
	if [[ " $line " =~ \ $key=([^ ]+)\  ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		echo "run.sh: no $key= in: $line" >&2
		return 1
	fi
}

# One client run; prints its bench line.  $1: without, with (the preload),
# ltrace, mitm (through mitmdump's port) or append (no preload, a
# record-sized append after each transfer); $2: the log file or "".
run_client() {
	local how=$1 log=$2 p=$port
	shift 2
	local -a cmd=(env)
	case $how in
	with)
		cmd+=(LD_PRELOAD="$preload")
		[[ -n $log ]] && cmd+=(AUTHTAP_LOG="$log")
		;;
	ltrace) cmd=(ltrace -e curl_easy_perform -o /dev/null) ;;
	append)
		# No preload: the client itself appends a record-sized line.
		cmd+=(BENCH_APPEND="$tmp/append.out" BENCH_APPEND_BYTES="$record_bytes")
		rm -f "$tmp/append.out"
		;;
	mitm) p=$mport ;;
	esac
	[[ -n $log ]] && rm -f "$log"
	server_alive
	local out line
	if ! out=$("${cmd[@]}" "$client" -p "$p" "$@" 2>"$tmp/client.err"); then
		echo "run.sh: bench_client $* ($how) failed:" >&2
		cat "$tmp/client.err" >&2
		server_alive
		echo "run.sh: the server is up; on a loaded machine, try again with fewer" \
			"other jobs (load average now: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		exit 1
	fi
	line=$(grep '^bench ' <<<"$out")
	if [[ $(field "$line" errors) != 0 ]]; then
		echo "run.sh: transfers failed: $line" >&2
		exit 1
	fi
	printf '%s\n' "$line"
}

rows=()
warnings=()
declare -A added_ns ratio_of min_ratio_of noise_of noise_ns

# scenario KEY LABEL ROUNDS LOG TRANSFERS HOW CLIENT-ARGS...: runs the client
# plainly and as HOW (with, ltrace, mitm), the two back to back in ABBA order,
# and keeps a table row.  Each round gives a ratio and a difference between
# two runs close in time; the row has their medians, the ratio of the
# minimums (the least disturbed runs), and the middle half of the ratios.
scenario() {
	local key=$1 label=$2 rounds=$3 log=$4 n=$5 variant=$6
	shift 6
	local r how line samples='' started=$SECONDS
	printf '  %-40s' "$label" >&2
	for ((r = 0; r < rounds; r++)); do
		local order=(without "$variant")
		((r % 2)) && order=("$variant" without)
		local -A e=() c=()
		for how in "${order[@]}"; do
			line=$(run_client "$how" "${log:+$tmp/$log}" "$@")
			e[$how]=$(field "$line" elapsed_ns)
			c[$how]=$(field "$line" cpu_ns)
			if [[ $how == with && -n $log ]]; then
				lines_logged=$(wc -l <"$tmp/$log")
				bytes_logged=$(wc -c <"$tmp/$log")
				((lines_logged >= n)) ||
					warnings+=("$label: only $lines_logged records for $n transfers")
			fi
			printf '.' >&2
		done
		samples+="${e[without]} ${e[$variant]} ${c[without]} ${c[$variant]}"$'\n'
	done
	echo " $((SECONDS - started)) s" >&2
	local stats
	stats=$(awk -v n="$n" '
		function sort(a, k,   i, j, t) {
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
					t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
				}
		}
		function median(a, k) {
			sort(a, k)
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		NF == 4 {
			k++; wo[k] = $1; wi[k] = $2
			ratio[k] = $2 / $1; added[k] = ($2 - $1) / n; cpu[k] = ($4 - $3) / n
			if (k == 1 || $1 < mo) mo = $1
			if (k == 1 || $2 < mi) mi = $2
		}
		END {
			printf "%.2f %.2f %.4f %.4f %.0f %.0f", median(wo, k) / n / 1000,
				median(wi, k) / n / 1000, median(ratio, k), mi / mo,
				median(added, k), median(cpu, k)
			# the middle half of the per-round ratios (all of them when few)
			lo = k >= 4 ? int((k + 3) / 4) : 1; hi = k >= 4 ? k + 1 - lo : k
			printf " %.3f %.3f %d\n", ratio[lo], ratio[hi], k
		}' <<<"$samples")
	local a b ratio mratio add cpu lo hi k
	read -r a b ratio mratio add cpu lo hi k <<<"$stats"
	added_ns[$key]=$add
	ratio_of[$key]=$ratio
	min_ratio_of[$key]=$mratio
	noise_of[$key]="$lo–$hi"
	# The noise in ns per transfer: the spread of the middle half of the
	# ratios, applied to the time without.
	noise_ns[$key]=$(awk -v a="$a" -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.0f", (hi - lo) * a * 1000 }')
	rows+=("| $label | $n | $a | $b | $(printf '%.3f' "$ratio") | $(printf '%.3f' "$mratio") | $(printf '%+d' "$add") ns | $(printf '%+d' "$cpu") ns | $lo–$hi ($k) |")
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(loadavg)
echo "authtap overhead benchmark: server 127.0.0.1:$port, $(nproc) CPUs, load $load_before" >&2
lines_logged=0 bytes_logged=0

scenario easy200 "easy, 200" "$r_easy" "" "$n_easy" with easy "$n_easy" /200
# The same 200s while another live handle holds a table entry (one 401
# first, in both runs): the 200 path must stay lock-free whatever the
# table holds.
export BENCH_TABLED=1
scenario tab200 "easy, 200, another handle in the table" "$r_easy" "" "$n_easy" with easy "$n_easy" /200
unset BENCH_TABLED
scenario easy401 "easy, 401 + JSON log" "$r_easy" log.json "$n_easy" with easy "$n_easy" /401
record_bytes=$(((bytes_logged + lines_logged / 2) / (lines_logged ? lines_logged : 1)))
# The record's one write(2) in place: the same 401 transfers, no preload,
# the client appending a record-sized line to a file after each.
scenario append401 "easy, 401 + one $record_bytes-byte append, no preload" "$r_easy" "" "$n_easy" \
	append easy "$n_easy" /401
n_threads_total=$((t_threads * n_thread))
scenario thr200 "$t_threads threads, 200" "$r_threads" "" "$n_threads_total" with \
	threads "$t_threads" "$n_thread" /200
scenario thr401 "$t_threads threads, 401 + JSON log" "$r_threads" log.json "$n_threads_total" with \
	threads "$t_threads" "$n_thread" /401
scenario multi200 "multi, $h_multi handles, 200" "$r_multi" "" "$n_multi" with \
	multi "$h_multi" "$n_multi" /200
scenario multi401 "multi, $h_multi handles, 401 + JSON log" "$r_multi" log.json "$n_multi" with \
	multi "$h_multi" "$n_multi" /401
scenario hsmall "401 among $k_small live handles" "$r_handles" "" "$n_lookups" with \
	handles "$k_small" "$n_lookups" /401
scenario hlarge "401 among $k_large live handles" "$r_handles" "" "$n_lookups" with \
	handles "$k_large" "$n_lookups" /401

# The one write(2) a 401 record needs, alone, on the same file system, and
# the other system calls a logged record makes: medians of a few runs.
write_runs=
for ((r = 0; r < (r_easy < 5 ? r_easy : 5); r++)); do
	write_runs+=$("$client" write "$n_easy" "$record_bytes" "$tmp/write.out")$'\n'
	rm -f "$tmp/write.out"
done
write_median() {
	local key=$1
	while read -r line; do field "$line" "$key"; done <<<"${write_runs%$'\n'}" |
		sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
write_ns=$(write_median write_ns)

# Optional: the same easy workload under ltrace and through mitmproxy.
if ((alternatives)); then
	if command -v ltrace >/dev/null; then
		scenario ltrace "easy, 200, ltrace -e curl_easy_perform" "$r_alt" "" "$n_alt" ltrace \
			easy "$n_alt" /200
	else
		warnings+=("ltrace is not installed (apt-get install ltrace): no ltrace row")
	fi
	if command -v mitmdump >/dev/null; then
		mport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		mitmdump -q --mode "reverse:http://127.0.0.1:$port" --listen-host 127.0.0.1 \
			--listen-port "$mport" >"$tmp/mitm.log" 2>&1 &
		mitm_pid=$!
		for _ in $(seq 300); do
			(exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && break
			sleep 0.1
		done
		scenario mitm "easy, 200, mitmdump --mode reverse" "$r_alt" "" "$n_alt" mitm \
			easy "$n_alt" /200
		kill "$mitm_pid" 2>/dev/null || true
	else
		warnings+=("mitmdump is not installed (apt-get install mitmproxy): no mitmproxy row")
	fi
fi

# Instructions, exact: what runs in or because of libauthtap.so during the
# timed loop only (--toggle-collect), split by cgsplit.py.
cg_ok=0
if ! command -v valgrind >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "installing valgrind" >&2
		apt-get install -y -qq valgrind >/dev/null 2>&1 || true
	elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
		sudo -n apt-get install -y -qq valgrind >/dev/null 2>&1 || true
	fi
fi
if command -v valgrind >/dev/null; then
	# cg OUT TOGGLE PREFIX... -- CLIENT-ARGS...: one client run under
	# callgrind, counting only inside the function TOGGLE.
	cg() {
		local out=$1 toggle=$2
		shift 2
		local -a prefix=()
		while [[ $1 != -- ]]; do
			prefix+=("$1")
			shift
		done
		shift
		server_alive
		"${prefix[@]}" valgrind --tool=callgrind --toggle-collect="$toggle" \
			--callgrind-out-file="$tmp/$out" "$client" -p "$port" "$@" \
			>/dev/null 2>"$tmp/$out.err" || {
			echo "run.sh: callgrind run failed:" >&2
			cat "$tmp/$out.err" >&2
			exit 1
		}
		printf '.' >&2
	}
	started=$SECONDS
	printf '  %-40s' "callgrind ($n_cg transfers)" >&2
	with=(env LD_PRELOAD="$preload")
	rm -f "$tmp/cg.json" "$tmp/cgm.json"
	cg cg.probe timed_transfers env -- probe "$n_cg" /200
	cg cg.200 timed_transfers "${with[@]}" -- easy "$n_cg" /200
	cg cg.t200 timed_transfers "${with[@]}" BENCH_TABLED=1 -- easy "$n_cg" /200
	cg cg.401 timed_transfers "${with[@]}" AUTHTAP_LOG="$tmp/cg.json" -- easy "$n_cg" /401
	cg cg.m200 timed_multi "${with[@]}" -- multi "$h_cg" "$n_cg" /200
	cg cg.m401 timed_multi "${with[@]}" AUTHTAP_LOG="$tmp/cgm.json" -- multi "$h_cg" "$n_cg" /401
	echo " $((SECONDS - started)) s" >&2
	split="python3 $here/cgsplit.py"
	floor=$($split "$tmp/cg.probe" --function probe_floor --per "$n_cg")
	miss=$($split "$tmp/cg.probe" --function probe_miss --per "$n_cg")
	whole=$($split "$tmp/cg.200" --function timed_transfers --per "$n_cg")
	for f in 200 t200 401 m200 m401; do
		$split "$tmp/cg.$f" --object libauthtap.so --per "$n_cg" --top 12 >"$tmp/split.$f"
	done
	ir_floor=$(field "$floor" per_call)
	ir_whole=$(field "$whole" per_call)
	ir_miss=$(field "$miss" per_call)
	ir_200=$(field "$(head -1 "$tmp/split.200")" added_per)
	ir_t200=$(field "$(head -1 "$tmp/split.t200")" added_per)
	ir_401=$(field "$(head -1 "$tmp/split.401")" added_per)
	ir_m200=$(field "$(head -1 "$tmp/split.m200")" added_per)
	ir_m401=$(field "$(head -1 "$tmp/split.m401")" added_per)
	cg_ok=1

	# The socket source: sock_client's loops under callgrind, without and
	# with the preload; instructions and system calls inside the loop only.
	# sock_cg OUT TOGGLE HOW ARGS...: prints "Ir syscalls counted".
	sock_cg() {
		local out=$1 toggle=$2 how=$3
		shift 3
		local -a pre=(env)
		[[ $how == with ]] && pre+=(LD_PRELOAD="$preload")
		server_alive
		local line
		line=$("${pre[@]}" valgrind --tool=callgrind --toggle-collect="$toggle" \
			--collect-systime=yes --callgrind-out-file="$tmp/$out" "$sock_client" "$@" \
			2>"$tmp/$out.err") || {
			echo "run.sh: sock_client $* under callgrind ($how) failed:" >&2
			cat "$tmp/$out.err" >&2
			exit 1
		}
		if [[ $(field "$line" errors) != 0 ]]; then
			echo "run.sh: sock_client $* ($how): $line" >&2
			exit 1
		fi
		# "Collected : Ir sysCount sysTime"
		awk -v c="$(field "$line" counted)" '/Collected/ { print $4, $5, c }' "$tmp/$out.err"
		printf '.' >&2
	}
	# sock_row KEY TOGGLE ARGS...: Ir and system calls added per counted call.
	declare -A sock_ir sock_sc
	sock_row() {
		local key=$1 toggle=$2
		shift 2
		local a b
		a=$(sock_cg "sock.$key.without" "$toggle" without "$@")
		b=$(sock_cg "sock.$key.with" "$toggle" with "$@")
		read -r sock_ir[$key] sock_sc[$key] < <(awk -v a="$a" -v b="$b" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			printf "%.1f %.2f\n", (y[1] - x[1]) / x[3], (y[2] - x[2]) / x[3] }')
	}
	started=$SECONDS
	printf '  %-40s' "callgrind, socket source ($n_cg)" >&2
	sock_row pipe timed_pipe pipe "$n_cg"
	sock_row pipec timed_pipe -p "$port" pipe "$n_cg"
	sock_row keep timed_keepalive -p "$port" keepalive "$n_cg"
	echo " $((SECONDS - started)) s" >&2
	$split "$tmp/sock.pipec.with" --object libauthtap.so --per $((2 * (n_cg + 20))) \
		--top 8 >"$tmp/split.pipec"
	$split "$tmp/sock.keep.with" --object libauthtap.so --per $((n_cg + 20)) \
		--top 12 >"$tmp/split.keep"
	# The same without the preload: the system calls of the loop, for scale.
	sock_sc_keep_base=$(awk '/Collected/ { print $5 }' "$tmp/sock.keep.without.err")
fi

# System calls, counted: on a VM each costs microseconds, so one more per
# transfer matters more than hundreds of instructions.  poll is left out: how
# often libcurl polls depends on timing, not on authtap.
sc_rows=()
syscalls_added() {
	local label=$1 log=$2
	shift 2
	local -a pre=(env LD_PRELOAD="$preload")
	if [[ -n $log ]]; then
		pre+=(AUTHTAP_LOG="$tmp/$log")
		rm -f "$tmp/$log"
	fi
	strace -f -c -o "$tmp/sc.without" "$client" -p "$port" "$@" >/dev/null
	strace -f -c -o "$tmp/sc.with" "${pre[@]}" "$client" -p "$port" "$@" >/dev/null
	local n=$2 diff
	diff=$(awk -v n="$((n + 100))" '
		FNR == 1 { f++ }
		$NF ~ /^[a-z_0-9]+$/ && $NF != "total" && $NF != "syscall" && $NF != "poll" {
			c[$NF, f] = $4; names[$NF] = 1   # $4: calls
		}
		END {
			for (s in names) {
				d = (c[s, 2] - c[s, 1]) / n
				if (d >= 0.5 || d <= -0.5) out = out sprintf("%s %+.2f, ", s, d)
			}
			sub(/, $/, "", out); print out == "" ? "none" : out
		}' "$tmp/sc.without" "$tmp/sc.with")
	sc_rows+=("| $label | $diff |")
}
if command -v strace >/dev/null; then
	started=$SECONDS
	printf '  %-40s' "strace -c" >&2
	syscalls_added "200 path" "" easy "$n_cg" /200
	printf '.' >&2
	syscalls_added "401 path + JSON log" log.json easy "$n_cg" /401
	echo ". $((SECONDS - started)) s" >&2
fi

load_after=$(loadavg)
f2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
us() { awk -v v="$1" 'BEGIN { printf "%.2f µs", v / 1000 }'; }
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "MISSED") }'; }

echo
echo "## authtap overhead ($( ((quick)) && echo quick || echo full) run: $(date -u +%Y-%m-%d)," \
	"$(nproc) CPUs, $(curl-config --version 2>/dev/null || echo libcurl)," \
	"load average $load_before before, $load_after after)"
echo
echo "Preload: $preload_id."
echo
echo "Wall clock per transfer.  Each round runs the client without and with, back to back (ABBA"
echo "order); \"ratio\" and \"added\" are the medians of the rounds' ratios and differences,"
echo "\"ratio of minimums\" compares the least disturbed runs, \"CPU added\" is the client's own"
echo "user+system time, and the last column, the middle half of the rounds' ratios, is this"
echo "machine's noise."
echo
echo "| scenario | transfers | without µs | with µs | ratio | ratio of minimums | added/transfer | CPU added/transfer | ratios, middle half (rounds) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "One O_APPEND write(2) of a $record_bytes-byte record (the 401 records' mean size), alone:" \
	"$(us "$write_ns").  Other system calls a logger might make, each alone:" \
	"fstat $(us "$(write_median fstat_ns)"), getpid $(us "$(write_median getpid_ns)")," \
	"gettid $(us "$(write_median gettid_ns)"), clock_gettime $(us "$(write_median clock_ns)")."
# The verdict feature's libc hooks, per write on an ordinary descriptor:
# 40,000 writes less 20,000, with less without, so start-up cancels out.
write_ir() {
	local -a pre=("$@")
	"${pre[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$client" \
		write "$n" 100 "$tmp/w.out" 2>&1 | awk '/Collected/ { print $4 }'
	rm -f "$tmp/w.out"
}
if ((cg_ok)); then
	declare -A wir
	for n in 20000 40000; do
		wir[$n-no]=$(write_ir env)
		wir[$n-yes]=$(write_ir env LD_PRELOAD="$preload")
	done
	ir_write=$(awk -v a="${wir[20000-no]}" -v b="${wir[20000-yes]}" -v c="${wir[40000-no]}" \
		-v d="${wir[40000-yes]}" 'BEGIN { printf "%.1f", ((d - c) - (b - a)) / 20000 }')
fi

if ((cg_ok)); then
	echo
	echo "| instructions per transfer (callgrind, $n_cg transfers, exact) | Ir |"
	echo "| --- | ---: |"
	echo "| floor: CURLINFO_RESPONSE_CODE + probe for a 2nd response (CURLHE_NOREQUEST) | $(f2 "$ir_floor") |"
	echo "| one header lookup that misses (4-header response) | $(f2 "$ir_miss") |"
	echo "| **200 path, added by authtap** | **$(f2 "$ir_200")** |"
	echo "| 200 path, another handle holding a table entry | $(f2 "$ir_t200") |"
	echo "| **401 path + JSON log, added by authtap** | **$(f2 "$ir_401")** |"
	echo "| multi interface ($h_cg handles), 200, added by authtap | $(f2 "$ir_m200") |"
	echo "| multi interface ($h_cg handles), 401 + JSON log, added by authtap | $(f2 "$ir_m401") |"
	echo "| a whole 200 transfer, client side, authtap included | $(f2 "$ir_whole") |"
	echo "| verdict hooks: one \`write(2)\` on a descriptor that is not an accepted connection | $(f2 "$ir_write") |"
	echo
	echo "| socket source (sock_client, callgrind, $n_cg + 20 warm-up, exact) | Ir added | system calls added |"
	echo "| --- | ---: | ---: |"
	echo "| one \`read\`/\`write\` on a pipe, no connection followed yet | ${sock_ir[pipe]} per call | ${sock_sc[pipe]} |"
	echo "| **one \`read\`/\`write\` on a pipe, a connection followed** | **${sock_ir[pipec]} per call** | ${sock_sc[pipec]} |"
	echo "| **keep-alive 200 on a followed connection (one write, one read)** | **${sock_ir[keep]} per request** | **${sock_sc[keep]} per request** (of $sock_sc_keep_base in the loop without) |"
	echo
	echo "Where a pipe's \`read\`/\`write\` instructions go once a connection is followed (per call):"
	echo
	echo '```'
	tail -n +2 "$tmp/split.pipec"
	echo '```'
	echo
	echo "Where a followed keep-alive 200's instructions go (per request, top 12):"
	echo
	echo '```'
	tail -n +2 "$tmp/split.keep"
	echo '```'
	echo
	echo "authtap's share of the client's user-space instructions on the 200 path:" \
		"$(awk -v a="$ir_200" -v w="$ir_whole" 'BEGIN { printf "%.2f%%", 100 * a / w }')" \
		"(a transfer's wall time also holds the kernel's and the server's work)."
	echo
	echo "Where the 200 path's added instructions go (per transfer; \"->\" is a call out of authtap):"
	echo
	echo '```'
	tail -n +2 "$tmp/split.200"
	echo '```'
	echo
	echo "Where the 401 path's added instructions go (per transfer, top 12):"
	echo
	echo '```'
	tail -n +2 "$tmp/split.401"
	echo '```'
	echo
	echo "Where the multi interface's 200 path's added instructions go (per transfer, top 12):"
	echo
	echo '```'
	tail -n +2 "$tmp/split.m200"
	echo '```'
else
	warnings+=("valgrind is not installed: no instruction counts")
fi
if ((${#sc_rows[@]})); then
	echo
	echo "| system calls added per transfer (strace -c, poll left out) | |"
	echo "| --- | --- |"
	printf '%s\n' "${sc_rows[@]}"
fi

echo
echo "Targets:"
echo
if ((cg_ok)); then
	echo "- 200 path, added instructions within 2× the floor: $(f2 "$ir_200") vs" \
		"$(f2 "$(awk -v f="$ir_floor" 'BEGIN { print 2 * f }')") →" \
		"$(verdict "$(awk -v a="$ir_200" -v f="$ir_floor" 'BEGIN { print (a <= 2 * f) }')")" \
		"($(awk -v a="$ir_200" -v f="$ir_floor" 'BEGIN { printf "%.1f", a / f }')× the floor)"
	echo "- the same with another handle in the table: $(f2 "$ir_t200") →" \
		"$(verdict "$(awk -v a="$ir_t200" -v f="$ir_floor" 'BEGIN { print (a <= 2 * f) }')")" \
		"($(awk -v a="$ir_t200" -v f="$ir_floor" 'BEGIN { printf "%.1f", a / f }')× the floor)"
	echo "- multi interface, 200 path, within 2× the floor: $(f2 "$ir_m200") →" \
		"$(verdict "$(awk -v a="$ir_m200" -v f="$ir_floor" 'BEGIN { print (a <= 2 * f) }')")" \
		"($(awk -v a="$ir_m200" -v f="$ir_floor" 'BEGIN { printf "%.1f", a / f }')× the floor)"
	echo "- socket source, a \`read\`/\`write\` on a descriptor that is not followed, at most ~10" \
		"instructions: ${sock_ir[pipe]} before any connection is followed →" \
		"$(verdict "$(awk -v a="${sock_ir[pipe]}" 'BEGIN { print (a <= 10) }')"), ${sock_ir[pipec]}" \
		"once one is → $(verdict "$(awk -v a="${sock_ir[pipec]}" 'BEGIN { print (a <= 10) }')")"
	echo "- socket source, a followed keep-alive 200 adds no system call: ${sock_sc[keep]} per" \
		"request → $(verdict "$(awk -v a="${sock_sc[keep]}" 'BEGIN { print (a == 0) }')")"
fi
echo "- 200 path, wall overhead under 1%: ratio $(printf '%.3f' "${ratio_of[easy200]}")," \
	"ratio of minimums $(printf '%.3f' "${min_ratio_of[easy200]}") →" \
	"$(verdict "$(awk -v r="${ratio_of[easy200]}" 'BEGIN { print (r < 1.01) }')") on the median," \
	"but this machine's noise (middle half of the ratios) is ${noise_of[easy200]}"
# target_401 NAME WRITE-NS: the 401 path's added time against 1.5 × a write.
target_401() {
	local name=$1 w=$2
	echo "- 401 path with the log, added time within 1.5× the record's write(2), $name:" \
		"$(printf '%+d' "${added_ns[easy401]}") ns vs 1.5 × $(f2 "$w") ns → $(
			if ((added_ns[easy401] <= 0)); then
				echo "inconclusive: below this machine's noise (${noise_of[easy401]})"
			elif awk -v w="$w" 'BEGIN { exit !(w <= 0) }'; then
				echo "inconclusive: the write is below this machine's noise"
			else
				echo "$(verdict "$(awk -v a="${added_ns[easy401]}" -v w="$w" 'BEGIN { print (a <= 1.5 * w) }')")" \
					"($(awk -v a="${added_ns[easy401]}" -v w="$w" 'BEGIN { printf "%.2f", a / w }')× the write)"
			fi)"
}
target_401 "measured in place (the append row)" "${added_ns[append401]}"
target_401 "measured alone in a tight loop" "$write_ns"
flat=$(awk -v a="${added_ns[hlarge]}" -v b="${added_ns[hsmall]}" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
echo "- flat at $k_large handles (taken as: at most 1.5× the cost among $k_small):" \
	"$(printf '%+d' "${added_ns[hlarge]}") ns per transfer vs $(printf '%+d' "${added_ns[hsmall]}") ns" \
	"→ $(if ((added_ns[hsmall] <= 0)); then
		echo "inconclusive: the cost among $k_small is below this machine's noise"
	elif ((added_ns[hlarge] <= 0)); then
		echo "met (no cost above the noise at $k_large)"
	elif ((added_ns[hlarge] - added_ns[hsmall] <= noise_ns[hlarge])); then
		echo "met within the noise: the difference, $((added_ns[hlarge] - added_ns[hsmall])) ns," \
			"is below the noise of the $k_large row (${noise_ns[hlarge]} ns per transfer);" \
			"the instruction counts (RESULTS.md) settle it"
	else
		echo "$(verdict "$(awk -v f="$flat" 'BEGIN { print (f <= 1.5) }')") (${flat}×)"
	fi)"
echo "- no collapse at $t_threads threads (taken as: the ratio at most 0.1 above one thread's):" \
	"$(printf '%.3f' "${ratio_of[thr200]}") vs $(printf '%.3f' "${ratio_of[easy200]}") (200)," \
	"$(printf '%.3f' "${ratio_of[thr401]}") vs $(printf '%.3f' "${ratio_of[easy401]}") (401 + log) →" \
	"$(verdict "$(awk -v a="${ratio_of[thr200]}" -v b="${ratio_of[easy200]}" -v c="${ratio_of[thr401]}" -v d="${ratio_of[easy401]}" 'BEGIN { print (a <= b + 0.1 && c <= d + 0.1) }')")"
if ((${#warnings[@]})); then
	echo
	printf -- '- warning: %s\n' "${warnings[@]}"
fi
