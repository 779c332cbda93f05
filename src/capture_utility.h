/*-------------------------------------------------------------------------
 *
 * capture_utility.h
 *	  Management events: every utility command becomes an event.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CAPTURE_UTILITY_H
#define TRAIL_CAPTURE_UTILITY_H

/* Called once from _PG_init: installs the ProcessUtility hook. */
extern void trail_capture_utility_init(void);

#endif							/* TRAIL_CAPTURE_UTILITY_H */
