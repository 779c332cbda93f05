/*-------------------------------------------------------------------------
 *
 * import_worker.h
 *	  An import's reader in a background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_IMPORT_WORKER_H
#define TRAIL_IMPORT_WORKER_H

#include "log_reader.h"

extern void trail_import_read(const char *path, bool is_dir,
							  const TrailLogTarget *target,
							  TrailLogSink sink, void *arg);

/* the worker's entry point (bgw_function_name) */
extern PGDLLEXPORT void trail_import_reader_main(Datum arg);

#endif							/* TRAIL_IMPORT_WORKER_H */
