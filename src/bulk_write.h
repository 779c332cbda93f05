/*-------------------------------------------------------------------------
 *
 * bulk_write.h
 *	  Writing many rows straight into one of trail's tables, the way COPY
 *	  FROM writes: the table AM's multi-insert, then the index entries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_BULK_WRITE_H
#define TRAIL_BULK_WRITE_H

#include "access/htup.h"
#include "access/tupdesc.h"

/*
 * What the rows of one call have in common for the partial indexes of
 * trail.events (their predicates test event_category): data events, or
 * events of other categories.  Rows of tables without partial indexes may
 * be called either, and so may rows written with duplicate checks, whose
 * predicates are evaluated row by row.
 */
typedef enum TrailRowClass
{
	TRAIL_ROWS_DATA,
	TRAIL_ROWS_OTHER
} TrailRowClass;

/*
 * Write n tuples of one class, formed in the row type formed_in, into
 * relation relid, with their index entries.  With written NULL every tuple
 * is written; otherwise a tuple that a unique index already holds is
 * skipped, and written[i] says which were written.  Returns how many were.
 * The tuples (palloc'd, each on its own) are taken over and freed.
 */
extern int	trail_bulk_write(Oid relid, TrailRowClass row_class,
							 TupleDesc formed_in, HeapTuple *tuples, int n,
							 bool *written);

extern void trail_bulk_write_init(void);

#endif							/* TRAIL_BULK_WRITE_H */
