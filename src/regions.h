/*-------------------------------------------------------------------------
 *
 * regions.h
 *	  Multi-region trails: publishing and mirroring across databases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_REGIONS_H
#define TRAIL_REGIONS_H

/*
 * Publish this database's multi-region trails for the other databases, and
 * mirror theirs here.  In a transaction; does nothing where trail is not
 * installed.
 */
extern void trail_regions_sync(void);

#endif							/* TRAIL_REGIONS_H */
