/*-------------------------------------------------------------------------
 *
 * event_pattern.h
 *	  EventBridge event patterns: compiling and matching.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_EVENT_PATTERN_H
#define TRAIL_EVENT_PATTERN_H

#include "utils/jsonb.h"

/*
 * A compiled event pattern, allocated in the memory context current when it
 * was compiled; it does not point into the pattern document, which may be
 * freed afterwards.
 */
typedef struct TrailEventPattern TrailEventPattern;

/*
 * Check and compile an event pattern.  An invalid pattern raises
 * "InvalidEventPatternException: <path>: <what is wrong>" (SQLSTATE 22023)
 * naming the offending part; every part is checked here, before any
 * matching.
 */
extern TrailEventPattern *trail_event_pattern_compile(Jsonb *pattern);

/*
 * Does the event (any JSON; EventBridge's envelope for real events) match
 * the pattern?  Allocates nothing in the common case and never raises an
 * error for any event.
 */
extern bool trail_event_pattern_matches(const TrailEventPattern *pattern,
										Jsonb *event);

/*
 * What is looked up in one partial event, kept for every pattern checked
 * against it (palloc'd in the current memory context).
 */
typedef struct TrailPatternLookups TrailPatternLookups;

/*
 * A partial event, given field by field and never built: some fields of the
 * event (level 0) and of the object at its "detail" key (level 1), each with
 * its complete value.  Sets *out and returns true for a field it has (for
 * "detail" at level 0, trail_event_pattern_detail()); false for one it
 * does not know.  Objects below are jsonb.
 */
typedef bool (*TrailPartialField) (void *arg, int level, const char *key,
								   int keylen, JsonbValue *out);

/* The lookups of the partial event that field gives */
extern TrailPatternLookups *trail_event_pattern_lookups(TrailPartialField field,
														void *arg);

/* The value of "detail" in a partial event */
extern void trail_event_pattern_detail(JsonbValue *out);

/*
 * May the pattern match the event of which lookups holds some fields?
 * Fields it lacks are unknown and pass.  False means that the whole event
 * cannot match, so that a caller can skip making it.
 */
extern bool trail_event_pattern_may_match(const TrailEventPattern *pattern,
										  TrailPatternLookups *lookups);

/*
 * The only values a pattern accepts at a path of nested keys (e.g.
 * {"detail", "eventName"}), when they are exact strings: returns their
 * number and points *values and *lens at them (valid as long as the
 * pattern), or -1 when the pattern accepts other values there.  Its "$or"
 * alternatives are not looked at: they only narrow what matches.  Lets a
 * caller skip patterns that cannot match an event without matching it.
 */
extern int	trail_event_pattern_required(const TrailEventPattern *pattern,
										 const char *const *path, int depth,
										 char ***values, int **lens);

#endif							/* TRAIL_EVENT_PATTERN_H */
