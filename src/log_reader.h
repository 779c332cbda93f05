/*-------------------------------------------------------------------------
 *
 * log_reader.h
 *	  Reading CloudTrail log files into rows of trail.events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_LOG_READER_H
#define TRAIL_LOG_READER_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * The messages a reader sends, in order, each starting with its kind byte:
 * a file's name before its rows, a notice for the caller now and then, and
 * the totals last.
 */
#define TRAIL_LOG_FILE		'F'		/* a file starts: its path, NUL-ended */
#define TRAIL_LOG_ROW		'R'		/* a row: see trail_log_row_decode */
#define TRAIL_LOG_NOTICE	'N'		/* a notice for the caller: its text */
#define TRAIL_LOG_DONE		'D'		/* the end: TrailLogTotals */

/* What a reader counts itself (records older than the retention start) */
typedef struct TrailLogTotals
{
	int64		files;
	int64		expired;
} TrailLogTotals;

/* A LookupEvents entry of a row: key (e.g. EventName) and value */
typedef struct TrailLogLookup
{
	const char *key;
	int			keylen;
	const char *value;
	int			len;
} TrailLogLookup;

/* A row message, decoded: pointers into the message */
typedef struct TrailLogRow
{
	TimestampTz time;
	pg_uuid_t	id;
	HeapTupleData tuple;		/* t_data not aligned: copy it */
	int			nlookups;
	TrailLogLookup *lookups;	/* palloc'd */
} TrailLogRow;

/* Receives each message; its memory is the reader's again after the call */
typedef void (*TrailLogSink) (void *arg, const char *msg, Size len);

/* What the rows are made for */
typedef struct TrailLogTarget
{
	TupleDesc	desc;			/* trail.events' row type */
	int64		commit_seq;		/* the importing transaction's */
	TimestampTz retention_start;	/* older records are skipped */
} TrailLogTarget;

extern void trail_log_read(const char *path, bool is_dir,
						   const TrailLogTarget *target,
						   TrailLogSink sink, void *arg);
extern void trail_log_row_decode(const char *msg, Size len, TrailLogRow *row);

#endif							/* TRAIL_LOG_READER_H */
