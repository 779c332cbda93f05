/*-------------------------------------------------------------------------
 *
 * trail.h
 *	  Settings of the trail extension, shared by every part of it.
 *
 * All settings are defined in trail.c, in one place.  Each part reads the
 * variables declared here; nothing else is global.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_H
#define TRAIL_H

/* trail.retention_period, in minutes (shown in days) */
extern int	trail_retention_period;

/* trail.premake_days: daily partitions kept ready ahead of today */
extern int	trail_premake_days;

/* trail.maintenance_interval, in seconds */
extern int	trail_maintenance_interval;

/* trail.log_directory: the root of trails' buckets */
extern char *trail_log_directory;

/* trail.delivery_interval and trail.digest_interval, in seconds */
extern int	trail_delivery_interval;
extern int	trail_digest_interval;

/* trail.max_file_records: the most records in one log file */
extern int	trail_max_file_records;

/* trail.insights_baseline_days: the window of Insights baselines */
extern int	trail_insights_baseline_days;

/* trail.log_events: categories streamed to the server log (reactions.c) */
extern char *trail_log_events;

/* trail.home_database: where global events of the spool are taken in */
extern char *trail_home_database;

/* trail.log_unknown_user_names: show names of failed logins to unknown roles */
extern bool trail_log_unknown_user_names;

/* trail.import_parallel: an import's files read by a background worker */
extern bool trail_import_parallel;

/* trail.session_context: the application's own notion of who acts */
extern char *trail_session_context;

/* true when the library was loaded through shared_preload_libraries */
extern bool trail_loaded_at_startup;

/* CloudTrail record-format version our records follow (spec section a) */
#define TRAIL_EVENT_VERSION "1.08"

/* The service name trail's own work is attributed to (userIdentity.invokedBy) */
#define TRAIL_SERVICE_NAME "trail.postgresql"

#endif							/* TRAIL_H */
