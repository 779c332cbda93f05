/*-------------------------------------------------------------------------
 *
 * bulk_write.c
 *	  Writing many rows straight into one of trail's tables, the way COPY
 *	  FROM writes: the table AM's multi-insert, then the index entries.
 *
 * Two writers produce rows by the thousand and skip SQL for them: the
 * data-event queue at commit (batch.c) and trail.import_logs() (import.c);
 * the other events, one at a time, skip it too (store.c), since planning
 * and starting an executor for each cost more than the write.
 * Both hand over heap tuples formed in a parent table's row type and the
 * relation they go to (the partition of their day, or a plain table such as
 * trail.event_resources); this file converts them if the partition's
 * columns differ, inserts them in chunks of INSERT_CHUNK with one WAL
 * record per page, and writes their index entries.
 *
 * Design notes:
 *
 *	- Indexes, without duplicate checks (events, lookup entries): which
 *	  indexes take the rows is worked out once per relation and class of
 *	  rows (data events or not, what the partial indexes' predicates test)
 *	  from its real index definitions and the first row, and only those
 *	  are opened and written; the executor's machinery would evaluate every
 *	  predicate for every row.  A unique index still refuses a duplicate
 *	  with an error.  A BRIN index gets one entry per heap page and key
 *	  value: the rows of one commit share their commit_seq and mostly a
 *	  page, and a BRIN summary learns nothing from the second such row.
 *	- Indexes, with duplicate checks (imports): each row is first looked up
 *	  in the unique indexes whose predicate it satisfies, as INSERT ... ON
 *	  CONFLICT DO NOTHING does before inserting (ExecCheckIndexConstraints,
 *	  which waits for a concurrent inserter of the same key); a row found
 *	  there is not written and the caller is told.  The rows written get
 *	  their entries from ExecInsertIndexTuples, predicates evaluated per
 *	  row, since one import batch mixes categories.  A concurrent writer of
 *	  the same key between the check and the insert gets a unique violation
 *	  instead of a skip: imports take a lock against each other for that
 *	  (import.c).  A relation made in this transaction (a day partition the
 *	  import has just made) is written the other way round: nobody else can
 *	  see it, so only this transaction's own rows can be there, and rather
 *	  than looking each row up first, the row is inserted with its entries
 *	  and the unique indexes report a duplicate (UNIQUE_CHECK_PARTIAL, as
 *	  for ON CONFLICT's arbiters); the duplicate row is then deleted again.
 *	  A first import into days of its own so skips one index descent per
 *	  row; duplicates are rare there (CloudTrail delivers an event twice
 *	  only now and then), and cost a dead row each (so does every record
 *	  of a second import of the same files in the same transaction).
 *	- No triggers, rules or permission checks run: these are trail's own
 *	  writes into its own append-only tables (protect.c keeps everyone
 *	  else out), made inside the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "bulk_write.h"

/* rows per multi-insert call, like COPY's buffers */
#define INSERT_CHUNK 1000

/* What a backend learns of the indexes of a relation it writes */
typedef struct TakingIndexes
{
	Oid			relid;
	TrailRowClass row_class;
	List	   *taking;			/* index OIDs */
} TakingIndexes;

static List *taking_cache = NIL;	/* of TakingIndexes * */

/* Partitions whose columns are their parent's, as they are made: no map */
static List *same_layout_relations = NIL;

/*
 * Relcache callback: forget what we learnt of a relation that changed.
 */
static void
bulk_write_relcache_callback(Datum arg, Oid relid)
{
	ListCell   *lc;

	foreach(lc, taking_cache)
	{
		TakingIndexes *t = lfirst(lc);

		if (!OidIsValid(relid) || t->relid == relid)
		{
			list_free(t->taking);
			pfree(t);
			taking_cache = foreach_delete_current(taking_cache, lc);
		}
	}
	if (!OidIsValid(relid))
	{
		list_free(same_layout_relations);
		same_layout_relations = NIL;
		return;
	}
	same_layout_relations = list_delete_oid(same_layout_relations, relid);
}

/*
 * The indexes of a relation that take rows of a class like the one in
 * slot, worked out the first time from that row.
 */
static List *
taking_indexes(Relation rel, TrailRowClass row_class, TupleTableSlot *slot)
{
	ListCell   *lc;
	TakingIndexes *t;
	EState	   *estate;
	ResultRelInfo *rri;
	ExprContext *econtext;
	List	   *taking = NIL;
	MemoryContext oldcxt;
	int			i;

	foreach(lc, taking_cache)
	{
		t = lfirst(lc);
		if (t->relid == RelationGetRelid(rel) && t->row_class == row_class)
			return t->taking;
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	econtext = GetPerTupleExprContext(estate);
	econtext->ecxt_scantuple = slot;
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];

		if (info->ii_Predicate == NIL ||
			ExecQual(ExecPrepareQual(info->ii_Predicate, estate), econtext))
			taking = lappend_oid(taking,
								 RelationGetRelid(rri->ri_IndexRelationDescs[i]));
	}
	ExecCloseIndices(rri);
	FreeExecutorState(estate);

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	t = palloc(sizeof(TakingIndexes));
	t->relid = RelationGetRelid(rel);
	t->row_class = row_class;
	t->taking = list_copy(taking);
	taking_cache = lappend(taking_cache, t);
	MemoryContextSwitchTo(oldcxt);
	return t->taking;
}

/*
 * Would a BRIN index learn nothing from row i that row i - 1 did not tell
 * it?  A BRIN index summarises pages: a row on the same heap page as the
 * row before, with the same key values, leaves every summary as it was.
 * The rows of a commit all carry its commit_seq and mostly share a page,
 * so the commit_seq BRIN indexes need one entry per page rather than one
 * per row.  (A row skipped so is never the first of its page, which is
 * where autosummarize asks for the previous range to be summarised.)
 * Only plain columns are compared: their values point into the rows,
 * which live until the chunk is done, and their types are the rows'.
 */
static bool
brin_repeats_previous(Relation index, IndexInfo *info, TupleTableSlot **slots,
					  int i, const Datum *values, const bool *isnull,
					  const Datum *prev_values, const bool *prev_isnull)
{
	int			k;

	if (i == 0 || index->rd_rel->relam != BRIN_AM_OID ||
		info->ii_Expressions != NIL ||
		ItemPointerGetBlockNumber(&slots[i]->tts_tid) !=
		ItemPointerGetBlockNumber(&slots[i - 1]->tts_tid))
		return false;
	for (k = 0; k < info->ii_NumIndexKeyAttrs; k++)
	{
		Form_pg_attribute att = TupleDescAttr(slots[i]->tts_tupleDescriptor,
											  info->ii_IndexAttrNumbers[k] - 1);

		if (isnull[k] != prev_isnull[k] ||
			(!isnull[k] &&
			 !datumIsEqual(values[k], prev_values[k], att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/*
 * Write the taking indexes' entries for rows just inserted.
 */
static void
insert_taking_entries(Relation rel, List *taking, TupleTableSlot **slots, int n,
					  EState *estate)
{
	ListCell   *lc;

	foreach(lc, taking)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *info = BuildIndexInfo(index);
		ExprContext *econtext = GetPerTupleExprContext(estate);
		Datum		prev_values[INDEX_MAX_KEYS];
		bool		prev_isnull[INDEX_MAX_KEYS];
		int			i;

		for (i = 0; i < n; i++)
		{
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];

			econtext->ecxt_scantuple = slots[i];
			FormIndexDatum(info, slots[i], estate, values, isnull);
			if (brin_repeats_previous(index, info, slots, i, values, isnull,
									  prev_values, prev_isnull))
			{
				ResetPerTupleExprContext(estate);
				continue;
			}
			memcpy(prev_values, values, sizeof(Datum) * info->ii_NumIndexKeyAttrs);
			memcpy(prev_isnull, isnull, sizeof(bool) * info->ii_NumIndexKeyAttrs);
			(void) index_insert(index, values, isnull, &slots[i]->tts_tid, rel,
								index->rd_index->indisunique ?
								UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
								false, info);
			ResetPerTupleExprContext(estate);
		}
		index_close(index, NoLock);
	}
}

/*
 * Keep the rows of a chunk that no unique index holds yet, in order, and
 * tell the caller which were duplicates; returns how many are kept.
 */
static int
drop_duplicates(ResultRelInfo *rri, TupleTableSlot **slots, int n,
				EState *estate, bool *written)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		ItemPointerData conflict;

		written[i] = ExecCheckIndexConstraints(rri, slots[i], estate, &conflict, NIL);
		ResetPerTupleExprContext(estate);
		if (!written[i])
			continue;
		if (kept != i)
		{
			TupleTableSlot *slot = slots[kept];

			slots[kept] = slots[i];
			slots[i] = slot;
		}
		kept++;
	}
	return kept;
}

/*
 * Write the index entries of a chunk's rows written with duplicate checks.
 * With check_after (a relation made in this transaction), the rows have
 * not been looked up first: one that a unique index reports a duplicate of
 * an earlier row is deleted again (after a CommandCounterIncrement, since a
 * command may not delete its own rows) and marked not written.  Returns
 * how many of the n rows stay.
 */
static int
insert_checked_entries(ResultRelInfo *rri, TupleTableSlot **slots, int n,
					   EState *estate, bool check_after, bool *written)
{
	ItemPointerData *dropped = NULL;
	int			ndropped = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		List	   *conflicts = ExecInsertIndexTuples(rri, slots[i], estate, false,
													  check_after, NULL, NIL);

		if (conflicts != NIL)
		{
			if (dropped == NULL)
				dropped = palloc(sizeof(ItemPointerData) * n);
			dropped[ndropped++] = slots[i]->tts_tid;
			written[i] = false;
			list_free(conflicts);
		}
		ResetPerTupleExprContext(estate);
	}
	if (ndropped > 0)
	{
		CommandCounterIncrement();
		for (i = 0; i < ndropped; i++)
			simple_heap_delete(rri->ri_RelationDesc, &dropped[i]);
		pfree(dropped);
	}
	return n - ndropped;
}

/*
 * Write n tuples of one class, formed in the row type formed_in, into
 * relation relid (opened here, RowExclusiveLock), with their index entries.
 * With written NULL, every tuple is written; otherwise a tuple a unique
 * index already holds is not, and written[i] tells which were.  Returns the
 * number of tuples written.  The tuples are taken over and freed, written
 * or not.
 */
int
trail_bulk_write(Oid relid, TrailRowClass row_class, TupleDesc formed_in,
				 HeapTuple *tuples, int n, bool *written)
{
	Relation	rel = table_open(relid, RowExclusiveLock);
	TupleConversionMap *map = NULL;
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	List	   *taking = NIL;
	TupleDesc	slot_desc;
	CommandId	cid = GetCurrentCommandId(true);
	BulkInsertState bistate = n > INSERT_CHUNK ? GetBulkInsertState() : NULL;
	bool		check_after;
	TupleTableSlot **slots;
	int			nslots = Min(n, INSERT_CHUNK);
	int			total = 0;
	int			done;
	int			i;

	/* a partition made LIKE its parent has the same columns, normally */
	if (!list_member_oid(same_layout_relations, relid))
	{
		map = convert_tuples_by_name(formed_in, RelationGetDescr(rel));
		if (map == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			same_layout_relations = lappend_oid(same_layout_relations, relid);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	/* duplicate checks need every index, each row its own predicates */
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	if (written != NULL && rel->rd_rel->relhasindex)
		ExecOpenIndices(rri, true);
	check_after = written != NULL && rel->rd_createSubid != InvalidSubTransactionId;
	/*
	 * Heap tuple slots, given the tuples to keep and free: the table AM's
	 * own slots would copy each tuple first.  They share an unpinned copy
	 * of the row type: a thousand slots of the relcache's would each pin it
	 * in the resource owner, which cost an import a twentieth of its time.
	 */
	slot_desc = CreateTupleDescCopy(RelationGetDescr(rel));
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(slot_desc, &TTSOpsHeapTuple);

	for (done = 0; done < n; done += nslots)
	{
		int			chunk = Min(nslots, n - done);
		int			keep = chunk;

		for (i = 0; i < chunk; i++)
		{
			HeapTuple	tuple = tuples[done + i];

			if (map != NULL)
			{
				HeapTuple	mapped = execute_attr_map_tuple(tuple, map);

				heap_freetuple(tuple);
				tuple = mapped;
			}
			ExecStoreHeapTuple(tuple, slots[i], true);
		}
		if (check_after)
			for (i = 0; i < chunk; i++)
				written[done + i] = true;
		else if (written != NULL)
			keep = drop_duplicates(rri, slots, chunk, estate, written + done);
		else if (done == 0 && rel->rd_rel->relhasindex)
			taking = taking_indexes(rel, row_class, slots[0]);
		if (keep > 0)
			table_multi_insert(rel, slots, keep, cid, 0, bistate);
		if (written == NULL)
			insert_taking_entries(rel, taking, slots, keep, estate);
		else
			keep = insert_checked_entries(rri, slots, keep, estate, check_after,
										  written + done);
		for (i = 0; i < chunk; i++)
			ExecClearTuple(slots[i]);
		total += keep;
	}

	if (bistate != NULL)
	{
		table_finish_bulk_insert(rel, 0);
		FreeBulkInsertState(bistate);
	}
	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	if (written != NULL && rel->rd_rel->relhasindex)
		ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return total;
}

/*
 * Register the caches' invalidation; at library load.
 */
void
trail_bulk_write_init(void)
{
	CacheRegisterRelcacheCallback(bulk_write_relcache_callback, (Datum) 0);
}
