/*-------------------------------------------------------------------------
 *
 * capture_utility.h
 *	  Management events: every utility command becomes an event.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CAPTURE_UTILITY_H
#define TRAIL_CAPTURE_UTILITY_H

/*
 * The partitioned table this partition belongs to that the TRUNCATE
 * running now names, or InvalidOid.
 */
extern Oid	trail_truncating_ancestor_of(Oid relid);

/* "CREATE TABLE" -> "CreateTable": CloudTrail's API-call naming */
extern char *trail_camel_case(const char *words);

/* Called once from _PG_init: installs the ProcessUtility hook. */
extern void trail_capture_utility_init(void);

#endif							/* TRAIL_CAPTURE_UTILITY_H */
