#!/usr/bin/env bash
# bench/capture_ddl.sh: what does trail's capture cost a DDL-heavy workload?
#
#   bash bench/capture_ddl.sh
#
# Two clusters side by side, identical but for trail (initdb, same settings:
# shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync and
# synchronous_commit on):
#     trail      shared_preload_libraries = 'trail', CREATE EXTENSION trail in "bench"
#     baseline   trail not loaded at all
# The workload is one SQL script of ITERATIONS x 20 DDL statements (2000 by
# default), each its own transaction, as psql -f sends them: CREATE TABLE with a
# serial primary key, ALTER TABLE, CREATE INDEX, COMMENT, CREATE ROLE, GRANT,
# CREATE FUNCTION, CREATE VIEW, CREATE SEQUENCE, ALTER ROLE, REVOKE, ANALYZE, SHOW,
# ALTER FUNCTION and the DROPs of all of it, so every run starts from the same
# catalog.  After one unmeasured warm-up run on each cluster, ROUNDS rounds run
# the script on both, alternating which goes first (AB BA AB ...).  Measured: the
# client-side wall time of the whole psql run, and each statement's time (psql
# \timing) summed per command.  Reported: median and spread per configuration,
# microseconds per statement, the overhead per statement, and the trail/baseline
# ratio, overall and per command.
#
# Output: a markdown report on stdout and in bench/results/capture-ddl-<date>-<time>.md.
# Settings (environment): ROUNDS (9), ITERATIONS (100), PORT_TRAIL (5531),
# PORT_BASE (5532), SYNCHRONOUS_COMMIT (on; "off" leaves the WAL flush of each
# commit out and shows the CPU cost of capture alone).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

ROUNDS=${ROUNDS:-9}
ITERATIONS=${ITERATIONS:-100}
PORT_TRAIL=${PORT_TRAIL:-5531}
PORT_BASE=${PORT_BASE:-5532}
SYNCHRONOUS_COMMIT=${SYNCHRONOUS_COMMIT:-on}
DB=bench

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "capture_ddl.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

W=$(mktemp -d /tmp/trail-bench-capture.XXXXXX)
chmod 755 "$W"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	cluster_stop "$W/trail"
	cluster_stop "$W/base"
	rm -rf -- "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


declare -A SOCK=([trail]="$W/trail/sock" [base]="$W/base/sock")
declare -A PORT=([trail]=$PORT_TRAIL [base]=$PORT_BASE)
declare -A NAME=([trail]="trail" [base]="baseline (no trail)")
psql_on() { # config, psql args...
	local c=$1
	shift
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "${SOCK[$c]}" -p "${PORT[$c]}" -U postgres -d "$DB" "$@"
}

# what is measured: the installed library and script (others may reinstall them)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" | cut -c1-12), extension script md5 $(cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql | md5sum | cut -c1-12)"

log "starting two clusters: trail (port $PORT_TRAIL) and baseline (port $PORT_BASE)"
cluster_init "$W/trail" "$PORT_TRAIL" "shared_preload_libraries = 'trail'" "synchronous_commit = $SYNCHRONOUS_COMMIT"
cluster_init "$W/base" "$PORT_BASE" "synchronous_commit = $SYNCHRONOUS_COMMIT"
for c in trail base; do
	cluster_start "$W/$c"
	"$PG_BIN/createdb" -h "${SOCK[$c]}" -p "${PORT[$c]}" -U postgres "$DB"
done
psql_on trail -c "CREATE EXTENSION trail"

# The workload: 20 statements per iteration, every object created is dropped.
{
	printf '%s\n' '\pset pager off' '\o /dev/null' '\timing on'
	for ((i = 1; i <= ITERATIONS; i++)); do
		cat <<-EOF
			CREATE TABLE bench_t$i (id serial PRIMARY KEY, name text, created_at timestamptz DEFAULT now());
			ALTER TABLE bench_t$i ADD COLUMN payload jsonb;
			CREATE INDEX bench_t${i}_name_idx ON bench_t$i (name);
			COMMENT ON TABLE bench_t$i IS 'benchmark table number $i, dropped at the end of its iteration';
			CREATE ROLE bench_r$i NOLOGIN;
			GRANT SELECT, INSERT, UPDATE ON bench_t$i TO bench_r$i;
			CREATE FUNCTION bench_f$i(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT \$1 + $i';
			CREATE VIEW bench_v$i AS SELECT id, name, created_at FROM bench_t$i WHERE name IS NOT NULL;
			ALTER TABLE bench_t$i ALTER COLUMN name SET NOT NULL;
			CREATE SEQUENCE bench_s$i;
			ALTER ROLE bench_r$i SET work_mem = '8MB';
			REVOKE INSERT, UPDATE ON bench_t$i FROM bench_r$i;
			ANALYZE bench_t$i;
			SHOW work_mem;
			ALTER FUNCTION bench_f$i(int) STABLE;
			DROP VIEW bench_v$i;
			DROP FUNCTION bench_f$i(int);
			DROP SEQUENCE bench_s$i;
			DROP TABLE bench_t$i;
			DROP ROLE bench_r$i;
		EOF
	done
} >"$W/ddl.sql"
NSTMT=$((ITERATIONS * 20))
# the command of statement n (the first two words, e.g. "CREATE TABLE")
grep -v '^[\]' "$W/ddl.sql" |
	awk '{ if ($1 ~ /^(CREATE|ALTER|DROP)$/) print $1 " " $2; else print $1 }' >"$W/commands"

# run the script once on a cluster; append "config total_ms" to $W/totals and
# "config round n ms" to $W/stmts
run() { # config round
	local c=$1 r=$2 t0 t1
	t0=$(date +%s%N)
	psql_on "$c" -f "$W/ddl.sql" >"$W/out"
	t1=$(date +%s%N)
	if [[ $r != warmup ]]; then
		awk -v c="$c" -v ns="$((t1 - t0))" 'BEGIN { printf "%s %.3f\n", c, ns / 1e6 }' >>"$W/totals"
		awk -v c="$c" -v r="$r" '/^Time: / { print c, r, ++n, $2 }' "$W/out" >>"$W/stmts"
	fi
	local got
	got=$(grep -c '^Time: ' "$W/out" || true)
	if ((got != NSTMT)); then
		log "expected $NSTMT timed statements on $c, got $got"
		return 1
	fi
}

EVENTS_BEFORE=$(psql_on trail -At -c "SELECT count(*) FROM trail.events")
log "warm-up run on each cluster"
run trail warmup
run base warmup
EVENTS_PER_RUN=$(($(psql_on trail -At -c "SELECT count(*) FROM trail.events") - EVENTS_BEFORE))

COND_BEFORE=$(machine_conditions start)
: >"$W/totals"
: >"$W/stmts"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(trail base); else order=(base trail); fi
	for c in "${order[@]}"; do run "$c" "$r"; done
	log "round $r/$ROUNDS: $(tail -n 2 "$W/totals" | awk '{ printf "%s %.0f ms  ", $1, $2 }')"
done
COND_AFTER=$(machine_conditions end)

###############################################################################
# The report
###############################################################################

mkdir -p "$BENCH/results"
REPORT="$BENCH/results/capture-ddl-$(date +%F-%H%M)$([[ $SYNCHRONOUS_COMMIT == on ]] || echo "-sync-$SYNCHRONOUS_COMMIT").md"
f1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
f0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

read -r BMED BMIN BMAX BQ1 BQ3 _ < <(awk '$1 == "base" { print $2 }' "$W/totals" | stats)
read -r TMED TMIN TMAX TQ1 TQ3 _ < <(awk '$1 == "trail" { print $2 }' "$W/totals" | stats)
# per round: the trail/baseline ratio and the difference (µs per statement) of the same round
read -r RMED RMIN RMAX _ < <(awk '{ t[$1] = $2; if (t["trail"] != "" && t["base"] != "") { print t["trail"] / t["base"]; delete t } }' "$W/totals" | stats)
read -r DMED DMIN DMAX _ < <(awk -v n="$NSTMT" '{ t[$1] = $2; if (t["trail"] != "" && t["base"] != "") { print 1000 * (t["trail"] - t["base"]) / n; delete t } }' "$W/totals" | stats)

{
	echo "# trail capture cost: a DDL-heavy script with and without trail"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/capture_ddl.sh\`. One psql script of $NSTMT DDL statements"
	echo "(each its own transaction) against two clusters running side by side, identical but"
	echo "for trail: **trail** (preloaded, extension created) and **baseline** (trail not"
	echo "loaded). One unmeasured warm-up run each, then $ROUNDS rounds alternating the order"
	echo "(AB BA AB ...). Settings of both: shared_buffers=1GB, max_wal_size=4GB,"
	echo "checkpoint_timeout=30min, fsync=on, synchronous_commit=$SYNCHRONOUS_COMMIT, others default."
	echo "trail recorded $EVENTS_PER_RUN events per run of the script."
	if [[ $EVENTS_PER_RUN != "$NSTMT" ]]; then
		echo
		echo "**Warning: $EVENTS_PER_RUN events for $NSTMT statements: capture did not record one event per statement.**"
	fi
	echo
	echo "trail: $TRAIL_VERSION"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"
	echo "## Whole script (client wall time of psql -f)"
	echo
	echo "| configuration | median ms | min–max ms | IQR ms | µs per statement (median) | × baseline |"
	echo "|---|--:|--:|--:|--:|--:|"
	echo "| ${NAME[base]} | $(f0 "$BMED") | $(f0 "$BMIN")–$(f0 "$BMAX") | $(f0 "$BQ1")–$(f0 "$BQ3") | $(f0 "$(awk -v m="$BMED" -v n="$NSTMT" 'BEGIN { print 1000 * m / n }')") | 1.00 |"
	echo "| ${NAME[trail]} | $(f0 "$TMED") | $(f0 "$TMIN")–$(f0 "$TMAX") | $(f0 "$TQ1")–$(f0 "$TQ3") | $(f0 "$(awk -v m="$TMED" -v n="$NSTMT" 'BEGIN { print 1000 * m / n }')") | $(ratio "$TMED" "$BMED") |"
	echo
	echo "Capture overhead: **$(f0 "$(awk -v t="$TMED" -v b="$BMED" -v n="$NSTMT" 'BEGIN { print 1000 * (t - b) / n }')") µs per statement** (difference of the medians);"
	echo "per round (trail and baseline run back to back): ratio median $(ratio "$RMED" 1), range $(ratio "$RMIN" 1)–$(ratio "$RMAX" 1);"
	echo "difference median $(f0 "$DMED") µs per statement, range $(f0 "$DMIN")–$(f0 "$DMAX")."
	echo
	echo "## Per command (psql timing of each statement)"
	echo
	echo "Mean time of one statement of that command within a run, median over the $ROUNDS runs (min–max)."
	echo
	echo "| command | per script | baseline µs | trail µs | overhead µs | × baseline |"
	echo "|---|--:|--:|--:|--:|--:|"
	# per (config, round, command): mean statement time; then median over rounds
	awk 'NR == FNR { cmd[FNR] = $0; next }
	     { k = $1 SUBSEP $2 SUBSEP cmd[$3]; s[k] += $4; n[k]++ }
	     END { for (k in s) { split(k, a, SUBSEP); print a[1] "\t" a[3] "\t" 1000 * s[k] / n[k] } }' \
		"$W/commands" "$W/stmts" >"$W/percmd"
	while IFS= read -r cmd; do
		cnt=$(grep -cxF "$cmd" "$W/commands")
		read -r bm bmin bmax _ < <(awk -F'\t' -v c="$cmd" '$1 == "base" && $2 == c { print $3 }' "$W/percmd" | stats)
		read -r tm tmin tmax _ < <(awk -F'\t' -v c="$cmd" '$1 == "trail" && $2 == c { print $3 }' "$W/percmd" | stats)
		echo "| $cmd | $cnt | $(f0 "$bm") ($(f0 "$bmin")–$(f0 "$bmax")) | $(f0 "$tm") ($(f0 "$tmin")–$(f0 "$tmax")) | $(f0 "$(awk -v t="$tm" -v b="$bm" 'BEGIN { print t - b }')") | $(ratio "$tm" "$bm") |"
	done < <(awk '!seen[$0]++' "$W/commands") | tee "$W/cmdrows"
	echo
	echo "Median of the per-command overheads: **$(awk -F'|' '{ print $6 }' "$W/cmdrows" | stats | cut -d' ' -f1 | xargs printf '%.0f') µs** per statement."
	echo "The whole-script figures above are noisier than this: CREATE and DROP of tables and sequences"
	echo "create and unlink files, whose time varies by milliseconds with the (shared) disk."
	echo
	echo "Totals per run (ms), in run order:"
	echo
	echo '```'
	awk '{ printf "%-6s %9.1f\n", $1, $2 }' "$W/totals"
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
