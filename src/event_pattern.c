/*-------------------------------------------------------------------------
 *
 * event_pattern.c
 *	  EventBridge event patterns: compiling and matching.
 *
 * An event pattern (EventBridge's language, used by trail's rules) is a
 * JSON object with the shape of the events it matches:
 *
 *	{"source": ["aws.cloudtrail"],
 *	 "detail": {"eventName": [{"prefix": "Create"}, "DropTable"],
 *				"errorCode": [{"exists": false}]},
 *	 "$or": [{"account": ["123"]}, {"region": [{"anything-but": "test"}]}]}
 *
 * An event matches when every field the pattern names matches.  A nested
 * object matches the event's object at that key; a leaf is an array of
 * matchers and matches when one of them matches the event's value; when
 * that value is an array, when one of its elements (nested arrays
 * searched) does.  "$or" at any level holds two or more patterns, one of
 * which must match the same object, besides the sibling fields.
 *
 * Matchers: exact values (strings; numbers, compared numerically; true,
 * false, null), prefix and suffix (each also {"equals-ignore-case": ...}),
 * equals-ignore-case, wildcard ("*" any run of characters, "\*" a star,
 * "\\" a backslash), anything-but (a value, a list of strings or of
 * numbers, or {"prefix" | "suffix" | "equals-ignore-case" | "wildcard":
 * ...}), numeric (one comparison, or a lower and an upper bound), exists
 * and cidr (IPv4 or IPv6).
 *
 * Like EventBridge, matching looks at the event's leaves: scalars, and the
 * scalars inside arrays.  A field that is missing or holds no scalar (an
 * empty array, an object) matches only {"exists": false}; null is a value,
 * which exists.  Anything-but needs a value: it never matches a missing
 * field.  A nested pattern whose event value is an array of objects must
 * match one element entirely (EventBridge's array consistency: two fields
 * cannot be satisfied by two different elements).  Matchers of strings
 * (prefix, suffix, wildcard, cidr, equals-ignore-case) never match other
 * types; anything-but matches every value its inner matcher does not.
 *
 * Differences from EventBridge: numbers are compared exactly (EventBridge:
 * 15 significant digits, within +-5.0e9), equals-ignore-case folds ASCII
 * letters only, an empty wildcard is refused, a key with a dot is just
 * that key (EventBridge also reads it as a path), and "$or" is always the
 * operator (EventBridge takes a malformed one for a field name).
 *
 * Errors name the offending part of the pattern as a path
 * (detail.eventName[1].numeric[2]), and everything is checked when
 * compiling, before any matching: an invalid part is refused even where
 * no event would reach it.
 *
 * Costs.  A pattern is compiled once into a tree of fields and matchers
 * holding everything matching needs: field names with their lengths,
 * ignore-case strings already lowercased, wildcards split into their
 * literal segments, numbers as detoasted Numerics and CIDR networks as
 * address bytes.  Matching walks the pattern, not the event: each field is
 * one binary search of the event object's keys (getKeyJsonValueFromContainer
 * into a stack JsonbValue), arrays are walked in place through their JEntry
 * offsets, strings are compared in place with memcmp, and numbers with
 * numeric_cmp, which reads the event's Numeric where it lies (a double
 * would cost a conversion through text for every event number).  So a
 * match costs O(fields x log(keys) + leaf values x matchers), allocates
 * nothing and builds no jsonb; a wildcard costs one scan per segment.
 * Checking many patterns against one partial event (rules, before the
 * event's record is made) looks each path up once: every path a pattern
 * names has a slot, shared by all patterns, and TrailPatternLookups keeps
 * what was found at each slot for that event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "event.h"
#include "event_pattern.h"

PG_FUNCTION_INFO_V1(trail_test_event_pattern);

#define MAX_VALUES 1000			/* values in one pattern, all told */
#define MAX_DEPTH 10			/* nested objects, root and $or included */

typedef enum MatcherKind
{
	MATCH_STRING,				/* "value" */
	MATCH_NUMBER,				/* 12.5, compared numerically */
	MATCH_BOOL,					/* true, false */
	MATCH_NULL,					/* null */
	MATCH_PREFIX,				/* {"prefix": ...} */
	MATCH_SUFFIX,				/* {"suffix": ...} */
	MATCH_EQUALS_IGNORE_CASE,	/* {"equals-ignore-case": ...} */
	MATCH_WILDCARD,				/* {"wildcard": ...} */
	MATCH_NUMERIC,				/* {"numeric": [...]} */
	MATCH_CIDR,					/* {"cidr": ...} */
	MATCH_EXISTS,				/* {"exists": ...} */
	MATCH_ANYTHING_BUT			/* {"anything-but": ...} */
} MatcherKind;

/* One matcher of a leaf, compiled */
typedef struct Matcher
{
	MatcherKind kind;
	bool		ignore_case;	/* prefix, suffix: str is lowercase */
	bool		flag;			/* bool: its value; exists: true/false */
	int			len;			/* length of str */
	char	   *str;			/* string, prefix, suffix, equals-ignore-case
								 * (lowercase), wildcard (its segments, one
								 * after the other) */
	Numeric		number;			/* number */
	/* wildcard: the literal text between stars, nstars + 1 segments */
	int			nsegments;
	int		   *segment_len;
	/* numeric: bounds, NULL when unbounded */
	Numeric		lower;
	Numeric		upper;
	bool		lower_inclusive;
	bool		upper_inclusive;
	/* cidr */
	int			family;			/* AF_INET or AF_INET6 */
	int			bits;
	unsigned char addr[16];
	/* anything-but: the values it excludes, as matchers */
	int			nexcluded;
	struct Matcher *excluded;
} Matcher;

struct PatternObject;

/* One field of a pattern object: a leaf or a nested pattern */
typedef struct PatternField
{
	char	   *key;
	int			keylen;
	int			nmatchers;		/* > 0: a leaf */
	Matcher    *matchers;
	bool		absent_matches; /* a leaf with {"exists": false} */
	struct PatternObject *object;	/* otherwise: the nested pattern */
	int			slot;			/* its path's lookup slot, -1: none */
} PatternField;

/* A pattern object: its fields (all must match) and $or (one must) */
typedef struct PatternObject
{
	int			slot;			/* the lookup slot of its path (root: 0) */
	int			nfields;
	PatternField *fields;
	int			nalternatives;	/* 0: no $or */
	struct PatternObject *alternatives;
} PatternObject;

struct TrailEventPattern
{
	PatternObject root;
};

/*
 * Lookup slots: every path of nested keys that some compiled pattern names
 * (detail, detail.eventName, ...) gets a number, the same in every pattern
 * of the process, so that checking many patterns against one partial event
 * looks each path up once (TrailPatternLookups).  The table lives as long
 * as the process and stops growing at MAX_SLOTS paths.
 */
#define MAX_SLOTS 4096

typedef struct LookupPath
{
	int			parent;			/* slot of the enclosing object */
	int			keylen;
	char	   *key;
} LookupPath;

static LookupPath *lookup_paths = NULL;
static int	nlookup_paths = 1;	/* slot 0: the root */

/* One path's lookup in a partial event */
typedef enum LookupState
{
	LOOKUP_UNKNOWN = 0,			/* not looked up yet */
	LOOKUP_MISSING,				/* not in the partial event */
	LOOKUP_FOUND
} LookupState;

struct TrailPatternLookups
{
	TrailPartialField field;	/* the partial event's two top levels */
	void	   *arg;
	int			nslots;			/* slots when made; later ones are not kept */
	LookupState *state;
	JsonbValue *value;
};

/*
 * The two top levels of a partial event stand for objects that are never
 * built: only their addresses are used, and their headers say "object".
 */
static JsonbContainer partial_root = {JB_FOBJECT};
static JsonbContainer partial_detail = {JB_FOBJECT};

/* Compilation state */
typedef struct CompileState
{
	int			nvalues;		/* values seen so far */
} CompileState;

/*
 * Raise the error for an invalid pattern, naming the part ("" is the
 * pattern itself).
 */
static void invalid(const char *path, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();

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
			 errmsg("InvalidEventPatternException: %s: %s",
					path[0] != '\0' ? path : "event pattern", msg),
			 errhint("A pattern is an object whose leaves are arrays of values and of "
					 "{\"prefix\"}, {\"suffix\"}, {\"equals-ignore-case\"}, {\"wildcard\"}, "
					 "{\"anything-but\"}, {\"numeric\"}, {\"exists\"} or {\"cidr\"}; "
					 "\"$or\" holds alternative patterns.")));
}

/*
 * The kind of a JSON value, with its article, for messages.
 */
static const char *
type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvNull:
			return "null";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ?
				"an object" : "an array";
		default:
			return "a value";
	}
}

/*
 * Is this JSON value an object?
 */
static bool
is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/*
 * Is this JSON value an array?
 */
static bool
is_array(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/*
 * The path of a field: its key after its object's path.  A key that is not
 * a plain name is written as a JSON string.
 */
static char *
field_path(const char *path, const char *key)
{
	StringInfoData buf;
	const char *p;
	bool		plain = (key[0] != '\0');

	for (p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '$'))
			plain = false;
	initStringInfo(&buf);
	if (path[0] != '\0')
		appendStringInfo(&buf, "%s.", path);
	if (plain)
		appendStringInfoString(&buf, key);
	else
		escape_json(&buf, key);
	return buf.data;
}

/*
 * Count one value against the limit.
 */
static void
count_value(CompileState *st, const char *path)
{
	if (++st->nvalues > MAX_VALUES)
		invalid(path, "a pattern has at most %d values", MAX_VALUES);
}

/*
 * The single member of an object, which must have exactly one: its key
 * (palloc'd) and value.  what names the members in the error.
 */
static char *
only_member(JsonbContainer *obj, const char *path, const char *what,
			JsonbValue *value)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (JsonContainerSize(obj) != 1)
		invalid(path, "%s has exactly one operator, not %d",
				what, JsonContainerSize(obj));
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			*value = v;
	}
	return key;
}

/*
 * A character with ASCII letters lowercased (pg_ascii_tolower is not
 * inline).
 */
static inline char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Lowercase the ASCII letters of a string, in place.
 */
static void
lower_in_place(char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		s[i] = ascii_lower(s[i]);
}

/*
 * Compile a string operand of kind into m.  The string is copied.
 */
static void
compile_string(Matcher *m, MatcherKind kind, const JsonbValue *v,
			   bool ignore_case)
{
	m->kind = kind;
	m->len = v->val.string.len;
	m->str = pnstrdup(v->val.string.val, v->val.string.len);
	m->ignore_case = ignore_case;
	if (ignore_case)
		lower_in_place(m->str, m->len);
}

/*
 * Compile a wildcard: split it at its unescaped stars into literal
 * segments, unescaping "\*" and "\\".  Consecutive stars and other escapes
 * are refused, as EventBridge does, and so is an empty wildcard.
 */
static void
compile_wildcard(Matcher *m, const JsonbValue *v, const char *path)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	bool		prev_star = false;
	int			seg = 0;
	int			i;

	if (len == 0)
		invalid(path, "must not be empty");
	m->kind = MATCH_WILDCARD;
	m->str = palloc(len + 1);
	m->segment_len = palloc(sizeof(int) * (len + 1));
	m->nsegments = 0;
	m->len = 0;
	for (i = 0; i < len; i++)
	{
		if (s[i] == '*')
		{
			if (prev_star)
				invalid(path, "consecutive wildcard characters at character %d",
						pg_mbstrlen_with_len(s, i) + 1);
			m->segment_len[m->nsegments++] = seg;
			seg = 0;
			prev_star = true;
			continue;
		}
		prev_star = false;
		if (s[i] == '\\')
		{
			if (i + 1 >= len || (s[i + 1] != '*' && s[i + 1] != '\\'))
				invalid(path, "a backslash must escape * or \\ (character %d)",
						pg_mbstrlen_with_len(s, i) + 1);
			i++;
		}
		m->str[m->len++] = s[i];
		seg++;
	}
	m->segment_len[m->nsegments++] = seg;
	m->str[m->len] = '\0';
}

/*
 * Compile a CIDR network ("10.0.0.0/24", "2001:db8::/32"; a bare address
 * is a network of one).
 */
static void
compile_cidr(Matcher *m, const JsonbValue *v, const char *path)
{
	char	   *text = pnstrdup(v->val.string.val, v->val.string.len);
	char	   *slash = strchr(text, '/');
	int			maxbits;

	m->kind = MATCH_CIDR;
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, text, m->addr) == 1)
	{
		m->family = AF_INET;
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, text, m->addr) == 1)
	{
		m->family = AF_INET6;
		maxbits = 128;
	}
	else
	{
		invalid(path, "must be an IPv4 or IPv6 network like \"10.0.0.0/24\", not \"%s\"",
				pnstrdup(v->val.string.val, v->val.string.len));
	}
	m->bits = maxbits;
	if (slash != NULL)
	{
		const char *p = slash + 1;
		int			bits = 0;

		if (*p == '\0' || strlen(p) > 3)
			invalid(path, "the prefix length must be 0 to %d", maxbits);
		for (; *p; p++)
		{
			if (*p < '0' || *p > '9')
				invalid(path, "the prefix length must be 0 to %d", maxbits);
			bits = bits * 10 + (*p - '0');
		}
		if (bits > maxbits)
			invalid(path, "the prefix length must be 0 to %d", maxbits);
		m->bits = bits;
	}
}

/*
 * Compare two numbers.
 */
static int
compare_numbers(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/*
 * A number of the pattern, copied with a 4-byte header (so that comparing
 * it never detoasts).
 */
static Numeric
copy_number(const JsonbValue *v)
{
	return DatumGetNumericCopy(NumericGetDatum(v->val.numeric));
}

/*
 * Compile {"numeric": [op, number]} or [op, number, op, number]: "=" alone,
 * or bounds (> >= and < <=), at most one of each, making a non-empty range.
 */
static void
compile_numeric(Matcher *m, const JsonbValue *v, const char *path)
{
	JsonbContainer *c;
	int			n;
	int			i;

	m->kind = MATCH_NUMERIC;
	if (!is_array(v) ||
		((n = JsonContainerSize(v->val.binary.data)) != 2 && n != 4))
		invalid(path, "must be an array of one or two comparisons, like [\">\", 0, \"<=\", 5]");
	c = v->val.binary.data;
	for (i = 0; i < n; i += 2)
	{
		JsonbValue *op = getIthJsonbValueFromContainer(c, i);
		JsonbValue *num = getIthJsonbValueFromContainer(c, i + 1);
		char	   *opname;
		char	   *oppath = psprintf("%s[%d]", path, i);

		if (op->type != jbvString)
			invalid(oppath, "must be an operator (= < <= > >=), not %s",
					type_name(op));
		opname = pnstrdup(op->val.string.val, op->val.string.len);
		if (strcmp(opname, "=") != 0 && strcmp(opname, "<") != 0 &&
			strcmp(opname, "<=") != 0 && strcmp(opname, ">") != 0 &&
			strcmp(opname, ">=") != 0)
			invalid(oppath, "operator \"%s\" is not one of = < <= > >=", opname);
		if (num->type != jbvNumeric)
			invalid(psprintf("%s[%d]", path, i + 1), "must be a number, not %s",
					type_name(num));
		if (opname[0] == '=')
		{
			if (n != 2)
				invalid(path, "\"=\" cannot be combined with another comparison");
			m->lower = m->upper = copy_number(num);
			m->lower_inclusive = m->upper_inclusive = true;
		}
		else if (opname[0] == '>')
		{
			if (m->lower != NULL)
				invalid(path, "a range has one lower bound (> or >=) and one upper bound (< or <=)");
			m->lower = copy_number(num);
			m->lower_inclusive = (opname[1] == '=');
		}
		else
		{
			if (m->upper != NULL)
				invalid(path, "a range has one lower bound (> or >=) and one upper bound (< or <=)");
			m->upper = copy_number(num);
			m->upper_inclusive = (opname[1] == '=');
		}
	}
	if (m->lower != NULL && m->upper != NULL)
	{
		int			cmp = compare_numbers(m->lower, m->upper);

		if (cmp > 0 || (cmp == 0 && !(m->lower_inclusive && m->upper_inclusive)))
			invalid(path, "the range is empty");
	}
}

/*
 * Compile the operand of {"prefix": ...} or {"suffix": ...}: a string, or
 * {"equals-ignore-case": string}.
 */
static void
compile_affix(Matcher *m, MatcherKind kind, const JsonbValue *v,
			  const char *path)
{
	if (v->type == jbvString)
	{
		compile_string(m, kind, v, false);
		return;
	}
	if (is_object(v) && JsonContainerSize(v->val.binary.data) == 1)
	{
		JsonbValue *s = getKeyJsonValueFromContainer(v->val.binary.data,
													 "equals-ignore-case", 18,
													 NULL);

		if (s != NULL && s->type == jbvString)
		{
			compile_string(m, kind, s, true);
			return;
		}
	}
	invalid(path, "must be a string or {\"equals-ignore-case\": string}, not %s",
			type_name(v));
}

/*
 * Compile a string or an array of strings (anything-but's
 * equals-ignore-case and wildcard) into excluded matchers of kind.
 */
static void
compile_excluded_strings(Matcher *m, MatcherKind kind, const JsonbValue *v,
						 const char *path, CompileState *st)
{
	int			n = 1;
	int			i;

	if (is_array(v))
	{
		n = JsonContainerSize(v->val.binary.data);
		if (n == 0)
			invalid(path, "must not be an empty array");
	}
	else if (v->type != jbvString)
		invalid(path, "must be a string or an array of strings, not %s",
				type_name(v));
	m->nexcluded = n;
	m->excluded = palloc0(sizeof(Matcher) * n);
	for (i = 0; i < n; i++)
	{
		const JsonbValue *s = v;
		const char *spath = path;

		if (is_array(v))
		{
			s = getIthJsonbValueFromContainer(v->val.binary.data, i);
			spath = psprintf("%s[%d]", path, i);
			if (s->type != jbvString)
				invalid(spath, "must be a string, not %s", type_name(s));
			if (i > 0)
				count_value(st, spath);
		}
		if (kind == MATCH_WILDCARD)
			compile_wildcard(&m->excluded[i], s, spath);
		else
			compile_string(&m->excluded[i], kind, s, true);
	}
}

/*
 * Compile {"anything-but": ...}: a string, a number, an array of strings
 * or of numbers, or an object with prefix, suffix, equals-ignore-case or
 * wildcard.
 */
static void
compile_anything_but(Matcher *m, const JsonbValue *v, const char *path,
					 CompileState *st)
{
	m->kind = MATCH_ANYTHING_BUT;
	if (v->type == jbvString || v->type == jbvNumeric)
	{
		m->nexcluded = 1;
		m->excluded = palloc0(sizeof(Matcher));
		if (v->type == jbvString)
			compile_string(m->excluded, MATCH_STRING, v, false);
		else
		{
			m->excluded->kind = MATCH_NUMBER;
			m->excluded->number = copy_number(v);
		}
	}
	else if (is_array(v))
	{
		JsonbContainer *c = v->val.binary.data;
		int			n = JsonContainerSize(c);
		enum jbvType type = jbvNull;
		int			i;

		if (n == 0)
			invalid(path, "must not be an empty array");
		m->nexcluded = n;
		m->excluded = palloc0(sizeof(Matcher) * n);
		for (i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(c, i);
			char	   *epath = psprintf("%s[%d]", path, i);

			if (e->type != jbvString && e->type != jbvNumeric)
				invalid(epath, "must be a string or a number, not %s",
						type_name(e));
			if (i > 0 && e->type != type)
				invalid(epath, "the values of an anything-but list must be all strings or all numbers");
			type = e->type;
			if (i > 0)
				count_value(st, epath);
			if (e->type == jbvString)
				compile_string(&m->excluded[i], MATCH_STRING, e, false);
			else
			{
				m->excluded[i].kind = MATCH_NUMBER;
				m->excluded[i].number = copy_number(e);
			}
		}
	}
	else if (is_object(v))
	{
		JsonbValue	inner;
		char	   *op = only_member(v->val.binary.data, path,
									 "an anything-but object", &inner);
		char	   *ipath = psprintf("%s.%s", path, op);

		if (strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0)
		{
			if (inner.type != jbvString)
				invalid(ipath, "must be a string, not %s", type_name(&inner));
			m->nexcluded = 1;
			m->excluded = palloc0(sizeof(Matcher));
			compile_string(m->excluded, op[0] == 'p' ? MATCH_PREFIX : MATCH_SUFFIX,
						   &inner, false);
		}
		else if (strcmp(op, "equals-ignore-case") == 0)
			compile_excluded_strings(m, MATCH_EQUALS_IGNORE_CASE, &inner, ipath, st);
		else if (strcmp(op, "wildcard") == 0)
			compile_excluded_strings(m, MATCH_WILDCARD, &inner, ipath, st);
		else
			invalid(path, "unknown operator \"%s\" (anything-but takes prefix, suffix, "
					"equals-ignore-case or wildcard)", op);
	}
	else
		invalid(path, "must be a string, a number, an array of strings or of numbers, "
				"or an object with prefix, suffix, equals-ignore-case or wildcard, not %s",
				type_name(v));
}

/*
 * Compile one matcher object ({"prefix": "x"} ...) of a leaf.
 */
static void
compile_operator(PatternField *f, Matcher *m, JsonbContainer *obj,
				 const char *path, CompileState *st)
{
	JsonbValue	v;
	char	   *op = only_member(obj, path, "a matcher object", &v);
	char	   *opath = psprintf("%s.%s", path, op);

	if (strcmp(op, "prefix") == 0)
		compile_affix(m, MATCH_PREFIX, &v, opath);
	else if (strcmp(op, "suffix") == 0)
		compile_affix(m, MATCH_SUFFIX, &v, opath);
	else if (strcmp(op, "equals-ignore-case") == 0)
	{
		if (v.type != jbvString)
			invalid(opath, "must be a string, not %s", type_name(&v));
		compile_string(m, MATCH_EQUALS_IGNORE_CASE, &v, true);
	}
	else if (strcmp(op, "wildcard") == 0)
	{
		if (v.type != jbvString)
			invalid(opath, "must be a string, not %s", type_name(&v));
		compile_wildcard(m, &v, opath);
	}
	else if (strcmp(op, "anything-but") == 0)
		compile_anything_but(m, &v, opath, st);
	else if (strcmp(op, "numeric") == 0)
		compile_numeric(m, &v, opath);
	else if (strcmp(op, "exists") == 0)
	{
		if (v.type != jbvBool)
			invalid(opath, "must be true or false, not %s", type_name(&v));
		m->kind = MATCH_EXISTS;
		m->flag = v.val.boolean;
		if (!m->flag)
			f->absent_matches = true;
	}
	else if (strcmp(op, "cidr") == 0)
	{
		if (v.type != jbvString)
			invalid(opath, "must be a string, not %s", type_name(&v));
		compile_cidr(m, &v, opath);
	}
	else
		invalid(path, "unknown operator \"%s\"", op);
}

/*
 * Compile a leaf: an array of matchers.
 */
static void
compile_leaf(PatternField *f, JsonbContainer *arr, const char *path,
			 CompileState *st)
{
	int			n = JsonContainerSize(arr);
	int			i;

	if (n == 0)
		invalid(path, "an array of matchers must not be empty");
	f->nmatchers = n;
	f->matchers = palloc0(sizeof(Matcher) * n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(arr, i);
		Matcher    *m = &f->matchers[i];
		char	   *epath = psprintf("%s[%d]", path, i);

		count_value(st, epath);
		switch (v->type)
		{
			case jbvString:
				compile_string(m, MATCH_STRING, v, false);
				break;
			case jbvNumeric:
				m->kind = MATCH_NUMBER;
				m->number = copy_number(v);
				break;
			case jbvBool:
				m->kind = MATCH_BOOL;
				m->flag = v->val.boolean;
				break;
			case jbvNull:
				m->kind = MATCH_NULL;
				break;
			default:
				if (!is_object(v))
					invalid(epath, "a matcher is a string, a number, true, false, null "
							"or an object with one operator, not %s", type_name(v));
				compile_operator(f, m, v->val.binary.data, epath, st);
				break;
		}
	}
}

/*
 * The lookup slot of key inside the object of slot parent, made when new;
 * -1 when the table is full (or parent has no slot).
 */
static int
lookup_slot(int parent, const char *key, int keylen)
{
	int			i;

	if (parent < 0)
		return -1;
	for (i = 1; i < nlookup_paths; i++)
		if (lookup_paths[i].parent == parent && lookup_paths[i].keylen == keylen &&
			memcmp(lookup_paths[i].key, key, keylen) == 0)
			return i;
	if (nlookup_paths >= MAX_SLOTS)
		return -1;
	if (lookup_paths == NULL)
		lookup_paths = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(LookupPath) * MAX_SLOTS);
	lookup_paths[i].parent = parent;
	lookup_paths[i].keylen = keylen;
	lookup_paths[i].key = MemoryContextStrdup(TopMemoryContext, key);
	return nlookup_paths++;
}

static void compile_object(PatternObject *p, const JsonbValue *v,
						   const char *path, int depth, CompileState *st);

/*
 * Compile "$or": an array of two or more patterns.
 */
static void
compile_or(PatternObject *p, const JsonbValue *v, const char *path,
		   int depth, CompileState *st)
{
	JsonbContainer *c;
	int			i;

	if (!is_array(v) || JsonContainerSize(v->val.binary.data) < 2)
		invalid(path, "must be an array of at least two objects");
	c = v->val.binary.data;
	p->nalternatives = JsonContainerSize(c);
	p->alternatives = palloc0(sizeof(PatternObject) * p->nalternatives);
	for (i = 0; i < p->nalternatives; i++)
	{
		/* an alternative is about the same object */
		p->alternatives[i].slot = p->slot;
		compile_object(&p->alternatives[i], getIthJsonbValueFromContainer(c, i),
					   psprintf("%s[%d]", path, i), depth + 1, st);
	}
}

/*
 * Compile a pattern object at depth (the root is 1); p->slot is set.
 */
static void
compile_object(PatternObject *p, const JsonbValue *v, const char *path,
			   int depth, CompileState *st)
{
	JsonbContainer *obj;
	JsonbIterator *it;
	JsonbValue	jv;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	check_stack_depth();
	if (!is_object(v))
		invalid(path, "must be a JSON object, not %s", type_name(v));
	if (depth > MAX_DEPTH)
		invalid(path, "a pattern nests at most %d objects deep", MAX_DEPTH);
	obj = v->val.binary.data;
	if (JsonContainerSize(obj) == 0)
		invalid(path, "an object in a pattern must name at least one field");

	p->fields = palloc0(sizeof(PatternField) * JsonContainerSize(obj));
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
	{
		PatternField *f;
		char	   *fpath;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(jv.val.string.val, jv.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		fpath = field_path(path, key);
		if (strcmp(key, "$or") == 0)
		{
			compile_or(p, &jv, fpath, depth, st);
			continue;
		}
		f = &p->fields[p->nfields++];
		f->key = key;
		f->keylen = strlen(key);
		f->slot = lookup_slot(p->slot, key, f->keylen);
		if (is_array(&jv))
			compile_leaf(f, jv.val.binary.data, fpath, st);
		else if (is_object(&jv))
		{
			f->object = palloc0(sizeof(PatternObject));
			f->object->slot = f->slot;
			compile_object(f->object, &jv, fpath, depth + 1, st);
		}
		else
			invalid(fpath, "a pattern's leaves must be arrays, not %s",
					type_name(&jv));
	}
}

/*
 * Check and compile a pattern (event_pattern.h).
 */
TrailEventPattern *
trail_event_pattern_compile(Jsonb *pattern)
{
	TrailEventPattern *result = palloc0(sizeof(TrailEventPattern));
	CompileState st = {0};
	JsonbValue	root;

	if (JsonContainerIsScalar(&pattern->root))
	{
		JsonbExtractScalar(&pattern->root, &root);
		invalid("", "must be a JSON object, not %s", type_name(&root));
	}
	root.type = jbvBinary;
	root.val.binary.data = &pattern->root;
	root.val.binary.len = VARSIZE(pattern) - VARHDRSZ;
	compile_object(&result->root, &root, "", 1, &st);
	return result;
}

/*
 * Matching: nothing below allocates (but numeric_cmp, for a number stored
 * with a short header) or raises an error (but check_stack_depth, for
 * absurdly nested arrays).
 */

/*
 * Element i of an array container, read in place into *out; *offset is the
 * element's data offset, 0 for the first, and is advanced to the next
 * (elements must be read in order).  Unlike getIthJsonbValueFromContainer
 * this allocates nothing.
 */
static void
array_element(JsonbContainer *c, int i, uint32 *offset, JsonbValue *out)
{
	JEntry		entry = c->children[i];
	char	   *base = (char *) &c->children[JsonContainerSize(c)];
	uint32		off = *offset;
	uint32		len = JBE_HAS_OFF(entry) ? JBE_OFFLENFLD(entry) - off :
		JBE_OFFLENFLD(entry);

	if (JBE_ISNULL(entry))
		out->type = jbvNull;
	else if (JBE_ISSTRING(entry))
	{
		out->type = jbvString;
		out->val.string.val = base + off;
		out->val.string.len = len;
	}
	else if (JBE_ISNUMERIC(entry))
	{
		out->type = jbvNumeric;
		out->val.numeric = (Numeric) (base + INTALIGN(off));
	}
	else if (JBE_ISBOOL_TRUE(entry) || JBE_ISBOOL_FALSE(entry))
	{
		out->type = jbvBool;
		out->val.boolean = JBE_ISBOOL_TRUE(entry);
	}
	else
	{
		out->type = jbvBinary;
		out->val.binary.data = (JsonbContainer *) (base + INTALIGN(off));
		out->val.binary.len = len - (INTALIGN(off) - off);
	}
	*offset = off + len;
}

/*
 * Are len bytes of s equal to lower (lowercase) when ASCII case is ignored?
 */
static bool
equal_ignore_case(const char *s, const char *lower, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (ascii_lower(s[i]) != lower[i])
			return false;
	return true;
}

/*
 * Where needle first occurs in hay, or NULL.
 */
static const char *
find_bytes(const char *hay, int haylen, const char *needle, int len)
{
	const char *last = hay + haylen - len;
	const char *p;

	if (len == 0)
		return hay;
	for (p = hay; p <= last; p++)
	{
		p = memchr(p, needle[0], last - p + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, len) == 0)
			return p;
	}
	return NULL;
}

/*
 * Does a string match a wildcard?  The first segment must begin it, the
 * last end it, and the others follow in order in between; taking each at
 * its leftmost place is enough, as stars match any run.
 */
static bool
wildcard_matches(const Matcher *m, const char *s, int len)
{
	const char *seg = m->str;
	int			first = m->segment_len[0];
	int			last = m->segment_len[m->nsegments - 1];
	int			pos;
	int			end;
	int			i;

	if (m->nsegments == 1)
		return len == first && memcmp(s, seg, len) == 0;
	if (len < first + last ||
		memcmp(s, seg, first) != 0 ||
		memcmp(s + len - last, m->str + m->len - last, last) != 0)
		return false;
	pos = first;
	end = len - last;
	seg += first;
	for (i = 1; i < m->nsegments - 1; i++)
	{
		int			seglen = m->segment_len[i];
		const char *found = find_bytes(s + pos, end - pos, seg, seglen);

		if (found == NULL)
			return false;
		pos = (found - s) + seglen;
		seg += seglen;
	}
	return true;
}

/*
 * Is a string an address of a matcher's CIDR network?
 */
static bool
cidr_matches(const Matcher *m, const char *s, int len)
{
	char		text[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	int			whole = m->bits / 8;
	int			rest = m->bits % 8;

	if (len <= 0 || len >= (int) sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(m->family, text, addr) != 1)
		return false;
	if (memcmp(addr, m->addr, whole) != 0)
		return false;
	if (rest != 0)
	{
		unsigned char mask = (unsigned char) (0xFF << (8 - rest));

		if ((addr[whole] & mask) != (m->addr[whole] & mask))
			return false;
	}
	return true;
}

/*
 * Does a matcher match one scalar value of the event (which exists)?
 */
static bool
matcher_matches(const Matcher *m, const JsonbValue *v)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	int			i;

	switch (m->kind)
	{
		case MATCH_STRING:
			return v->type == jbvString && len == m->len &&
				memcmp(s, m->str, len) == 0;
		case MATCH_NUMBER:
			return v->type == jbvNumeric &&
				compare_numbers(v->val.numeric, m->number) == 0;
		case MATCH_BOOL:
			return v->type == jbvBool && v->val.boolean == m->flag;
		case MATCH_NULL:
			return v->type == jbvNull;
		case MATCH_PREFIX:
			if (v->type != jbvString || len < m->len)
				return false;
			return m->ignore_case ? equal_ignore_case(s, m->str, m->len) :
				memcmp(s, m->str, m->len) == 0;
		case MATCH_SUFFIX:
			if (v->type != jbvString || len < m->len)
				return false;
			return m->ignore_case ?
				equal_ignore_case(s + len - m->len, m->str, m->len) :
				memcmp(s + len - m->len, m->str, m->len) == 0;
		case MATCH_EQUALS_IGNORE_CASE:
			return v->type == jbvString && len == m->len &&
				equal_ignore_case(s, m->str, len);
		case MATCH_WILDCARD:
			return v->type == jbvString && wildcard_matches(m, s, len);
		case MATCH_NUMERIC:
			if (v->type != jbvNumeric)
				return false;
			if (m->lower != NULL)
			{
				int			cmp = compare_numbers(v->val.numeric, m->lower);

				if (cmp < 0 || (cmp == 0 && !m->lower_inclusive))
					return false;
			}
			if (m->upper != NULL)
			{
				int			cmp = compare_numbers(v->val.numeric, m->upper);

				if (cmp > 0 || (cmp == 0 && !m->upper_inclusive))
					return false;
			}
			return true;
		case MATCH_CIDR:
			return v->type == jbvString && cidr_matches(m, s, len);
		case MATCH_EXISTS:
			return m->flag;
		case MATCH_ANYTHING_BUT:
			for (i = 0; i < m->nexcluded; i++)
				if (matcher_matches(&m->excluded[i], v))
					return false;
			return true;
	}
	return false;
}

/*
 * Does a matcher of a leaf match one of the scalars of v: v itself, or the
 * elements of an array, nested arrays searched?  *present is set when v
 * holds some scalar (objects hold none at this level).
 */
static bool
leaf_value_matches(const PatternField *f, const JsonbValue *v, bool *present)
{
	int			i;

	if (v->type == jbvBinary)
	{
		JsonbContainer *c = v->val.binary.data;
		uint32		offset = 0;
		JsonbValue	e;

		if (!JsonContainerIsArray(c))
			return false;
		check_stack_depth();
		for (i = 0; i < JsonContainerSize(c); i++)
		{
			array_element(c, i, &offset, &e);
			if (leaf_value_matches(f, &e, present))
				return true;
		}
		return false;
	}
	*present = true;
	for (i = 0; i < f->nmatchers; i++)
		if (matcher_matches(&f->matchers[i], v))
			return true;
	return false;
}

/*
 * Does a leaf match the event's value v (NULL: the field is missing)?  A
 * value without scalars counts as missing.
 */
static bool
leaf_matches(const PatternField *f, const JsonbValue *v)
{
	bool		present = false;

	if (v != NULL && leaf_value_matches(f, v, &present))
		return true;
	return !present && f->absent_matches;
}

static bool object_matches(const PatternObject *p, JsonbContainer *obj);

/*
 * Does a nested pattern match an object element of an array (nested arrays
 * searched)?  *found_object is set when the array holds some object.
 */
static bool
element_matches(const PatternObject *p, JsonbContainer *arr, bool *found_object)
{
	uint32		offset = 0;
	JsonbValue	e;
	int			i;

	check_stack_depth();
	for (i = 0; i < JsonContainerSize(arr); i++)
	{
		array_element(arr, i, &offset, &e);
		if (e.type != jbvBinary)
			continue;
		if (JsonContainerIsObject(e.val.binary.data))
		{
			*found_object = true;
			if (object_matches(p, e.val.binary.data))
				return true;
		}
		else if (element_matches(p, e.val.binary.data, found_object))
			return true;
	}
	return false;
}

/*
 * Does a nested pattern match the event's value v (NULL: missing)?  An
 * object is matched as such; an array when one of its objects matches;
 * anything else (missing, a scalar, an array without objects) as an
 * object without fields.
 */
static bool
nested_matches(const PatternObject *p, const JsonbValue *v)
{
	if (v != NULL && v->type == jbvBinary)
	{
		JsonbContainer *c = v->val.binary.data;
		bool		found_object = false;

		if (JsonContainerIsObject(c))
			return object_matches(p, c);
		if (element_matches(p, c, &found_object))
			return true;
		if (found_object)
			return false;
	}
	return object_matches(p, NULL);
}

/*
 * Does a pattern object match an event object (NULL: none, every field is
 * missing)?
 */
static bool
object_matches(const PatternObject *p, JsonbContainer *obj)
{
	int			i;

	for (i = 0; i < p->nfields; i++)
	{
		const PatternField *f = &p->fields[i];
		JsonbValue	buf;
		JsonbValue *v = NULL;

		if (obj != NULL)
			v = getKeyJsonValueFromContainer(obj, f->key, f->keylen, &buf);
		if (f->object != NULL ? !nested_matches(f->object, v) :
			!leaf_matches(f, v))
			return false;
	}
	if (p->nalternatives == 0)
		return true;
	for (i = 0; i < p->nalternatives; i++)
		if (object_matches(&p->alternatives[i], obj))
			return true;
	return false;
}

/*
 * Does an event match a compiled pattern (event_pattern.h)?  An event that
 * is not an object has no fields.
 */
bool
trail_event_pattern_matches(const TrailEventPattern *pattern, Jsonb *event)
{
	JsonbContainer *root = &event->root;

	return object_matches(&pattern->root,
						  JsonContainerIsObject(root) ? root : NULL);
}

/*
 * The value of a field in the object obj of a partial event (NULL:
 * missing): from the caller's TrailPartialField at the two top levels,
 * from obj below; looked up once per event when the field's path has a
 * slot.
 */
static JsonbValue *
partial_value(const PatternField *f, JsonbContainer *obj,
			  TrailPatternLookups *lookups, JsonbValue *buf)
{
	JsonbValue *out = buf;
	bool		found;

	if (f->slot >= 0 && f->slot < lookups->nslots)
	{
		if (lookups->state[f->slot] != LOOKUP_UNKNOWN)
			return lookups->state[f->slot] == LOOKUP_FOUND ? &lookups->value[f->slot] : NULL;
		out = &lookups->value[f->slot];
	}
	if (obj == &partial_root || obj == &partial_detail)
		found = lookups->field(lookups->arg, obj == &partial_root ? 0 : 1,
							   f->key, f->keylen, out);
	else
		found = getKeyJsonValueFromContainer(obj, f->key, f->keylen, out) != NULL;
	if (out != buf)
		lookups->state[f->slot] = found ? LOOKUP_FOUND : LOOKUP_MISSING;
	return found ? out : NULL;
}

/*
 * May a pattern object match an event object of which obj holds only some
 * fields, each with its complete value?  A field obj lacks may hold
 * anything, so it passes; "$or" passes when one alternative may match.
 */
static bool
object_may_match(const PatternObject *p, JsonbContainer *obj,
				 TrailPatternLookups *lookups)
{
	int			i;

	for (i = 0; i < p->nfields; i++)
	{
		const PatternField *f = &p->fields[i];
		JsonbValue	buf;
		JsonbValue *v = partial_value(f, obj, lookups, &buf);

		if (v == NULL)
			continue;
		if (f->object != NULL)
		{
			if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data) &&
				!object_may_match(f->object, v->val.binary.data, lookups))
				return false;
		}
		else if (!leaf_matches(f, v))
			return false;
	}
	if (p->nalternatives == 0)
		return true;
	for (i = 0; i < p->nalternatives; i++)
		if (object_may_match(&p->alternatives[i], obj, lookups))
			return true;
	return false;
}

TrailPatternLookups *
trail_event_pattern_lookups(TrailPartialField field, void *arg)
{
	TrailPatternLookups *lookups = palloc(sizeof(TrailPatternLookups));

	lookups->field = field;
	lookups->arg = arg;
	lookups->nslots = nlookup_paths;
	lookups->state = palloc0(sizeof(LookupState) * nlookup_paths);
	lookups->value = palloc(sizeof(JsonbValue) * nlookup_paths);
	return lookups;
}

void
trail_event_pattern_detail(JsonbValue *out)
{
	out->type = jbvBinary;
	out->val.binary.data = &partial_detail;
	out->val.binary.len = 0;
}

bool
trail_event_pattern_may_match(const TrailEventPattern *pattern,
							  TrailPatternLookups *lookups)
{
	return object_may_match(&pattern->root, &partial_root, lookups);
}

int
trail_event_pattern_required(const TrailEventPattern *pattern,
							 const char *const *path, int depth,
							 char ***values, int **lens)
{
	const PatternObject *obj = &pattern->root;
	int			d;

	for (d = 0; d < depth; d++)
	{
		const PatternField *f = NULL;
		int			i;

		for (i = 0; i < obj->nfields && f == NULL; i++)
			if (obj->fields[i].keylen == (int) strlen(path[d]) &&
				memcmp(obj->fields[i].key, path[d], obj->fields[i].keylen) == 0)
				f = &obj->fields[i];
		if (f == NULL)
			return -1;			/* not constrained */
		if (d < depth - 1)
		{
			if (f->object == NULL)
				return -1;
			obj = f->object;
			continue;
		}
		if (f->nmatchers == 0 || f->absent_matches)
			return -1;
		for (i = 0; i < f->nmatchers; i++)
			if (f->matchers[i].kind != MATCH_STRING)
				return -1;
		*values = palloc(sizeof(char *) * f->nmatchers);
		*lens = palloc(sizeof(int) * f->nmatchers);
		for (i = 0; i < f->nmatchers; i++)
		{
			(*values)[i] = f->matchers[i].str;
			(*lens)[i] = f->matchers[i].len;
		}
		return f->nmatchers;
	}
	return -1;
}

/* The last pattern trail.test_event_pattern() compiled at one call site */
typedef struct PatternCache
{
	MemoryContext cxt;
	Jsonb	   *pattern;		/* NULL: nothing compiled */
	TrailEventPattern *compiled;
} PatternCache;

/*
 * trail.test_event_pattern(event_pattern jsonb, event jsonb): EventBridge's
 * TestEventPattern.  The compiled pattern is kept for the next call while
 * the pattern stays the same (a constant over a table's rows); a new one is
 * compiled into the same context, reset first.
 */
Datum
trail_test_event_pattern(PG_FUNCTION_ARGS)
{
	Jsonb	   *pattern = PG_GETARG_JSONB_P(0);
	Jsonb	   *event = PG_GETARG_JSONB_P(1);
	PatternCache *cache = fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PatternCache));
		cache->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
										   "trail event pattern",
										   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->pattern == NULL || VARSIZE(cache->pattern) != VARSIZE(pattern) ||
		memcmp(cache->pattern, pattern, VARSIZE(pattern)) != 0)
	{
		MemoryContext oldcxt;

		cache->pattern = NULL;
		cache->compiled = NULL;
		MemoryContextReset(cache->cxt);
		oldcxt = MemoryContextSwitchTo(cache->cxt);
		cache->compiled = trail_event_pattern_compile(pattern);
		cache->pattern = palloc(VARSIZE(pattern));
		memcpy(cache->pattern, pattern, VARSIZE(pattern));
		MemoryContextSwitchTo(oldcxt);
	}
	PG_RETURN_BOOL(trail_event_pattern_matches(cache->compiled, event));
}
