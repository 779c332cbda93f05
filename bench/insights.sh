#!/usr/bin/env bash
# bench/insights.sh: how long do an Insights detection cycle and a baseline
# recomputation take over 28 days of history at 1 million management events
# a day?
#
#   bash bench/insights.sh                                the full run (~1 h, ~60 GB of disk)
#   DAYS=3 PER_DAY=50000 ROUNDS=2 bash bench/insights.sh  a smoke run (~3 min)
#
# The issue's goal: "one detection cycle and one baseline recomputation over
# 28 days of history at 1 million management events per day. Goal: both
# under 1 second."
#
# One fresh cluster (port PORT, private unix socket, no TCP) with
# shared_preload_libraries = 'trail', track_functions = 'all' (the breakdown
# below; nothing else differs from trail's defaults: trail.insights_baseline_days
# = 28) and the bench settings of lib.sh (shared_buffers=1GB, max_wal_size=4GB,
# checkpoint_timeout=30min, fsync on, work_mem and everything else default),
# one database "insights" with trail and no trail (so the worker runs no
# Insights cycle: every cycle here is trail.run_insights, the same code).
#
# 1. The history, through the real path.  D = today's UTC midnight.  DAYS
#    days before D, PER_DAY AWS-style management records a day, as
#    FILES_PER_DAY CloudTrail log files a day ({"Records": [...]}, gzip -1),
#    each file a slice of its day with random event times, generated in the
#    server (SQL format() into COPY ... TO PROGRAM 'gzip -1 > f') by JOBS
#    sessions in parallel.  The mix: 40 APIs of 5 event sources (ec2, s3,
#    iam, rds, lambda) chosen with Zipf-like weights (API k of 40 with
#    probability ln((k+1)/k)/ln 41: 18.7 % for the first, 0.7 % for the
#    last), 12 of them read-only (Describe*, List*, Get*: 53 % of the
#    calls, the most frequent among them), 50 users
#    (Zipf-like the same way), 8 user agents (likewise), 2 % errors
#    (AccessDenied 1.2 %, ThrottlingException 0.6 %, InvalidParameterValue
#    0.2 %), one region and account; records of ~700 bytes (identity with an
#    access key, request parameters, requestID, eventID).  Then
#    trail.import_logs(<day directory>), one call per day (each one
#    transaction), in IMPORT_JOBS sessions (default 1: two imports at once
#    fail when both make partitions: the first holds its lock on the default
#    partitions until it commits, the second gives up after the partition
#    lock_timeout): records/s over the wall time.
#    A day's files are deleted once imported (KEEP=1 keeps them).
# 2. The first cycle: trail.run_insights(D - 1 minute) folds every imported
#    event into the rollups (trail.insight_rollups, trail.insight_attributions),
#    makes the baselines (window ending at D - 1 day, the UTC day of as_of)
#    and examines a day of minutes.  Timed; then VACUUM (ANALYZE) of the
#    database and CHECKPOINT (timed too), so that autovacuum and the
#    checkpointer stay out of the rounds.
# 3. Cycles on day D, each one transaction in one psql session (no connection
#    time): its untimed input is imported first (trail.import_logs of small
#    files generated beforehand), then BEGIN; t0 := clock_timestamp();
#    run_insights(as_of); the function statistics of the transaction
#    (pg_stat_xact_user_functions); COMMIT; clock_timestamp() - t0.  as_of
#    advances one minute per cycle, and each cycle's input is the traffic of
#    the minute it examines (PER_DAY / 1440 records, the same mix):
#      - "first of day D": as_of D + 1 min: the window's end moved to D, so
#        every baseline is made again over the DAYS days; examines 2 minutes;
#    then ROUNDS rounds of six cycles:
#      a. "baseline recomputation": one late record inside the baseline
#         window (an import of history: a write call of D - 3 days, a
#         different minute each round) plus the minute's traffic; the cycle folds them, sees the
#         late one in the window, recomputes every baseline over the DAYS
#         days, and examines the minute;
#      b. "detection": the minute's traffic only: fold it, examine the minute;
#      c. "detection, insight starts": the minute's traffic plus BURST calls
#         of one rarely called write API (lambda PublishVersion, ~0.7 % of
#         the calls) by one user: the Start, its attributions from the events;
#      d. "detection, insight ends": the minute's traffic only: the End, its
#         attributions from the events of the insight's minutes;
#      e. and f.: a. and b. again with SET jit = off in the cycle's session
#         (PostgreSQL's default is on: a statement whose estimated cost is
#         over jit_above_cost is compiled first), side by side with them.
#    Each cycle must write what it should (c: one Start, d: one End, others
#    none) and call trail._insights_baselines exactly when it should (first
#    of day D, a and e: once; b, c, d, f: never); the report says otherwise.
#
# Reported: the scale; generation, import (records/s) and store size; the
# first cycle's time and what it folded; per kind of cycle median,
# min–max and the number of rounds, and the same for the time inside
# trail._insights_fold, trail._insights_baselines and trail._insights_detect
# (pg_stat_xact_user_functions total time; the rest is the C code: reading
# the state, storing Insight events, commit); rollup row counts; the goal
# (< 1 s) met or missed for the median and for the slowest round.
#
# Output: a markdown report on stdout and in RESULTS/insights-<date>-<time>.md.
# Settings (environment): DAYS (28), PER_DAY (1000000), FILES_PER_DAY (10),
# ROUNDS (7), JOBS (2: sessions generating the files in parallel),
# IMPORT_JOBS (1: sessions importing in parallel; see 1.), BURST
# (300), SEED (1), PORT (5535), WORKDIR (/tmp: the run's directory,
# trail-bench-insights.XXXXXX, is made under it), RESULTS (bench/results),
# KEEP (0; 1 keeps the run's directory, the stopped cluster and the files).
# Disk: about 1.1 KB per record (the store ~0.95 KB with its indexes, the
# gzip files ~0.1 KB until imported) plus up to ~6 GB of WAL: ~37 GB at full
# scale; the script stops before starting when the file system of WORKDIR
# has less free space than its estimate.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

DAYS=${DAYS:-28}
PER_DAY=${PER_DAY:-1000000}
FILES_PER_DAY=${FILES_PER_DAY:-10}
ROUNDS=${ROUNDS:-7}
JOBS=${JOBS:-2}
IMPORT_JOBS=${IMPORT_JOBS:-1}
BURST=${BURST:-300}
SEED=${SEED:-1}
PORT=${PORT:-5535}
WORKDIR=${WORKDIR:-/tmp}
RESULTS=${RESULTS:-$BENCH/results}
KEEP=${KEEP:-0}

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "insights.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

for v in DAYS PER_DAY FILES_PER_DAY ROUNDS JOBS IMPORT_JOBS BURST SEED PORT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "insights.sh: $v must be a whole number" >&2; exit 2; }
done
((DAYS >= 2 && PER_DAY >= 1440 && FILES_PER_DAY > 0 && ROUNDS > 0 && JOBS > 0 && IMPORT_JOBS > 0 && BURST >= 15)) || {
	echo "insights.sh: DAYS >= 2 (a baseline needs a day of history), PER_DAY >= 1440, BURST >= 15, others positive" >&2
	exit 2
}
((PER_DAY % FILES_PER_DAY == 0)) || { echo "insights.sh: PER_DAY must be a multiple of FILES_PER_DAY" >&2; exit 2; }


TOTAL=$((DAYS * PER_DAY))
PER_MINUTE=$((PER_DAY / 1440))
# the disk estimate: store 1,650 B/record (1,614 measured at 28 M), files 110 B/record, 6 GB of WAL, 10 % margin
NEED_GB=$(awk -v n="$TOTAL" 'BEGIN { printf "%.1f", (n * (1650 + 110) + 6e9) * 1.1 / 1e9 }')
mkdir -p "$WORKDIR"
FREE_GB=$(df -P -B1 "$WORKDIR" | awk 'NR == 2 { printf "%.1f", $4 / 1e9 }')
if awk -v f="$FREE_GB" -v n="$NEED_GB" 'BEGIN { exit !(f < n) }'; then
	echo "insights.sh: $FREE_GB GB free under $WORKDIR, about $NEED_GB GB needed for DAYS=$DAYS x PER_DAY=$PER_DAY; use a smaller scale" >&2
	exit 1
fi

W=$(mktemp -d "$WORKDIR/trail-bench-insights.XXXXXX")
chmod 755 "$W"
C=$W/cluster
SOCK=$C/sock
FILES=$W/files
DB=insights

trap stop_bench_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_db() { # psql args...
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"
}
q() { psql_db -At -c "$1"; }
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == "" || b + 0 == 0 || a == "") print "–"; else printf "%.*f\n", d, a / b }'; }

RES=$W/results # lines: phase round metric value
ERRS=$W/errors
: >"$RES"
: >"$ERRS"
rec() { echo "$1 $2 $3 $4" >>"$RES"; }
fail() {
	echo "- $1" >>"$ERRS"
	log "FAILED: $1"
}
val() { awk -v p="$1" -v r="$2" -v m="$3" '$1 == p && $2 == r && $3 == m { v = $4 } END { print v }' "$RES"; }
# "median min max n" of a metric over the rounds (empty when none)
med() {
	local s a b c n
	s=$(awk -v p="$1" -v m="$2" '$1 == p && $3 == m && $4 != "" { print $4 }' "$RES" | stats)
	read -r a b c _ _ n <<<"$s"
	if ((n > 0)); then echo "$a $b $c $n"; fi
}

# what is measured: the installed library and script (others may reinstall them)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
COMMIT=$(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
installed_md5() { cat "$("$PG_CONFIG" --pkglibdir)/trail.so" "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql 2>/dev/null | md5sum | cut -c1-12; }
INSTALLED_AT_START=$(installed_md5)
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" | cut -c1-12), extension script md5 $(cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql | md5sum | cut -c1-12)"

###############################################################################
# The cluster and the generator
###############################################################################

log "scale: $DAYS days x $PER_DAY records = $TOTAL records; ~$NEED_GB GB of disk needed, $FREE_GB GB free"
log "cluster in $C (port $PORT, socket only)"
cluster_init "$C" "$PORT" "shared_preload_libraries = 'trail'" "track_functions = 'all'"
mkdir -p "$FILES"
if [[ $(id -u) == 0 ]]; then chown "$BENCH_OS_USER": "$FILES"; fi
cluster_start "$C"
"$PG_BIN/createdb" -h "$SOCK" -p "$PORT" -U postgres "$DB"
psql_db -c "SET client_min_messages = warning" -c "CREATE EXTENSION trail"

# bench_gen(path, t0, t1, n, burst_api, burst_n): a CloudTrail log file of
# n records at random times in [t0, t1), then burst_n calls of API number
# burst_api by user 99; one line per record (JSON allows the newlines), so
# COPY streams it without building the file in memory.  CSV with a quote
# and a delimiter that never occur leaves the text as it is.
psql_db <<'EOF'
CREATE FUNCTION bench_gen(path text, t0 timestamptz, t1 timestamptz, n int,
                          burst_api int DEFAULT 0, burst_n int DEFAULT 0)
RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE format($c$
COPY (
SELECT CASE WHEN r.g = 0 THEN '{"Records":['
            WHEN r.g > %3$s + %5$s THEN ']}'
            ELSE format('{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE%%s","arn":"arn:aws:iam::123456789012:user/user%%s","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE%%s","userName":"user%%s"},"eventTime":"%%s","eventSource":"%%s.amazonaws.com","eventName":"%%s","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.%%s","userAgent":"%%s",%%s"requestParameters":{"id":"r-%%s"},"responseElements":null,"requestID":"%%s","eventID":"%%s","readOnly":%%s,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}%%s',
                        r.usr, r.usr, r.usr, r.usr,
                        to_char(r.t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                        (ARRAY['ec2','s3','ec2','iam','ec2','lambda','s3','rds','ec2','iam','ec2','s3','lambda','rds','ec2','iam','s3','ec2','lambda','rds','iam','ec2','s3','rds','lambda','ec2','iam','s3','ec2','rds','lambda','iam','ec2','s3','rds','lambda','iam','ec2','rds','s3'])[r.a],
                        (ARRAY['DescribeInstances','ListBuckets','RunInstances','GetUser','DescribeVolumes','UpdateFunctionConfiguration','PutBucketTagging','DescribeDBInstances','CreateTags','ListRoles','DescribeSecurityGroups','DeleteBucketPolicy','UpdateFunctionCode','CreateDBSnapshot','StartInstances','AttachRolePolicy','PutBucketPolicy','StopInstances','CreateFunction','ModifyDBInstance','CreateAccessKey','AuthorizeSecurityGroupIngress','CreateBucket','DescribeDBSnapshots','DeleteFunction','CreateVolume','PutRolePolicy','PutBucketAcl','DeleteVolume','RebootDBInstance','ListFunctions','DeleteRolePolicy','TerminateInstances','GetBucketPolicy','DescribeDBClusters','PublishVersion','UpdateAssumeRolePolicy','CreateSnapshot','DeleteDBInstance','GetBucketEncryption'])[r.a],
                        r.usr %% 250 + 1,
                        (ARRAY['aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64','console.amazonaws.com','Boto3/1.34.0 Python/3.11.6','terraform/1.6.6','aws-sdk-go-v2/1.24.0','aws-sdk-java/2.21.0','cloudformation.amazonaws.com','aws-internal/3'])[r.ua],
                        CASE WHEN r.e < 0.012 THEN '"errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation",'
                             WHEN r.e < 0.018 THEN '"errorCode":"ThrottlingException","errorMessage":"Rate exceeded",'
                             WHEN r.e < 0.020 THEN '"errorCode":"InvalidParameterValue","errorMessage":"Invalid parameter",'
                             ELSE '' END,
                        r.rid, gen_random_uuid(), gen_random_uuid(),
                        CASE WHEN r.a IN (1, 2, 4, 5, 8, 10, 11, 24, 31, 34, 35, 40) THEN 'true' ELSE 'false' END,
                        CASE WHEN r.g < %3$s + %5$s THEN ',' ELSE '' END)
       END
  FROM (SELECT g,
               CASE WHEN g > %3$s THEN %4$s ELSE floor(exp(random() * ln(41)))::int END AS a,
               CASE WHEN g > %3$s THEN 99 ELSE floor(exp(random() * ln(51)))::int END AS usr,
               floor(exp(random() * ln(9)))::int AS ua,
               CASE WHEN g > %3$s THEN 1 ELSE random() END AS e,
               (random() * 1e9)::int AS rid,
               %1$L::timestamptz + random() * (%2$L::timestamptz - %1$L::timestamptz) AS t
          FROM generate_series(0, %3$s + %5$s + 1) g) r
) TO PROGRAM %6$L WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')$c$,
	t0, t1, n, burst_api, burst_n, 'gzip -1 > ' || path);
END
$f$;
EOF
BURST_API=36 # lambda PublishVersion, write, ~0.74 % of the calls
BURST_NAME=PublishVersion
D=$(q "SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
log "D = $D; the history: $DAYS days before it"

###############################################################################
# 1. The history
###############################################################################

COND_BEFORE=$(machine_conditions start)
T_START=$(date +%s)
PER_FILE=$((PER_DAY / FILES_PER_DAY))
# every file: "day file" pairs, split among JOBS sessions
for ((d = 0; d < DAYS; d++)); do
	mkdir -p "$FILES/day$d"
	for ((f = 0; f < FILES_PER_DAY; f++)); do echo "$d $f"; done
done >"$W/filelist"
if [[ $(id -u) == 0 ]]; then chown -R "$BENCH_OS_USER": "$FILES"; fi

log "generating $((DAYS * FILES_PER_DAY)) files of $PER_FILE records ($JOBS sessions)"
t0=$(now)
pids=()
for ((j = 0; j < JOBS; j++)); do
	awk -v j="$j" -v n="$JOBS" 'NR % n == j' "$W/filelist" | while read -r d f; do
		echo "SELECT bench_gen('$FILES/day$d/f$f.json.gz',
		        '$D'::timestamptz - interval '$((DAYS - d)) days' + $f * interval '1 day' / $FILES_PER_DAY,
		        '$D'::timestamptz - interval '$((DAYS - d)) days' + $((f + 1)) * interval '1 day' / $FILES_PER_DAY,
		        $PER_FILE);"
	done | psql_db -c "SELECT setseed($SEED / 1000.0 + $j / 100.0)" -f - >/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a generating session failed"; done
t1=$(now)
rec build all generate_s "$(dt "$t0" "$t1")"
rec build all files_bytes "$(du -sb "$FILES" | cut -f1)"
log "generated in $(dt "$t0" "$t1") s, $(du -sh "$FILES" | cut -f1)"

log "importing $DAYS days ($IMPORT_JOBS session(s), one trail.import_logs per day)"
t0=$(now)
pids=()
for ((j = 0; j < IMPORT_JOBS; j++)); do
	(
		for ((d = j; d < DAYS; d += IMPORT_JOBS)); do
			a=$(now)
			out=$(q "SELECT files || ' ' || records_imported || ' ' || duplicates_skipped || ' ' || expired_skipped
			           FROM trail.import_logs('$FILES/day$d')")
			echo "$d $out $(dt "$a" "$(now)")" >>"$W/imports.$j"
			((KEEP)) || rm -rf -- "${FILES:?}/day$d"
		done
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "an importing session failed"; done
t1=$(now)
cat "$W"/imports.* | sort -n >"$W/imports"
IMPORTED=$(awk '{ s += $3 } END { print s + 0 }' "$W/imports")
rec build all import_s "$(dt "$t0" "$t1")"
rec build all imported "$IMPORTED"
rec build all import_rps "$(div "$IMPORTED" "$(dt "$t0" "$t1")" 0)"
while read -r d files n dup exp secs; do
	rec import "$d" seconds "$secs"
	rec import "$d" records_per_s "$(div "$n" "$secs" 0)"
	((files == FILES_PER_DAY && n == PER_DAY && dup == 0 && exp == 0)) ||
		fail "day $d: import_logs read $files files, imported $n records, $dup duplicates, $exp expired (expected $FILES_PER_DAY files, $PER_DAY records)"
done <"$W/imports"
((IMPORTED == TOTAL)) || fail "$IMPORTED records imported, $TOTAL generated"
log "imported $IMPORTED records in $(dt "$t0" "$t1") s ($(div "$IMPORTED" "$(dt "$t0" "$t1")" 0) records/s)"
# every table of schema trail (before the first cycle: the events and their side tables)
STORE_BYTES=$(q "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'trail' AND c.relkind = 'r'")
rec build all store_bytes "$STORE_BYTES"

###############################################################################
# 2. The first cycle: fold everything
###############################################################################

# cycle KIND ROUND AS_OF [FILE...]: import the files (untimed), then one
# timed cycle at AS_OF; records ms, Insight events written, and the time of
# the trail functions inside it
cycle() {
	local kind=$1 round=$2 as_of=$3 f line
	shift 3
	{
		for f in "$@"; do echo "SELECT trail.import_logs('$f') \\g /dev/null"; done
		# the *_nojit kinds: the same cycle with JIT compilation off
		[[ $kind == *_nojit ]] && echo "SET jit = off;"
		cat <<-EOF
			BEGIN;
			SELECT clock_timestamp() AS t0 \gset
			SELECT count(*) AS n,
			       count(*) FILTER (WHERE insight_details->>'state' = 'Start'
			                          AND event_name = '$BURST_NAME') AS starts,
			       count(*) FILTER (WHERE insight_details->>'state' = 'End'
			                          AND event_name = '$BURST_NAME') AS ends,
			       coalesce(string_agg(event_name || ':' || (insight_details->>'insightType') || ':'
			                           || (insight_details->>'state'), ','), '-') AS what
			  FROM trail.run_insights('$as_of') \gset
			SELECT coalesce(string_agg(funcname || '=' || round(total_time::numeric, 2) || '/' || calls, ' '), '') AS funcs
			  FROM pg_stat_xact_user_functions WHERE schemaname = 'trail' \gset
			COMMIT;
			SELECT round((extract(epoch FROM clock_timestamp() - :'t0') * 1000)::numeric, 2)
			       || ' ' || :n || ' ' || :starts || ' ' || :ends || ' ' || :'what' || ' ' || :'funcs';
		EOF
	} | psql_db -At -f - >"$W/cycle.out" || return 1
	line=$(tail -n 1 "$W/cycle.out")
	read -r ms n starts ends what funcs <<<"$line"
	rec "$kind" "$round" ms "$ms"
	rec "$kind" "$round" events "$n"
	rec "$kind" "$round" written "$what"
	for f in $funcs; do
		# _insights_fold=123.45/1 -> fold ms, fold calls
		local name=${f%%=*} v=${f#*=}
		name=${name#_insights_}
		rec "$kind" "$round" "${name}_ms" "${v%/*}"
		rec "$kind" "$round" "${name}_calls" "${v#*/}"
	done
	log "$kind $round (as of $as_of): $ms ms, $n Insight events ($what)"
}

log "the first cycle, as of D - 1 minute: folds every imported event"
TEMP_STATS="SELECT temp_files || ' ' || temp_bytes FROM pg_stat_database WHERE datname = current_database()"
read -r temp_files0 temp_bytes0 < <(q "$TEMP_STATS")
cycle first 0 "$(q "SELECT '$D'::timestamptz - interval '1 minute'")"
read -r temp_files1 temp_bytes1 < <(q "$TEMP_STATS")
rec first 0 temp_files $((temp_files1 - temp_files0))
rec first 0 temp_bytes $((temp_bytes1 - temp_bytes0))
rec first 0 rollups "$(q "SELECT count(*) FROM trail.insight_rollups")"
rec first 0 attributions "$(q "SELECT count(*) FROM trail.insight_attributions")"
rec first 0 baselines "$(q "SELECT count(*) FROM trail.insight_baselines")"

log "VACUUM (ANALYZE) and CHECKPOINT"
t0=$(now)
psql_db -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
rec build all vacuum_s "$(dt "$t0" "$(now)")"

# every imported write call and error counted once (one scan of the store)
log "checking the rollups against the imported events"
read -r EXPECT_CALLS EXPECT_ERRORS < <(q "SELECT count(*) FILTER (WHERE NOT coalesce(read_only, false)) || ' '
                                                || count(*) FILTER (WHERE error_code IS NOT NULL)
                                           FROM trail.events WHERE imported_from IS NOT NULL")
read -r CALLS ERRORS < <(q "SELECT sum(calls) || ' ' || sum(errors) FROM trail.insight_rollups WHERE region = 'eu-west-1'")
rec first 0 folded_calls "$CALLS"
rec first 0 folded_errors "$ERRORS"
rec first 0 imported_calls "$EXPECT_CALLS"
rec first 0 imported_errors "$EXPECT_ERRORS"
[[ $CALLS == "$EXPECT_CALLS" && $ERRORS == "$EXPECT_ERRORS" ]] ||
	fail "the rollups count $CALLS write calls and $ERRORS errors; the imported history has $EXPECT_CALLS and $EXPECT_ERRORS"

###############################################################################
# 3. Cycles on day D
###############################################################################

# the inputs: the traffic of each minute examined, the late records
NCYCLES=$((1 + 6 * ROUNDS))
log "generating the inputs of $NCYCLES cycles ($PER_MINUTE records a minute)"
mkdir -p "$FILES/day-D"
if [[ $(id -u) == 0 ]]; then chown "$BENCH_OS_USER": "$FILES/day-D"; fi
{
	echo "SELECT setseed($SEED / 1000.0 + 0.5);"
	for ((m = 0; m < NCYCLES; m++)); do
		burst=0
		(((m - 1) % 6 == 2)) && burst=$BURST
		echo "SELECT bench_gen('$FILES/day-D/m$m.json.gz', '$D'::timestamptz + interval '$m minutes',
		        '$D'::timestamptz + interval '$((m + 1)) minutes', $PER_MINUTE, $BURST_API, $burst);"
	done
	for ((r = 1; r <= 2 * ROUNDS; r++)); do
		# a write call (ec2 RunInstances): read-only calls without an error
		# are not counted, so they change no baseline
		echo "SELECT bench_gen('$FILES/day-D/late$r.json.gz', '$D'::timestamptz - interval '3 days' + interval '$((7 * r)) minutes',
		        '$D'::timestamptz - interval '3 days' + interval '$((7 * r + 1)) minutes', 0, 3, 1);"
	done
} | psql_db -f - >/dev/null
at() { q "SELECT '$D'::timestamptz + interval '$1 minutes'"; }

cycle dayD 0 "$(at 1)" "$FILES/day-D/m0.json.gz"
m=1
for ((r = 1; r <= ROUNDS; r++)); do
	cycle baseline "$r" "$(at $((m + 1)))" "$FILES/day-D/late$r.json.gz" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
	cycle detect "$r" "$(at $((m + 1)))" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
	cycle start "$r" "$(at $((m + 1)))" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
	cycle end "$r" "$(at $((m + 1)))" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
	cycle baseline_nojit "$r" "$(at $((m + 1)))" "$FILES/day-D/late$((ROUNDS + r)).json.gz" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
	cycle detect_nojit "$r" "$(at $((m + 1)))" "$FILES/day-D/m$m.json.gz"
	m=$((m + 1))
done

# what each cycle had to do
for kind in dayD baseline detect start end baseline_nojit detect_nojit; do
	for ((r = 0; r <= ROUNDS; r++)); do
		n=$(val "$kind" "$r" events)
		[[ -n $n ]] || continue
		what=$(val "$kind" "$r" written)
		bcalls=$(val "$kind" "$r" baselines_calls)
		case $kind in
		start) want="$BURST_NAME:ApiCallRateInsight:Start" ;;
		end) want="$BURST_NAME:ApiCallRateInsight:End" ;;
		*) want="-" ;;
		esac
		[[ $what == "$want" ]] || fail "$kind cycle $r wrote $what (expected $want)"
		case $kind in
		dayD | baseline*) [[ ${bcalls:-0} == 1 ]] || fail "$kind cycle $r called trail._insights_baselines ${bcalls:-0} times (expected once)" ;;
		*) [[ ${bcalls:-0} == 0 ]] || fail "$kind cycle $r called trail._insights_baselines $bcalls times (expected never)" ;;
		esac
	done
done
rec end all rollups "$(q "SELECT count(*) FROM trail.insight_rollups")"
rec end all attributions "$(q "SELECT count(*) FROM trail.insight_attributions")"
rec end all baselines "$(q "SELECT count(*) FROM trail.insight_baselines")"
rec end all rollups_bytes "$(q "SELECT pg_total_relation_size('trail.insight_rollups')")"
rec end all attributions_bytes "$(q "SELECT pg_total_relation_size('trail.insight_attributions')")"
WINDOW=$(q "SELECT window_start || ' – ' || window_end || ' (' || extract(epoch FROM window_end - window_start)::int / 60 || ' minutes)'
              FROM trail.insight_windows WHERE region = 'eu-west-1'")
BASELINE_ROWS=$(q "SELECT string_agg(insight_type || ' ' || n, ', ') FROM (SELECT insight_type, count(*) AS n
                     FROM trail.insight_baselines WHERE region = 'eu-west-1' GROUP BY 1 ORDER BY 1) x")
BURST_BASE=$(q "SELECT round(average::numeric, 2) || '/min (deviation ' || round(stddev::numeric, 2) || ', busiest 0.1 %: ' || busy || ')'
                  FROM trail.insight_baselines WHERE insight_type = 'ApiCallRateInsight' AND event_name = '$BURST_NAME'")
T_TOTAL=$(($(date +%s) - T_START))
COND_AFTER=$(machine_conditions end)
grep -E '^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] (ERROR|WARNING|FATAL|PANIC):' "$C/server.log" >"$W/problems" || true
if [[ $(installed_md5) != "$INSTALLED_AT_START" ]]; then
	fail "trail was reinstalled during the run (trail.so or its SQL script changed); run again"
fi

###############################################################################
# The report
###############################################################################

mkdir -p "$RESULTS"
REPORT="$RESULTS/insights-$(date +%F-%H%M).md"
mm() { # phase metric decimals: "median (min–max)"
	local s a lo hi n
	s=$(med "$1" "$2")
	[[ -n $s ]] || { echo "–"; return; }
	read -r a lo hi n <<<"$s"
	if ((n > 1)); then echo "$(fmt "$a" "$3") ($(fmt "$lo" "$3")–$(fmt "$hi" "$3"))"; else fmt "$a" "$3"; fi
}
nrounds() { med "$1" ms | awk '{ print $4 }'; }
verdict() { # phase: the goal for the median and for the slowest round
	local s a hi
	s=$(med "$1" ms)
	[[ -n $s ]] || { echo "not measured"; return; }
	read -r a _ hi _ <<<"$s"
	awk -v a="$a" -v hi="$hi" 'BEGIN {
		m = (a < 1000) ? "met" : "**missed**"
		x = (hi < 1000) ? "met" : "**missed**"
		printf "median %s, slowest round %s\n", m, x }'
}
GB() { awk -v b="$1" 'BEGIN { printf "%.1f GB", b / 1e9 }'; }

{
	echo "# trail Insights: detection cycles and baseline recomputations over $DAYS days of history"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/insights.sh\` (commit $COMMIT), ${T_TOTAL} s in all."
	echo "**Scale: $DAYS days × $(fmt "$PER_DAY" 0) management events a day = $(fmt "$TOTAL" 0) events**"
	echo "(the issue's goal is stated for 28 days × 1,000,000). One cluster, shared_preload_libraries = 'trail',"
	echo "track_functions = 'all', shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync on,"
	echo "work_mem and everything else default; trail.insights_baseline_days = 28 (default). No trail exists:"
	echo "every cycle is \`trail.run_insights(as_of)\`, the code the worker runs every minute."
	echo "Settings: DAYS=$DAYS, PER_DAY=$PER_DAY, FILES_PER_DAY=$FILES_PER_DAY, ROUNDS=$ROUNDS, JOBS=$JOBS, IMPORT_JOBS=$IMPORT_JOBS, BURST=$BURST, SEED=$SEED."
	echo
	echo "trail: $TRAIL_VERSION"
	if [[ -s $ERRS ]]; then
		echo
		echo "**Failures and discrepancies** (see also the progress on stderr):"
		echo
		cat "$ERRS"
	fi
	problems_section "$W/problems"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"

	echo "## 1. The history"
	echo
	echo "D = $D (today's UTC midnight); the history is the $DAYS days before it: $(fmt "$TOTAL" 0) AWS-style"
	echo "management records (40 APIs of 5 event sources with Zipf-like weights, 12 APIs read-only (53 % of the calls), 50 users,"
	echo "8 user agents, 2 % errors of 3 codes; random times, one region and account), $FILES_PER_DAY gzip files a day."
	echo
	echo "| step | time | rate |"
	echo "|---|--:|--:|"
	echo "| generate the files (SQL \`format()\` into \`COPY ... TO PROGRAM 'gzip -1 > f'\`, $JOBS sessions) | $(fmt "$(val build all generate_s)" 1) s | $(fmt "$(div "$TOTAL" "$(val build all generate_s)" 0)" 0) records/s; $(GB "$(val build all files_bytes)") of gzip |"
	echo "| \`trail.import_logs(day directory)\`, $DAYS calls, $IMPORT_JOBS session(s) | $(fmt "$(val build all import_s)" 1) s | **$(fmt "$(val build all import_rps)" 0) records/s** (per call: $(mm import records_per_s 0) records/s, $(mm import seconds 1) s a day) |"
	echo "| store: every table of schema trail with its indexes, after the import | | $(GB "$STORE_BYTES"), $(fmt "$(div "$STORE_BYTES" "$TOTAL" 0)" 0) bytes per event |"
	echo "| VACUUM (ANALYZE) + CHECKPOINT after the first cycle | $(fmt "$(val build all vacuum_s)" 1) s | |"
	echo
	echo "## 2. The first cycle: folding the whole history"
	echo
	echo "\`trail.run_insights(D - 1 minute)\` right after the import: folds every imported event"
	echo "($(fmt "$IMPORTED" 0) imported records: $(fmt "$(val first 0 imported_calls)" 0) write calls, $(fmt "$(val first 0 imported_errors)" 0) errors; the rollups"
	echo "count $(fmt "$(val first 0 folded_calls)" 0) calls and $(fmt "$(val first 0 folded_errors)" 0) errors), makes the baselines of the window ending at D - 1 day and"
	echo "examines a day of minutes."
	echo
	echo "| | ms |"
	echo "|---|--:|"
	echo "| whole cycle (one transaction, commit included) | **$(fmt "$(val first 0 ms)" 0)** |"
	echo "| in \`trail._insights_fold\` | $(fmt "$(val first 0 fold_ms)" 0) ($(val first 0 fold_slice_calls) slices) |"
	echo "| in \`trail._insights_baselines\` | $(fmt "$(val first 0 baselines_ms)" 0) |"
	echo "| in \`trail._insights_detect\` | $(fmt "$(val first 0 detect_ms)" 0) |"
	echo
	echo "Rollups after it: $(fmt "$(val first 0 rollups)" 0) rows of \`trail.insight_rollups\` (API × minute),"
	echo "$(fmt "$(val first 0 attributions)" 0) of \`trail.insight_attributions\` (API × day × value), $(val first 0 baselines) baselines."
	echo "Temporary files it wrote (\`pg_stat_database\`): $(val first 0 temp_files) files, $(awk -v b="$(val first 0 temp_bytes)" 'BEGIN { printf "%.1f MB", b / 1e6 }')."
	echo "Insight events it wrote: $(val first 0 written)."
	echo
	echo "## 3. Cycles on day D"
	echo
	echo "Each cycle: its input imported first (untimed: the traffic of the minute it examines, $(fmt "$PER_MINUTE" 0)"
	echo "records, and for the baseline recomputation one late record of D - 3 days), then one transaction"
	echo "\`BEGIN; run_insights(as_of); COMMIT\` timed by the server clock in one session; as_of"
	echo "advances one minute per cycle. The function columns are \`pg_stat_xact_user_functions\` total time"
	echo "inside that transaction (attributions and details are inside detect); the rest of the cycle is the C code"
	echo "(state, storing Insight events) and the commit. Each round runs a, b, c, d, e, f in this order. ms, median (min–max):"
	echo
	echo "| cycle | rounds | whole cycle | fold | baselines | detect | goal < 1 s |"
	echo "|---|--:|--:|--:|--:|--:|---|"
	echo "| first cycle of day D: the window's end moved, every baseline made again, 2 minutes examined | 1 | **$(mm dayD ms 1)** | $(mm dayD fold_ms 1) | $(mm dayD baselines_ms 1) | $(mm dayD detect_ms 1) | $(verdict dayD) |"
	echo "| a. **baseline recomputation**: a late record in the window folded, every baseline made again, 1 minute examined | $(nrounds baseline) | **$(mm baseline ms 1)** | $(mm baseline fold_ms 1) | $(mm baseline baselines_ms 1) | $(mm baseline detect_ms 1) | $(verdict baseline) |"
	echo "| b. **detection cycle**: a minute's traffic folded, the minute examined | $(nrounds detect) | **$(mm detect ms 1)** | $(mm detect fold_ms 1) | – | $(mm detect detect_ms 1) | $(verdict detect) |"
	echo "| c. detection, an insight starts ($BURST calls of $BURST_NAME in the minute; attributions from the events) | $(nrounds start) | **$(mm start ms 1)** | $(mm start fold_ms 1) | – | $(mm start detect_ms 1) | $(verdict start) |"
	echo "| d. detection, the insight ends (attributions over its minutes) | $(nrounds end) | **$(mm end ms 1)** | $(mm end fold_ms 1) | – | $(mm end detect_ms 1) | $(verdict end) |"
	echo "| e. = a. with \`jit = off\` | $(nrounds baseline_nojit) | **$(mm baseline_nojit ms 1)** | $(mm baseline_nojit fold_ms 1) | $(mm baseline_nojit baselines_ms 1) | $(mm baseline_nojit detect_ms 1) | $(verdict baseline_nojit) |"
	echo "| f. = b. with \`jit = off\` | $(nrounds detect_nojit) | **$(mm detect_nojit ms 1)** | $(mm detect_nojit fold_ms 1) | – | $(mm detect_nojit detect_ms 1) | $(verdict detect_nojit) |"
	echo
	echo "- baseline window at the end: $WINDOW; baselines: $BASELINE_ROWS"
	echo "- $BURST_NAME's call-rate baseline: $BURST_BASE"
	echo "- rollups at the end: $(fmt "$(val end all rollups)" 0) rows of \`trail.insight_rollups\` ($(GB "$(val end all rollups_bytes)") with indexes),"
	echo "  $(fmt "$(val end all attributions)" 0) rows of \`trail.insight_attributions\` ($(GB "$(val end all attributions_bytes)"))"
	echo
	echo "## Goals (from the issue)"
	echo
	echo "\"One detection cycle and one baseline recomputation over 28 days of history at 1 million management"
	echo "events per day. Goal: both under 1 second.\" Measured at $DAYS days × $(fmt "$PER_DAY" 0) a day:"
	echo
	echo "- detection cycle (b): $(mm detect ms 1) ms: $(verdict detect); with an insight starting (c): $(verdict start); ending (d): $(verdict end)"
	echo "- baseline recomputation (a): $(mm baseline ms 1) ms: $(verdict baseline); the first cycle of a day: $(mm dayD ms 1) ms: $(verdict dayD)"
	echo "- with \`jit = off\` (not PostgreSQL's default): detection cycle (f) $(mm detect_nojit ms 1) ms: $(verdict detect_nojit); baseline recomputation (e) $(mm baseline_nojit ms 1) ms: $(verdict baseline_nojit)"
	echo
	echo "## Every value, in run order"
	echo
	echo '```'
	echo "phase round metric value"
	cat "$RES"
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
