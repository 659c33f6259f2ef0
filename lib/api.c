/* api.c - the refusal reasons' names (api.h). */
#include <string.h>

#include "api.h"

static const char *const names[API_R_COUNT] = {
    [API_R_UNKNOWN] = "unknown",
    [API_R_BAD_BUNDLE] = "bad-bundle",
    [API_R_BAD_CSR] = "bad-csr",
    [API_R_BAD_REQUEST] = "bad-request",
    [API_R_BAD_TOKEN] = "bad-token",
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
