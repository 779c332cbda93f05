/*-------------------------------------------------------------------------
 *
 * delivery.h
 *	  Delivery of trails' log files and digests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_DELIVERY_H
#define TRAIL_DELIVERY_H

/*
 * One delivery pass over every trail of the current database: finish what
 * a crash interrupted, deliver new events, write digests that are due.
 * Called by a background worker outside any transaction; manages its own.
 */
extern void trail_deliver_all(void);

#endif							/* TRAIL_DELIVERY_H */
