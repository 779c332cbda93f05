# test/system/060_import.pl: trail.import_logs() against real files.
#
#  (a) round trip: a trail delivers log files (with digests, which the
#      import must leave out); a fresh database of the same node creates
#      trail and imports the trail's bucket (a path relative to the data
#      directory); the records trail.cloudtrail_record() renders there are
#      exactly the delivered records, and exactly the original database's
#      records of the same events (compared as sets of canonical JSON);
#      importing again adds nothing;
#  (b) a big file: 200,000 records in one .json.gz, written by this script,
#      imported while the backend's private memory (RssAnon in
#      /proc/<pid>/status) is sampled: every record imported, and the memory
#      stays far below the file's uncompressed size;
#  (c) kill -9 of the whole server in the middle of an import of that file
#      (and of three more names of it, to make the import last) into another
#      database: after the restart nothing of it is there (no
#      imported event, no StartImport event), and it can be imported again;
#  (d) two imports of the same bucket at once: the second waits for the
#      first (rows are written without INSERT ... ON CONFLICT, so imports
#      take turns) and, once the first commits, finds every record a
#      duplicate instead of failing or importing it twice;
#  (e) the background worker that reads an import's files: seen in
#      pg_stat_activity while the import runs (and its memory sampled in
#      (b) too); terminated, it makes the import fail with nothing left;
#      the import cancelled, the worker goes as well; a notice it raises
#      (a symbolic link skipped) reaches the client;
#  (f) no background worker slot free (max_worker_processes = 1): the
#      backend reads the files itself, and imports every record.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use IO::Compress::Gzip qw($GzipError);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = trail_node('import');
$node->append_conf(
	'postgresql.conf', q{
trail.delivery_interval = 1
trail.digest_interval = 2
trail.max_file_records = 20
});
$node->restart;

my $json = JSON::PP->new->utf8->canonical;
my $timeout = 180;
my $bucket = 'imp-bucket';
my $dir = bucket_dir($node, $bucket);

# canonical JSON text of a JSON text (numbers and key order normalised)
sub canonical { return $json->encode(JSON::PP->new->utf8->decode($_[0])); }

###########################################################################
# (a) round trip through a trail's bucket
###########################################################################
$node->safe_psql('postgres', qq{SELECT trail.create_trail('imp', '$bucket')});
for my $i (1 .. 30)
{
	$node->safe_psql('postgres',
		"CREATE TABLE imp_t$i (a int); COMMENT ON TABLE imp_t$i IS 'x\"y\\\\z $i'; CREATE ROLE imp_role_$i");
}
$node->safe_psql('postgres', q{SELECT trail.stop_logging('imp')});
my $stop_id = $node->safe_psql('postgres',
	q{SELECT event_id FROM trail.events WHERE event_name = 'StopLogging' ORDER BY commit_seq DESC LIMIT 1});

my %delivered;
ok( poll_until(
		$timeout,
		sub {
			my $logs = log_files($dir);
			%delivered = ();
			for my $f (values %$logs)
			{
				$delivered{ $_->{eventID} } = $json->encode($_) for @{ $f->{records} };
			}
			return exists $delivered{$stop_id}
			  && (grep { m{/CloudTrail-Digest/.*\.json\.gz$} } bucket_files($dir)) > 0;
		}),
	'the trail delivered its events up to StopLogging, and a digest file');
cmp_ok(scalar(keys %delivered), '>', 90, 'at least 90 records delivered (3 per statement)');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION trail');
my $files = () = grep { m{/CloudTrail/} && /\.json\.gz$/ } bucket_files($dir);
is( $node->safe_psql('fresh',
		"SELECT files || ' ' || records_imported || ' ' || duplicates_skipped FROM trail.import_logs('pg_trail/buckets/$bucket')"),
	"$files " . scalar(keys %delivered) . ' 0',
	'the bucket imported into a fresh database: every log file, every record, no digest');

# the records there, and the original database's records of the same events
my %imported = map { my $r = canonical($_); (decode_json($_)->{eventID} => $r) }
  split /\n/, $node->safe_psql('fresh',
	'SELECT trail.cloudtrail_record(e) FROM trail.events e WHERE imported_from IS NOT NULL');
my $ids = join(',', map { "'$_'" } sort keys %delivered);
my %original = map { my $r = canonical($_); (decode_json($_)->{eventID} => $r) }
  split /\n/, $node->safe_psql('postgres',
	"SELECT trail.cloudtrail_record(e) FROM trail.events e WHERE event_id IN ($ids)");
my @diff_files = grep { ($imported{$_} // '') ne $delivered{$_} } sort keys %delivered;
is(scalar(@diff_files), 0, 'every imported record equals the delivered record')
  or diag("first difference: $delivered{$diff_files[0]}\n vs " . ($imported{ $diff_files[0] } // 'missing'));
is(scalar(keys %imported), scalar(keys %delivered), 'and no other record was imported');
my @diff_orig = grep { ($imported{$_} // '') ne ($original{$_} // 'missing') } sort keys %delivered;
is(scalar(@diff_orig), 0, "and equals the original database's record of the same event");
is( $node->safe_psql('fresh',
		"SELECT records_imported || ' ' || duplicates_skipped FROM trail.import_logs('pg_trail/buckets/$bucket')"),
	'0 ' . scalar(keys %delivered), 'importing the bucket again adds nothing');
is( $node->safe_psql('fresh',
		q{SELECT count(*) FROM trail.events e, trail.event_resources r
		   WHERE r.event_id = e.event_id AND r.event_time = e.event_time AND e.imported_from IS NOT NULL
		     AND r.lookup_key = 'ResourceName' AND r.lookup_value = 'imp_role_7'}),
	'1', 'an imported CreateRole is found by its resource name');

###########################################################################
# (b) a big file, in bounded memory
###########################################################################
my $big = $node->data_dir . '/big.json.gz';
my $nbig = 200_000;
{
	my $gz = IO::Compress::Gzip->new($big, -Level => 1) or die "gzip: $GzipError";
	my $t = time() - 3 * 86400;
	$gz->print('{"Records": [');
	for my $i (1 .. $nbig)
	{
		my @g = gmtime($t + int($i / 10));
		my $time = sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]);
		$gz->print(',') if $i > 1;
		$gz->print(
			sprintf(
				'{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%08d","arn":"arn:aws:iam::123456789012:user/u%d","accountId":"123456789012","userName":"u%d"},'
				  . '"eventTime":"%s","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.%d","userAgent":"aws-cli/2.15.0",'
				  . '"requestParameters":{"bucketName":"b","key":"k/%d","padding":"%s"},"responseElements":null,"requestID":"R%d","eventID":"%08x-0000-4000-8000-%012x","readOnly":true,'
				  . '"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k/%d"}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data"}',
				$i, $i % 50, $i % 50, $time, $i % 250, $i, 'p' x 600, $i, $i, $i, $i));
	}
	$gz->print(']}');
	$gz->close;
}

# sample the import's backend while it runs
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  "SELECT files || ' ' || records_imported FROM trail.import_logs('big.json.gz')" ],
	'>', \$out, '2>', \$err);
my ($pid, $max_rss, $samples) = (undef, 0, 0);
my ($reader_pid, $reader_rss, $reader_samples) = (undef, 0, 0);

# the private memory of a process in kB, or undef once it is gone
sub rss_anon
{
	my ($p) = @_;
	open(my $fh, '<', "/proc/$p/status") or return undef;
	while (<$fh>) { return $1 if /^RssAnon:\s+(\d+) kB/; }
	return undef;
}
while ($h->pumpable)
{
	$pid //= $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%trail.import_logs(''big%' AND pid <> pg_backend_pid()});
	$pid = undef if defined $pid && $pid eq '';
	$reader_pid //= $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'trail import reader'});
	$reader_pid = undef if defined $reader_pid && $reader_pid eq '';
	my $rss = defined $pid ? rss_anon($pid) : undef;
	if (defined $rss) { $max_rss = $rss if $rss > $max_rss; $samples++; }
	$rss = defined $reader_pid ? rss_anon($reader_pid) : undef;
	if (defined $rss) { $reader_rss = $rss if $rss > $reader_rss; $reader_samples++; }
	usleep(100_000);
	$h->pump_nb;
}
$h->finish;
chomp $out;
is($out, "1 $nbig", "a file of $nbig records imported") or diag($err);
cmp_ok($samples, '>', 5, "the backend's memory was sampled during the import ($samples samples)");
cmp_ok($max_rss, '<', 150 * 1024,
	"its private memory stayed bounded: at most $max_rss kB for about " . int($nbig * 0.9 / 1024) . ' MB of JSON');
cmp_ok($reader_samples, '>', 5, "so was the memory of the worker reading the file ($reader_samples samples)");
cmp_ok($reader_rss, '<', 100 * 1024, "which stayed bounded as well: at most $reader_rss kB");

###########################################################################
# (c) kill -9 in the middle of an import
###########################################################################
$node->safe_psql('postgres', 'CREATE DATABASE crash');
$node->safe_psql('crash', 'CREATE EXTENSION trail');
my $bigdir = $node->data_dir . '/bigdir';
mkdir $bigdir or die "mkdir $bigdir: $!";
link($big, "$bigdir/big-$_.json.gz") or die "link: $!" for 1 .. 4;
$h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('crash'), '-c',
	  "SELECT * FROM trail.import_logs('bigdir')" ],
	'>', \$out, '2>', \$err);
# well into it: the first file's batches written, uncommitted (in partitions
# the import made itself, which other sessions cannot see yet)
ok( poll_until(
		$timeout,
		sub {
			$node->safe_psql('crash',
				q{SELECT now() - query_start > interval '2 seconds' FROM pg_stat_activity
				   WHERE query LIKE '%trail.import_logs(''bigdir%' AND pid <> pg_backend_pid()}) eq 't';
		}),
	'the import is under way');
my @left = kill9_and_wait($node);
is(scalar(@left), 0, 'every server process killed');
$h->finish;
$node->start;
is( $node->safe_psql('crash',
		q{SELECT (SELECT count(*) FROM trail.events WHERE imported_from IS NOT NULL)
		       || ' ' || (SELECT count(*) FROM trail.events WHERE event_name = 'StartImport')}),
	'0 0', 'after the crash nothing of the import is there (no event, no StartImport)');
is( $node->safe_psql('crash',
		q{SELECT records_imported || ' ' || duplicates_skipped FROM trail.import_logs('bigdir')}),
	"$nbig " . 3 * $nbig, 'and importing again imports the whole file (once)');

###########################################################################
# (d) two imports of the same files at once
###########################################################################
$node->safe_psql('postgres', 'CREATE DATABASE conc');
$node->safe_psql('conc', 'CREATE EXTENSION trail');
my $first = $node->background_psql('conc');
$first->query_safe('BEGIN');
is($first->query_safe("SELECT records_imported FROM trail.import_logs('pg_trail/buckets/$bucket')"),
	scalar(keys %delivered), 'a first import, its transaction left open');
$h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('conc'), '-c',
	  "SELECT records_imported || ' ' || duplicates_skipped FROM trail.import_logs('pg_trail/buckets/$bucket')" ],
	'>', \$out, '2>', \$err);
ok( poll_until(
		$timeout,
		sub {
			$node->safe_psql('conc',
				q{SELECT count(*) FROM pg_stat_activity
				   WHERE query LIKE '%trail.import_logs(%' AND wait_event_type = 'Lock'
				     AND pid <> pg_backend_pid()}) eq '1';
		}),
	'a second import of the same files waits for the first');
$first->query_safe('COMMIT');
$first->quit;
$h->finish;
chomp $out;
is($out, '0 ' . scalar(keys %delivered),
	'once the first commits, the second finds every record a duplicate') or diag($err);
is( $node->safe_psql('conc',
		q{SELECT count(*) || ' ' || count(DISTINCT (event_id, event_time)) FROM trail.events WHERE imported_from IS NOT NULL}),
	scalar(keys %delivered) . ' ' . scalar(keys %delivered), 'each record stored once');

###########################################################################
# (e) the worker that reads an import's files
###########################################################################
$node->safe_psql('postgres', 'CREATE DATABASE rdr');
$node->safe_psql('rdr', 'CREATE EXTENSION trail');
my $reader_sql = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'trail import reader'};
my $reader;

# terminated in the middle: the import fails, and nothing of it stays
$h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('rdr'), '-c', "SELECT * FROM trail.import_logs('bigdir')" ],
	'>', \$out, '2>', \$err);
ok(poll_until($timeout, sub { $reader = $node->safe_psql('postgres', $reader_sql); $reader ne '' }),
	'a background worker reads the files while the import runs');
like($node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $reader"),
	qr{/bigdir$}, 'pg_stat_activity shows what it reads');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($reader)");
$h->finish;
like($err, qr/ERROR:  could not import CloudTrail log files: the background worker reading them stopped/,
	'terminated, it makes the import fail');
is( $node->safe_psql('rdr',
		q{SELECT (SELECT count(*) FROM trail.events WHERE imported_from IS NOT NULL)
		       || ' ' || (SELECT count(*) FROM trail.events WHERE event_name = 'StartImport')}),
	'0 0', 'and nothing of the import stays');

# the import cancelled: its reader goes too
$h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('rdr'), '-c', "SELECT * FROM trail.import_logs('bigdir')" ],
	'>', \$out, '2>', \$err);
ok(poll_until($timeout, sub { $reader = $node->safe_psql('postgres', $reader_sql); $reader ne '' }),
	'another import, another reader');
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	   WHERE query LIKE '%trail.import_logs(''bigdir%' AND pid <> pg_backend_pid()});
$h->finish;
like($err, qr/canceling statement due to user request/, 'the import cancelled');
ok(poll_until($timeout, sub { $node->safe_psql('postgres', $reader_sql) eq '' }),
	'its reader is gone as well');

# the reader's notice (a link it does not follow) reaches the client
my $linkdir = $node->data_dir . '/linkdir';
mkdir $linkdir or die "mkdir $linkdir: $!";
symlink($big, "$linkdir/l.json.gz") or die "symlink: $!";
my ($ret, $stdout, $stderr) = $node->psql('rdr', q{SELECT files FROM trail.import_logs('linkdir')});
is($stdout, '0', 'a directory holding only a link: no file read');
like($stderr, qr{NOTICE:  skipping symbolic link "[^"]*/linkdir/l\.json\.gz": the import does not follow links},
	"the reader's notice reaches the client");

# (f) no worker slot free: the backend reads the files itself
# (max_worker_processes = 1: the one slot is trail's launcher's)
$node->append_conf('postgresql.conf', 'max_worker_processes = 1');
$node->restart;
is($node->safe_psql('postgres', 'SHOW max_worker_processes'), '1', 'restarted with one worker slot');
$node->safe_psql('postgres', 'CREATE DATABASE noslot');
$node->safe_psql('noslot', 'CREATE EXTENSION trail');
($ret, $stdout, $stderr) = $node->psql('noslot',
	q{SET client_min_messages = debug1; SELECT files || ' ' || records_imported FROM trail.import_logs('big.json.gz')});
like($stderr, qr{DEBUG:  no background worker could be started to read "[^"]*/big\.json\.gz": this backend reads it},
	'no worker could be started for the import');
is($stdout, "1 $nbig", 'and the backend read the file itself: every record imported');
is($node->safe_psql('noslot', q{SELECT count(DISTINCT event_id) FROM trail.events WHERE imported_from IS NOT NULL}),
	$nbig, 'each once');

$node->stop;
done_testing();
