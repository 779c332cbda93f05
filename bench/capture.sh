#!/usr/bin/env bash
# bench/capture.sh: what does capturing data events cost, next to other auditors?
#
#   bash bench/capture.sh
#
# One fresh cluster (shared_preload_libraries = 'trail,pgaudit', logging_collector
# on, shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync on),
# one database per configuration:
#     none             no auditing (trail and pgaudit preloaded, no extension created)
#     trail-statement  trail, every table of schema public selected for Data
#                      events (reads and writes), row_images 'none' (statement events)
#     trail-changed    the same, row_images 'changed' (the default)
#     trail-full       the same, row_images 'full'
#     pgaudit          CREATE EXTENSION pgaudit, pgaudit.log = 'write' (session
#                      logging to the server log)
#     plpgsql-trigger  an AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW PL/pgSQL
#                      trigger on every table writing to_jsonb(OLD/NEW) to audit_log
# Each round re-creates every database from scratch (pgbench -i, an empty table
# "bulk", then the configuration's auditing) just before measuring it, so every
# configuration starts each round from the same tables; the configurations run
# one after the other, the first one rotated each round (ABC.. BC..A CA..B ...).
# Measured in each configuration, in this order:
#   - pgbench TPC-B (built-in), scale SCALE, -c 2 -j 2, -T PGBENCH_SECONDS, with
#     synchronous_commit off, then on (after an unmeasured WARMUP_SECONDS run):
#     tps without initial connection time, and audit storage per transaction
#   - INSERT INTO bulk SELECT ... generate_series(1, 200000): ms (server clock,
#     one psql session, connection not included)
#   - UPDATE bulk SET a = a + 1 WHERE id <= 100000: ms
#   - audit storage written by the INSERT and by the UPDATE, per 100,000 rows:
#     trail: the sum of pg_total_relation_size of every table of schema trail;
#     plpgsql-trigger: audit_log; pgaudit: bytes appended to the server log files
# Then, once and not interleaved (BIG_ROWS > 0): the peak memory of one backend
# running UPDATE big SET a = a + 1 over BIG_ROWS rows with trail-changed (and,
# with BIG_BASELINE=1, the same UPDATE before trail is created in that database):
# VmHWM and the peak of RssAnon (private memory) sampled every 0.2 s.
#
# Output: a markdown report on stdout and in bench/results/capture-<date>-<time>.md.
# Settings (environment): CONFIGS (all six, space-separated), ROUNDS (3),
# PGBENCH_SECONDS (20), WARMUP_SECONDS (2), SCALE (10), BULK_ROWS (200000),
# UPDATE_ROWS (100000), BIG_ROWS (10000000; 0 skips the memory measurement),
# BIG_BASELINE (1), SELECT_READS (0: trail's selector has readOnly = false, writes
# only, like pgaudit's write logging and the trigger; 1 drops that field, so reads
# are selected too), PORT (55433), PRELOAD ('trail,pgaudit'), RESULTS (bench/results).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

ALL_CONFIGS="none trail-statement trail-changed trail-full pgaudit plpgsql-trigger"
CONFIGS=${CONFIGS:-$ALL_CONFIGS}
ROUNDS=${ROUNDS:-3}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-20}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
SCALE=${SCALE:-10}
BULK_ROWS=${BULK_ROWS:-200000}
UPDATE_ROWS=${UPDATE_ROWS:-100000}
BIG_ROWS=${BIG_ROWS:-10000000}
BIG_BASELINE=${BIG_BASELINE:-1}
SELECT_READS=${SELECT_READS:-0}
PORT=${PORT:-55433}
PRELOAD=${PRELOAD:-trail,pgaudit}
RESULTS=${RESULTS:-$BENCH/results}

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "capture.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

read -r -a CFGS <<<"$CONFIGS"
for c in "${CFGS[@]}"; do
	[[ " $ALL_CONFIGS " == *" $c "* ]] || {
		echo "capture.sh: unknown configuration $c (known: $ALL_CONFIGS)" >&2
		exit 2
	}
done
((${#CFGS[@]} > 0)) || { echo "capture.sh: CONFIGS is empty" >&2; exit 2; }
((UPDATE_ROWS <= BULK_ROWS)) || { echo "capture.sh: UPDATE_ROWS > BULK_ROWS" >&2; exit 2; }


W=$(mktemp -d /tmp/trail-bench-capture-rows.XXXXXX)
chmod 755 "$W"
C=$W/cluster
SOCK=$C/sock
LOGDIR=$C/data/log

SAMPLER_PID=
BIG_PSQL_PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
	[[ -n $BIG_PSQL_PID ]] && kill "$BIG_PSQL_PID" 2>/dev/null
	if ((rc != 0)) && [[ -d $LOGDIR ]]; then
		log "failed (exit $rc); the end of the server log:"
		find "$LOGDIR" -type f -name '*.log' | sort | tail -n 1 | xargs -r tail -n 30 >&2
	fi
	cluster_stop "$C"
	rm -rf -- "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

db_of() { echo "b_${1//-/_}"; }
psql_db() { # database, psql args...
	local db=$1
	shift
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}
is_trail() { [[ $1 == trail-* ]]; }

# what is measured: the installed library and script (others may reinstall them)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
COMMIT=$(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" 2>/dev/null | cut -c1-12), extension script md5 $(cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql 2>/dev/null | md5sum | cut -c1-12)"

###############################################################################
# The cluster
###############################################################################

log "cluster in $C (port $PORT, socket only), shared_preload_libraries = '$PRELOAD'"
cluster_init "$C" "$PORT" "shared_preload_libraries = '$PRELOAD'" \
	"logging_collector = on" "log_directory = 'log'" \
	"log_filename = 'postgresql-%Y-%m-%d_%H%M%S.log'"
cluster_start "$C"
psql_db postgres -c "SELECT 1" >/dev/null
PGAUDIT_VERSION=$(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pgaudit'")

# the server log's size: what pgaudit writes (the collector writes line-buffered
# files through a pipe: give it a moment)
log_bytes() {
	sleep 0.5
	find "$LOGDIR" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d\n", s }'
}

# bytes of every table of schema trail (leaf partitions, with indexes and TOAST)
trail_bytes() { # database
	psql_db "$1" -At -c "
		SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'trail' AND c.relkind = 'r'"
}

# bytes of audit storage of a configuration
audit_bytes() { # config
	local c=$1 db
	db=$(db_of "$c")
	case $c in
	none) echo 0 ;;
	pgaudit) log_bytes ;;
	plpgsql-trigger) psql_db "$db" -At -c "SELECT pg_total_relation_size('audit_log')" ;;
	trail-*) trail_bytes "$db" ;;
	esac
}

# rows in each audit table (trail: every top-level table of schema trail),
# as "table=count ..."
audit_rows() { # config
	local c=$1 db
	db=$(db_of "$c")
	case $c in
	plpgsql-trigger) psql_db "$db" -At -c "SELECT 'audit_log=' || count(*) FROM audit_log" ;;
	trail-*) psql_db "$db" -At -c "
		SELECT string_agg(format('%s=%s', c.relname,
				(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
					n.nspname, c.relname), false, true, '')))[1]::text), ' ' ORDER BY c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'trail' AND c.relkind IN ('r', 'p') AND NOT c.relispartition" ;;
	*) echo "" ;;
	esac
}

# "a=3 b=5" "a=1 b=5" -> "a +2" (tables that changed only)
rows_diff() {
	awk -v after="$1" -v before="$2" 'BEGIN {
		n = split(before, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, "="); old[kv[1]] = kv[2] }
		n = split(after, a, " "); out = ""
		for (i = 1; i <= n; i++) { split(a[i], kv, "="); d = kv[2] - old[kv[1]]; if (d != 0) out = out (out == "" ? "" : ", ") kv[1] " +" d }
		print (out == "" ? "none" : out) }'
}

TABLES=(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history bulk)

# the auditing of a configuration, on the freshly loaded database
setup_sql() { # config
	local c=$1 t
	case $c in
	none) ;;
	pgaudit)
		echo "CREATE EXTENSION pgaudit;"
		echo "ALTER DATABASE $(db_of "$c") SET pgaudit.log = 'write';"
		;;
	plpgsql-trigger)
		cat <<-'EOF'
			CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text, op text,
				changed_at timestamptz DEFAULT now(), old_row jsonb, new_row jsonb);
			CREATE FUNCTION audit_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				INSERT INTO audit_log (table_name, op, old_row, new_row)
				VALUES (TG_TABLE_NAME, TG_OP,
					CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
					CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
				RETURN NULL;
			END
			$$;
		EOF
		for t in "${TABLES[@]}"; do
			echo "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION audit_trigger();"
		done
		;;
	trail-*)
		local images=${c#trail-}
		[[ $images == statement ]] && images=none
		trail_sql "$images" "${TABLES[@]}"
		;;
	esac
}

# CREATE EXTENSION trail, every table of schema public selected for data events
# (also those created later: the selector is the ARN prefix of the schema), and
# the row images of each table given
trail_sql() { # row_images table...
	local images=$1 t ro=
	shift
	((SELECT_READS)) || ro="
			jsonb_build_object('Field', 'readOnly', 'Equals', jsonb_build_array('false')),"
	cat <<-EOF
		CREATE EXTENSION trail;
		SELECT jsonb_build_array(jsonb_build_object(
			'Name', 'bench tables',
			'FieldSelectors', jsonb_build_array(
				jsonb_build_object('Field', 'eventCategory', 'Equals', jsonb_build_array('Data')),
				jsonb_build_object('Field', 'resources.type', 'Equals', jsonb_build_array('PG::Table')),$ro
				jsonb_build_object('Field', 'resources.ARN', 'StartsWith', jsonb_build_array(
					regexp_replace(trail.table_arn('public.$1'::regclass), '$1\$', '')))))) AS selectors
		\gset
		SELECT trail.update_event_data_store(advanced_event_selectors => :'selectors') \g /dev/null
	EOF
	for t in "$@"; do
		echo "SELECT trail.set_capture_options('public.$t', row_images => '$images') \\g /dev/null"
	done
}

# a fresh database for a configuration: pgbench tables, an empty bulk table, auditing
setup_db() { # config
	local c=$1 db
	db=$(db_of "$c")
	psql_db postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" || return 1
	"$PG_BIN/pgbench" -i -q -s "$SCALE" -h "$SOCK" -p "$PORT" -U postgres "$db" >"$W/init.out" 2>&1 ||
		{ cat "$W/init.out" >&2; return 1; }
	psql_db "$db" -c "CREATE TABLE bulk (id int PRIMARY KEY, a int, b text, c timestamptz)" || return 1
	setup_sql "$c" | psql_db "$db" -f - || return 1
	psql_db "$db" -c "CHECKPOINT" || return 1
}

# pgbench TPC-B; prints "tps transactions"
run_pgbench() { # config sync seconds
	local c=$1 sync=$2 secs=$3 out=$W/pgbench.out
	PGOPTIONS="-c synchronous_commit=$sync" "$PG_BIN/pgbench" -c 2 -j 2 -T "$secs" \
		-h "$SOCK" -p "$PORT" -U postgres "$(db_of "$c")" >"$out" 2>&1 ||
		{ log "pgbench failed on $c:"; tail -n 20 "$out" >&2; return 1; }
	awk '/^tps = .*without initial connection time/ { tps = $3 }
	     /^number of transactions actually processed:/ { n = $NF; sub(/\/.*/, "", n) }
	     /^number of failed transactions: / { f = $5 }
	     END { if (tps == "" || n == "") exit 1; if (f + 0 > 0) exit 2; print tps, n }' "$out" ||
		{ log "pgbench on $c: no tps, or failed transactions:"; tail -n 20 "$out" >&2; return 1; }
}

# one timed statement, server clock, in one session; prints ms
timed_sql() { # config sql
	psql_db "$(db_of "$1")" -At <<-EOF
		SELECT clock_timestamp() AS t0 \gset
		$2;
		SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3);
	EOF
}

RES=$W/results   # lines: config round metric value
ROWS=$W/rows     # lines: config round workload|diff
ERRS=$W/errors
: >"$RES"
: >"$ROWS"
: >"$ERRS"
rec() { echo "$1 $2 $3 $4" >>"$RES"; }
fail() { # config round what
	echo "- round $2, $1: $3 failed" >>"$ERRS"
	log "round $2, $1: $3 FAILED"
}

measure() { # config round
	local c=$1 r=$2 b0 b1 out tps n ms rows0 rows1 sync
	if ! setup_db "$c"; then fail "$c" "$r" "setup"; return; fi
	# a failing workload is reported, and the next ones still run
	if ((WARMUP_SECONDS > 0)); then
		run_pgbench "$c" off "$WARMUP_SECONDS" >/dev/null || fail "$c" "$r" "pgbench warm-up"
	fi
	local summary="$c:"
	for sync in off on; do
		b0=$(audit_bytes "$c")
		if out=$(run_pgbench "$c" "$sync" "$PGBENCH_SECONDS"); then
			read -r tps n <<<"$out"
			b1=$(audit_bytes "$c")
			rec "$c" "$r" "tps_$sync" "$tps"
			rec "$c" "$r" "bytes_tx_$sync" "$(awk -v a="$b0" -v b="$b1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')"
			summary+=" tps($sync) $(printf '%.0f' "$tps")"
		else
			fail "$c" "$r" "pgbench synchronous_commit=$sync"
		fi
	done
	local what sql
	for what in insert update; do
		if [[ $what == insert ]]; then
			sql="INSERT INTO bulk SELECT g, g, md5(g::text), now() FROM generate_series(1, $BULK_ROWS) g"
			n=$BULK_ROWS
		else
			sql="UPDATE bulk SET a = a + 1 WHERE id <= $UPDATE_ROWS"
			n=$UPDATE_ROWS
		fi
		rows0=$(audit_rows "$c")
		b0=$(audit_bytes "$c")
		if ms=$(timed_sql "$c" "$sql"); then
			b1=$(audit_bytes "$c")
			rows1=$(audit_rows "$c")
			rec "$c" "$r" "${what}_ms" "$ms"
			rec "$c" "$r" "bytes_$what" "$(awk -v a="$b0" -v b="$b1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 100000 / n }')"
			if [[ -n $rows1 ]]; then echo "$c|$r|$what|$(rows_diff "$rows1" "$rows0")" >>"$ROWS"; fi
			summary+=" $what $(printf '%.0f' "$ms") ms"
		else
			fail "$c" "$r" "$what"
		fi
	done
	log "round $r/$ROUNDS $summary"
}

###############################################################################
# The rounds
###############################################################################

COND_BEFORE=$(machine_conditions start)
T_START=$(date +%s)
NC=${#CFGS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < NC; i++)); do
		measure "${CFGS[$(((i + r - 1) % NC))]}" "$r"
	done
done
T_ROUNDS=$(($(date +%s) - T_START))

###############################################################################
# Peak memory of one big UPDATE with row events
###############################################################################

BIG=$W/big
: >"$BIG"
# run an UPDATE of every row of big in one session, sampling its backend's
# memory every 0.2 s; appends "label key value" lines to $BIG
big_update() { # label
	local label=$1 pidfile=$W/big.pid samples=$W/big.samples pid i
	rm -f "$pidfile"
	: >"$samples"
	psql_db b_big -At >"$W/big.out" 2>&1 <<-EOF &
		\o $pidfile
		SELECT pg_backend_pid();
		\o
		SELECT pg_sleep(0.5) \g /dev/null
		SELECT clock_timestamp() AS t0 \gset
		UPDATE big SET a = a + 1;
		SELECT 'ms ' || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3);
		SELECT pg_sleep(1) \g /dev/null
	EOF
	BIG_PSQL_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $pidfile ]] && break
		sleep 0.1
	done
	pid=$(tr -dc 0-9 <"$pidfile" 2>/dev/null || true)
	if [[ -z $pid ]]; then
		wait "$BIG_PSQL_PID" || true
		BIG_PSQL_PID=
		log "big UPDATE ($label): no backend pid"
		cat "$W/big.out" >&2
		return 1
	fi
	(
		while [[ -r /proc/$pid/status ]]; do
			awk '/^(VmHWM|VmRSS|RssAnon|RssShmem):/ { printf "%s %s ", $1, $2 } END { print "" }' \
				"/proc/$pid/status" 2>/dev/null || true
			sleep 0.2
		done
	) >"$samples" &
	SAMPLER_PID=$!
	local rc=0
	wait "$BIG_PSQL_PID" || rc=$?
	BIG_PSQL_PID=
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=
	if ((rc != 0)); then
		log "big UPDATE ($label) failed:"
		cat "$W/big.out" >&2
		echo "$label error $(grep -m1 ERROR "$W/big.out" | tr -s ' ' | cut -c1-200)" >>"$BIG"
		return 1
	fi
	{
		echo "$label ms $(awk '$1 == "ms" { print $2 }' "$W/big.out")"
		awk -v l="$label" '
			{ for (i = 1; i < NF; i += 2) { k = $i; sub(/:$/, "", k); if ($(i + 1) > m[k]) m[k] = $(i + 1) } ; n++ }
			END { for (k in m) print l, k, m[k]; print l, "samples", n }' "$samples"
		# RssAnon along the statement: at each tenth of the samples, MB
		awk -v l="$label" '{ for (i = 1; i < NF; i += 2) if ($i == "RssAnon:") v[++n] = $(i + 1) }
			END { if (n == 0) exit; s = ""; for (k = 1; k <= 10; k++) { j = int((n * k + 9) / 10); s = s (k > 1 ? "," : "") sprintf("%.0f", v[j] / 1024) }; print l, "profile", s }' "$samples"
	} >>"$BIG"
}

BIG_NOTE=
if ((BIG_ROWS > 0)); then
	# the rounds' databases are no longer needed: free their disk
	for c in "${CFGS[@]}"; do
		psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $(db_of "$c") WITH (FORCE)"
	done
	log "big UPDATE: loading $BIG_ROWS rows into b_big (id int primary key, a int, b text)"
	T0=$(date +%s)
	psql_db postgres -c "CREATE DATABASE b_big"
	psql_db b_big <<-EOF
		CREATE TABLE big (id int, a int, b text);
		INSERT INTO big SELECT g, g, md5(g::text) FROM generate_series(1, $BIG_ROWS) g;
		ALTER TABLE big ADD PRIMARY KEY (id);
		VACUUM ANALYZE big;
		CHECKPOINT;
	EOF
	log "big UPDATE: loaded in $(($(date +%s) - T0)) s"
	if ((BIG_BASELINE)); then
		log "big UPDATE: without trail in this database"
		if big_update none; then
			psql_db b_big -c "VACUUM big" -c "CHECKPOINT"
		else
			BIG_NOTE+="- the UPDATE without trail failed"$'\n'
		fi
		log "big UPDATE: $(grep '^none ms' "$BIG" | awk '{ printf "%.0f ms", $3 }')"
	fi
	log "big UPDATE: with trail (row_images 'changed')"
	if trail_sql changed big | psql_db b_big -f -; then
		TB0=$(trail_bytes b_big)
		psql_db b_big -c "CHECKPOINT"
		if big_update trail-changed; then
			TB1=$(trail_bytes b_big)
			echo "trail-changed storage $((TB1 - TB0))" >>"$BIG"
		else
			BIG_NOTE+="- the UPDATE with trail failed: $(awk '$1 == "trail-changed" && $2 == "error" { $1 = $2 = ""; print substr($0, 3) }' "$BIG")"$'\n'
		fi
		log "big UPDATE: $(grep '^trail-changed ms' "$BIG" | awk '{ printf "%.0f ms", $3 }')"
	else
		BIG_NOTE+="- setting up trail in the big database failed"$'\n'
	fi
	psql_db postgres -c "DROP DATABASE b_big WITH (FORCE)"
fi
T_TOTAL=$(($(date +%s) - T_START))
COND_AFTER=$(machine_conditions end)
# problems the server logged during the run (pgaudit's lines are LOG, not counted)
find "$LOGDIR" -type f -name '*.log' -print0 | sort -z | xargs -0 -r cat |
	grep -E '^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] (ERROR|WARNING|FATAL|PANIC):' >"$W/problems" || true

###############################################################################
# The report
###############################################################################

mkdir -p "$RESULTS"
REPORT="$RESULTS/capture-$(date +%F-%H%M).md"
declare -A DESC=(
	[none]="no auditing"
	[trail-statement]="trail, statement events (row_images none)"
	[trail-changed]="trail, row events (row_images changed)"
	[trail-full]="trail, row events (row_images full)"
	[pgaudit]="pgaudit $PGAUDIT_VERSION, pgaudit.log = write"
	[plpgsql-trigger]="PL/pgSQL row trigger into audit_log (jsonb)"
)
# the issue's targets, as ratio to none: "min" for tps, "max" for times
declare -A TARGET=(
	[tps_off:trail-changed]="min 0.85" [tps_on:trail-changed]="min 0.90"
	[tps_off:trail-statement]="min 0.95" [tps_on:trail-statement]="min 0.95"
	[insert_ms:trail-changed]="max 3" [insert_ms:trail-full]="max 3"
)
med() { # config metric -> "median min max n" (empty when no value)
	local s
	s=$(awk -v c="$1" -v m="$2" '$1 == c && $3 == m { print $4 }' "$RES" | stats)
	read -r a b d _ _ n <<<"$s"
	if ((n > 0)); then echo "$a $b $d $n"; fi
}

workload_table() { # metric unit decimals
	local m=$1 unit=$2 d=$3 c base s a lo hi n rt t kind lim verdict
	base=$(med none "$m" | cut -d' ' -f1)
	echo "| configuration | median $unit | min–max $unit | n | × none | target |"
	echo "|---|--:|--:|--:|--:|---|"
	for c in "${CFGS[@]}"; do
		s=$(med "$c" "$m")
		if [[ -z $s ]]; then
			echo "| $c | failed | | 0 | | |"
			continue
		fi
		read -r a lo hi n <<<"$s"
		rt="–"
		[[ -n $base && $base != 0 ]] && rt=$(awk -v a="$a" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
		t=${TARGET[$m:$c]:-}
		verdict=
		if [[ -n $t ]]; then
			read -r kind lim <<<"$t"
			if [[ $rt == "–" ]]; then
				verdict="$( [[ $kind == min ]] && echo "≥" || echo "≤") $lim (no baseline)"
			elif awk -v r="$rt" -v l="$lim" -v k="$kind" 'BEGIN { exit !(k == "min" ? r >= l : r <= l) }'; then
				verdict="$( [[ $kind == min ]] && echo "≥" || echo "≤") $lim: met"
			else
				verdict="$( [[ $kind == min ]] && echo "≥" || echo "≤") $lim: **missed**"
			fi
		fi
		echo "| $c | $(fmt "$a" "$d") | $(fmt "$lo" "$d")–$(fmt "$hi" "$d") | $n | $rt | $verdict |"
	done
}

{
	echo "# trail capture cost: data events next to no auditing, pgaudit and a PL/pgSQL trigger"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/capture.sh\` (commit $COMMIT), ${T_TOTAL} s in all"
	echo "(rounds ${T_ROUNDS} s). One cluster, shared_preload_libraries = '$PRELOAD', logging_collector on,"
	echo "shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync on, others default."
	echo "One database per configuration, re-created from scratch (pgbench -i -s $SCALE, empty \`bulk\`"
	echo "table, then the auditing, CHECKPOINT) right before it is measured in each of $ROUNDS rounds;"
	echo "configurations one after the other, the first rotated each round."
	echo
	echo "| configuration | what |"
	echo "|---|---|"
	for c in "${CFGS[@]}"; do echo "| $c | ${DESC[$c]} |"; done
	echo
	if [[ " $CONFIGS " == *" trail-"* ]]; then
		echo
		echo "trail's advanced event selector: eventCategory = Data, resources.type = PG::Table,"
		if ((SELECT_READS)); then
			echo "resources.ARN StartsWith the ARN prefix of schema public; no readOnly field, so reads are"
			echo "selected as well as writes (pgbench's SELECT too). Row images set per table with"
		else
			echo "readOnly = false (writes only), resources.ARN StartsWith the ARN prefix of schema public."
			echo "Row images set per table with"
		fi
		echo "\`trail.set_capture_options\` on the four pgbench tables and \`bulk\`."
	fi
	echo
	echo "trail: $TRAIL_VERSION"
	if [[ -s $ERRS ]]; then
		echo
		echo "**Failures** (see the progress on stderr):"
		echo
		cat "$ERRS"
	fi
	problems_section "$W/problems"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"
	echo "## pgbench TPC-B, synchronous_commit = off"
	echo
	echo "Scale $SCALE, \`-c 2 -j 2 -T $PGBENCH_SECONDS\`, tps without initial connection time (higher is better)."
	echo
	workload_table tps_off tps 0
	echo
	echo "## pgbench TPC-B, synchronous_commit = on"
	echo
	workload_table tps_on tps 0
	echo
	echo "## INSERT of $(fmt "$BULK_ROWS" 0) rows in one statement"
	echo
	echo "\`INSERT INTO bulk SELECT g, g, md5(g::text), now() FROM generate_series(1, $BULK_ROWS) g\`,"
	echo "into \`bulk (id int PRIMARY KEY, a int, b text, c timestamptz)\`; server-side ms including"
	echo "the commit (synchronous_commit on) (lower is better)."
	echo
	workload_table insert_ms ms 0
	echo
	echo "## UPDATE of $(fmt "$UPDATE_ROWS" 0) rows in one statement"
	echo
	echo "\`UPDATE bulk SET a = a + 1 WHERE id <= $UPDATE_ROWS\` (lower is better)."
	echo
	workload_table update_ms ms 0
	echo
	echo "## Audit storage"
	echo
	echo "Bytes the auditing wrote: trail, the sum of \`pg_total_relation_size\` of every table of"
	echo "schema trail (partitions, their indexes and TOAST); plpgsql-trigger, \`audit_log\`; pgaudit,"
	echo "the bytes appended to the server log files. Per 100,000 rows of the UPDATE and of the"
	echo "INSERT, and per pgbench transaction (3 UPDATEs, 1 SELECT, 1 INSERT); median (min–max)."
	echo "pgaudit logs one line per statement and no row data: its figures are per statement, not per row."
	echo
	ref=$(med plpgsql-trigger bytes_update | cut -d' ' -f1)
	echo "| configuration | per 100,000 rows updated | × PL/pgSQL trigger | per 100,000 rows inserted | per transaction, sync off | per transaction, sync on |"
	echo "|---|--:|--:|--:|--:|--:|"
	for c in "${CFGS[@]}"; do
		row="| $c"
		for m in bytes_update REF bytes_insert bytes_tx_off bytes_tx_on; do
			if [[ $m == REF ]]; then
				s=$(med "$c" bytes_update)
				if [[ -n $s && -n $ref && $ref != 0 && $c != none && $c != plpgsql-trigger ]]; then
					rt=$(awk -v a="${s%% *}" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
					if is_trail "$c" && [[ $c != trail-statement ]]; then
						if awk -v r="$rt" 'BEGIN { exit !(r < 1) }'; then rt+=" (smaller: met)"; else rt+=" (**not smaller**)"; fi
					fi
					row+=" | $rt"
				else
					row+=" | –"
				fi
				continue
			fi
			s=$(med "$c" "$m")
			if [[ -z $s ]]; then row+=" | –"; continue; fi
			read -r a lo hi _ <<<"$s"
			row+=" | $(fmt "$a" 0) ($(fmt "$lo" 0)–$(fmt "$hi" 0))"
		done
		echo "$row |"
	done
	if [[ -s $ROWS ]]; then
		echo
		echo "Rows the auditing added per statement (round 1; later rounds differ only where noted):"
		echo
		echo "| configuration | INSERT of $(fmt "$BULK_ROWS" 0) rows | UPDATE of $(fmt "$UPDATE_ROWS" 0) rows |"
		echo "|---|---|---|"
		for c in "${CFGS[@]}"; do
			grep -q "^$c|" "$ROWS" || continue
			first=$(awk -F'|' -v c="$c" '$1 == c { print $2; exit }' "$ROWS")
			ins=$(awk -F'|' -v c="$c" -v r="$first" '$1 == c && $2 == r && $3 == "insert" { print $4 }' "$ROWS")
			upd=$(awk -F'|' -v c="$c" -v r="$first" '$1 == c && $2 == r && $3 == "update" { print $4 }' "$ROWS")
			differ=$(awk -F'|' -v c="$c" '$1 == c { k = $3; if (k in v && v[k] != $4) d = d " round " $2 " " k ": " $4 ";"; if (!(k in v)) v[k] = $4 } END { print d }' "$ROWS")
			echo "| $c | ${ins:-–} | ${upd:-–}${differ:+ (differs:$differ)} |"
		done
	fi
	echo
	echo "## Peak memory of one big UPDATE"
	echo
	if ((BIG_ROWS == 0)); then
		echo "Not measured (BIG_ROWS=0)."
	else
		echo "\`UPDATE big SET a = a + 1\` over \`big (id int PRIMARY KEY, a int, b text)\` of $(fmt "$BIG_ROWS" 0) rows,"
		echo "one statement in one session, measured once (not interleaved), in a database of its own"
		echo "on the same cluster. VmHWM is the backend's peak resident set size, which includes the"
		echo "pages of shared_buffers it touched; RssAnon is its private memory, sampled every 0.2 s"
		echo "from /proc/<pid>/status during the statement (peak of the samples)."
		echo
		echo "| | time ms | peak RssAnon (private) | VmHWM (incl. shared buffers) | peak RssShmem | samples | trail storage written |"
		echo "|---|--:|--:|--:|--:|--:|--:|"
		for l in none trail-changed; do
			grep -q "^$l " "$BIG" || continue
			g() { awk -v l="$l" -v k="$1" '$1 == l && $2 == k { print $3 }' "$BIG"; }
			if grep -q "^$l error" "$BIG"; then
				echo "| $l | failed: $(awk -v l="$l" '$1 == l && $2 == "error" { $1 = $2 = ""; print substr($0, 3) }' "$BIG") | | | | | |"
				continue
			fi
			kb() { if [[ -n $1 ]]; then awk -v v="$1" 'BEGIN { printf "%.1f MB", v / 1024 }'; else echo –; fi; }
			st=$(g storage)
			if [[ -n $st ]]; then st=$(awk -v v="$st" 'BEGIN { printf "%.0f MB", v / 1048576 }'); fi
			name=$([[ $l == none ]] && echo "without trail" || echo "trail, row_images changed")
			echo "| $name | $(fmt "$(g ms)" 0) | $(kb "$(g RssAnon)") | $(kb "$(g VmHWM)") | $(kb "$(g RssShmem)") | $(g samples) | ${st:-–} |"
		done
		echo
		echo "RssAnon along the session (MB at each tenth of the samples; the statement ends about"
		echo "five samples before the last):"
		echo
		for l in none trail-changed; do
			p=$(awk -v l="$l" '$1 == l && $2 == "profile" { print $3 }' "$BIG")
			[[ -z $p ]] || echo "- $([[ $l == none ]] && echo "without trail" || echo "trail, row_images changed"): ${p//,/, }"
		done
		if [[ -n $BIG_NOTE ]]; then echo; printf '%s' "$BIG_NOTE"; fi
	fi
	echo
	echo "## Targets (from the issue)"
	echo
	echo "- trail row events (\`changed\`) ≥ 85 % of no-audit TPS with synchronous_commit off, ≥ 90 % with it on"
	echo "- trail statement events ≥ 95 % of no-audit TPS"
	echo "- the 200,000-row INSERT with row events ≤ 3× the no-audit time"
	echo "- event storage per 100,000 changes smaller than the PL/pgSQL reference"
	echo
	echo "## Every value, in run order"
	echo
	echo '```'
	echo "round configuration metric value"
	awk '{ printf "%s %-16s %-13s %s\n", $2, $1, $3, $4 }' "$RES"
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
