/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Where trail lives in the current database, cached per backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CATALOG_H
#define TRAIL_CATALOG_H

typedef struct TrailCatalog
{
	Oid			extension_oid;	/* pg_extension row of trail */
	Oid			namespace_oid;	/* schema "trail" */
	Oid			events_relid;	/* trail.events (partitioned) */
	Oid			owner;			/* owner of trail.events: runs trail's own SQL */
} TrailCatalog;

/*
 * The installation in the current database, or NULL when trail is not
 * installed here (or is being installed or dropped right now).
 */
extern const TrailCatalog *trail_catalog(void);

/* The installation here, or an error saying trail is not installed */
extern const TrailCatalog *trail_require_catalog(void);

/*
 * Has this session found trail installed in its database?  Needs no
 * catalog access (for error reporting), and stays true once found.
 */
extern bool trail_catalog_seen(void);

/* Is this relation one of trail's own (anything in schema trail)? */
extern bool trail_is_own_relation(Oid relid);

/* Called once from _PG_init: registers cache invalidation callbacks. */
extern void trail_catalog_init(void);

#endif							/* TRAIL_CATALOG_H */
