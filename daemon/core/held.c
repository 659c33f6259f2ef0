/* held.c - the bytes this node holds (held.h).
 *
 * Must never hold the bundle outside guarded memory, and must wipe it (not just drop the
 * pointer) once the last reference goes. */
#include <stdlib.h>
#include <string.h>

#include "held.h"
#include "util.h"

struct held_blob *held_blob_new(struct secret *data)
{
	struct held_blob *b = calloc(1, sizeof(*b));
	if (!b) {
		secret_free(data);
		return NULL;
	}
	b->refs = 1;
	b->data = data;
	return b;
}

struct held_blob *held_blob_unref(struct held_blob *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		secret_free(b->data);
		free(b);
	}
	return NULL;
}

void held_set(struct held *h, struct held_blob *blob, const struct bundle *meta,
	      int64_t deadline_ms)
{
	held_wipe(h);
	h->blob = blob;
	str_copy(h->id, sizeof(h->id), meta->id);
	str_copy(h->key_id, sizeof(h->key_id), meta->key_id);
	h->created_at = meta->created_at;
	h->expires_at = meta->expires_at;
	h->deadline_ms = deadline_ms;
	h->profile = meta->profile ? strdup(meta->profile) : NULL;
}

void held_wipe(struct held *h)
{
	/* A response still being sent keeps its reference; the bytes are wiped when it is
	 * done. From now on nobody can take a new one. */
	h->blob = held_blob_unref(h->blob);
	free(h->profile);
	*h = (struct held){0};
}

bool held_past_deadline(const struct held *h, int64_t now_ms, int64_t now_wall)
{
	return h->blob && (now_ms >= h->deadline_ms || now_wall >= h->expires_at);
}

int64_t held_next_deadline(const struct held *h, int64_t now_ms, int64_t now_wall)
{
	if (!h->blob)
		return INT64_MAX;
	int64_t next = h->deadline_ms, wall_left_ms = (h->expires_at - now_wall) * 1000;
	if (now_ms + wall_left_ms < next)
		next = now_ms + wall_left_ms;
	return next;
}

struct held_blob *held_ref(struct held *h)
{
	if (!h->blob)
		return NULL;
	atomic_fetch_add(&h->blob->refs, 1);
	return h->blob;
}
