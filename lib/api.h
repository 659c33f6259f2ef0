/* api.h - the wire contract between pkishared and its clients, in one place: routes, the
 * admin socket, the limits both sides check, and the refusal reasons ("reason" in every
 * error body) as an enum with one string table. The daemon answers with these, the
 * client compares by enum; proto/api.md describes them for other clients (curl). */
#pragma once

#define API_ADMIN_SOCKET "/run/pkishare/admin.sock"

/* HTTPS routes (mutual TLS) and admin routes (the unix socket). */
#define API_ROUTE_BUNDLE "/v1/bundle"
#define API_ROUTE_BUNDLE_INFO "/v1/bundle/info"
#define API_ROUTE_ENROLL "/v1/enroll"
#define API_ROUTE_HEALTHZ "/healthz"
#define API_ROUTE_METRICS "/metrics"
#define API_ROUTE_STATUS "/v1/status"
#define API_ROUTE_TOKENS "/v1/tokens"
#define API_ROUTE_RELOAD "/v1/reload"

/* Limits both sides check: the client refuses before it asks. */
#define API_MAX_FETCHES 1000	/* upload-certs --max-fetches */
#define API_TOKEN_MAX_USES 1000 /* token create --uses */

enum api_reason {
	API_R_UNKNOWN = 0, /* a reason this build does not know (a newer daemon) */
	API_R_BAD_BUNDLE,
	API_R_BAD_CSR,
	API_R_BAD_REQUEST,
	API_R_BAD_TOKEN,
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
