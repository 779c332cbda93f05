/*-------------------------------------------------------------------------
 *
 * capture_data.h
 *	  Data events: writes and reads of the tables the selectors pick.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CAPTURE_DATA_H
#define TRAIL_CAPTURE_DATA_H

/*
 * COPY of a table is run by the utility hook, not the executor: it tells
 * this module which table a COPY FROM fills (so that its rows are "Copy"
 * events; returns the previous one, to be restored), and reports a finished
 * COPY TO as a read.
 */
extern Oid	trail_capture_copy_from_begin(Oid relid);
extern void trail_capture_copy_from_end(Oid previous);
extern void trail_capture_copy_to(Oid relid, uint64 rows);

extern void trail_capture_data_init(void);

#endif							/* TRAIL_CAPTURE_DATA_H */
