/*-------------------------------------------------------------------------
 *
 * trail.c
 *	  Entry point of the trail extension: settings, hook installation and
 *	  background worker registration.
 *
 * trail records what happens in a cluster as CloudTrail events.  It must be
 * loaded through shared_preload_libraries: its capture hooks have to be in
 * every backend from the start, and its maintenance worker is registered
 * with the postmaster.  Loaded any other way (a LANGUAGE C function called
 * in a server started without it), the library installs nothing and
 * CREATE EXTENSION refuses to proceed (trail_require_preload).
 *
 * Every setting lives here, in one place.  They are superuser-only except
 * trail.session_context, which applications set for their own session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "batch.h"
#include "bulk_write.h"
#include "capture_data.h"
#include "capture_session.h"
#include "capture_utility.h"
#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "protect.h"
#include "reactions.h"
#include "selectors.h"
#include "spool.h"
#include "trail.h"
#include "worker.h"

PG_MODULE_MAGIC;

int			trail_retention_period = 90 * 24 * 60;
int			trail_premake_days = 3;
int			trail_maintenance_interval = 3600;
char	   *trail_log_directory = NULL;
int			trail_delivery_interval = 60;
int			trail_digest_interval = 3600;
int			trail_max_file_records = 10000;
int			trail_insights_baseline_days = 28;
char	   *trail_session_context = NULL;
char	   *trail_log_events = NULL;
char	   *trail_home_database = NULL;
bool		trail_log_unknown_user_names = false;
bool		trail_import_parallel = true;
bool		trail_loaded_at_startup = false;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(trail_require_preload);

/*
 * Define the settings.  Retention is a time setting (unit minutes) so that
 * '90d' reads naturally; the worker settings take effect on reload.
 */
static void
define_settings(void)
{
	DefineCustomIntVariable("trail.retention_period",
							"How long events are kept before their day is dropped.",
							"Whole days older than this are dropped by maintenance.",
							&trail_retention_period,
							90 * 24 * 60,
							24 * 60,
							3653 * 24 * 60,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("trail.premake_days",
							"Number of daily partitions kept ready ahead of today.",
							NULL,
							&trail_premake_days,
							3,
							1,
							366,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("trail.maintenance_interval",
							"Time between two maintenance passes of the background worker.",
							NULL,
							&trail_maintenance_interval,
							3600,
							1,
							7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * Where trails write.  Postmaster-only: a directory the server writes
	 * into must not move under a running delivery, and a superuser session
	 * must not be able to point it at the data directory for one call.
	 */
	DefineCustomStringVariable("trail.log_directory",
							   "Directory under which trails' buckets are written.",
							   "A relative path is taken from the data directory.",
							   &trail_log_directory,
							   "pg_trail/buckets",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("trail.delivery_interval",
							"Time between two deliveries of log files by each logging trail.",
							NULL,
							&trail_delivery_interval,
							60,
							1,
							24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("trail.digest_interval",
							"Time covered by each digest file of trails with log file validation.",
							NULL,
							&trail_digest_interval,
							3600,
							1,
							24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("trail.max_file_records",
							"Most records one delivered log file holds.",
							NULL,
							&trail_max_file_records,
							10000,
							1,
							1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("trail.insights_baseline_days",
							"Days of history an Insights baseline covers.",
							"As in CloudTrail, each API's normal rate is learned over this many days before today.",
							&trail_insights_baseline_days,
							28,
							1,
							365,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("trail.log_events",
							   "Categories of events also written to the server log, one JSON line each.",
							   "A list of management, data and insight; empty writes none.",
							   &trail_log_events,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   trail_log_events_check, trail_log_events_assign, NULL);

	DefineCustomStringVariable("trail.home_database",
							   "Database whose event store takes in global events: logins, and cluster-wide commands run where trail is not installed.",
							   NULL,
							   &trail_home_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("trail.log_unknown_user_names",
							 "Record the name a failed login gave for a role that does not exist.",
							 "Off: it is recorded as HIDDEN_DUE_TO_SECURITY_REASONS, as CloudTrail does (it is often a password typed in the wrong field).",
							 &trail_log_unknown_user_names,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("trail.session_context",
							   "The application's own identity of whoever acts through this session.",
							   "Recorded as userIdentity.sessionContext.sourceIdentity, so that pooled connections still say who acted.",
							   &trail_session_context,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("trail.import_parallel",
							 "Read the files of trail.import_logs() in a background worker while the importing backend writes.",
							 "Off, or when no background worker can be started, the importing backend reads them itself.",
							 &trail_import_parallel,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("trail");
}

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	/*
	 * Only a preloaded library can keep its promise to record everything;
	 * anything else would leave gaps that look like silence.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	trail_loaded_at_startup = true;

	define_settings();
	trail_catalog_init();
	trail_context_init();
	trail_protect_init();
	trail_capture_utility_init();
	trail_capture_data_init();
	trail_batch_init();
	trail_bulk_write_init();
	trail_commit_order_init();
	trail_reactions_init();
	trail_spool_init();
	trail_capture_session_init();
	trail_selectors_init();
	trail_worker_register();
}

/*
 * Called first by the extension script: installing trail without its hooks
 * would produce an audit trail that silently records nothing.
 */
Datum
trail_require_preload(PG_FUNCTION_ARGS)
{
	if (!trail_loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trail must be loaded via shared_preload_libraries"),
				 errhint("Add 'trail' to shared_preload_libraries in postgresql.conf and restart the server, then run CREATE EXTENSION trail again.")));
	PG_RETURN_VOID();
}
