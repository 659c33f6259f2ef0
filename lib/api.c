/* api.c - the refusal reasons' names and the list of field names (api.h). */
#include <string.h>

#include "api.h"

static const char *const names[API_R_COUNT] = {
    [API_R_UNKNOWN] = "unknown",
    [API_R_BAD_BUNDLE] = "bad-bundle",
    [API_R_BAD_CSR] = "bad-csr",
    [API_R_BAD_REQUEST] = "bad-request",
    [API_R_BAD_TOKEN] = "bad-token",
    [API_R_BUSY] = "busy",
    [API_R_NOT_HELD_HERE] = "not-held-here",
    [API_R_COORDINATION_UNAVAILABLE] = "coordination-unavailable",
    [API_R_DELETED] = "deleted",
    [API_R_DROPS_EXTERNAL_ETCD] = "drops-external-etcd",
    [API_R_EXISTS] = "exists",
    [API_R_EXPIRED] = "expired",
    [API_R_FORBIDDEN] = "forbidden",
    [API_R_INTERNAL] = "internal",
    [API_R_KEY_HISTORY_FULL] = "key-history-full",
    [API_R_KEY_REUSED] = "key-reused",
    [API_R_LOST] = "lost",
    [API_R_METHOD_NOT_ALLOWED] = "method-not-allowed",
    [API_R_NO_SUCH_ROUTE] = "no-such-route",
    [API_R_NOT_FOUND] = "not-found",
    [API_R_OTHER_BUNDLE_HELD] = "other-bundle-held",
    [API_R_RELOAD_REFUSED] = "reload-refused",
    [API_R_TIMEOUT] = "timeout",
    [API_R_TOKEN_EXPIRED] = "token-expired",
    [API_R_TOO_LARGE] = "too-large",
    [API_R_TOO_MANY] = "too-many",
    [API_R_TOO_MANY_ATTEMPTS] = "too-many-attempts",
    [API_R_TTL_TOO_LONG] = "ttl-too-long",
    [API_R_USED_UP] = "used-up",
    [API_R_WEAK_KEY] = "weak-key",
};

const char *api_reason_name(enum api_reason r)
{
	return (unsigned)r < API_R_COUNT && names[r] ? names[r] : names[API_R_UNKNOWN];
}

enum api_reason api_reason_parse(const char *name)
{
	for (unsigned i = 1; name && i < API_R_COUNT; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return (enum api_reason)i;
	return API_R_UNKNOWN;
}

const char *const api_fields[] = {
    API_F_AT,
    API_F_BUNDLE,
    API_F_CA_CERT_HASH,
    API_F_CERT_SHA256,
    API_F_CLIENT,
    API_F_CLIENT_CA,
    API_F_CLIENT_SOURCE,
    API_F_CREATED_AT,
    API_F_DEFAULT_TTL_SECONDS,
    API_F_DELETED,
    API_F_DESCRIPTION,
    API_F_ERROR,
    API_F_EXPIRES_AT,
    API_F_EXPIRES_IN_SECONDS,
    API_F_FETCHES,
    API_F_FETCH_LOG,
    API_F_HELD_SINCE,
    API_F_ID,
    API_F_KEPT,
    API_F_KEY_ID,
    API_F_KEY_IDS,
    API_F_LISTEN,
    API_F_MAX,
    API_F_MAX_FETCHES,
    API_F_MAX_TTL_SECONDS,
    API_F_MEMORY,
    API_F_NOTE,
    API_F_PEER,
    API_F_PINNED_PUBKEY,
    API_F_PREVIOUS,
    API_F_PROFILE,
    API_F_REASON,
    API_F_REFUSED,
    API_F_RELOADED,
    API_F_REPLACED,
    API_F_RESTORES,
    API_F_SECRET_HASH,
    API_F_STATE,
    API_F_STATUS,
    API_F_TOKEN,
    API_F_TOKENS,
    API_F_TOKEN_ONLY,
    API_F_SERVING_NAMES,
    API_F_TTL_SECONDS,
    API_F_USED,
    API_F_USES,
    API_F_USES_LEFT,
    API_F_VERSION,
    NULL,
};
