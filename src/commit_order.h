/*-------------------------------------------------------------------------
 *
 * commit_order.h
 *	  Commit sequence numbers of transactions that write events, and the
 *	  delivery watermark.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_COMMIT_ORDER_H
#define TRAIL_COMMIT_ORDER_H

/*
 * The current transaction's commit sequence number, taken (and registered
 * as in progress) on the first call; every event it writes carries it.
 */
extern int64 trail_commit_seq(void);

/*
 * The smallest number that may still belong to a transaction in progress
 * in this database: events numbered below it are all committed or gone.
 * *held_by_unknown_prepared is set when a transaction prepared before the
 * last restart may still commit events under an unknown number (delivery
 * must wait).  Needs an SPI connection and a transaction.  Read the events
 * below it with a snapshot taken after this call: an older one may miss a
 * transaction that committed just before it.
 */
extern int64 trail_commit_watermark(bool *held_by_unknown_prepared);

/* Called once from _PG_init: shared memory and transaction callbacks. */
extern void trail_commit_order_init(void);

#endif							/* TRAIL_COMMIT_ORDER_H */
