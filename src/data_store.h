/*-------------------------------------------------------------------------
 *
 * data_store.h
 *	  The event data store's settings: selectors, retention, capture options,
 *	  and the capture triggers they call for.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_DATA_STORE_H
#define TRAIL_DATA_STORE_H

#include "utils/array.h"

/* A table's name as resources give it (schema.table, quoted as needed) */
extern char *trail_table_name(Oid relid);

/* A table's ARN: arn:postgresql:table:<database>:<account>:<schema.table> */
extern char *trail_table_arn_of(Oid relid);

/*
 * A table's capture options, allocated in the caller's memory context;
 * *row_images stays NULL when none were set.
 */
extern void trail_data_store_options(Oid relid, char **row_images,
									 ArrayType **exclude_columns,
									 ArrayType **redact_columns);

/*
 * Does a data selector pick writes on the table or on one of the
 * partitioned tables it is a partition of (so that it has capture triggers)?
 */
extern bool trail_data_store_selects_writes(Oid relid);

/* Is a name in a text[] of names (NULL: none)? */
extern bool trail_array_has_name(ArrayType *names, const char *name);

/*
 * After a DDL command reported an object (ddl_command_end, sql_drop): put
 * capture triggers on a new or renamed table that the selectors pick, take
 * them off one they no longer pick; forget the options of a dropped one.
 */
extern void trail_data_store_object_changed(const char *object_type, Oid objid);

/*
 * After ALTER TABLE ... RENAME COLUMN: the table's excluded and redacted
 * columns follow the new name (a renamed secret must stay redacted).
 */
extern void trail_data_store_column_renamed(Oid relid, const char *old_name,
											const char *new_name);

/*
 * After selectors changed (the store's or a trail's, whose union decides
 * capture): put the capture triggers where they now belong.
 */
extern void trail_data_store_reconcile(void);

/* Before DROP EXTENSION trail: take the capture triggers off every table */
extern void trail_data_store_drop_triggers(void);

#endif							/* TRAIL_DATA_STORE_H */
