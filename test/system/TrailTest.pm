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
