/* store-view.h - what the held state says, read through its view (store_view) as every
 * caller reads it, for the unit tests of the store and of persist. */
#pragma once

#include "store.h"

static inline struct store_view *view_of(struct store *s)
{
	static struct store_view v;
	store_view_done(&v);
	store_view(s, &v);
	return &v;
}
#define view_held(s) (view_of(s)->held)
#define view_fetches(s) (view_of(s)->bundle.fetches)
#define view_n_fetch_log(s) (view_of(s)->bundle.n_fetch_log)
#define view_id(s) (view_of(s)->held ? view_of(s)->bundle.id : "")
#define view_key_id(s) (view_of(s)->held ? view_of(s)->bundle.key_id : "")
#define view_gone(s) (view_of(s)->gone)
#define view_n_tokens(s) (view_of(s)->n_tokens)
#define view_n_seen(s) (view_of(s)->n_seen)
