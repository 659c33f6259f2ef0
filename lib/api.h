/* api.h - the wire contract between pkishared and its clients, in one place: routes, the
 * admin socket, the JSON field names, the limits both sides check, and the refusal
 * reasons ("reason" in every error body) as an enum with one string table. The daemon answers with
 * these, the client compares by enum; proto/api.md describes them for other clients (curl). */
#pragma once

#define API_ADMIN_SOCKET "/run/pkishare/admin.sock"

/* HTTPS routes (mutual TLS) and admin routes (the unix socket). */
#define API_ROUTE_BUNDLE "/v1/bundle"
#define API_REPLICAS_MAX 32 /* upload-certs --replicas: at most as many holders as listed */
#define API_ROUTE_BUNDLE_INFO "/v1/bundle/info"
#define API_ROUTE_ENROLL "/v1/enroll"
#define API_ROUTE_PEER_BUNDLE "/v1/peer/bundle" /* coordination: registered nodes only */
#define API_ROUTE_HEALTHZ "/healthz"
#define API_ROUTE_METRICS "/metrics"
#define API_ROUTE_STATUS "/v1/status"
#define API_ROUTE_TOKENS "/v1/tokens"
#define API_ROUTE_RELOAD "/v1/reload"

/* JSON field names of every request and response body (proto/api.md documents each;
 * unit.api holds that), and the query parameters of PUT /v1/bundle (admin) and GET
 * /v1/bundle (public: ?id= names the bundle a join planned on). */
#define API_F_AT "at"
#define API_F_BUNDLE "bundle"
#define API_F_BYTES "bytes"
#define API_F_CA_CERT_HASH "caCertHash"
#define API_F_CERT_SHA256 "certSha256"
#define API_F_CLIENT "client"
#define API_F_CLIENT_CA "clientCa"
#define API_F_CLIENT_SOURCE "clientSource"
#define API_F_COORDINATION "coordination"
#define API_F_CURRENT "current"
#define API_F_CREATED_AT "createdAt"
#define API_F_DEFAULT_TTL_SECONDS "defaultTtlSeconds"
#define API_F_DELETED "deleted"
#define API_F_DESCRIPTION "description"
#define API_F_ERROR "error"
#define API_F_EXPIRES_AT "expiresAt"
#define API_F_EXPIRES_IN_SECONDS "expiresInSeconds"
#define API_F_FETCHES "fetches"
#define API_F_FETCH_LOG "fetchLog"
#define API_F_HELD_SINCE "heldSince"
#define API_F_HOLDERS "holders"
#define API_F_NODES "nodes"
#define API_F_ID "id"
#define API_F_KEPT "kept"
#define API_F_KEY_ID "keyId"
#define API_F_KEY_IDS "keyIds"
#define API_F_LISTEN "listen"
#define API_F_MAX "max"
#define API_F_MAX_FETCHES "maxFetches"
#define API_F_MAX_TTL_SECONDS "maxTtlSeconds"
#define API_F_MEMORY "memory"
#define API_F_NODE "node"
#define API_F_NOTE "note"
#define API_F_ORIGIN "origin"
#define API_F_PEER "peer"
#define API_F_PEER_ADDRESS "peerAddress"
#define API_F_PENDING_WRITES "pendingWrites"
#define API_F_REACHABLE "reachable"
#define API_F_REVISION "revision"
#define API_F_SYNCED "synced"
#define API_F_PINNED_PUBKEY "pinnedPubkey"
#define API_F_PREVIOUS "previous"
#define API_F_PROFILE "profile"
#define API_F_REASON "reason"
#define API_F_REFUSED "refused"
#define API_F_RELOADED "reloaded"
#define API_F_REPLACED "replaced"
#define API_F_RESTORES "restores"
#define API_F_SECRET_HASH "secretHash"
#define API_F_STATE "state"
#define API_F_STATUS "status"
#define API_F_TOKEN "token"
#define API_F_TOKENS "tokens"
#define API_F_TOKEN_ONLY "tokenOnly"
#define API_F_SERVING_NAMES "servingNames"
#define API_F_TTL_SECONDS "ttlSeconds"
#define API_F_USED "used"
#define API_F_USES "uses"
#define API_F_USES_LEFT "usesLeft"
#define API_F_VERSION "version"
#define API_Q_MAX_FETCHES "maxFetches"
#define API_Q_DROP_EXTERNAL_ETCD "dropExternalEtcd"
#define API_Q_ID "id"

/* Every API_F_ name above, NULL-terminated (for the tests that hold docs against it). */
extern const char *const api_fields[];

/* Limits both sides check: the client refuses before it asks. */
#define API_MAX_FETCHES 1000	      /* upload-certs --max-fetches */
#define API_TOKEN_MAX_USES 1000	      /* token create --uses */
#define API_TOKEN_DESCRIPTION_MAX 200 /* token create --description: printable ASCII bytes */

enum api_reason {
	API_R_UNKNOWN = 0, /* a reason this build does not know (a newer daemon) */
	API_R_BAD_BUNDLE,
	API_R_BAD_CSR,
	API_R_BAD_REQUEST,
	API_R_BAD_TOKEN,
	API_R_BUSY, /* too many fetches wait for their claim: try again (503, Retry-After) */
	API_R_COORDINATION_UNAVAILABLE, /* etcd (through pkishare-coordd) could not decide in
					 * time: try another server (503, Retry-After) */
	API_R_DELETED,
	API_R_DROPS_EXTERNAL_ETCD,
	API_R_EXISTS,
	API_R_EXPIRED,
	API_R_FORBIDDEN,
	API_R_INTERNAL,
	API_R_KEY_HISTORY_FULL,
	API_R_KEY_REUSED,
	API_R_LOST,
	API_R_METHOD_NOT_ALLOWED,
	API_R_NO_SUCH_ROUTE,
	API_R_NOT_FOUND,
	API_R_NOT_HELD_HERE, /* coordination: the cluster's bundle, not (yet) copied to this node:
			      * another server, or again shortly (503, Retry-After) */
	API_R_OTHER_BUNDLE_HELD,
	API_R_RELOAD_REFUSED,
	API_R_TIMEOUT,
	API_R_TOKEN_EXPIRED,
	API_R_TOO_LARGE,
	API_R_TOO_MANY,
	API_R_TOO_MANY_ATTEMPTS,
	API_R_TTL_TOO_LONG,
	API_R_USED_UP,
	API_R_WEAK_KEY,
	API_R_COUNT,
};

/* "bad-bundle", ... ("unknown" for API_R_UNKNOWN or out of range). */
const char *api_reason_name(enum api_reason r);
/* The enum of a reason's name; API_R_UNKNOWN for NULL or an unknown name. */
enum api_reason api_reason_parse(const char *name);
