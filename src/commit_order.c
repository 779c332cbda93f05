/*-------------------------------------------------------------------------
 *
 * commit_order.c
 *	  Commit sequence numbers for events, and the watermark below which every
 *	  numbered transaction has ended: what lets trails deliver each committed
 *	  event exactly once.
 *
 * A trail delivers events in the order their transactions write them, by a
 * cursor over (commit_seq, event_id).  Event times cannot serve: a
 * transaction that stays open for an hour commits events an hour old after
 * younger ones were delivered.  So each transaction that writes events takes
 * one number from the sequence trail.commit_seq when it first writes them
 * (for data events: just before commit, when the batch is written), and all
 * its events carry it.  A delivery may then go up to, but not including, the
 * smallest number still held by a transaction in progress: everything below
 * is committed (visible) or aborted (gone) for good.
 *
 * Design notes:
 *
 *	- Holders are registered in shared memory, one slot per backend.  Taking
 *	  a number and registering it happen under commit_order_lock in shared
 *	  mode; the watermark is read under it in exclusive mode, together with
 *	  the sequence's last value.  So no number can be taken but not yet
 *	  registered while the watermark is computed, and numbers taken later
 *	  are above it.
 *	- A slot is cleared when its transaction ends (after it is visible to
 *	  new snapshots: the commit callback runs after ProcArrayEndTransaction).
 *	- A prepared transaction keeps its number in a slot of its own until it
 *	  is committed or rolled back, whichever backend does that; the
 *	  watermark computation clears slots whose transaction is over.
 *	  Shared memory does not survive a restart, so transactions prepared
 *	  before one are unknown: while any of them remains, the watermark does
 *	  not move (delivery waits rather than risk skipping their events).
 *	- Management events are written when their statement runs, so a
 *	  transaction that runs DDL holds its number, and holds back delivery of
 *	  later commits, until it ends.  Data events take their number only at
 *	  commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "commit_order.h"

/* A number held by a transaction of some database (seq 0: free slot) */
typedef struct CommitSlot
{
	pg_atomic_uint64 seq;
	Oid			dboid;
	TransactionId xid;			/* prepared slots only */
} CommitSlot;

typedef struct CommitOrderShared
{
	LWLock	   *lock;
	int			nbackend_slots; /* indexed by MyBackendId - 1 */
	int			nprepared_slots;
	CommitSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} CommitOrderShared;

static CommitOrderShared *shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* this backend's transaction: its number (0: none yet) */
static int64 my_seq = 0;
static TransactionId my_prepared_xid = InvalidTransactionId;

/*
 * Size of the shared state.
 */
static Size
shared_size(void)
{
	return add_size(offsetof(CommitOrderShared, slots),
					mul_size(MaxBackends + max_prepared_xacts, sizeof(CommitSlot)));
}

/*
 * Ask for the shared memory and the lock (PostgreSQL 15's request hook).
 */
static void
commit_order_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("trail commit order", 1);
}

/*
 * Create or attach to the shared state.
 */
static void
commit_order_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("trail commit order", shared_size(), &found);
	if (!found)
	{
		int			i;

		shared->lock = &(GetNamedLWLockTranche("trail commit order"))->lock;
		shared->nbackend_slots = MaxBackends;
		shared->nprepared_slots = max_prepared_xacts;
		for (i = 0; i < MaxBackends + max_prepared_xacts; i++)
		{
			pg_atomic_init_u64(&shared->slots[i].seq, 0);
			shared->slots[i].dboid = InvalidOid;
			shared->slots[i].xid = InvalidTransactionId;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * This backend's slot.
 */
static CommitSlot *
my_slot(void)
{
	Assert(MyBackendId != InvalidBackendId && MyBackendId <= shared->nbackend_slots);
	return &shared->slots[MyBackendId - 1];
}

/*
 * The sequence the numbers come from.
 */
static Oid
sequence_relid(const TrailCatalog *cat)
{
	Oid			relid = get_relname_relid("commit_seq", cat->namespace_oid);

	if (!OidIsValid(relid))
		elog(ERROR, "trail: sequence trail.commit_seq is missing");
	return relid;
}

int64
trail_commit_seq(void)
{
	const TrailCatalog *cat = trail_catalog();
	bool		save_read_only = XactReadOnly;
	CommitSlot *slot;

	if (my_seq != 0)
		return my_seq;
	Assert(cat != NULL);

	slot = my_slot();
	LWLockAcquire(shared->lock, LW_SHARED);
	/* read-only transactions record their reads too */
	XactReadOnly = false;
	PG_TRY();
	{
		my_seq = nextval_internal(sequence_relid(cat), false);
	}
	PG_FINALLY();
	{
		XactReadOnly = save_read_only;
	}
	PG_END_TRY();
	slot->dboid = MyDatabaseId;
	pg_write_barrier();
	pg_atomic_write_u64(&slot->seq, (uint64) my_seq);
	LWLockRelease(shared->lock);
	return my_seq;
}

/*
 * Transaction callback: the number is released when the transaction ends,
 * or handed to a prepared slot when it is prepared.
 */
static void
commit_order_xact_callback(XactEvent event, void *arg)
{
	if (my_seq == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			my_prepared_xid = GetTopTransactionId();
			break;
		case XACT_EVENT_PREPARE:
			{
				int			i;
				bool		kept = false;

				LWLockAcquire(shared->lock, LW_EXCLUSIVE);
				for (i = 0; i < shared->nprepared_slots && !kept; i++)
				{
					CommitSlot *p = &shared->slots[shared->nbackend_slots + i];

					if (pg_atomic_read_u64(&p->seq) == 0)
					{
						p->dboid = MyDatabaseId;
						p->xid = my_prepared_xid;
						pg_atomic_write_u64(&p->seq, (uint64) my_seq);
						kept = true;
					}
				}
				pg_atomic_write_u64(&my_slot()->seq, 0);
				LWLockRelease(shared->lock);
				/* cannot happen: there are max_prepared_xacts slots */
				if (!kept)
					elog(WARNING, "trail: no slot for prepared transaction %u", my_prepared_xid);
				my_seq = 0;
				break;
			}
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			pg_atomic_write_u64(&my_slot()->seq, 0);
			my_seq = 0;
			break;
		default:
			break;
	}
}

/*
 * Transaction ids of the transactions prepared in this database, by SPI;
 * *n receives their number.
 */
static TransactionId *
prepared_here(int *n)
{
	TransactionId *xids;
	uint64		i;

	if (SPI_execute("SELECT transaction::text FROM pg_catalog.pg_prepared_xacts"
					" WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "trail: could not list prepared transactions");
	xids = palloc(sizeof(TransactionId) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *x = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		xids[i] = (TransactionId) strtoul(x, NULL, 10);
	}
	*n = (int) SPI_processed;
	return xids;
}

int64
trail_commit_watermark(bool *held_by_unknown_prepared)
{
	TransactionId *prepared;
	int			nprepared;
	Datum		last;
	bool		isnull;
	int64		watermark;
	int			nslots;
	int			i;
	int			p;

	prepared = prepared_here(&nprepared);
	*held_by_unknown_prepared = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (SPI_execute("SELECT last_value FROM trail.commit_seq", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "trail: could not read trail.commit_seq");
	last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	watermark = DatumGetInt64(last) + 1;

	nslots = shared->nbackend_slots + shared->nprepared_slots;
	for (i = 0; i < nslots; i++)
	{
		CommitSlot *s = &shared->slots[i];
		int64		seq = (int64) pg_atomic_read_u64(&s->seq);

		if (seq == 0 || s->dboid != MyDatabaseId)
			continue;
		/* a prepared transaction that has ended gives its slot back */
		if (i >= shared->nbackend_slots && !TransactionIdIsInProgress(s->xid))
		{
			pg_atomic_write_u64(&s->seq, 0);
			continue;
		}
		watermark = Min(watermark, seq);
	}

	/* prepared before a restart: their numbers are unknown */
	for (p = 0; p < nprepared; p++)
	{
		TransactionId xid = prepared[p];
		bool		known = false;

		for (i = shared->nbackend_slots; i < nslots && !known; i++)
			known = pg_atomic_read_u64(&shared->slots[i].seq) != 0 &&
				shared->slots[i].xid == xid;
		if (!known)
			*held_by_unknown_prepared = true;
	}
	LWLockRelease(shared->lock);
	return watermark;
}

void
trail_commit_order_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = commit_order_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = commit_order_shmem_startup;
	RegisterXactCallback(commit_order_xact_callback, NULL);
}
