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
 * Write n tuples, formed in the row type formed_in, into relation relid,
 * with their index entries.  With written NULL every tuple is written;
 * otherwise a tuple that a unique index already holds is skipped, and
 * written[i] says which were written.  Returns how many were.  The
 * tuples (palloc'd, each on its own) are taken over and freed.
 */
extern int	trail_bulk_write(Oid relid, TupleDesc formed_in, HeapTuple *tuples,
							 int n, bool *written);

extern void trail_bulk_write_init(void);

#endif							/* TRAIL_BULK_WRITE_H */
