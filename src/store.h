/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Writing events into trail.events, in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_STORE_H
#define TRAIL_STORE_H

#include "access/htup.h"
#include "access/tupdesc.h"

#include "catalog.h"
#include "event.h"

/*
 * Insert one event into trail.events of the current database, inside the
 * current transaction (so it commits or rolls back with the command).
 * Does nothing when trail is not installed here, or when the event data
 * store's selectors do not pick the event.
 */
extern void trail_store_event(const TrailEvent *ev);

/*
 * Record a call of trail's SQL API (a change of its settings) as a
 * management event of the caller, eventSource trail.postgresql; params is
 * the requestParameters JSON text.
 */
extern void trail_store_api_call(const char *event_name, const char *params,
								 const char *resource_type, const char *arn,
								 const char *name);

/* The columns of trail.events an event fills, by name, in a fixed order */
#define TRAIL_EVENT_NCOLUMNS 27
extern const char *const trail_event_columns[TRAIL_EVENT_NCOLUMNS];

/* An event's values for those columns */
extern void trail_event_datums(const TrailEvent *ev, Datum *values, bool *nulls);

/* trail.event_resources, the LookupEvents entries, as its writers need it */
typedef struct TrailLookupTable
{
	Oid			relid;
	TupleDesc	desc;			/* a copy, in the caller's memory context */
	AttrNumber	attnums[5];		/* lookup_key, lookup_value, event_time,
								 * event_id, lookup_hash */
} TrailLookupTable;

extern void trail_lookup_table(const TrailCatalog *cat, TrailLookupTable *table);

/* The hash of (key, value) that leads the table's primary key */
extern int64 trail_lookup_hash(text *key, text *value);

/* One entry as a tuple of that table */
extern HeapTuple trail_lookup_tuple(const TrailLookupTable *table, Datum key,
									Datum value, Datum event_time,
									Datum event_id);

#endif							/* TRAIL_STORE_H */
