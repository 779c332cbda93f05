/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Keeping secrets out of events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_REDACT_H
#define TRAIL_REDACT_H

#define TRAIL_REDACTED "<redacted>"

/* Does a parameter, option or setting of this name hold a secret? */
extern bool trail_is_secret_name(const char *name);

/*
 * The statement text with every string literal that is the value of a
 * secret (PASSWORD '...', CONNECTION '...', OPTIONS (password '...'),
 * SET primary_conninfo = '...') replaced by '<redacted>'.
 */
extern char *trail_redact_statement(const char *sql);

#endif							/* TRAIL_REDACT_H */
