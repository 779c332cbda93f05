/*-------------------------------------------------------------------------
 *
 * log_validation.h
 *	  Log file integrity validation: checks a directory of CloudTrail log
 *	  files and signed digest files the way `aws cloudtrail validate-logs`
 *	  checks an S3 bucket.
 *
 * This library is plain C99 with OpenSSL (libcrypto) and zlib, and has no
 * PostgreSQL dependency: the extension calls it (trail.validate_logs) and so
 * does the offline command trail-validate (tools/trail_validate.c).  It never
 * exits or aborts; every failure is reported through return values, and all
 * memory comes from malloc and is released by tv_report_free.
 *
 * The layout validated (see cloudtrail-format.md, sections (b) and (c)):
 *
 *	<bucket_dir>/[<prefix>/]AWSLogs/<account>/CloudTrail-Digest/<region>/
 *		<YYYY>/<MM>/<DD>/<account>_CloudTrail-Digest_<region>_<trail>_
 *		<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz
 *	beside each digest <key>.sig (hex signature) and <key>.meta.json
 *	({"signature-algorithm": "SHA256withRSA"}), standing in for the S3
 *	object metadata; log files anywhere in the bucket, named by the
 *	digests' logFiles[].s3Object.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_LOG_VALIDATION_H
#define TRAIL_LOG_VALIDATION_H

#include <stddef.h>

/*
 * A public key that may have signed digests: DER bytes, either PKCS#1
 * RSAPublicKey or SubjectPublicKeyInfo.  The bytes are only read.
 */
typedef struct TvPublicKey
{
	const unsigned char *der;
	size_t		der_len;
} TvPublicKey;

/*
 * What to validate.  Names (bucket, account, trail, regions) must be
 * non-empty and free of '/'; the prefix may contain '/' but no ".."
 * component.  All strings are only read.
 */
typedef struct TvRequest
{
	const char *bucket_dir;		/* path of the bucket directory */
	const char *bucket;			/* bucket name (as written in digests) */
	const char *prefix;			/* S3 key prefix, NULL or "" for none */
	const char *account;		/* account id; NULL: every account found
								 * under AWSLogs/ */
	const char *trail_name;		/* required */
	const char *home_region;	/* the trail's home region in digest names;
								 * NULL: any */
	const char *const *regions; /* NULL/0: every region found */
	int			nregions;
	long long	start_time;		/* unix seconds; digests whose name
								 * timestamp is in [start_time, */
	long long	end_time;		/* end_time + 3600] are listed, as awscli */
	const TvPublicKey *keys;
	int			nkeys;
	const char *const *expected_digests;	/* digest keys the caller knows
											 * were delivered (may be 0);
											 * any missing on disk is
											 * reported "INVALID: not
											 * found" */
	int			nexpected;
} TvRequest;

/* One checked file; all strings are malloc'd and owned by the report. */
typedef struct TvResult
{
	char	   *file_type;		/* "digest" or "log" */
	char	   *bucket;
	char	   *key;			/* object key relative to the bucket */
	char	   *status;			/* "valid" or "INVALID: ..." */
} TvResult;

/*
 * The outcome of a validation.  results are in order: per account and
 * region (both sorted by name), digests newest first, each followed by the
 * log files it lists.  Digest keys passed as expected_digests that do not
 * even look like this trail's digest keys, and are missing, come last.
 */
typedef struct TvReport
{
	TvResult   *results;
	int			nresults;
	int			digests_valid;
	int			digests_invalid;
	int			logs_valid;
	int			logs_invalid;
	long long	oldest_start;	/* digestStartTime of the oldest, */
	long long	newest_end;		/* digestEndTime of the newest digest whose
								 * signature verified; unix seconds, 0 if
								 * none */
} TvReport;

/*
 * Validates the digests and log files selected by *req.
 *
 * Returns 0 when the validation ran: *report holds the results (possibly
 * INVALID ones; the caller frees it with tv_report_free).  Returns -1 when
 * it could not run (bad request, unusable public key, unreadable bucket
 * directory, out of memory): *report is empty and, if error is not NULL,
 * *error is a malloc'd message the caller frees.
 *
 * Statuses: "valid", "INVALID: not found", "INVALID: invalid format",
 * "INVALID: has been moved from its original location", "INVALID: public
 * key not found", "INVALID: signature verification failed", "INVALID: hash
 * value doesn't match", and "INVALID: could not read file: <reason>" for a
 * file that exists but cannot be read.
 */
extern int	tv_validate(const TvRequest *req, TvReport *report, char **error);

/* Frees everything in *report and leaves it empty; NULL is allowed. */
extern void tv_report_free(TvReport *report);

/*
 * Computes a public key's fingerprint: lowercase hex MD5 of its PKCS#1
 * RSAPublicKey DER, whichever of the two DER forms it is given in.
 * Returns 0 and fills out (32 hex digits and a NUL), or -1 if der is not an
 * RSA public key in either form.
 */
extern int	tv_key_fingerprint(const unsigned char *der, size_t der_len,
							   char out[33]);

/*
 * Parses a UTC time, as the trail-validate options take it:
 * YYYY-MM-DDTHH:MM:SSZ, the same without the Z, or YYYY-MM-DD (midnight).
 * The date is proleptic Gregorian and must exist; hours are 00-23, minutes
 * and seconds 00-59.  Returns 0 and sets *out (unix seconds), or -1 if s is
 * not such a time.  Times inside digests are parsed the same way, but only
 * in the first form.
 */
extern int	tv_parse_time(const char *s, long long *out);

/*
 * Formats unix seconds t as YYYY-MM-DDTHH:MM:SSZ (UTC) into buf, of size
 * bytes, or as the plain number if the time cannot be formatted so or does
 * not fit; 32 bytes are always enough.  Returns buf.
 */
extern const char *tv_format_time(long long t, char *buf, size_t size);

/*
 * The value of a hex digit, or -1; and of the 4 hex digits of a JSON \u
 * escape at p (before end), or -1 if they are not 4 hex digits.  Shared
 * with the import's JSON parser.
 */
extern int	tv_hex_value(int ch);
extern long tv_json_hex4(const unsigned char *p, const unsigned char *end);

#endif							/* TRAIL_LOG_VALIDATION_H */
