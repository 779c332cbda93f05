# test/system/032_validate_offline.pl: the offline validator trail-validate
# checks a bucket directory of log files and signed digests the way
# `aws cloudtrail validate-logs` checks S3, and finds every kind of tampering.
#
#  (a) a bucket of two regions (a chain of 4 digests with 5 log files, one of
#      them two gzip members, and a one-digest chain), plus files it must
#      ignore, is all valid: exit 0, every file listed in order (--verbose),
#      with every public key form (PEM and DER, PKCS#1 and SPKI);
#  (b) --region and the time window select digests as awscli does;
#  (c) tampering, each on a fresh copy: a changed log, a log that is not
#      gzip, a deleted log, a deleted middle digest, an edited digest, a
#      digest signed by another key, a deleted .sig, a wrong algorithm in
#      .meta.json, a wrong public key, a moved digest, a broken hash link,
#      a digest that is not JSON, log keys that leave the bucket, expected
#      digests that are missing, no digests at all;
#  (d) bad options and unusable inputs exit 2 with a message.
#
# Needs no server: only the installed trail-validate
# ($(pg_config --bindir)/trail-validate, or $TRAIL_VALIDATE) and openssl.
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy move);
use File::Find;
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Compress::Gzip qw(gzip $GzipError);
use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use Time::Local qw(timegm);

my $pg_config = $ENV{PG_CONFIG} // '/usr/lib/postgresql/15/bin/pg_config';
my $bin = $ENV{TRAIL_VALIDATE};
if (!defined $bin)
{
	my $bindir = `$pg_config --bindir`;
	chomp $bindir;
	$bin = "$bindir/trail-validate";
}
ok(-x $bin, "trail-validate is installed ($bin)")
  or BAIL_OUT("no executable $bin: run make install");

my $tmp = tempdir('trail-validate-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;

my $account = '123456789012';
my $trail = 'orders-trail';
my $prefix = 'pg/exports';
my $bucket = 'audit-bucket';
my $home = 'eu-west-1';

# --- helpers -------------------------------------------------------------

# Runs a command, its output discarded; dies if it fails.
sub run_quiet
{
	my @cmd = @_;
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		exec @cmd or exit 127;
	}
	waitpid($pid, 0);
	die "failed ($?): @cmd" if $? != 0;
	return;
}

# Runs trail-validate with these arguments: (exit status, stdout, stderr).
sub run_tv
{
	my @args = @_;
	my ($out, $err) = ("$tmp/stdout", "$tmp/stderr");
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		open STDOUT, '>', $out or die;
		open STDERR, '>', $err or die;
		exec $bin, @args or exit 127;
	}
	waitpid($pid, 0);
	my $rc = $? & 127 ? -1 : $? >> 8;
	return ($rc, slurp($out), slurp($err));
}

# Validates bucket directory $dir with the usual options plus @extra.
sub validate
{
	my ($dir, @extra) = @_;
	return run_tv(
		'--trail' => $trail,
		'--prefix' => $prefix,
		'--start-time' => '2024-05-01',
		'--end-time' => '2024-05-02',
		@extra, $dir);
}

# The "Digest file"/"Log file" lines of an output.
sub file_lines
{
	my ($out) = @_;
	return [ grep { /^(Digest|Log) file\t/ } split /\n/, $out ];
}

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data // '';
}

sub spew
{
	my ($path, $data) = @_;
	my ($vol, $dirs) = File::Spec->splitpath($path);
	make_path($dirs) if $dirs ne '' && !-d $dirs;
	open my $fh, '>:raw', $path or die "open $path: $!";
	print $fh $data;
	close $fh or die "close $path: $!";
	return;
}

sub gz
{
	my ($data) = @_;
	my $out;
	gzip(\$data => \$out) or die "gzip: $GzipError";
	return $out;
}

sub iso { return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])); }

# Signs $message with RSA-SHA256 (PKCS#1 v1.5) under $keyfile: hex.
sub sign
{
	my ($keyfile, $message) = @_;
	spew("$tmp/message", $message);
	run_quiet('openssl', 'dgst', '-sha256', '-sign', $keyfile,
		'-out', "$tmp/signature", "$tmp/message");
	return unpack('H*', slurp("$tmp/signature"));
}

# Copies a directory tree.
sub copy_tree
{
	my ($from, $to) = @_;
	find(
		{
			no_chdir => 1,
			wanted => sub {
				my $rel = File::Spec->abs2rel($File::Find::name, $from);
				my $dst = $rel eq '.' ? $to : "$to/$rel";
				if (-d $File::Find::name) { make_path($dst); }
				else { copy($File::Find::name, $dst) or die "copy: $!"; }
			}
		},
		$from);
	return;
}

my $case = 0;

# A fresh copy of the reference bucket: its path.
sub fresh_copy
{
	my ($from) = @_;
	$case++;
	my $dir = "$tmp/case$case/$bucket";
	copy_tree($from, $dir);
	return $dir;
}

# --- keys ------------------------------------------------------------------

for my $n (1, 2)
{
	run_quiet('openssl', 'genpkey', '-algorithm', 'RSA',
		'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/key$n.pem");
	run_quiet('openssl', 'pkey', '-in', "$tmp/key$n.pem", '-pubout',
		'-out', "$tmp/pub$n.pem");
	run_quiet('openssl', 'pkey', '-in', "$tmp/key$n.pem", '-pubout',
		'-outform', 'DER', '-out', "$tmp/pub$n.spki.der");
	run_quiet('openssl', 'rsa', '-in', "$tmp/key$n.pem", '-RSAPublicKey_out',
		'-outform', 'DER', '-out', "$tmp/pub$n.pkcs1.der");
	run_quiet('openssl', 'rsa', '-in', "$tmp/key$n.pem", '-RSAPublicKey_out',
		'-out', "$tmp/pub$n.pkcs1.pem");
}
my %fp = map { $_ => md5_hex(slurp("$tmp/pub$_.pkcs1.der")) } (1, 2);
isnt($fp{1}, $fp{2}, 'the two key pairs have different fingerprints');

# --- the reference bucket --------------------------------------------------

my $ref = "$tmp/ref/$bucket";
my $t0 = timegm(12, 5, 9, 1, 4, 2024);    # 2024-05-01T09:05:12Z

# Writes a log file delivered at $t with $n records (in two gzip members if
# $members == 2): {key, sha, content}.
sub write_log
{
	my (%a) = @_;
	my ($dir, $region, $t) = @a{qw(dir region time)};
	my @g = gmtime($t);
	my $unique = substr(md5_hex("$region $t"), 0, 16);
	my $key = sprintf("%s/AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		$prefix, $account, $region, strftime('%Y/%m/%d', @g),
		$account, $region, strftime('%Y%m%dT%H%MZ', @g), $unique);
	my @records = map {
		{
			eventVersion => '1.09',
			eventTime => iso($t - 120 + $_),
			eventSource => 'postgresql.amazonaws.com',
			eventName => 'CreateTable',
			awsRegion => $region,
			eventID => md5_hex("$key $_"),
			recipientAccountId => $account,
		}
	} 1 .. ($a{records} // 2);
	my $content = $json->encode({ Records => \@records });
	my $data =
	  ($a{members} // 1) == 2
	  ? gz(substr($content, 0, 40)) . gz(substr($content, 40))
	  : gz($content);
	spew("$dir/$key", $data);
	return {
		key => $key,
		sha => sha256_hex($content),
		content => $content,
		oldest => iso($t - 119),
		newest => iso($t - 120 + ($a{records} // 2)),
	};
}

# The key of a digest ending at $t.
sub digest_key
{
	my ($region, $t, $trail_name) = @_;
	my @g = gmtime($t);
	return sprintf(
		"%s/AWSLogs/%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		$prefix, $account, $region, strftime('%Y/%m/%d', @g), $account,
		$region, $trail_name // $trail, $home, strftime('%Y%m%dT%H%M%SZ', @g));
}

# Writes a signed digest with its .sig and .meta.json sidecars:
# {key, sha, sig, raw}.  prev: the previous digest (or undef: a starting
# digest); logs: log files from write_log; signer/fp: signing key file and
# the fingerprint to record; prev_hash: a previousDigestHashValue to record
# instead of the right one; log_entries: extra raw logFiles entries.
sub write_digest
{
	my (%a) = @_;
	my ($dir, $region, $end, $prev) = @a{qw(dir region end prev)};
	my $key = digest_key($region, $end, $a{trail});
	my @logs = @{ $a{logs} // [] };
	my @entries = (
		(
			map {
				{
					s3Bucket => $bucket,
					s3Object => $_->{key},
					hashValue => $_->{sha},
					hashAlgorithm => 'SHA-256',
					newestEventTime => $_->{newest},
					oldestEventTime => $_->{oldest},
				}
			} @logs
		),
		@{ $a{log_entries} // [] });
	my %d = (
		awsAccountId => $account,
		digestStartTime => iso($end - 3600),
		digestEndTime => iso($end),
		digestS3Bucket => $bucket,
		digestS3Object => $key,
		digestPublicKeyFingerprint => $a{fp} // $fp{1},
		digestSignatureAlgorithm => 'SHA256withRSA',
		newestEventTime => @logs ? $logs[-1]{newest} : undef,
		oldestEventTime => @logs ? $logs[0]{oldest} : undef,
		previousDigestS3Bucket => $prev ? $bucket : undef,
		previousDigestS3Object => $prev ? $prev->{key} : undef,
		previousDigestHashValue => $prev ? ($a{prev_hash} // $prev->{sha}) : undef,
		previousDigestHashAlgorithm => $prev ? 'SHA-256' : undef,
		previousDigestSignature => $prev ? $prev->{sig} : undef,
		logFiles => \@entries,
	);
	my $raw = $json->encode(\%d);
	my $sha = sha256_hex($raw);
	my $signing = join("\n",
		$d{digestEndTime}, "$bucket/$key", $sha,
		$d{previousDigestSignature} // 'null');
	my $sig = sign($a{signer} // "$tmp/key1.pem", $signing);
	spew("$dir/$key", gz($raw));
	spew("$dir/$key.sig", "$sig\n");
	spew("$dir/$key.meta.json", qq({"signature-algorithm": "SHA256withRSA"}\n));
	return { key => $key, sha => $sha, sig => $sig, raw => $raw };
}

my (%D, %L);
$L{'1a'} = write_log(dir => $ref, region => 'eu-west-1', time => $t0 + 600);
$L{'1b'} = write_log(
	dir => $ref,
	region => 'eu-west-1',
	time => $t0 + 1800,
	records => 5,
	members => 2);
$L{'2a'} = write_log(dir => $ref, region => 'eu-west-1', time => $t0 + 3600 + 900);
$L{'4a'} = write_log(dir => $ref, region => 'eu-west-1', time => $t0 + 3 * 3600 + 300);
$L{'4b'} = write_log(dir => $ref, region => 'eu-west-1', time => $t0 + 3 * 3600 + 2400);
$L{m1} = write_log(dir => $ref, region => 'us-east-1', time => $t0 + 1200);

$D{1} = write_digest(
	dir => $ref,
	region => 'eu-west-1',
	end => $t0 + 3600,
	logs => [ $L{'1a'}, $L{'1b'} ]);
$D{2} = write_digest(
	dir => $ref,
	region => 'eu-west-1',
	end => $t0 + 2 * 3600,
	prev => $D{1},
	logs => [ $L{'2a'} ]);
$D{3} = write_digest(
	dir => $ref,
	region => 'eu-west-1',
	end => $t0 + 3 * 3600,
	prev => $D{2});
$D{4} = write_digest(
	dir => $ref,
	region => 'eu-west-1',
	end => $t0 + 4 * 3600,
	prev => $D{3},
	logs => [ $L{'4a'}, $L{'4b'} ]);
$D{e1} = write_digest(
	dir => $ref,
	region => 'us-east-1',
	end => $t0 + 3600,
	logs => [ $L{m1} ]);

# Files the validator must ignore: another trail's valid digest (signed by
# another key), a trail whose name extends ours, and a stray file.
write_digest(
	dir => $ref,
	region => 'eu-west-1',
	end => $t0 + 2 * 3600,
	trail => 'other-trail',
	signer => "$tmp/key2.pem",
	fp => $fp{2});
spew("$ref/" . digest_key('eu-west-1', $t0 + 3600, "${trail}_v2"), 'junk');
spew("$ref/$prefix/AWSLogs/$account/CloudTrail-Digest/eu-west-1/2024/05/01/README.txt",
	'not a digest');

ok($json->decode($D{2}{raw})->{previousDigestS3Object} eq $D{1}{key},
	'the reference chain links digest 2 to digest 1');

# The verbose lines of the whole reference bucket, in order.
sub line
{
	my ($type, $key, $status) = @_;
	return "$type file\t$bucket/$key\t" . ($status // 'valid');
}
my @all_lines = (
	line(Digest => $D{4}{key}),
	line(Log => $L{'4a'}{key}),
	line(Log => $L{'4b'}{key}),
	line(Digest => $D{3}{key}),
	line(Digest => $D{2}{key}),
	line(Log => $L{'2a'}{key}),
	line(Digest => $D{1}{key}),
	line(Log => $L{'1a'}{key}),
	line(Log => $L{'1b'}{key}),
	line(Digest => $D{e1}{key}),
	line(Log => $L{m1}{key}));

# --- (a) all valid -----------------------------------------------------------

my ($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/pub1.pem", '--verbose');
is($rc, 0, 'valid bucket: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
is_deeply(file_lines($out), \@all_lines,
	'valid bucket: every digest newest first, each followed by its log files, all valid');
like($out, qr/^5\/5 digest files valid$/m, 'valid bucket: 5/5 digest files valid');
like($out, qr/^6\/6 log files valid$/m, 'valid bucket: 6/6 log files valid');
unlike($out, qr/INVALID/, 'valid bucket: nothing INVALID');
like(
	$out,
	qr/^Results requested for 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z$/m,
	'valid bucket: the requested range is printed');
like(
	$out,
	qr/^Results found for 2024-05-01T09:05:12Z to 2024-05-01T13:05:12Z:$/m,
	'valid bucket: the range found is the oldest start to the newest end');

($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/pub1.pem");
is($rc, 0, 'valid bucket, not verbose: exit 0');
is_deeply(file_lines($out), [], 'valid bucket, not verbose: no file lines');
like($out, qr/^5\/5 digest files valid$/m, 'valid bucket, not verbose: the summary');

for my $form ('pub1.pkcs1.der', 'pub1.spki.der', 'pub1.pkcs1.pem')
{
	($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/$form");
	ok($rc == 0 && $out =~ /^5\/5 digest files valid$/m,
		"valid bucket with the public key as $form: exit 0, all valid")
	  or diag("rc=$rc\n$out\n$err");
}

($rc, $out, $err) = validate(
	"$ref/",
	'--public-key' => "$tmp/pub2.pem",
	'--public-key' => "$tmp/pub1.pem");
ok($rc == 0 && $out =~ /^5\/5 digest files valid$/m,
	'several keys and a trailing slash on the bucket directory: all valid')
  or diag("rc=$rc\n$out\n$err");

($rc, $out, $err) = run_tv(
	'--trail' => $trail,
	'--public-key' => "$tmp/pub1.pem",
	'--prefix' => $prefix,
	'--account' => $account,
	'--bucket' => $bucket,
	'--verbose', "$ref/pg/..");
ok( $rc == 0
	  && $out =~ /^5\/5 digest files valid$/m
	  && $out =~ /^Results requested for 1970-01-01T00:00:00Z to /m,
	'--bucket names the bucket of an oddly given directory; default range from 1970'
) or diag("rc=$rc\n$out\n$err");

# --- (b) selecting digests -----------------------------------------------------

($rc, $out, $err) =
  validate($ref, '--public-key' => "$tmp/pub1.pem", '--region' => 'us-east-1', '--verbose');
is_deeply(
	file_lines($out),
	[ line(Digest => $D{e1}{key}), line(Log => $L{m1}{key}) ],
	'--region us-east-1: only that region');
ok($rc == 0 && $out =~ /^1\/1 digest files valid$/m, '--region us-east-1: exit 0, 1/1 valid');

# Listed: name timestamps in [11:30, 12:00 + 1 h]: digest 3 (12:05:12) only;
# it starts (11:05:12) before the requested start, so its pointer is not followed.
($rc, $out, $err) = validate(
	$ref,
	'--public-key' => "$tmp/pub1.pem",
	'--region' => 'eu-west-1',
	'--start-time' => '2024-05-01T11:30:00Z',
	'--end-time' => '2024-05-01T12:00:00Z',
	'--verbose');
is_deeply(file_lines($out), [ line(Digest => $D{3}{key}) ],
	'time window: only the digest named within [start, end + 1 h]');
like(
	$out,
	qr/^Results requested for 2024-05-01T11:30:00Z to 2024-05-01T12:00:00Z$/m,
	'time window: the requested range is printed');
is($rc, 0, 'time window: exit 0');

($rc, $out, $err) = validate(
	$ref,
	'--public-key' => "$tmp/pub1.pem",
	'--start-time' => '2023-01-01',
	'--end-time' => '2023-01-02');
is($rc, 1, 'a window without digests: exit 1');
like($out, qr/^No digest files found$/m, 'a window without digests: "No digest files found"');

($rc, $out, $err) = run_tv('--trail' => 'no-such-trail', '--public-key' => "$tmp/pub1.pem",
	'--prefix' => $prefix, $ref);
ok($rc == 1 && $out =~ /^No digest files found$/m,
	'another trail name: no digest files found, exit 1');

# --- (c) tampering ------------------------------------------------------------

# A changed byte in a log file (re-compressed, so still valid gzip).
my $dir = fresh_copy($ref);
(my $changed = $L{'2a'}{content}) =~ s/CreateTable/CreateTablf/;
spew("$dir/$L{'2a'}{key}", gz($changed));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is($rc, 1, 'changed log file: exit 1');
is_deeply(
	file_lines($out),
	[ line(Log => $L{'2a'}{key}, "INVALID: hash value doesn't match") ],
	'changed log file: INVALID: hash value doesn\'t match, nothing else');
like($out, qr/^5\/6 log files valid, 1\/6 log files INVALID$/m,
	'changed log file: 5/6 log files valid, 1/6 INVALID');
like($out, qr/^5\/5 digest files valid$/m, 'changed log file: the digests are still valid');

# A log file that is not gzip any more.
$dir = fresh_copy($ref);
spew("$dir/$L{'1a'}{key}", $L{'1a'}{content});
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
ok( $rc == 1
	  && grep { $_ eq line(Log => $L{'1a'}{key}, 'INVALID: invalid format') }
	  @{ file_lines($out) },
	'log file not gzip: INVALID: invalid format, exit 1') or diag($out);

# A truncated gzip log.
$dir = fresh_copy($ref);
my $gz = slurp("$dir/$L{'4a'}{key}");
spew("$dir/$L{'4a'}{key}", substr($gz, 0, length($gz) - 6));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is_deeply(
	file_lines($out),
	[ line(Log => $L{'4a'}{key}, 'INVALID: invalid format') ],
	'truncated log file: INVALID: invalid format');

# A deleted log file.
$dir = fresh_copy($ref);
unlink("$dir/$L{'4b'}{key}") or die;
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is($rc, 1, 'deleted log file: exit 1');
is_deeply(
	file_lines($out),
	[ line(Log => $L{'4b'}{key}, 'INVALID: not found') ],
	'deleted log file: INVALID: not found');

# A deleted middle digest: reported missing, the older digest still checked.
$dir = fresh_copy($ref);
unlink("$dir/$D{2}{key}") or die;
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem", '--verbose');
is($rc, 1, 'deleted middle digest: exit 1');
is_deeply(
	file_lines($out),
	[
		line(Digest => $D{4}{key}),
		line(Log => $L{'4a'}{key}),
		line(Log => $L{'4b'}{key}),
		line(Digest => $D{3}{key}),
		line(Digest => $D{2}{key}, 'INVALID: not found'),
		line(Digest => $D{1}{key}),
		line(Log => $L{'1a'}{key}),
		line(Log => $L{'1b'}{key}),
		line(Digest => $D{e1}{key}),
		line(Log => $L{m1}{key}),
	],
	'deleted middle digest: INVALID: not found for it, the older one and its logs still checked'
);
like($out, qr/^4\/5 digest files valid, 1\/5 digest files INVALID$/m,
	'deleted middle digest: 4/5 digest files valid, 1/5 INVALID');

# An edited digest (a log file's hash replaced): its signature fails, its
# log files are not checked, the older digests are.
$dir = fresh_copy($ref);
(my $edited = $D{4}{raw}) =~ s/\Q$L{'4a'}{sha}\E/sha256_hex('forged')/e;
isnt($edited, $D{4}{raw}, 'the edit changed digest 4');
spew("$dir/$D{4}{key}", gz($edited));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem", '--verbose');
is($rc, 1, 'edited digest: exit 1');
is_deeply(
	file_lines($out),
	[
		line(Digest => $D{4}{key}, 'INVALID: signature verification failed'),
		@all_lines[ 3 .. $#all_lines ]
	],
	'edited digest: INVALID: signature verification failed; its logs unchecked, older digests valid'
);

# A digest re-signed by another key while naming ours.
$dir = fresh_copy($ref);
spew("$dir/$D{3}{key}.sig", sign("$tmp/key2.pem", "anything") . "\n");
($rc, $out, $err) = validate(
	$dir,
	'--public-key' => "$tmp/pub1.pem",
	'--public-key' => "$tmp/pub2.pem");
is_deeply(
	file_lines($out),
	[ line(Digest => $D{3}{key}, 'INVALID: signature verification failed') ],
	'signature by another key: INVALID: signature verification failed');
is($rc, 1, 'signature by another key: exit 1');

# A deleted .sig sidecar.
$dir = fresh_copy($ref);
unlink("$dir/$D{2}{key}.sig") or die;
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem", '--verbose');
is($rc, 1, 'deleted .sig: exit 1');
is_deeply(
	file_lines($out),
	[
		@all_lines[ 0 .. 3 ],
		line(Digest => $D{2}{key}, 'INVALID: signature verification failed'),
		@all_lines[ 6 .. $#all_lines ]
	],
	'deleted .sig: INVALID: signature verification failed; the older digest still checked');

# Another signature algorithm in .meta.json.
$dir = fresh_copy($ref);
spew("$dir/$D{1}{key}.meta.json", qq({"signature-algorithm": "SHA1withRSA"}));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is_deeply(
	file_lines($out),
	[ line(Digest => $D{1}{key}, 'INVALID: signature verification failed') ],
	'wrong signature-algorithm: INVALID: signature verification failed');

# The signature with surrounding whitespace and in upper case is accepted.
$dir = fresh_copy($ref);
spew("$dir/$D{1}{key}.sig", "  \n" . uc($D{1}{sig}) . " \r\n\n");
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is($rc, 0, '.sig with whitespace around an upper-case signature: valid');

# The wrong public key.
($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/pub2.pem", '--verbose');
is($rc, 1, 'wrong public key: exit 1');
is_deeply(
	file_lines($out),
	[
		map { line(Digest => $D{$_}{key}, 'INVALID: public key not found') }
		  (4, 3, 2, 1, 'e1')
	],
	'wrong public key: every digest INVALID: public key not found, no log checked');
like($out, qr/^0\/5 digest files valid, 5\/5 digest files INVALID$/m,
	'wrong public key: 0/5 digest files valid');
like($out, qr/^No valid digests found in range$/m,
	'wrong public key: no valid digests found in range');

# A digest moved to another name: its old key is missing (digest 3 points
# at it), the moved file is listed and has been moved.
$dir = fresh_copy($ref);
my $moved_key = digest_key('eu-west-1', $t0 + 2 * 3600 + 60);
for my $ext ('', '.sig', '.meta.json')
{
	move("$dir/$D{2}{key}$ext", "$dir/$moved_key$ext") or die "move: $!";
}
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is($rc, 1, 'moved digest: exit 1');
is_deeply(
	file_lines($out),
	[
		line(Digest => $D{2}{key}, 'INVALID: not found'),
		line(Digest => $moved_key,
			'INVALID: has been moved from its original location'),
	],
	'moved digest: INVALID: not found at its old key, has been moved at the new one');

# A broken hash link: digest 4 records another hash for digest 3 (and is
# itself validly signed).
$dir = fresh_copy($ref);
write_digest(
	dir => $dir,
	region => 'eu-west-1',
	end => $t0 + 4 * 3600,
	prev => $D{3},
	logs => [ $L{'4a'}, $L{'4b'} ],
	prev_hash => sha256_hex('something else'));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem", '--verbose');
is_deeply(
	file_lines($out),
	[
		@all_lines[ 0 .. 2 ],
		line(Digest => $D{3}{key}, "INVALID: hash value doesn't match"),
		@all_lines[ 4 .. $#all_lines ]
	],
	'broken hash link: the predecessor is INVALID: hash value doesn\'t match');
is($rc, 1, 'broken hash link: exit 1');

# A digest that is gzip but not JSON, and one that lacks logFiles.
$dir = fresh_copy($ref);
spew("$dir/$D{1}{key}", gz('{"digestS3Bucket": "audit-bucket",'));
my $d = $json->decode($D{e1}{raw});
delete $d->{logFiles};
spew("$dir/$D{e1}{key}", gz($json->encode($d)));
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is_deeply(
	file_lines($out),
	[
		line(Digest => $D{1}{key}, 'INVALID: invalid format'),
		line(Digest => $D{e1}{key}, 'INVALID: invalid format'),
	],
	'digest not JSON, digest without logFiles: INVALID: invalid format');

# Log keys that would leave the bucket, or name another bucket, are never
# opened, even when the file is there and matches.
$dir = fresh_copy($ref);
my $outside = "$tmp/case$case/outside.json.gz";
spew($outside, gz($L{'1a'}{content}));
my %entry = (hashValue => $L{'1a'}{sha}, hashAlgorithm => 'SHA-256');
my @escapes = (
	{ %entry, s3Bucket => $bucket, s3Object => '../outside.json.gz' },
	{ %entry, s3Bucket => $bucket, s3Object => "$prefix/../../../outside.json.gz" },
	{ %entry, s3Bucket => $bucket, s3Object => $outside },
	{ %entry, s3Bucket => 'other-bucket', s3Object => $L{'1a'}{key} },
	{ %entry, s3Bucket => $bucket, s3Object => $L{'1a'}{key} },
);
my $d5 = write_digest(
	dir => $dir,
	region => 'eu-west-1',
	end => $t0 + 5 * 3600,
	prev => $D{4},
	log_entries => \@escapes);
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem", '--verbose');
is_deeply(
	[ @{ file_lines($out) }[ 0 .. 5 ] ],
	[
		line(Digest => $d5->{key}),
		line(Log => '../outside.json.gz', 'INVALID: not found'),
		line(Log => "$prefix/../../../outside.json.gz", 'INVALID: not found'),
		line(Log => $outside, 'INVALID: not found'),
		"Log file\tother-bucket/$L{'1a'}{key}\tINVALID: not found",
		line(Log => $L{'1a'}{key}),
	],
	'log keys with .., absolute or in another bucket: INVALID: not found');
is($rc, 1, 'log keys outside the bucket: exit 1');

# Expected digests: one missing (never delivered here), one present.
$dir = fresh_copy($ref);
my $missing = digest_key('eu-west-1', $t0 + 5 * 3600);
spew("$tmp/expected-missing", "$D{2}{key}\n\n  $missing  \n");
($rc, $out, $err) =
  validate($dir, '--public-key' => "$tmp/pub1.pem", '--expected' => "$tmp/expected-missing");
is_deeply(
	file_lines($out),
	[ line(Digest => $missing, 'INVALID: not found') ],
	'an expected digest that is missing: INVALID: not found');
is($rc, 1, 'an expected digest that is missing: exit 1');
spew("$tmp/expected-present", "$D{2}{key}\n$D{e1}{key}\n");
($rc, $out, $err) =
  validate($dir, '--public-key' => "$tmp/pub1.pem", '--expected' => "$tmp/expected-present");
ok($rc == 0 && $out =~ /^5\/5 digest files valid$/m,
	'expected digests that are all present: valid, exit 0')
  or diag("rc=$rc\n$out\n$err");

# The whole digest tree deleted: expected digests still reported missing.
$dir = fresh_copy($ref);
remove_tree("$dir/$prefix/AWSLogs/$account/CloudTrail-Digest");
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem",
	'--expected' => "$tmp/expected-present");
is_deeply(
	file_lines($out),
	[
		line(Digest => $D{2}{key}, 'INVALID: not found'),
		line(Digest => $D{e1}{key}, 'INVALID: not found'),
	],
	'digest tree deleted: the expected digests are INVALID: not found');

# No digests at all.
($rc, $out, $err) = validate($dir, '--public-key' => "$tmp/pub1.pem");
is($rc, 1, 'no digests at all: exit 1');
like($out, qr/^No digest files found$/m, 'no digests at all: "No digest files found"');
unlike($out, qr/digest files valid/, 'no digests at all: no ratio is printed');

# --- (d) bad options and unusable inputs ---------------------------------------

($rc, $out, $err) = run_tv();
is($rc, 2, 'no arguments: exit 2');
like($err, qr/^Usage: trail-validate /m, 'no arguments: usage on stderr');

($rc, $out, $err) = run_tv('--no-such-option', $ref);
is($rc, 2, 'unknown option: exit 2');
like($err, qr/^Usage: trail-validate /m, 'unknown option: usage on stderr');

($rc, $out, $err) = run_tv('--public-key' => "$tmp/pub1.pem", $ref);
ok($rc == 2 && $err =~ /--trail is required/, 'missing --trail: exit 2 and why');

($rc, $out, $err) = run_tv('--trail' => $trail, $ref);
ok($rc == 2 && $err =~ /--public-key/, 'missing --public-key: exit 2 and why');

($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/pub1.pem", '--start-time' => 'yesterday');
ok($rc == 2 && $err =~ /invalid --start-time "yesterday"/, 'bad --start-time: exit 2 and why');

($rc, $out, $err) = validate(
	$ref,
	'--public-key' => "$tmp/pub1.pem",
	'--start-time' => '2024-05-02',
	'--end-time' => '2024-05-01');
ok($rc == 2 && $err =~ /start-time/, 'start after end: exit 2 and why');

($rc, $out, $err) = run_tv('--trail' => $trail, '--public-key' => "$tmp/pub1.pem", $ref, $ref);
ok($rc == 2 && $err =~ /exactly one bucket directory/, 'two bucket directories: exit 2');

($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/no-such-key.pem");
ok($rc == 2 && $err =~ /could not open .*no-such-key\.pem/,
	'unreadable key file: exit 2 and why');

spew("$tmp/not-a-key", "hello\n");
($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/not-a-key");
ok($rc == 2 && $err =~ /not an RSA public key/, 'a key file that is no key: exit 2 and why');

($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/key1.pem");
ok($rc == 2 && $err =~ /not a public key/, 'a private key file: exit 2 and why');

($rc, $out, $err) = validate("$tmp/no-such-dir/$bucket", '--public-key' => "$tmp/pub1.pem");
ok($rc == 2 && $err =~ /could not open bucket directory/,
	'a missing bucket directory: exit 2 and why');

($rc, $out, $err) = validate($ref, '--public-key' => "$tmp/pub1.pem", '--prefix' => '../x');
ok($rc == 2 && $err =~ /invalid prefix/, 'a prefix with "..": exit 2 and why');

($rc, $out, $err) = run_tv('--help');
ok($rc == 0 && $out =~ /^Usage: trail-validate / && $out =~ /--public-key FILE/,
	'--help: usage on stdout, exit 0');

done_testing();
