# test/system/020_data_events_crash.pl: data events survive a crash exactly
# as the transactions that made them do.
#
# pgbench (TPC-B: each transaction updates one account, one teller, one
# branch and inserts one history row) runs on tables whose writes the
# selectors pick, with row images; in the middle of it the postmaster is
# killed with SIGKILL (no shutdown of any kind).  After crash recovery:
#
#  - every committed transaction has its events: as many Insert row events
#    of pgbench_history (it has no primary key) as it has rows, with the
#    same values; as many Update row events of pgbench_accounts, tellers and
#    branches; and the balance changes the account row events show add up
#    to each account's balance;
#  - nothing half-written: no row event without its statement event, no
#    statement event missing any of the rows it announces (rowEvents);
#  - capture goes on after the restart.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = trail_node('crash');
$node->command_ok(
	[ 'pgbench', '-i', '-s', '1', '-q', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i');

# Writes of every pgbench table, with the default row images (changed).
$node->safe_psql('postgres',
	select_writes_sql('pgbench writes', 'pgbench_history', 'pgbench_'));
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(table_id::text || ':' || row_images, ' ' ORDER BY table_id::text)
		    FROM trail.captured_tables}),
	'pgbench_accounts:changed pgbench_branches:changed pgbench_history:changed pgbench_tellers:changed',
	'the four pgbench tables are captured with row images');

# All server processes: the postmaster and its children (read from /proc).
sub server_pids
{
	my ($pm) = @_;
	my @pids = ($pm);
	opendir(my $dh, '/proc') or die "cannot read /proc: $!";
	for my $p (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat;
		# pid (comm) state ppid ...; comm may contain spaces and parentheses
		push @pids, $p if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pm;
	}
	closedir $dh;
	return @pids;
}

# Is a process still running?  (An orphan that exited may stay a zombie
# when nothing reaps it; it holds no shared memory any more.)
sub running
{
	my ($pid) = @_;
	return 0 unless kill(0, $pid);
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close $fh;
	return !(defined $stat && $stat =~ /\)\s+Z\s/);
}

# Invariants of the events of the pgbench tables; returns a hash.
sub check_events
{
	my %r;
	my @names = qw(history history_rows history_stmts history_values
	  accounts_rows accounts_stmts tellers_rows branches_rows balances
	  orphans incomplete);
	my $out = $node->safe_psql(
		'postgres', q{
WITH rows AS (
	SELECT e.request_parameters->>'tableName' AS tbl, e.event_name, r.*
	  FROM trail.event_rows r
	  JOIN trail.events e ON e.event_id = r.statement_event_id AND e.event_time = r.event_time)
SELECT (SELECT count(*) FROM pgbench_history),
       (SELECT count(*) FROM rows WHERE tbl = 'public.pgbench_history' AND event_name = 'Insert'),
       (SELECT count(*) FROM trail.events WHERE event_category = 'Data'
           AND request_parameters->>'tableName' = 'public.pgbench_history' AND event_name = 'Insert'),
       -- the history rows and the new images of its row events, as multisets
       (SELECT count(*) FROM (
           (SELECT tid, bid, aid, delta FROM pgbench_history
            EXCEPT ALL
            SELECT (new_image->>'tid')::int, (new_image->>'bid')::int, (new_image->>'aid')::int,
                   (new_image->>'delta')::int
              FROM rows WHERE tbl = 'public.pgbench_history')
           UNION ALL
           (SELECT (new_image->>'tid')::int, (new_image->>'bid')::int, (new_image->>'aid')::int,
                   (new_image->>'delta')::int
              FROM rows WHERE tbl = 'public.pgbench_history'
            EXCEPT ALL
            SELECT tid, bid, aid, delta FROM pgbench_history)) d),
       (SELECT count(*) FROM rows WHERE tbl = 'public.pgbench_accounts' AND event_name = 'Update'),
       (SELECT count(*) FROM trail.events WHERE event_category = 'Data'
           AND request_parameters->>'tableName' = 'public.pgbench_accounts' AND event_name = 'Update'),
       (SELECT count(*) FROM rows WHERE tbl = 'public.pgbench_tellers' AND event_name = 'Update'),
       (SELECT count(*) FROM rows WHERE tbl = 'public.pgbench_branches' AND event_name = 'Update'),
       -- accounts whose balance is not the sum of the changes their row events show
       (SELECT count(*) FROM pgbench_accounts a
          LEFT JOIN (SELECT (row_key->>'aid')::int AS aid,
                            sum(coalesce((new_image->>'abalance')::int, 0)
                                - coalesce((old_image->>'abalance')::int, 0)) AS change
                       FROM rows WHERE tbl = 'public.pgbench_accounts' GROUP BY 1) c USING (aid)
         WHERE a.abalance <> coalesce(c.change, 0)),
       (SELECT count(*) FROM trail.event_rows r
         WHERE NOT EXISTS (SELECT 1 FROM trail.events e
                            WHERE e.event_id = r.statement_event_id AND e.event_time = r.event_time)),
       (SELECT count(*) FROM trail.events e
          LEFT JOIN (SELECT statement_event_id, event_time, count(*) AS n
                       FROM trail.event_rows GROUP BY 1, 2) c
            ON c.statement_event_id = e.event_id AND c.event_time = e.event_time
         WHERE e.event_category = 'Data' AND (e.additional_event_data->>'rowEvents')::int > 0
           AND (e.additional_event_data->>'rowEvents')::int IS DISTINCT FROM c.n)
});
	my @v = split /\|/, $out;
	@r{@names} = @v;
	return \%r;
}

###########################################################################
# pgbench in the background; SIGKILL of the postmaster while it runs
###########################################################################
my ($in, $out, $err) = ('', '', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '2', '-j', '2', '-T', '60',
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'<', \$in, '>', \$out, '2>', \$err);

# wait until a good number of transactions committed
# (at least 3 seconds and 2000 transactions, at most 30 seconds)
my $committed = 0;
my $started = time();
while (time() < $started + 30 && ($committed < 2000 || time() < $started + 3))
{
	usleep(100_000);
	$committed = $node->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
}
cmp_ok($committed, '>=', 100, "pgbench committed transactions before the crash ($committed)");

my $pm = $node->{_pid};
my @pids = server_pids($pm);
cmp_ok(scalar(@pids), '>', 3, 'the postmaster and its children are running');
$node->kill9;

# The orphaned children notice the postmaster's death and exit; a new
# postmaster cannot start while they hold the shared memory (nor while the
# killed postmaster's pid, in postmaster.pid, still exists).
my $deadline = time() + 60;
my @alive;
do
{
	usleep(100_000);
	# the postmaster must be gone for good: its lock file names its pid
	@alive = grep { $_ == $pm ? kill(0, $_) : running($_) } @pids;
} while (@alive && time() < $deadline);
is(scalar(@alive), 0, 'every server process exits once the postmaster is killed')
  or do { diag("still alive: @alive"); kill('KILL', @alive); };

$pgbench->finish;
isnt($?, 0, 'pgbench was cut off by the crash');
like($err, qr/(server closed the connection|terminat|connection to server)/i,
	'... losing its connections');

$node->start;
like(slurp_file($node->logfile), qr/database system was interrupted|not properly shut down/,
	'the server went through crash recovery');

###########################################################################
# Exactly the committed transactions have their events
###########################################################################
my $r = check_events();
cmp_ok($r->{history}, '>=', $committed, "pgbench_history has the committed rows ($r->{history})");
is($r->{history_rows}, $r->{history},
	'one Insert row event of pgbench_history per history row');
is($r->{history_stmts}, $r->{history},
	'... and one Insert statement event per transaction');
is($r->{history_values}, 0, '... with the values of the rows');
is($r->{accounts_rows}, $r->{history},
	'one Update row event of pgbench_accounts per committed transaction');
is($r->{accounts_stmts}, $r->{history},
	'... and one Update statement event per committed transaction');
is($r->{tellers_rows}, $r->{history}, 'the same for pgbench_tellers');
is($r->{branches_rows}, $r->{history}, 'the same for pgbench_branches');
is($r->{balances}, 0,
	'every account balance is the sum of the changes its row events show');
is($r->{orphans}, 0, 'no row event lacks its statement event');
is($r->{incomplete}, 0, 'no statement event lacks any of its row events');

###########################################################################
# Capture goes on after the restart
###########################################################################
$node->command_ok(
	[ 'pgbench', '-n', '-c', '2', '-t', '50', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench runs after the restart');
my $r2 = check_events();
is($r2->{history}, $r->{history} + 100, '100 more transactions');
is( join(' ', map { $r2->{$_} } qw(history_rows history_stmts accounts_rows accounts_stmts tellers_rows branches_rows)),
	join(' ', ($r2->{history}) x 6),
	'... each with its events');
is( join(' ', map { $r2->{$_} } qw(history_values balances orphans incomplete)),
	'0 0 0 0', '... and the events still match the data');

$node->stop;
done_testing();
