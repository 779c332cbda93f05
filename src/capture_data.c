/*-------------------------------------------------------------------------
 *
 * capture_data.c
 *	  Data events: writes and reads of the tables the selectors pick.
 *
 * Writes.  Every table the event data store's selectors pick carries four
 * statement-level AFTER triggers (data_store.c puts them there), INSERT,
 * UPDATE and DELETE with transition tables and TRUNCATE, all calling
 * trail_capture_change().  The trigger runs once per statement and table,
 * after the statement, and sees all its rows in the transition tables:
 *
 *	- it writes one statement event into trail.events (eventName Insert,
 *	  Update, Delete, Truncate, or Copy for COPY FROM; responseElements
 *	  {"rowCount": n}), and, when the table is captured with row images,
 *	- one row event per row into trail.event_rows: the key, and the old and
 *	  new images ("changed": UPDATE keeps only the columns that changed;
 *	  "full": whole rows), as JSON built here in C.
 *
 * Why transition tables rather than row triggers: PostgreSQL keeps them in
 * tuplestores that spill to disk past work_mem, so a statement of any size
 * is captured in bounded memory (row triggers would queue an event per row
 * in backend memory), and they hold exactly the rows written, after BEFORE
 * triggers, generated columns and ON CONFLICT.  MERGE fires the triggers
 * of each action it took; a change through a partitioned table fires the
 * triggers of the table the user named.
 *
 * Reads.  An ExecutorEnd hook looks at the relations a statement read but
 * did not write (with views and functions expanded, as the executor sees
 * them) and writes one "Select" event per selected table with the number of
 * rows the statement returned or wrote; COPY TO is reported by the utility
 * hook.
 *
 * Images are JSON built here from each column's value, in forms that do not
 * depend on the writer's session settings (ISO 8601 times in UTC, shortest
 * exact floats, hex bytea), so that a value reads the same whoever wrote it.
 *
 * Every event is queued in the user's transaction through batch.c, which
 * writes the queue before commit.  What each table needs (its ARN, options,
 * image columns) is worked out once per backend and kept until the table,
 * its options or the selectors change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/shortest_dec.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "batch.h"
#include "capture_data.h"
#include "capture_utility.h"
#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "event.h"
#include "selectors.h"
#include "sql.h"

PG_FUNCTION_INFO_V1(trail_capture_change);

/* CloudTrail truncates requestParameters at 100 KB */
#define MAX_STATEMENT_BYTES (100 * 1024)

typedef enum RowImages
{
	ROW_IMAGES_NONE,
	ROW_IMAGES_CHANGED,
	ROW_IMAGES_FULL
} RowImages;

/* How a column's text form becomes JSON */
typedef enum JsonKind
{
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_RAW,					/* json and jsonb: already JSON */
	JSON_DATETIME,				/* ISO 8601, timestamptz in UTC */
	JSON_INTERVAL,				/* ISO 8601 duration */
	JSON_FLOAT,					/* shortest exact form */
	JSON_BYTEA					/* \x and hex */
} JsonKind;

/* One column of a captured table's images */
typedef struct ImageColumn
{
	AttrNumber	attnum;
	char	   *json_key;		/* "name": */
	FmgrInfo	output;
	JsonKind	kind;
	Oid			typid;			/* base type */
	int16		typlen;
	bool		typbyval;
	bool		redacted;
	bool		key;			/* part of the primary key */
} ImageColumn;

/*
 * Event kinds whose selection a table remembers (see data_event_selected):
 * five writes, two reads, for the one user last asked about.
 */
#define MAX_REMEMBERED_SELECTIONS 8

/* A remembered answer of the selectors for one table */
typedef struct RememberedSelection
{
	const char *event_name;
	bool		read_only;
	bool		selected;
} RememberedSelection;

/* What capture needs to know about one table, per backend */
typedef struct CapturedTable
{
	Oid			relid;			/* hash key */
	bool		valid;
	uint64		generation;		/* of the selectors it was built with */
	MemoryContext cxt;			/* everything below */
	char	   *name;			/* schema.table, quoted as needed */
	char	   *arn;
	int			nselect;		/* ARNs selectors see: its own, then those */
	const char **select_arns;	/* of the partitioned tables it is part of */
	const char **select_types;
	bool		reads;			/* may a selector pick reads of it? */
	RowImages	row_images;
	bool		has_key;
	bool		hide_statement; /* excluded or redacted columns */
	int			ncolumns;
	ImageColumn *columns;
	Jsonb	   *resources;
	char	   *selection_user; /* userIdentity.arn the answers are for */
	uint64		selection_generation;	/* of the selectors they came from */
	int			nselections;
	RememberedSelection selections[MAX_REMEMBERED_SELECTIONS];
	TupleTableSlot *old_slot;	/* for reading its transition tables */
	TupleTableSlot *new_slot;
} CapturedTable;

static HTAB *captured_tables = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

/* the table a COPY FROM in progress fills */
static Oid	copy_from_relid = InvalidOid;

/* names of RowImages, as set_capture_options takes them */
static const char *const row_images_names[] = {
	[ROW_IMAGES_NONE] = "none",
	[ROW_IMAGES_CHANGED] = "changed",
	[ROW_IMAGES_FULL] = "full"
};

/*
 * Relcache callback: a table changed (renamed, altered, its options set),
 * or everything did.
 */
static void
captured_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CapturedTable *entry;

	if (captured_tables == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(captured_tables, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}
	hash_seq_init(&status, captured_tables);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/*
 * The JSON kind of a type's text form.
 */
static JsonKind
json_kind(Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case OIDOID:
			return JSON_NUMBER;
		case FLOAT4OID:
		case FLOAT8OID:
			return JSON_FLOAT;
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return JSON_DATETIME;
		case INTERVALOID:
			return JSON_INTERVAL;
		case BYTEAOID:
			return JSON_BYTEA;
		case BOOLOID:
			return JSON_BOOL;
		case JSONOID:
		case JSONBOID:
			return JSON_RAW;
		default:
			return JSON_STRING;
	}
}

/*
 * Work out what capture needs to know about a table.
 */
static void
build_captured_table(CapturedTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *pkey;
	ArrayType  *exclude = NULL;
	ArrayType  *redact = NULL;
	MemoryContext oldcxt;
	StringInfoData buf;
	int			i;

	if (t->cxt != NULL)
	{
		ExecDropSingleTupleTableSlot(t->old_slot);
		ExecDropSingleTupleTableSlot(t->new_slot);
		MemoryContextDelete(t->cxt);
	}
	t->cxt = AllocSetContextCreate(CacheMemoryContext, "trail captured table",
								   ALLOCSET_SMALL_SIZES);
	t->generation = trail_selectors_generation();
	t->row_images = ROW_IMAGES_CHANGED;
	t->selection_user = NULL;

	/* the options, if any were set (SPI allocates in its own context) */
	{
		char	   *row_images = NULL;

		trail_data_store_options(RelationGetRelid(rel), &row_images,
								 &exclude, &redact);
		if (row_images != NULL)
			for (i = 0; i < lengthof(row_images_names); i++)
				if (strcmp(row_images, row_images_names[i]) == 0)
					t->row_images = i;
	}

	oldcxt = MemoryContextSwitchTo(t->cxt);
	t->name = trail_table_name(RelationGetRelid(rel));
	t->arn = trail_table_arn_of(RelationGetRelid(rel));

	/* a partition is captured when its partitioned table is selected */
	{
		List	   *ancestors = rel->rd_rel->relispartition ?
			get_partition_ancestors(RelationGetRelid(rel)) : NIL;
		ListCell   *lc;

		t->nselect = 1 + list_length(ancestors);
		t->select_arns = palloc(sizeof(char *) * t->nselect);
		t->select_types = palloc(sizeof(char *) * t->nselect);
		t->select_arns[0] = t->arn;
		foreach(lc, ancestors)
			t->select_arns[foreach_current_index(lc) + 1] =
				trail_table_arn_of(lfirst_oid(lc));
		t->reads = false;
		for (i = 0; i < t->nselect; i++)
		{
			t->select_types[i] = "PG::Table";
			t->reads |= trail_selects_table(t->select_arns[i], true);
		}
	}

	t->resources = trail_jsonb_one_resource("PG::Table", t->arn, t->name);
	initStringInfo(&buf);

	pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	t->has_key = !bms_is_empty(pkey);
	t->columns = palloc(sizeof(ImageColumn) * desc->natts);
	t->ncolumns = 0;
	t->hide_statement = false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ImageColumn *col;
		Oid			typoutput;
		bool		typisvarlena;

		if (att->attisdropped)
			continue;
		if (trail_array_has_name(exclude, NameStr(att->attname)))
		{
			t->hide_statement = true;
			continue;
		}
		col = &t->columns[t->ncolumns++];
		col->attnum = att->attnum;
		resetStringInfo(&buf);
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoChar(&buf, ':');
		col->json_key = pstrdup(buf.data);
		getTypeOutputInfo(att->atttypid, &typoutput, &typisvarlena);
		fmgr_info_cxt(typoutput, &col->output, t->cxt);
		col->kind = json_kind(att->atttypid);
		col->typid = getBaseType(att->atttypid);
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		col->redacted = trail_array_has_name(redact, NameStr(att->attname));
		t->hide_statement |= col->redacted;
		col->key = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, pkey);
	}
	/* slots of its own row type: the relcache's may be rebuilt under it */
	desc = CreateTupleDescCopy(desc);
	t->old_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	t->new_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	MemoryContextSwitchTo(oldcxt);
	t->valid = true;
}

/*
 * The capture facts of a table, from the cache or worked out now.
 */
static CapturedTable *
captured_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	CapturedTable *t;
	bool		found;

	if (captured_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CapturedTable);
		captured_tables = hash_create("trail captured tables", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	t = hash_search(captured_tables, &relid, HASH_ENTER, &found);
	if (!found)
	{
		t->cxt = NULL;
		t->valid = false;
	}
	if (!t->valid || t->generation != trail_selectors_generation())
	{
		PG_TRY();
		{
			build_captured_table(t, rel);
		}
		PG_CATCH();
		{
			t->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return t;
}

/*
 * Is there anything to capture in this backend now: trail installed, not
 * its own work, not a standby or a parallel worker?
 */
static bool
capture_possible(void)
{
	return trail_catalog() != NULL && !trail_sql_internal() &&
		!RecoveryInProgress() && !IsParallelWorker() && !IsInParallelMode();
}

/*
 * Does the store record this data event of this table, for this user?
 *
 * What a selector sees of a data event is its table (with the partitioned
 * tables above it), its name, readOnly and the user's ARN, so the answer
 * for an event name holds until the selectors or the user change.
 * Matching the selectors (ARN prefixes, patterns) for every statement was
 * a visible part of capture's cost on short transactions; the answers are
 * kept for the last user asked about.  The user is looked up first: that
 * may read the catalogs and take in news of changed selectors.
 */
static bool
data_event_selected(CapturedTable *t, const char *event_name, bool read_only)
{
	const char *user_arn = trail_user_arn();
	SelectorEvent sel = {
		.event_category = "Data",
		.event_name = event_name,
		.read_only = read_only,
		.event_source = "table.postgresql",
		.user_arn = user_arn,
		.nresources = t->nselect,
		.resource_types = t->select_types,
		.resource_arns = t->select_arns
	};
	RememberedSelection *r;
	int			i;

	if (t->selection_user == NULL || strcmp(t->selection_user, user_arn) != 0 ||
		t->selection_generation != trail_selectors_generation())
	{
		if (t->selection_user != NULL)
			pfree(t->selection_user);
		t->selection_user = MemoryContextStrdup(t->cxt, user_arn);
		t->selection_generation = trail_selectors_generation();
		t->nselections = 0;
	}
	for (i = 0; i < t->nselections; i++)
	{
		r = &t->selections[i];
		if (r->read_only == read_only && strcmp(r->event_name, event_name) == 0)
			return r->selected;
	}

	/* event names are literals of this file, so the pointer may be kept */
	r = &t->selections[t->nselections < MAX_REMEMBERED_SELECTIONS ?
					   t->nselections++ : MAX_REMEMBERED_SELECTIONS - 1];
	r->event_name = event_name;
	r->read_only = read_only;
	r->selected = trail_selects_event(&sel);
	return r->selected;
}

/*
 * The command tag of a query's command.
 */
static const char *
command_tag_of(CmdType operation)
{
	switch (operation)
	{
		case CMD_INSERT:
			return "INSERT";
		case CMD_UPDATE:
			return "UPDATE";
		case CMD_DELETE:
			return "DELETE";
		case CMD_MERGE:
			return "MERGE";
		default:
			return "SELECT";
	}
}

/*
 * The last responseElements and additionalEventData of a statement event,
 * kept for the next one: the statements of a transaction mostly repeat
 * them (the same row count, command and transaction), and comparing what
 * goes into them costs far less than building a jsonb per event.
 */
static struct
{
	int64		rows;
	Jsonb	   *json;
}			last_response;

static struct
{
	FullTransactionId xid;
	const char *command_tag;
	RowImages	row_images;
	uint64		row_events;
	Jsonb	   *json;
}			last_additional;

/*
 * A session-lived copy of json, in place of the one kept before.
 */
static Jsonb *
keep_jsonb(Jsonb *kept, Jsonb *json)
{
	Jsonb	   *copy = MemoryContextAlloc(TopMemoryContext, VARSIZE(json));

	memcpy(copy, json, VARSIZE(json));
	if (kept != NULL)
		pfree(kept);
	return copy;
}

/*
 * Build and write the statement event of one table.
 */
static void
write_statement_event(CapturedTable *t, TrailEvent *ev, const char *event_name,
					  bool read_only, int64 rows, const char *command_tag,
					  uint64 row_events)
{
	TrailJsonb	json;
	char		xid[MAXINT8LEN + 1];

	trail_event_init(ev, "Data", "AwsApiCall", NULL);
	ev->event_source = "table.postgresql";
	ev->event_name = event_name;
	ev->read_only = read_only;
	ev->management_event = false;
	ev->resources = t->resources;

	trail_jsonb_begin(&json);
	trail_jsonb_add_string(&json, "tableName", t->name);
	if (!t->hide_statement && debug_query_string != NULL)
	{
		int			len = strlen(debug_query_string);

		/*
		 * Only a long statement is cut (at a character boundary): finding
		 * the boundary walks every character, which a short one need not.
		 */
		trail_jsonb_add_string(&json, "statement",
							   len <= MAX_STATEMENT_BYTES ? debug_query_string :
							   pnstrdup(debug_query_string,
										pg_mbcliplen(debug_query_string, len,
													 MAX_STATEMENT_BYTES)));
	}
	ev->request_parameters = trail_jsonb_end(&json);

	if (rows >= 0)
	{
		if (last_response.json == NULL || last_response.rows != rows)
		{
			trail_jsonb_begin(&json);
			trail_jsonb_add_int(&json, "rowCount", rows);
			last_response.json = keep_jsonb(last_response.json,
											trail_jsonb_end(&json));
			last_response.rows = rows;
		}
		ev->response_elements = last_response.json;
	}

	if (last_additional.json == NULL ||
		!FullTransactionIdEquals(last_additional.xid, ev->transaction_id) ||
		strcmp(last_additional.command_tag, command_tag) != 0 ||
		last_additional.row_images != t->row_images ||
		last_additional.row_events != row_events)
	{
		trail_jsonb_begin(&json);
		trail_jsonb_add_string(&json, "commandTag", command_tag);
		/* the digits written in place: psprintf's formatting is not free */
		xid[pg_ulltoa_n(U64FromFullTransactionId(ev->transaction_id), xid)] = '\0';
		trail_jsonb_add_string(&json, "transactionId", xid);
		if (row_events > 0)
		{
			trail_jsonb_add_string(&json, "rowImages", row_images_names[t->row_images]);
			trail_jsonb_add_int(&json, "rowEvents", (int64) row_events);
		}
		last_additional.json = keep_jsonb(last_additional.json,
										  trail_jsonb_end(&json));
		last_additional.xid = ev->transaction_id;
		/* command tags are literals: the pointer may be kept */
		last_additional.command_tag = command_tag;
		last_additional.row_images = t->row_images;
		last_additional.row_events = row_events;
	}
	ev->additional_event_data = last_additional.json;

	trail_batch_queue_event(ev);
}

/*
 * Append a redacted value: the marker and a hash of the value's text, so
 * that a change stays visible without the value.
 */
static void
append_redacted(StringInfo buf, const char *column, const char *text)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[17];

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) column, strlen(column) + 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) text, strlen(text)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "trail: could not hash a redacted value");
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, 8, hex);
	hex[16] = '\0';
	appendStringInfo(buf, "\"" "<redacted>" " sha256:%s\"", hex);
}

/*
 * A column's value as text that does not depend on the writer's session
 * (DateStyle, TimeZone, IntervalStyle, extra_float_digits, bytea_output):
 * the same value reads the same whoever wrote it.
 */
static char *
value_text(ImageColumn *col, Datum value)
{
	char		buf[MAXDATELEN + 1];

	switch (col->kind)
	{
		case JSON_DATETIME:
			{
				int			utc = 0;

				return pstrdup(JsonEncodeDateTime(buf, value, col->typid, &utc));
			}
		case JSON_INTERVAL:
			{
				struct pg_itm itm;

				interval2itm(*DatumGetIntervalP(value), &itm);
				EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
				return pstrdup(buf);
			}
		case JSON_FLOAT:
			{
				char	   *out = palloc(DOUBLE_SHORTEST_DECIMAL_LEN);

				if (col->typid == FLOAT4OID)
					float_to_shortest_decimal_buf(DatumGetFloat4(value), out);
				else
					double_to_shortest_decimal_buf(DatumGetFloat8(value), out);
				return out;
			}
		case JSON_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				char	   *out = palloc(len * 2 + 3);

				out[0] = '\\';
				out[1] = 'x';
				hex_encode(VARDATA_ANY(b), len, out + 2);
				out[len * 2 + 2] = '\0';
				return out;
			}
		default:
			return OutputFunctionCall(&col->output, value);
	}
}

/*
 * Append one column's value as JSON.
 */
static void
append_value(StringInfo buf, ImageColumn *col, Datum value, bool isnull)
{
	char	   *text;

	appendStringInfoString(buf, col->json_key);
	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	text = value_text(col, value);
	if (col->redacted)
		append_redacted(buf, col->json_key, text);
	else
	{
		switch (col->kind)
		{
			case JSON_NUMBER:
			case JSON_FLOAT:
				/* NaN and Infinity are not JSON numbers */
				if (strspn(text, "0123456789-+.eE") == strlen(text) &&
					strpbrk(text, "0123456789") != NULL)
					appendStringInfoString(buf, text);
				else
					escape_json(buf, text);
				break;
			case JSON_BOOL:
				appendStringInfoString(buf, text[0] == 't' ? "true" : "false");
				break;
			case JSON_RAW:
				appendStringInfoString(buf, text);
				break;
			default:
				escape_json(buf, text);
				break;
		}
	}
	pfree(text);
}

/* Which columns of a row an image holds */
typedef enum ImagePart
{
	IMAGE_KEY,					/* the primary key */
	IMAGE_ALL,					/* every column captured */
	IMAGE_CHANGED				/* those that differ from the other row */
} ImagePart;

/*
 * One image of a row, as JSON text: the columns of part, in table order.
 */
static text *
image(CapturedTable *t, TupleTableSlot *slot, TupleTableSlot *other,
	  ImagePart part, StringInfo buf)
{
	int			i;
	bool		first = true;

	resetStringInfo(buf);
	appendStringInfoChar(buf, '{');
	for (i = 0; i < t->ncolumns; i++)
	{
		ImageColumn *col = &t->columns[i];
		int			a = col->attnum - 1;

		if (part == IMAGE_KEY && !col->key)
			continue;
		if (part == IMAGE_CHANGED &&
			slot->tts_isnull[a] == other->tts_isnull[a] &&
			(slot->tts_isnull[a] ||
			 datumIsEqual(slot->tts_values[a], other->tts_values[a],
						  col->typbyval, col->typlen)))
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		append_value(buf, col, slot->tts_values[a], slot->tts_isnull[a]);
	}
	appendStringInfoChar(buf, '}');
	return cstring_to_text_with_len(buf->data, buf->len);
}

/*
 * Finding the leaf partition of a row changed through a partitioned table.
 * The transition tables hold rows in the partitioned table's format and do
 * not say where each went, so each row is checked against the partition
 * constraints of the leaves (the executor's own ExecPartitionCheck), the
 * leaf of the previous row first: rows of one statement mostly share one.
 */
typedef struct PartitionFinder
{
	EState	   *estate;
	int			nleaves;
	Relation   *rels;
	ResultRelInfo **rris;
	TupleConversionMap **maps;	/* root format -> leaf format, or NULL */
	TupleTableSlot **slots;		/* in leaf format, where a map is needed */
	char	  **names;
	int			last;
} PartitionFinder;

/*
 * Prepare to find the leaves of a partitioned table.
 */
static PartitionFinder *
partition_finder_begin(Relation root)
{
	PartitionFinder *pf = palloc0(sizeof(PartitionFinder));
	List	   *all = find_all_inheritors(RelationGetRelid(root), AccessShareLock, NULL);
	ListCell   *lc;

	pf->estate = CreateExecutorState();
	pf->rels = palloc(sizeof(Relation) * list_length(all));
	pf->rris = palloc(sizeof(ResultRelInfo *) * list_length(all));
	pf->maps = palloc(sizeof(TupleConversionMap *) * list_length(all));
	pf->slots = palloc(sizeof(TupleTableSlot *) * list_length(all));
	pf->names = palloc(sizeof(char *) * list_length(all));
	foreach(lc, all)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);
		int			i = pf->nleaves;

		if (relkind != RELKIND_RELATION && relkind != RELKIND_FOREIGN_TABLE)
			continue;
		pf->rels[i] = table_open(relid, NoLock);
		pf->rris[i] = makeNode(ResultRelInfo);
		InitResultRelInfo(pf->rris[i], pf->rels[i], 1, NULL, 0);
		pf->maps[i] = convert_tuples_by_name(RelationGetDescr(root),
											 RelationGetDescr(pf->rels[i]));
		pf->slots[i] = pf->maps[i] == NULL ? NULL :
			MakeSingleTupleTableSlot(RelationGetDescr(pf->rels[i]), &TTSOpsVirtual);
		pf->names[i] = trail_table_name(relid);
		pf->nleaves++;
	}
	return pf;
}

/*
 * The name of the leaf partition a row (in the root's format) belongs to,
 * or NULL when none takes it.
 */
static const char *
partition_finder_find(PartitionFinder *pf, TupleTableSlot *row)
{
	int			n;

	for (n = 0; n < pf->nleaves; n++)
	{
		int			i = (pf->last + n) % pf->nleaves;
		TupleTableSlot *slot = row;
		bool		fits;

		if (pf->maps[i] != NULL)
			slot = execute_attr_map_slot(pf->maps[i]->attrMap, row, pf->slots[i]);
		fits = ExecPartitionCheck(pf->rris[i], slot, pf->estate, false);
		ResetPerTupleExprContext(pf->estate);
		if (fits)
		{
			pf->last = i;
			return pf->names[i];
		}
	}
	return NULL;
}

/*
 * Release what partition_finder_begin() took.
 */
static void
partition_finder_end(PartitionFinder *pf)
{
	int			i;

	for (i = 0; i < pf->nleaves; i++)
	{
		if (pf->slots[i] != NULL)
			ExecDropSingleTupleTableSlot(pf->slots[i]);
		table_close(pf->rels[i], NoLock);
	}
	FreeExecutorState(pf->estate);
}

/*
 * Queue the row events of one statement: a row of trail.event_rows for
 * each row of the transition tables (old and new, read in step).
 */
static void
write_row_events(CapturedTable *t, const TrailEvent *stmt, TriggerData *td,
				 Tuplestorestate *old_rows, Tuplestorestate *new_rows)
{
	static MemoryContext row_cxt = NULL;
	TupleTableSlot *old_slot = t->old_slot;
	TupleTableSlot *new_slot = t->new_slot;
	bool		update = (old_rows != NULL && new_rows != NULL);

	/* without a key, the whole old row is what identifies it */
	ImagePart	old_part = update && t->has_key &&
		t->row_images == ROW_IMAGES_CHANGED ? IMAGE_CHANGED : IMAGE_ALL;
	ImagePart	new_part = update &&
		t->row_images == ROW_IMAGES_CHANGED ? IMAGE_CHANGED : IMAGE_ALL;
	PartitionFinder *finder = NULL;
	TrailRowEvent row;
	StringInfoData buf;

	/* one row's allocations, reset after each; kept for the session */
	if (row_cxt == NULL)
		row_cxt = AllocSetContextCreate(TopMemoryContext, "trail row event",
										ALLOCSET_DEFAULT_SIZES);
	if (td->tg_relation->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		finder = partition_finder_begin(td->tg_relation);
	if (old_rows != NULL)
		tuplestore_rescan(old_rows);
	if (new_rows != NULL)
		tuplestore_rescan(new_rows);
	initStringInfo(&buf);

	memset(&row, 0, sizeof(row));
	row.event_time = stmt->event_time;
	row.statement_event_id = &stmt->event_id;
	for (;;)
	{
		MemoryContext oldcxt;
		bool		have_old = old_rows != NULL &&
			tuplestore_gettupleslot(old_rows, true, false, old_slot);
		bool		have_new = new_rows != NULL &&
			tuplestore_gettupleslot(new_rows, true, false, new_slot);

		if (!have_old && !have_new)
			break;
		oldcxt = MemoryContextSwitchTo(row_cxt);
		if (have_old)
			slot_getallattrs(old_slot);
		if (have_new)
			slot_getallattrs(new_slot);

		trail_uuid_v7(&row.event_id, stmt->event_time);
		row.row_number++;
		/* where the row is now, or was, for a delete */
		row.partition_name = finder == NULL ? NULL :
			partition_finder_find(finder, have_new ? new_slot : old_slot);
		row.row_key = t->has_key ?
			image(t, have_old ? old_slot : new_slot, NULL, IMAGE_KEY, &buf) : NULL;
		row.old_image = have_old ? image(t, old_slot, new_slot, old_part, &buf) : NULL;
		row.new_image = have_new ? image(t, new_slot, old_slot, new_part, &buf) : NULL;
		MemoryContextSwitchTo(oldcxt);

		trail_batch_queue_row_event(&row);
		MemoryContextReset(row_cxt);
		CHECK_FOR_INTERRUPTS();
	}

	if (finder != NULL)
		partition_finder_end(finder);
	ExecClearTuple(old_slot);
	ExecClearTuple(new_slot);
	pfree(buf.data);
}

/*
 * The capture trigger: statement-level, AFTER INSERT, UPDATE, DELETE (with
 * transition tables) or TRUNCATE.
 */
Datum
trail_capture_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TriggerEvent tev;
	CapturedTable *t;
	const char *event_name;
	const char *command_tag;
	Tuplestorestate *old_rows = NULL;
	Tuplestorestate *new_rows = NULL;
	int64		rows = -1;
	TrailEvent	ev;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trail.capture_change() must be an AFTER ... FOR EACH STATEMENT trigger")));
	if (!capture_possible())
		return PointerGetDatum(NULL);

	tev = td->tg_event;
	if (TRIGGER_FIRED_BY_INSERT(tev))
	{
		event_name = "Insert";
		command_tag = "INSERT";
		new_rows = td->tg_newtable;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(tev))
	{
		event_name = "Update";
		command_tag = "UPDATE";
		old_rows = td->tg_oldtable;
		new_rows = td->tg_newtable;
	}
	else if (TRIGGER_FIRED_BY_DELETE(tev))
	{
		event_name = "Delete";
		command_tag = "DELETE";
		old_rows = td->tg_oldtable;
	}
	else
	{
		Oid			named = trail_truncating_ancestor_of(RelationGetRelid(td->tg_relation));

		/*
		 * TRUNCATE of a partitioned table is one event, the named table's,
		 * when that one is captured; not one more per partition.
		 */
		if (OidIsValid(named) && trail_data_store_selects_writes(named))
			return PointerGetDatum(NULL);
		event_name = "Truncate";
		command_tag = "TRUNCATE";
	}
	if (!TRIGGER_FIRED_BY_TRUNCATE(tev))
	{
		if (old_rows == NULL && new_rows == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("trail.capture_change() needs transition tables")));
		rows = tuplestore_tuple_count(new_rows != NULL ? new_rows : old_rows);
		/* a statement that changed nothing is not an event */
		if (rows == 0)
			return PointerGetDatum(NULL);
	}
	if (RelationGetRelid(td->tg_relation) == copy_from_relid &&
		TRIGGER_FIRED_BY_INSERT(tev))
	{
		event_name = "Copy";
		command_tag = "COPY";
	}
	else if (!TRIGGER_FIRED_BY_TRUNCATE(tev))
	{
		/*
		 * The statement's own tag: MERGE's actions and the updates of INSERT
		 * ... ON CONFLICT DO UPDATE are events of their kind, from a
		 * statement of another.
		 */
		if (trail_finishing_operation() != CMD_UNKNOWN)
			command_tag = command_tag_of(trail_finishing_operation());
	}

	t = captured_table(td->tg_relation);
	if (!data_event_selected(t, event_name, false))
		return PointerGetDatum(NULL);

	write_statement_event(t, &ev, event_name, false, rows, command_tag,
						  t->row_images != ROW_IMAGES_NONE && rows > 0 ? rows : 0);
	if (t->row_images != ROW_IMAGES_NONE && rows > 0)
		write_row_events(t, &ev, td, old_rows, new_rows);

	return PointerGetDatum(NULL);
}

/*
 * Write a read event of one table, if the selectors pick it.
 */
static void
record_read(Relation rel, const char *event_name, const char *command_tag,
			uint64 rows)
{
	CapturedTable *t = captured_table(rel);
	TrailEvent	ev;

	if (t->reads && data_event_selected(t, event_name, true))
		write_statement_event(t, &ev, event_name, true, (int64) rows,
							  command_tag, 0);
}

/*
 * Is this a relation whose reads may be data events (a table of the user)?
 */
static bool
readable_table(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	return (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE) &&
		!IsCatalogRelationOid(relid) && !trail_is_own_relation(relid);
}

/*
 * ExecutorEnd hook: read events of the tables a statement read.
 */
static void
trail_ExecutorEnd(QueryDesc *queryDesc)
{
	if (queryDesc->estate != NULL &&
		!(queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		capture_possible() && trail_selects_any_data(true))
	{
		List	   *seen = NIL;
		ListCell   *lc;

		/*
		 * A plain SELECT writes nothing: a table it locks FOR UPDATE (which
		 * needs the UPDATE right) is still only read.
		 */
		bool		reads_only = queryDesc->operation == CMD_SELECT &&
			!queryDesc->plannedstmt->hasModifyingCTE;

		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
			Relation	rel;

			/*
			 * Tables read, by any statement (INSERT ... SELECT, UPDATE ...
			 * FROM, CREATE TABLE AS): not those it writes, whose changes
			 * are data events of their own.
			 */
			if (rte->rtekind != RTE_RELATION ||
				!(rte->requiredPerms & ACL_SELECT) ||
				((rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) &&
				 !reads_only) ||
				list_member_oid(seen, rte->relid) ||
				!readable_table(rte->relid))
				continue;
			seen = lappend_oid(seen, rte->relid);
			rel = RelationIdGetRelation(rte->relid);
			if (!RelationIsValid(rel))
				continue;
			/* on error, the resource owner releases the reference */
			record_read(rel, "Select", command_tag_of(queryDesc->operation),
						queryDesc->estate->es_processed);
			RelationClose(rel);
		}
		list_free(seen);
	}

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

Oid
trail_capture_copy_from_begin(Oid relid)
{
	Oid			previous = copy_from_relid;

	copy_from_relid = relid;
	return previous;
}

void
trail_capture_copy_from_end(Oid previous)
{
	copy_from_relid = previous;
}

void
trail_capture_copy_to(Oid relid, uint64 rows)
{
	Relation	rel;

	if (!capture_possible() || !readable_table(relid) ||
		!trail_selects_any_data(true))
		return;
	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
		return;
	record_read(rel, "Copy", "COPY", rows);
	RelationClose(rel);
}

void
trail_capture_data_init(void)
{
	CacheRegisterRelcacheCallback(captured_relcache_callback, (Datum) 0);
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = trail_ExecutorEnd;
}
