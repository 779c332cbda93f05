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
 * line is the "message" of a JSON log entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "reactions.h"
#include "rules.h"

/* categories of trail.log_events, as bits */
#define LOG_MANAGEMENT 0x01
#define LOG_DATA 0x02
#define LOG_INSIGHT 0x04

static int	log_categories = 0;

/* One line waiting for its transaction to commit */
typedef struct PendingLine
{
	SubTransactionId subid;
	char	   *line;
} PendingLine;

static List *pending = NIL;		/* in TopTransactionContext */

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
trail_reactions_wanted(const char *category)
{
	return (log_categories & category_bit(category)) != 0 || trail_rules_active();
}

void
trail_react(const char *category, const char *record)
{
	if (log_categories & category_bit(category))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
		PendingLine *p = palloc(sizeof(PendingLine));

		p->subid = GetCurrentSubTransactionId();
		p->line = pstrdup(record);
		pending = lappend(pending, p);
		MemoryContextSwitchTo(oldcxt);
	}
	trail_rules_dispatch(record);
}

/*
 * Transaction callback: the lines of a committed transaction go to the log.
 */
static void
reactions_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		foreach(lc, pending)
			ereport(LOG,
					(errmsg_internal("TRAIL: %s", ((PendingLine *) lfirst(lc))->line),
					 errhidestmt(true),
					 errhidecontext(true)));
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
