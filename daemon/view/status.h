/* status.h - the JSON forms of the store's views (store.h), for the admin API (status,
 * tokens) and the public GET /v1/bundle/info. The one place their field names are spelt.
 * Pure: each reads only the view it is given. */
#pragma once

#include <jansson.h>

#include "store.h"

/* What any identity allowed to fetch may read (GET /v1/bundle/info, proto/api.md): enough
 * to plan a join (id, key id, times, counts, size, profile), never who fetched: no other
 * node's name, address or certificate. NULL on allocation failure. */
json_t *status_bundle_info_json(const struct store_bundle_view *b);
/* The operator's view of the held bundle (GET /v1/status): the public description and
 * the fetch log (who, from where, which certificate). NULL on allocation failure. */
json_t *status_bundle_json(const struct store_bundle_view *b);
/* The join tokens: id, expiresAt, usesLeft (null: no limit), used (never a hash). */
json_t *status_tokens_json(const struct store_view *v);
/* The whole store: bundle (or null), previous (or null), tokens, state (or null). */
json_t *status_json(const struct store_view *v);
