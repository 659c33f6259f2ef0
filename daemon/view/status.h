/* status.h - the JSON forms of the store's views (store.h), for the admin API (status,
 * tokens) and GET /v1/bundle/info. The one place their field names are spelt. */
#pragma once

#include <jansson.h>

#include "store.h"

/* The held bundle's public description with every fetch so far. */
json_t *status_bundle_json(const struct store_bundle_view *b);
/* The join tokens: id, expiresAt, usesLeft (null: no limit), used (never a hash). */
json_t *status_tokens_json(const struct store_view *v);
/* The whole store: bundle (or null), previous (or null), tokens, state (or null). */
json_t *status_json(const struct store_view *v);
