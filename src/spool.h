/*-------------------------------------------------------------------------
 *
 * spool.h
 *	  The durable side path for events without a committed transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_SPOOL_H
#define TRAIL_SPOOL_H

#include "event.h"

/*
 * An event as a spool record: a JSON object keyed by trail.events' column
 * names.  Needs the catalog for the region unless ev->region is set; the
 * rest is the caller's (names, identity), made while the catalog is safe.
 */
extern char *trail_spool_record(const TrailEvent *ev);

/*
 * Append a record to this process's spool file for a database (InvalidOid:
 * the global spool, which the home database takes in) and fsync it.  Never
 * raises an error; false (and counted) when it could not be written.
 */
extern bool trail_spool_write(const char *record, Oid dboid);

/*
 * Move the spooled events of this database (and, in the home database,
 * the global ones) into trail.events.  In a worker, outside a transaction.
 */
extern void trail_spool_drain(bool home);

/* Called once from _PG_init: shared counters */
extern void trail_spool_init(void);

#endif							/* TRAIL_SPOOL_H */
