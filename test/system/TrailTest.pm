# TrailTest.pm: what trail's system tests share (loaded from test/system,
# which scripts/test.sh puts on the module path).
package TrailTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(trail_node select_writes_sql);

# A started node with trail preloaded and created in database postgres.
sub trail_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init;
	$node->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'trail'
max_connections = 20
log_statement = none
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION trail');
	return $node;
}

# SQL that selects the writes of every table whose name starts like the
# given table's, up to the given prefix (e.g. 'pgbench_history', 'pgbench_').
sub select_writes_sql
{
	my ($selector_name, $table, $prefix) = @_;

	return qq{
SELECT trail.update_event_data_store(jsonb_build_array(jsonb_build_object(
	'Name', '$selector_name',
	'FieldSelectors', jsonb_build_array(
		'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
		'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
		'{"Field": "readOnly", "Equals": ["false"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'StartsWith',
			jsonb_build_array(replace(trail.table_arn('$table'), '$table', '$prefix')))))));
};
}

1;

###########################################################################
# Trails: their buckets and files (test/system/030, 031)
###########################################################################
use Digest::SHA ();
use File::Find ();
use IO::Uncompress::Gunzip ();
use JSON::PP ();
use Time::HiRes ();

push @EXPORT, qw(account_id bucket_dir bucket_files gunzip_file read_gz_json
  log_files digest_files log_records poll_until kill9_and_wait);

# The account id of a node's files: its system identifier.
sub account_id
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT system_identifier FROM pg_control_system()');
}

# The directory of a bucket (trail.log_directory at its default,
# pg_trail/buckets under the data directory).
sub bucket_dir
{
	my ($node, $bucket) = @_;
	return $node->data_dir . "/pg_trail/buckets/$bucket";
}

# Every file under a directory (symbolic links included, directories not),
# as sorted paths relative to it; none when it does not exist.
sub bucket_files
{
	my ($dir) = @_;
	my @files;
	return () unless -d $dir;
	File::Find::find(
		{
			no_chdir => 1,
			wanted => sub {
				return if -d $File::Find::name && !-l $File::Find::name;
				(my $rel = $File::Find::name) =~ s{^\Q$dir\E/}{};
				push @files, $rel;
			}
		},
		$dir);
	return sort @files;
}

# The uncompressed bytes of a gzip file (every member); dies if it is not
# gzip or cannot be read.
sub gunzip_file
{
	my ($path) = @_;
	my $out;
	IO::Uncompress::Gunzip::gunzip($path => \$out, MultiStream => 1, Transparent => 0)
	  or die "gunzip $path: $IO::Uncompress::Gunzip::GunzipError";
	return $out;
}

# A gzip JSON file: (decoded value, uncompressed bytes); dies if it is not
# gzip or not JSON.
sub read_gz_json
{
	my ($path) = @_;
	my $raw = gunzip_file($path);
	my $value = JSON::PP->new->utf8->decode($raw);
	return ($value, $raw);
}

# The log files of a bucket directory (keys with a CloudTrail folder and
# ending in .json.gz): { key => { records => [...], raw => bytes,
# sha256 => hex } }.  Dies on a file that is not gzip JSON with Records.
sub log_files
{
	my ($dir) = @_;
	my %logs;
	for my $key (grep { m{/CloudTrail/} && /\.json\.gz$/ } bucket_files($dir))
	{
		my ($doc, $raw) = read_gz_json("$dir/$key");
		die "$key: not an object with Records"
		  unless ref $doc eq 'HASH' && ref $doc->{Records} eq 'ARRAY';
		$logs{$key} = {
			records => $doc->{Records},
			raw => $raw,
			sha256 => Digest::SHA::sha256_hex($raw),
			doc => $doc,
		};
	}
	return \%logs;
}

# The digest files of a bucket directory (keys with a CloudTrail-Digest
# folder, ending in .json.gz): { key => { json => {...}, raw => bytes } }.
sub digest_files
{
	my ($dir) = @_;
	my %digests;
	for my $key (grep { m{/CloudTrail-Digest/} && /\.json\.gz$/ } bucket_files($dir))
	{
		my ($doc, $raw) = read_gz_json("$dir/$key");
		$digests{$key} = { json => $doc, raw => $raw };
	}
	return \%digests;
}

# All records of all log files of a bucket directory.
sub log_records
{
	my ($dir) = @_;
	my $logs = log_files($dir);
	return map { @{ $logs->{$_}{records} } } sort keys %$logs;
}

# Call $check every 0.2 s until it returns true or $timeout seconds passed;
# returns its last result.  An exception in $check counts as false (a file
# read while being renamed, say).
sub poll_until
{
	my ($timeout, $check) = @_;
	my $deadline = Time::HiRes::time() + $timeout;
	while (1)
	{
		my $r = eval { $check->() };
		return $r if $r;
		return $r if Time::HiRes::time() > $deadline;
		Time::HiRes::usleep(200_000);
	}
}

# SIGKILL every server process at once (the postmaster and all it
# started: a crash of the whole server, work in progress cut short), then
# wait (up to 60 s) until all are gone, so that the node can be started
# again.  Returns the pids still alive (none when all went).
sub kill9_and_wait
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	my @children;
	if (opendir(my $dh, '/proc'))
	{
		for my $p (grep { /^\d+$/ } readdir $dh)
		{
			open(my $fh, '<', "/proc/$p/stat") or next;
			my $stat = <$fh>;
			close $fh;
			push @children, $p if defined $stat && $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pm;
		}
		closedir $dh;
	}
	kill('KILL', @children) if @children;
	$node->kill9;
	my @pids = ($pm, @children);
	my $alive = sub {
		my ($pid) = @_;
		return 0 unless kill(0, $pid);
		return 1 if $pid == $pm;
		open(my $fh, '<', "/proc/$pid/stat") or return 0;
		my $stat = <$fh>;
		close $fh;
		return !(defined $stat && $stat =~ /\)\s+Z\s/);
	};
	my @left;
	my $deadline = time() + 60;
	do
	{
		Time::HiRes::usleep(100_000);
		@left = grep { $alive->($_) } @pids;
	} while (@left && time() < $deadline);
	return @left;
}

1;
