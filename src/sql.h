/*-------------------------------------------------------------------------
 *
 * sql.h
 *	  Running trail's own SQL: as the extension owner, with search_path
 *	  pinned to pg_catalog, and with trail's internal writes allowed.
 *
 * Every SPI call trail makes on its own behalf is bracketed by
 * trail_sql_begin() / trail_sql_end(); call trail_sql_end() from PG_FINALLY
 * so that an error never leaves internal writes allowed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_SQL_H
#define TRAIL_SQL_H

#include "utils/snapshot.h"

typedef struct TrailSqlScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		save_internal;
	Snapshot	snapshot;		/* pushed by begin, when none was active */
} TrailSqlScope;

extern void trail_sql_begin(TrailSqlScope *scope, Oid run_as);
extern void trail_sql_end(TrailSqlScope *scope);

/* True while trail itself is writing (store, maintenance): protect.c asks */
extern bool trail_sql_internal(void);

/*
 * Run one statement of trail's own, as the extension owner with the
 * search_path pinned.  With a result_cxt, the first column of the first
 * row is copied there and returned (NULL datum and *isnull when none).
 */
extern Datum trail_sql_run(const char *sql, int nargs, Oid *types, Datum *values,
						   const char *nulls, MemoryContext result_cxt, bool *isnull);

#endif							/* TRAIL_SQL_H */
