/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Where trail lives in the current database, cached per backend.
 *
 * Every hook asks "is trail installed here, and where?" for every command,
 * so the answer is cached.  The positive answer is dropped when trail.events
 * or its schema is invalidated (DROP EXTENSION, or any change to them); the
 * negative answer is not cached at all, but it is cheap: a syscache probe of
 * the schema name finds nothing in databases without trail, and another
 * session's CREATE EXTENSION is seen at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog.h"

static TrailCatalog cached;
static bool cached_valid = false;
static bool seen_here = false;	/* trail_catalog() has found trail here */

/*
 * Forget the cached installation when trail.events changes or goes away.
 */
static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || (cached_valid && relid == cached.events_relid))
		cached_valid = false;
}

/*
 * Forget the cached installation when any schema changes (schema renames
 * and drops are rare; being exact about which one is not worth it).
 */
static void
catalog_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	cached_valid = false;
}

/*
 * Find extension "trail": its oid and the schema it was installed in.
 */
static Oid
find_extension(Oid *schema)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			ext = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("trail"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tup);

		ext = form->oid;
		*schema = form->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return ext;
}

/*
 * Owner of a relation.
 */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

void
trail_catalog_init(void)
{
	CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, catalog_syscache_callback, (Datum) 0);
}

const TrailCatalog *
trail_catalog(void)
{
	Oid			nsp;
	Oid			ext;
	Oid			ext_schema = InvalidOid;
	Oid			events;

	if (cached_valid)
		return &cached;

	if (!IsTransactionState())
		return NULL;

	nsp = get_namespace_oid("trail", true);
	if (!OidIsValid(nsp))
		return NULL;

	/*
	 * A schema of that name is not enough: it must be the extension's, or a
	 * user could have trail write into (or protect) their own tables.
	 */
	ext = find_extension(&ext_schema);
	if (!OidIsValid(ext) || ext_schema != nsp)
		return NULL;

	events = get_relname_relid("events", nsp);
	if (!OidIsValid(events))
		return NULL;			/* the extension script is still running */

	cached.extension_oid = ext;
	cached.namespace_oid = nsp;
	cached.events_relid = events;
	cached.owner = relation_owner(events);
	cached_valid = true;
	seen_here = true;
	return &cached;
}

bool
trail_catalog_seen(void)
{
	return seen_here;
}

const TrailCatalog *
trail_require_catalog(void)
{
	const TrailCatalog *cat = trail_catalog();

	if (cat == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trail is not installed in this database")));
	return cat;
}

bool
trail_is_own_relation(Oid relid)
{
	const TrailCatalog *cat = trail_catalog();

	return cat != NULL && get_rel_namespace(relid) == cat->namespace_oid;
}
