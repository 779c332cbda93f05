#!/usr/bin/env bash
# bench/lookup.sh: how fast is trail.lookup_events over a large event store?
#
#   bash bench/lookup.sh              10,000,000 events over 90 days (make bench)
#   EVENTS=1000000 bash bench/lookup.sh   a quick run
#   bash bench/lookup.sh --rebuild    build the store again even if it could be reused
#
# 1. The store.  A cluster in /tmp/trail-bench-store-<EVENTS>-<DAYS>d (port 5530,
#    private socket) with trail preloaded, database "bench", CREATE EXTENSION trail,
#    a partition for every UTC day of the last DAYS days (trail.run_maintenance for
#    each day).  trail.events is append-only while trail is preloaded, so the
#    synthetic events (bench/lookup_store.sql) are loaded with the server restarted
#    WITHOUT shared_preload_libraries (nothing protects the table then: a documented
#    caveat of trail), in JOBS parallel sessions, in time order; then VACUUM ANALYZE
#    and a restart with trail preloaded.  The store is kept and reused by later runs
#    unless --rebuild is given, trail's installed SQL script changed, or the store is
#    older than MAX_AGE_DAYS (retention starts dropping its oldest day).
# 2. The measurement.  What a user sees: the client-side wall time (psql \timing:
#    planning, execution and fetching all rows) of
#        SELECT * FROM trail.lookup_events(key, value, start, end, 50, token)
#    for every attribute key (common and rare values), at three depths:
#        p1    the first page (default time window: the retention period)
#        p20   the 20th page, with the next_token returned by page 19
#              (or the last page when there are fewer than 20)
#        past  the first page of a 7-day window 60 to 67 days back
#        new   the first page as the first call of a brand-new session (it loads
#              the catalog entries of whatever the call opens)
#    ROUNDS rounds; each round is one psql session that first runs every query once
#    unmeasured (warm caches, as a long-lived connection has them), then every query
#    once, measured; the query order rotates from round to round.  Then, per round,
#    one new session for each lookup's "new" call, also in rotated order.  Reported: median,
#    min-max and IQR per query, the ratio to the unfiltered first page, and a flag
#    for every page over GOAL_MS (20 ms).  After the rounds, a breakdown: the mean
#    planning and execution time of the statement that reads the events inside lookup_events
#    (pg_stat_statements, preloaded idle and switched on only for this pass), and
#    the plans of the MAX_PLANS slowest pages (auto_explain: ANALYZE, BUFFERS).
#
# Output: a markdown report on stdout and in bench/results/lookup-<date>-<time>.md.
# Settings (environment): EVENTS (10000000), DAYS (90), ROUNDS (9), JOBS (cores),
# CHUNK (100000 events per load transaction), PORT (5530), GOAL_MS (20), MAX_PLANS (3),
# MAX_AGE_DAYS (3), REUSE=1 (reuse the store even if trail's SQL changed; it then
# measures the SQL functions the store was built with, on the installed library),
# STORE (store directory).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

EVENTS=${EVENTS:-10000000}
DAYS=${DAYS:-90}
ROUNDS=${ROUNDS:-9}
JOBS=${JOBS:-$(nproc)}
CHUNK=${CHUNK:-100000}
PORT=${PORT:-5530}
GOAL_MS=${GOAL_MS:-20}
MAX_PLANS=${MAX_PLANS:-3}
MAX_AGE_DAYS=${MAX_AGE_DAYS:-3}
STORE=${STORE:-/tmp/trail-bench-store-${EVENTS}-${DAYS}d}
DB=bench

REBUILD=0
for arg in "$@"; do
	case $arg in
	--rebuild) REBUILD=1 ;;
	-h | --help)
		script_help "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "lookup.sh: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

if ((EVENTS < 100000)); then
	echo "lookup.sh: EVENTS must be at least 100000" >&2
	exit 2
fi

export PGHOST=$STORE/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)

WORK=$(mktemp -d /tmp/trail-bench-lookup.XXXXXX)
chmod 755 "$WORK"
LOAD_PIDS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	local p
	for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	# the store's data directory stays for the next run; its server does not
	cluster_stop "$STORE"
	rm -rf -- "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# EXPLAIN output with runs of partition scans (sibling nodes "... on
# events_YYYYMMDD") reduced to the first two and one summary line: count,
# how many ran, rows, and shared buffers of the nodes themselves
squash_partitions() {
	awk '
		function pad(n,   s) { s = ""; while (n-- > 0) s = s " "; return s }
		function flush() {
			if (run_n > 2)
				printf "%s->  ... %d more partition scans like these: %d executed (%d rows in all, shared hit=%d read=%d), %d never executed\n",
					pad(run_ind), run_n - 2, ex, rows, hit, rd, nev
			run_n = 0; ex = nev = rows = hit = rd = 0
		}
		{ match($0, /^ */); ind = RLENGTH }
		in_node && ind > node_ind {
			if (prop_ind < 0) prop_ind = ind
			if (printing) print
			else if (ind == prop_ind && match($0, /Buffers: shared hit=[0-9]+/)) {
				hit += substr($0, RSTART + 20, RLENGTH - 20)
				if (match($0, /read=[0-9]+/)) rd += substr($0, RSTART + 5, RLENGTH - 5)
			}
			next
		}
		{ in_node = 0 }
		/->  .* on events_([0-9]+|default) / {
			if (run_n > 0 && ind != run_ind) flush()
			run_ind = ind; run_n++; in_node = 1; node_ind = ind; prop_ind = -1
			printing = (run_n <= 2)
			if (printing) print
			else if ($0 ~ /never executed/) nev++
			else {
				ex++
				if (match($0, /rows=[0-9]+ loops=[0-9]+\)/)) {
					split(substr($0, RSTART, RLENGTH - 1), a, /[= ]/)
					rows += a[2] * a[4]
				}
			}
			next
		}
		run_n { flush() }
		{ print }
		END { if (run_n) flush() }
	'
}
q() { "${PSQL[@]}" -At -c "$1"; }
# SQL literal of a shell string (NULL when empty)
lit() { if [[ -z $1 ]]; then echo NULL; else printf "'%s'" "${1//\'/\'\'}"; fi; }

# one run at a time per store
exec 9>"$STORE.lock"
if ! flock -n 9; then
	echo "lookup.sh: another run is using $STORE" >&2
	exit 1
fi

EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
ext_md5() { cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql | md5sum | cut -c1-32; }
# the commit of this repository whose trail.control + trail--1.0.sql have that md5
commit_of_md5() {
	local c
	for c in $(git -C "$BENCH/.." log --format=%h -n 100 -- trail.control trail--1.0.sql 2>/dev/null); do
		if [[ $( (git -C "$BENCH/.." show "$c:trail.control" && git -C "$BENCH/.." show "$c:trail--1.0.sql") 2>/dev/null |
			md5sum | cut -c1-32) == "$1" ]]; then
			git -C "$BENCH/.." log -1 --format='%h "%<(60,trunc)%s"' "$c" | sed 's/ *"$/"/'
			return
		fi
	done
	echo "no commit of $(cd "$BENCH/.." && pwd) (a working tree not committed?)"
}

###############################################################################
# The store
###############################################################################

# why the store must be (re)built, or nothing when it can be reused
rebuild_reason() {
	if ((REBUILD)); then echo "--rebuild given"; return; fi
	if [[ ! -f $STORE/stamp ]]; then echo "no store at $STORE"; return; fi
	# shellcheck disable=SC1091
	source "$STORE/stamp"
	if [[ $STAMP_EVENTS != "$EVENTS" || $STAMP_DAYS != "$DAYS" ]]; then
		echo "the store holds $STAMP_EVENTS events over $STAMP_DAYS days"
		return
	fi
	if [[ $STAMP_EXT_MD5 != "$(ext_md5)" && ${REUSE:-0} != 1 ]]; then
		echo "trail's installed SQL script changed since the store was built (REUSE=1 reuses it anyway)"
		return
	fi
	local age=$((($(date +%s) - STAMP_T_END) / 86400))
	if ((age >= MAX_AGE_DAYS)); then
		echo "the store is $age days old (MAX_AGE_DAYS=$MAX_AGE_DAYS)"
	fi
}

build_store() {
	local t_build0 t_end t0 span nchunks
	t_build0=$(date +%s)
	cluster_stop "$STORE"
	rm -rf -- "$STORE"
	log "building the store in $STORE: $EVENTS events over $DAYS days"
	cluster_init "$STORE" "$PORT" "shared_preload_libraries = 'trail'" "maintenance_work_mem = 512MB"
	cluster_start "$STORE"
	"$PG_BIN/createdb" "$DB"
	# the script the store's extension is created from (others may reinstall trail meanwhile)
	local ext_md5_built
	ext_md5_built=$(ext_md5)
	q "CREATE EXTENSION trail" >/dev/null

	# The newest event is now, the oldest DAYS days back (plus an hour's margin
	# so that the default lookup window, now - retention, still holds all of them
	# for a while).
	t_end=$(date +%s)
	t0="to_timestamp($t_end) - interval '$DAYS days' + interval '1 hour'"
	span="interval '$DAYS days' - interval '1 hour 1 minute'"
	log "creating the daily partitions"
	q "SELECT count(*) FROM generate_series(to_timestamp($t_end) - interval '$DAYS days', to_timestamp($t_end), interval '1 day') d,
	          LATERAL trail.run_maintenance(d) m" >/dev/null
	"${PSQL[@]}" -f "$BENCH/lookup_store.sql" >/dev/null
	t0=$(q "SELECT ($t0)::text")
	span=$(q "SELECT ($span)::text")

	log "restarting without shared_preload_libraries for the bulk load (trail.events is unprotected now)"
	cluster_stop "$STORE"
	cluster_start "$STORE" "-c shared_preload_libraries= -c autovacuum=off"

	nchunks=$(((EVENTS + CHUNK - 1) / CHUNK))
	log "loading $EVENTS events in $nchunks transactions of $CHUNK, $JOBS sessions in parallel"
	local t_load0 w c lo hi
	t_load0=$(date +%s)
	: >"$WORK/progress"
	for ((w = 0; w < JOBS; w++)); do
		(
			# each session loads a contiguous stretch of time: different partitions
			for ((c = w * nchunks / JOBS; c < (w + 1) * nchunks / JOBS; c++)); do
				lo=$((c * CHUNK + 1))
				hi=$(((c + 1) * CHUNK))
				((hi > EVENTS)) && hi=$EVENTS
				q "SELECT bench_gen.load($lo, $hi, $EVENTS, '$t0', '$span')" >/dev/null
				echo "$((hi - lo + 1))" >>"$WORK/progress"
			done
		) &
		LOAD_PIDS+=($!)
	done
	local done_rows elapsed running
	while :; do
		running=0
		for w in "${LOAD_PIDS[@]}"; do kill -0 "$w" 2>/dev/null && running=1; done
		done_rows=$(awk '{s += $1} END {print s + 0}' "$WORK/progress")
		elapsed=$(($(date +%s) - t_load0))
		if ((done_rows > 0)); then
			log "loaded $done_rows / $EVENTS events ($((100 * done_rows / EVENTS))%) in ${elapsed}s, $((done_rows / (elapsed > 0 ? elapsed : 1))) events/s, about $(((EVENTS - done_rows) * elapsed / done_rows))s to go"
		fi
		((running)) || break
		sleep 15
	done
	for w in "${LOAD_PIDS[@]}"; do
		wait "$w" || { log "a load session failed"; return 1; }
	done
	LOAD_PIDS=()
	local t_load=$(($(date +%s) - t_load0))

	log "VACUUM ANALYZE of every table of trail ($JOBS in parallel: partitions, lookup index tables), then ANALYZE of trail.events"
	local t_vac0 tables=()
	t_vac0=$(date +%s)
	mapfile -t tables < <(q "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	                          WHERE n.nspname = 'trail' AND c.relkind = 'r' ORDER BY pg_relation_size(c.oid) DESC")
	"$PG_BIN/vacuumdb" -q -d "$DB" -j "$JOBS" --analyze "${tables[@]/#/--table=}"
	q "ANALYZE trail.events"
	q "CHECKPOINT"
	local t_vac=$(($(date +%s) - t_vac0))

	log "restarting with trail preloaded"
	cluster_stop "$STORE"
	cluster_start "$STORE"

	choose_values "$t_end"

	cat >"$STORE/stamp" <<-EOF
		STAMP_EVENTS=$EVENTS
		STAMP_DAYS=$DAYS
		STAMP_T_END=$t_end
		STAMP_EXT_MD5=$ext_md5_built
		STAMP_LOAD_S=$t_load
		STAMP_VACUUM_S=$t_vac
		STAMP_BUILD_S=$(($(date +%s) - t_build0))
		STAMP_JOBS=$JOBS
	EOF
	log "store built in $(($(date +%s) - t_build0))s (load ${t_load}s, vacuum+analyze ${t_vac}s)"
}

# The lookups: label|attribute key|value.  EventId and AccessKeyId take an
# event from the middle of the store (45 days back); the other values follow
# the distributions of bench/lookup_store.sql.  Also counts the matching
# management events of each (one scan), for the report.
choose_values() {
	local t_end=$1 row id akid
	row=$(q "SELECT event_id, access_key_id FROM trail.events
	          WHERE event_time >= to_timestamp($t_end) - interval '45 days' AND event_category = 'Management'
	          ORDER BY event_time LIMIT 1")
	id=${row%%|*}
	akid=${row#*|}
	cat >"$STORE/specs" <<-EOF
		(no attribute)||
		EventId|EventId|$id
		EventName common|EventName|CreateTable
		EventName rare|EventName|AlterSystem
		ReadOnly|ReadOnly|true
		Username common|Username|app_rw
		Username rare|Username|breakglass
		ResourceType common|ResourceType|PG::Table
		ResourceType mid|ResourceType|PG::Function
		ResourceType rare|ResourceType|PG::Database
		ResourceName common|ResourceName|app.orders
		ResourceName rare|ResourceName|reporting.imports_124
		EventSource|EventSource|iam.postgresql
		AccessKeyId|AccessKeyId|$akid
	EOF
	log "counting the matching events of each lookup (one scan of the store)"
	local label key value cond sel=()
	while IFS='|' read -r label key value; do
		case $key in
		'') cond="true" ;;
		EventId) cond="event_id = $(lit "$value")::uuid" ;;
		EventName) cond="event_name = $(lit "$value")" ;;
		ReadOnly) cond="read_only = $(lit "$value")::boolean" ;;
		Username) cond="user_name = $(lit "$value")" ;;
		ResourceType) cond="resources @> jsonb_build_array(jsonb_build_object('type', $(lit "$value")))" ;;
		ResourceName) cond="resources @> jsonb_build_array(jsonb_build_object('name', $(lit "$value")))" ;;
		EventSource) cond="event_source = $(lit "$value")" ;;
		AccessKeyId) cond="access_key_id = $(lit "$value")" ;;
		esac
		sel+=("count(*) FILTER (WHERE $cond)")
	done <"$STORE/specs"
	local IFS=,
	q "SET max_parallel_workers_per_gather = 0; SELECT ${sel[*]} FROM trail.events WHERE event_category = 'Management'" |
		tr '|' '\n' >"$STORE/counts"
}

reason=$(rebuild_reason)
if [[ -n $reason ]]; then
	log "(re)building the store: $reason"
	build_store
else
	log "reusing the store in $STORE (built $(date -d "@$(sed -n 's/^STAMP_T_END=//p' "$STORE/stamp")" '+%F %T'))"
fi
# Measure with pg_stat_statements preloaded but idle (track = none); it is
# switched on per session only for the planning/execution breakdown at the end.
cluster_stop "$STORE"
cluster_start "$STORE" "-c shared_preload_libraries=trail,pg_stat_statements -c pg_stat_statements.track=none"
# shellcheck disable=SC1091
source "$STORE/stamp"
[[ -f $STORE/specs && -f $STORE/counts ]] || choose_values "$STAMP_T_END"

###############################################################################
# The queries
###############################################################################

PAST_START=$(q "SELECT (to_timestamp($STAMP_T_END) - interval '67 days')::text")
PAST_END=$(q "SELECT (to_timestamp($STAMP_T_END) - interval '60 days')::text")

# the id of query n: "<spec line number>:<mode>"; its SQL in $WORK/q/<id>
mkdir -p "$WORK/q"
mapfile -t SPECS <"$STORE/specs"
mapfile -t COUNTS <"$STORE/counts"
QIDS=()
declare -A PAGE_OF

lookup_sql() { # key value start end token
	printf 'SELECT * FROM trail.lookup_events(%s, %s, %s, %s, 50, %s)' \
		"$(lit "$1")" "$(lit "$2")" "$3" "$4" "$(lit "$5")"
}

log "following next_token to page 20 of every lookup"
for i in "${!SPECS[@]}"; do
	IFS='|' read -r label key value <<<"${SPECS[$i]}"
	lookup_sql "$key" "$value" NULL NULL "" >"$WORK/q/$i:p1"
	QIDS+=("$i:p1")
	if [[ $key != EventId ]]; then
		token="" page=1
		while ((page < 20)); do
			next=$(q "SELECT next_token FROM ($(lookup_sql "$key" "$value" NULL NULL "$token")) l LIMIT 1")
			[[ -n $next ]] || break
			token=$next
			page=$((page + 1))
		done
		if ((page > 1)); then
			lookup_sql "$key" "$value" NULL NULL "$token" >"$WORK/q/$i:p20"
			QIDS+=("$i:p20")
			PAGE_OF[$i:p20]=$page
		fi
	fi
	lookup_sql "$key" "$value" "'$PAST_START'" "'$PAST_END'" "" >"$WORK/q/$i:past"
	QIDS+=("$i:past")
done
# the first call of a new connection, for every lookup
for i in "${!SPECS[@]}"; do
	cp "$WORK/q/$i:p1" "$WORK/q/$i:new"
done

###############################################################################
# The rounds
###############################################################################

# psql's output of a run (\echo @@ <query id> before each timed query) as samples
samples_of() {
	awk '/^@@ / { id = $2; next } /^Time: / && id != "" { print id, $2; id = "" }' "$1" >>"$WORK/samples"
}

COND_BEFORE=$(machine_conditions start)
NQ=${#QIDS[@]}
log "measuring: $ROUNDS rounds of $NQ lookups (+${#SPECS[@]} new connections), each round after an unmeasured warm-up pass"
: >"$WORK/samples"
for ((r = 0; r < ROUNDS; r++)); do
	{
		printf '%s\n' '\pset pager off'
		printf '%s\n' '\o /dev/null'
		for id in "${QIDS[@]}"; do
			cat "$WORK/q/$id"
			echo ';'
		done
		printf '%s\n' '\timing on'
		# the measured pass, order rotated from round to round
		for ((n = 0; n < NQ; n++)); do
			id=${QIDS[$(((n + r * NQ / ROUNDS) % NQ))]}
			printf '\\echo @@ %s\n' "$id"
			cat "$WORK/q/$id"
			echo ';'
		done
	} >"$WORK/round.sql"
	"${PSQL[@]}" -f "$WORK/round.sql" >"$WORK/round.out"
	samples_of "$WORK/round.out"
	# the first call of a new session: one session per lookup
	for ((n = 0; n < ${#SPECS[@]}; n++)); do
		i=$(((n + r) % ${#SPECS[@]}))
		{
			printf '%s\n' '\pset pager off' '\o /dev/null' '\timing on' "\\echo @@ $i:new"
			cat "$WORK/q/$i:new"
			echo ';'
		} >"$WORK/new.sql"
		"${PSQL[@]}" -f "$WORK/new.sql" >"$WORK/new.out"
		samples_of "$WORK/new.out"
	done
	log "round $((r + 1))/$ROUNDS done"
done
COND_AFTER=$(machine_conditions end)

# Where the time goes: planning and execution of the page query that
# lookup_events runs (its dynamic SQL), from pg_stat_statements (track = all,
# track_planning on, in this session only): mean of 3 calls after a warm-up call.
log "planning/execution breakdown of every lookup (pg_stat_statements)"
q "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
declare -A PLAN_MS EXEC_MS
for id in "${QIDS[@]}"; do
	{
		echo "SET pg_stat_statements.track = 'all';"
		echo "SET pg_stat_statements.track_planning = on;"
		printf '%s\n' '\o /dev/null'
		cat "$WORK/q/$id"
		echo ';'
		echo 'SELECT pg_stat_statements_reset();'
		for _ in 1 2 3; do
			cat "$WORK/q/$id"
			echo ';'
		done
		printf '%s\n' '\o'
		# the innermost statement that reads the events: not top level, calls
		# neither PL/pgSQL layer (trail.lookup_events -> trail._lookup_rows -> a
		# query on trail.events, or the keyed attributes' trail._lookup_entries)
		echo "SELECT round((total_plan_time / calls)::numeric, 2), round(mean_exec_time::numeric, 2)
		        FROM pg_stat_statements
		       WHERE NOT toplevel AND calls > 0 AND query !~ '(lookup_events|_lookup_rows)\s*\('
		       ORDER BY total_plan_time + total_exec_time DESC LIMIT 1;"
	} >"$WORK/breakdown.sql"
	IFS='|' read -r pm em < <("${PSQL[@]}" -At -f "$WORK/breakdown.sql") || pm='' em=''
	PLAN_MS[$id]=$pm
	EXEC_MS[$id]=$em
done

# What the first call of a new session opens: the relations of schema trail
# it holds locks on when it ends (a statement keeps the locks of what it
# opened until the transaction ends; catalog lookups keep none).
log "relations opened by the first call of a new session"
declare -A OPENED
for i in "${!SPECS[@]}"; do
	OPENED[$i]=$({
		echo 'BEGIN;'
		printf '%s\n' '\o /dev/null'
		cat "$WORK/q/$i:new"
		echo ';'
		printf '%s\n' '\o'
		echo "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')) || ' tables, ' ||
		              count(*) FILTER (WHERE c.relkind IN ('i', 'I')) || ' indexes'
		        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		       WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
		         AND c.relnamespace = 'trail'::regnamespace;"
		echo 'COMMIT;'
	} | "${PSQL[@]}" -At)
done

###############################################################################
# The report
###############################################################################

mkdir -p "$BENCH/results"
REPORT="$BENCH/results/lookup-$(date +%F-%H%M).md"

stats_of() { awk -v id="$1" '$1 == id { print $2 }' "$WORK/samples" | stats; }
ms() { awk -v v="$1" 'BEGIN { if (v < 10) printf "%.2f", v; else if (v < 100) printf "%.1f", v; else printf "%.0f", v }'; }

read -r BASE _ < <(stats_of "0:p1")
SLOW=()
{
	echo "# trail.lookup_events at $EVENTS events over $DAYS days"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/lookup.sh\`. Client-side wall time of"
	echo "\`SELECT * FROM trail.lookup_events(key, value, start, end, 50, token)\` through psql"
	echo "over the unix socket (planning, execution, fetching all 50 rows), $ROUNDS rounds;"
	echo "each round is one session that first runs every query once unmeasured, then every"
	echo "query once measured, in an order rotated per round. Goal: every page under $GOAL_MS ms."
	echo
	echo "## Store"
	echo
	echo "- $(q "SELECT to_char(count(*), 'FM999,999,999') FROM trail.events") events ($(q "SELECT to_char(count(*) FILTER (WHERE event_category = 'Management'), 'FM999,999,999') FROM trail.events") management) in $(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'trail.events'::regclass") partitions,"
	echo "  $(q "SELECT pg_size_pretty(sum(pg_table_size(inhrelid))) || ' of tables, ' || pg_size_pretty(sum(pg_indexes_size(inhrelid))) || ' of indexes' FROM pg_inherits WHERE inhparent = 'trail.events'::regclass"),"
	echo "  newest event $(date -u -d "@$STAMP_T_END" '+%F %T') UTC (store built in ${STAMP_BUILD_S}s: load ${STAMP_LOAD_S}s with $STAMP_JOBS sessions, vacuum + analyze ${STAMP_VACUUM_S}s)"
	echo "- trail measured: the store's extension was created from script md5 ${STAMP_EXT_MD5:0:12} = commit $(commit_of_md5 "$STAMP_EXT_MD5")"
	echo "  (now: repository at $(git -C "$BENCH/.." log -1 --format='%h' 2>/dev/null)$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ' with src/ or trail--1.0.sql modified'), installed script md5 $(ext_md5 | cut -c1-12), trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" | cut -c1-12))"
	echo "- settings: shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, others default (jit on); trail.retention_period=$(q 'SHOW trail.retention_period')"
	echo "- p1: first page; p20: the 20th page, asked with the next_token of page 19 (or the last page, see column page);"
	echo "  past: first page of the window $PAST_START .. $PAST_END; new connection: first call in a new session"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"
	echo "## Results (ms)"
	echo
	echo "| lookup | value | matching | page | median | min–max | IQR | × (no attribute, p1) | inner plan | inner exec | under $GOAL_MS ms |"
	echo "|---|---|--:|---|--:|--:|--:|--:|--:|--:|---|"
	for i in "${!SPECS[@]}"; do
		IFS='|' read -r label key value <<<"${SPECS[$i]}"
		for mode in new p1 p20 past; do
			id="$i:$mode"
			[[ -f $WORK/q/$id ]] || continue
			read -r med mn mx q1 q3 n < <(stats_of "$id")
			page=$mode
			case $mode in
			new) page="p1, new connection" ;;
			p20) page="p${PAGE_OF[$id]}" ;;
			esac
			flag=yes
			if awk -v m="$med" -v g="$GOAL_MS" 'BEGIN { exit !(m > g) }'; then
				flag="**NO**"
				SLOW+=("$id")
			elif awk -v m="$mx" -v g="$GOAL_MS" 'BEGIN { exit !(m > g) }'; then
				flag="median yes, max no"
			fi
			shown=$value
			[[ $key == EventId || $key == AccessKeyId ]] && shown="\`$value\`"
			echo "| $label | $shown | ${COUNTS[$i]} | $page | $(ms "$med") | $(ms "$mn")–$(ms "$mx") | $(ms "$q1")–$(ms "$q3") | $(awk -v a="$med" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }') | ${PLAN_MS[$id]:-–} | ${EXEC_MS[$id]:-–} | $flag |"
		done
	done
	echo
	echo "matching: management events with that attribute value in the whole store (the default window"
	echo "holds them all). Samples per cell: $ROUNDS. inner plan / inner exec: mean planning and execution"
	echo "time (ms) of the statement inside lookup_events that reads the events, from pg_stat_statements"
	echo "(track = all, track_planning = on, 3 calls after a warm-up call, measured after the rounds;"
	echo "planning is per call, so a plan cached by the session counts 0); the rest of the median is"
	echo "PL/pgSQL, the client round trip and fetching the rows. A new-connection row is the first"
	echo "call of a new session (one session per lookup and round): it also loads the catalog entries"
	echo "of every relation the call opens."
	echo
	echo "Relations of schema trail that the first call of a new session opens (locked at its end):"
	echo
	echo "| lookup | opened |"
	echo "|---|---|"
	for i in "${!SPECS[@]}"; do
		echo "| ${SPECS[$i]%%|*} | ${OPENED[$i]} |"
	done
} >"$REPORT"

# The plans of the slowest pages, as they run inside lookup_events.
SHOW=()
if ((${#SLOW[@]} > 0)); then
	mapfile -t SHOW < <(for id in "${SLOW[@]}"; do
		[[ ${id#*:} == new ]] && continue
		echo "$(stats_of "$id" | cut -d' ' -f1) $id"
	done | sort -gr | head -n "$MAX_PLANS" | cut -d' ' -f2)
fi
if ((${#SHOW[@]} > 0)); then
	log "capturing the plans of the ${#SHOW[@]} slowest pages"
	{
		echo
		echo "## Plans of the ${#SHOW[@]} slowest pages"
		echo
		echo "${#SLOW[@]} pages had a median over $GOAL_MS ms; the plans of the ${#SHOW[@]} slowest follow, as"
		echo "auto_explain (log_analyze, log_buffers, log_nested_statements) logged them on a second call"
		echo "in one session (timing overhead included; auto_explain shows no planning time, see the"
		echo "table). Runs of partition scans under one Append are shown as the first two and a summary line."
		for id in "${SHOW[@]}"; do
			i=${id%%:*}
			IFS='|' read -r label key value <<<"${SPECS[$i]}"
			{
				printf '%s\n' '\o /dev/null'
				cat "$WORK/q/$id"
				echo ';'
				echo "LOAD 'auto_explain';"
				echo "SET auto_explain.log_min_duration = '1ms';"
				echo "SET auto_explain.log_analyze = on;"
				echo "SET auto_explain.log_buffers = on;"
				echo "SET auto_explain.log_nested_statements = on;"
				echo "SET client_min_messages = log;"
				cat "$WORK/q/$id"
				echo ';'
			} >"$WORK/explain.sql"
			echo
			echo "### $label, ${id#*:}: \`$(cut -c1-200 "$WORK/q/$id")\`"
			echo
			echo "Median $(ms "$(stats_of "$id" | cut -d' ' -f1)") ms; page query: planning ${PLAN_MS[$id]:-?} ms, execution ${EXEC_MS[$id]:-?} ms."
			echo
			echo '```'
			"${PSQL[@]}" -f "$WORK/explain.sql" 2>&1 >/dev/null |
				sed -e 's/^psql:[^ ]* LOG:  /LOG:  /' | grep -v '^\s*$' | squash_partitions || true
			echo '```'
		done
	} >>"$REPORT"
fi

cat "$REPORT"
log "report written to $REPORT"
