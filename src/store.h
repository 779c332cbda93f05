/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Writing events into trail.events, in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_STORE_H
#define TRAIL_STORE_H

#include "event.h"

/*
 * Insert one event into trail.events of the current database, inside the
 * current transaction (so it commits or rolls back with the command).
 * Does nothing when trail is not installed here.
 */
extern void trail_store_event(const TrailEvent *ev);

#endif							/* TRAIL_STORE_H */
