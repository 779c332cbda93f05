/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background workers: a launcher, and one short-lived worker per
 *	  database and pass, which maintains partitions (partition.c), runs
 *	  Insights (insights.c) and delivers trails' files (delivery.c).
 *
 * trail keeps its partitions in every database where it is installed, but a
 * background worker can connect to one database only, for life.  So, as in
 * autovacuum and pg_prewarm's autoprewarm, a launcher reads the list of
 * databases and starts a worker for each in turn, waiting for one to finish
 * before it starts the next.  The worker runs a maintenance pass every
 * trail.maintenance_interval, an Insights cycle every minute and a delivery
 * pass every trail.delivery_interval (all in one worker when several are
 * due), and exits.
 *
 * Design notes:
 *
 *	- The launcher connects to no database: it reads only the shared catalog
 *	  pg_database.  A worker stays connected only for its pass: a few
 *	  milliseconds for maintenance, as long as there are files to write for
 *	  delivery.  So trail rarely keeps DROP DATABASE or CREATE DATABASE ...
 *	  TEMPLATE waiting, and connecting to a database without trail costs
 *	  one short-lived process per interval.
 *	- A worker that fails (a lock timeout, a database dropped meanwhile)
 *	  just exits with its error logged; the launcher goes on with the next
 *	  database, and the failed one is tried again next interval.
 *	- The launcher is a static worker registered at startup, started once
 *	  recovery is finished, and restarted after a crash.  SIGHUP reloads
 *	  the settings; SIGTERM ends it promptly, exiting with status 1 so that
 *	  the postmaster starts it again after bgw_restart_time unless the
 *	  server is shutting down.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "delivery.h"
#include "insights.h"
#include "partition.h"
#include "spool.h"
#include "trail.h"
#include "worker.h"

/* Seconds before the postmaster restarts a launcher that stopped */
#define LAUNCHER_RESTART_TIME 10

PGDLLEXPORT void trail_launcher_main(Datum main_arg);
PGDLLEXPORT void trail_database_main(Datum main_arg);

/* What a database's worker is to do (bits, in bgw_extra) */
#define TASK_MAINTAIN 0x01		/* partitions and retention */
#define TASK_DELIVER 0x02		/* trails' log files and digests */
#define TASK_INSIGHTS 0x04		/* an Insights detection cycle */

/* Insights examine each minute once it is over: a cycle every minute */
#define INSIGHTS_INTERVAL_MS 60000

/*
 * Fill in what both kinds of worker share: a database connection, a start
 * after recovery, and trail's entry point of the given name.
 */
static void
init_worker(BackgroundWorker *worker, const char *function, int restart_time)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = restart_time;
	strcpy(worker->bgw_library_name, "trail");
	strcpy(worker->bgw_function_name, function);
}

/*
 * Register the launcher with the postmaster; called from _PG_init while
 * shared_preload_libraries are loaded.
 */
void
trail_worker_register(void)
{
	BackgroundWorker worker;

	init_worker(&worker, "trail_launcher_main", LAUNCHER_RESTART_TIME);
	strcpy(worker.bgw_name, "trail launcher");
	strcpy(worker.bgw_type, "trail launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Oids of the databases a worker can connect to, allocated in the caller's
 * memory context.  Templates are skipped: they are copied, not used, and a
 * connection would keep CREATE DATABASE ... TEMPLATE waiting.  So are
 * databases left invalid by an interrupted DROP DATABASE.
 */
static List *
list_databases(void)
{
	List	   *databases = NIL;
	MemoryContext resultcxt = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext oldcxt;

		if (!db->datallowconn || db->datistemplate ||
			database_is_invalid_form(db))
			continue;

		oldcxt = MemoryContextSwitchTo(resultcxt);
		databases = lappend_oid(databases, db->oid);
		MemoryContextSwitchTo(oldcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	CommitTransactionCommand();
	MemoryContextSwitchTo(resultcxt);

	return databases;
}

/*
 * Run one database's pass in a worker of its own and wait until it exits.
 * Returns false when no worker could be started.
 */
static bool
run_database_worker(Oid dboid, uint32 tasks)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	init_worker(&worker, "trail_database_main", BGW_NEVER_RESTART);
	snprintf(worker.bgw_name, BGW_MAXLEN,
			 "trail %s for database %u",
			 (tasks & TASK_MAINTAIN) ? "maintenance" :
			 (tasks & TASK_DELIVER) ? "delivery" : "insights", dboid);
	strcpy(worker.bgw_type, "trail worker");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	memcpy(worker.bgw_extra, &tasks, sizeof(tasks));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("trail launcher could not start a maintenance worker for database %u",
						dboid),
				 errhint("Consider increasing the configuration parameter \"%s\".",
						 "max_worker_processes")));
		return false;
	}

	/*
	 * Unlike WaitForBackgroundWorkerShutdown(), stop waiting when asked to
	 * shut down, and take the worker along: its pass is one transaction, so
	 * it is simply done again by the next launcher.
	 */
	while (GetBackgroundWorkerPid(handle, &pid) != BGWH_STOPPED)
	{
		if (ShutdownRequestPending)
		{
			TerminateBackgroundWorker(handle);
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(handle);
	return true;
}

/*
 * One pass of the launcher: every database in turn.
 */
static void
launch_pass(uint32 tasks)
{
	List	   *databases = list_databases();
	ListCell   *lc;

	foreach(lc, databases)
	{
		if (ShutdownRequestPending ||
			!run_database_worker(lfirst_oid(lc), tasks))
			break;
	}
}

/*
 * Entry point of the launcher.
 */
void
trail_launcher_main(Datum main_arg)
{
	MemoryContext pass_cxt;

	/* long ago: the first passes run at once */
	TimestampTz last_maintenance = 0;
	TimestampTz last_delivery = 0;
	TimestampTz last_insights = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only: stay out of every database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "trail launcher",
									 ALLOCSET_DEFAULT_SIZES);

	while (!ShutdownRequestPending)
	{
		TimestampTz now;
		long		maintenance_ms;
		long		delivery_ms;
		long		insights_ms;
		long		delay_ms;
		uint32		tasks = 0;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * The latch is also set each time a worker starts or stops, so the
		 * waits are measured from the last passes, not restarted; measuring
		 * them anew each time also applies reloaded intervals at once.
		 */
		now = GetCurrentTimestamp();
		maintenance_ms = TimestampDifferenceMilliseconds(now,
														 TimestampTzPlusMilliseconds(last_maintenance,
																					 trail_maintenance_interval * 1000L));
		delivery_ms = TimestampDifferenceMilliseconds(now,
													  TimestampTzPlusMilliseconds(last_delivery,
																				  trail_delivery_interval * 1000L));
		insights_ms = TimestampDifferenceMilliseconds(now,
													  TimestampTzPlusMilliseconds(last_insights,
																				  INSIGHTS_INTERVAL_MS));
		if (insights_ms <= 0)
		{
			tasks |= TASK_INSIGHTS;
			last_insights = now;
		}
		if (maintenance_ms <= 0)
		{
			tasks |= TASK_MAINTAIN;
			last_maintenance = now;
		}
		if (delivery_ms <= 0)
		{
			tasks |= TASK_DELIVER;
			last_delivery = now;
		}
		if (tasks != 0)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(pass_cxt);

			launch_pass(tasks);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(pass_cxt);
			continue;
		}
		delay_ms = Min(Min(maintenance_ms, delivery_ms), insights_ms);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 delay_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);

		/*
		 * Absorb procsignal barriers: DROP DATABASE waits until every
		 * process, this one included, has (SIGTERM is handled above).
		 */
		CHECK_FOR_INTERRUPTS();
	}

	proc_exit(1);
}

/*
 * Error context of a per-database worker: the log line prefix often does not
 * say which database a failed pass was for.
 */
static void
database_error_context(void *arg)
{
	errcontext("trail worker of database \"%s\"", (const char *) arg);
}

/*
 * Entry point of a per-database worker: a maintenance pass (one
 * transaction) and/or a delivery pass (delivery.c, its own transactions),
 * then exit.
 */
void
trail_database_main(Datum main_arg)
{
	ErrorContextCallback errcallback;
	uint32		tasks;

	memcpy(&tasks, MyBgworkerEntry->bgw_extra, sizeof(tasks));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no user: the bootstrap superuser, whoever may have logins */
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);
	SetConfigOption("application_name", "trail worker",
					PGC_USERSET, PGC_S_SESSION);
	/* files are put in place or removed after commits that must be durable */
	SetConfigOption("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION);

	StartTransactionCommand();
	errcallback.callback = database_error_context;
	errcallback.arg = MemoryContextStrdup(TopMemoryContext,
										  get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (tasks & TASK_MAINTAIN)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "trail maintenance pass");

		/* does nothing where trail is not installed */
		trail_maintain(GetCurrentTimestamp(), NULL, NULL);

		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	if (tasks & TASK_INSIGHTS)
	{
		/* before delivery, so that new Insight events go out in this pass */
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "trail insights cycle");
		trail_insights_pass();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	if (tasks & TASK_DELIVER)
	{
		bool		installed;
		bool		home;

		/* first what the spool holds for this database */
		StartTransactionCommand();
		installed = trail_catalog() != NULL;
		home = strcmp(get_database_name(MyDatabaseId), trail_home_database) == 0;
		CommitTransactionCommand();
		if (installed)
			trail_spool_drain(home);

		/*
		 * Delivery sorts each window of events in delivery order: enough
		 * memory keeps a window's sort off disk (windows are sized to a few
		 * files), and one process keeps the work on one core.
		 */
		SetConfigOption("work_mem", "64MB", PGC_USERSET, PGC_S_SESSION);
		SetConfigOption("max_parallel_workers_per_gather", "0", PGC_USERSET, PGC_S_SESSION);
		trail_deliver_all();
	}

	error_context_stack = errcallback.previous;
	proc_exit(0);
}
