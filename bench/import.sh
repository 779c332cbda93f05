#!/usr/bin/env bash
# bench/import.sh: how many CloudTrail records per second does
# trail.import_logs() import?
#
#   bash bench/import.sh                              the full run (~12-15 min)
#   FILES=5 ROUNDS=1 bash bench/import.sh             a quick smoke run
#
# One fresh cluster (port PORT, private unix socket, no TCP) with
# shared_preload_libraries = 'trail' and the bench settings of lib.sh
# (shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync on).
#
# The files: two buckets of FILES files of PER_FILE records each (50 x
# 10,000 = 500,000 records), written by the server itself (COPY ... TO
# PROGRAM 'gzip -6'), records shaped like AWS's (spec section a: userIdentity
# of an assumed role with its sessionContext, tlsDetails, resources, a
# requestID and a random eventID), each file covering five minutes of the
# last days, its records in time order:
#   - data: S3 GetObject data events (eventCategory Data; no LookupEvents
#     index entry, like captured data events);
#   - management: RDS API calls (eventCategory Management), which also fill
#     the five LookupEvents indexes and trail.event_resources.
# Then ROUNDS rounds, each importing both buckets twice, interleaved (data
# then management in odd rounds, the other way in even ones; for each, the
# files read by a background worker, trail.import_parallel on, the default,
# then by the importing backend itself, off; the other way in even rounds),
# each import into a database of its own created for it (CREATE EXTENSION
# trail; VACUUM and CHECKPOINT before the import, so that they stay out of
# the timed part).
# Time = the server's clock_timestamp() around SELECT * FROM
# trail.import_logs(<bucket>) (one statement, one transaction, commit
# included); records/s = records imported / time.  Every import must report
# FILES files and FILES x PER_FILE records imported.  Where the time goes:
# right after, the same bucket is imported again into the same database
# ("again": every record read, parsed and found a duplicate, nothing
# inserted), and, as a baseline, zcat reads the bucket's files to /dev/null
# (the decompression alone; wall clock).
#
# Goal (from the issue): at least 50,000 records per second.
#
# Output: a markdown report on stdout and in bench/results/import-<date>-<time>.md.
# Settings (environment): FILES (50), PER_FILE (10000), ROUNDS (3), PORT (55451),
# RESULTS (bench/results), KEEP (0; 1 keeps the temp directory), PG_BIN
# (/usr/lib/postgresql/15/bin, read by lib.sh: the installation whose server,
# psql and installed trail.so are measured, e.g. a relocated copy of it; the
# report names the md5 of the trail.so in `$PG_BIN/pg_config --pkglibdir`).
# Disk: about 0.3 GB of compressed files, 1.5 GB of cluster per round kept
# until the round's databases are dropped.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

FILES=${FILES:-50}
PER_FILE=${PER_FILE:-10000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-55451}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-$BENCH/results}

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "import.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

for v in FILES PER_FILE ROUNDS PORT; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || { echo "import.sh: $v must be a positive whole number" >&2; exit 2; }
done


W=$(mktemp -d /tmp/trail-bench-import.XXXXXX)
chmod 755 "$W"
C=$W/cluster
SOCK=$C/sock
DATA=$W/files

trap stop_bench_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_db() { # database, psql args...
	local db=$1
	shift
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}
q() { psql_db "$1" -At -c "$2"; }

COMMIT=$(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" 2>/dev/null | cut -c1-12)"
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S')
T0=$(date +%s)
BEFORE=$(machine_conditions start)

log "cluster in $C (port $PORT, socket only), files in $DATA"
cluster_init "$C" "$PORT" "shared_preload_libraries = 'trail'"
mkdir -p "$DATA"
if [[ $(id -u) == 0 ]]; then chown "$BENCH_OS_USER": "$DATA"; fi
cluster_start "$C"

###############################################################################
# The files, written by the server
###############################################################################
# gen_bucket KIND: FILES files of PER_FILE records under $DATA/KIND/...
gen_bucket() {
	local kind=$1 f
	for ((f = 0; f < FILES; f++)); do
		q postgres "
COPY (
  SELECT '{\"Records\":[' || string_agg(r::text, ',' ORDER BY n) || ']}'
    FROM (SELECT n, jsonb_build_object(
            'eventVersion', '1.09',
            'userIdentity', jsonb_build_object('type', 'AssumedRole',
                'principalId', 'AROAEXAMPLEROLEID0001:session-' || n % 40,
                'arn', 'arn:aws:sts::123456789012:assumed-role/App/session-' || n % 40,
                'accountId', '123456789012', 'accessKeyId', 'ASIAEXAMPLE' || lpad((n % 97)::text, 9, '0'),
                'sessionContext', jsonb_build_object(
                    'sessionIssuer', jsonb_build_object('type', 'Role', 'principalId', 'AROAEXAMPLEROLEID0001',
                        'arn', 'arn:aws:iam::123456789012:role/App', 'accountId', '123456789012', 'userName', 'App'),
                    'webIdFederationData', '{}'::jsonb,
                    'attributes', jsonb_build_object('creationDate', '2026-01-01T00:00:00Z', 'mfaAuthenticated', 'false'))),
            'eventTime', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
            'eventSource', CASE WHEN '$kind' = 'data' THEN 's3.amazonaws.com' ELSE 'rds.amazonaws.com' END,
            'eventName', CASE WHEN '$kind' = 'data' THEN 'GetObject'
                              ELSE (ARRAY['DescribeDBInstances', 'ModifyDBInstance', 'CreateDBSnapshot', 'AddTagsToResource'])[1 + n % 4] END,
            'awsRegion', 'eu-west-1',
            'sourceIPAddress', '198.51.100.' || n % 250,
            'userAgent', 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/' || n % 7,
            'requestParameters', CASE WHEN '$kind' = 'data'
                THEN jsonb_build_object('bucketName', 'app-data', 'key', 'objects/' || n || '.json', 'Host', 'app-data.s3.eu-west-1.amazonaws.com')
                ELSE jsonb_build_object('dBInstanceIdentifier', 'db-' || n % 30, 'applyImmediately', true) END,
            'responseElements', NULL,
            'additionalEventData', CASE WHEN '$kind' = 'data'
                THEN jsonb_build_object('SignatureVersion', 'SigV4', 'bytesTransferredOut', n % 5000) END,
            'requestID', md5('r' || n || '$kind'),
            'eventID', gen_random_uuid(),
            'readOnly', '$kind' = 'data' OR n % 4 = 0,
            'resources', CASE WHEN '$kind' = 'data'
                THEN jsonb_build_array(jsonb_build_object('type', 'AWS::S3::Object', 'ARN', 'arn:aws:s3:::app-data/objects/' || n || '.json'),
                                       jsonb_build_object('accountId', '123456789012', 'type', 'AWS::S3::Bucket', 'ARN', 'arn:aws:s3:::app-data'))
                ELSE jsonb_build_array(jsonb_build_object('accountId', '123456789012', 'type', 'AWS::RDS::DBInstance',
                                       'ARN', 'arn:aws:rds:eu-west-1:123456789012:db:db-' || n % 30)) END,
            'eventType', 'AwsApiCall',
            'managementEvent', '$kind' <> 'data',
            'recipientAccountId', '123456789012',
            'eventCategory', CASE WHEN '$kind' = 'data' THEN 'Data' ELSE 'Management' END,
            'tlsDetails', jsonb_build_object('tlsVersion', 'TLSv1.3', 'cipherSuite', 'TLS_AES_128_GCM_SHA256',
                'clientProvidedHostHeader', 'rds.eu-west-1.amazonaws.com')) AS r
            FROM (SELECT n, date_trunc('day', now()) - interval '3 days' + make_interval(secs => $f * 300 + n * 300.0 / $PER_FILE) AS t
                    FROM generate_series(1, $PER_FILE) n) g) s
) TO PROGRAM 'mkdir -p $DATA/$kind/AWSLogs/123456789012/CloudTrail/eu-west-1 && gzip -6 > $DATA/$kind/AWSLogs/123456789012/CloudTrail/eu-west-1/123456789012_CloudTrail_eu-west-1_$(printf %04d "$f").json.gz'
  WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')" >/dev/null
	done
}
for kind in data management; do
	log "writing the $kind bucket: $FILES files of $PER_FILE records"
	gen_bucket "$kind"
done
BYTES_DATA=$(du -sb "$DATA/data" | cut -f1)
BYTES_MGMT=$(du -sb "$DATA/management" | cut -f1)
RAW_DATA=$(find "$DATA/data" -name '*.json.gz' -exec zcat {} + | wc -c)
RAW_MGMT=$(find "$DATA/management" -name '*.json.gz' -exec zcat {} + | wc -c)

###############################################################################
# The rounds
###############################################################################
RES=$W/results # kind round seconds imported
: >"$RES"
PROBLEMS=$W/problems
: >"$PROBLEMS"
N=$((FILES * PER_FILE))

# import_round KIND ROUND: the import with its reader in a background worker
# (trail.import_parallel on, the default), the same again, and zcat
import_round() {
	local kind=$1 round=$2 db="benchr${2}${1:0:1}" out
	fresh_db "$db"
	out=$(q "$db" "
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT files || ' ' || records_imported || ' ' || duplicates_skipped || ' ' || expired_skipped
       || ' ' || extract(epoch FROM clock_timestamp() - (SELECT t0 FROM t))
  FROM trail.import_logs('$DATA/$kind');")
	record_import "$kind" "$round" "$out"
	out=$(q "$db" "
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT duplicates_skipped || ' ' || extract(epoch FROM clock_timestamp() - (SELECT t0 FROM t))
  FROM trail.import_logs('$DATA/$kind');")
	read -r dups secs <<<"$out"
	[[ $dups == "$N" ]] || echo "- round $round, $kind again: $dups duplicates; expected $N" >>"$PROBLEMS"
	echo "$kind-again $round $secs $dups" >>"$RES"
	q postgres "DROP DATABASE $db" >/dev/null
	local t0 t1
	t0=$(date +%s.%N)
	find "$DATA/$kind" -name '*.json.gz' -exec zcat {} + >/dev/null
	t1=$(date +%s.%N)
	echo "$kind-zcat $round $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $N" >>"$RES"
}

# backend_round KIND ROUND: the import read by the importing backend itself
# (trail.import_parallel off), as before the worker
backend_round() {
	local kind=$1 round=$2 db="benchb${2}${1:0:1}" out
	fresh_db "$db"
	out=$(q "$db" "
SET trail.import_parallel = off;
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT files || ' ' || records_imported || ' ' || duplicates_skipped || ' ' || expired_skipped
       || ' ' || extract(epoch FROM clock_timestamp() - (SELECT t0 FROM t))
  FROM trail.import_logs('$DATA/$kind');")
	record_import "$kind-backend" "$round" "$out"
	q postgres "DROP DATABASE $db" >/dev/null
}

# fresh_db DB: a new database with trail, vacuumed and checkpointed
fresh_db() {
	local db=$1
	q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION trail" >/dev/null
	q "$db" "VACUUM" >/dev/null
	q "$db" "CHECKPOINT" >/dev/null
}

# record_import NAME ROUND "files imported duplicates expired seconds"
record_import() {
	local kind=$1 round=$2 files imported dups expired secs
	read -r files imported dups expired secs <<<"$3"
	if [[ $files != "$FILES" || $imported != "$N" ]]; then
		echo "- round $round, $kind: $files files, $imported records imported ($dups duplicates, $expired expired); expected $FILES and $N" >>"$PROBLEMS"
	fi
	echo "$kind $round $secs $imported" >>"$RES"
	log "round $round, $kind: $imported records in $secs s"
}

for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order="data management"; else order="management data"; fi
	for kind in $order; do
		if ((r % 2)); then
			import_round "$kind" "$r"
			backend_round "$kind" "$r"
		else
			backend_round "$kind" "$r"
			import_round "$kind" "$r"
		fi
	done
done

AFTER=$(machine_conditions end)
grep -E ' (ERROR|WARNING|FATAL|PANIC):' "$C/server.log" >"$W/server-problems" || true

###############################################################################
# The report
###############################################################################
rate_stats() { awk -v k="$1" '$1 == k && $3 > 0 { printf "%.0f\n", $4 / $3 }' "$RES" | stats; }
REPORT=$W/report.md
{
	echo "# trail import: CloudTrail log files into the event store"
	echo
	echo "Run $STARTED UTC by \`bench/import.sh\` (commit $COMMIT), $(($(date +%s) - T0)) s in all."
	echo "One cluster, shared_preload_libraries = 'trail', shared_buffers=1GB, max_wal_size=4GB,"
	echo "checkpoint_timeout=30min, fsync on, others default. Settings: FILES=$FILES, PER_FILE=$PER_FILE, ROUNDS=$ROUNDS."
	echo
	echo "trail: $TRAIL_VERSION"
	echo
	machine_section "$BEFORE" "$AFTER"
	echo "## Files"
	echo
	echo "| bucket | files | records | gzip bytes | JSON bytes | JSON bytes/record |"
	echo "|---|--:|--:|--:|--:|--:|"
	echo "| data (S3 GetObject) | $FILES | $(fmt "$N" 0) | $(fmt "$BYTES_DATA" 0) | $(fmt "$RAW_DATA" 0) | $((RAW_DATA / N)) |"
	echo "| management (RDS calls) | $FILES | $(fmt "$N" 0) | $(fmt "$BYTES_MGMT" 0) | $(fmt "$RAW_MGMT" 0) | $((RAW_MGMT / N)) |"
	echo
	echo "## Import throughput"
	echo
	echo "Each round imports each bucket into a fresh database (\`SELECT * FROM trail.import_logs(dir)\`,"
	echo "one transaction), timed with the server's clock. Rounds interleaved."
	echo
	echo "| round | bucket | seconds | records | records/s |"
	echo "|--:|---|--:|--:|--:|"
	awk '{ printf "| %s | %s | %.2f | %d | %.0f |\n", $2, $1, $3, $4, ($3 > 0 ? $4 / $3 : 0) }' "$RES" | sort -t'|' -k2,2n -k3,3
	echo
	echo "bucket: the import (its files read by a background worker, trail.import_parallel on, the"
	echo "default); bucket-backend: the same import with the files read by the importing backend itself"
	echo "(trail.import_parallel off); bucket-again: the same files imported again into the same database"
	echo "(read, parsed, every record a duplicate: nothing inserted); bucket-zcat: zcat of the files to"
	echo "/dev/null, the decompression alone."
	echo
	for kind in data management; do
		read -r med min max _ _ n <<<"$(rate_stats "$kind")"
		echo "- $kind: **$(fmt "$med" 0) records/s** median ($(fmt "$min" 0)–$(fmt "$max" 0)) over $n rounds;" \
			"goal 50,000 records/s: $(awk -v m="$med" 'BEGIN { print (m >= 50000 ? "met" : "missed") }');"
		read -r bmed bmin bmax _ _ n <<<"$(rate_stats "$kind-backend")"
		echo "  read by the backend itself: $(fmt "$bmed" 0) records/s ($(fmt "$bmin" 0)–$(fmt "$bmax" 0));" \
			"worker / backend: ×$(awk -v a="$med" -v b="$bmed" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') (medians);"
		read -r med min max _ _ n <<<"$(rate_stats "$kind-again")"
		echo "  again (no insert): $(fmt "$med" 0) records/s ($(fmt "$min" 0)–$(fmt "$max" 0));"
		read -r med min max _ _ n <<<"$(rate_stats "$kind-zcat")"
		echo "  zcat alone: $(fmt "$med" 0) records/s ($(fmt "$min" 0)–$(fmt "$max" 0))"
	done
	if [[ -s $PROBLEMS ]]; then
		echo
		echo "**Problems:**"
		cat "$PROBLEMS"
	fi
	problems_section "$W/server-problems"
} >"$REPORT"

mkdir -p "$RESULTS"
OUT="$RESULTS/import-$(date -u +%Y-%m-%d-%H%M).md"
cp "$REPORT" "$OUT"
cat "$REPORT"
log "report written to $OUT"
[[ ! -s $PROBLEMS ]]
