# test/system/031_trail_validation.pl: digest files (spec section c), log
# file validation, a destination that fails, and buckets that cannot lead
# out of trail.log_directory.
#
# A node delivering every second, a digest every 4 seconds:
#
#  (a) bucket names and prefixes that would leave trail.log_directory are
#      refused, and a bucket directory that is a symbolic link to somewhere
#      else is not written through;
#  (b) a trail with validation delivers digests: named exactly as CloudTrail
#      names them, with every field of spec (c), chained (each names the
#      previous one's key, the SHA-256 of its uncompressed bytes and its
#      signature; the first one null), signed over CloudTrail's signing
#      string with the key list_public_keys shows (openssl verifies it), with
#      .sig and .meta.json sidecars; every log file is listed by exactly one
#      digest with its right hash; stop_logging writes a final digest that
#      covers the StopLogging event; after a key rotation and start_logging
#      the chain goes on, signed by the new key;
#  (c) trail.validate_logs() and the offline trail-validate find everything
#      valid, then catch each kind of tampering (each undone afterwards): a
#      changed log file, a deleted log file, a log file that is not gzip, a
#      deleted middle digest, an edited digest, a deleted .sig, a wrong
#      public key;
#  (d) a bucket directory the server cannot write: the error shows in
#      get_trail_status, the cursor does not move; once writable again the
#      backlog is delivered exactly once, the error goes, and everything
#      validates.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Find;
use IO::Compress::Gzip qw(gzip $GzipError);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = trail_node('validation');
$node->append_conf(
	'postgresql.conf', q{
trail.delivery_interval = 1
trail.digest_interval = 4
trail.max_file_records = 50
});
$node->restart;

my $account = account_id($node);
my $region = 'postgres';
my $trail = 'vtrail';
my $bucket = 'vbucket';
my $prefix = 'audit/pg';
my $logdir = $node->data_dir . '/pg_trail/buckets';
my $dir = bucket_dir($node, $bucket);
my $control = 'zz-control';
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new->utf8->canonical;
my $timeout = 180;

# One session for the test's own queries: every connection is an event
# (Login, Logout), and polling with new connections would never let a
# trail fall quiet.
my $q = $node->background_psql('postgres');
$q->set_query_timer_restart;
$q->query_safe('SET client_min_messages = warning');
sub sql { return $q->query_safe($_[0]); }

sub slurp_raw
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data // '';
}

sub spew_raw
{
	my ($path, $data) = @_;
	open my $fh, '>:raw', $path or die "open $path: $!";
	print $fh $data;
	close $fh or die "close $path: $!";
	return;
}

# Run a command: (exit status, stdout, stderr).
sub run
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub event_of
{
	my ($statement) = @_;
	return sql(qq{SELECT event_id FROM trail.events
	               WHERE request_parameters->>'statement' = \$s\$$statement\$s\$});
}

sub trail_call
{
	my ($event, $name) = @_;
	return sql(qq{SELECT event_id FROM trail.events
	               WHERE event_source = 'trail.postgresql' AND event_name = '$event'
	                 AND resources \@> '[{"name": "$name"}]'
	               ORDER BY commit_seq DESC, event_id DESC LIMIT 1});
}

# Wait until a trail delivered everything up to an event (in delivery
# order): its cursor passed it and every file it recorded that holds events
# up to it is in place.
sub wait_delivered
{
	my ($name, $event_id, $secs) = @_;
	return poll_until(
		$secs // $timeout,
		sub {
			sql(qq{
SELECT (s.after_seq, s.after_event_id) >= (m.commit_seq, m.event_id)
   AND NOT EXISTS (SELECT 1 FROM trail.delivered_files f
                    WHERE f.trail_name = s.trail_name AND f.state = 'written'
                      AND (f.from_seq, f.from_event_id) < (m.commit_seq, m.event_id))
  FROM trail.trail_state s, trail.delivery_source m
 WHERE s.trail_name = '$name' AND m.event_id = '$event_id'}) eq 't';
		});
}

# Wait until a stopped trail has written its final digest: no digest period
# open, every delivered log file digested, every file in place.
sub wait_final_digest
{
	my ($name) = @_;
	return poll_until(
		$timeout,
		sub {
			sql(qq{
SELECT NOT t.is_logging
   AND (SELECT s.after_seq >= t.stop_seq FROM trail.trail_state s WHERE s.trail_name = t.name)
   AND (SELECT s.digest_start_time IS NULL FROM trail.trail_state s WHERE s.trail_name = t.name)
   AND NOT EXISTS (SELECT 1 FROM trail.delivered_files f WHERE f.trail_name = t.name
                    AND (f.state = 'written' OR (f.file_type = 'log' AND f.digest_object IS NULL)))
  FROM trail.trails t WHERE t.name = '$name'}) eq 't';
		});
}

sub status { return decode_json(sql("SELECT trail.get_trail_status('$_[0]')")); }

# Every path under a directory (not following symbolic links).
sub all_paths
{
	my ($top) = @_;
	my @paths;
	find({ no_chdir => 1, wanted => sub { push @paths, $File::Find::name } }, $top);
	return @paths;
}

###########################################################################
# (a) Nothing leads out of trail.log_directory
###########################################################################
my @refused;
for my $b ('..', '../escape', '../../../escape', '/abs', '/tmp/escape', 'a/b', 'escape/..')
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT trail.create_trail('escape-trail', '$b')");
	push @refused, $b unless $rc != 0 && $err =~ /InvalidS3BucketNameException/;
}
is_deeply(\@refused, [], 'create_trail refuses buckets with "..", "/" or absolute paths');
@refused = ();
for my $p ('..', '../escape', '../../../../escape', '/abs', '/tmp/escape', 'a//b', 'x/./y', 'x/../../y', 'a/')
{
	my ($rc, $out, $err) =
	  $node->psql('postgres', "SELECT trail.create_trail('escape-trail', 'escape-bucket', '$p')");
	push @refused, $p unless $rc != 0 && $err =~ /InvalidS3PrefixException/;
}
is_deeply(\@refused, [], 'create_trail refuses prefixes with "..", ".", empty segments or a leading "/"');
is(sql('SELECT count(*) FROM trail.trails'), '0', '... and no trail was made');

# a bucket directory that is a symbolic link out of trail.log_directory
my $outside = "$tmp/outside";
mkdir $outside or die "mkdir $outside: $!";
PostgreSQL::Test::Utils::system_or_bail('mkdir', '-p', $logdir);
symlink($outside, "$logdir/evil-bucket") or die "symlink: $!";
sql(q{SELECT trail.create_trail('evil-trail', 'evil-bucket', enable_log_file_validation => false)});

###########################################################################
# (b) Digests
###########################################################################
sql(qq{SELECT trail.create_trail('$control', 'control-bucket', enable_log_file_validation => false)});
my $created = decode_json(sql(qq{SELECT trail.create_trail('$trail', '$bucket', '$prefix')}));
is($created->{LogFileValidationEnabled}, JSON::PP::true, 'a trail with log file validation (the default)');
my $create_seq = sql(qq{SELECT commit_seq FROM trail.events WHERE event_id = '@{[trail_call('CreateTrail', $trail)]}'});
my $created_at = sql(qq{SELECT created_time FROM trail.trails WHERE name = '$trail'});

# events now and then, until three digests are in place
my $i = 0;
my $three = poll_until(
	$timeout,
	sub {
		sql('CREATE TABLE gen_' . $i++ . ' (id int)');
		return scalar(keys %{ digest_files($dir) }) >= 3;
	});
ok($three, 'three digests are delivered');
sql('CREATE TABLE gen_last (id int)');
sql("SELECT trail.stop_logging('$trail')");
my $stop1 = trail_call('StopLogging', $trail);
ok(wait_final_digest($trail), 'stop_logging: the last events are delivered and a final digest written');
my $final1 = sql(qq{SELECT s3_object FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'digest'
                    ORDER BY written_time DESC, s3_object DESC LIMIT 1});
my $stop1_file = sql(qq{SELECT f.s3_object FROM trail.delivered_files f, trail.events e
                        WHERE e.event_id = '$stop1' AND f.trail_name = '$trail' AND f.file_type = 'log'
                          AND (e.commit_seq, e.event_id) > (f.from_seq, f.from_event_id)
                          AND (e.commit_seq, e.event_id) <= (f.to_seq, f.to_event_id)});
my @keys1 = split /\n/, sql('SELECT fingerprint FROM trail.list_public_keys()');

# a new signing key, then logging again: the chain goes on
poll_until(10, sub { sql(q{SELECT clock_timestamp() > max(validity_start_time) + interval '1.05 second' FROM trail.list_public_keys()}) eq 't' });
my $new_fp = sql('SELECT trail.rotate_public_key()');
sql("SELECT trail.start_logging('$trail')");
my $more = poll_until(
	$timeout,
	sub {
		sql('CREATE TABLE gen_' . $i++ . ' (id int)');
		return sql(qq{SELECT count(*) FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'digest'
		               AND state = 'delivered' AND content::jsonb->>'digestPublicKeyFingerprint' = '$new_fp'
		               AND jsonb_array_length(content::jsonb->'logFiles') > 0}) >= 2;
	});
ok($more, 'after the key rotation and start_logging, two more digests with log files');
sql("SELECT trail.stop_logging('$trail')");
ok(wait_final_digest($trail), 'stopped again: a final digest');

my $digests = digest_files($dir);
my $logs = log_files($dir);
my @dkeys = sort { $digests->{$a}{json}{digestEndTime} cmp $digests->{$b}{json}{digestEndTime} || $a cmp $b }
  keys %$digests;
cmp_ok(scalar(@dkeys), '>=', 5, 'digests were delivered (' . scalar(@dkeys) . ')');
cmp_ok(scalar(keys %$logs), '>=', 4, 'log files were delivered (' . scalar(keys %$logs) . ')');

# names
my $digest_re = qr{^\Q$prefix\E/AWSLogs/\Q$account\E/CloudTrail-Digest/\Q$region\E/(\d{4})/(\d{2})/(\d{2})/
	\Q$account\E_CloudTrail-Digest_\Q$region\E_\Q$trail\E_\Q$region\E_(\d{8}T\d{6}Z)\.json\.gz$}x;
my @bad_names = grep {
	my $end = $digests->{$_}{json}{digestEndTime} // '';
	(my $compact = $end) =~ s/[-:]//g;
	!(/$digest_re/ && "$1-$2-$3" eq substr($end, 0, 10) && $4 eq $compact);
} @dkeys;
is_deeply(\@bad_names, [],
	'every digest is <prefix>/AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<digestEndTime as YYYYMMDDTHHMMSSZ>.json.gz'
);
my @other = grep { !/\/CloudTrail\// && !/\/CloudTrail-Digest\// } bucket_files($dir);
is_deeply(\@other, [], 'the bucket holds log files and digests only');
is_deeply([ grep { /\.tmp$/ } bucket_files($dir) ], [], 'no temporary file is left');

# fields
my @fields = qw(awsAccountId digestStartTime digestEndTime digestS3Bucket digestS3Object
  digestPublicKeyFingerprint digestSignatureAlgorithm newestEventTime oldestEventTime
  previousDigestS3Bucket previousDigestS3Object previousDigestHashValue
  previousDigestHashAlgorithm previousDigestSignature logFiles);
my @bad_fields = grep { join(' ', sort keys %{ $digests->{$_}{json} }) ne join(' ', sort @fields) } @dkeys;
is_deeply(\@bad_fields, [], 'every digest has exactly the fields of spec (c)');
my $iso = qr/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
my %fingerprints = map { split /\|/ } split /\n/,
  sql(q{SELECT fingerprint, encode(value, 'hex') FROM trail.list_public_keys()});
my @bad_values = grep {
	my $d = $digests->{$_}{json};
	!(     $d->{awsAccountId} eq $account
		&& $d->{digestS3Bucket} eq $bucket
		&& $d->{digestS3Object} eq $_
		&& $d->{digestSignatureAlgorithm} eq 'SHA256withRSA'
		&& exists $fingerprints{ $d->{digestPublicKeyFingerprint} }
		&& $d->{digestStartTime} =~ $iso
		&& $d->{digestEndTime} =~ $iso
		&& $d->{digestStartTime} lt $d->{digestEndTime}
		&& ref $d->{logFiles} eq 'ARRAY')
} @dkeys;
is_deeply(\@bad_values, [],
	'every digest: the account, its own bucket and key, SHA256withRSA, a listed key\'s fingerprint, start before end');
is(scalar(grep { $fingerprints{$_} && md5_hex(pack('H*', $fingerprints{$_})) ne $_ } keys %fingerprints), 0,
	'every fingerprint is the MD5 of the DER public key');
my @old_key = grep { $_ le $final1 } @dkeys;
my @new_key = grep { $_ gt $final1 } @dkeys;
is_deeply([ map { $digests->{$_}{json}{digestPublicKeyFingerprint} } @new_key ], [ ($new_fp) x @new_key ],
	'the digests after the rotation are signed by the new key');
is(scalar(grep { $digests->{$_}{json}{digestPublicKeyFingerprint} eq $new_fp } @old_key), 0,
	'... the ones before by the old one');

# the time window: each digest starts where the previous ended, except the
# first after a start_logging (nothing was delivered in between)
my @gaps;
for my $n (1 .. $#dkeys)
{
	my ($p, $d) = map { $digests->{ $dkeys[$_] }{json} } ($n - 1, $n);
	push @gaps, $dkeys[$n]
	  if $dkeys[ $n - 1 ] eq $final1
	  ? $d->{digestStartTime} lt $p->{digestEndTime}
	  : $d->{digestStartTime} ne $p->{digestEndTime};
}
is_deeply(\@gaps, [], 'each digest starts where the previous one ended (after a restart: not before)');

# the chain
my %sig = map { my $s = eval { slurp_raw("$dir/$_.sig") } // ''; $s =~ s/\s+//g; ($_ => $s) } @dkeys;
my $first = $digests->{ $dkeys[0] }{json};
is_deeply(
	[ map { $first->{$_} } qw(previousDigestS3Bucket previousDigestS3Object previousDigestHashValue previousDigestHashAlgorithm previousDigestSignature) ],
	[ undef, undef, undef, undef, undef ],
	'the first digest: the five previousDigest fields are null');
my @broken;
for my $n (1 .. $#dkeys)
{
	my $d = $digests->{ $dkeys[$n] }{json};
	my $p = $dkeys[ $n - 1 ];
	push @broken, $dkeys[$n]
	  unless ($d->{previousDigestS3Bucket} // '') eq $bucket
	  && ($d->{previousDigestS3Object} // '') eq $p
	  && ($d->{previousDigestHashValue} // '') eq sha256_hex($digests->{$p}{raw})
	  && ($d->{previousDigestHashAlgorithm} // '') eq 'SHA-256'
	  && ($d->{previousDigestSignature} // '') eq $sig{$p};
}
is_deeply(\@broken, [],
	'every later digest names the previous one: bucket, key, SHA-256 of its uncompressed bytes, SHA-256, its signature'
);
ok(($digests->{ $dkeys[ scalar(@old_key) ] }{json}{previousDigestS3Object} // '') eq $final1,
	'the chain goes on across stop_logging, start_logging and the key rotation');

# sidecars and signatures
is(scalar(grep { $sig{$_} !~ /^[0-9a-f]{512}$/ } @dkeys), 0, 'every digest has a .sig of 512 hex digits (RSA-2048)');
my @bad_meta = grep {
	my $m = eval { decode_json(slurp_raw("$dir/$_.meta.json")) };
	!$m || ($m->{'signature-algorithm'} // '') ne 'SHA256withRSA';
} @dkeys;
is_deeply(\@bad_meta, [], 'every digest has a .meta.json naming SHA256withRSA');

my %pem;
for my $fp (keys %fingerprints)
{
	spew_raw("$tmp/$fp.der", pack('H*', $fingerprints{$fp}));
	my ($rc, $out, $err) =
	  run('openssl', 'rsa', '-pubin', '-inform', 'DER', '-RSAPublicKey_in', '-in', "$tmp/$fp.der",
		'-out', "$tmp/$fp.pem");
	die "openssl rsa: $err" if $rc;
	$pem{$fp} = "$tmp/$fp.pem";
}
sub verifies
{
	my ($fp, $message, $sighex) = @_;
	spew_raw("$tmp/message", $message);
	spew_raw("$tmp/signature", pack('H*', $sighex));
	my ($rc, $out) = run('openssl', 'dgst', '-sha256', '-verify', $pem{$fp}, '-signature', "$tmp/signature",
		"$tmp/message");
	return $rc == 0 && $out =~ /Verified OK/;
}
sub signing_string
{
	my ($key) = @_;
	my $d = $digests->{$key}{json};
	return join("\n",
		$d->{digestEndTime}, "$bucket/$key", sha256_hex($digests->{$key}{raw}),
		$d->{previousDigestSignature} // 'null');
}
my @unverified = grep {
	!verifies($digests->{$_}{json}{digestPublicKeyFingerprint}, signing_string($_), $sig{$_})
} @dkeys;
is_deeply(\@unverified, [],
	'openssl verifies every signature: SHA256withRSA over endTime\nbucket/key\nsha256(content)\nprevious signature|null, with the key of its fingerprint'
);
ok(!verifies($digests->{ $dkeys[1] }{json}{digestPublicKeyFingerprint}, signing_string($dkeys[0]), $sig{ $dkeys[1] }),
	'(and does not verify a signature over another digest\'s signing string)');

# the log files in the digests
my %listed;
my @bad_entries;
for my $key (@dkeys)
{
	my $d = $digests->{$key}{json};
	my (@newest, @oldest);
	for my $e (@{ $d->{logFiles} })
	{
		$listed{ $e->{s3Object} }++;
		my $l = $logs->{ $e->{s3Object} };
		my @times = $l ? sort map { $_->{eventTime} } @{ $l->{records} } : ();
		push @newest, $e->{newestEventTime};
		push @oldest, $e->{oldestEventTime};
		push @bad_entries, "$key: $e->{s3Object}"
		  unless $l
		  && $e->{s3Bucket} eq $bucket
		  && $e->{hashValue} eq $l->{sha256}
		  && $e->{hashAlgorithm} eq 'SHA-256'
		  && $e->{newestEventTime} eq $times[-1]
		  && $e->{oldestEventTime} eq $times[0];
	}
	@newest = sort @newest;
	@oldest = sort @oldest;
	push @bad_entries, "$key: newest/oldestEventTime"
	  unless @newest
	  ? (($d->{newestEventTime} // '') eq $newest[-1] && ($d->{oldestEventTime} // '') eq $oldest[0])
	  : (!defined $d->{newestEventTime} && !defined $d->{oldestEventTime});
}
is_deeply(\@bad_entries, [],
	'every logFiles entry: the bucket, a log file there, the SHA-256 of its uncompressed content, SHA-256, its newest and oldest eventTime; the digest\'s newest/oldest over them (null when none)'
);
is_deeply([ sort keys %listed ], [ sort keys %$logs ], 'every log file is listed by a digest, and only those');
is(scalar(grep { $listed{$_} != 1 } keys %listed), 0, '... by exactly one');
ok((grep { $_->{s3Object} eq $stop1_file } @{ $digests->{$final1}{json}{logFiles} }),
	'the final digest after stop_logging lists the file with the StopLogging event');
is( sql(qq{SELECT count(*) FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'digest'}),
	scalar(@dkeys), 'trail.delivered_files has every digest');
my @bad_rows = grep {
	my ($content, $signature, $hash) = split /\t/,
	  sql(qq{SELECT content || E'\\t' || signature || E'\\t' || hash_value FROM trail.delivered_files
	          WHERE s3_bucket = '$bucket' AND s3_object = '$_'}), -1;
	!(defined $hash && $content eq $digests->{$_}{raw} && $signature eq $sig{$_} && $hash eq sha256_hex($content));
} @dkeys;
is_deeply(\@bad_rows, [], '... with its exact content, its signature and its hash');
my %digest_of = map { split /\|/ } split /\n/,
  sql(qq{SELECT s3_object, digest_object FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'log'});
my %listed_by;
for my $key (@dkeys) { $listed_by{ $_->{s3Object} } = $key for @{ $digests->{$key}{json}{logFiles} }; }
is(scalar(grep { ($digest_of{$_} // '') ne ($listed_by{$_} // '-') } keys %$logs), 0,
	'trail.delivered_files names for every log file the digest that lists it');
my $st = status($trail);
ok(defined $st->{LatestDigestDeliveryTime} && !exists $st->{LatestDigestDeliveryError},
	'get_trail_status: LatestDigestDeliveryTime, no LatestDigestDeliveryError');

###########################################################################
# (c) Validation, and tampering
###########################################################################
my $have_validate_logs =
  sql(q{SELECT count(*) FROM pg_proc WHERE proname = 'validate_logs' AND pronamespace = 'trail'::regnamespace});
my $pg_config = $ENV{PG_CONFIG} // '/usr/lib/postgresql/15/bin/pg_config';
my $bindir = `$pg_config --bindir`;
chomp $bindir;
my $tv = $ENV{TRAIL_VALIDATE} // "$bindir/trail-validate";
my $have_tv = -x $tv;
my $vstart = sql(qq{SELECT '$created_at'::timestamptz - interval '1 hour'});
my $vstart_iso = sql(qq{SELECT to_char('$vstart'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')});
my @key_args = map { ('--public-key', "$tmp/$_.der") } sort keys %fingerprints;
my ($nd, $nl) = (scalar(@dkeys), scalar(keys %$logs));

# trail.validate_logs: ({ "digest <key>" | "log <key>" => status }, summary)
sub validate_logs
{
	my %status;
	my $summary;
	for (split /\n/,
		sql(qq{SELECT file_type || E'\\t' || coalesce(s3_bucket, '') || E'\\t' || coalesce(s3_object, '')
		              || E'\\t' || status FROM trail.validate_logs('$trail', '$vstart')}))
	{
		my ($type, $b, $key, $s) = split /\t/, $_, 4;
		if ($type eq 'summary') { $summary = $s; next; }
		$status{"$type $key"} = $s;
		$status{"$type $key"} .= " (bucket $b)" if $b ne $bucket;
	}
	return (\%status, $summary);
}

# trail-validate: (exit status, { "Digest <key>" | "Log <key>" => status }, stdout)
sub trail_validate
{
	my (@extra) = @_;
	@extra = @key_args unless grep { $_ eq '--public-key' } @extra;
	my ($rc, $out, $err) = run($tv, '--trail', $trail, '--prefix', $prefix, '--start-time', $vstart_iso,
		'--verbose', @extra, $dir);
	my %status;
	for (split /\n/, $out)
	{
		$status{"$1 $3"} = $4 if /^(Digest|Log) file\t(\Q$bucket\E)\/(\S+)\t(.*)$/;
	}
	return ($rc, \%status, "$out$err");
}

# The statuses all files should have: valid, except those given.
sub expected_statuses
{
	my ($prefix_type, %except) = @_;
	my ($d, $l) = $prefix_type eq 'sql' ? ('digest', 'log') : ('Digest', 'Log');
	my %e = ((map { ("$d $_" => 'valid') } @dkeys), (map { ("$l $_" => 'valid') } keys %$logs));
	for my $k (keys %except)
	{
		my ($type, $key) = split / /, $k, 2;
		my $name = ($type eq 'digest' ? $d : $l) . " $key";
		if (defined $except{$k}) { $e{$name} = $except{$k}; }
		else { delete $e{$name}; }
	}
	return \%e;
}

# Check both validators against the expected statuses; %except: "digest
# <key>" or "log <key>" => status, or undef for a file not checked.
sub check_validation
{
	my ($what, $summary_re, %except) = @_;
  SKIP:
	{
		skip 'trail.validate_logs is not installed', 2 unless $have_validate_logs;
		my ($status, $summary) = validate_logs();
		is_deeply($status, expected_statuses('sql', %except), "validate_logs, $what: every file's status");
		like($summary // '', $summary_re, "validate_logs, $what: the summary");
	}
  SKIP:
	{
		skip "no $tv", 2 unless $have_tv;
		my ($rc, $status, $out) = trail_validate();
		my $invalid = grep { defined $_ && $_ ne 'valid' } values %except;
		is($rc, $invalid ? 1 : 0, "trail-validate, $what: exit $rc") or diag($out);
		is_deeply($status, expected_statuses('tv', %except), "trail-validate, $what: every file's status");
	}
	return;
}

ok($have_validate_logs, 'trail.validate_logs is installed') or diag('SKIP: trail.validate_logs is not installed yet');
ok($have_tv, "trail-validate is installed ($tv)") or diag("SKIP: no $tv");

check_validation('untouched bucket', qr{^$nd/$nd digest files valid, $nl/$nl log files valid$});

# pick a middle digest with log files, and one of its log files
my ($mid) = grep { @{ $digests->{$_}{json}{logFiles} } } @dkeys[ 1 .. $#dkeys - 1 ];
my $mid_log = $digests->{$mid}{json}{logFiles}[0]{s3Object};
my @mid_logs = map { $_->{s3Object} } @{ $digests->{$mid}{json}{logFiles} };
my $newest = $dkeys[-1];
my @newest_logs = map { $_->{s3Object} } @{ $digests->{$newest}{json}{logFiles} };
ok($mid && $mid ne $newest, '(a middle digest with log files to tamper with)');

# Replace a file's bytes, run the checks, put the original back.
sub tampered
{
	my ($file, $data, $check) = @_;
	my $path = "$dir/$file";
	my $saved = slurp_raw($path);
	if (defined $data) { spew_raw($path, $data); }
	else { unlink $path or die "unlink $path: $!"; }
	$check->();
	spew_raw($path, $saved);
	return;
}

# one byte of a log file's JSON changed, gzip again
my $changed = $logs->{$mid_log}{raw};
$changed =~ s/"eventVersion":"1\.08"/"eventVersion":"1.09"/ or substr($changed, 20, 1) = 'X';
my $regz;
gzip(\$changed => \$regz) or die "gzip: $GzipError";
tampered($mid_log, $regz, sub {
	check_validation('a log file with one byte changed',
		qr{^$nd/$nd digest files valid, @{[$nl - 1]}/$nl log files valid, 1/$nl log files INVALID$},
		"log $mid_log" => "INVALID: hash value doesn't match");
});

tampered($mid_log, undef, sub {
	check_validation('a deleted log file',
		qr{^$nd/$nd digest files valid, @{[$nl - 1]}/$nl log files valid, 1/$nl log files INVALID$},
		"log $mid_log" => 'INVALID: not found');
});

tampered($mid_log, $logs->{$mid_log}{raw}, sub {
	check_validation('a log file that is not gzip',
		qr{^$nd/$nd digest files valid, @{[$nl - 1]}/$nl log files valid, 1/$nl log files INVALID$},
		"log $mid_log" => 'INVALID: invalid format');
});

# a middle digest deleted: reported missing, its log files unchecked, the
# older digests still checked through the chain
tampered($mid, undef, sub {
	check_validation('a deleted middle digest',
		qr{^@{[$nd - 1]}/$nd digest files valid, 1/$nd digest files INVALID, },
		"digest $mid" => 'INVALID: not found',
		map { ("log $_" => undef) } @mid_logs);
});

# the newest digest edited (a space added: same JSON, other bytes)
(my $edited = $digests->{$newest}{raw}) =~ s/\}$/ }/;
my $edited_gz;
gzip(\$edited => \$edited_gz) or die "gzip: $GzipError";
tampered($newest, $edited_gz, sub {
	check_validation('an edited digest',
		qr{^@{[$nd - 1]}/$nd digest files valid, 1/$nd digest files INVALID, },
		"digest $newest" => 'INVALID: signature verification failed',
		map { ("log $_" => undef) } @newest_logs);
});

# a middle digest's signature deleted
tampered("$mid.sig", undef, sub {
	check_validation('a deleted .sig',
		qr{^@{[$nd - 1]}/$nd digest files valid, 1/$nd digest files INVALID, },
		"digest $mid" => 'INVALID: signature verification failed',
		map { ("log $_" => undef) } @mid_logs);
});

# a wrong public key for trail-validate
SKIP:
{
	skip "no $tv", 3 unless $have_tv;
	run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/other.key");
	my ($rc, $out, $err) =
	  run('openssl', 'rsa', '-in', "$tmp/other.key", '-RSAPublicKey_out', '-outform', 'DER', '-out', "$tmp/other.der");
	die "openssl: $err" if $rc;
	my ($vrc, $status, $vout) = trail_validate('--public-key', "$tmp/other.der");
	is($vrc, 1, 'trail-validate with another public key: exit 1');
	is_deeply(
		$status,
		{ map { ("Digest $_" => 'INVALID: public key not found') } @dkeys },
		'... every digest INVALID: public key not found, no log file checked');
	($vrc, $status, $vout) = trail_validate('--public-key', "$tmp/$new_fp.der");
	is_deeply(
		[ sort grep { $status->{"Digest $_"} ne 'valid' } @dkeys ],
		[ sort @old_key ],
		'with the new key only: exactly the digests signed before the rotation are INVALID');
}

check_validation('after everything was put back',
	qr{^$nd/$nd digest files valid, $nl/$nl log files valid$});

###########################################################################
# (d) A destination the server cannot write
###########################################################################
sql("SELECT trail.start_logging('$trail')");
my $start2 = trail_call('StartLogging', $trail);
ok(wait_delivered($trail, $start2), 'logging again');
my $cursor = sql("SELECT after_seq || '/' || after_event_id FROM trail.trail_state WHERE trail_name = '$trail'");
my $nfiles = sql("SELECT count(*) FROM trail.delivered_files WHERE trail_name = '$trail'");

chmod(0000, $dir) or die "chmod: $!";
ok(!open(my $probe, '>', "$dir/probe"), 'the bucket directory cannot be written by the server\'s OS user');

sql('CREATE TABLE fail_a (id int)');
my $fail_a = event_of('CREATE TABLE fail_a (id int)');
ok(wait_delivered($control, $fail_a), '(the control trail delivers an event)');
sql('CREATE TABLE fail_b (id int)');
my $fail_b = event_of('CREATE TABLE fail_b (id int)');
ok(wait_delivered($control, $fail_b), '(... and one after it: passes went by)');
ok(poll_until(60, sub { exists status($trail)->{LatestDeliveryError} }),
	'get_trail_status shows LatestDeliveryError');
like(status($trail)->{LatestDeliveryError}, qr/Permission denied/, '... naming the cause');
is(sql("SELECT after_seq || '/' || after_event_id FROM trail.trail_state WHERE trail_name = '$trail'"),
	$cursor, 'the trail\'s cursor did not move');
is(sql("SELECT count(*) FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'log'")
	  + sql("SELECT count(*) FROM trail.delivered_files WHERE trail_name = '$trail' AND file_type = 'digest' AND state = 'delivered'"),
	$nfiles, 'no log file was recorded, no digest delivered');
ok(defined status($trail)->{LatestDeliveryAttemptTime}, 'LatestDeliveryAttemptTime is reported');

chmod(0755, $dir) or die "chmod: $!";
sql('CREATE TABLE fail_mark (id int)');
my $fail_mark = event_of('CREATE TABLE fail_mark (id int)');
ok(wait_delivered($trail, $fail_mark), 'writable again: the backlog is delivered');
ok(poll_until(60, sub { my $s = status($trail); !exists $s->{LatestDeliveryError} && !exists $s->{LatestDigestDeliveryError} }),
	'LatestDeliveryError (and any LatestDigestDeliveryError) is gone');
my @records = log_records($dir);
my %n;
$n{ $_->{eventID} }++ for @records;
is(scalar(grep { $n{$_} > 1 } keys %n), 0, 'no event is in two files');
my @expected = split /\n/,
  sql(qq{SELECT e.event_id FROM trail.events e, trail.events m
          WHERE m.event_id = '$fail_mark' AND e.event_category = 'Management' AND e.commit_seq >= $create_seq
            AND (e.commit_seq, e.event_id) <= (m.commit_seq, m.event_id)});
is(scalar(grep { !$n{$_} } @expected), 0, 'every management event since the trail\'s creation is delivered')
  or diag('missing: ' . join(' ', grep { !$n{$_} } @expected));
ok($n{$fail_a} && $n{$fail_b}, '... those of the outage too');

sql("SELECT trail.stop_logging('$trail')");
ok(wait_final_digest($trail), 'stopped: a final digest');
$digests = digest_files($dir);
$logs = log_files($dir);
@dkeys = sort keys %$digests;
($nd, $nl) = (scalar(@dkeys), scalar(keys %$logs));
check_validation('after the outage', qr{^$nd/$nd digest files valid, $nl/$nl log files valid$});

###########################################################################
# (a) again: nothing was written outside trail.log_directory
###########################################################################
ok(exists status('evil-trail')->{LatestDeliveryError},
	'the trail whose bucket directory is a link out of trail.log_directory fails to deliver');
is_deeply([ map { substr($_, length($outside)) } grep { $_ ne $outside } all_paths($outside) ], [],
	'... and nothing, not even a directory, was made where the link points')
  or diag('made outside: ' . join(' ', grep { $_ ne $outside } all_paths($outside)));
my @aws = grep { m{/AWSLogs$} } all_paths($node->basedir);
my @stray = grep { !m{^\Q$logdir\E/(vbucket/audit/pg|control-bucket)/AWSLogs$} } @aws;
is_deeply(\@stray, [], 'every AWSLogs folder of the node is in a bucket under trail.log_directory');

$q->quit;
$node->stop;
done_testing();
