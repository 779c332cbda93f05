/*-------------------------------------------------------------------------
 *
 * reactions.c
 *	  What happens right after trail stores an event: its line in the
 *	  server log (trail.log_events, a CloudWatch-Logs-style stream) and the
 *	  rules that match it (rules.c).
 *
 * Every place that stores events (store.c, batch.c) asks
 * trail_reactions_wanted() first, so that nothing is rendered when there
 * is nothing to react; then it passes the event's CloudTrail record to
 * trail_react().
 *
 * The log stream writes one line per event, "TRAIL: " followed by the
 * CloudTrail record as compact JSON, at LOG level, when the transaction
 * commits: an event that is rolled back (with its transaction or its
 * subtransaction) is never logged.  With log_destination = jsonlog the
 * line is the "message" of a JSON log entry.  Rules' notifications wait
 * the same way (queued just before commit).  A prepared transaction's
 * reactions wait in a file, pg_trail/prepared/<gid in hex>, fsynced when
 * it is prepared, until COMMIT PREPARED (whichever session runs it, even
 * after a restart) logs and notifies them, or ROLLBACK PREPARED drops
 * them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "storage/fd.h"
#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include <unistd.h>

#include "reactions.h"
#include "rules.h"

/* categories of trail.log_events, as bits */
#define LOG_MANAGEMENT 0x01
#define LOG_DATA 0x02
#define LOG_INSIGHT 0x04

static int	log_categories = 0;

/*
 * One reaction waiting for its transaction to commit: a log line, or a
 * notification (channel set)
 */
typedef struct PendingLine
{
	SubTransactionId subid;
	char	   *channel;		/* NULL: a log line */
	char	   *line;
} PendingLine;

static List *pending = NIL;		/* in TopTransactionContext */

#define PREPARED_DIR "pg_trail/prepared"

/* the GID of the transaction being prepared, from PREPARE TRANSACTION */
static char *preparing_gid = NULL;

/*
 * The bit of a category name (any case), or 0.
 */
static int
category_bit(const char *category)
{
	if (pg_strcasecmp(category, "management") == 0)
		return LOG_MANAGEMENT;
	if (pg_strcasecmp(category, "data") == 0)
		return LOG_DATA;
	if (pg_strcasecmp(category, "insight") == 0)
		return LOG_INSIGHT;
	return 0;
}

bool
trail_log_events_check(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	ListCell   *lc;
	int			bits = 0;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, names)
	{
		int			bit = category_bit(lfirst(lc));

		if (bit == 0)
		{
			GUC_check_errdetail("Unknown event category \"%s\": use management, data or insight.",
								(char *) lfirst(lc));
			return false;
		}
		bits |= bit;
	}
	*extra = malloc(sizeof(int));
	if (*extra == NULL)
		return false;
	*((int *) *extra) = bits;
	return true;
}

void
trail_log_events_assign(const char *newval, void *extra)
{
	log_categories = *((int *) extra);
}

bool
trail_reactions_wanted(const char *category, const char *event_source,
					   const char *event_name, const TrailEvent *ev)
{
	return (log_categories & category_bit(category)) != 0 ||
		trail_rules_candidates(category, event_source, event_name, ev);
}

/*
 * Keep a reaction until the transaction commits.
 */
static void
add_pending(const char *channel, const char *line)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	PendingLine *p = palloc(sizeof(PendingLine));

	p->subid = GetCurrentSubTransactionId();
	p->channel = channel ? pstrdup(channel) : NULL;
	p->line = pstrdup(line);
	pending = lappend(pending, p);
	MemoryContextSwitchTo(oldcxt);
}

void
trail_react(const char *category, const char *event_source, const char *event_name,
			const char *record, const TrailEvent *ev)
{
	if (log_categories & category_bit(category))
		add_pending(NULL, record);
	trail_rules_dispatch(record, category, event_source, event_name, ev);
}

void
trail_notify_at_commit(const char *channel, const char *payload)
{
	add_pending(channel, payload);
}

/*
 * The file that keeps the reactions of a prepared transaction.
 */
static char *
prepared_path(const char *gid)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s/", PREPARED_DIR);
	for (p = gid; *p; p++)
		appendStringInfo(&buf, "%02x", (unsigned char) *p);
	return buf.data;
}

/*
 * Keep the pending reactions of the transaction being prepared in its
 * file (one per line: L<tab>line or N<tab>channel<tab>payload).
 */
static void
keep_prepared(void)
{
	StringInfoData buf;
	ListCell   *lc;
	char	   *path;
	char	   *tmp;
	int			fd;

	if (preparing_gid == NULL)
		return;
	initStringInfo(&buf);
	foreach(lc, pending)
	{
		PendingLine *p = lfirst(lc);

		if (p->channel)
			appendStringInfo(&buf, "N\t%s\t%s\n", p->channel, p->line);
		else
			appendStringInfo(&buf, "L\t%s\n", p->line);
	}
	path = prepared_path(preparing_gid);
	tmp = psprintf("%s.tmp", path);
	(void) MakePGDirectory("pg_trail");
	(void) MakePGDirectory(PREPARED_DIR);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0 || write(fd, buf.data, buf.len) != buf.len || pg_fsync(fd) != 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("trail: could not keep the log lines and notifications of prepared transaction \"%s\": %m",
						preparing_gid)));
		if (fd >= 0)
			CloseTransientFile(fd);
		return;
	}
	CloseTransientFile(fd);
	(void) durable_rename(tmp, path, WARNING);
}

void
trail_reactions_preparing(const char *gid)
{
	preparing_gid = gid ? MemoryContextStrdup(TopMemoryContext, gid) : NULL;
}

void
trail_reactions_finish_prepared(const char *gid, bool commit)
{
	char	   *path = prepared_path(gid);
	FILE	   *f;
	char	   *line = NULL;
	size_t		size = 0;

	f = AllocateFile(path, "r");
	if (f == NULL)
		return;
	while (commit && getline(&line, &size, f) > 0)
	{
		char	   *text = line + 2;
		char	   *tab;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == 'L')
			ereport(LOG,
					(errmsg_internal("TRAIL: %s", text),
					 errhidestmt(true),
					 errhidecontext(true)));
		else if (line[0] == 'N' && (tab = strchr(text, '\t')) != NULL)
		{
			*tab = '\0';
			Async_Notify(text, tab + 1);
		}
	}
	free(line);
	FreeFile(f);
	(void) durable_unlink(path, WARNING);
}

/*
 * Transaction callback: the lines of a committed transaction go to the log.
 */
static void
reactions_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event == XACT_EVENT_PREPARE)
	{
		if (pending != NIL)
			keep_prepared();
		if (preparing_gid)
			pfree(preparing_gid);
		preparing_gid = NULL;
	}
	if (pending == NIL)
		return;

	/*
	 * Notifications are queued just before commit: NOTIFY sends them at
	 * commit, and a transaction that is prepared instead must not have
	 * notified (PREPARE TRANSACTION refuses that).
	 */
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		foreach(lc, pending)
		{
			PendingLine *p = lfirst(lc);

			if (p->channel != NULL)
				Async_Notify(p->channel, p->line);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		foreach(lc, pending)
		{
			PendingLine *p = lfirst(lc);

			if (p->channel == NULL)
				ereport(LOG,
						(errmsg_internal("TRAIL: %s", p->line),
						 errhidestmt(true),
						 errhidecontext(true)));
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending = NIL;			/* its memory goes with the transaction */
}

/*
 * Subtransaction callback: an aborted subtransaction's lines go; a
 * committed one's become its parent's.
 */
static void
reactions_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		PendingLine *p = lfirst(lc);

		if (p->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			p->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			pending = foreach_delete_current(pending, lc);
	}
}

void
trail_reactions_init(void)
{
	RegisterXactCallback(reactions_xact_callback, NULL);
	RegisterSubXactCallback(reactions_subxact_callback, NULL);
	trail_rules_init();
}
