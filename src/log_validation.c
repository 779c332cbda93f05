/*-------------------------------------------------------------------------
 *
 * log_validation.c
 *	  Log file integrity validation: the checks of `aws cloudtrail
 *	  validate-logs`, run over a bucket directory instead of S3.
 *
 * trail writes log files and hourly signed digest files into a directory
 * laid out like an S3 bucket (cloudtrail-format.md (b), (c)).  This file
 * checks such a directory: it lists the trail's digests per region, walks
 * each chain from the newest digest backwards along the
 * previousDigestS3Object pointers, verifies every digest (format, location,
 * public key, RSA signature, hash link to its successor) and then every log
 * file the digest lists (SHA-256 of the uncompressed content).  It is used
 * by the extension (trail.validate_logs) and by the offline command
 * trail-validate, so it is plain C99 with OpenSSL and zlib: no PostgreSQL
 * headers, no palloc, no ereport, never exit() or abort().
 *
 * Design notes:
 *
 *	- Same verdicts as awscli: a digest is "valid" or "INVALID: not found",
 *	  "invalid format", "has been moved from its original location",
 *	  "public key not found", "signature verification failed", and a log
 *	  file "valid" or "INVALID: not found", "invalid format", "hash value
 *	  doesn't match".  Beyond awscli, a digest that a successor points at
 *	  must have the SHA-256 the successor records (previousDigestHashValue),
 *	  else it is "INVALID: hash value doesn't match"; digest keys the caller
 *	  knows were delivered but are missing are reported "not found"; and a
 *	  file that exists but cannot be read is "INVALID: could not read file:
 *	  <reason>".
 *	- Traversal: per account and region, the listed digests newest first;
 *	  from each digest not yet checked, follow the previous pointers while
 *	  the digest verified and its digestStartTime is not before the
 *	  requested start (as awscli stops).  A null pointer, a failed digest or
 *	  a pointer to a digest already checked ends the walk; the next walk
 *	  starts at the newest listed digest not yet checked.  So every listed
 *	  digest is checked exactly once, and an older chain is still checked
 *	  after a deleted or damaged digest.
 *	- A digest whose signature verified is authentic: its log files are
 *	  checked and its pointer followed even if its successor's hash link
 *	  does not match.  A digest that fails format, location, key or
 *	  signature checks has its log files left unchecked.
 *	- Signatures come from sidecars beside the digest, standing in for S3
 *	  object metadata: <key>.sig (hex) and <key>.meta.json with
 *	  "signature-algorithm": "SHA256withRSA".
 *	- Safety: object keys come from digests, so a key that starts with '/'
 *	  or has a ".." component is never opened (it is "not found"), nor is an
 *	  object of another bucket.  Decompressed digests are capped at
 *	  TV_DIGEST_MAX bytes; log files are hashed as they are inflated, in
 *	  fixed-size chunks, whatever their size.
 *	- JSON: a small strict parser (RFC 8259: no BOM, no NaN, no trailing
 *	  commas, valid UTF-8, nesting up to JSON_MAX_DEPTH).  A string holding
 *	  \u0000 is rejected, so decoded strings are plain C strings.
 *	- Times inside digests must be exactly YYYY-MM-DDTHH:MM:SSZ, the form
 *	  CloudTrail and trail write.
 *
 *-------------------------------------------------------------------------
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "log_validation.h"

#if defined(__GNUC__)
#define TV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TV_PRINTF(f, a)
#endif

/* largest uncompressed digest accepted (real ones are kilobytes) */
#define TV_DIGEST_MAX		(64 * 1024 * 1024)
/* largest .sig / .meta.json sidecar accepted */
#define TV_SIDECAR_MAX		(64 * 1024)
/* I/O and inflate chunk size */
#define TV_CHUNK			65536
/* deepest JSON nesting accepted */
#define JSON_MAX_DEPTH		64
/* awscli lists digests up to an hour past the requested end */
#define TV_END_SLACK		3600

#define ST_VALID			"valid"
#define ST_NOT_FOUND		"INVALID: not found"
#define ST_FORMAT			"INVALID: invalid format"
#define ST_MOVED			"INVALID: has been moved from its original location"
#define ST_NO_KEY			"INVALID: public key not found"
#define ST_SIGNATURE		"INVALID: signature verification failed"
#define ST_HASH				"INVALID: hash value doesn't match"
#define ST_UNREADABLE		"INVALID: could not read file: "

#define SIGNATURE_ALGORITHM	"SHA256withRSA"

/* a growable byte buffer */
typedef struct Buf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
	size_t		limit;			/* 0: none; else appends past it fail */
} Buf;

/* a growable list of malloc'd strings */
typedef struct NameList
{
	char	  **items;
	int			n;
	int			cap;
} NameList;

/* a listed digest: key and the timestamp in its name */
typedef struct DigestEntry
{
	char	   *key;
	long long	ts;
} DigestEntry;

typedef struct EntryList
{
	DigestEntry *items;
	int			n;
	int			cap;
} EntryList;

/* a set of strings (open addressing), for digests already checked */
typedef struct StrSet
{
	char	  **slots;
	size_t		cap;
	size_t		n;
} StrSet;

/* a usable public key */
typedef struct LoadedKey
{
	EVP_PKEY   *pkey;
	char		fingerprint[33];
} LoadedKey;

/* an expected digest key, split up if it is one of this trail's */
typedef struct ExpectedKey
{
	const char *key;			/* the caller's string */
	char	   *account;		/* NULL if not a digest key of this trail
								 * under the prefix */
	char	   *region;
	long long	ts;				/* the timestamp in its name */
} ExpectedKey;

/* the state of one tv_validate call */
typedef struct Ctx
{
	const TvRequest *req;
	char	   *prefix;			/* "" or "<prefix>/", malloc'd */
	long long	window_end;		/* end_time + slack, clamped */
	LoadedKey  *keys;
	int			nkeys;
	TvReport   *rep;
	int			rescap;
	StrSet		checked;
	ExpectedKey *expected;		/* the request's expected_digests, parsed */
	int			nexpected;
	int			have_times;
	char	   *error;			/* set when the run fails */
} Ctx;

/* what checking a digest tells the traversal */
typedef struct DigestOutcome
{
	int			verified;		/* signature verified */
	long long	start_time;		/* digestStartTime */
	char	   *prev_bucket;	/* pointer to the previous digest, or NULL */
	char	   *prev_object;
	char	   *prev_hash;		/* previousDigestHashValue, or NULL */
} DigestOutcome;

/* result of inflating a gzip file */
typedef enum GzResult
{
	GZ_OK,
	GZ_NOT_FOUND,
	GZ_READ_ERROR,
	GZ_FORMAT,
	GZ_TOO_BIG,
	GZ_NOMEM
} GzResult;

/* consumer of inflated bytes: 0 ok, 1 refuses (too big), -1 out of memory */
typedef int (*GzSink) (void *arg, const unsigned char *data, size_t len);

typedef enum JsonType
{
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
} JsonType;

/* a parsed JSON value; arrays and objects hold a list of children */
typedef struct JsonValue
{
	JsonType	type;
	int			boolean;
	char	   *str;			/* JSON_STRING: decoded text */
	char	   *name;			/* member name, inside an object */
	struct JsonValue *child;	/* first element or member */
	struct JsonValue *next;		/* next sibling */
} JsonValue;

typedef struct JsonParser
{
	const unsigned char *p;
	const unsigned char *end;
	int			depth;
	int			oom;
} JsonParser;

static JsonValue *json_value(JsonParser *ps);


/* ---------------------------------------------------------------------
 * Small helpers: strings, buffers, errors
 * ---------------------------------------------------------------------
 */

/*
 * Returns a malloc'd copy of s, or NULL when out of memory.
 */
static char *
tv_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/*
 * Returns a malloc'd string formatted like vprintf, or NULL when out of
 * memory.  It works on copies of ap, which the caller still va_ends.
 */
TV_PRINTF(1, 0)
static char *
tv_vsprintf(const char *fmt, va_list ap)
{
	va_list		aq;
	int			n;
	char	   *s;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = malloc((size_t) n + 1);
	if (!s)
		return NULL;
	va_copy(aq, ap);
	vsnprintf(s, (size_t) n + 1, fmt, aq);
	va_end(aq);
	return s;
}

/*
 * Returns a malloc'd string formatted like printf, or NULL when out of
 * memory.
 */
TV_PRINTF(1, 2)
static char *
tv_sprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, fmt);
	s = tv_vsprintf(fmt, ap);
	va_end(ap);
	return s;
}

/*
 * Records why the run failed (the first reason wins).  Always returns -1,
 * for "return fail(...)".
 */
TV_PRINTF(2, 3)
static int
fail(Ctx *c, const char *fmt,...)
{
	va_list		ap;

	if (c->error)
		return -1;
	va_start(ap, fmt);
	c->error = tv_vsprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Appends n bytes to a buffer.  Returns 0, 1 when the buffer's limit would
 * be passed, or -1 when out of memory.
 */
static int
buf_append(Buf *b, const void *data, size_t n)
{
	if (b->limit && n > b->limit - b->len)
		return 1;
	if (n >= b->cap - b->len || !b->data)
	{
		size_t		cap = b->cap ? b->cap : 256;
		unsigned char *d;

		while (n >= cap - b->len)
		{
			if (cap > ((size_t) -1) / 2)
				return -1;
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';		/* room is always left for this */
	return 0;
}

/*
 * Appends a C string to a buffer; 0 or -1 when out of memory.
 */
static int
buf_puts(Buf *b, const char *s)
{
	return buf_append(b, s, strlen(s)) == 0 ? 0 : -1;
}

/*
 * GzSink that collects inflated bytes in a Buf (arg).
 */
static int
sink_buf(void *arg, const unsigned char *data, size_t len)
{
	return buf_append((Buf *) arg, data, len);
}

/*
 * GzSink that feeds inflated bytes to a digest context (arg).
 */
static int
sink_digest(void *arg, const unsigned char *data, size_t len)
{
	return EVP_DigestUpdate((EVP_MD_CTX *) arg, data, len) == 1 ? 0 : -1;
}

/*
 * Makes room for one more element in a growable array holding n elements
 * of size bytes, with room for *cap: when it is full, doubles *cap (or sets
 * it to first_cap) and reallocates.  Returns the array, possibly moved, or
 * NULL when out of memory (the array and *cap are then unchanged).
 */
static void *
array_grow(void *items, int n, int *cap, size_t size, int first_cap)
{
	int			newcap;
	void	   *grown;

	if (n < *cap)
		return items;
	newcap = *cap ? *cap * 2 : first_cap;
	grown = realloc(items, size * (size_t) newcap);
	if (grown)
		*cap = newcap;
	return grown;
}

/*
 * Frees the first n strings of an array of malloc'd strings (NULL entries
 * allowed), then the array itself.
 */
static void
free_strings(char **items, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/*
 * Appends a malloc'd copy of s to a name list.  Returns 0 or -1 when out
 * of memory.
 */
static int
names_push(NameList *l, const char *s)
{
	char	  **items = array_grow(l->items, l->n, &l->cap, sizeof(char *), 8);

	if (!items)
		return -1;
	l->items = items;
	if (!(l->items[l->n] = tv_strdup(s)))
		return -1;
	l->n++;
	return 0;
}

/*
 * Adds a malloc'd copy of s to a (short) name list, unless it is there
 * already.  Returns 0 or -1 when out of memory.
 */
static int
names_add(NameList *l, const char *s)
{
	int			i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return 0;
	return names_push(l, s);
}

/*
 * Frees a name list and empties it.
 */
static void
names_free(NameList *l)
{
	free_strings(l->items, (size_t) l->n);
	l->items = NULL;
	l->n = l->cap = 0;
}

/*
 * qsort comparator for strings.
 */
static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Adds a listed digest (copying key); duplicates are removed by
 * entries_sort.  Returns 0 or -1 when out of memory.
 */
static int
entries_add(EntryList *l, const char *key, long long ts)
{
	DigestEntry *items = array_grow(l->items, l->n, &l->cap,
									sizeof(DigestEntry), 32);

	if (!items)
		return -1;
	l->items = items;
	if (!(l->items[l->n].key = tv_strdup(key)))
		return -1;
	l->items[l->n].ts = ts;
	l->n++;
	return 0;
}

/*
 * Frees an entry list and empties it.
 */
static void
entries_free(EntryList *l)
{
	int			i;

	for (i = 0; i < l->n; i++)
		free(l->items[i].key);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}

/*
 * qsort comparator: newest digest first (by name timestamp, then key).
 */
static int
cmp_entries_newest_first(const void *a, const void *b)
{
	const DigestEntry *x = a;
	const DigestEntry *y = b;

	if (x->ts != y->ts)
		return x->ts > y->ts ? -1 : 1;
	return -strcmp(x->key, y->key);
}

/*
 * Sorts listed digests newest first and drops repeated keys (a key always
 * has the same timestamp, so repeats end up side by side).
 */
static void
entries_sort(EntryList *l)
{
	int			i;
	int			n = 0;

	if (l->n > 1)
		qsort(l->items, (size_t) l->n, sizeof(DigestEntry),
			  cmp_entries_newest_first);
	for (i = 0; i < l->n; i++)
	{
		if (n > 0 && strcmp(l->items[n - 1].key, l->items[i].key) == 0)
			free(l->items[i].key);
		else
			l->items[n++] = l->items[i];
	}
	l->n = n;
}

/*
 * FNV-1a hash of a string.
 */
static size_t
str_hash(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return (size_t) h;
}

/*
 * Is s in the set?
 */
static int
set_contains(const StrSet *set, const char *s)
{
	size_t		i;

	if (set->cap == 0)
		return 0;
	for (i = str_hash(s) & (set->cap - 1); set->slots[i];
		 i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slots[i], s) == 0)
			return 1;
	return 0;
}

/*
 * Adds a copy of s to the set (s must not be in it).  Returns 0 or -1 when
 * out of memory.  The table is kept at most half full.
 */
static int
set_add(StrSet *set, const char *s)
{
	size_t		i;

	if ((set->n + 1) * 2 > set->cap)
	{
		size_t		cap = set->cap ? set->cap * 2 : 64;
		char	  **slots = calloc(cap, sizeof(char *));
		size_t		j;

		if (!slots)
			return -1;
		for (j = 0; j < set->cap; j++)
		{
			if (!set->slots[j])
				continue;
			for (i = str_hash(set->slots[j]) & (cap - 1); slots[i];
				 i = (i + 1) & (cap - 1))
				;
			slots[i] = set->slots[j];
		}
		free(set->slots);
		set->slots = slots;
		set->cap = cap;
	}
	for (i = str_hash(s) & (set->cap - 1); set->slots[i];
		 i = (i + 1) & (set->cap - 1))
		;
	if (!(set->slots[i] = tv_strdup(s)))
		return -1;
	set->n++;
	return 0;
}

/*
 * Frees the set's strings and table.
 */
static void
set_free(StrSet *set)
{
	free_strings(set->slots, set->cap);
	set->slots = NULL;
	set->cap = set->n = 0;
}

/*
 * Writes n bytes as lowercase hex into out (2n characters and a NUL).
 */
static void
to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < n; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Value of a hex digit, or -1.
 */
int
tv_hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Do two hex strings spell the same bytes (letters in either case)?
 */
static int
hex_equal(const char *a, const char *b)
{
	if (strlen(a) != strlen(b))
		return 0;
	for (; *a; a++, b++)
	{
		int			x = tv_hex_value((unsigned char) *a);

		if (x < 0 || x != tv_hex_value((unsigned char) *b))
			return 0;
	}
	return 1;
}

/*
 * Is ch JSON/ASCII whitespace?
 */
static int
is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		ch == '\f' || ch == '\v';
}

/*
 * Is s a plain name usable as one path component: non-empty, no '/', not
 * "." or ".."?
 */
static int
is_plain_name(const char *s)
{
	return s && *s && !strchr(s, '/') &&
		strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/*
 * Is s a non-empty string of ASCII digits?
 */
static int
is_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/*
 * May this object key be opened under the bucket directory?  It must be
 * non-empty, relative, and have no ".." component.
 */
static int
key_is_safe(const char *key)
{
	const char *p = key;

	if (!*key || *key == '/')
		return 0;
	while (*p)
	{
		const char *slash = strchr(p, '/');
		size_t		n = slash ? (size_t) (slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 1;
}

/*
 * Is there a regular file (or a link to one) at path?
 */
static int
is_regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Returns a malloc'd "<dir>/<key>", or NULL when out of memory.
 */
static char *
path_join(const char *dir, const char *key)
{
	return tv_sprintf("%s/%s", dir, key);
}


/* ---------------------------------------------------------------------
 * Times
 * ---------------------------------------------------------------------
 */

/*
 * Days from 1970-01-01 to the given proleptic Gregorian date.
 */
static long long
days_from_civil(long long y, int m, int d)
{
	long long	era;
	long long	yoe;
	long long	doy;
	long long	doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * Parses n ASCII digits at s into *out; 0 if they are not all digits.
 */
static int
parse_digits(const char *s, int n, int *out)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

/*
 * Unix seconds of a UTC date and time; 0 if a field is out of range.
 */
static int
make_time(int y, int mo, int d, int h, int mi, int s, long long *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
		(mo == 2 && d == 29 && !leap) ||
		h > 23 || mi > 59 || s > 59)
		return 0;
	*out = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s;
	return 1;
}

/*
 * Parses the first nfields of year, month, day, hour, minute and second
 * (the digits at s + pos[0], 4 for the year and 2 for each other field;
 * the fields not parsed are 0) into unix seconds.  Returns 1, or 0 if a
 * field is not all digits or out of range.
 */
static int
parse_time_fields(const char *s, const int pos[6], int nfields,
				  long long *out)
{
	int			f[6] = {0, 0, 0, 0, 0, 0};
	int			i;

	for (i = 0; i < nfields; i++)
		if (!parse_digits(s + pos[i], i == 0 ? 4 : 2, &f[i]))
			return 0;
	return make_time(f[0], f[1], f[2], f[3], f[4], f[5], out);
}

/*
 * See log_validation.h.
 */
int
tv_parse_time(const char *s, long long *out)
{
	/* where the fields of YYYY-MM-DDTHH:MM:SS start */
	static const int pos[6] = {0, 5, 8, 11, 14, 17};
	size_t		n = strlen(s);

	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (n > 10 &&
		((n != 19 && n != 20) || s[10] != 'T' || s[13] != ':' ||
		 s[16] != ':' || (n == 20 && s[19] != 'Z')))
		return -1;
	return parse_time_fields(s, pos, n == 10 ? 3 : 6, out) ? 0 : -1;
}

/*
 * See log_validation.h.
 */
const char *
tv_format_time(long long t, char *buf, size_t size)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	if (!gmtime_r(&tt, &tm) ||
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", t);
	return buf;
}

/*
 * Parses "YYYY-MM-DDTHH:MM:SSZ" (exactly: the form inside digests) into
 * unix seconds.
 */
static int
parse_iso_time(const char *s, long long *out)
{
	return strlen(s) == 20 && tv_parse_time(s, out) == 0;
}

/*
 * Parses the 16 characters "YYYYMMDDTHHMMSSZ" at s into unix seconds.
 */
static int
parse_name_time(const char *s, long long *out)
{
	/* where the fields of YYYYMMDDTHHMMSS start */
	static const int pos[6] = {0, 4, 6, 9, 11, 13};

	if (s[8] != 'T' || s[15] != 'Z')
		return 0;
	return parse_time_fields(s, pos, 6, out);
}


/* ---------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------
 */

/*
 * Frees a JSON value, its children and siblings.
 */
static void
json_free(JsonValue *v)
{
	while (v)
	{
		JsonValue  *next = v->next;

		json_free(v->child);
		free(v->str);
		free(v->name);
		free(v);
		v = next;
	}
}

/*
 * Skips JSON whitespace (space, tab, LF, CR).
 */
static void
json_skip_ws(JsonParser *ps)
{
	while (ps->p < ps->end &&
		   (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/*
 * Length of the valid UTF-8 sequence of two or more bytes at p, or 0.
 */
static int
utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	int			n;
	unsigned char lo;
	unsigned char hi;
	int			i;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	/* the second byte's range: narrower after E0, ED, F0 and F4 */
	lo = p[0] == 0xE0 ? 0xA0 : p[0] == 0xF0 ? 0x90 : 0x80;
	hi = p[0] == 0xED ? 0x9F : p[0] == 0xF4 ? 0x8F : 0xBF;
	if (end - p < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/*
 * Reads the 4 hex digits of a \u escape at p; -1 if they are not.
 */
long
tv_json_hex4(const unsigned char *p, const unsigned char *end)
{
	long		v = 0;
	int			i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		int			x = tv_hex_value(p[i]);

		if (x < 0)
			return -1;
		v = v * 16 + x;
	}
	return v;
}

/*
 * The character a one-character JSON escape stands for, given e, the
 * character after the backslash ('n' gives a newline); 0 if e is not one
 * of " \ / b f n r t (the caller handles \u escapes).
 */
static char
json_unescape(char e)
{
	static const char escapes[] = "\"\\/bfnrt";
	static const char chars[] = "\"\\/\b\f\n\r\t";
	const char *hit = e ? strchr(escapes, e) : NULL;

	return hit ? chars[hit - escapes] : 0;
}

/*
 * Appends code point cp as UTF-8; 0 or -1 when out of memory.
 */
static int
utf8_put(Buf *b, long cp)
{
	unsigned char u[4];
	size_t		n;

	if (cp < 0x80)
	{
		u[0] = (unsigned char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		u[0] = (unsigned char) (0xC0 | (cp >> 6));
		u[1] = (unsigned char) (0x80 | (cp & 0x3F));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		u[0] = (unsigned char) (0xE0 | (cp >> 12));
		u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char) (0x80 | (cp & 0x3F));
		n = 3;
	}
	else
	{
		u[0] = (unsigned char) (0xF0 | (cp >> 18));
		u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char) (0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_append(b, u, n) == 0 ? 0 : -1;
}

/*
 * Parses a JSON string (ps->p at its opening quote) into a malloc'd C
 * string.  NULL on error (ps->oom tells out of memory from bad syntax).
 */
static char *
json_string(JsonParser *ps)
{
	Buf			b = {0};
	const unsigned char *p = ps->p + 1;
	const unsigned char *end = ps->end;

	if (buf_append(&b, "", 0) != 0)
		goto oom;
	for (;;)
	{
		unsigned char ch;

		if (p >= end)
			goto bad;
		ch = *p;
		if (ch == '"')
		{
			p++;
			break;
		}
		if (ch < 0x20)
			goto bad;
		if (ch == '\\')
		{
			char		e;

			if (++p >= end)
				goto bad;
			e = (char) *p++;
			if (e == 'u')
			{
				long		cp = tv_json_hex4(p, end);

				if (cp < 0)
					goto bad;
				p += 4;
				if (cp >= 0xD800 && cp <= 0xDBFF)
				{
					long		lo;

					if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
						goto bad;
					lo = tv_json_hex4(p + 2, end);
					if (lo < 0xDC00 || lo > 0xDFFF)
						goto bad;
					p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0)
					goto bad;
				if (utf8_put(&b, cp) != 0)
					goto oom;
			}
			else
			{
				char		plain = json_unescape(e);

				if (!plain)
					goto bad;
				if (buf_append(&b, &plain, 1) != 0)
					goto oom;
			}
		}
		else if (ch < 0x80)
		{
			if (buf_append(&b, p, 1) != 0)
				goto oom;
			p++;
		}
		else
		{
			int			n = utf8_sequence(p, end);

			if (n == 0)
				goto bad;
			if (buf_append(&b, p, (size_t) n) != 0)
				goto oom;
			p += n;
		}
	}
	ps->p = p;
	return (char *) b.data;

oom:
	ps->oom = 1;
bad:
	free(b.data);
	return NULL;
}

/*
 * Skips a JSON number at ps->p; 0 if it is not one.
 */
static int
json_number(JsonParser *ps)
{
	const unsigned char *p = ps->p;
	const unsigned char *end = ps->end;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return 0;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (p < end && *p == '.')
	{
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	ps->p = p;
	return 1;
}

/*
 * Does the literal word appear at ps->p?  Skips it if so.
 */
static int
json_literal(JsonParser *ps, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return 0;
	ps->p += n;
	return 1;
}

/*
 * Parses the members of an object or elements of an array (ps->p just
 * after the opening bracket) into v->child.  0 ok, -1 error.
 */
static int
json_children(JsonParser *ps, JsonValue *v, int is_object)
{
	JsonValue **tail = &v->child;
	char		close = is_object ? '}' : ']';

	json_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close)
	{
		ps->p++;
		return 0;
	}
	for (;;)
	{
		char	   *name = NULL;
		JsonValue  *item;

		if (is_object)
		{
			json_skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"')
				return -1;
			if (!(name = json_string(ps)))
				return -1;
			json_skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
			{
				free(name);
				return -1;
			}
			ps->p++;
		}
		if (!(item = json_value(ps)))
		{
			free(name);
			return -1;
		}
		item->name = name;
		*tail = item;
		tail = &item->next;
		json_skip_ws(ps);
		if (ps->p >= ps->end)
			return -1;
		if (*ps->p == close)
		{
			ps->p++;
			return 0;
		}
		if (*ps->p != ',')
			return -1;
		ps->p++;
	}
}

/*
 * Parses one JSON value (after optional whitespace).  NULL on error.
 */
static JsonValue *
json_value(JsonParser *ps)
{
	JsonValue  *v;
	int			ok;

	json_skip_ws(ps);
	if (ps->p >= ps->end || ps->depth >= JSON_MAX_DEPTH)
		return NULL;
	if (!(v = calloc(1, sizeof(JsonValue))))
	{
		ps->oom = 1;
		return NULL;
	}
	ps->depth++;
	switch (*ps->p)
	{
		case '{':
		case '[':
			v->type = *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY;
			ps->p++;
			ok = json_children(ps, v, v->type == JSON_OBJECT) == 0;
			break;
		case '"':
			v->type = JSON_STRING;
			ok = (v->str = json_string(ps)) != NULL;
			break;
		case 't':
			v->type = JSON_BOOL;
			v->boolean = 1;
			ok = json_literal(ps, "true");
			break;
		case 'f':
			v->type = JSON_BOOL;
			ok = json_literal(ps, "false");
			break;
		case 'n':
			v->type = JSON_NULL;
			ok = json_literal(ps, "null");
			break;
		default:
			v->type = JSON_NUMBER;
			ok = json_number(ps);
			break;
	}
	ps->depth--;
	if (!ok)
	{
		json_free(v);
		return NULL;
	}
	return v;
}

/*
 * Parses a whole JSON text.  NULL if it is not valid JSON (*oom = 0) or
 * memory ran out (*oom = 1).
 */
static JsonValue *
json_parse(const unsigned char *text, size_t len, int *oom)
{
	JsonParser	ps;
	JsonValue  *v;

	ps.p = text;
	ps.end = text + len;
	ps.depth = 0;
	ps.oom = 0;
	v = json_value(&ps);
	if (v)
	{
		json_skip_ws(&ps);
		if (ps.p != ps.end)
		{
			json_free(v);
			v = NULL;
		}
	}
	*oom = ps.oom;
	return v;
}

/*
 * The member of an object with this name (the last one if repeated, as
 * Python's json), or NULL.
 */
static const JsonValue *
json_get(const JsonValue *obj, const char *name)
{
	const JsonValue *found = NULL;
	const JsonValue *m;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (m = obj->child; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			found = m;
	return found;
}

/*
 * The string value of a member, or NULL if absent or not a string.
 */
static const char *
json_get_string(const JsonValue *obj, const char *name)
{
	const JsonValue *v = json_get(obj, name);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

/*
 * Is the member absent, null or a string (a nullable string field)?
 */
static int
json_nullable_string(const JsonValue *obj, const char *name)
{
	const JsonValue *v = json_get(obj, name);

	return !v || v->type == JSON_NULL || v->type == JSON_STRING;
}


/* ---------------------------------------------------------------------
 * Files and gzip
 * ---------------------------------------------------------------------
 */

/*
 * Opens a regular file for reading.  Returns the stream, or NULL with
 * *res = GZ_NOT_FOUND (missing, or not a regular file) or GZ_READ_ERROR
 * (*err_no set).
 */
static FILE *
open_regular(const char *path, GzResult *res, int *err_no)
{
	struct stat st;
	FILE	   *f;

	if (stat(path, &st) != 0)
	{
		*err_no = errno;
		*res = (errno == ENOENT || errno == ENOTDIR) ? GZ_NOT_FOUND : GZ_READ_ERROR;
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
	{
		*res = GZ_NOT_FOUND;
		return NULL;
	}
	if (!(f = fopen(path, "rb")))
	{
		*err_no = errno;
		*res = (errno == ENOENT || errno == ENOTDIR) ? GZ_NOT_FOUND : GZ_READ_ERROR;
		return NULL;
	}
	*res = GZ_OK;
	return f;
}

/*
 * Inflates a gzip file (one or more concatenated members) chunk by chunk,
 * handing the uncompressed bytes to sink.  Anything that is not a complete
 * gzip stream, including trailing garbage, is GZ_FORMAT.
 */
static GzResult
gunzip_file(const char *path, GzSink sink, void *arg, int *err_no)
{
	GzResult	res;
	FILE	   *f = open_regular(path, &res, err_no);
	unsigned char *in = NULL;
	unsigned char *out = NULL;
	z_stream	zs;
	int			in_member = 0;
	int			members = 0;
	int			more_output = 0;

	if (!f)
		return res;
	memset(&zs, 0, sizeof(zs));
	in = malloc(TV_CHUNK);
	out = malloc(TV_CHUNK);
	if (!in || !out || inflateInit2(&zs, 15 + 16) != Z_OK)
	{
		free(in);
		free(out);
		fclose(f);
		return GZ_NOMEM;
	}
	res = GZ_OK;
	for (;;)
	{
		int			rc;
		size_t		produced;

		if (zs.avail_in == 0 && !more_output)
		{
			size_t		n = fread(in, 1, TV_CHUNK, f);

			if (n == 0)
			{
				if (ferror(f))
				{
					*err_no = errno ? errno : EIO;
					res = GZ_READ_ERROR;
				}
				break;
			}
			zs.next_in = in;
			zs.avail_in = (uInt) n;
		}
		if (!in_member)
		{
			if (members > 0 && inflateReset(&zs) != Z_OK)
			{
				res = GZ_FORMAT;
				break;
			}
			in_member = 1;
		}
		zs.next_out = out;
		zs.avail_out = TV_CHUNK;
		rc = inflate(&zs, Z_NO_FLUSH);
		produced = TV_CHUNK - zs.avail_out;
		if (produced > 0 && (rc == Z_OK || rc == Z_STREAM_END))
		{
			int			s = sink(arg, out, produced);

			if (s != 0)
			{
				res = s > 0 ? GZ_TOO_BIG : GZ_NOMEM;
				break;
			}
		}
		if (rc == Z_STREAM_END)
		{
			in_member = 0;
			members++;
			more_output = 0;
			continue;
		}
		if (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_in == 0))
		{
			more_output = zs.avail_out == 0;
			continue;
		}
		res = rc == Z_MEM_ERROR ? GZ_NOMEM : GZ_FORMAT;
		break;
	}
	if (res == GZ_OK && (members == 0 || in_member))
		res = GZ_FORMAT;
	inflateEnd(&zs);
	free(in);
	free(out);
	fclose(f);
	return res;
}

/*
 * Reads a small file whole into b (NUL-terminated).  Returns 0, 1 when it
 * is missing, unreadable or larger than TV_SIDECAR_MAX, -1 when out of
 * memory.
 */
static int
read_small_file(const char *path, Buf *b)
{
	GzResult	res;
	int			err_no = 0;
	FILE	   *f = open_regular(path, &res, &err_no);
	unsigned char chunk[4096];
	int			rc = 0;

	if (!f)
		return 1;
	b->limit = TV_SIDECAR_MAX;
	if (buf_append(b, "", 0) != 0)
		rc = -1;
	while (rc == 0)
	{
		size_t		n = fread(chunk, 1, sizeof(chunk), f);

		if (n == 0)
		{
			if (ferror(f))
				rc = 1;
			break;
		}
		rc = buf_append(b, chunk, n);
	}
	fclose(f);
	return rc;
}

/*
 * Lists the names in directory path (without "." and ".."), sorted.
 * A missing directory is an empty list.  With dirs_only, only names that
 * are directories are kept.  Returns 0, or -1 (reason in c->error).
 */
static int
list_dir(Ctx *c, const char *path, int dirs_only, NameList *out)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			rc = 0;

	if (!d)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return fail(c, "could not open directory \"%s\": %s", path,
					strerror(errno));
	}
	for (;;)
	{
		errno = 0;
		if (!(de = readdir(d)))
		{
			if (errno != 0)
				rc = fail(c, "could not read directory \"%s\": %s", path,
						  strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (dirs_only)
		{
			char	   *sub = path_join(path, de->d_name);
			struct stat st;
			int			isdir;

			if (!sub)
			{
				rc = -1;
				break;
			}
			isdir = stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
			free(sub);
			if (!isdir)
				continue;
		}
		if (names_push(out, de->d_name) != 0)
		{
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (out->n > 1)
		qsort(out->items, (size_t) out->n, sizeof(char *), cmp_names);
	return rc;
}


/* ---------------------------------------------------------------------
 * Public keys and signatures
 * ---------------------------------------------------------------------
 */

/*
 * Decodes an RSA public key from DER, SubjectPublicKeyInfo or PKCS#1
 * RSAPublicKey; all bytes must belong to it.  NULL if it is neither.
 */
static EVP_PKEY *
load_der_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY   *k;

	if (!der || len == 0 || len > (size_t) LONG_MAX)
		return NULL;
	k = d2i_PUBKEY(NULL, &p, (long) len);
	if (k && p != der + len)
	{
		EVP_PKEY_free(k);
		k = NULL;
	}
	if (!k)
	{
		p = der;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long) len);
		if (k && p != der + len)
		{
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	if (k && !EVP_PKEY_is_a(k, "RSA"))
	{
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_clear_error();
	return k;
}

/*
 * Fingerprint of a loaded key: lowercase hex MD5 of its PKCS#1 DER.
 * Returns 0 or -1.
 */
static int
pkey_fingerprint(EVP_PKEY *k, char out[33])
{
	unsigned char *pkcs1 = NULL;
	int			n = i2d_PublicKey(k, &pkcs1);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int			ok;

	if (n <= 0)
	{
		ERR_clear_error();
		return -1;
	}
	ok = EVP_Digest(pkcs1, (size_t) n, md, &mdlen, EVP_md5(), NULL) == 1 &&
		mdlen == 16;
	OPENSSL_free(pkcs1);
	if (!ok)
	{
		ERR_clear_error();
		return -1;
	}
	to_hex(md, 16, out);
	return 0;
}

/*
 * See log_validation.h.
 */
int
tv_key_fingerprint(const unsigned char *der, size_t der_len, char out[33])
{
	EVP_PKEY   *k = load_der_key(der, der_len);
	int			rc;

	if (!k)
		return -1;
	rc = pkey_fingerprint(k, out);
	EVP_PKEY_free(k);
	return rc;
}

/*
 * Does sig (bytes) verify msg under key with RSASSA-PKCS1-v1_5 SHA-256?
 */
static int
verify_signature(EVP_PKEY *key, const unsigned char *sig, size_t siglen,
				 const unsigned char *msg, size_t msglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int			ok = 0;

	if (md &&
		EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) == 1 &&
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0)
		ok = EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/*
 * Decodes the hex signature of a .sig sidecar (surrounding whitespace
 * allowed) into a malloc'd byte string.  Returns 0, 1 if it is not hex,
 * -1 when out of memory.
 */
static int
decode_signature(const Buf *text, unsigned char **sig, size_t *siglen)
{
	const char *s = (const char *) text->data;
	size_t		n = text->len;
	size_t		i;

	while (n > 0 && is_space((unsigned char) *s))
	{
		s++;
		n--;
	}
	while (n > 0 && is_space((unsigned char) s[n - 1]))
		n--;
	if (n == 0 || n % 2 != 0)
		return 1;
	if (!(*sig = malloc(n / 2)))
		return -1;
	for (i = 0; i < n / 2; i++)
	{
		int			hi = tv_hex_value((unsigned char) s[2 * i]);
		int			lo = tv_hex_value((unsigned char) s[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			free(*sig);
			*sig = NULL;
			return 1;
		}
		(*sig)[i] = (unsigned char) (hi * 16 + lo);
	}
	*siglen = n / 2;
	return 0;
}

/*
 * Checks the signature of a digest read from path: the sidecars must say
 * SHA256withRSA and hold a hex signature that one of the keys with this
 * fingerprint verifies over the signing string.  Returns 1 verified,
 * 0 not, -1 out of memory.
 */
static int
check_signature(Ctx *c, const char *path, const char *fingerprint,
				const Buf *signing)
{
	char	   *meta_path = tv_sprintf("%s.meta.json", path);
	char	   *sig_path = tv_sprintf("%s.sig", path);
	Buf			meta = {0};
	Buf			sigtext = {0};
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	JsonValue  *doc = NULL;
	int			rc = -1;
	int			r;
	int			oom;
	const char *alg;
	int			i;

	if (!meta_path || !sig_path)
		goto done;
	rc = 0;
	r = read_small_file(meta_path, &meta);
	if (r != 0)
	{
		rc = r < 0 ? -1 : 0;
		goto done;
	}
	doc = json_parse(meta.data, meta.len, &oom);
	if (!doc)
	{
		rc = oom ? -1 : 0;
		goto done;
	}
	alg = json_get_string(doc, "signature-algorithm");
	if (!alg || strcmp(alg, SIGNATURE_ALGORITHM) != 0)
		goto done;
	r = read_small_file(sig_path, &sigtext);
	if (r != 0)
	{
		rc = r < 0 ? -1 : 0;
		goto done;
	}
	r = decode_signature(&sigtext, &sig, &siglen);
	if (r != 0)
	{
		rc = r < 0 ? -1 : 0;
		goto done;
	}
	for (i = 0; i < c->nkeys && rc == 0; i++)
		if (hex_equal(c->keys[i].fingerprint, fingerprint))
			rc = verify_signature(c->keys[i].pkey, sig, siglen,
								  signing->data, signing->len);

done:
	free(meta_path);
	free(sig_path);
	free(meta.data);
	free(sigtext.data);
	free(sig);
	json_free(doc);
	return rc;
}


/* ---------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------
 */

/*
 * Appends a result row and counts it.  Returns 0 or -1 when out of memory.
 */
static int
add_result(Ctx *c, int is_digest, const char *bucket, const char *key,
		   const char *status)
{
	TvReport   *rep = c->rep;
	TvResult   *r;
	int			valid = strcmp(status, ST_VALID) == 0;
	TvResult   *res = array_grow(rep->results, rep->nresults, &c->rescap,
								 sizeof(TvResult), 64);

	if (!res)
		return -1;
	rep->results = res;
	r = &rep->results[rep->nresults];
	r->file_type = tv_strdup(is_digest ? "digest" : "log");
	r->bucket = tv_strdup(bucket);
	r->key = tv_strdup(key);
	r->status = tv_strdup(status);
	rep->nresults++;			/* counted even if partly NULL: freed later */
	if (!r->file_type || !r->bucket || !r->key || !r->status)
		return -1;
	if (is_digest)
	{
		if (valid)
			rep->digests_valid++;
		else
			rep->digests_invalid++;
	}
	else
	{
		if (valid)
			rep->logs_valid++;
		else
			rep->logs_invalid++;
	}
	return 0;
}

/*
 * Adds a row for a file that exists but could not be read.
 */
static int
add_unreadable(Ctx *c, int is_digest, const char *bucket, const char *key,
			   int err_no)
{
	char	   *status = tv_sprintf("%s%s", ST_UNREADABLE, strerror(err_no));
	int			rc;

	if (!status)
		return -1;
	rc = add_result(c, is_digest, bucket, key, status);
	free(status);
	return rc;
}


/* ---------------------------------------------------------------------
 * Checking log files and digests
 * ---------------------------------------------------------------------
 */

/*
 * Checks one logFiles[] entry of a verified digest and adds its row.
 * Returns 0 or -1 when out of memory.
 */
static int
check_log(Ctx *c, const JsonValue *entry)
{
	const char *bucket = json_get_string(entry, "s3Bucket");
	const char *key = json_get_string(entry, "s3Object");
	const char *hash = json_get_string(entry, "hashValue");
	char	   *path;
	EVP_MD_CTX *md;
	GzResult	gr;
	int			err_no = 0;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];

	if (strcmp(bucket, c->req->bucket) != 0 || !key_is_safe(key))
		return add_result(c, 0, bucket, key, ST_NOT_FOUND);
	if (!(path = path_join(c->req->bucket_dir, key)))
		return -1;
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
	{
		EVP_MD_CTX_free(md);
		free(path);
		return fail(c, "could not initialize SHA-256");
	}
	gr = gunzip_file(path, sink_digest, md, &err_no);
	free(path);
	if (gr == GZ_OK && (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32))
		gr = GZ_NOMEM;
	EVP_MD_CTX_free(md);
	switch (gr)
	{
		case GZ_OK:
			to_hex(digest, dlen, hex);
			return add_result(c, 0, bucket, key,
							  hex_equal(hex, hash) ? ST_VALID : ST_HASH);
		case GZ_NOT_FOUND:
			return add_result(c, 0, bucket, key, ST_NOT_FOUND);
		case GZ_READ_ERROR:
			return add_unreadable(c, 0, bucket, key, err_no);
		case GZ_FORMAT:
		case GZ_TOO_BIG:
			return add_result(c, 0, bucket, key, ST_FORMAT);
		case GZ_NOMEM:
			break;
	}
	return -1;
}

/*
 * Does a parsed digest have every field the checks need, with the right
 * types?  Required: digestPublicKeyFingerprint, digestS3Bucket,
 * digestS3Object, digestStartTime and digestEndTime (strings, the times as
 * YYYY-MM-DDTHH:MM:SSZ), previousDigestSignature (string or null), logFiles
 * (array of objects with string s3Bucket, s3Object, hashValue); the
 * previous-digest pointer is both bucket and object, or neither.
 */
static int
digest_well_formed(const JsonValue *doc, long long *start, long long *end)
{
	const JsonValue *prevsig = json_get(doc, "previousDigestSignature");
	const JsonValue *logs = json_get(doc, "logFiles");
	const JsonValue *e;
	const char *s;
	int			has_bucket;
	int			has_object;

	if (!doc || doc->type != JSON_OBJECT)
		return 0;
	if (!json_get_string(doc, "digestPublicKeyFingerprint") ||
		!json_get_string(doc, "digestS3Bucket") ||
		!json_get_string(doc, "digestS3Object"))
		return 0;
	if (!(s = json_get_string(doc, "digestStartTime")) || !parse_iso_time(s, start))
		return 0;
	if (!(s = json_get_string(doc, "digestEndTime")) || !parse_iso_time(s, end))
		return 0;
	if (!prevsig || (prevsig->type != JSON_STRING && prevsig->type != JSON_NULL))
		return 0;
	if (!json_nullable_string(doc, "previousDigestS3Bucket") ||
		!json_nullable_string(doc, "previousDigestS3Object") ||
		!json_nullable_string(doc, "previousDigestHashValue"))
		return 0;
	has_bucket = json_get_string(doc, "previousDigestS3Bucket") != NULL;
	has_object = json_get_string(doc, "previousDigestS3Object") != NULL;
	if (has_bucket != has_object)
		return 0;
	if (!logs || logs->type != JSON_ARRAY)
		return 0;
	for (e = logs->child; e; e = e->next)
		if (e->type != JSON_OBJECT ||
			!json_get_string(e, "s3Bucket") ||
			!json_get_string(e, "s3Object") ||
			!json_get_string(e, "hashValue"))
			return 0;
	return 1;
}

/*
 * Checks the digest at bucket/key, adds its row and, if it verified, the
 * rows of its log files.  has_successor: a digest pointed at this one,
 * recording succ_hash (NULL if it recorded none) as its SHA-256.  Fills
 * *o for the traversal.  Returns 0 or -1 (c->error, or out of memory).
 */
static int
check_digest(Ctx *c, const char *bucket, const char *key,
			 int has_successor, const char *succ_hash, DigestOutcome *o)
{
	const char *status = ST_VALID;
	char	   *path = NULL;
	Buf			raw = {0};
	Buf			signing = {0};
	JsonValue  *doc = NULL;
	GzResult	gr;
	int			err_no = 0;
	int			oom = 0;
	int			rc = -1;
	unsigned char sha[EVP_MAX_MD_SIZE];
	unsigned int shalen = 0;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	long long	start = 0;
	long long	end = 0;
	const JsonValue *prevsig;
	const JsonValue *e;
	int			r;

	memset(o, 0, sizeof(*o));
	if (strcmp(bucket, c->req->bucket) != 0 || !key_is_safe(key))
	{
		rc = add_result(c, 1, bucket, key, ST_NOT_FOUND);
		goto done;
	}
	if (!(path = path_join(c->req->bucket_dir, key)))
		goto done;

	/* read and inflate */
	raw.limit = TV_DIGEST_MAX;
	gr = gunzip_file(path, sink_buf, &raw, &err_no);
	if (gr == GZ_NOMEM)
		goto done;
	if (gr == GZ_READ_ERROR)
	{
		rc = add_unreadable(c, 1, bucket, key, err_no);
		goto done;
	}
	if (gr == GZ_NOT_FOUND)
		status = ST_NOT_FOUND;
	else if (gr != GZ_OK)
		status = ST_FORMAT;
	else if (buf_append(&raw, "", 0) != 0)	/* an empty digest still has a
											 * buffer */
		goto done;
	if (strcmp(status, ST_VALID) != 0)
	{
		rc = add_result(c, 1, bucket, key, status);
		goto done;
	}
	if (EVP_Digest(raw.data, raw.len, sha, &shalen, EVP_sha256(), NULL) != 1)
	{
		rc = fail(c, "could not compute SHA-256");
		goto done;
	}
	to_hex(sha, shalen, hex);

	/* parse */
	doc = json_parse(raw.data, raw.len, &oom);
	if (oom)
		goto done;
	if (!doc || !digest_well_formed(doc, &start, &end))
		status = ST_FORMAT;
	else if (strcmp(json_get_string(doc, "digestS3Bucket"), bucket) != 0 ||
			 strcmp(json_get_string(doc, "digestS3Object"), key) != 0)
		status = ST_MOVED;
	else
	{
		const char *fp = json_get_string(doc, "digestPublicKeyFingerprint");
		int			i;
		int			known = 0;

		for (i = 0; i < c->nkeys; i++)
			if (hex_equal(c->keys[i].fingerprint, fp))
				known = 1;
		if (!known)
			status = ST_NO_KEY;
		else
		{
			/* endTime \n bucket/key \n sha256hex \n prevSig|null */
			prevsig = json_get(doc, "previousDigestSignature");
			if (buf_puts(&signing, json_get_string(doc, "digestEndTime")) != 0 ||
				buf_puts(&signing, "\n") != 0 ||
				buf_puts(&signing, bucket) != 0 ||
				buf_puts(&signing, "/") != 0 ||
				buf_puts(&signing, key) != 0 ||
				buf_puts(&signing, "\n") != 0 ||
				buf_puts(&signing, hex) != 0 ||
				buf_puts(&signing, "\n") != 0 ||
				buf_puts(&signing, prevsig->type == JSON_STRING ?
						 prevsig->str : "null") != 0)
				goto done;
			r = check_signature(c, path, fp, &signing);
			if (r < 0)
				goto done;
			if (r == 0)
				status = ST_SIGNATURE;
			else
			{
				o->verified = 1;
				if (has_successor && (!succ_hash || !hex_equal(succ_hash, hex)))
					status = ST_HASH;
			}
		}
	}
	if (add_result(c, 1, bucket, key, status) != 0)
		goto done;

	if (o->verified)
	{
		const char *pb = json_get_string(doc, "previousDigestS3Bucket");
		const char *po = json_get_string(doc, "previousDigestS3Object");
		const char *ph = json_get_string(doc, "previousDigestHashValue");

		if (!c->have_times || start < c->rep->oldest_start)
			c->rep->oldest_start = start;
		if (!c->have_times || end > c->rep->newest_end)
			c->rep->newest_end = end;
		c->have_times = 1;
		o->start_time = start;
		if (pb && po)
		{
			if (!(o->prev_bucket = tv_strdup(pb)) ||
				!(o->prev_object = tv_strdup(po)) ||
				(ph && !(o->prev_hash = tv_strdup(ph))))
				goto done;
		}
		for (e = json_get(doc, "logFiles")->child; e; e = e->next)
			if (check_log(c, e) != 0)
				goto done;
	}
	rc = 0;

done:
	free(path);
	free(raw.data);
	free(signing.data);
	json_free(doc);
	return rc;
}

/*
 * Frees the strings of a digest outcome.
 */
static void
outcome_free(DigestOutcome *o)
{
	free(o->prev_bucket);
	free(o->prev_object);
	free(o->prev_hash);
	memset(o, 0, sizeof(*o));
}

/*
 * Checks the digests of one account and region, listed newest first:
 * from each one not yet checked, follows the chain of previous pointers.
 * Returns 0 or -1.
 */
static int
traverse(Ctx *c, const EntryList *entries)
{
	int			i;

	for (i = 0; i < entries->n; i++)
	{
		char	   *bucket;
		char	   *key;
		char	   *succ_hash = NULL;
		int			has_successor = 0;

		if (set_contains(&c->checked, entries->items[i].key))
			continue;
		bucket = tv_strdup(c->req->bucket);
		key = tv_strdup(entries->items[i].key);
		if (!bucket || !key)
		{
			free(bucket);
			free(key);
			return -1;
		}
		while (key && !set_contains(&c->checked, key))
		{
			DigestOutcome o;
			int			rc;

			memset(&o, 0, sizeof(o));
			rc = set_add(&c->checked, key);
			if (rc == 0)
				rc = check_digest(c, bucket, key, has_successor, succ_hash, &o);
			free(bucket);
			free(key);
			free(succ_hash);
			bucket = key = succ_hash = NULL;
			if (rc != 0)
			{
				outcome_free(&o);
				return -1;
			}
			if (!o.verified || !o.prev_object ||
				o.start_time < c->req->start_time)
			{
				outcome_free(&o);
				break;
			}
			bucket = o.prev_bucket;
			key = o.prev_object;
			succ_hash = o.prev_hash;
			has_successor = 1;
		}
		free(bucket);
		free(key);
		free(succ_hash);
	}
	return 0;
}


/* ---------------------------------------------------------------------
 * Listing digests
 * ---------------------------------------------------------------------
 */

/*
 * Does a file name match this trail's digest name,
 * <account>_CloudTrail-Digest_<region>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>.json.gz,
 * with <home> a region name ([A-Za-z0-9-]+)?  Sets *ts from the name.
 */
static int
match_digest_name(const char *name, const char *account, const char *region,
				  const char *trail, const char *home_region, long long *ts)
{
	const char *parts[] = {account, "_CloudTrail-Digest_", region, "_", trail, "_"};
	const char *p = name;
	size_t		i;
	size_t		n;
	const char *home;
	const char *stamp;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
	{
		size_t		len = strlen(parts[i]);

		if (strncmp(p, parts[i], len) != 0)
			return 0;
		p += len;
	}
	n = strlen(p);
	/* at least "x_" + 16-char timestamp + ".json.gz" */
	if (n < 2 + 16 + 8 || strcmp(p + n - 8, ".json.gz") != 0 ||
		p[n - 25] != '_')
		return 0;
	stamp = p + n - 24;

	/*
	 * The home region is the rest.  A known one must be exactly that (a
	 * database name may contain '_'); otherwise it must look like an AWS
	 * region, letters, digits and '-', so that trail "a" never takes the
	 * digests of trail "a_b" for its own.
	 */
	if (home_region != NULL)
	{
		if (strlen(home_region) != (size_t) (n - 25) ||
			strncmp(p, home_region, n - 25) != 0)
			return 0;
	}
	else
		for (home = p; home < p + n - 25; home++)
			if (!((*home >= 'a' && *home <= 'z') || (*home >= 'A' && *home <= 'Z') ||
				  (*home >= '0' && *home <= '9') || *home == '-'))
				return 0;
	return parse_name_time(stamp, ts);
}

/*
 * Is the name timestamp within the listing window?
 */
static int
in_window(const Ctx *c, long long ts)
{
	return ts >= c->req->start_time && ts <= c->window_end;
}

/*
 * Adds to out the digests of the trail in the directory whose key (path
 * relative to the bucket directory) is rel and whose name timestamp is in
 * the window.  levels is how many levels of date directories (<Y>/<M>/<D>,
 * names of digits only) stand between rel and the digest files; each is
 * walked.  Returns 0 or -1.
 */
static int
list_digest_tree(Ctx *c, const char *account, const char *region,
				 const char *rel, int levels, EntryList *out)
{
	char	   *dir = path_join(c->req->bucket_dir, rel);
	NameList	names = {0};
	int			rc;
	int			i;

	if (!dir)
		return -1;
	rc = list_dir(c, dir, levels > 0, &names);
	for (i = 0; i < names.n && rc == 0; i++)
	{
		const char *name = names.items[i];
		long long	ts = 0;
		char	   *key;
		char	   *path;

		if (levels > 0 ? !is_digits(name) :
			(!match_digest_name(name, account, region, c->req->trail_name,
								c->req->home_region, &ts) || !in_window(c, ts)))
			continue;
		key = path_join(rel, name);
		if (!key)
			rc = -1;
		else if (levels > 0)
			rc = list_digest_tree(c, account, region, key, levels - 1, out);
		else if (!(path = path_join(c->req->bucket_dir, key)))
			rc = -1;
		else
		{
			if (is_regular_file(path))
				rc = entries_add(out, key, ts);
			free(path);
		}
		free(key);
	}
	names_free(&names);
	free(dir);
	return rc;
}

/*
 * Lists the digests of the trail under
 * <prefix>AWSLogs/<account>/CloudTrail-Digest/<region>/<Y>/<M>/<D>/ whose
 * name timestamp is in the window.  Returns 0 or -1.
 */
static int
list_region(Ctx *c, const char *account, const char *region, EntryList *out)
{
	char	   *base = tv_sprintf("%sAWSLogs/%s/CloudTrail-Digest/%s",
								  c->prefix, account, region);
	int			rc;

	if (!base)
		return -1;
	rc = list_digest_tree(c, account, region, base, 3, out);
	free(base);
	return rc;
}

/*
 * Splits an expected digest key into account and region if it is a digest
 * key of this trail under the prefix.  Returns 1 with malloc'd *account,
 * *region and *ts set; 0 if it is not such a key; -1 when out of memory.
 */
static int
parse_expected_key(const Ctx *c, const char *key, char **account,
				   char **region, long long *ts)
{
	size_t		plen = strlen(c->prefix);
	const char *comp[8];
	size_t		clen[8];
	const char *p;
	int			n = 0;
	char	   *name = NULL;
	int			i;

	*account = *region = NULL;
	if (strncmp(key, c->prefix, plen) != 0 || strncmp(key + plen, "AWSLogs/", 8) != 0)
		return 0;
	/* <account>/CloudTrail-Digest/<region>/<Y>/<M>/<D>/<name> */
	p = key + plen + 8;
	for (;;)
	{
		const char *slash = strchr(p, '/');

		if (n == 7)
			return 0;
		comp[n] = p;
		clen[n] = slash ? (size_t) (slash - p) : strlen(p);
		if (clen[n] == 0)
			return 0;
		n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (n != 7 || clen[1] != 17 || strncmp(comp[1], "CloudTrail-Digest", 17) != 0)
		return 0;
	for (i = 3; i < 6; i++)
	{
		size_t		j;

		for (j = 0; j < clen[i]; j++)
			if (comp[i][j] < '0' || comp[i][j] > '9')
				return 0;
	}
	*account = malloc(clen[0] + 1);
	*region = malloc(clen[2] + 1);
	if (!*account || !*region)
		goto oom;
	memcpy(*account, comp[0], clen[0]);
	(*account)[clen[0]] = '\0';
	memcpy(*region, comp[2], clen[2]);
	(*region)[clen[2]] = '\0';
	if (!is_plain_name(*account) || !is_plain_name(*region))
		goto no;
	name = tv_strdup(comp[6]);
	if (!name)
		goto oom;
	if (!match_digest_name(name, *account, *region, c->req->trail_name,
						   c->req->home_region, ts))
		goto no;
	free(name);
	return 1;

no:
	free(name);
	free(*account);
	free(*region);
	*account = *region = NULL;
	return 0;
oom:
	free(*account);
	free(*region);
	*account = *region = NULL;
	return -1;
}

/*
 * Validates one account: every wanted region found on disk or named by an
 * expected digest.  Returns 0 or -1.
 */
static int
validate_account(Ctx *c, const char *account)
{
	NameList	regions = {0};
	int			rc = 0;
	int			i;
	int			ri;

	if (c->req->nregions > 0)
	{
		for (i = 0; i < c->req->nregions && rc == 0; i++)
			rc = names_add(&regions, c->req->regions[i]);
	}
	else
	{
		char	   *dir = tv_sprintf("%s/%sAWSLogs/%s/CloudTrail-Digest",
									 c->req->bucket_dir, c->prefix, account);

		rc = dir ? list_dir(c, dir, 1, &regions) : -1;
		free(dir);
		for (i = 0; i < c->nexpected && rc == 0; i++)
			if (c->expected[i].account &&
				strcmp(c->expected[i].account, account) == 0)
				rc = names_add(&regions, c->expected[i].region);
		if (regions.n > 1)
			qsort(regions.items, (size_t) regions.n, sizeof(char *), cmp_names);
	}

	for (ri = 0; ri < regions.n && rc == 0; ri++)
	{
		EntryList	entries = {0};

		rc = list_region(c, account, regions.items[ri], &entries);
		for (i = 0; i < c->nexpected && rc == 0; i++)
		{
			const ExpectedKey *e = &c->expected[i];

			if (e->account && strcmp(e->account, account) == 0 &&
				strcmp(e->region, regions.items[ri]) == 0 &&
				in_window(c, e->ts))
				rc = entries_add(&entries, e->key, e->ts);
		}
		if (rc == 0)
		{
			entries_sort(&entries);
			rc = traverse(c, &entries);
		}
		entries_free(&entries);
	}
	names_free(&regions);
	return rc;
}

/*
 * Reports expected digests that do not even look like this trail's digest
 * keys and are not on disk.  Returns 0 or -1.
 */
static int
report_odd_expected(Ctx *c)
{
	int			i;

	for (i = 0; i < c->nexpected; i++)
	{
		const char *key = c->expected[i].key;
		int			exists = 0;

		if (c->expected[i].account)
			continue;
		if (key_is_safe(key))
		{
			char	   *path = path_join(c->req->bucket_dir, key);

			if (!path)
				return -1;
			exists = is_regular_file(path);
			free(path);
		}
		if (!exists && !set_contains(&c->checked, key))
		{
			if (set_add(&c->checked, key) != 0 ||
				add_result(c, 1, c->req->bucket, key, ST_NOT_FOUND) != 0)
				return -1;
		}
	}
	return 0;
}


/* ---------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------
 */

/*
 * Checks the request; returns 0 or -1 (reason in c->error).
 */
static int
check_request(Ctx *c, const TvRequest *req)
{
	int			i;
	struct stat st;

	if (!req->bucket_dir || !*req->bucket_dir)
		return fail(c, "no bucket directory given");
	if (!is_plain_name(req->bucket))
		return fail(c, "invalid bucket name \"%s\"", req->bucket ? req->bucket : "");
	if (!is_plain_name(req->trail_name))
		return fail(c, "invalid trail name \"%s\"",
					req->trail_name ? req->trail_name : "");
	if (req->account && !is_plain_name(req->account))
		return fail(c, "invalid account id \"%s\"", req->account);
	if (req->nregions < 0 || (req->nregions > 0 && !req->regions))
		return fail(c, "invalid region list");
	for (i = 0; i < req->nregions; i++)
		if (!is_plain_name(req->regions[i]))
			return fail(c, "invalid region name \"%s\"",
						req->regions[i] ? req->regions[i] : "");
	if (req->nkeys < 0 || (req->nkeys > 0 && !req->keys))
		return fail(c, "invalid public key list");
	if (req->nexpected < 0 || (req->nexpected > 0 && !req->expected_digests))
		return fail(c, "invalid expected digest list");
	for (i = 0; i < req->nexpected; i++)
		if (!req->expected_digests[i])
			return fail(c, "expected digest %d is NULL", i + 1);
	if (req->start_time > req->end_time)
		return fail(c, "start time is after end time");
	if (req->prefix && *req->prefix)
	{
		size_t		n = strlen(req->prefix);

		if (!key_is_safe(req->prefix))
			return fail(c, "invalid prefix \"%s\"", req->prefix);
		while (n > 0 && req->prefix[n - 1] == '/')
			n--;
		if (n == 0)
			return fail(c, "invalid prefix \"%s\"", req->prefix);
		c->prefix = tv_sprintf("%.*s/", (int) n, req->prefix);
	}
	else
		c->prefix = tv_strdup("");
	if (!c->prefix)
		return -1;
	if (stat(req->bucket_dir, &st) != 0)
		return fail(c, "could not open bucket directory \"%s\": %s",
					req->bucket_dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(c, "bucket directory \"%s\" is not a directory",
					req->bucket_dir);
	c->window_end = req->end_time > LLONG_MAX - TV_END_SLACK ?
		LLONG_MAX : req->end_time + TV_END_SLACK;
	return 0;
}

/*
 * Decodes the request's public keys and computes their fingerprints.
 * Returns 0 or -1.
 */
static int
load_keys(Ctx *c)
{
	int			i;

	if (c->req->nkeys == 0)
		return 0;
	c->keys = calloc((size_t) c->req->nkeys, sizeof(LoadedKey));
	if (!c->keys)
		return -1;
	for (i = 0; i < c->req->nkeys; i++)
	{
		c->keys[i].pkey = load_der_key(c->req->keys[i].der, c->req->keys[i].der_len);
		c->nkeys = i + 1;
		if (!c->keys[i].pkey)
			return fail(c, "public key %d is not an RSA public key in DER "
						"(PKCS#1 RSAPublicKey or SubjectPublicKeyInfo)", i + 1);
		if (pkey_fingerprint(c->keys[i].pkey, c->keys[i].fingerprint) != 0)
			return fail(c, "could not compute the fingerprint of public key %d",
						i + 1);
	}
	return 0;
}

/*
 * Splits the request's expected digest keys (see parse_expected_key), once
 * for all the walks over them.  Returns 0 or -1 when out of memory.
 */
static int
load_expected(Ctx *c)
{
	int			i;

	if (c->req->nexpected > 0 &&
		!(c->expected = calloc((size_t) c->req->nexpected,
							   sizeof(ExpectedKey))))
		return -1;
	c->nexpected = c->req->nexpected;	/* all zeroed: safe to free */
	for (i = 0; i < c->nexpected; i++)
	{
		ExpectedKey *e = &c->expected[i];

		e->key = c->req->expected_digests[i];
		if (parse_expected_key(c, e->key, &e->account, &e->region,
							   &e->ts) < 0)
			return -1;
	}
	return 0;
}

/*
 * See log_validation.h.
 */
int
tv_validate(const TvRequest *req, TvReport *report, char **error)
{
	Ctx			c;
	NameList	accounts = {0};
	int			rc;
	int			i;

	memset(&c, 0, sizeof(c));
	if (error)
		*error = NULL;
	if (!report)
	{
		if (error)
			*error = tv_strdup("no report given");
		return -1;
	}
	memset(report, 0, sizeof(*report));
	c.req = req;
	c.rep = report;
	if (!req)
		rc = fail(&c, "no request given");
	else
		rc = check_request(&c, req);
	if (rc == 0)
		rc = load_keys(&c);
	if (rc == 0)
		rc = load_expected(&c);

	/* the accounts: the one asked for, or every one found or expected */
	if (rc == 0 && req->account)
		rc = names_add(&accounts, req->account);
	else if (rc == 0)
	{
		char	   *dir = tv_sprintf("%s/%sAWSLogs", req->bucket_dir, c.prefix);

		rc = dir ? list_dir(&c, dir, 1, &accounts) : -1;
		free(dir);
		for (i = 0; i < c.nexpected && rc == 0; i++)
			if (c.expected[i].account)
				rc = names_add(&accounts, c.expected[i].account);
		if (rc == 0 && accounts.n > 1)
			qsort(accounts.items, (size_t) accounts.n, sizeof(char *), cmp_names);
	}
	for (i = 0; i < accounts.n && rc == 0; i++)
		rc = validate_account(&c, accounts.items[i]);
	if (rc == 0)
		rc = report_odd_expected(&c);

	names_free(&accounts);
	set_free(&c.checked);
	for (i = 0; i < c.nkeys; i++)
		EVP_PKEY_free(c.keys[i].pkey);
	free(c.keys);
	for (i = 0; i < c.nexpected; i++)
	{
		free(c.expected[i].account);
		free(c.expected[i].region);
	}
	free(c.expected);
	free(c.prefix);
	if (rc != 0)
	{
		tv_report_free(report);
		if (error)
			*error = c.error ? c.error : tv_strdup("out of memory");
		else
			free(c.error);
		return -1;
	}
	free(c.error);
	return 0;
}

/*
 * See log_validation.h.
 */
void
tv_report_free(TvReport *report)
{
	int			i;

	if (!report)
		return;
	for (i = 0; i < report->nresults; i++)
	{
		free(report->results[i].file_type);
		free(report->results[i].bucket);
		free(report->results[i].key);
		free(report->results[i].status);
	}
	free(report->results);
	memset(report, 0, sizeof(*report));
}
