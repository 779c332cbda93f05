/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  The RSA keys that sign digest files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_KEYS_H
#define TRAIL_KEYS_H

/* The fingerprint of the current signing key, made first if there is none */
extern void trail_signing_fingerprint(char fingerprint[33]);

/*
 * Sign data with the key of that fingerprint (SHA256withRSA, PKCS#1 v1.5);
 * returns the hex signature, palloc'd.
 */
extern char *trail_sign(const char *data, size_t len, const char *fingerprint);

#endif							/* TRAIL_KEYS_H */
