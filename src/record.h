/*-------------------------------------------------------------------------
 *
 * record.h
 *	  Rendering one row of trail.events as a CloudTrail record.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_RECORD_H
#define TRAIL_RECORD_H

#include "access/htup.h"
#include "lib/stringinfo.h"
#include "utils/uuid.h"

/*
 * The member of unknown_fields that lists the members an imported record
 * did not have although their column needs a value (record.c, import.c).
 * Its name cannot be a CloudTrail field's, which are plain identifiers.
 */
#define TRAIL_ABSENT_MEMBERS "trail:absent"

/*
 * Append the CloudTrail record of one trail.events row (any row type with
 * trail.events' column names) to buf, as compact JSON in CloudTrail's key
 * order.  Log file export writes exactly this text.
 */
extern void trail_render_record(HeapTupleHeader rec, StringInfo buf);

/*
 * Row data events share most of their record with their statement's row
 * (trail.data_events): a template is that row's record rendered once, with
 * the places where each row event's own parts go.
 */
typedef enum TrailRowCut
{
	TRAIL_CUT_PARAMS,			/* inside requestParameters, at its end */
	TRAIL_CUT_EXTRA,			/* inside additionalEventData, at its end */
	TRAIL_CUT_EVENT_ID,			/* the eventID value */
	TRAIL_CUT_RESOURCES,		/* inside resources, at its end */
	TRAIL_ROW_CUTS
} TrailRowCut;

typedef struct TrailRowTemplate
{
	char	   *text;
	int			len;
	int			cut[TRAIL_ROW_CUTS];
	bool		params_empty;	/* requestParameters has no member of its own */
	bool		extra_empty;
	bool		resources_empty;
} TrailRowTemplate;

/* What is a row event's own (JSON texts as trail.event_rows keeps them) */
typedef struct TrailRowParts
{
	const pg_uuid_t *event_id;
	const pg_uuid_t *statement_event_id;
	int32		row_number;
	const char *partition_name; /* NULL: the table named */
	const char *partition_arn;
	const char *row_key;		/* NULL: none */
	const char *old_image;
	const char *new_image;
} TrailRowParts;

/* Make the template of a statement row (a trail.events row) */
extern void trail_render_row_template(HeapTupleHeader statement, TrailRowTemplate *tpl);

/* Append one row event's record, its template filled in with its parts */
extern void trail_render_row_record(const TrailRowTemplate *tpl,
									const TrailRowParts *row, StringInfo buf);

#endif							/* TRAIL_RECORD_H */
