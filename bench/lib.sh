# shellcheck shell=bash
# bench/lib.sh: shared helpers of the trail benchmarks (sourced, not run).
#
# Clusters run as the postgres OS user (the server refuses root), each in its
# own directory with a private unix socket directory and no TCP listener, so
# they cannot clash with other clusters on the machine.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
BENCH_OS_USER=${BENCH_OS_USER:-postgres}

# run a command as the server's OS user (or directly when not root)
as_pg() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u "$BENCH_OS_USER" -- "$@"
	else
		"$@"
	fi
}

# cluster_init DIR PORT [extra postgresql.conf lines...]
# initdb DIR/data with the bench settings; socket in DIR/sock
cluster_init() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir/data" "$dir/sock"
	chmod 755 "$dir"
	if [[ $(id -u) == 0 ]]; then chown -R "$BENCH_OS_USER": "$dir"; fi
	as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	{
		echo "# trail bench settings"
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir/sock'"
		echo "shared_buffers = 1GB"
		echo "max_wal_size = 4GB"
		echo "checkpoint_timeout = 30min"
		echo "log_line_prefix = '%m [%p] '"
		local line
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

# cluster_start DIR [pg_ctl -o options]
cluster_start() {
	local dir=$1 opts=${2:-}
	if [[ -n $opts ]]; then
		as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 300 start >/dev/null
	else
		as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 300 start >/dev/null
	fi
}

cluster_stop() {
	local dir=$1
	if [[ -f $dir/data/postmaster.pid ]]; then
		as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 300 stop >/dev/null 2>&1 ||
			as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
	fi
}

# median / min / max / q1 / q3 of numbers on stdin, one per line
# prints "median min max q1 q3 n"
stats() {
	sort -g | awk '
		{ v[NR] = $1 }
		function q(p,   h, lo) { h = (NR - 1) * p + 1; lo = int(h); return v[lo] + (h - lo) * (v[lo + 1 < NR ? lo + 1 : NR] - v[lo]) }
		END {
			if (NR == 0) { print "NaN NaN NaN NaN NaN 0"; exit }
			printf "%.3f %.3f %.3f %.3f %.3f %d\n", q(0.5), v[1], v[NR], q(0.25), q(0.75), NR
		}'
}

# the conditions a run measured under, as markdown
machine_conditions() {
	echo "- host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "- server: $("$PG_BIN/postgres" --version)"
	echo "- load average at $1: $(cut -d' ' -f1-3 /proc/loadavg)"
	local others
	others=$(ps -eo pid,args | awk '$2 ~ /bin\/postgres$/ { for (i = 3; i < NF; i++) if ($i == "-D") print $(i + 1) }' |
		grep -v -- '/trail-bench-' | sort -u | tr '\n' ' ')
	echo "- other PostgreSQL clusters running on the machine: ${others:-none}"
	echo "- busiest other processes (%CPU, command) at $1:"
	ps -eo pcpu,args --sort=-pcpu |
		awk 'NR > 1 && $2 != "ps" && n++ < 6 { c = $1; $1 = ""; printf "  - %s%% %s\n", c, substr($0, 2, 90) }'
}

# script_help SCRIPT: print a bench script's header comment (its --help)
script_help() {
	sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

# machine_section BEFORE AFTER: the report's "## Machine" section, from two
# machine_conditions outputs (the second without what cannot have changed)
# problems_section FILE: the report's note of the server's ERROR, WARNING and
# FATAL/PANIC lines collected in FILE during the run (nothing if it is empty)
problems_section() {
	local f=$1
	[[ -s $f ]] || return 0
	echo
	echo "**The server logged $(grep -c ' ERROR:' "$f") ERROR, $(grep -c ' WARNING:' "$f") WARNING and"
	echo "$(grep -Ec ' (FATAL|PANIC):' "$f") FATAL/PANIC lines** during the run; the distinct messages:"
	echo
	echo '```'
	sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' "$f" | sort | uniq -c | sort -rn | head -n 10 | cut -c1-200
	echo '```'
}

machine_section() {
	echo "## Machine"
	echo
	echo "$1"
	echo "$2" | grep -v -e '^- host' -e '^- server' -e 'other PostgreSQL'
	echo
}

# a timestamped line on stderr
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# fmt number decimals: the number with thousands separators ("–" when empty)
fmt() {
	awk -v v="$1" -v d="$2" 'BEGIN {
		if (v == "" || v == "–") { print "–"; exit }
		s = sprintf("%.*f", d, v); sign = ""; frac = ""
		if (substr(s, 1, 1) == "-") { sign = "-"; s = substr(s, 2) }
		if ((i = index(s, ".")) > 0) { frac = substr(s, i); s = substr(s, 1, i - 1) }
		r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
		print sign s r frac }'
}

# The end of a bench that runs one cluster in $C inside its work directory
# $W (trap it on EXIT): on failure, the end of the server log; then the
# cluster stopped and $W removed, unless KEEP=1.  A script that starts
# background processes lists their pids in BENCH_PIDS.
BENCH_PIDS=()
stop_bench_cluster() {
	local rc=$? pid
	trap - EXIT INT TERM
	set +e
	for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	if ((rc != 0)) && [[ -f $C/server.log ]]; then
		log "failed (exit $rc); the end of the server log:"
		tail -n 30 "$C/server.log" >&2
	fi
	cluster_stop "$C"
	if ((KEEP)); then log "kept $W (KEEP=1)"; else rm -rf -- "$W"; fi
	exit "$rc"
}
