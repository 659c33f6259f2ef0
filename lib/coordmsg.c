/* coordmsg.c - pkishared <-> pkishare-coordd messages (coordmsg.h, proto/coord.md). Each
 * operation's arguments are a list of typed fields; one checker per type reads and writes
 * them, so a request is checked the same way by the side that builds it and the side that
 * reads it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "coordmsg.h"
#include "macro.h"
#include "util.h"

#define UINT_JSON_MAX ((uint64_t)1 << 53)

static const char *const op_names[COORD_OP_N] = {
    "announce", "claim",    "retire",	"keyIdSeen",   "view",	   "hold",
    "release",	"holders",  "wait",	"ping",	       "register", "peers",
    "connect",	"tokenAdd", "tokenUse", "tokenDelete", "tokens",   "unclaim",
};
static const char *const error_names[COORD_E_N] = {
    "bad-request", "bad-version", "timeout",	"unknown-outcome",     "no-quorum",
    "unreachable", "denied",	  "key-reused", "drops-external-etcd", "not-current",
    "internal",	   "exists",	  "too-many",
};

const char *coord_op_name(enum coord_op op)
{
	return (unsigned)op < COORD_OP_N ? op_names[op] : "?";
}

const char *coord_error_name(enum coord_error e)
{
	return (unsigned)e < COORD_E_N ? error_names[e] : "internal";
}

enum kind {
	K_HEX32, /* 32 lowercase hex */
	K_HEX64, /* 64 lowercase hex */
	K_KEYID, /* a certificate key's id: 16 lowercase hex (bundle.md) */
	K_CERT,	 /* "" or 64 lowercase hex */
	K_TEXT,	 /* 1-96 printable ASCII */
	K_UINT,	 /* 0 .. 2^53 */
	K_TIME,	 /* RFC 3339 UTC, into an int64 */
	K_BOOL,
	K_SOURCE,  /* client-ca, enrolled */
	K_REASON,  /* deleted, expired, lost */
	K_PIN,	   /* sha256:64 hex */
	K_TOKENID, /* a join token's id: 6 of [a-z0-9] */
	K_DESC,	   /* a token's description: "" or printable, at most COORD_DESCRIPTION_MAX */
};

struct field {
	const char *name;
	enum kind kind;
	size_t offset, size;
};

#define F(n, k, m)                                                                                 \
	{                                                                                          \
		n, k, offsetof(struct coord_args, m), sizeof(((struct coord_args *)0)->m)          \
	}

static const struct field announce_fields[] = {
    F("id", K_HEX32, id),
    F("keyId", K_KEYID, key_id),
    F("sha256", K_HEX64, sha256),
    F("bytes", K_UINT, bytes),
    F("expiresAt", K_TIME, expires_at),
    F("maxFetches", K_UINT, max_fetches),
    F("hasExternal", K_BOOL, has_external),
    F("allowDropExternal", K_BOOL, allow_drop_external),
    F("origin", K_TEXT, origin),
};
static const struct field claim_fields[] = {
    F("id", K_HEX32, id),    F("claimId", K_HEX32, claim_id), F("client", K_TEXT, client),
    F("cert", K_CERT, cert), F("source", K_SOURCE, source),   F("peer", K_TEXT, peer),
};
static const struct field retire_fields[] = {F("id", K_HEX32, id), F("reason", K_REASON, reason)};
static const struct field keyid_fields[] = {F("keyId", K_KEYID, key_id)};
static const struct field hold_fields[] = {
    F("id", K_HEX32, id),
    F("node", K_TEXT, node),
    F("peerAddress", K_TEXT, peer_address),
    F("servingPin", K_PIN, serving_pin),
};
static const struct field release_fields[] = {F("id", K_HEX32, id), F("node", K_TEXT, node)};
static const struct field holders_fields[] = {F("id", K_HEX32, id)};
static const struct field wait_fields[] = {F("since", K_UINT, since)};
static const struct field register_fields[] = {
    F("node", K_TEXT, node),
    F("peerAddress", K_TEXT, peer_address),
    F("servingPin", K_PIN, serving_pin),
};
static const struct field connect_fields[] = {F("node", K_TEXT, node)};
static const struct field token_add_fields[] = {
    F("tokenId", K_TOKENID, token_id),	   F("secretHash", K_HEX64, secret_hash),
    F("expiresAt", K_TIME, expires_at),	   F("uses", K_UINT, uses),
    F("description", K_DESC, description),
};
static const struct field token_use_fields[] = {
    F("tokenId", K_TOKENID, token_id),
    F("secretHash", K_HEX64, secret_hash),
    F("client", K_TEXT, client),
};
static const struct field token_delete_fields[] = {F("tokenId", K_TOKENID, token_id)};
static const struct field unclaim_fields[] = {F("id", K_HEX32, id),
					      F("claimId", K_HEX32, claim_id)};

static const struct {
	const struct field *f;
	size_t n;
} op_fields[COORD_OP_N] = {
    [COORD_ANNOUNCE] = {announce_fields, ELEMENTSOF(announce_fields)},
    [COORD_CLAIM] = {claim_fields, ELEMENTSOF(claim_fields)},
    [COORD_RETIRE] = {retire_fields, ELEMENTSOF(retire_fields)},
    [COORD_KEYID_SEEN] = {keyid_fields, ELEMENTSOF(keyid_fields)},
    [COORD_VIEW] = {NULL, 0},
    [COORD_HOLD] = {hold_fields, ELEMENTSOF(hold_fields)},
    [COORD_RELEASE] = {release_fields, ELEMENTSOF(release_fields)},
    [COORD_HOLDERS] = {holders_fields, ELEMENTSOF(holders_fields)},
    [COORD_WAIT] = {wait_fields, ELEMENTSOF(wait_fields)},
    [COORD_PING] = {NULL, 0},
    [COORD_REGISTER] = {register_fields, ELEMENTSOF(register_fields)},
    [COORD_PEERS] = {NULL, 0},
    [COORD_CONNECT] = {connect_fields, ELEMENTSOF(connect_fields)},
    [COORD_TOKEN_ADD] = {token_add_fields, ELEMENTSOF(token_add_fields)},
    [COORD_TOKEN_USE] = {token_use_fields, ELEMENTSOF(token_use_fields)},
    [COORD_TOKEN_DELETE] = {token_delete_fields, ELEMENTSOF(token_delete_fields)},
    [COORD_TOKENS] = {NULL, 0},
    [COORD_UNCLAIM] = {unclaim_fields, ELEMENTSOF(unclaim_fields)},
};

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_text(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Whether the string s has kind k's form. */
static bool string_ok(enum kind k, const char *s)
{
	switch (k) {
	case K_HEX32:
		return is_hex(s, 32);
	case K_HEX64:
		return is_hex(s, 64);
	case K_KEYID:
		return is_hex(s, 16);
	case K_CERT:
		return !s[0] || is_hex(s, 64);
	case K_TEXT:
		return is_text(s, 1, COORD_TEXT_MAX);
	case K_SOURCE:
		return !strcmp(s, "client-ca") || !strcmp(s, "enrolled");
	case K_REASON:
		return !strcmp(s, "deleted") || !strcmp(s, "expired") || !strcmp(s, "lost");
	case K_PIN:
		return !strncmp(s, "sha256:", 7) && is_hex(s + 7, 64);
	case K_TOKENID:
		return strlen(s) == 6 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == 6;
	case K_DESC:
		return !s[0] || is_text(s, 1, COORD_DESCRIPTION_MAX);
	default:
		return false;
	}
}

/* One field of j into a (0), or -EBADMSG. */
static int field_read(const struct field *f, const json_t *j, struct coord_args *a)
{
	char *p = (char *)a + f->offset;
	switch (f->kind) {
	case K_UINT: {
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    (uint64_t)json_integer_value(j) > UINT_JSON_MAX)
			return -EBADMSG;
		uint64_t v = (uint64_t)json_integer_value(j);
		memcpy(p, &v, sizeof(v));
		return 0;
	}
	case K_BOOL: {
		if (!json_is_boolean(j))
			return -EBADMSG;
		bool v = json_is_true(j);
		memcpy(p, &v, sizeof(v));
		return 0;
	}
	case K_TIME: {
		int64_t t;
		const char *s = json_string_value(j);
		if (!s || strlen(s) >= RFC3339_LEN || time_parse(s, &t) < 0)
			return -EBADMSG;
		memcpy(p, &t, sizeof(t));
		return 0;
	}
	default: {
		const char *s = json_string_value(j);
		if (!s || strlen(s) != json_string_length(j) || strlen(s) >= f->size ||
		    !string_ok(f->kind, s))
			return -EBADMSG;
		memcpy(p, s, strlen(s) + 1);
		return 0;
	}
	}
}

/* One field of a as JSON, or NULL when its value is outside its form. */
static json_t *field_write(const struct field *f, const struct coord_args *a)
{
	const char *p = (const char *)a + f->offset;
	switch (f->kind) {
	case K_UINT: {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		return v <= UINT_JSON_MAX ? json_integer((json_int_t)v) : NULL;
	}
	case K_BOOL: {
		bool v;
		memcpy(&v, p, sizeof(v));
		return json_boolean(v);
	}
	case K_TIME: {
		int64_t t;
		char buf[RFC3339_LEN];
		memcpy(&t, p, sizeof(t));
		if (t < 0 || t > 253402300799LL) /* 9999-12-31T23:59:59Z */
			return NULL;
		time_format(t, buf);
		return json_string(buf);
	}
	default:
		if (strnlen(p, f->size) >= f->size || !string_ok(f->kind, p))
			return NULL;
		return json_string(p);
	}
}

static int fields_read(const struct field *fs, size_t n, const json_t *obj, struct coord_args *a,
		       char *why, size_t why_len)
{
	if (!json_is_object(obj)) {
		snprintf(why, why_len, "args is not an object");
		return -EBADMSG;
	}
	if (json_object_size(obj) != n) {
		snprintf(why, why_len, "args has %zu fields, the operation takes %zu",
			 json_object_size(obj), n);
		return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(obj, fs[i].name);
		if (!v) {
			snprintf(why, why_len, "args.%s is missing", fs[i].name);
			return -EBADMSG;
		}
		if (field_read(&fs[i], v, a) < 0) {
			snprintf(why, why_len, "args.%s is not of its form", fs[i].name);
			return -EBADMSG;
		}
	}
	return 0;
}

static json_t *fields_write(const struct field *fs, size_t n, const struct coord_args *a)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++) {
		json_t *v = field_write(&fs[i], a);
		if (!v || json_object_set_new(o, fs[i].name, v) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *load(const void *buf, size_t len)
{
	if (!buf || len == 0 || len > COORD_MSG_MAX)
		return NULL;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int coordmsg_request_parse(const void *buf, size_t len, struct coord_request *ret, char *why,
			   size_t why_len)
{
	json_t *j = load(buf, len);
	struct coord_request r = {0};
	int rc = -EBADMSG;
	snprintf(why, why_len, "not a JSON object of at most %d bytes", COORD_MSG_MAX);
	if (!j)
		return rc;
	const char *cookie = json_string_value(json_object_get(j, "cookie"));
	if (cookie && is_hex(cookie, COORD_COOKIE_LEN))
		memcpy(r.cookie, cookie, COORD_COOKIE_LEN + 1);
	json_t *v = json_object_get(j, "v");
	const char *op = json_string_value(json_object_get(j, "op"));
	json_t *to = json_object_get(j, "timeoutMs");
	if (!json_is_integer(v)) {
		snprintf(why, why_len, "no protocol version");
	} else if (json_integer_value(v) != COORD_VERSION) {
		snprintf(why, why_len, "protocol version %lld, this side speaks %d",
			 (long long)json_integer_value(v), COORD_VERSION);
		rc = -EPROTO;
	} else if (!r.cookie[0]) {
		snprintf(why, why_len, "cookie is not %d lowercase hex", COORD_COOKIE_LEN);
	} else if (json_object_size(j) != 5) {
		snprintf(why, why_len, "a request has v, op, cookie, timeoutMs and args");
	} else if (!json_is_integer(to) || json_integer_value(to) < 1 ||
		   json_integer_value(to) > COORD_TIMEOUT_MAX_MS) {
		snprintf(why, why_len, "timeoutMs is not from 1 to %d", COORD_TIMEOUT_MAX_MS);
	} else {
		r.op = COORD_OP_N;
		for (int i = 0; op && i < COORD_OP_N; i++)
			if (!strcmp(op, op_names[i]))
				r.op = (enum coord_op)i;
		r.timeout_ms = json_integer_value(to);
		if (r.op == COORD_OP_N)
			snprintf(why, why_len, "unknown operation");
		else if (fields_read(op_fields[r.op].f, op_fields[r.op].n,
				     json_object_get(j, "args"), &r.args, why, why_len) >= 0)
			rc = 0;
	}
	json_decref(j);
	if (rc == 0) {
		*ret = r;
		why[0] = 0;
	} else {
		memcpy(ret->cookie, r.cookie, sizeof(r.cookie));
	}
	return rc;
}

/* j as compact JSON into buf; its length or -ENOBUFS. Takes j's reference. */
static int dump(json_t *j, char *buf, size_t len)
{
	if (!j)
		return -EINVAL;
	size_t n = json_dumpb(j, buf, len, JSON_COMPACT);
	json_decref(j);
	if (n == 0 || n > len || n > COORD_MSG_MAX)
		return -ENOBUFS;
	return (int)n;
}

int coordmsg_request_build(const struct coord_request *r, char *buf, size_t len)
{
	if ((unsigned)r->op >= COORD_OP_N || !is_hex(r->cookie, COORD_COOKIE_LEN) ||
	    r->timeout_ms < 1 || r->timeout_ms > COORD_TIMEOUT_MAX_MS)
		return -EINVAL;
	json_t *args = op_fields[r->op].n
			   ? fields_write(op_fields[r->op].f, op_fields[r->op].n, &r->args)
			   : json_object();
	if (!args)
		return -EINVAL;
	return dump(json_pack("{s:i, s:s, s:s, s:I, s:o}", "v", COORD_VERSION, "op",
			      op_names[r->op], "cookie", r->cookie, "timeoutMs",
			      (json_int_t)r->timeout_ms, "args", args),
		    buf, len);
}

int coordmsg_reply_ok(const char *cookie, json_t *result, char *buf, size_t len)
{
	if (!result)
		return -EINVAL;
	return dump(json_pack("{s:i, s:s, s:b, s:o}", "v", COORD_VERSION, "cookie",
			      cookie ? cookie : "", "ok", 1, "result", result),
		    buf, len);
}

int coordmsg_reply_error(const char *cookie, enum coord_error e, const char *message, char *buf,
			 size_t len)
{
	char msg[COORD_MESSAGE_MAX];
	snprintf(msg, sizeof(msg), "%s", message ? message : "");
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return dump(json_pack("{s:i, s:s, s:b, s:s, s:s}", "v", COORD_VERSION, "cookie",
			      cookie ? cookie : "", "ok", 0, "error", coord_error_name(e),
			      "message", msg),
		    buf, len);
}

int coordmsg_reply_parse(const void *buf, size_t len, const char *cookie, struct coord_reply *ret)
{
	json_t *j = load(buf, len);
	struct coord_reply r = {0};
	int rc = -EBADMSG;
	if (!j)
		return rc;
	const char *c = json_string_value(json_object_get(j, "cookie"));
	json_t *v = json_object_get(j, "v"), *ok = json_object_get(j, "ok");
	if (!json_is_integer(v) || json_integer_value(v) != COORD_VERSION || !c ||
	    !json_is_boolean(ok)) {
		json_decref(j);
		return rc;
	}
	if (strcmp(c, cookie) != 0) {
		json_decref(j);
		return -ESTALE;
	}
	r.ok = json_is_true(ok);
	if (r.ok) {
		json_t *res = json_object_get(j, "result");
		if (json_is_object(res) && json_object_size(j) == 4) {
			r.result = json_incref(res);
			rc = 0;
		}
	} else {
		const char *e = json_string_value(json_object_get(j, "error"));
		const char *m = json_string_value(json_object_get(j, "message"));
		r.error = COORD_E_N;
		for (int i = 0; e && i < COORD_E_N; i++)
			if (!strcmp(e, error_names[i]))
				r.error = (enum coord_error)i;
		if (r.error != COORD_E_N && m && is_text(m, 0, COORD_MESSAGE_MAX - 1) &&
		    json_object_size(j) == 5) {
			snprintf(r.message, sizeof(r.message), "%s", m);
			rc = 0;
		}
	}
	json_decref(j);
	if (rc == 0)
		*ret = r;
	return rc;
}

/* Results. */

static json_t *gone_json(const struct coord_gone *g)
{
	char at[RFC3339_LEN];
	if (!g->reason[0])
		return json_null();
	time_format(g->at, at);
	return json_pack("{s:s, s:s, s:s}", "reason", g->reason, "id", g->id, "at", at);
}

static int gone_parse(const json_t *j, struct coord_gone *ret)
{
	struct coord_gone g = {0};
	if (json_is_null(j)) {
		*ret = g;
		return 0;
	}
	const char *reason = json_string_value(json_object_get(j, "reason"));
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *at = json_string_value(json_object_get(j, "at"));
	if (!json_is_object(j) || json_object_size(j) != 3 || !reason ||
	    !is_text(reason, 1, sizeof(g.reason) - 1) || !id || !is_hex(id, 32) || !at ||
	    strlen(at) >= RFC3339_LEN || time_parse(at, &g.at) < 0)
		return -EBADMSG;
	memcpy(g.reason, reason, strlen(reason) + 1);
	memcpy(g.id, id, 33);
	*ret = g;
	return 0;
}

json_t *coordmsg_claim_result(const struct coord_claim_result *c)
{
	if (c->fetch_no > UINT_JSON_MAX)
		return NULL;
	return json_pack("{s:s, s:I, s:b, s:b, s:s, s:o}", "result", c->result, "fetchNo",
			 (json_int_t)c->fetch_no, "repeat", c->repeat, "last", c->last, "current",
			 c->current, "gone", gone_json(&c->gone));
}

int coordmsg_claim_result_parse(const json_t *j, struct coord_claim_result *ret)
{
	struct coord_claim_result c = {0};
	const char *res = json_string_value(json_object_get(j, "result"));
	const char *cur = json_string_value(json_object_get(j, "current"));
	json_t *no = json_object_get(j, "fetchNo"), *rep = json_object_get(j, "repeat"),
	       *last = json_object_get(j, "last");
	if (!json_is_object(j) || json_object_size(j) != 6 || !res ||
	    (strcmp(res, "ok") != 0 && strcmp(res, "other") != 0 && strcmp(res, "gone") != 0) ||
	    !cur || (cur[0] && !is_hex(cur, 32)) || !json_is_integer(no) ||
	    json_integer_value(no) < 0 || !json_is_boolean(rep) || !json_is_boolean(last) ||
	    gone_parse(json_object_get(j, "gone"), &c.gone) < 0)
		return -EBADMSG;
	snprintf(c.result, sizeof(c.result), "%s", res);
	snprintf(c.current, sizeof(c.current), "%s", cur);
	c.fetch_no = (uint64_t)json_integer_value(no);
	c.repeat = json_is_true(rep);
	c.last = json_is_true(last);
	*ret = c;
	return 0;
}

/* The current bundle's fields in a view: announce's, without allowDropExternal. */
static const struct field current_fields[] = {
    F("id", K_HEX32, id),
    F("keyId", K_KEYID, key_id),
    F("sha256", K_HEX64, sha256),
    F("bytes", K_UINT, bytes),
    F("expiresAt", K_TIME, expires_at),
    F("maxFetches", K_UINT, max_fetches),
    F("hasExternal", K_BOOL, has_external),
    F("origin", K_TEXT, origin),
};

json_t *coordmsg_view_result(const struct coord_view *v)
{
	json_t *cur = v->has_current
			  ? fields_write(current_fields, ELEMENTSOF(current_fields), &v->current)
			  : json_null();
	if (!cur || v->fetches > UINT_JSON_MAX || v->key_ids > UINT_JSON_MAX ||
	    v->revision > UINT_JSON_MAX) {
		json_decref(cur);
		return NULL;
	}
	if (v->has_current &&
	    json_object_set_new(cur, "fetches", json_integer((json_int_t)v->fetches)) < 0) {
		json_decref(cur);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:I, s:I}", "current", cur, "gone", gone_json(&v->gone),
			 "keyIds", (json_int_t)v->key_ids, "revision", (json_int_t)v->revision);
}

int coordmsg_view_result_parse(const json_t *j, struct coord_view *ret)
{
	struct coord_view v = {0};
	char why[128];
	json_t *cur = json_object_get(j, "current"), *ids = json_object_get(j, "keyIds"),
	       *rev = json_object_get(j, "revision");
	if (!json_is_object(j) || json_object_size(j) != 4 || !cur || !json_is_integer(ids) ||
	    json_integer_value(ids) < 0 || !json_is_integer(rev) || json_integer_value(rev) < 0 ||
	    gone_parse(json_object_get(j, "gone"), &v.gone) < 0)
		return -EBADMSG;
	if (!json_is_null(cur)) {
		json_t *f = json_object_get(cur, "fetches");
		if (!json_is_object(cur) || !json_is_integer(f) || json_integer_value(f) < 0)
			return -EBADMSG;
		json_t *copy = json_copy(cur);
		if (!copy)
			return -ENOMEM;
		json_object_del(copy, "fetches");
		int r = fields_read(current_fields, ELEMENTSOF(current_fields), copy, &v.current,
				    why, sizeof(why));
		json_decref(copy);
		if (r < 0)
			return r;
		v.has_current = true;
		v.fetches = (uint64_t)json_integer_value(f);
	}
	v.key_ids = (uint64_t)json_integer_value(ids);
	v.revision = (uint64_t)json_integer_value(rev);
	*ret = v;
	return 0;
}

static const struct field holder_fields[] = {
    F("node", K_TEXT, node),
    F("peerAddress", K_TEXT, peer_address),
    F("servingPin", K_PIN, serving_pin),
};

static json_t *node_list(const char *name, const struct coord_holder *h, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n && i < COORD_HOLDERS_MAX; i++) {
		struct coord_args tmp = {0};
		memcpy(tmp.node, h[i].node, sizeof(tmp.node));
		memcpy(tmp.peer_address, h[i].peer_address, sizeof(tmp.peer_address));
		memcpy(tmp.serving_pin, h[i].serving_pin, sizeof(tmp.serving_pin));
		json_t *o = fields_write(holder_fields, ELEMENTSOF(holder_fields), &tmp);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a ? json_pack("{s:o}", name, a) : NULL;
}

json_t *coordmsg_holders_result(const struct coord_holder *h, size_t n)
{
	return node_list("holders", h, n);
}

json_t *coordmsg_peers_result(const struct coord_holder *h, size_t n)
{
	return node_list("peers", h, n);
}

json_t *coordmsg_connect_result(const struct coord_holder *h)
{
	struct coord_args tmp = {0};
	memcpy(tmp.node, h->node, sizeof(tmp.node));
	memcpy(tmp.peer_address, h->peer_address, sizeof(tmp.peer_address));
	memcpy(tmp.serving_pin, h->serving_pin, sizeof(tmp.serving_pin));
	return fields_write(holder_fields, ELEMENTSOF(holder_fields), &tmp);
}

int coordmsg_connect_result_parse(const json_t *j, struct coord_holder *ret)
{
	char why[128];
	struct coord_args tmp = {0};
	if (!json_is_object(j))
		return -EBADMSG;
	int r = fields_read(holder_fields, ELEMENTSOF(holder_fields), j, &tmp, why, sizeof(why));
	if (r < 0)
		return r;
	memcpy(ret->node, tmp.node, sizeof(ret->node));
	memcpy(ret->peer_address, tmp.peer_address, sizeof(ret->peer_address));
	memcpy(ret->serving_pin, tmp.serving_pin, sizeof(ret->serving_pin));
	return 0;
}

static int node_list_parse(const char *name, const json_t *j, struct coord_holder *ret, size_t max,
			   size_t *ret_n)
{
	char why[128];
	json_t *a = json_object_get(j, name);
	if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_array(a) ||
	    json_array_size(a) > COORD_HOLDERS_MAX || json_array_size(a) > max)
		return -EBADMSG;
	for (size_t i = 0; i < json_array_size(a); i++) {
		struct coord_args tmp = {0};
		int r = fields_read(holder_fields, ELEMENTSOF(holder_fields), json_array_get(a, i),
				    &tmp, why, sizeof(why));
		if (r < 0)
			return r;
		memcpy(ret[i].node, tmp.node, sizeof(ret[i].node));
		memcpy(ret[i].peer_address, tmp.peer_address, sizeof(ret[i].peer_address));
		memcpy(ret[i].serving_pin, tmp.serving_pin, sizeof(ret[i].serving_pin));
	}
	*ret_n = json_array_size(a);
	return 0;
}

int coordmsg_holders_result_parse(const json_t *j, struct coord_holder *ret, size_t max,
				  size_t *ret_n)
{
	return node_list_parse("holders", j, ret, max, ret_n);
}

int coordmsg_peers_result_parse(const json_t *j, struct coord_holder *ret, size_t max,
				size_t *ret_n)
{
	return node_list_parse("peers", j, ret, max, ret_n);
}

static json_t *time_or_empty(int64_t t)
{
	char buf[RFC3339_LEN];
	if (!t)
		return json_string("");
	time_format(t, buf);
	return json_string(buf);
}

static int time_or_empty_parse(const json_t *j, int64_t *ret)
{
	const char *s = json_string_value(j);
	if (!s || strlen(s) >= RFC3339_LEN)
		return -EBADMSG;
	*ret = 0;
	return !s[0] || time_parse(s, ret) == 0 ? 0 : -EBADMSG;
}

json_t *coordmsg_token_use_result(const struct coord_token_use *u)
{
	if (u->uses_left > UINT_JSON_MAX ||
	    (u->spent_by[0] && !is_text(u->spent_by, 1, COORD_TEXT_MAX)))
		return NULL;
	return json_pack("{s:s, s:I, s:s, s:o}", "result", u->result, "usesLeft",
			 (json_int_t)u->uses_left, "spentBy", u->spent_by, "spentAt",
			 time_or_empty(u->spent_at));
}

int coordmsg_token_use_result_parse(const json_t *j, struct coord_token_use *ret)
{
	struct coord_token_use u = {0};
	const char *res = json_string_value(json_object_get(j, "result"));
	const char *by = json_string_value(json_object_get(j, "spentBy"));
	json_t *left = json_object_get(j, "usesLeft");
	if (!json_is_object(j) || json_object_size(j) != 4 || !res ||
	    (strcmp(res, "ok") != 0 && strcmp(res, "unknown") != 0 && strcmp(res, "expired") != 0 &&
	     strcmp(res, "spent") != 0) ||
	    !json_is_integer(left) || json_integer_value(left) < 0 || !by ||
	    (by[0] && !is_text(by, 1, COORD_TEXT_MAX)) ||
	    time_or_empty_parse(json_object_get(j, "spentAt"), &u.spent_at) < 0)
		return -EBADMSG;
	snprintf(u.result, sizeof(u.result), "%s", res);
	snprintf(u.spent_by, sizeof(u.spent_by), "%s", by);
	u.uses_left = (uint64_t)json_integer_value(left);
	*ret = u;
	return 0;
}

static const struct field token_fields[] = {
    F("tokenId", K_TOKENID, token_id),	   F("secretHash", K_HEX64, secret_hash),
    F("expiresAt", K_TIME, expires_at),	   F("uses", K_UINT, uses),
    F("description", K_DESC, description),
};

json_t *coordmsg_tokens_result(const struct coord_token *t, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n && i < COORD_TOKENS_MAX; i++) {
		struct coord_args tmp = {0};
		memcpy(tmp.token_id, t[i].id, sizeof(tmp.token_id));
		memcpy(tmp.secret_hash, t[i].secret_hash, sizeof(tmp.secret_hash));
		tmp.expires_at = t[i].expires_at;
		tmp.uses = t[i].uses;
		memcpy(tmp.description, t[i].description, sizeof(tmp.description));
		json_t *o = fields_write(token_fields, ELEMENTSOF(token_fields), &tmp);
		if (!o || t[i].used > UINT_JSON_MAX ||
		    (t[i].spent_by[0] && !is_text(t[i].spent_by, 1, COORD_TEXT_MAX)) ||
		    json_object_set_new(o, "used", json_integer((json_int_t)t[i].used)) < 0 ||
		    json_object_set_new(o, "spentBy", json_string(t[i].spent_by)) < 0 ||
		    json_object_set_new(o, "spentAt", time_or_empty(t[i].spent_at)) < 0 ||
		    json_array_append_new(a, o) < 0) {
			json_decref(o);
			json_decref(a);
			return NULL;
		}
	}
	return a ? json_pack("{s:o}", "tokens", a) : NULL;
}

int coordmsg_tokens_result_parse(const json_t *j, struct coord_token *ret, size_t max,
				 size_t *ret_n)
{
	char why[128];
	json_t *a = json_object_get(j, "tokens");
	if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_array(a) ||
	    json_array_size(a) > COORD_TOKENS_MAX || json_array_size(a) > max)
		return -EBADMSG;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i), *used = json_object_get(o, "used");
		const char *by = json_string_value(json_object_get(o, "spentBy"));
		struct coord_args tmp = {0};
		struct coord_token t = {0};
		if (!json_is_object(o) || !json_is_integer(used) || json_integer_value(used) < 0 ||
		    !by || (by[0] && !is_text(by, 1, COORD_TEXT_MAX)) ||
		    time_or_empty_parse(json_object_get(o, "spentAt"), &t.spent_at) < 0)
			return -EBADMSG;
		json_t *copy = json_copy(o);
		if (!copy)
			return -ENOMEM;
		json_object_del(copy, "used");
		json_object_del(copy, "spentBy");
		json_object_del(copy, "spentAt");
		int r = fields_read(token_fields, ELEMENTSOF(token_fields), copy, &tmp, why,
				    sizeof(why));
		json_decref(copy);
		if (r < 0)
			return r;
		memcpy(t.id, tmp.token_id, sizeof(t.id));
		memcpy(t.secret_hash, tmp.secret_hash, sizeof(t.secret_hash));
		t.expires_at = tmp.expires_at;
		t.uses = tmp.uses;
		t.used = (uint64_t)json_integer_value(used);
		memcpy(t.description, tmp.description, sizeof(t.description));
		snprintf(t.spent_by, sizeof(t.spent_by), "%s", by);
		ret[i] = t;
	}
	*ret_n = json_array_size(a);
	return 0;
}
