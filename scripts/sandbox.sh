#!/usr/bin/env bash
# scripts/sandbox.sh: a personal PostgreSQL 15 with trail, in ./sandbox of the repo.
#
#   scripts/sandbox.sh start   (make sandbox)       bootstrap, build, install, then
#                                                   create or reuse ./sandbox, start it,
#                                                   show trail recording a short session
#   scripts/sandbox.sh stop    (make sandbox-stop)  stop it (no error if it is not running)
#
# The cluster listens only on the unix socket in ./sandbox/sock, port 5499.
# Its data survives `stop`; `rm -rf sandbox` throws it away.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

SANDBOX="$ROOT/sandbox"
PORT=5499
DB=sandbox
PSQL="$PG_BIN/psql"

say() { echo "sandbox: $*"; }

usage() {
	echo "usage: $0 start|stop" >&2
	exit 2
}

sandbox_stop() {
	if cluster_is_running "$SANDBOX"; then
		cluster_stop "$SANDBOX" fast
		say "stopped"
	else
		say "not running"
	fi
}

# Create the cluster, or reuse (restart) it when it is valid; recreate it when broken.
sandbox_up() {
	if [[ -e $SANDBOX ]] && cluster_is_valid "$SANDBOX" && [[ $(cluster_port "$SANDBOX") == "$PORT" ]]; then
		if cluster_is_running "$SANDBOX"; then
			say "reusing $SANDBOX: restarting it (to load the freshly installed trail)"
		else
			say "reusing $SANDBOX: starting it"
		fi
		if cluster_restart "$SANDBOX"; then
			return 0
		fi
		say "$SANDBOX does not start; recreating it"
	elif [[ -e $SANDBOX ]]; then
		say "$SANDBOX is not a usable cluster; recreating it"
	fi

	if [[ -e $SANDBOX ]]; then
		cluster_stop "$SANDBOX" immediate 2>/dev/null || true
		rm -rf -- "$SANDBOX"
	fi
	say "creating a cluster in $SANDBOX (port $PORT)"
	cluster_create "$SANDBOX" "$PORT" \
		"log_line_prefix = '%m [%p] %q%u@%d '"
	cluster_start "$SANDBOX"
}

# The demonstration: a few statements, then what trail recorded about them.
sandbox_demo() {
	# Undo the previous run's demo objects quietly, so that every run shows the
	# same session (the earlier runs' events stay in the history).
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" <<-'SQL' >/dev/null
		SET client_min_messages = warning;
		DROP SCHEMA IF EXISTS demo CASCADE;
		DROP ROLE IF EXISTS demo_oncall;
		DROP ROLE IF EXISTS demo_analyst;
	SQL

	echo
	echo "=== A session: DDL, a role change, then data events ==="
	"$PSQL" -X -v ON_ERROR_STOP=1 --echo-queries -d "$DB" <<-'SQL'
		SELECT clock_timestamp() AS session_start \gset
		CREATE SCHEMA demo;
		CREATE TABLE demo.orders (id bigint PRIMARY KEY, customer text NOT NULL);
		ALTER TABLE demo.orders ADD COLUMN amount numeric(12,2) NOT NULL DEFAULT 0;
		CREATE INDEX orders_customer_idx ON demo.orders (customer);
		CREATE FUNCTION demo.order_total(p_customer text) RETURNS numeric
			LANGUAGE sql STABLE
			AS $$ SELECT coalesce(sum(amount), 0) FROM demo.orders WHERE customer = p_customer $$;
		CREATE ROLE demo_analyst WITH LOGIN PASSWORD 'secret';
		ALTER ROLE demo_analyst CONNECTION LIMIT 5;
		GRANT SELECT ON demo.orders TO demo_analyst;
		CREATE ROLE demo_oncall NOLOGIN;
		GRANT demo_analyst TO demo_oncall;

		\echo
		\echo '=== What trail recorded (event history of this run) ==='
		SELECT event_time, event_name, event_source, user_name, read_only,
		       resources->0->>'ARN' AS resource
		  FROM trail.event_history
		 WHERE event_time >= :'session_start'
		 ORDER BY event_time, event_id;

		\echo '=== One full CloudTrail record: the CreateRole (its password is redacted) ==='
		SELECT jsonb_pretty(trail.cloudtrail_record(e)) AS "CreateRole record"
		  FROM trail.events e
		 WHERE event_name = 'CreateRole' AND e.event_time >= :'session_start'
		 ORDER BY e.event_time, e.event_id
		 LIMIT 1;

		\echo '=== LookupEvents, EventName = CreateTable ==='
		SELECT event_time, event_name, username, resources
		  FROM trail.lookup_events('EventName', 'CreateTable');

		\echo '=== Data events: select every table of schema demo, then write ==='
		SELECT trail.update_event_data_store(advanced_event_selectors => jsonb_build_array(
		         jsonb_build_object('Name', 'demo tables', 'FieldSelectors', jsonb_build_array(
		           jsonb_build_object('Field', 'eventCategory', 'Equals', jsonb_build_array('Data')),
		           jsonb_build_object('Field', 'resources.type', 'Equals', jsonb_build_array('PG::Table')),
		           jsonb_build_object('Field', 'resources.ARN', 'StartsWith',
		             jsonb_build_array(regexp_replace(trail.table_arn('demo.orders'), 'orders$', ''))))))) IS NOT NULL AS selected;
		INSERT INTO demo.orders VALUES (1, 'alice', 10), (2, 'bob', 25);
		UPDATE demo.orders SET amount = amount + 5 WHERE id = 1;
		SELECT demo.order_total('alice');
		SELECT event_name, read_only, request_parameters->>'tableName' AS "table",
		       request_parameters->'key' AS key, request_parameters->'oldImage' AS old,
		       request_parameters->'newImage' AS new, response_elements
		  FROM trail.data_events
		 WHERE event_time >= :'session_start'
		 ORDER BY event_time, event_id;
		SELECT trail.update_event_data_store(advanced_event_selectors => '[]') IS NOT NULL AS unselected;
	SQL

	# The password typed above must never reach the trail.
	local leaked
	leaked=$("$PSQL" -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c \
		"SELECT count(*) FROM trail.events e
		  WHERE strpos(trail.cloudtrail_record(e)::text, '''secret''') > 0
		     OR strpos(trail.cloudtrail_record(e)::text, '\"secret\"') > 0")
	if [[ $leaked != 0 ]]; then
		echo "sandbox: WARNING: $leaked recorded event(s) contain the password 'secret'" >&2
	fi

	sandbox_trail_demo
}

# A trail: delivered CloudTrail log files, a signed digest, and both validators.
# For the demonstration the sandbox delivers every 2 s and digests every 10 s,
# then goes back to the defaults (60 s, 1 h).
sandbox_trail_demo() {
	local bucket="$SANDBOX/data/pg_trail/buckets/sandbox-bucket" waited=0 log key
	echo
	echo "=== A trail: CloudTrail log files and signed digests ==="
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" <<-'SQL'
		ALTER SYSTEM SET trail.delivery_interval = '2s';
		ALTER SYSTEM SET trail.digest_interval = '10s';
		SELECT pg_reload_conf() \gset
		SELECT count(*) AS created FROM (SELECT trail.create_trail('sandbox-trail', 'sandbox-bucket')
		 WHERE NOT EXISTS (SELECT 1 FROM trail.trails WHERE name = 'sandbox-trail')) t \gset
	SQL
	"$PSQL" -X -q -d "$DB" -c "SELECT name, s3_bucket_name, trail_arn, log_file_validation_enabled, is_logging FROM trail.describe_trails()"
	say "waiting for the trail's next digest (up to 60 s) ..."
	until [[ $("$PSQL" -X -A -t -d "$DB" -c "SELECT count(*) FROM trail.delivered_files
			WHERE trail_name = 'sandbox-trail' AND file_type = 'digest' AND state = 'delivered'
			  AND written_time > now() - interval '1 minute'
			  AND written_time > (SELECT max(written_time) FROM trail.delivered_files
			                       WHERE trail_name = 'sandbox-trail' AND file_type = 'log')") -gt 0 ]]; do
		sleep 1
		waited=$((waited + 1))
		if ((waited >= 60)); then
			say "WARNING: no digest was delivered within 60 s; see $SANDBOX/server.log" >&2
			return 0
		fi
	done
	echo "files in $bucket (newest first):"
	(cd "$bucket" && find . -name '*.json.gz' -printf '%T@ %P\n' | sort -rn | sed -n 1,4p | cut -d' ' -f2)
	log=$(cd "$bucket" && find . -path '*/CloudTrail/*' -name '*.json.gz' -printf '%T@ %P\n' | sort -rn | sed -n 1p | cut -d' ' -f2)
	echo
	echo "the start of $log:"
	zcat "$bucket/$log" | cut -c1-400 | sed -n 1p
	echo " ..."
	echo
	"$PSQL" -X -q -d "$DB" -c "SELECT file_type, status, count(*) AS files
		FROM trail.validate_logs('sandbox-trail', now() - interval '10 minutes')
		GROUP BY file_type, status ORDER BY file_type DESC, status"
	key=$(mktemp)
	"$PSQL" -X -A -t -d "$DB" -c "SELECT encode(value, 'base64') FROM trail.list_public_keys() WHERE validity_end_time IS NULL" | base64 -d >"$key"
	echo "offline, as an auditor with only the files and the public key:"
	echo "\$ trail-validate --trail sandbox-trail --public-key key.der --start-time <10 minutes ago> $bucket"
	"$PG_BIN/trail-validate" --trail sandbox-trail --public-key "$key" \
		--start-time "$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%SZ)" "$bucket" || true
	rm -f "$key"

	# back to the default intervals: a sandbox left running stays quiet
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" <<-'SQL'
		ALTER SYSTEM RESET trail.delivery_interval;
		ALTER SYSTEM RESET trail.digest_interval;
		SELECT pg_reload_conf() \gset
	SQL
}

sandbox_start() {
	bash "$ROOT/scripts/bootstrap.sh"
	sandbox_up
	cluster_env "$SANDBOX"

	if [[ $("$PSQL" -X -A -t -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'") != 1 ]]; then
		say "creating database $DB"
		"$PG_BIN/createdb" "$DB"
	fi
	# The extension's SQL changes without a version bump while trail is being
	# developed: when it differs from what this sandbox installed, reinstall.
	local sql_sum stamp="$SANDBOX/trail-sql.sha256"
	sql_sum=$(cat "$ROOT"/trail--*.sql | sha256sum | cut -d' ' -f1)
	if [[ -f $stamp && $(cat "$stamp") != "$sql_sum" ]]; then
		say "trail's SQL changed since the sandbox installed it: reinstalling the extension (its events are dropped)"
		"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c 'SET client_min_messages = warning' \
			-c 'DROP EXTENSION IF EXISTS trail CASCADE'
	fi
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION IF NOT EXISTS trail'
	echo "$sql_sum" >"$stamp"
	say "trail $("$PSQL" -X -A -t -d "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'trail'") is installed in database $DB"

	sandbox_demo

	echo
	say "running; the server log is $SANDBOX/server.log"
	say "connect with:"
	echo "psql -h $SANDBOX/sock -p $PORT -U postgres $DB"
}

[[ $# -eq 1 ]] || usage
case $1 in
start) sandbox_start ;;
stop) sandbox_stop ;;
*) usage ;;
esac
