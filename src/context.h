/*-------------------------------------------------------------------------
 *
 * context.h
 *	  Who acts, from where, in which request: the fields every event
 *	  shares (userIdentity, sourceIPAddress, userAgent, accessKeyId,
 *	  requestID, recipientAccountId, awsRegion).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CONTEXT_H
#define TRAIL_CONTEXT_H

#include "nodes/nodes.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/*
 * userIdentity as CloudTrail shapes it.  invoked_by, when not NULL, names the
 * service that acted on the caller's behalf (trail's own maintenance).
 */
extern Jsonb *trail_user_identity(const char *invoked_by);

/*
 * userIdentity of a session seen from another process (the spool's
 * drainer): its session and current roles, start, accessKeyId and
 * trail.session_context.
 */
extern Jsonb *trail_user_identity_of(Oid session_oid, Oid current_oid,
									 TimestampTz session_start,
									 const char *access_key,
									 const char *session_context);

/* userIdentity.arn of the current user (the cached identity's) */
extern const char *trail_user_arn(void);
/* userName: the session user's name (its OID once the role is gone) */
extern const char *trail_session_user_name(void);
extern const char *trail_access_key_id(void);	/* session id, like %c */
extern const char *trail_source_ip(void);	/* client address or "local" */
extern const char *trail_user_agent(void);	/* application_name, or NULL */
extern const char *trail_request_id(void);	/* unique per top-level statement */
extern const char *trail_account_id(void);	/* cluster system identifier */
extern const char *trail_region(void);	/* current database name */

/*
 * Statement nesting, so that requestID follows top-level statements: a
 * statement that begins at the top level is a new request.
 */
extern void trail_begin_request_if_top_level(void);

/*
 * The command (CMD_INSERT, CMD_MERGE, ...) of the query whose AFTER
 * triggers are firing now, or CMD_UNKNOWN.
 */
extern CmdType trail_finishing_operation(void);

extern void trail_context_utility_enter(void);
extern void trail_context_utility_exit(void);

/* Called once from _PG_init: installs the executor hooks it needs. */
extern void trail_context_init(void);

#endif							/* TRAIL_CONTEXT_H */
