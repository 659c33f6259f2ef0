/* coordmsg.h - the messages between pkishared and pkishare-coordd (proto/coord.md), built
 * and read in one place by both sides: every operation's arguments as a table of typed
 * fields, each checked on the way in (size, form, bounds), so neither process ever acts on
 * a field it did not check. Pure: no I/O (unit.coordmsg, fuzz.coordmsg). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define COORD_VERSION 1
#define COORD_MSG_MAX 65536 /* a list of 64 tokens with descriptions fits */
#define COORD_COOKIE_LEN 32 /* hex */
#define COORD_TIMEOUT_MAX_MS 30000
#define COORD_TEXT_MAX 96
#define COORD_MESSAGE_MAX 256
#define COORD_HOLDERS_MAX 32
#define COORD_TOKENS_MAX 64
#define COORD_DESCRIPTION_MAX 200

enum coord_op {
	COORD_ANNOUNCE,
	COORD_CLAIM,
	COORD_RETIRE,
	COORD_KEYID_SEEN,
	COORD_VIEW,
	COORD_HOLD,
	COORD_RELEASE,
	COORD_HOLDERS,
	COORD_WAIT,
	COORD_PING,
	COORD_REGISTER,
	COORD_PEERS,
	COORD_CONNECT,
	COORD_TOKEN_ADD,
	COORD_TOKEN_USE,
	COORD_TOKEN_DELETE,
	COORD_TOKENS,
	COORD_UNCLAIM,
	COORD_OP_N,
};
const char *coord_op_name(enum coord_op op);

enum coord_error {
	COORD_E_BAD_REQUEST,
	COORD_E_BAD_VERSION,
	COORD_E_TIMEOUT,
	COORD_E_UNKNOWN_OUTCOME,
	COORD_E_NO_QUORUM,
	COORD_E_UNREACHABLE,
	COORD_E_DENIED,
	COORD_E_KEY_REUSED,
	COORD_E_DROPS_EXTERNAL,
	COORD_E_NOT_CURRENT,
	COORD_E_INTERNAL,
	COORD_E_EXISTS,	  /* tokenAdd: the token id is taken */
	COORD_E_TOO_MANY, /* tokenAdd: COORD_TOKENS_MAX tokens are live */
	COORD_E_N,
};
const char *coord_error_name(enum coord_error e);

/* Every operation's arguments (the fields its op does not use stay zero). Strings are
 * NUL-terminated and checked for their form (proto/coord.md, "Field forms"). */
struct coord_args {
	char id[33];	    /* a bundle id */
	char key_id[17];    /* announce, keyIdSeen: 16 hex */
	char sha256[65];    /* announce: of the sealed bytes */
	uint64_t bytes;	    /* announce */
	int64_t expires_at; /* announce: the sealed expiresAt, unix seconds */
	uint64_t max_fetches;
	bool has_external, allow_drop_external;
	char origin[COORD_TEXT_MAX + 1]; /* announce: the uploading node */
	char claim_id[33];		 /* claim */
	char client[COORD_TEXT_MAX + 1];
	char cert[65]; /* "" or a certificate id */
	char source[16];
	char peer[COORD_TEXT_MAX + 1];
	char reason[16]; /* retire: deleted, expired, lost */
	char node[COORD_TEXT_MAX + 1];
	char peer_address[COORD_TEXT_MAX + 1];
	char serving_pin[80]; /* sha256:HEX */
	uint64_t since;	      /* wait */
	char token_id[7];     /* tokenAdd, tokenUse, tokenDelete: 6 of [a-z0-9] */
	char secret_hash[65]; /* tokenAdd, tokenUse: the keyed hash of the secret, hex */
	uint64_t uses;	      /* tokenAdd: 0 unlimited */
	char description[COORD_DESCRIPTION_MAX + 1]; /* tokenAdd: "" or printable */
};

struct coord_request {
	enum coord_op op;
	char cookie[COORD_COOKIE_LEN + 1];
	int64_t timeout_ms;
	struct coord_args args;
};

/* Read a request (coordd). 0 with ret filled in; -EPROTO for another protocol version,
 * -EBADMSG for anything else, with why (printable) saying which field. On a refusal only
 * ret->cookie is written: the request's cookie when it could be read ("" if not), so the
 * answer can carry it. */
int coordmsg_request_parse(const void *buf, size_t len, struct coord_request *ret, char *why,
			   size_t why_len);
/* Write a request (pkishared): compact JSON into buf (at most COORD_MSG_MAX bytes).
 * Returns its length, or -EINVAL for a field outside its form, -ENOBUFS. */
int coordmsg_request_build(const struct coord_request *r, char *buf, size_t len);

/* Replies. An ok reply's result is the op's object (built with the helpers below). Both
 * return the length written into buf (at most COORD_MSG_MAX), or -ENOBUFS. */
int coordmsg_reply_ok(const char *cookie, json_t *result, char *buf, size_t len);
int coordmsg_reply_error(const char *cookie, enum coord_error e, const char *message, char *buf,
			 size_t len);

struct coord_reply {
	bool ok;
	enum coord_error error;		 /* when !ok */
	char message[COORD_MESSAGE_MAX]; /* when !ok, printable */
	json_t *result;			 /* when ok: the op's result object (json_decref it) */
};
/* Read a reply (pkishared) to the call with cookie: -ESTALE for a reply to another call
 * (discard it and read the next), -EBADMSG for anything malformed. */
int coordmsg_reply_parse(const void *buf, size_t len, const char *cookie, struct coord_reply *ret);

/* The results of claim and view, as both sides see them. */
struct coord_gone {
	char reason[16]; /* "" none */
	char id[33];
	int64_t at;
};
struct coord_claim_result {
	char result[8]; /* "ok", "other", "gone" */
	uint64_t fetch_no;
	bool repeat, last;
	char current[33];
	struct coord_gone gone;
};
json_t *coordmsg_claim_result(const struct coord_claim_result *c);
int coordmsg_claim_result_parse(const json_t *j, struct coord_claim_result *ret);

struct coord_view {
	bool has_current;
	struct coord_args current; /* id, key_id, sha256, bytes, expires_at, max_fetches,
				    * has_external, origin */
	uint64_t fetches;
	struct coord_gone gone;
	uint64_t key_ids;
	uint64_t revision;
};
json_t *coordmsg_view_result(const struct coord_view *v);
int coordmsg_view_result_parse(const json_t *j, struct coord_view *ret);

struct coord_holder {
	char node[COORD_TEXT_MAX + 1];
	char peer_address[COORD_TEXT_MAX + 1];
	char serving_pin[80];
};
json_t *coordmsg_holders_result(const struct coord_holder *h, size_t n);
int coordmsg_holders_result_parse(const json_t *j, struct coord_holder *ret, size_t max,
				  size_t *ret_n);
/* peers: the registered nodes ({"peers": [...]}, as holders). */
json_t *coordmsg_peers_result(const struct coord_holder *h, size_t n);
int coordmsg_peers_result_parse(const json_t *j, struct coord_holder *ret, size_t max,
				size_t *ret_n);
/* connect: the peer a connection was opened to ({node, peerAddress, servingPin}); the
 * descriptor travels beside the reply (SCM_RIGHTS). */
json_t *coordmsg_connect_result(const struct coord_holder *h);
int coordmsg_connect_result_parse(const json_t *j, struct coord_holder *ret);

/* tokenUse's result: "ok" (one use spent), "unknown" (no such token, or another secret),
 * "expired", "spent" (its last use was spent: by spentBy at spentAt). */
struct coord_token_use {
	char result[8];
	uint64_t uses_left; /* after this use; 0 with unlimited uses too */
	char spent_by[COORD_TEXT_MAX + 1];
	int64_t spent_at; /* 0 when not spent */
};
json_t *coordmsg_token_use_result(const struct coord_token_use *u);
int coordmsg_token_use_result_parse(const json_t *j, struct coord_token_use *ret);

/* tokens: every join token of the cluster, as etcd keeps it (the hash, never a secret). */
struct coord_token {
	char id[7];
	char secret_hash[65];
	int64_t expires_at;
	uint64_t uses, used; /* uses 0: unlimited */
	char description[COORD_DESCRIPTION_MAX + 1];
	char spent_by[COORD_TEXT_MAX + 1]; /* "" until its last use is spent */
	int64_t spent_at;
};
json_t *coordmsg_tokens_result(const struct coord_token *t, size_t n);
int coordmsg_tokens_result_parse(const json_t *j, struct coord_token *ret, size_t max,
				 size_t *ret_n);
