/*-------------------------------------------------------------------------
 *
 * trail_validate.c
 *	  trail-validate: offline log file integrity validation, for auditors
 *	  who have only the exported files and a public key.
 *
 *	  trail-validate --trail NAME --public-key FILE [--public-key FILE ...]
 *		  [--prefix P] [--account ID] [--region R ...] [--start-time T]
 *		  [--end-time T] [--bucket NAME] [--expected FILE] [--verbose]
 *		  BUCKET_DIR
 *
 * It does what `aws cloudtrail validate-logs` does against S3, over a
 * directory laid out like trail's bucket (see src/log_validation.h): lists
 * the trail's digests, verifies their signatures and chain, and checks the
 * SHA-256 of every log file they list.  The output follows awscli's: one
 * line per INVALID file (every file with --verbose), then a summary.
 *
 * Design notes:
 *
 *	- All the checking is in src/log_validation.c, shared with the
 *	  extension, and so are the parsing and formatting of times
 *	  (tv_parse_time, tv_format_time); this file is options, key files and
 *	  output only.
 *	- Public key files may be PEM ("RSA PUBLIC KEY" or "PUBLIC KEY", several
 *	  blocks allowed) or DER (PKCS#1 or SubjectPublicKeyInfo).
 *	- The bucket name (which digests record) is the last component of
 *	  BUCKET_DIR unless --bucket gives it.
 *	- Exit status: 0 when at least one digest was found and everything is
 *	  valid; 1 when something is INVALID or no digest was found; 2 on a
 *	  usage error or when the validation could not run.
 *
 *-------------------------------------------------------------------------
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "log_validation.h"

#define PROGNAME		"trail-validate"
/* largest key file or expected-digest list read */
#define MAX_INPUT_FILE	(16 * 1024 * 1024)

#define EXIT_VALID		0
#define EXIT_INVALID	1
#define EXIT_USAGE		2

/* a growable array of pointers */
typedef struct PtrList
{
	void	  **items;
	int			n;
	int			cap;
} PtrList;

/*
 * Prints the usage text to out: the synopsis, and with full the option
 * descriptions too.
 */
static void
usage(FILE *out, int full)
{
	fprintf(out,
			"Usage: " PROGNAME " --trail NAME --public-key FILE [--public-key FILE ...]\n"
			"         [--prefix P] [--account ID] [--region R ...] [--home-region R]\n"
			"         [--start-time T] [--end-time T] [--bucket NAME]\n"
			"         [--expected FILE] [--verbose] BUCKET_DIR\n");
	if (!full)
	{
		fprintf(out, "Try \"" PROGNAME " --help\" for more information.\n");
		return;
	}
	fprintf(out,
			"\n"
			"Validates CloudTrail log files and signed digest files exported by trail,\n"
			"the way `aws cloudtrail validate-logs` validates an S3 bucket.\n"
			"\n"
			"Options:\n"
			"  -t, --trail NAME        trail name (required)\n"
			"  -k, --public-key FILE   public key, PEM or DER, PKCS#1 or SubjectPublicKeyInfo\n"
			"                          (required; repeat for several keys)\n"
			"  -p, --prefix P          S3 key prefix of the trail (default: none)\n"
			"  -a, --account ID        account id (default: every account found)\n"
			"  -r, --region R          region to validate (repeatable; default: every one found)\n"
			"      --home-region R     the trail's home region (database), as in digest names;\n"
			"                          needed when it has characters other than letters,\n"
			"                          digits and '-' (default: any such name)\n"
			"  -s, --start-time T      start of the range, UTC: YYYY-MM-DDTHH:MM:SSZ or\n"
			"                          YYYY-MM-DD (default: 1970-01-01T00:00:00Z)\n"
			"  -e, --end-time T        end of the range (default: now)\n"
			"  -b, --bucket NAME       bucket name recorded in the digests (default: the\n"
			"                          last component of BUCKET_DIR)\n"
			"  -x, --expected FILE     digest keys known to have been delivered, one a line;\n"
			"                          any that is missing is reported INVALID: not found\n"
			"  -v, --verbose           print every file checked, not only INVALID ones\n"
			"  -h, --help              print this help and exit\n"
			"\n"
			"Exit status: 0 all valid, 1 something INVALID or no digest found,\n"
			"2 usage error or validation could not run.\n");
}

/*
 * Prints an error message (like printf) to stderr, prefixed with the
 * program name.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
error_msg(const char *fmt,...)
{
	va_list		ap;

	fputs(PROGNAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Appends p to a list; exits on out of memory (this is the command, not
 * the library).
 */
static void
list_add(PtrList *l, void *p)
{
	if (l->n == l->cap)
	{
		int			cap = l->cap ? l->cap * 2 : 8;
		void	  **items = realloc(l->items, sizeof(void *) * (size_t) cap);

		if (!items)
		{
			error_msg("out of memory");
			exit(EXIT_USAGE);
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = p;
}

/*
 * Reads a whole file (at most MAX_INPUT_FILE bytes) into a malloc'd,
 * NUL-terminated buffer.  Returns NULL with a message printed on failure.
 */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t		n = 0;
	size_t		cap = 0;

	if (!f)
	{
		error_msg("could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	for (;;)
	{
		size_t		got;

		if (n + 4096 + 1 > cap)
		{
			unsigned char *d;

			cap = cap ? cap * 2 : 8192;
			if (cap > MAX_INPUT_FILE + 8192)
			{
				error_msg("file \"%s\" is too large", path);
				goto fail;
			}
			if (!(d = realloc(data, cap)))
			{
				error_msg("out of memory");
				goto fail;
			}
			data = d;
		}
		got = fread(data + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
		{
			if (ferror(f))
			{
				error_msg("could not read \"%s\": %s", path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	data[n] = '\0';
	*len = n;
	return data;

fail:
	free(data);
	fclose(f);
	return NULL;
}

/*
 * Loads the public keys of a key file into keys (TvPublicKey each, DER
 * malloc'd): every PEM public key block, or the whole file as DER.
 * Returns 0, or -1 with a message printed.
 */
static int
load_key_file(const char *path, PtrList *keys)
{
	size_t		len;
	unsigned char *data = read_file(path, &len);
	char		fp[33];

	if (!data)
		return -1;
	if (strstr((const char *) data, "-----BEGIN ") != NULL)
	{
		BIO		   *bio = BIO_new_mem_buf(data, (int) len);
		int			found = 0;

		if (!bio)
		{
			error_msg("out of memory");
			free(data);
			return -1;
		}
		for (;;)
		{
			char	   *name = NULL;
			char	   *header = NULL;
			unsigned char *der = NULL;
			long		derlen = 0;
			TvPublicKey *k;

			if (PEM_read_bio(bio, &name, &header, &der, &derlen) != 1)
				break;
			if (strcmp(name, "PUBLIC KEY") != 0 && strcmp(name, "RSA PUBLIC KEY") != 0)
			{
				error_msg("\"%s\": a PEM \"%s\" block is not a public key", path, name);
				OPENSSL_free(name);
				OPENSSL_free(header);
				OPENSSL_free(der);
				found = -1;
				break;
			}
			k = malloc(sizeof(TvPublicKey));
			if (!k || !(k->der = malloc((size_t) derlen)))
			{
				error_msg("out of memory");
				exit(EXIT_USAGE);
			}
			memcpy((unsigned char *) k->der, der, (size_t) derlen);
			k->der_len = (size_t) derlen;
			OPENSSL_free(name);
			OPENSSL_free(header);
			OPENSSL_free(der);
			if (tv_key_fingerprint(k->der, k->der_len, fp) != 0)
			{
				error_msg("\"%s\" does not hold an RSA public key", path);
				free((void *) k->der);
				free(k);
				found = -1;
				break;
			}
			list_add(keys, k);
			found++;
		}
		BIO_free(bio);
		ERR_clear_error();
		free(data);
		if (found == 0)
			error_msg("\"%s\" holds no PEM public key", path);
		return found > 0 ? 0 : -1;
	}
	if (tv_key_fingerprint(data, len, fp) != 0)
	{
		error_msg("\"%s\" is not an RSA public key (PEM, or DER PKCS#1 or "
				  "SubjectPublicKeyInfo)", path);
		free(data);
		return -1;
	}
	{
		TvPublicKey *k = malloc(sizeof(TvPublicKey));

		if (!k)
		{
			error_msg("out of memory");
			exit(EXIT_USAGE);
		}
		k->der = data;
		k->der_len = len;
		list_add(keys, k);
	}
	return 0;
}

/*
 * Loads a list of digest keys, one a line (blank lines ignored, spaces
 * around a key trimmed).  Returns 0, or -1 with a message printed.
 */
static int
load_expected(const char *path, PtrList *out)
{
	size_t		len;
	char	   *data = (char *) read_file(path, &len);
	char	   *line;
	char	   *next;

	if (!data)
		return -1;
	if (memchr(data, '\0', len))
	{
		error_msg("\"%s\" is not a text file", path);
		free(data);
		return -1;
	}
	for (line = data; line && *line; line = next)
	{
		char	   *end;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*line)
		{
			char	   *copy = malloc(strlen(line) + 1);

			if (!copy)
			{
				error_msg("out of memory");
				exit(EXIT_USAGE);
			}
			strcpy(copy, line);
			list_add(out, copy);
		}
	}
	free(data);
	return 0;
}

/*
 * Returns the bucket name for a bucket directory: its last path component
 * (malloc'd), or NULL if it has none usable ("/", ".", "..").
 */
static char *
bucket_name_of(const char *dir)
{
	size_t		n = strlen(dir);
	size_t		start;
	char	   *name;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	start = n;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	if (n == start || (n - start == 1 && dir[start] == '.') ||
		(n - start == 2 && dir[start] == '.' && dir[start + 1] == '.'))
		return NULL;
	if (!(name = malloc(n - start + 1)))
		return NULL;
	memcpy(name, dir + start, n - start);
	name[n - start] = '\0';
	return name;
}

/*
 * Prints awscli's ratio line ("N/M <what> files valid[, K/M <what> files
 * INVALID]") when there is anything to count.
 */
static void
print_ratio(int valid, int invalid, const char *what)
{
	int			total = valid + invalid;

	if (total == 0)
		return;
	printf("%d/%d %s files valid", valid, total, what);
	if (invalid > 0)
		printf(", %d/%d %s files INVALID", invalid, total, what);
	printf("\n");
}

/*
 * Entry point: parses options, loads keys, validates, prints, exits.
 */
int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"trail", required_argument, NULL, 't'},
		{"public-key", required_argument, NULL, 'k'},
		{"prefix", required_argument, NULL, 'p'},
		{"account", required_argument, NULL, 'a'},
		{"region", required_argument, NULL, 'r'},
		{"home-region", required_argument, NULL, 'H'},
		{"start-time", required_argument, NULL, 's'},
		{"end-time", required_argument, NULL, 'e'},
		{"bucket", required_argument, NULL, 'b'},
		{"expected", required_argument, NULL, 'x'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *trail = NULL;
	const char *prefix = NULL;
	const char *account = NULL;
	const char *home_region = NULL;
	const char *bucket_opt = NULL;
	const char *start_arg = NULL;
	const char *end_arg = NULL;
	PtrList		key_files = {0};
	PtrList		expected_files = {0};
	PtrList		regions = {0};
	PtrList		keys = {0};
	PtrList		expected = {0};
	int			verbose = 0;
	int			opt;
	int			status = EXIT_USAGE;
	int			i;
	char	   *bucket = NULL;
	TvPublicKey *keyarr = NULL;
	TvRequest	req;
	TvReport	rep;
	char	   *err = NULL;
	char		b1[40],
				b2[40];

	memset(&req, 0, sizeof(req));
	req.start_time = 0;
	req.end_time = (long long) time(NULL);

	while ((opt = getopt_long(argc, argv, "t:k:p:a:r:H:s:e:b:x:vh", options, NULL)) != -1)
	{
		switch (opt)
		{
			case 't':
				trail = optarg;
				break;
			case 'k':
				list_add(&key_files, optarg);
				break;
			case 'p':
				prefix = optarg;
				break;
			case 'a':
				account = optarg;
				break;
			case 'r':
				list_add(&regions, optarg);
				break;
			case 'H':
				home_region = optarg;
				break;
			case 's':
				start_arg = optarg;
				break;
			case 'e':
				end_arg = optarg;
				break;
			case 'b':
				bucket_opt = optarg;
				break;
			case 'x':
				list_add(&expected_files, optarg);
				break;
			case 'v':
				verbose = 1;
				break;
			case 'h':
				usage(stdout, 1);
				status = EXIT_VALID;
				goto done;
			default:
				usage(stderr, 0);
				goto done;
		}
	}
	if (argc - optind != 1)
	{
		error_msg(argc - optind == 0 ? "no bucket directory given" :
				  "exactly one bucket directory must be given");
		usage(stderr, 0);
		goto done;
	}
	if (!trail || !*trail)
	{
		error_msg("--trail is required");
		usage(stderr, 0);
		goto done;
	}
	if (key_files.n == 0)
	{
		error_msg("at least one --public-key is required");
		usage(stderr, 0);
		goto done;
	}
	if (start_arg && tv_parse_time(start_arg, &req.start_time) != 0)
	{
		error_msg("invalid --start-time \"%s\" (expected YYYY-MM-DDTHH:MM:SSZ "
				  "or YYYY-MM-DD)", start_arg);
		usage(stderr, 0);
		goto done;
	}
	if (end_arg && tv_parse_time(end_arg, &req.end_time) != 0)
	{
		error_msg("invalid --end-time \"%s\" (expected YYYY-MM-DDTHH:MM:SSZ "
				  "or YYYY-MM-DD)", end_arg);
		usage(stderr, 0);
		goto done;
	}
	if (req.start_time > req.end_time)
	{
		error_msg("--start-time must not be after --end-time");
		usage(stderr, 0);
		goto done;
	}
	if (bucket_opt)
	{
		if (!(bucket = malloc(strlen(bucket_opt) + 1)))
		{
			error_msg("out of memory");
			goto done;
		}
		strcpy(bucket, bucket_opt);
	}
	else if (!(bucket = bucket_name_of(argv[optind])))
	{
		error_msg("cannot tell the bucket name from \"%s\"; use --bucket",
				  argv[optind]);
		goto done;
	}

	for (i = 0; i < key_files.n; i++)
		if (load_key_file(key_files.items[i], &keys) != 0)
			goto done;
	for (i = 0; i < expected_files.n; i++)
		if (load_expected(expected_files.items[i], &expected) != 0)
			goto done;
	if (!(keyarr = calloc((size_t) keys.n, sizeof(TvPublicKey))))
	{
		error_msg("out of memory");
		goto done;
	}
	for (i = 0; i < keys.n; i++)
		keyarr[i] = *(TvPublicKey *) keys.items[i];

	req.bucket_dir = argv[optind];
	req.bucket = bucket;
	req.prefix = prefix;
	req.account = account;
	req.trail_name = trail;
	req.home_region = home_region;
	req.regions = (const char *const *) regions.items;
	req.nregions = regions.n;
	req.keys = keyarr;
	req.nkeys = keys.n;
	req.expected_digests = (const char *const *) expected.items;
	req.nexpected = expected.n;

	if (verbose)
		printf("Validating log files for trail %s in %s between %s and %s\n\n",
			   trail, bucket,
			   tv_format_time(req.start_time, b1, sizeof(b1)),
			   tv_format_time(req.end_time, b2, sizeof(b2)));
	if (tv_validate(&req, &rep, &err) != 0)
	{
		error_msg("%s", err ? err : "validation failed");
		free(err);
		goto done;
	}

	for (i = 0; i < rep.nresults; i++)
	{
		const TvResult *r = &rep.results[i];

		if (verbose || strcmp(r->status, "valid") != 0)
			printf("%s file\t%s/%s\t%s\n",
				   strcmp(r->file_type, "digest") == 0 ? "Digest" : "Log",
				   r->bucket, r->key, r->status);
	}
	if (rep.nresults > 0)
		printf("\n");
	printf("Results requested for %s to %s\n",
		   tv_format_time(req.start_time, b1, sizeof(b1)),
		   tv_format_time(req.end_time, b2, sizeof(b2)));
	if (rep.digests_valid + rep.digests_invalid == 0)
	{
		printf("No digest files found\n");
		status = EXIT_INVALID;
	}
	else
	{
		if (rep.newest_end == 0 && rep.oldest_start == 0)
			printf("No valid digests found in range\n");
		else
			printf("Results found for %s to %s:\n",
				   tv_format_time(rep.oldest_start, b1, sizeof(b1)),
				   tv_format_time(rep.newest_end, b2, sizeof(b2)));
		printf("\n");
		print_ratio(rep.digests_valid, rep.digests_invalid, "digest");
		print_ratio(rep.logs_valid, rep.logs_invalid, "log");
		status = (rep.digests_invalid + rep.logs_invalid) > 0 ?
			EXIT_INVALID : EXIT_VALID;
	}
	tv_report_free(&rep);
	if (fflush(stdout) != 0)
	{
		error_msg("could not write output: %s", strerror(errno));
		status = EXIT_USAGE;
	}

done:
	for (i = 0; i < keys.n; i++)
	{
		free((void *) ((TvPublicKey *) keys.items[i])->der);
		free(keys.items[i]);
	}
	for (i = 0; i < expected.n; i++)
		free(expected.items[i]);
	free(keys.items);
	free(expected.items);
	free(key_files.items);
	free(expected_files.items);
	free(regions.items);
	free(keyarr);
	free(bucket);
	return status;
}
