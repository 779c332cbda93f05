/*-------------------------------------------------------------------------
 *
 * selectors.h
 *	  CloudTrail advanced event selectors: validation and matching.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_SELECTORS_H
#define TRAIL_SELECTORS_H

#include "utils/jsonb.h"

/*
 * What a selector looks at in one event.  Resources are parallel arrays of
 * types and ARNs.
 */
typedef struct SelectorEvent
{
	const char *event_category; /* Management | Data */
	const char *event_name;
	bool		read_only;
	const char *event_source;
	const char *user_arn;		/* userIdentity.arn */
	int			nresources;
	const char **resource_types;
	const char **resource_arns;
} SelectorEvent;

/* Fill in an event's resources (types and ARNs) from its resources JSON */
extern void trail_selector_event_resources(SelectorEvent *ev, Jsonb *resources);

/*
 * Check a selector document; errors name the offending part.  NULL (the
 * default: management events only) is valid.
 */
extern void trail_selectors_validate(Jsonb *selectors);

/* Does the event data store record this event? */
extern bool trail_selects_event(const SelectorEvent *ev);

/*
 * Are all management events recorded (no selector is for them)?  The common
 * case, answered without looking at the event.
 */
extern bool trail_selects_all_management(void);

/* Does any data selector of the store pick reads (or writes) at all? */
extern bool trail_selects_any_data(bool read_only);

/*
 * Could a data event with these resources and readOnly be picked by some
 * selector, whatever its event name and user?  Decides where capture
 * triggers go; trail_selects_event() decides each event.
 */
extern bool trail_selects_table(const char *arn, bool read_only);

/*
 * Number of times the store's selectors were reloaded: a cache built on
 * them is stale when this changes.
 */
extern uint64 trail_selectors_generation(void);

/*
 * A trail's selectors, compiled in the current memory context.  As in
 * CloudTrail, a trail without selectors (NULL) delivers every management
 * event and one with selectors exactly the events they match.
 */
typedef struct TrailSelectorSet TrailSelectorSet;
extern TrailSelectorSet *trail_selectors_compile(Jsonb *doc);
extern bool trail_selector_set_matches(const TrailSelectorSet *set,
									   const SelectorEvent *ev);

extern void trail_selectors_init(void);

#endif							/* TRAIL_SELECTORS_H */
