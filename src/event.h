/*-------------------------------------------------------------------------
 *
 * event.h
 *	  The event record as it travels from a capture hook to the store.
 *
 * A TrailEvent holds one row of trail.events in C form.  trail_event_init()
 * stamps the fields every event shares (id, time, who, where, request); the
 * capturer fills in what happened and hands the event to store.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_EVENT_H
#define TRAIL_EVENT_H

#include "access/transam.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

typedef struct TrailEvent
{
	TimestampTz event_time;
	pg_uuid_t	event_id;
	const char *event_category; /* Management | Data | Insight */
	const char *event_type;		/* AwsApiCall | AwsServiceEvent | ... */
	const char *event_source;	/* ddl.postgresql, iam.postgresql, ... */
	const char *event_name;		/* CreateTable, GrantRole, ... */
	bool		read_only;
	bool		management_event;
	bool		is_global;
	Jsonb	   *user_identity;
	const char *user_name;
	const char *access_key_id;
	const char *source_ip_address;
	const char *user_agent;
	const char *request_id;
	FullTransactionId transaction_id;	/* invalid: NULL */
	Jsonb	   *request_parameters;
	Jsonb	   *response_elements;
	Jsonb	   *additional_event_data;
	Jsonb	   *resources;
	const char *error_code;
	const char *error_message;
	/* Insight events only (insights.c); NULL otherwise */
	const pg_uuid_t *shared_event_id;
	Jsonb	   *insight_details;
	const char *region;			/* NULL: this database */
	const char *account_id;		/* NULL: this cluster */
} TrailEvent;

/*
 * Stamp a new event: id (UUIDv7), time, identity, source, request and
 * transaction.  invoked_by is NULL for a user's own action, or the service
 * acting on the user's behalf.
 */
extern void trail_event_init(TrailEvent *ev, const char *category,
							 const char *event_type, const char *invoked_by);

/* A time-ordered UUID (version 7 layout), strictly increasing per backend. */
extern void trail_uuid_v7(pg_uuid_t *out, TimestampTz at);

/*
 * How much older than its id (UUIDv7) an event may be and still be found by
 * the time its id names; older ones get an EventId entry.
 */
#define TRAIL_EVENT_ID_SPAN (60 * USECS_PER_SEC)

/* The event times an id made by trail names; false for another layout */
extern bool trail_event_id_span(const pg_uuid_t *id, TimestampTz *first,
								TimestampTz *end);

/* Whether LookupEvents finds an event by the times its id names */
extern bool trail_event_id_names_time(const pg_uuid_t *id, TimestampTz event_time);

/* A string member of a JSON object, palloc'd, or NULL */
extern char *trail_json_member_string(JsonbContainer *obj, const char *key);

/* A message formatted from a va_list, palloc'd (for error helpers) */
extern char *trail_vformat(const char *fmt, va_list args) pg_attribute_printf(1, 0);

/* The text form of a UUID (36 characters and a NUL) */
#define TRAIL_UUID_STRLEN 37
extern void trail_uuid_string(const pg_uuid_t *uuid, char *out);

/*
 * Building a flat JSON object straight into jsonb, for the hot paths where
 * writing JSON text and parsing it again would cost more than the event.
 */
typedef struct TrailJsonb
{
	JsonbParseState *state;
} TrailJsonb;

extern void trail_jsonb_begin(TrailJsonb *b);
extern void trail_jsonb_add_string(TrailJsonb *b, const char *key, const char *value);
extern void trail_jsonb_add_int(TrailJsonb *b, const char *key, int64 value);
extern Jsonb *trail_jsonb_end(TrailJsonb *b);

/* Parse JSON text into a jsonb value (for parameter objects built as text). */
extern Jsonb *trail_jsonb_from_text(const char *json);

/* Append a JSON string (escaped) or JSON null when s is NULL. */
extern void trail_json_string(StringInfo buf, const char *s);

/* Append a CloudTrail timestamp: "YYYY-MM-DDTHH:MM:SSZ", quoted. */
extern void trail_json_time(StringInfo buf, TimestampTz t);

/*
 * ARN of a PostgreSQL object: arn:postgresql:<service>:<database>:<account>:<resource>.
 * database is NULL for cluster-wide objects (roles, databases, tablespaces).
 */
extern char *trail_arn(const char *service, const char *database,
					   const char *resource);

/*
 * Append one element of "resources": {"accountId", "type", "ARN", "name"}.
 * "name" is what LookupEvents reports as ResourceName; records rendered for
 * CloudTrail carry only accountId, type and ARN.
 */
extern void trail_json_resource(StringInfo buf, const char *type,
								const char *arn, const char *name);

/* "resources" holding one element, as jsonb */
extern Jsonb *trail_jsonb_one_resource(const char *type, const char *arn,
									   const char *name);

#endif							/* TRAIL_EVENT_H */
