/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The RSA keys that sign digest files: generation, rotation, signing,
 *	  and CloudTrail's ListPublicKeys.
 *
 * Keys are cluster-wide, like CloudTrail's per-region keys: every database's
 * trails sign with the same current key.  Each key is a PEM file in
 * pg_trail/keys/ under the data directory, readable by the server's OS user
 * only, named <YYYYMMDDTHHMMSSZ>_<fingerprint>.pem after the moment it
 * became the signing key and its fingerprint (hex MD5 of the DER PKCS#1
 * public key, as CloudTrail computes it).  A key is valid from its moment
 * until the next key's; the newest signs.
 *
 * Design notes:
 *
 *	- No SQL function returns a private key; trail.list_public_keys() gives
 *	  the public halves, as DER PKCS#1 (what awscli loads).
 *	- A key file is written to a temporary name, fsynced and renamed, so a
 *	  crash never leaves half a key.  Two processes that make the first key
 *	  at once both succeed; both keys are listed and either may sign.
 *	- RSA-2048, like the keys of CloudTrail's documented signatures.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "keys.h"
#include "store.h"

PG_FUNCTION_INFO_V1(trail_list_public_keys);
PG_FUNCTION_INFO_V1(trail_rotate_public_key);

#define KEY_DIR "pg_trail/keys"
#define KEY_BITS 2048

/* One key file */
typedef struct KeyFile
{
	char		name[MAXPGPATH];
	pg_time_t	valid_from;		/* from its name */
	char		fingerprint[33];
} KeyFile;

/*
 * Parse a key file name; false if it is not one.
 */
static bool
parse_key_name(const char *name, KeyFile *k)
{
	struct tm	tm;
	int			n = 0;

	memset(&tm, 0, sizeof(tm));
	if (strlen(name) != 16 + 1 + 32 + 4 ||
		strcmp(name + 16 + 1 + 32, ".pem") != 0 ||
		sscanf(name, "%4d%2d%2dT%2d%2d%2dZ_%n", &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
		n != 17)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	k->valid_from = (pg_time_t) timegm(&tm);
	strlcpy(k->name, name, sizeof(k->name));
	memcpy(k->fingerprint, name + 17, 32);
	k->fingerprint[32] = '\0';
	return true;
}

/*
 * Compare key files by validity, oldest first.
 */
static int
key_cmp(const void *a, const void *b)
{
	const KeyFile *ka = a;
	const KeyFile *kb = b;

	if (ka->valid_from != kb->valid_from)
		return ka->valid_from < kb->valid_from ? -1 : 1;
	return strcmp(ka->fingerprint, kb->fingerprint);
}

/*
 * The key files, oldest first; *n receives their number.
 */
static KeyFile *
list_keys(int *n)
{
	DIR		   *dir;
	struct dirent *de;
	int			size = 8;
	KeyFile    *keys = palloc(sizeof(KeyFile) * size);

	*n = 0;
	dir = AllocateDir(KEY_DIR);
	if (dir == NULL && errno == ENOENT)
		return keys;
	while ((de = ReadDir(dir, KEY_DIR)) != NULL)
	{
		if (*n == size)
		{
			size *= 2;
			keys = repalloc(keys, sizeof(KeyFile) * size);
		}
		if (parse_key_name(de->d_name, &keys[*n]))
			(*n)++;
	}
	FreeDir(dir);
	qsort(keys, *n, sizeof(KeyFile), key_cmp);
	return keys;
}

/*
 * Raise an error for a failed OpenSSL call.
 */
static void
openssl_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("trail: could not %s with OpenSSL", what)));
}

/*
 * The DER PKCS#1 public key of a key pair, palloc'd; *len its length.
 */
static unsigned char *
public_der(EVP_PKEY *pkey, int *len)
{
	unsigned char *der = NULL;
	unsigned char *copy;

	*len = i2d_PublicKey(pkey, &der);
	if (*len <= 0)
		openssl_error("encode a public key");
	copy = palloc(*len);
	memcpy(copy, der, *len);
	OPENSSL_free(der);
	return copy;
}

/*
 * Hex MD5 of a DER public key: its fingerprint.
 */
static void
fingerprint_of(const unsigned char *der, int len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	unsigned int i;

	if (!EVP_Digest(der, len, md, &mdlen, EVP_md5(), NULL))
		openssl_error("hash a public key");
	for (i = 0; i < mdlen && i < 16; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[32] = '\0';
}

/*
 * Read a key file's key pair; the caller frees it with EVP_PKEY_free.
 */
static EVP_PKEY *
load_key(const KeyFile *k)
{
	char		path[MAXPGPATH];
	BIO		   *bio;
	EVP_PKEY   *pkey;

	snprintf(path, sizeof(path), "%s/%s", KEY_DIR, k->name);
	bio = BIO_new_file(path, "r");
	if (bio == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("trail: could not open signing key \"%s\"", path)));
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("trail: signing key \"%s\" is not a PEM private key", path)));
	return pkey;
}

/*
 * Make a new key pair, valid from now; returns its file's description.
 */
static KeyFile
make_key(void)
{
	EVP_PKEY   *pkey;
	BIO		   *bio;
	char		tmp[MAXPGPATH];
	char		path[MAXPGPATH];
	char		stamp[32];
	time_t		now = time(NULL);
	unsigned char *der;
	int			derlen;
	KeyFile		k;
	int			fd;

	if (MakePGDirectory("pg_trail") < 0 && errno != EEXIST)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create directory \"pg_trail\": %m")));
	if (MakePGDirectory(KEY_DIR) < 0 && errno != EEXIST)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create directory \"%s\": %m", KEY_DIR)));

	pkey = EVP_RSA_gen(KEY_BITS);
	if (pkey == NULL)
		openssl_error("generate an RSA key");
	der = public_der(pkey, &derlen);
	fingerprint_of(der, derlen, k.fingerprint);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime(&now));
	snprintf(k.name, sizeof(k.name), "%s_%s.pem", stamp, k.fingerprint);
	k.valid_from = (pg_time_t) now;

	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", KEY_DIR, k.name);
	snprintf(path, sizeof(path), "%s/%s", KEY_DIR, k.name);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		EVP_PKEY_free(pkey);
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create file \"%s\": %m", tmp)));
	}
	bio = BIO_new_fd(fd, BIO_NOCLOSE);
	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
	{
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		CloseTransientFile(fd);
		openssl_error("write a signing key");
	}
	(void) BIO_flush(bio);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (pg_fsync(fd) != 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not fsync file \"%s\": %m", tmp)));
	CloseTransientFile(fd);
	durable_rename(tmp, path, ERROR);
	return k;
}

/*
 * The current signing key's file, made first if there is none.
 */
static KeyFile
current_key(void)
{
	int			n;
	KeyFile    *keys = list_keys(&n);

	if (n == 0)
		return make_key();
	return keys[n - 1];
}

void
trail_signing_fingerprint(char fingerprint[33])
{
	KeyFile		k = current_key();

	memcpy(fingerprint, k.fingerprint, 33);
}

char *
trail_sign(const char *data, size_t len, const char *fingerprint)
{
	int			n;
	KeyFile    *keys = list_keys(&n);
	EVP_PKEY   *pkey = NULL;
	EVP_MD_CTX *ctx;
	size_t		siglen = 0;
	unsigned char *sig;
	char	   *hex;
	bool		ok;
	int			i;

	for (i = n - 1; i >= 0 && pkey == NULL; i--)
		if (strcmp(keys[i].fingerprint, fingerprint) == 0)
			pkey = load_key(&keys[i]);
	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("trail: no signing key with fingerprint %s", fingerprint)));
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
		EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) data, len) == 1;
	sig = ok ? palloc(siglen) : NULL;
	ok = ok && EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) data, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (!ok)
		openssl_error("sign a digest");

	hex = palloc(siglen * 2 + 1);
	for (i = 0; i < (int) siglen; i++)
		sprintf(hex + 2 * i, "%02x", sig[i]);
	return hex;
}

/*
 * trail.list_public_keys(start_time, end_time): keys valid at some moment
 * of the window (all of them without one).
 */
Datum
trail_list_public_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz start = PG_ARGISNULL(0) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz end = PG_ARGISNULL(1) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(1);
	KeyFile    *keys;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	(void) current_key();		/* an installation always has a key to show */
	keys = list_keys(&n);
	for (i = 0; i < n; i++)
	{
		TimestampTz from = time_t_to_timestamptz(keys[i].valid_from);
		TimestampTz to = i + 1 < n ? time_t_to_timestamptz(keys[i + 1].valid_from) : DT_NOEND;
		Datum		values[4];
		bool		nulls[4] = {false, false, i + 1 == n, false};
		EVP_PKEY   *pkey;
		unsigned char *der;
		int			derlen;
		bytea	   *value;

		if (to < start || from > end)
			continue;
		pkey = load_key(&keys[i]);
		der = public_der(pkey, &derlen);
		EVP_PKEY_free(pkey);
		value = palloc(VARHDRSZ + derlen);
		SET_VARSIZE(value, VARHDRSZ + derlen);
		memcpy(VARDATA(value), der, derlen);
		values[0] = PointerGetDatum(value);
		values[1] = TimestampTzGetDatum(from);
		values[2] = TimestampTzGetDatum(to);
		values[3] = CStringGetTextDatum(keys[i].fingerprint);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * trail.rotate_public_key(): a new key signs from now on.  Superuser only:
 * it changes what every database's digests are signed with.
 */
Datum
trail_rotate_public_key(PG_FUNCTION_ARGS)
{
	KeyFile		k;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to rotate trail's signing key"),
				 errdetail("Only superusers may rotate it.")));
	if (current_key().valid_from >= (pg_time_t) time(NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the current key became valid this second; rotate again in a second")));
	k = make_key();
	if (trail_catalog() != NULL)
		trail_store_api_call("RotatePublicKey", psprintf("{\"fingerprint\":\"%s\"}", k.fingerprint),
							 "PG::PublicKey", NULL, k.fingerprint);
	PG_RETURN_TEXT_P(cstring_to_text(k.fingerprint));
}
