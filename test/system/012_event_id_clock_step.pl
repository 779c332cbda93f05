# 012_event_id_clock_step.pl: LookupEvents by EventId after the server's
# clock stepped back by more than a day.
#
# trail's event ids are UUIDv7 made from the event's time, and never go back
# in time within a backend; a lookup by EventId reads the minute before the
# time the id names, by the unique (event_time, event_id) index.  When the
# clock steps back by more than a minute, a backend's next ids are newer
# than their events by that much, so those events need an EventId entry in
# trail.event_resources, both when stored in the statement (a management
# command) and when drained from the spool (a failed one).  A smaller step
# needs none.
#
# The server runs under libfaketime (Debian's libfaketime, installed by
# make test), its offset read from a file at every clock call, so that one
# psql session can step the clock back between two statements.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrailTest;

my ($libfaketime) = glob('/usr/lib/*/faketime/libfaketime.so.1');
defined $libfaketime or die 'libfaketime is missing (apt-get install libfaketime)';

my $offset_file = PostgreSQL::Test::Utils::tempdir() . '/clock_offset';
PostgreSQL::Test::Utils::append_to_file($offset_file, "+0d\n");

my $node = PostgreSQL::Test::Cluster->new('clock_step');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'trail'
trail.delivery_interval = 1
});
{
	local $ENV{LD_PRELOAD} = $libfaketime;
	local $ENV{FAKETIME_NO_CACHE} = '1';
	local $ENV{FAKETIME_TIMESTAMP_FILE} = $offset_file;
	$node->start;
}
$node->safe_psql('postgres', 'CREATE EXTENSION trail');

# One session: a table made at the real time; the clock steps back two
# days; a table made then, and a CREATE TABLE that fails (spooled); the
# clock comes back.
my ($rc, $out, $err) = $node->psql(
	'postgres', qq{
CREATE TABLE before_step ();
\\! echo -2d > $offset_file
CREATE TABLE after_step ();
CREATE TABLE before_step ();
\\! echo +0d > $offset_file
}, on_error_stop => 0);
like($err, qr/relation "before_step" already exists/, 'the second CREATE TABLE before_step fails');

# The id of the event of a statement (its event_time and id's time, as
# Unix days computed here, not by trail).
sub event_of
{
	my ($where) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT event_id,
       floor(extract(epoch FROM event_time) / 86400)::int,
       (('x' || lpad(substr(replace(event_id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 86400000)::int
  FROM trail.events WHERE $where});
}

# The events LookupEvents finds by an EventId.
sub found_by_id
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(event_id::text, ',') FROM trail.lookup_events('EventId', '$id', start_time => now() - interval '7 days')"
	);
}

# EventId entries of an event.
sub id_entries
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM trail.event_resources WHERE lookup_key = 'EventId' AND event_id = '$id'");
}

my ($before_id, $before_day, $before_id_day) =
  split /\|/, event_of(q{error_code IS NULL AND request_parameters->>'statement' LIKE 'CREATE TABLE before_step%'});
my ($after_id, $after_day, $after_id_day) =
  split /\|/, event_of(q{request_parameters->>'statement' LIKE 'CREATE TABLE after_step%'});

is($before_id_day - $before_day, 0, 'before the step, the id names its event\'s day');
cmp_ok($after_id_day - $after_day, '>=', 2, 'after the step, the id is two days newer than its event');

is(found_by_id($before_id), $before_id, 'EventId finds the event made before the step');
is(id_entries($before_id), 0, '... which needs no EventId entry');
is(found_by_id($after_id), $after_id, 'EventId finds the event made after the step');
is(id_entries($after_id), 1, '... by its EventId entry');

# the failed CREATE TABLE reaches trail.events through the spool
ok( poll_until(
		30,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM trail.events WHERE error_code = 'DuplicateTable'}) == 1;
		}),
	'the failed statement is drained from the spool');
my ($failed_id, $failed_day, $failed_id_day) =
  split /\|/, event_of(q{error_code = 'DuplicateTable'});
cmp_ok($failed_id_day - $failed_day, '>=', 2, 'the failed statement\'s id is two days newer than its event');
is(found_by_id($failed_id), $failed_id, 'EventId finds the failed statement drained from the spool');
is(id_entries($failed_id), 1, '... by its EventId entry');

# Steps of less and more than a minute, in a session of their own: its ids
# stay at the time of its first statement, its events' times go back.
($rc, $out, $err) = $node->psql(
	'postgres', qq{
CREATE TABLE step_none ();
\\! echo -30 > $offset_file
CREATE TABLE step_30s ();
\\! echo -90 > $offset_file
CREATE TABLE step_90s ();
\\! echo +0d > $offset_file
}, on_error_stop => 1);
is($rc, 0, 'the session with steps of 30 and 90 seconds ran') or diag($err);

# How much newer than its event an id is, in seconds (its time read here from
# the id's first 48 bits, not by trail).
sub id_lead
{
	my ($id) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT round((('x' || lpad(substr(replace(event_id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0
              - extract(epoch FROM event_time))::numeric)
  FROM trail.events WHERE event_id = '$id'});
}
my %step;
for my $name (qw(step_none step_30s step_90s))
{
	($step{$name}) = split /\|/,
	  event_of(qq{request_parameters->>'statement' LIKE 'CREATE TABLE $name%'});
}
is(id_lead($step{step_none}), 0, 'without a step, the id carries its event\'s time');
cmp_ok(id_lead($step{step_30s}), '>=', 29, 'after a 30 s step, the id is ~30 s newer than its event');
cmp_ok(id_lead($step{step_90s}), '>=', 89, 'after a 90 s step, the id is ~90 s newer than its event');
for my $name (qw(step_none step_30s step_90s))
{
	is(found_by_id($step{$name}), $step{$name}, "EventId finds the event of $name");
}
is(id_entries($step{step_none}) + id_entries($step{step_30s}), 0,
	'... with no EventId entry within the minute its id names');
is(id_entries($step{step_90s}), 1, '... and by its entry beyond it');

$node->stop;
done_testing();
