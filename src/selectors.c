/*-------------------------------------------------------------------------
 *
 * selectors.c
 *	  CloudTrail advanced event selectors: validation and matching.
 *
 * The event data store keeps its selectors in trail.event_data_store as the
 * JSON CloudTrail uses:
 *
 *	[{"Name": "...", "FieldSelectors": [{"Field": "eventCategory",
 *	  "Equals": ["Data"]}, {"Field": "resources.ARN", "StartsWith": [...]}]}]
 *
 * An event is recorded when any selector matches it; a selector matches
 * when all its field selectors do; a field selector's positive operators
 * (Equals, StartsWith, EndsWith) match when one of their values does, its
 * negative ones (NotEquals, ...) when none does.  Management events are
 * recorded unless a selector for them exists and none matches: selectors
 * that name only data events add data events to the default.
 *
 * Fields: CloudTrail's eventCategory, eventName, readOnly, eventSource,
 * resources.type, resources.ARN, and userIdentity.arn, which CloudTrail
 * lacks (selecting by role).  A resources field matches an event when one
 * of its resources matches (positive) or none does (negative).
 *
 * Each backend compiles the store's selectors once and keeps them until a
 * relcache invalidation of trail.event_data_store, which the functions that
 * change it send, says they changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "event.h"
#include "selectors.h"
#include "sql.h"

typedef enum SelectorField
{
	FIELD_EVENT_CATEGORY,
	FIELD_EVENT_NAME,
	FIELD_READ_ONLY,
	FIELD_EVENT_SOURCE,
	FIELD_RESOURCES_TYPE,
	FIELD_RESOURCES_ARN,
	FIELD_USER_ARN,
	NUM_FIELDS
} SelectorField;

static const char *const field_names[NUM_FIELDS] = {
	[FIELD_EVENT_CATEGORY] = "eventCategory",
	[FIELD_EVENT_NAME] = "eventName",
	[FIELD_READ_ONLY] = "readOnly",
	[FIELD_EVENT_SOURCE] = "eventSource",
	[FIELD_RESOURCES_TYPE] = "resources.type",
	[FIELD_RESOURCES_ARN] = "resources.ARN",
	[FIELD_USER_ARN] = "userIdentity.arn"
};

typedef enum SelectorOp
{
	OP_EQUALS,
	OP_STARTS_WITH,
	OP_ENDS_WITH,
	OP_NOT_EQUALS,
	OP_NOT_STARTS_WITH,
	OP_NOT_ENDS_WITH,
	NUM_OPS
} SelectorOp;

static const char *const op_names[NUM_OPS] = {
	[OP_EQUALS] = "Equals",
	[OP_STARTS_WITH] = "StartsWith",
	[OP_ENDS_WITH] = "EndsWith",
	[OP_NOT_EQUALS] = "NotEquals",
	[OP_NOT_STARTS_WITH] = "NotStartsWith",
	[OP_NOT_ENDS_WITH] = "NotEndsWith"
};

#define OP_IS_NEGATIVE(op) ((op) >= OP_NOT_EQUALS)

/* One operator of one field selector, with its values */
typedef struct Condition
{
	SelectorField field;
	SelectorOp	op;
	int			nvalues;
	char	  **values;
} Condition;

typedef struct Selector
{
	int			nconditions;
	Condition  *conditions;
	bool		management;		/* eventCategory admits Management */
	bool		data;			/* eventCategory admits Data */
} Selector;

/* The store's selectors, compiled; valid until invalidated */
static MemoryContext selectors_cxt = NULL;
static bool selectors_valid = false;
static Oid	selectors_relid = InvalidOid;
static Oid	trails_relid = InvalidOid;
static int	nselectors = 0;
static Selector *selectors = NULL;
static bool any_management = false; /* some selector is for management */
static uint64 generation = 0;

#define MAX_CONDITIONS 500		/* CloudTrail's limit per store */
#define MAX_VALUE_LEN 2048

/*
 * Raise the error for an invalid selector document, naming the part.
 */
static void
invalid(const char *path, const char *fmt,...) pg_attribute_printf(2, 3);

static void
invalid(const char *path, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = trail_vformat(fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("InvalidEventSelectorsException: advanced_event_selectors%s: %s",
					path, msg),
			 errhint("Valid fields: eventCategory, eventName, readOnly, eventSource, "
					 "resources.type, resources.ARN, userIdentity.arn; operators: "
					 "Equals, StartsWith, EndsWith, NotEquals, NotStartsWith, NotEndsWith.")));
}

/*
 * A member of a JSON object, or NULL.
 */
static JsonbValue *
member(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/*
 * Is this JSON value an array (of anything)?
 */
static bool
is_array(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data);
}

/*
 * Is this JSON value an object?
 */
static bool
is_object(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsObject(v->val.binary.data);
}

/*
 * Refuse members of an object other than the allowed ones.
 */
static void
check_keys(JsonbContainer *obj, const char *path,
		   const char *const *allowed, int nallowed)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		int			i;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < nallowed; i++)
			known |= (allowed[i] != NULL && strcmp(key, allowed[i]) == 0);
		if (!known)
			invalid(path, "unknown member \"%s\"", key);
	}
}

/*
 * Compile one operator's values into a condition, checking them.
 */
static void
compile_values(Condition *cond, JsonbValue *array, const char *path)
{
	JsonbContainer *c;
	int			i;

	if (!is_array(array))
		invalid(path, "must be an array of strings");
	c = array->val.binary.data;
	cond->nvalues = JsonContainerSize(c);
	if (cond->nvalues == 0)
		invalid(path, "must have at least one value");
	cond->values = palloc(sizeof(char *) * cond->nvalues);
	for (i = 0; i < cond->nvalues; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(c, i);

		if (v->type != jbvString)
			invalid(psprintf("%s[%d]", path, i), "must be a string");
		if (v->val.string.len == 0 || v->val.string.len > MAX_VALUE_LEN)
			invalid(psprintf("%s[%d]", path, i),
					"must be 1 to %d characters long", MAX_VALUE_LEN);
		cond->values[i] = pnstrdup(v->val.string.val, v->val.string.len);
		if (cond->field == FIELD_EVENT_CATEGORY &&
			strcmp(cond->values[i], "Management") != 0 &&
			strcmp(cond->values[i], "Data") != 0)
			invalid(psprintf("%s[%d]", path, i),
					"eventCategory is \"Management\" or \"Data\", not \"%s\"",
					cond->values[i]);
		if (cond->field == FIELD_READ_ONLY &&
			strcmp(cond->values[i], "true") != 0 &&
			strcmp(cond->values[i], "false") != 0)
			invalid(psprintf("%s[%d]", path, i),
					"readOnly is \"true\" or \"false\", not \"%s\"",
					cond->values[i]);
		if (cond->field == FIELD_RESOURCES_TYPE &&
			strcmp(cond->values[i], "PG::Table") != 0)
			invalid(psprintf("%s[%d]", path, i),
					"the resource type of data events is \"PG::Table\", not \"%s\"",
					cond->values[i]);
	}
}

/*
 * Does any value of an eventCategory condition name this category?
 */
static bool
condition_names(const Condition *cond, const char *value)
{
	int			i;

	for (i = 0; i < cond->nvalues; i++)
		if (strcmp(cond->values[i], value) == 0)
			return true;
	return false;
}

/*
 * Compile and check one selector.
 */
static void
compile_selector(Selector *sel, JsonbValue *v, const char *path, int *total)
{
	static const char *const selector_keys[] = {"Name", "FieldSelectors"};
	const char *field_keys[NUM_OPS + 1];
	JsonbContainer *obj;
	JsonbValue *name;
	JsonbValue *fields;
	JsonbContainer *fc;
	bool		seen[NUM_FIELDS] = {false};
	int			i;

	if (!is_object(v))
		invalid(path, "must be an object with FieldSelectors");
	obj = v->val.binary.data;
	check_keys(obj, path, selector_keys, lengthof(selector_keys));

	name = member(obj, "Name");
	if (name != NULL && (name->type != jbvString || name->val.string.len > 1000))
		invalid(psprintf("%s.Name", path), "must be a string of at most 1000 characters");

	fields = member(obj, "FieldSelectors");
	if (!is_array(fields) || JsonContainerSize(fields->val.binary.data) == 0)
		invalid(psprintf("%s.FieldSelectors", path), "must be a non-empty array");
	fc = fields->val.binary.data;

	field_keys[0] = "Field";
	for (i = 0; i < NUM_OPS; i++)
		field_keys[i + 1] = op_names[i];

	sel->nconditions = 0;
	sel->conditions = palloc(sizeof(Condition) * JsonContainerSize(fc) * NUM_OPS);
	for (i = 0; i < JsonContainerSize(fc); i++)
	{
		JsonbValue *fs = getIthJsonbValueFromContainer(fc, i);
		char	   *fpath = psprintf("%s.FieldSelectors[%d]", path, i);
		JsonbValue *field;
		char	   *field_name;
		int			f;
		int			op;
		int			nops = 0;

		if (!is_object(fs))
			invalid(fpath, "must be an object with Field and an operator");
		check_keys(fs->val.binary.data, fpath, field_keys, lengthof(field_keys));
		field = member(fs->val.binary.data, "Field");
		if (field == NULL || field->type != jbvString)
			invalid(fpath, "needs a Field (a string)");
		field_name = pnstrdup(field->val.string.val, field->val.string.len);
		for (f = 0; f < NUM_FIELDS; f++)
			if (strcmp(field_name, field_names[f]) == 0)
				break;
		if (f == NUM_FIELDS)
			invalid(psprintf("%s.Field", fpath), "unknown field \"%s\"", field_name);
		if (seen[f])
			invalid(psprintf("%s.Field", fpath),
					"field \"%s\" appears twice in one selector", field_name);
		seen[f] = true;

		for (op = 0; op < NUM_OPS; op++)
		{
			JsonbValue *values = member(fs->val.binary.data, op_names[op]);
			Condition  *cond;

			if (values == NULL)
				continue;
			if ((f == FIELD_EVENT_CATEGORY || f == FIELD_READ_ONLY) && op != OP_EQUALS)
				invalid(psprintf("%s.%s", fpath, op_names[op]),
						"%s takes only Equals", field_name);
			cond = &sel->conditions[sel->nconditions++];
			cond->field = f;
			cond->op = op;
			compile_values(cond, values, psprintf("%s.%s", fpath, op_names[op]));
			nops++;
			if (++(*total) > MAX_CONDITIONS)
				invalid("", "more than %d conditions in all", MAX_CONDITIONS);
		}
		if (nops == 0)
			invalid(fpath, "needs an operator (Equals, StartsWith, ...)");
		if (f == FIELD_EVENT_CATEGORY)
		{
			Condition  *cond = &sel->conditions[sel->nconditions - 1];

			sel->management = condition_names(cond, "Management");
			sel->data = condition_names(cond, "Data");
		}
	}

	if (!seen[FIELD_EVENT_CATEGORY])
		invalid(psprintf("%s.FieldSelectors", path),
				"every selector needs an eventCategory field");
	if (sel->data && !seen[FIELD_RESOURCES_TYPE])
		invalid(psprintf("%s.FieldSelectors", path),
				"a selector of data events needs a resources.type field (Equals [\"PG::Table\"])");
}

/*
 * Compile a selector document into the current memory context.  Returns
 * the number of selectors; *out receives them.
 */
static int
compile(Jsonb *doc, Selector **out)
{
	JsonbContainer *root;
	int			n;
	int			i;
	int			total = 0;

	*out = NULL;
	if (doc == NULL)
		return 0;
	root = &doc->root;
	if (!JsonContainerIsArray(root) || JsonContainerIsScalar(root))
		invalid("", "must be a JSON array of selectors");
	n = JsonContainerSize(root);
	*out = palloc0(sizeof(Selector) * Max(n, 1));
	for (i = 0; i < n; i++)
		compile_selector(&(*out)[i], getIthJsonbValueFromContainer(root, i),
						 psprintf("[%d]", i), &total);
	return n;
}

void
trail_selectors_validate(Jsonb *doc)
{
	Selector   *compiled;

	(void) compile(doc, &compiled);
}

/*
 * Relcache callback: the store's selectors changed (or everything did).
 */
static void
selectors_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == selectors_relid || relid == trails_relid)
		selectors_valid = false;
}

/*
 * The store's selector document, copied into selectors_cxt (NULL: none).
 * The data selectors of trails are added to it: a trail can only deliver
 * data events that are captured, so their union decides what is captured.
 * (Trails' management selectors are not added: they would change which
 * management events the store keeps.)
 */
static Jsonb *
read_document(const TrailCatalog *cat)
{
	TrailSqlScope scope;
	Jsonb	   *volatile doc = NULL;

	trail_sql_begin(&scope, cat->owner);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		if (SPI_execute(OidIsValid(trails_relid) ?
						"SELECT CASE WHEN s.doc IS NULL AND t.doc IS NULL THEN NULL"
						"  ELSE coalesce(s.doc, '[]') || coalesce(t.doc, '[]') END"
						"  FROM (SELECT (SELECT advanced_event_selectors"
						"                  FROM trail.event_data_store) AS doc) s,"
						"       (SELECT jsonb_agg(x) AS doc FROM trail.trails tr,"
						"               jsonb_array_elements(tr.advanced_event_selectors) x"
						"         WHERE x->'FieldSelectors' @>"
						"               '[{\"Field\": \"eventCategory\", \"Equals\": [\"Data\"]}]') t" :
						"SELECT advanced_event_selectors FROM trail.event_data_store",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "trail: could not read the event data store");
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				Jsonb	   *j = DatumGetJsonbP(d);

				doc = MemoryContextAlloc(selectors_cxt, VARSIZE(j));
				memcpy(doc, j, VARSIZE(j));
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();
	return doc;
}

/*
 * Load and compile the store's selectors if they changed.  The cache counts
 * as valid while loading, so that trail's own query, which passes through
 * the capture hooks, finds no selectors instead of loading again; an error
 * leaves it invalid.
 */
static void
load_selectors(void)
{
	const TrailCatalog *cat;
	int			i;

	if (selectors_valid)
		return;

	if (selectors_cxt == NULL)
		selectors_cxt = AllocSetContextCreate(TopMemoryContext,
											  "trail selectors",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(selectors_cxt);
	nselectors = 0;
	selectors = NULL;
	any_management = false;
	generation++;
	cat = trail_catalog();
	if (cat == NULL)
		return;

	/* while CREATE EXTENSION trail runs, the table may not exist yet */
	selectors_relid = get_relname_relid("event_data_store", cat->namespace_oid);
	if (!OidIsValid(selectors_relid))
		return;
	trails_relid = get_relname_relid("trails", cat->namespace_oid);
	selectors_valid = true;
	PG_TRY();
	{
		Jsonb	   *doc = read_document(cat);
		MemoryContext oldcxt;
		Selector   *compiled;
		int			n;

		oldcxt = MemoryContextSwitchTo(selectors_cxt);
		n = compile(doc, &compiled);
		MemoryContextSwitchTo(oldcxt);
		selectors = compiled;
		nselectors = n;
	}
	PG_CATCH();
	{
		selectors_valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();

	for (i = 0; i < nselectors; i++)
		any_management |= selectors[i].management;
}

/*
 * Does one value satisfy a condition's operator (ignoring negation)?
 */
static bool
value_matches(const Condition *cond, const char *value)
{
	size_t		len = strlen(value);
	int			i;

	for (i = 0; i < cond->nvalues; i++)
	{
		const char *v = cond->values[i];
		size_t		vlen = strlen(v);

		switch (cond->op)
		{
			case OP_EQUALS:
			case OP_NOT_EQUALS:
				if (strcmp(value, v) == 0)
					return true;
				break;
			case OP_STARTS_WITH:
			case OP_NOT_STARTS_WITH:
				if (vlen <= len && strncmp(value, v, vlen) == 0)
					return true;
				break;
			case OP_ENDS_WITH:
			case OP_NOT_ENDS_WITH:
				if (vlen <= len && strcmp(value + len - vlen, v) == 0)
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

/*
 * Does a condition hold for an event?  unknown_ok: fields the caller does
 * not know yet (eventName, userIdentity.arn) hold.
 */
static bool
condition_holds(const Condition *cond, const SelectorEvent *ev, bool unknown_ok)
{
	const char *value = NULL;
	bool		negative = OP_IS_NEGATIVE(cond->op);

	switch (cond->field)
	{
		case FIELD_EVENT_CATEGORY:
			value = ev->event_category;
			break;
		case FIELD_EVENT_NAME:
			if (unknown_ok)
				return true;
			value = ev->event_name;
			break;
		case FIELD_READ_ONLY:
			value = ev->read_only ? "true" : "false";
			break;
		case FIELD_EVENT_SOURCE:
			value = ev->event_source;
			break;
		case FIELD_USER_ARN:
			if (unknown_ok)
				return true;
			value = ev->user_arn;
			break;
		case FIELD_RESOURCES_TYPE:
		case FIELD_RESOURCES_ARN:
			{
				const char **values = cond->field == FIELD_RESOURCES_TYPE ?
					ev->resource_types : ev->resource_arns;
				int			i;

				/* positive: one resource matches; negative: none does */
				for (i = 0; i < ev->nresources; i++)
					if (values[i] != NULL && value_matches(cond, values[i]))
						return !negative;
				return negative;
			}
		default:
			break;
	}
	if (value == NULL)
		value = "";
	return value_matches(cond, value) != negative;
}

/*
 * Does a selector match an event?
 */
static bool
selector_matches(const Selector *sel, const SelectorEvent *ev, bool unknown_ok)
{
	int			i;

	for (i = 0; i < sel->nconditions; i++)
		if (!condition_holds(&sel->conditions[i], ev, unknown_ok))
			return false;
	return true;
}

bool
trail_selects_event(const SelectorEvent *ev)
{
	bool		management = strcmp(ev->event_category, "Management") == 0;
	int			i;

	load_selectors();
	if (management && !any_management)
		return true;
	for (i = 0; i < nselectors; i++)
		if (selector_matches(&selectors[i], ev, false))
			return true;
	return false;
}

bool
trail_selects_all_management(void)
{
	load_selectors();
	return !any_management;
}

bool
trail_selects_any_data(bool read_only)
{
	int			i;

	load_selectors();
	for (i = 0; i < nselectors; i++)
	{
		const Selector *sel = &selectors[i];
		int			c;
		bool		possible = sel->data;

		/* a readOnly condition may rule out reads or writes altogether */
		for (c = 0; possible && c < sel->nconditions; c++)
			if (sel->conditions[c].field == FIELD_READ_ONLY)
				possible = value_matches(&sel->conditions[c],
										 read_only ? "true" : "false");
		if (possible)
			return true;
	}
	return false;
}

bool
trail_selects_table(const char *arn, bool read_only)
{
	const char *type = "PG::Table";
	SelectorEvent ev = {
		.event_category = "Data",
		.read_only = read_only,
		.event_source = "table.postgresql",
		.nresources = 1,
		.resource_types = &type,
		.resource_arns = &arn
	};
	int			i;

	load_selectors();
	for (i = 0; i < nselectors; i++)
		if (selectors[i].data && selector_matches(&selectors[i], &ev, true))
			return true;
	return false;
}

void
trail_selector_event_resources(SelectorEvent *ev, Jsonb *resources)
{
	JsonbContainer *arr;
	int			n;
	int			i;

	ev->nresources = 0;
	if (resources == NULL || !JsonContainerIsArray(&resources->root))
		return;
	arr = &resources->root;
	n = JsonContainerSize(arr);
	ev->resource_types = palloc(sizeof(char *) * Max(n, 1));
	ev->resource_arns = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(arr, i);
		JsonbValue *v;

		if (r->type != jbvBinary || !JsonContainerIsObject(r->val.binary.data))
			continue;
		v = getKeyJsonValueFromContainer(r->val.binary.data, "type", 4, NULL);
		ev->resource_types[ev->nresources] = (v && v->type == jbvString) ?
			pnstrdup(v->val.string.val, v->val.string.len) : NULL;
		v = getKeyJsonValueFromContainer(r->val.binary.data, "ARN", 3, NULL);
		ev->resource_arns[ev->nresources] = (v && v->type == jbvString) ?
			pnstrdup(v->val.string.val, v->val.string.len) : NULL;
		ev->nresources++;
	}
}

/* A trail's selectors, compiled */
struct TrailSelectorSet
{
	int			nselectors;
	Selector   *selectors;
	bool		all_management; /* no document: CloudTrail's default */
};

TrailSelectorSet *
trail_selectors_compile(Jsonb *doc)
{
	TrailSelectorSet *set = palloc0(sizeof(TrailSelectorSet));

	set->all_management = (doc == NULL);
	set->nselectors = compile(doc, &set->selectors);
	return set;
}

bool
trail_selector_set_matches(const TrailSelectorSet *set, const SelectorEvent *ev)
{
	int			i;

	if (set->all_management)
		return strcmp(ev->event_category, "Management") == 0;
	for (i = 0; i < set->nselectors; i++)
		if (selector_matches(&set->selectors[i], ev, false))
			return true;
	return false;
}

uint64
trail_selectors_generation(void)
{
	load_selectors();
	return generation;
}

void
trail_selectors_init(void)
{
	CacheRegisterRelcacheCallback(selectors_relcache_callback, (Datum) 0);
}
