/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The maintenance background workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_WORKER_H
#define TRAIL_WORKER_H

/* Called from _PG_init during shared_preload_libraries: registers the launcher. */
extern void trail_worker_register(void);

#endif							/* TRAIL_WORKER_H */
