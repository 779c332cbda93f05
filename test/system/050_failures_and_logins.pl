# test/system/050_failures_and_logins.pl: the events a transaction cannot
# carry (issue 6) -- failed statements, logins, logouts, cluster-wide
# commands run where trail is not installed -- reach trail.events through
# the spool, with the right shape, and survive a kill -9 of the server
# exactly once.
#
#  1. Shapes (trail.delivery_interval = 1): failed management commands
#     (DuplicateTable, UndefinedTable, InsufficientPrivilege), denied
#     queries (Data events of table.postgresql naming their tables), an error
#     inside a function or DO block recorded once, nothing for statements
#     refused in an aborted transaction, a unique violation on a table whose
#     data events are selected; errors of parse analysis (unknown columns,
#     wrong types, a schema denied; search_path, WITH names, CREATE TABLE AS,
#     inside a DO block, after SET ROLE; rules and the log stream see them);
#     logins (success, wrong password, unknown role
#     hidden or named, pg_hba.conf reject and no entry, too many connections,
#     slots reserved, and the refusals after authentication: NOLOGIN, a
#     role's connection limit, no such database) and logouts; global commands of a database without trail reaching the
#     home database, and trail.home_database moving them.
#  2. Durability (trail.delivery_interval = 3600, so that nothing is drained
#     before the crash): each of a denied query, a failed DDL, a wrong
#     password, an unknown role, a successful login, SET ROLE then DDL, an
#     INSERT failing parse analysis, is
#     followed at once by SIGKILL of every server process; after the restart
#     each event is in trail.events exactly once.
#  3. A crash while the workers drain (trail.delivery_interval = 1).
#  4. A crash between a drain's commit and the removal of its file (the
#     state is made by putting drained spool files back): still once.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use File::Copy ();
use File::Path ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = PostgreSQL::Test::Cluster->new('failures');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'trail'
log_statement = none
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
max_connections = 6
superuser_reserved_connections = 2
trail.delivery_interval = 1
});
# TCP with passwords (one role rejected, database nohba not listed); the
# harness itself connects over the unix socket (trust)
open(my $hba, '>', $node->data_dir . '/pg_hba.conf') or die "pg_hba.conf: $!";
print $hba <<'EOF';
local all all trust
host all regress_rejected 127.0.0.1/32 reject
host postgres,notrail,audit all 127.0.0.1/32 scram-sha-256
EOF
close $hba;
$node->start;
my $port = $node->port;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION trail;
CREATE ROLE regress_alice LOGIN PASSWORD 'alice-pw';
CREATE ROLE regress_rejected LOGIN PASSWORD 'rejected-pw';
CREATE ROLE regress_bob;
GRANT CREATE ON SCHEMA public TO regress_bob;
CREATE TABLE secret (id int PRIMARY KEY, v text);
CREATE TABLE secret_fn (id int);
CREATE TABLE secret_bulk (id int);
CREATE TABLE dup_t (a int);
INSERT INTO dup_t VALUES (1);
CREATE TABLE watched (id int PRIMARY KEY);
GRANT SELECT ON watched TO regress_alice;
CREATE FUNCTION fails_ddl() RETURNS void LANGUAGE plpgsql
	AS $$BEGIN EXECUTE 'CREATE TABLE dup_t (a int) /* f_fn_ddl */'; END$$;
CREATE FUNCTION reads_secret() RETURNS bigint LANGUAGE plpgsql
	AS $$BEGIN RETURN (SELECT count(*) FROM secret_fn); END$$;
CREATE DATABASE notrail;
CREATE DATABASE audit;
});
$node->safe_psql('audit', 'CREATE EXTENSION trail');
$node->safe_psql('postgres', select_writes_sql('watched writes', 'watched', 'watched'));

###########################################################################
# Helpers
###########################################################################

# SQL as a role over the unix socket, with an application name (the
# statements run one by one, on past errors); returns (rc, stdout, stderr).
sub run_as
{
	my ($user, $app, $sql, $db) = @_;
	$db //= 'postgres';
	return $node->psql(
		$db, $sql,
		connstr => $node->connstr($db) . " user=$user application_name=$app",
		on_error_stop => 0,
		extra_params => ['-w']);
}

# A connection attempt over TCP (scram-sha-256); returns (rc, stderr).
sub tcp_connect
{
	my ($user, $password, $app, $db) = @_;
	$db //= 'postgres';
	my ($rc, $out, $err) = $node->psql(
		$db, 'SELECT 1',
		connstr =>
		  "host=127.0.0.1 port=$port dbname=$db user=$user password=$password application_name=$app",
		on_error_stop => 0,
		extra_params => ['-w']);
	return ($rc, $err);
}

sub count_events
{
	my ($where, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM trail.events WHERE $where");
}

# Wait (up to 30 s) until at least $n events match; returns how many do.
sub wait_events
{
	my ($where, $n, $db) = @_;
	poll_until(30, sub { count_events($where, $db) >= $n });
	return count_events($where, $db);
}

# The values of an expression over the matching events, '|'-joined, one
# line per event (in event order).
sub event_values
{
	my ($expr, $where, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT $expr FROM trail.events WHERE $where ORDER BY event_time, event_id");
}

sub login_where
{
	my ($app, $outcome) = @_;
	my $w =
	  "event_source = 'signin.postgresql' AND event_name = 'Login' AND additional_event_data->>'applicationName' = '$app'";
	$w .= " AND response_elements->>'Login' = '$outcome'" if defined $outcome;
	return $w;
}

sub statement_where
{
	my ($marker) = @_;
	return "request_parameters->>'statement' LIKE '%/* $marker */%'";
}

# What a login event says: category, type, name, management, global, user,
# address, responseElements, has an errorMessage, method, database, app,
# client port present.
my $login_shape = q{concat_ws('|', event_category, event_type, event_name, management_event,
	is_global, user_name, source_ip_address, response_elements::text, error_message IS NOT NULL,
	additional_event_data->>'authenticationMethod', additional_event_data->>'database',
	additional_event_data->>'applicationName', additional_event_data->>'clientPort' ~ '^[0-9]+$')};

# The records in the spool files now (decoded JSON), with the file of each.
sub spool_records
{
	my $root = $node->data_dir . '/pg_trail/spool';
	my @records;
	for my $file (glob("$root/*/*.spool"))
	{
		open(my $fh, '<:raw', $file) or next;
		local $/;
		my $data = <$fh> // '';
		close $fh;
		my $pos = 0;
		while ($pos + 8 <= length $data)
		{
			my ($len) = unpack('L', substr($data, $pos, 4));
			last if $pos + 8 + $len > length $data;
			my $rec = eval { JSON::PP->new->utf8->decode(substr($data, $pos + 8, $len)) };
			push @records, { %$rec, _file => $file } if $rec;
			$pos += 8 + $len;
		}
	}
	return @records;
}

# The spool records matching a test on the decoded record.
sub spooled
{
	my ($test) = @_;
	return grep { $test->($_) } spool_records();
}

sub spooled_statement
{
	my ($marker) = @_;
	return scalar spooled(
		sub {
			my $p = $_[0]{request_parameters} // $_[0]{analysisFailure};
			ref $p eq 'HASH' && ($p->{statement} // '') =~ m{/\* \Q$marker\E \*/};
		});
}

sub spooled_app
{
	my ($app, $event_name) = @_;
	return scalar spooled(
		sub {
			($_[0]{user_agent} // '') eq $app && $_[0]{event_name} eq $event_name;
		});
}

# Set a sighup setting, reload, and wait until new sessions see it (and a
# worker started before it has finished its pass).
sub set_sighup
{
	my ($name, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	poll_until(30, sub { $node->safe_psql('postgres', "SELECT setting FROM pg_settings WHERE name = '$name'") eq $value })
	  or die "$name did not become $value";
	sleep 2;
}

###########################################################################
# 1. Failed statements: the same event as on success, with the error
###########################################################################
my ($rc, $out, $err);

($rc, $out, $err) = run_as('postgres', 'stmts',
	"CREATE TABLE dup_t (a int) /* f_dup */;\nCREATE TABLE IF NOT EXISTS dup_t (a int) /* f_ine */;\n"
	  . "DROP TABLE no_such_table /* f_undef */;");
like($err, qr/already exists.*does not exist/s, '(CREATE TABLE of an existing name and DROP of a missing one fail)');

is(wait_events(statement_where('f_dup'), 1), 1, 'a failed CREATE TABLE is recorded once');
is( event_values(
		q{concat_ws('|', event_category, event_type, event_source, event_name, management_event, read_only,
		  user_name, error_code, error_message, additional_event_data->>'sqlState', response_elements IS NULL)},
		statement_where('f_dup')),
	'Management|AwsApiCall|ddl.postgresql|CreateTable|t|f|postgres|DuplicateTable|relation "dup_t" already exists|42P07|t',
	'... as CreateTable of ddl.postgresql with errorCode DuplicateTable, its message and sqlState 42P07');
is(wait_events(statement_where('f_undef'), 1), 1, 'a failed DROP TABLE is recorded once');
is(count_events(statement_where('f_ine') . ' AND error_code IS NOT NULL'), 0,
	'CREATE TABLE IF NOT EXISTS of an existing name is not recorded as a failure');
is( event_values(q{concat_ws('|', event_source, event_name, error_code, additional_event_data->>'sqlState')},
		statement_where('f_undef')),
	'ddl.postgresql|DropTable|UndefinedTable|42P01',
	'... as DropTable with errorCode UndefinedTable (42P01)');

($rc, $out, $err) = run_as('regress_alice', 'stmts_alice',
	"ALTER TABLE secret ADD COLUMN z int /* f_alter */;\nCREATE ROLE regress_never /* f_role */;");
like($err, qr/must be owner.*permission denied to create role/s, '(an ordinary role is refused ALTER TABLE and CREATE ROLE)');
is(wait_events(statement_where('f_alter'), 1), 1, 'a refused ALTER TABLE is recorded once');
is( event_values(q{concat_ws('|', event_source, event_name, user_name, error_code, additional_event_data->>'sqlState')},
		statement_where('f_alter')),
	'ddl.postgresql|AlterTable|regress_alice|InsufficientPrivilege|42501',
	'... as AlterTable by the role, InsufficientPrivilege (42501)');
is(wait_events(statement_where('f_role'), 1), 1, 'a refused CREATE ROLE is recorded once');
is( event_values(q{concat_ws('|', event_source, event_name, is_global, error_code)}, statement_where('f_role')),
	'iam.postgresql|CreateRole|t|InsufficientPrivilege',
	'... as CreateRole of iam.postgresql, InsufficientPrivilege');

# queries denied for lack of privilege: Data events naming their tables
($rc, $out, $err) = run_as(
	'regress_alice', 'queries',
	join("\n",
		'SELECT * FROM secret /* q_select */;',
		"INSERT INTO secret VALUES (1, 'x') /* q_insert */;",
		"UPDATE secret SET v = 'y' /* q_update */;",
		'DELETE FROM secret /* q_delete */;',
		'SELECT * FROM watched JOIN secret USING (id) /* q_join */;'));
is(() = $err =~ /permission denied for table secret/g, 5, '(five queries of an ordinary role are denied)');
for my $q (
	[ 'q_select', 'Select', 't' ],
	[ 'q_insert', 'Insert', 'f' ],
	[ 'q_update', 'Update', 'f' ],
	[ 'q_delete', 'Delete', 'f' ])
{
	my ($marker, $name, $ro) = @$q;
	is(wait_events(statement_where($marker), 1), 1, "a denied $name is recorded once");
	is( event_values(
			q{concat_ws('|', event_category, event_source, event_name, read_only, management_event, user_name,
			  error_code, additional_event_data->>'sqlState', error_message,
			  resources @> '[{"type": "PG::Table", "name": "public.secret"}]')},
			statement_where($marker)),
		"Data|table.postgresql|$name|$ro|f|regress_alice|InsufficientPrivilege|42501|permission denied for table secret|t",
		"... as a Data event $name of table.postgresql naming public.secret");
}
is(wait_events(statement_where('q_join'), 1), 1, 'a denied join is recorded once');
is( event_values(
		q{(resources @> '[{"name": "public.secret"}]') || '|' || (resources @> '[{"name": "public.watched"}]')},
		statement_where('q_join')),
	'true|true', '... naming both its tables');

# an error inside a function or DO block: once, by the innermost statement
($rc, $out, $err) = run_as(
	'postgres', 'nested',
	join("\n",
		"DO \$\$BEGIN EXECUTE 'CREATE TABLE dup_t (a int) /* f_do */'; END\$\$;",
		'SELECT fails_ddl() /* f_fn_outer */;'));
like($err, qr/already exists.*already exists/s, '(a DO block and a function fail on a CREATE TABLE)');
is(wait_events(statement_where('f_do'), 1), 1, 'a CREATE TABLE failing inside a DO block is recorded once');
is(event_values(q{concat_ws('|', event_name, error_code)}, statement_where('f_do')),
	'CreateTable|DuplicateTable', '... by the CREATE TABLE itself');
is(wait_events(statement_where('f_fn_ddl') . ' AND error_code IS NOT NULL', 1),
	1, 'a CREATE TABLE failing inside a function is recorded once');
is(count_events(q{user_agent = 'nested' AND error_code IS NOT NULL}), 2,
	'... and neither the DO block nor the calling SELECT has an event of its own');
($rc, $out, $err) = run_as('regress_alice', 'nested_denied', 'SELECT reads_secret() /* f_fn_denied */;');
like($err, qr/permission denied for table secret_fn/, '(a function called by an ordinary role is denied a table)');
is( wait_events(q{user_agent = 'nested_denied' AND error_code IS NOT NULL}, 1),
	1, 'a query denied inside a function is recorded once');
is( event_values(q{concat_ws('|', event_name, error_code, resources @> '[{"name": "public.secret_fn"}]')},
		q{user_agent = 'nested_denied' AND error_code IS NOT NULL}),
	'Select|InsufficientPrivilege|t', '... by the inner query, naming its table');

# an aborted transaction: the statements it refuses are not recorded; a
# failure in a savepoint is recorded once, and so is the next one
($rc, $out, $err) = run_as(
	'regress_alice', 'txn',
	join("\n",
		'BEGIN;',
		'SELECT * FROM secret /* t_first */;',
		'SELECT * FROM secret /* t_refused */;',
		'CREATE TABLE t_refused (a int) /* t_refused_ddl */;',
		'ROLLBACK;',
		'BEGIN;',
		'SAVEPOINT s;',
		'SELECT * FROM secret /* t_sp1 */;',
		'ROLLBACK TO s;',
		'SELECT * FROM secret /* t_sp2 */;',
		'ROLLBACK;'));
like($err, qr/current transaction is aborted/, '(statements of an aborted transaction are refused)');
is(wait_events(statement_where('t_sp2'), 1), 1, 'a failure after a savepoint rollback is recorded once');
is(count_events(statement_where('t_first')), 1, 'the failure that aborted the transaction is recorded once');
is(count_events(statement_where('t_sp1')), 1, 'a failure inside a savepoint is recorded once');
is(count_events(statement_where('t_refused') . ' OR ' . statement_where('t_refused_ddl')), 0,
	'statements refused because the transaction is aborted are not recorded');
is(count_events(q{additional_event_data->>'sqlState' = '25P02'}), 0, '... no event has sqlState 25P02');

# a query error on a table whose data events are selected is recorded; on
# another table (not a permission error) it is not
($rc, $out, $err) = run_as(
	'postgres', 'selected',
	join("\n",
		'INSERT INTO watched VALUES (1) /* s_ok */;',
		'INSERT INTO watched VALUES (1) /* s_dup */;',
		'SELECT 1 / (a - a) FROM dup_t /* s_other */;',
		'INSERT INTO watched VALUES (2 / 0) /* s_planned */;'));
like($err, qr/duplicate key.*division by zero.*division by zero/s,
	'(a unique violation on a selected table, a division by zero elsewhere, one while planning an insert into it)');
is(wait_events(statement_where('s_planned'), 1), 1,
	'an error found while planning a query on a selected table (constant folding) is recorded once');
is(event_values(q{concat_ws('|', event_name, error_code)}, statement_where('s_planned')),
	'Insert|DivisionByZero', '... as an Insert with errorCode DivisionByZero');
is(wait_events(statement_where('s_dup'), 1), 1, 'a unique violation on a selected table is recorded once');
is( event_values(
		q{concat_ws('|', event_category, event_source, event_name, error_code, additional_event_data->>'sqlState',
		  resources @> '[{"type": "PG::Table", "name": "public.watched"}]')},
		statement_where('s_dup')),
	'Data|table.postgresql|Insert|UniqueViolation|23505|t',
	'... as an Insert with errorCode UniqueViolation naming the table');
is(count_events(statement_where('s_ok')), 1, '(the successful insert has its event)');
is(count_events(statement_where('s_other')), 0,
	'a query error on a table that is not selected, not for privilege, is not recorded');

# errors of parse analysis, which come before every hook: spooled as
# candidates by emit_log_hook and resolved by the worker that drains them
$node->safe_psql(
	'postgres', q{
CREATE SCHEMA hidden_s;
CREATE TABLE hidden_s.hidden (id int);
CREATE SCHEMA nowhere;
CREATE TABLE analysis_sink (event_id uuid, event_name text, error_code text);
CREATE FUNCTION analysis_sink_rule(ev jsonb) RETURNS void LANGUAGE sql
	AS $$INSERT INTO public.analysis_sink VALUES ((ev->'detail'->>'eventID')::uuid,
		ev->'detail'->>'eventName', ev->'detail'->>'errorCode')$$;
SELECT trail.put_rule('analysis-failures', '{"detail": {"errorCode": ["UndefinedColumn"]}}',
	'function:public.analysis_sink_rule');
});
set_sighup('trail.log_events', 'management, data');
my $log_offset = -s $node->logfile;
($rc, $out, $err) = run_as(
	'postgres', 'analysis',
	join("\n",
		'INSERT INTO watched (id, nocol) VALUES (1, 2) /* a_col */;',
		'SELECT 1 /* a_first */ \; INSERT INTO watched (nocol) VALUES (1) /* a_multi */;',
		"INSERT INTO watched VALUES ('abc') /* a_type */;",
		'SELECT nocol FROM watched /* a_read */;',
		'INSERT INTO dup_t (nocol) VALUES (1) /* a_other */;',
		'WITH watched AS (SELECT 1 AS a) INSERT INTO dup_t SELECT b FROM watched /* a_cte */;',
		'INSERT INTO no_such_table VALUES (1) /* a_notable */;',
		'INSERT INTO watched VALUES 1 /* a_syntax */;',
		'SET search_path = nowhere;',
		'INSERT INTO watched (nocol) VALUES (1) /* a_path_none */;',
		'SET search_path = nowhere, public;',
		'INSERT INTO watched (nocol) VALUES (1) /* a_path */;',
		'RESET search_path;',
		'CREATE TABLE ctas_t AS SELECT nocol FROM dup_t /* a_ctas */;',
		'DO $$BEGIN INSERT INTO watched (nocol) VALUES (1) /* a_do_inner */; END$$ /* a_do */;',
		'SET ROLE regress_bob;',
		'INSERT INTO watched (nocol) VALUES (1) /* a_role */;',
		'RESET ROLE;'));
like($err, qr/column "nocol" of relation "watched" does not exist.*invalid input syntax for type integer.*syntax error/s,
	'(statements fail in parse analysis: unknown columns, a value of the wrong type, a syntax error)');
is(wait_events(statement_where('a_role'), 1), 1,
	'an INSERT naming an unknown column of a selected table is recorded (its failure comes before any hook)');
is(count_events(statement_where('a_col')), 1, '... once');
is( event_values(
		q{concat_ws('|', event_category, event_source, event_name, read_only, management_event, user_name,
		  user_agent, error_code, additional_event_data->>'sqlState', error_message,
		  resources @> '[{"type": "PG::Table", "name": "public.watched"}]', jsonb_array_length(resources),
		  request_id IS NOT NULL, source_ip_address, region, access_key_id IS NOT NULL)},
		statement_where('a_col')),
	'Data|table.postgresql|Insert|f|f|postgres|analysis|UndefinedColumn|42703|column "nocol" of relation "watched" does not exist|t|1|t|local|postgres|t',
	'... as the Insert it would have been: UndefinedColumn (42703), naming public.watched, with the session fields');
is(event_values(q{request_parameters->>'statement'}, statement_where('a_col')),
	'INSERT INTO watched (id, nocol) VALUES (1, 2) /* a_col */',
	'... and its statement');
is(count_events(statement_where('a_multi')), 1,
	'in a string of two statements, the failing one is recorded once');
is(count_events(statement_where('a_first')), 0, '... and its text is that statement alone');
is(event_values(q{concat_ws('|', event_name, error_code)}, statement_where('a_type')),
	'Insert|InvalidTextRepresentation', 'a value of the wrong type for a selected table is recorded as InvalidTextRepresentation');
is(count_events(statement_where('a_read')), 0, 'a failed read of a table selected for writes only is not recorded');
is(count_events(statement_where('a_other')), 0, 'an unknown column of a table that is not selected is not recorded');
is(count_events(statement_where('a_cte')), 0, 'a WITH query named like a selected table is not that table');
is(count_events(statement_where('a_notable')), 0, 'an unknown table is not a selected one');
is(count_events(statement_where('a_syntax')), 0, 'a syntax error is not recorded');
is(count_events(statement_where('a_path_none')), 0,
	'a name that the session\'s search_path does not reach is not the selected table');
is(event_values(q{resources->0->>'name'}, statement_where('a_path')),
	'public.watched', 'a name is resolved with the session\'s search_path');
is( event_values(
		q{concat_ws('|', event_category, event_source, event_name, management_event, error_code,
		  additional_event_data->>'commandTag', additional_event_data->>'topLevel')},
		statement_where('a_ctas')),
	'Management|ddl.postgresql|CreateTableAs|t|UndefinedColumn|CREATE TABLE AS|true',
	'a CREATE TABLE AS whose query fails analysis is a management event CreateTableAs');
is(event_values(q{concat_ws('|', event_name, error_code, request_parameters->>'statement' LIKE 'DO%')},
		statement_where('a_do_inner')),
	'Insert|UndefinedColumn|f', 'a query failing analysis inside a DO block is recorded once, by its own text');
is( event_values(q{concat_ws('|', user_identity->>'type', user_name, user_identity->'sessionContext'->'sessionIssuer'->>'userName')},
		statement_where('a_role')),
	'AssumedRole|postgres|regress_bob', 'after SET ROLE the failure is the assumed role\'s');
is(spooled(sub { ($_[0]{analysisFailure}{statement} // '') =~ /a_syntax/ }), 0,
	'a syntax error is not even spooled');

($rc, $out, $err) = run_as('regress_alice', 'analysis_denied', 'SELECT * FROM hidden_s.hidden /* a_schema */;');
like($err, qr/permission denied for schema hidden_s/, '(an ordinary role may not use a schema)');
is(wait_events(statement_where('a_schema'), 1), 1,
	'a permission error found while looking a name up is recorded once');
is( event_values(q{concat_ws('|', event_name, user_name, error_code, resources->0->>'name')},
		statement_where('a_schema')),
	'Select|regress_alice|InsufficientPrivilege|hidden_s.hidden',
	'... as a Select by the role, InsufficientPrivilege, naming the table');

# a statement its session's lexer read differently from the default: with
# standard_conforming_strings off, 'it\'s' is one string, so the drain must
# parse the text as the session did to find the statement at all
($rc, $out, $err) = run_as(
	'postgres', 'analysis_lexer',
	join("\n",
		'SET standard_conforming_strings = off;',
		q{INSERT INTO watched (id, nocol) VALUES (1, 'it\'s') /* a_lexer */;}));
like($err, qr/column "nocol" of relation "watched" does not exist/,
	'(an INSERT with a backslash-escaped quote fails analysis, standard_conforming_strings off)');
is(wait_events(statement_where('a_lexer'), 1), 1,
	'it is recorded once: the drain parses it with the session\'s standard_conforming_strings');
is( event_values(q{concat_ws('|', event_name, error_code, request_parameters->>'statement')},
		statement_where('a_lexer')),
	q{Insert|UndefinedColumn|INSERT INTO watched (id, nocol) VALUES (1, 'it\'s') /* a_lexer */},
	'... as the Insert of its own text');

my @undefined = split /\n/, event_values('event_id', q{user_agent = 'analysis' AND error_code = 'UndefinedColumn'});
ok( poll_until(30, sub { $node->safe_psql('postgres', 'SELECT count(*) FROM analysis_sink') >= @undefined }),
	'a rule matching errorCode UndefinedColumn reaches the failures drained from the spool');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM analysis_sink s JOIN trail.events e USING (event_id) WHERE e.user_agent = 'analysis'}),
	scalar @undefined, '... each of them once, with its event id');
my $log = slurp_file($node->logfile, $log_offset);
is(scalar(grep { my $id = $_; $log =~ /TRAIL: \{[^\n]*"eventID":"\Q$id\E"/ } @undefined),
	scalar @undefined, 'the log stream (trail.log_events) carries them too');
$node->safe_psql('postgres', q{SELECT trail.delete_rule('analysis-failures')});
set_sighup('trail.log_events', '');

###########################################################################
# 1b. Logins and logouts: global events of signin.postgresql
###########################################################################
($rc, $err) = tcp_connect('regress_alice', 'wrong-pw', 'l_wrongpw');
like($err, qr/password authentication failed/, '(a wrong password is refused)');
($rc, $err) = tcp_connect('regress_nosuch', 'some-pw', 'l_unknown');
like($err, qr/password authentication failed/, '(so is a role that does not exist)');
($rc, $out, $err) = run_as('regress_nosuch_local', 'l_unknown_local', 'SELECT 1');
like($err, qr/does not exist/, '(and one that does not exist, over trust)');
($rc, $err) = tcp_connect('regress_rejected', 'rejected-pw', 'l_reject');
like($err, qr/pg_hba.conf rejects connection/, '(pg_hba.conf rejects a role)');
($rc, $err) = tcp_connect('regress_alice', 'alice-pw', 'l_nohba', 'nohba');
like($err, qr/no pg_hba.conf entry/, '(pg_hba.conf has no entry for a database)');
($rc, $err) = tcp_connect('regress_alice', 'alice-pw', 'l_ok');
is($rc, 0, '(the right password logs in)');

is(wait_events(login_where('l_wrongpw'), 1), 1, 'a wrong password is one Login event');
is( event_values($login_shape, login_where('l_wrongpw')),
	'Management|AwsConsoleSignIn|Login|t|t|regress_alice|127.0.0.1|{"Login": "Failure"}|t|scram-sha-256|postgres|l_wrongpw|t',
	'... a global AwsConsoleSignIn Login, Failure with an errorMessage, from the client address, with the method, database, application and port'
);
is(event_values(q{user_agent}, login_where('l_wrongpw')), 'l_wrongpw', '... whose userAgent is the application name');

is(wait_events(login_where('l_unknown'), 1), 1, 'a role that does not exist is one Login event');
is( event_values($login_shape, login_where('l_unknown')),
	'Management|AwsConsoleSignIn|Login|t|t|HIDDEN_DUE_TO_SECURITY_REASONS|127.0.0.1|{"Login": "Failure"}|t|scram-sha-256|postgres|l_unknown|t',
	'... a Failure whose user name is HIDDEN_DUE_TO_SECURITY_REASONS');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM trail.events e WHERE " . login_where('l_unknown') . " AND e::text LIKE '%regress_nosuch%'"),
	0,
	'... and the name given appears nowhere in it');

is(wait_events(login_where('l_unknown_local'), 1), 1, 'a role that does not exist, over trust, is one Login event');
is( event_values(q{concat_ws('|', user_name, source_ip_address, response_elements->>'Login')},
		login_where('l_unknown_local')),
	'HIDDEN_DUE_TO_SECURITY_REASONS|local|Failure',
	'... a Failure from local, its user name hidden');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM trail.events e WHERE "
		  . login_where('l_unknown_local')
		  . " AND e::text LIKE '%regress_nosuch_local%'"),
	0,
	'... and the name given appears nowhere in it (nor in errorMessage)');

is(wait_events(login_where('l_reject'), 1), 1, 'a pg_hba.conf reject is one Login event');
is( event_values(q{concat_ws('|', user_name, response_elements->>'Login', additional_event_data->>'authenticationMethod',
		error_message LIKE '%pg_hba.conf rejects%')}, login_where('l_reject')),
	'regress_rejected|Failure|reject|t',
	'... a Failure of the role (which exists), method reject, saying why');

is(wait_events(login_where('l_nohba'), 1), 1, 'a connection pg_hba.conf has no entry for is one Login event');
is( event_values(q{concat_ws('|', user_name, response_elements->>'Login', additional_event_data->>'database',
		error_message LIKE '%no pg_hba.conf entry%')}, login_where('l_nohba')),
	'regress_alice|Failure|nohba|t',
	'... a Failure of the role (which exists), for the database asked for, saying why');

is(wait_events(login_where('l_ok'), 1), 1, 'a successful login is one Login event');
is( event_values(qq{$login_shape || '|' || (error_code IS NULL)::text}, login_where('l_ok')),
	'Management|AwsConsoleSignIn|Login|t|t|regress_alice|127.0.0.1|{"Login": "Success"}|f|scram-sha-256|postgres|l_ok|t|true',
	'... a Success without error');
my $logout_where = q{event_source = 'signin.postgresql' AND event_name = 'Logout' AND user_agent = 'l_ok'};
is(wait_events($logout_where, 1), 1, '... followed by one Logout at disconnection');
is( event_values(
		q{concat_ws('|', event_type, is_global, user_name, source_ip_address,
		  additional_event_data->>'sessionDuration' ~ '^[0-9]+(\.[0-9]+)?$')},
		$logout_where),
	'AwsConsoleSignIn|t|regress_alice|127.0.0.1|t',
	'... with the session duration');
is( $node->safe_psql(
		'postgres', qq{SELECT (SELECT event_time FROM trail.events WHERE $logout_where)
		               >= (SELECT event_time FROM trail.events WHERE } . login_where('l_ok') . ')'),
	't', '... after the Login');

($rc, $out, $err) = run_as('regress_alice', 'l_local', 'SELECT 1');
is(wait_events(login_where('l_local'), 1), 1, 'a local login is one Login event');
is( event_values(q{concat_ws('|', source_ip_address, additional_event_data->>'authenticationMethod',
		response_elements->>'Login')}, login_where('l_local')),
	'local|trust|Success', '... from local, method trust');

# trail.log_unknown_user_names = on: the name given is recorded
set_sighup('trail.log_unknown_user_names', 'on');
($rc, $err) = tcp_connect('regress_nosuch_named', 'some-pw', 'l_unknown_named');
is(wait_events(login_where('l_unknown_named'), 1), 1, 'with trail.log_unknown_user_names on, an unknown role is one Login');
is(event_values(q{user_name || '|' || (response_elements->>'Login')}, login_where('l_unknown_named')),
	'regress_nosuch_named|Failure', '... naming the role given');
set_sighup('trail.log_unknown_user_names', 'off');

# too many connections: the slots of ordinary roles, then all slots
my @sessions;
{
	local $ENV{PGAPPNAME} = 'l_holder';
	push @sessions, $node->background_psql('postgres', extra_params => [ '-U', 'regress_alice' ]) for 1 .. 4;
}
($rc, $out, $err) = run_as('regress_alice', 'l_reserved', 'SELECT 1');
like($err, qr/remaining connection slots are reserved/, '(the slots left are reserved for superusers)');
push @sessions, $node->background_psql('postgres') for 1 .. 2;
($rc, $out, $err) = run_as('postgres', 'l_toomany', 'SELECT 1');
like($err, qr/too many clients/, '(no slot is left)');
$_->quit for @sessions;
poll_until(30, sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'l_holder'}) == 0 });

# refusals after authentication: a role that may not log in, a role at its
# connection limit, a database that does not exist
$node->safe_psql('postgres',
	'CREATE ROLE regress_nologin NOLOGIN; CREATE ROLE regress_limited LOGIN CONNECTION LIMIT 0');
($rc, $out, $err) = run_as('regress_nologin', 'l_nologin', 'SELECT 1');
like($err, qr/not permitted to log in/, '(a NOLOGIN role is refused)');
($rc, $out, $err) = run_as('regress_limited', 'l_role_limit', 'SELECT 1');
like($err, qr/too many connections for role/, '(a role at its connection limit is refused)');
($rc, $out, $err) = run_as('regress_alice', 'l_nodb', 'SELECT 1', 'no_such_db');
like($err, qr/database "no_such_db" does not exist/, '(a database that does not exist is refused)');

# all of these drained (their records gone from the spool), then counted
my @refused = qw(l_reserved l_toomany l_nologin l_role_limit l_nodb);
ok( poll_until(
		30,
		sub {
			!spooled(sub { my $ua = $_[0]{user_agent} // ''; grep { $ua eq $_ } @refused });
		}),
	'(the refused connections are drained from the spool)');
is(count_events(login_where('l_toomany', 'Failure')), 1, 'a connection refused for too many clients is one Login Failure');
is(event_values(q{concat_ws('|', user_name, error_message LIKE '%too many clients%')}, login_where('l_toomany')),
	'postgres|t', '... of the role, saying why');
for my $r (
	[ 'l_reserved', 'regress_alice', 'because the slots left are reserved' ],
	[ 'l_nologin', 'regress_nologin', 'to a NOLOGIN role' ],
	[ 'l_role_limit', 'regress_limited', 'to a role at its connection limit' ],
	[ 'l_nodb', 'regress_alice', 'for a database that does not exist' ])
{
	my ($app, $user, $why) = @$r;
	is(count_events(login_where($app, 'Failure') . " AND user_name = '$user'"), 1,
		"a connection refused $why is one Login Failure of the role");
	is(count_events(login_where($app, 'Success')), 0, '... and not a successful Login');
	is(count_events(qq{event_name = 'Logout' AND user_agent = '$app'}), 0, '... nor a Logout');
}
is(event_values(q{additional_event_data->>'database'}, login_where('l_nodb')), 'no_such_db',
	'... naming the database asked for');

###########################################################################
# 1c. Cluster-wide commands where trail is not installed reach the home
#     database once they committed; trail.home_database moves them
###########################################################################
($rc, $out, $err) = run_as(
	'postgres', 'global',
	join("\n",
		'CREATE ROLE regress_g1 /* g_ok */;',
		'CREATE ROLE regress_g1 /* g_dup */;',
		'BEGIN;',
		'CREATE ROLE regress_g2 /* g_rolledback */;',
		'ROLLBACK;',
		'CREATE TABLE local_t (a int) /* g_local */;',
		"ALTER SYSTEM SET work_mem = '5MB' /* g_system */;",
		'ALTER SYSTEM RESET work_mem;'),
	'notrail');
like($err, qr/role "regress_g1" already exists/, '(in a database without trail: CREATE ROLE, twice)');
is(wait_events(statement_where('g_ok'), 1), 1, 'a CREATE ROLE in a database without trail is recorded once in the home database');
is(event_values(q{concat_ws('|', event_source, event_name, is_global, error_code IS NULL)}, statement_where('g_ok')),
	'iam.postgresql|CreateRole|t|t', '... as a global CreateRole');
is(wait_events(statement_where('g_dup'), 1), 1, '... and its failure too');
is(event_values(q{concat_ws('|', event_name, error_code, additional_event_data->>'sqlState')}, statement_where('g_dup')),
	'CreateRole|DuplicateObject|42710', '... with errorCode DuplicateObject');
is(wait_events(statement_where('g_system'), 1), 1, 'ALTER SYSTEM in a database without trail is recorded once');
is(count_events(statement_where('g_rolledback')), 0, 'a CREATE ROLE rolled back is not');
is(count_events(statement_where('g_local')), 0, 'ordinary DDL of a database without trail is not');

set_sighup('trail.home_database', 'audit');
($rc, $err) = tcp_connect('regress_alice', 'wrong-pw', 'l_home_audit');
is(wait_events(login_where('l_home_audit'), 1, 'audit'), 1,
	'with trail.home_database = audit, a login goes to database audit');
is(count_events(login_where('l_home_audit'), 'postgres'), 0, '... and not to postgres');
set_sighup('trail.home_database', 'postgres');

ok(-d $node->data_dir . '/pg_trail/spool/global', 'pg_trail/spool/global is in the data directory');
my $postgres_oid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
ok(-d $node->data_dir . "/pg_trail/spool/$postgres_oid", 'and pg_trail/spool/<database oid>');

###########################################################################
# 2. kill -9 right after each outcome: every event exactly once
###########################################################################
# From here on the workers drain once when the server starts, then not for
# an hour: an event is still in the spool when the server is killed.
$node->safe_psql('postgres', q{ALTER SYSTEM SET trail.delivery_interval = 3600});
tcp_connect('regress_alice', 'wrong-pw', 'canary_2');
$node->restart;
is(wait_events(login_where('canary_2'), 1), 1, '(with trail.delivery_interval = 3600 the spool is drained when the server starts)');

# Each round begins with a failed login (a global record, drained after the
# database's own): once it is in trail.events after the restart, the
# workers' one drain at start has listed every file of the round.  The
# round's outcome comes next, and the SIGKILL of every server process right
# after it (only the checks that it is spooled and not yet stored between).
my $round = 0;
my $canary;
sub begin_round
{
	$canary = 'canary_crash_' . ++$round;
	tcp_connect('regress_alice', 'wrong-pw', $canary);
}

sub crash_and_restart
{
	my ($what) = @_;
	my @left = kill9_and_wait($node);
	is(scalar(@left), 0, "$what: every server process is killed") or diag("still alive: @left");
	$node->start;
	wait_events(login_where($canary), 1);
}

# Wait (60 s) until the events are there and none of the records waits in
# the spool any more, then count.
sub wait_drained
{
	my ($where, $n, $still_spooled) = @_;
	poll_until(30, sub { count_events($where) >= $n && $still_spooled->() == 0 });
	return count_events($where);
}

# 2a. a query denied to an ordinary role
begin_round();
($rc, $out, $err) = run_as('regress_alice', 'crash_denied', 'SELECT * FROM secret /* crash_denied */');
like($err, qr/permission denied/, 'crash 1: (an ordinary role was denied a query)');
is(spooled_statement('crash_denied'), 1, 'crash 1: the failure is in the spool');
is(count_events(statement_where('crash_denied')), 0, 'crash 1: (and not in trail.events yet)');
crash_and_restart('crash 1');
is( wait_drained(
		statement_where('crash_denied') . q{ AND error_code = 'InsufficientPrivilege' AND event_category = 'Data'},
		1, sub { spooled_statement('crash_denied') }),
	1,
	'crash 1: after the restart the denied query is in trail.events exactly once');

# 2a'. a query that fails parse analysis on a selected table (a candidate,
# resolved only when drained)
begin_round();
($rc, $out, $err) = run_as('postgres', 'crash_analysis', 'INSERT INTO watched (nocol) VALUES (1) /* crash_analysis */');
like($err, qr/column "nocol"/, "crash 1': (an INSERT failed in parse analysis)");
is(spooled_statement('crash_analysis'), 1, "crash 1': the candidate is in the spool");
crash_and_restart("crash 1'");
is( wait_drained(
		statement_where('crash_analysis') . q{ AND error_code = 'UndefinedColumn' AND event_name = 'Insert'},
		1, sub { spooled_statement('crash_analysis') }),
	1,
	"crash 1': after the restart the failed INSERT is in trail.events exactly once");

# 2b. a failed DDL
begin_round();
($rc, $out, $err) = run_as('postgres', 'crash_ddl', 'CREATE TABLE dup_t (a int) /* crash_ddl */');
like($err, qr/already exists/, 'crash 2: (a CREATE TABLE failed)');
is(spooled_statement('crash_ddl'), 1, 'crash 2: the failure is in the spool');
is(count_events(statement_where('crash_ddl')), 0, 'crash 2: (and not in trail.events yet)');
crash_and_restart('crash 2');
is( wait_drained(
		statement_where('crash_ddl') . q{ AND error_code = 'DuplicateTable'},
		1, sub { spooled_statement('crash_ddl') }),
	1,
	'crash 2: after the restart the failed CREATE TABLE is in trail.events exactly once');

# 2c. a wrong password
begin_round();
($rc, $err) = tcp_connect('regress_alice', 'wrong-pw', 'crash_wrongpw');
like($err, qr/password authentication failed/, 'crash 3: (a wrong password was refused)');
is(spooled_app('crash_wrongpw', 'Login'), 1, 'crash 3: the Login is in the spool');
crash_and_restart('crash 3');
is(wait_drained(login_where('crash_wrongpw', 'Failure'), 1, sub { spooled_app('crash_wrongpw', 'Login') }),
	1, 'crash 3: after the restart the failed Login is in trail.events exactly once');

# 2d. a role that does not exist
begin_round();
($rc, $err) = tcp_connect('regress_nosuch', 'some-pw', 'crash_unknown');
like($err, qr/password authentication failed/, 'crash 4: (an unknown role was refused)');
is(spooled_app('crash_unknown', 'Login'), 1, 'crash 4: the Login is in the spool');
crash_and_restart('crash 4');
is( wait_drained(
		login_where('crash_unknown', 'Failure') . q{ AND user_name = 'HIDDEN_DUE_TO_SECURITY_REASONS'},
		1, sub { spooled_app('crash_unknown', 'Login') }),
	1,
	'crash 4: after the restart the failed Login is in trail.events exactly once');

# 2e. a successful login (and logout), and a session still open at the crash
begin_round();
($rc, $err) = tcp_connect('regress_alice', 'alice-pw', 'crash_login');
is($rc, 0, 'crash 5: (a login succeeded)');
my $open;
{
	local $ENV{PGAPPNAME} = 'crash_open';
	$open = $node->background_psql('postgres', extra_params => [ '-U', 'regress_alice' ]);
}
$open->query_safe('SELECT 1');
# the Logout is written when the backend exits, after the client left
ok(poll_until(30, sub { spooled_app('crash_login', 'Logout') == 1 }), 'crash 5: the Logout is in the spool');
is(spooled_app('crash_login', 'Login'), 1, 'crash 5: and the Login');
is(spooled_app('crash_open', 'Login'), 1, 'crash 5: and the Login of the open session');
crash_and_restart('crash 5');
eval { $open->quit };
is(wait_drained(login_where('crash_login', 'Success'), 1, sub { spooled_app('crash_login', 'Login') }),
	1, 'crash 5: after the restart the successful Login is in trail.events exactly once');
is(count_events(q{event_name = 'Logout' AND user_agent = 'crash_login'}), 1, 'crash 5: ... and its Logout exactly once');
is(count_events(login_where('crash_open', 'Success')), 1, 'crash 5: the Login of the session cut by the crash exactly once');

# 2f. SET ROLE, then DDL that succeeds and DDL that fails
begin_round();
($rc, $out, $err) = run_as(
	'postgres', 'crash_role',
	join("\n",
		'SET ROLE regress_bob /* crash_setrole */;',
		'CREATE TABLE role_t (a int) /* crash_role_ok */;',
		'CREATE TABLE role_t (a int) /* crash_role_fail */;'));
like($err, qr/already exists/, 'crash 6: (after SET ROLE a CREATE TABLE succeeded, the next failed)');
is(spooled_statement('crash_role_fail'), 1, 'crash 6: the failure is in the spool');
crash_and_restart('crash 6');
is( wait_drained(
		statement_where('crash_role_fail') . q{ AND error_code = 'DuplicateTable'},
		1, sub { spooled_statement('crash_role_fail') }),
	1,
	'crash 6: after the restart the failed CREATE TABLE is in trail.events exactly once');
is(event_values(q{user_identity->>'type'}, statement_where('crash_role_fail')),
	'AssumedRole', 'crash 6: ... as the assumed role');
is(count_events(statement_where('crash_setrole') . q{ AND event_name = 'AssumeRole'}), 1,
	'crash 6: the AssumeRole is there exactly once');
is(count_events(statement_where('crash_role_ok') . q{ AND error_code IS NULL}), 1,
	'crash 6: the CREATE TABLE that succeeded exactly once');

###########################################################################
# 3. A crash while the workers drain
###########################################################################
set_sighup('trail.delivery_interval', '1');
begin_round();
($rc, $out, $err) = run_as('regress_alice', 'bulk',
	q{DO $$BEGIN FOR i IN 1..2000 LOOP
		BEGIN PERFORM * FROM secret_bulk; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
	END LOOP; END$$});
is($rc, 0, '(2000 queries denied to an ordinary role in a DO block)');
my $bulk_logins = 0;
for my $i (1 .. 30)
{
	($rc, $err) = tcp_connect('regress_alice', 'wrong-pw', 'bulk_login');
	$bulk_logins++ if $err =~ /password authentication failed/;
}
is($bulk_logins, 30, '(30 wrong passwords, the workers draining meanwhile)');
my $bulk_where = q{error_code = 'InsufficientPrivilege' AND resources @> '[{"name": "public.secret_bulk"}]'};
note('before the crash: ' . count_events($bulk_where) . ' denied queries and '
	  . count_events(login_where('bulk_login')) . ' logins in trail.events');
crash_and_restart('crash while draining');
is( wait_drained(
		$bulk_where, 2000,
		sub {
			scalar spooled(sub { ref $_[0]{resources} eq 'ARRAY' && grep { ($_->{name} // '') eq 'public.secret_bulk' } @{ $_[0]{resources} } });
		}),
	2000,
	'after a crash while draining, each of the 2000 denied queries is in trail.events exactly once');
is(wait_drained(login_where('bulk_login', 'Failure'), 30, sub { spooled_app('bulk_login', 'Login') }),
	30, '... and each of the 30 failed logins');

###########################################################################
# 4. A crash after a drain's commit, before its file is removed: the file
#    of a session that is still alive is drained (its position recorded)
#    but kept; killed with the server, its writer is gone after the
#    restart, and the file must be removed without storing anything twice
#    (a Data event has no unique index to fall back on)
###########################################################################
$node->safe_psql('postgres', q{ALTER SYSTEM SET trail.delivery_interval = 1});
$node->reload;
my $live;
{
	local $ENV{PGAPPNAME} = 'redo';
	$live = $node->background_psql('postgres', on_error_stop => 0);
}
$live->query(q{SET ROLE regress_alice});
$live->query(q{SELECT * FROM secret /* redo_denied */});
$live->query(q{RESET ROLE});
$live->query(q{CREATE TABLE dup_t (a int) /* redo_ddl */});
my $redo_where = q{(} . statement_where('redo_denied') . ' OR ' . statement_where('redo_ddl') . ')';
ok(poll_until(60, sub { count_events($redo_where) == 2 }),
	'(the live session\'s denied query and failed DDL are drained)');
is(spooled_statement('redo_denied') + spooled_statement('redo_ddl'), 2,
	'... while its spool file stays, its writer being alive');
begin_round();
crash_and_restart('a crash with a drained spool file of a live session');
eval { $live->quit };
ok(poll_until(60, sub { spooled_statement('redo_denied') + spooled_statement('redo_ddl') == 0 }),
	'after the restart the file, whose writer is gone, is removed');
is(count_events(statement_where('redo_ddl')), 1, 'the failed DDL is still stored once');
is(count_events(statement_where('redo_denied')), 1, 'the denied query (a Data event) is still stored once');
# the drain writes a stored event's LookupEvents entries with it, once
is($node->safe_psql('postgres',
		q{SELECT string_agg(r.lookup_key, ',' ORDER BY r.lookup_key) FROM trail.event_resources r
		   JOIN trail.events e ON e.event_id = r.event_id AND e.event_time = r.event_time
		  WHERE r.lookup_key NOT LIKE 'Resource%' AND } . statement_where('redo_ddl')),
	'AccessKeyId,EventName,EventSource,Username',
	'the failed DDL has one lookup entry per keyed attribute');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM trail.event_resources r
		   JOIN trail.events e ON e.event_id = r.event_id AND e.event_time = r.event_time
		  WHERE } . statement_where('redo_denied')),
	0, 'the denied query, a Data event, has none');
unlike(slurp_file($node->logfile), qr/could not insert a spooled event|violates unique constraint "event/,
	'no drain failed');

###########################################################################
# Nothing was dropped
###########################################################################
is($node->safe_psql('postgres', 'SELECT dropped FROM trail.spool_status()'), 0,
	'trail.spool_status() counts no dropped event');
unlike(slurp_file($node->logfile), qr/could not be written to the spool/,
	'the server log reports no dropped event');

$node->stop;
done_testing();
