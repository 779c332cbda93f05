# test/system/051_spool_flood.pl: a flood of failures through the spool
# (issue 6) neither stops the server nor other sessions, and loses nothing
# silently; the figures are printed (note) for the README.
#
#  a. Failed logins: several processes try wrong passwords over TCP
#     (scram-sha-256) as fast as they can, for at most 60 s or 10,000
#     attempts, while a session runs a steady stream of successful
#     statements; the server stays up, the stream keeps going and its
#     latency does not explode, and trail.events ends up with one Login
#     Failure per attempt, less what trail.spool_status() counts as dropped
#     (which the server log must then report).  The same client against a
#     server without trail, for 10 s, gives the rate to compare with.
#  b. The bound: with the global spool directory full (10,000 entries), a
#     failed login is dropped, counted in trail.spool_status() and reported
#     in the server log; once there is room again, logins are recorded.
#  c. 100,000 failing statements (queries denied to an ordinary role, in DO
#     blocks): 10,000 in one session, timed against the same loop with
#     trail loaded but not installed in the database and without trail at
#     all, then 90,000 in four sessions at once; every failure reaches
#     trail.events once.  Successful statements are timed the same way.

# The logins are made by a small client of the protocol written here (psql
# costs ~45 ms of CPU per start on this machine, more than the server's
# side of a login): startup, SCRAM with a proof that cannot be right, and
# the server's FATAL error.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run ();
use MIME::Base64 ();
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use TrailTest;

my $FLOOD_SECONDS = 60;
my $FLOOD_TARGET = 10_000;
my $FLOOD_PROCS = 4;
my $STATEMENTS = 100_000;

# A node listening on 127.0.0.1 with passwords (scram-sha-256), with or
# without trail; the harness connects over the unix socket (trust).
sub flood_node
{
	my ($name, $with_trail) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);
	$n->init;
	$n->append_conf(
		'postgresql.conf', q{
log_statement = none
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
max_connections = 50
});
	$n->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'trail'
trail.delivery_interval = 1
}) if $with_trail;
	open(my $hba, '>', $n->data_dir . '/pg_hba.conf') or die "pg_hba.conf: $!";
	print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
	close $hba;
	$n->start;
	return $n;
}

my $setup = q{
CREATE ROLE regress_flood LOGIN PASSWORD 'flood-pw';
CREATE TABLE secret_flood (id int);
CREATE TABLE open_flood (id int);
INSERT INTO open_flood VALUES (1);
GRANT SELECT ON open_flood TO regress_flood;
CREATE TABLE counter (n int);
INSERT INTO counter VALUES (0);
};
my $node = flood_node('flood', 1);
$node->safe_psql('postgres', 'CREATE EXTENSION trail');
$node->safe_psql('postgres', $setup);
$node->safe_psql('postgres', 'CREATE DATABASE notrail');
$node->safe_psql('notrail', $setup =~ s/CREATE ROLE[^;]*;//r);
my $plain = flood_node('plain', 0);
$plain->safe_psql('postgres', $setup);

###########################################################################
# A failed login, spoken in the protocol: returns the SQLSTATE of the
# server's error ('28P01' for a wrong password), or a word saying what else
# happened.
###########################################################################
sub read_message
{
	my ($sock) = @_;
	my $header = '';
	while (length($header) < 5)
	{
		my $r = sysread($sock, $header, 5 - length($header), length($header));
		return unless $r;
	}
	my ($type, $len) = unpack('a N', $header);
	my $body = '';
	while (length($body) < $len - 4)
	{
		my $r = sysread($sock, $body, $len - 4 - length($body), length($body));
		return unless $r;
	}
	return ($type, $body);
}

sub random_bytes
{
	my ($n) = @_;
	return join('', map { chr(int(rand(256))) } 1 .. $n);
}

sub failed_login
{
	my ($port, $user, $app) = @_;
	my $result = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 20;
		my $sock = IO::Socket::INET->new(
			PeerAddr => '127.0.0.1',
			PeerPort => $port,
			Proto => 'tcp',
			Timeout => 10) or die "connect\n";
		my $params = join('', map { "$_\0" } 'user', $user, 'database', 'postgres',
			'application_name', $app) . "\0";
		syswrite($sock, pack('N N', 8 + length($params), 196608) . $params);
		my ($type, $body) = read_message($sock);
		die "closed\n" unless defined $type;
		if ($type eq 'R' && unpack('N', $body) == 10)    # SASL
		{
			my $first = 'n,,n=,r=' . MIME::Base64::encode_base64(random_bytes(18), '');
			my $msg = "SCRAM-SHA-256\0" . pack('N', length($first)) . $first;
			syswrite($sock, 'p' . pack('N', 4 + length($msg)) . $msg);
			($type, $body) = read_message($sock);
			die "closed\n" unless defined $type;
			if ($type eq 'R' && unpack('N', $body) == 11)    # SASL continue
			{
				my ($nonce) = substr($body, 4) =~ /r=([^,]+)/;
				my $final = "c=biws,r=$nonce,p=" . MIME::Base64::encode_base64(random_bytes(32), '');
				syswrite($sock, 'p' . pack('N', 4 + length($final)) . $final);
				($type, $body) = read_message($sock);
				die "closed\n" unless defined $type;
			}
		}
		close $sock;
		die "unexpected $type\n" unless $type eq 'E';
		my %f = map { substr($_, 0, 1) => substr($_, 1) } grep { length } split /\0/, $body;
		alarm 0;
		$f{C} // 'E?';
	};
	alarm 0;
	return $result if defined $result;
	chomp(my $e = $@);
	return $e;
}

sub spool_status
{
	my ($written, $dropped, $waiting) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT written, dropped, waiting_files FROM trail.spool_status()');
	return { written => $written, dropped => $dropped, waiting => $waiting };
}

sub login_failures
{
	my ($app) = @_;
	return $node->safe_psql(
		'postgres', qq{SELECT count(*) FROM trail.events
		  WHERE event_source = 'signin.postgresql' AND event_name = 'Login'
		    AND response_elements->>'Login' = 'Failure'
		    AND additional_event_data->>'applicationName' = '$app'});
}

sub percentile
{
	my ($p, @v) = @_;
	@v = sort { $a <=> $b } @v;
	return 0 unless @v;
	return $v[ POSIX::floor($p * $#v) ];
}

sub ms { return sprintf('%.1f', 1000 * $_[0]); }

is(failed_login($node->port, 'regress_flood', 'probe'), '28P01', '(the protocol client gets a wrong password refused)');

###########################################################################
# a. A flood of failed logins, and a steady stream beside it
###########################################################################
my $stream;
{
	local $ENV{PGAPPNAME} = 'stream';
	$stream = $node->background_psql('postgres');
}
my $stream_ok = 0;
my $stream_failed = 0;

# one statement of the stream; returns its latency in seconds
sub stream_once
{
	my $t0 = time();
	my ($out, $ret) = $stream->query('UPDATE counter SET n = n + 1 RETURNING n');
	my $dt = time() - $t0;
	if ($ret == 0 && $out =~ /^\d+$/) { $stream_ok++; }
	else { $stream_failed++; }
	return $dt;
}

my @baseline;
for (1 .. 200)
{
	push @baseline, stream_once();
	usleep(5_000);
}

# Failed logins from $FLOOD_PROCS processes for $seconds or $target
# attempts, whichever comes first, calling $meanwhile until they are done;
# returns (elapsed seconds, { outcome => count }).
sub flood_logins
{
	my ($n, $seconds, $target, $app, $meanwhile) = @_;
	my $dir = $n->basedir;
	my @children;
	my $start = time();
	my $deadline = $start + $seconds;
	for my $p (1 .. $FLOOD_PROCS)
	{
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			my %codes;
			my $quota = int($target / $FLOOD_PROCS) + ($p <= $target % $FLOOD_PROCS ? 1 : 0);
			srand($$ ^ time());
			for (1 .. $quota)
			{
				last if time() >= $deadline;
				# one attempt in four names a role that does not exist
				my $user = $_ % 4 == 0 ? "regress_nosuch_$p" : 'regress_flood';
				$codes{ failed_login($n->port, $user, $app) }++;
			}
			open(my $fh, '>', "$dir/${app}_$p.out") or POSIX::_exit(1);
			print $fh join("\n", map { "$_\t$codes{$_}" } sort keys %codes), "\n";
			close $fh;
			POSIX::_exit(0);
		}
		push @children, $pid;
	}
	my $running = scalar @children;
	while ($running > 0)
	{
		$meanwhile ? $meanwhile->() : usleep(100_000);
		for my $pid (@children)
		{
			next unless $pid;
			if (waitpid($pid, POSIX::WNOHANG()) == $pid)
			{
				$pid = 0;
				$running--;
			}
		}
	}
	my $elapsed = time() - $start;
	my %codes;
	for my $p (1 .. $FLOOD_PROCS)
	{
		open(my $fh, '<', "$dir/${app}_$p.out") or die "${app}_$p.out: $!";
		while (<$fh>)
		{
			chomp;
			my ($code, $count) = split /\t/;
			$codes{$code} += $count if defined $count;
		}
		close $fh;
	}
	return ($elapsed, \%codes);
}

# the rate of failed logins without trail, for comparison (10 s)
my ($plain_elapsed, $plain_codes) = flood_logins($plain, 10, $FLOOD_TARGET, 'plain');
my $plain_answered = 0;
$plain_answered += $plain_codes->{$_} for grep { /^[0-9A-Z]{5}$/ } keys %$plain_codes;
note(sprintf('without trail: %d failed logins answered in %.1f s by %d processes (%.0f/s)',
	$plain_answered, $plain_elapsed, $FLOOD_PROCS, $plain_answered / $plain_elapsed));

my $status_before = spool_status();
my @during;
my ($flood_elapsed, $codes_ref) = flood_logins(
	$node, $FLOOD_SECONDS, $FLOOD_TARGET, 'flood',
	sub {
		push @during, stream_once();
		usleep(10_000);
	});
my %codes = %$codes_ref;
my $answered = 0;
$answered += $codes{$_} for grep { /^[0-9A-Z]{5}$/ } keys %codes;
my $refused = $codes{'28P01'} // 0;
my $rate = $answered / $flood_elapsed;
note(sprintf('flood: %d failed logins answered in %.1f s by %d processes (%.0f/s); outcomes: %s',
	$answered, $flood_elapsed, $FLOOD_PROCS, $rate, join(', ', map { "$_ $codes{$_}" } sort keys %codes)));
cmp_ok($answered, '>=', 1000, "the flood made $answered login attempts");
is($refused, $answered, '... each refused as a wrong password (28P01)');

# the server stayed up and the stream went on
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up after the flood');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated|server process .* exited with exit code [^01]/,
	'... no server process crashed');
is($stream_failed, 0, "the stream's statements all succeeded during the flood (" . scalar(@during) . ' of them)');
is($node->safe_psql('postgres', 'SELECT n FROM counter'), $stream_ok, '... and each took effect');
my ($b50, $b95, $bmax) = map { percentile($_, @baseline) } 0.5, 0.95, 1;
my ($d50, $d95, $dmax) = map { percentile($_, @during) } 0.5, 0.95, 1;
note(sprintf('stream latency (ms) before the flood: median %s, p95 %s, max %s; during: median %s, p95 %s, max %s (%d statements)',
	ms($b50), ms($b95), ms($bmax), ms($d50), ms($d95), ms($dmax), scalar @during));
cmp_ok(scalar(@during), '>=', $flood_elapsed * 10, '... which kept running throughout (more than 10 a second)');
cmp_ok($d50, '<', 0.050, 'the median latency of the stream stays under 50 ms during the flood');
cmp_ok($d95, '<', 0.250, '... and its 95th percentile under 250 ms');

# every attempt reaches trail.events, less what was counted as dropped
my $drain_start = time();
my ($events, $status);
poll_until(
	180,
	sub {
		$status = spool_status();
		$events = login_failures('flood');
		return $events + ($status->{dropped} - $status_before->{dropped}) >= $answered;
	});
my $drain_time = time() - $drain_start;
my $dropped = $status->{dropped} - $status_before->{dropped};
note(sprintf('flood: %d Login Failure events in trail.events, %d dropped, %.1f s after the flood ended',
	$events, $dropped, $drain_time));
is($events, $answered - $dropped,
	'trail.events holds one Login Failure per attempt, less those counted as dropped');
if ($dropped > 0)
{
	like(slurp_file($node->logfile), qr/could not be written to the spool/,
		'... and the server log reports the dropped ones');
}
else
{
	pass('... none was dropped');
}
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FILTER (WHERE user_name = 'HIDDEN_DUE_TO_SECURITY_REASONS') > 0,
		                     count(*) FILTER (WHERE user_name NOT IN ('HIDDEN_DUE_TO_SECURITY_REASONS', 'regress_flood'))
		                FROM trail.events WHERE additional_event_data->>'applicationName' = 'flood'}),
	't|0', '(the roles that do not exist are hidden)');

###########################################################################
# b. The bound: a full spool drops, counts and says so
###########################################################################
my $global = $node->data_dir . '/pg_trail/spool/global';
for my $i (1 .. 10_000)
{
	open(my $fh, '>', "$global/filler_$i") or die "filler: $!";
	close $fh;
}
my $before = spool_status();
my $overflow = 0;
$overflow++ for grep { failed_login($node->port, 'regress_flood', 'overflow') eq '28P01' } 1 .. 20;
is($overflow, 20, '(20 failed logins with the global spool directory full)');
ok(poll_until(30, sub { slurp_file($node->logfile) =~ /could not be written to the spool/ }),
	'the server log reports events that could not be written to the spool');
my $after = spool_status();
cmp_ok($after->{dropped} - $before->{dropped}, '>=', 20,
	'trail.spool_status() counts them as dropped (' . ($after->{dropped} - $before->{dropped}) . ')');
is(login_failures('overflow'), 0, '... and they are not in trail.events');
unlink glob("$global/filler_*");
is(failed_login($node->port, 'regress_flood', 'after_overflow'), '28P01', '(the spool has room again)');
ok(poll_until(30, sub { login_failures('after_overflow') == 1 }), 'a failed login is recorded again');
my $dropped_total = spool_status()->{dropped};

###########################################################################
# c. 100,000 failing statements: 10,000 in one session, timed with and
#    without trail, then 90,000 in four sessions at once
###########################################################################
my $SINGLE = 10_000;
my $SESSIONS = 4;
my $PER_SESSION = ($STATEMENTS - $SINGLE) / $SESSIONS;

sub fail_loop
{
	my ($n) = @_;
	return qq{DO \$\$BEGIN FOR i IN 1..$n LOOP
	BEGIN PERFORM * FROM secret_flood; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
END LOOP; END\$\$};
}
my $ok_loop = qq{DO \$\$BEGIN FOR i IN 1..$STATEMENTS LOOP
	BEGIN PERFORM * FROM open_flood; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
END LOOP; END\$\$};

# seconds one loop takes as regress_flood
sub timed
{
	my ($n, $db, $sql) = @_;
	my $t0 = time();
	my ($rc, $out, $err) = $n->psql($db, $sql, connstr => $n->connstr($db) . ' user=regress_flood application_name=loop');
	my $dt = time() - $t0;
	die "loop failed: $err" if $rc != 0;
	return $dt;
}

my $status_c = spool_status();
my $t_plain_fail = timed($plain, 'postgres', fail_loop($STATEMENTS)) / $STATEMENTS;
my $t_notrail_fail = timed($node, 'notrail', fail_loop($STATEMENTS)) / $STATEMENTS;
my $t_trail_fail = timed($node, 'postgres', fail_loop($SINGLE)) / $SINGLE;
my $t_plain_ok = timed($plain, 'postgres', $ok_loop);
my $t_trail_ok = timed($node, 'postgres', $ok_loop);
note(sprintf('a failing statement (a denied query in a DO block, one session): %.3f ms with trail (%d of them), '
	  . '%.4f ms with trail loaded but not installed in the database, %.4f ms without trail (%d of them each)',
	1000 * $t_trail_fail, $SINGLE, 1000 * $t_notrail_fail, 1000 * $t_plain_fail, $STATEMENTS));
note(sprintf('%d successful statements (the same loop on a readable table): %.2f s with trail (%.4f ms each), %.2f s without (%.4f ms each)',
	$STATEMENTS, $t_trail_ok, 1000 * $t_trail_ok / $STATEMENTS, $t_plain_ok, 1000 * $t_plain_ok / $STATEMENTS));
cmp_ok($t_trail_ok, '<', 2 * $t_plain_ok + 1, 'successful statements are not slowed by trail (less than twice the time)');

my @loops;
my $t0 = time();
for my $i (1 .. $SESSIONS)
{
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-X', '-q', '-d',
			$node->connstr('postgres') . " user=regress_flood application_name=loop$i",
			'-c', fail_loop($PER_SESSION)
		],
		'>', \$o, '2>', \$e);
	push @loops, [ $h, \$o, \$e ];
}
my $loops_ok = 0;
for my $l (@loops)
{
	$loops_ok++ if $l->[0]->finish;
}
my $t_parallel = time() - $t0;
is($loops_ok, $SESSIONS, "($SESSIONS sessions ran $PER_SESSION failing statements each)");
note(sprintf('%d failing statements in %d sessions at once: %.1f s (%.0f failures/s, %.3f ms each per session)',
	$STATEMENTS - $SINGLE, $SESSIONS, $t_parallel, ($STATEMENTS - $SINGLE) / $t_parallel,
	1000 * $t_parallel / $PER_SESSION));

my $denied_where = q{event_category = 'Data' AND error_code = 'InsufficientPrivilege'
	AND resources @> '[{"name": "public.secret_flood"}]'};
my $drain_c = time();
my $stored;
poll_until(
	300,
	sub {
		$stored = $node->safe_psql('postgres', "SELECT count(*) FROM trail.events WHERE $denied_where");
		return $stored + (spool_status()->{dropped} - $status_c->{dropped}) >= $STATEMENTS;
	});
my $dropped_c = spool_status()->{dropped} - $status_c->{dropped};
note(sprintf('failing statements: %d events in trail.events, %d dropped, %.1f s after the last loop ended',
	$stored, $dropped_c, time() - $drain_c));
is($dropped_c, 0, 'none of the failing statements was dropped');
is($stored, $STATEMENTS, "each of the $STATEMENTS failing statements is in trail.events once");
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

$plain->stop;
$node->stop;
done_testing();
