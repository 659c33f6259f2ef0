/* daemon.h - pkishared's context: everything the request handlers and the reaper share,
 * passed explicitly (no global mutable state outside main()). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api.h"
#include "conf.h"
#include "metrics.h"
#include "pin.h"
#include "policy.h"
#include "ratelimit.h"
#include "replica.h"
#include "secret.h"
#include "signer.h"
#include "store.h"
#include "x509.h"

#define TLS_SERVING_NAMES_MAX 16
#define ADMIN_BODY_MAX (BUNDLE_MAX_BYTES + 4096)

struct daemon_ctx;

/* The TLS files as loaded by one start or reload: immutable once published, shared by
 * reference. The serving side and the admin thread each hold a reference while they use
 * it, so a reload never frees what another thread reads. */
struct tls_files {
	_Atomic unsigned refs;
	struct secret *key_pem; /* libmicrohttpd keeps pointers to key and cert */
	struct secret *cert_pem;
	struct secret *client_ca_pem;	     /* NULL: token-only (no client CA configured) */
	char *client_ca_path;		     /* its file, for status; NULL in token-only */
	char ca_cert_hash[PIN_TEXT_LEN + 1]; /* "" if the chain has no CA */
	char pinned_pubkey[96];		     /* curl's --pinnedpubkey form of the leaf */
	/* The serving certificate's names (IP addresses first), for print-join-command. */
	char serving_names[TLS_SERVING_NAMES_MAX][X509_NAME_TEXT_MAX];
	size_t n_serving_names;
};

/* Load and check the files: cert and key must match; the client CA, if one is configured
 * (none: token-only), must not hold the CA of the serving chain (the cluster CA, which
 * issues every kubelet's and component's client certificate). On failure why (why_len
 * bytes) says what is wrong and what to do; the caller logs it. Never logs. */
int tls_files_load(const struct daemon_config *cfg, struct tls_files **ret, char *why,
		   size_t why_len);
struct tls_files *tls_files_ref(struct tls_files *t);
/* Drop one reference; the last one wipes and frees. Accepts NULL; returns NULL. */
struct tls_files *tls_files_unref(struct tls_files *t);
/* The current files, referenced (never NULL while the daemon runs). */
struct tls_files *daemon_tls_get(struct daemon_ctx *ctx);

struct signer;

/* What a request's context (libmicrohttpd's *req_ctx) is, its first member. */
enum req_kind {
	REQ_ENROLL = 1,
	REQ_FETCH,
};

/* fetchq.c: fetches whose claim runs off the serving thread (see fetchq.c). */
#define FETCHQ_WORKERS 2
#define FETCHQ_MAX 64		   /* fetches queued for or in a claim; past it 503 + Retry-After */
#define FETCHQ_STOP_ANSWER_MS 2000 /* at stop, how long answers of made claims may take */
/* A fetch resumed past connection-max-age (its claim ran long) may take this long to be
 * answered before the age cut applies again. */
#define FETCHQ_ANSWER_GRACE_MS 10000

enum fetch_job_outcome {
	FETCH_JOB_WAITING = 0,
	FETCH_JOB_CLAIMED,   /* res and the rest say the claim's outcome */
	FETCH_JOB_ABANDONED, /* the client hung up while queued: nothing claimed */
	FETCH_JOB_STOPPING,  /* the serving side stops or reloads: nothing claimed */
	FETCH_JOB_TOO_LATE,  /* waited in the queue until its connection's max age: 503 */
};

/* One suspended GET /v1/bundle: what the claim needs (copied: the worker reads no
 * connection state) and, once outcome is set, what it decided. Or, with token_use, one
 * suspended POST /v1/enroll whose join token's use waits for the cluster (coordination):
 * the worker spends the use (store_token_use) and result says how it went. */
struct fetch_job {
	enum req_kind kind; /* REQ_FETCH */
	struct daemon_ctx *ctx;
	struct MHD_Connection *c;
	int fd; /* the connection's socket, to see a client that hung up */
	struct fetch_job *next;
	char want[BUNDLE_ID_HEX_LEN + 1]; /* "" for whatever is held */
	char client[STORE_ID_MAX];
	char cert[STORE_CERT_ID_LEN + 1];
	char source[16];
	char peer[STORE_ID_MAX];
	int64_t started_ms;
	int64_t deadline_ms; /* monotonic: its connection's max age; queued past it: 503 */
	bool reserved;	     /* holds a place in the fetchq */
	enum fetch_job_outcome outcome;
	enum store_fetch res;
	struct held_blob *blob;
	char bid[BUNDLE_ID_HEX_LEN + 1];
	uint64_t fetch_no;
	bool repeat;
	int64_t gone_at;
	bool token_use;	    /* an enrollment's token use, not a fetch */
	bool token_refresh; /* ... or a token unknown here, asked again of the cluster */
	bool peer_copy;	    /* ... or a peer's copy of want, asked of etcd whether current */
	char token_id[TOKEN_ID_LEN + 1];
	uint8_t token_hash[TOKEN_HASH_BYTES]; /* wiped once used */
	int result; /* of a token use, a token lookup or a peer copy's check (0 or <0) */
};

struct fetchq {
	pthread_mutex_t lock;
	pthread_cond_t wake, drained;
	pthread_t workers[FETCHQ_WORKERS];
	size_t n_workers;
	struct fetch_job *head, *tail;
	unsigned busy;		 /* reserved: queued, being claimed or being answered */
	unsigned claiming;	 /* of them, queued or being claimed */
	_Atomic uint64_t *gauge; /* where busy is shown (metrics) */
	bool stopping, running, inited;
};

int fetchq_start(struct fetchq *q, _Atomic uint64_t *gauge);
/* Reserve a place before suspending: -EBUSY at FETCHQ_MAX, -ESHUTDOWN when stopping. */
int fetchq_reserve(struct fetchq *q);
/* Hand a suspended connection's job (a reserved place) to a worker. */
void fetchq_push(struct fetchq *q, struct fetch_job *j);
/* Queued jobs whose deadline_ms has passed go back to the serving thread unclaimed
 * (FETCH_JOB_TOO_LATE, answered 503): the serving loop calls it every pass, so a
 * waiting fetch is answered, never cut silently by connection-max-age. */
void fetchq_expire(struct fetchq *q, int64_t now_ms);
/* A reserved place is free again (the job's request completed). */
void fetchq_release(struct fetchq *q);
/* Resume every queued job unclaimed, wait for the claims in progress and (a while) for
 * their answers, join the workers. The serving loop must still be running (it answers
 * the resumed connections). */
void fetchq_stop(struct fetchq *q);
struct fetch_job *fetch_job_free(struct fetch_job *j);
/* A job for connection c (its socket, the time), or NULL (out of memory). */
struct fetch_job *fetch_job_new(struct daemon_ctx *ctx, struct MHD_Connection *c);
/* Suspend c and hand j, which holds a reserved place (fetchq_reserve), to a worker; the
 * worker resumes c once it is done. j must already be c's request context. */
void fetch_job_suspend(struct fetch_job *j);
/* Run a job's claim (store_fetch) here and now: the worker's step, or the serving
 * thread's when the claim cannot wait (store_fetch_waits). look: once claimed, see
 * whether the client left meanwhile, and give the slot back if so (res
 * STORE_FETCH_ABANDONED); the worker's case, a claim that waited. */
void fetch_job_claim(struct fetch_job *j, bool look);

/* Where a client identity comes from. */
struct daemon_ctx {
	const struct daemon_config *cfg;
	struct store store;
	struct replica replica; /* coordination: copies of the cluster's bundle (replica.c) */

	/* The TLS files in force; replaced under tls_lock by a reload. */
	pthread_mutex_t tls_lock;
	struct tls_files *tls;
	struct tls_files *serving_tls; /* what the running libmicrohttpd daemon points into */
	struct secret *trust_pem;      /* CA names libmicrohttpd offers; lives as long as https */

	/* Serving thread only (or the main thread while the serving thread is stopped): the
	 * enrollment CA, its previous generation, and the two trust lists the handshake
	 * verifies client chains against: the operator's client CA alone, and the enrollment
	 * CAs alone, so that the list a chain verifies through says who issued its leaf. */
	struct signer *signer; /* the enrollment CA, the one holder of its keys (signer.h) */
	/* Its certificates as GnuTLS reads them: current, previous (NULL: none). */
	gnutls_x509_crt_t enroll_crt[2];
	gnutls_x509_trust_list_t trust_client;
	gnutls_x509_trust_list_t trust_enroll;
	/* Bumped by every rebuild of the trust lists; names_gen is the rebuild whose CA names
	 * libmicrohttpd's credentials offer in the CertificateRequest (see identity.c). */
	unsigned trust_gen, names_gen;

	struct ratelimit ratelimit;	/* join tokens */
	struct ratelimit tls_ratelimit; /* client certificates refused in the handshake */
	struct metrics metrics;

	/* Reload outcomes, for POST /v1/reload (systemctl reload) to wait on. */
	pthread_mutex_t reload_lock;
	pthread_cond_t reload_done;
	uint64_t reload_gen; /* reloads finished */
	bool reload_ok;
	char reload_why[512];

	struct MHD_Daemon *https;
	struct fetchq fetchq;
	pthread_t serve_thread;
	bool serving;
	_Atomic bool serve_stop;
	int serve_wake_fd;
	struct conn_state *conns; /* serving thread only, newest first */
	unsigned n_conns_live;	  /* of them, not cut (serving thread only) */
	struct MHD_Daemon *admin;
	int https_fd;
	int admin_fd;
	char listen_name[128];	 /* the address actually bound, e.g. 127.0.0.1:9443 */
	bool admin_from_systemd; /* socket activation: systemd owns the socket file */
};

struct conn_state;

/* server.c: the HTTPS listener and its serving loop. */
int server_start(struct daemon_ctx *ctx);
/* "addr:port" of a listening socket. */
void server_sock_name(int fd, char *buf, size_t len);
void server_stop(struct daemon_ctx *ctx);
/* " (token-only)" for STATUS= lines when the running files have no client CA, else "". */
const char *server_mode_note(const struct daemon_ctx *ctx);

/* routes.c: the public API's routes, for libmicrohttpd. */
enum MHD_Result routes_handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx);
void routes_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
		      enum MHD_RequestTerminationCode toe);

/* identity.c: per-connection state and the client identity, decided once, in the TLS
 * handshake. */
void identity_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		     enum MHD_ConnectionNotificationCode code);
/* Turn away, before any TLS work, addresses that keep presenting refused certificates. */
enum MHD_Result identity_accept_policy(void *cls, const struct sockaddr *addr, socklen_t len);
/* The identity the handshake decided for this connection (re-checked for a resumed
 * session, which skips the handshake's verification); marks that it reached HTTP. */
const struct client_id *identity_of(struct MHD_Connection *c);
/* Rebuild the trust lists: the client CA's (client_ca_pem NULL in token-only: an empty
 * list, which verifies nothing), and the enrollment CAs'. */
int identity_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca_pem);
void identity_trust_free(struct daemon_ctx *ctx);
/* Cut connections older than connection-max-age. */
void identity_cut_old(struct daemon_ctx *ctx, int64_t now_ms);
/* c's fetch is suspended for a claim worker: exempt from the age cut until resumed.
 * Returns the monotonic time c reaches connection-max-age (INT64_MAX if unknown), which
 * bounds the fetch's wait in the queue. */
int64_t identity_fetch_suspended(struct daemon_ctx *ctx, struct MHD_Connection *c);
/* c's fetch was resumed at now_ms: cut by age again, after FETCHQ_ANSWER_GRACE_MS. */
void identity_fetch_resumed(struct MHD_Connection *c, int64_t now_ms);

/* enroll.c: the enrollment CA and POST /v1/enroll. */
int enroll_init(struct daemon_ctx *ctx);
void enroll_done(struct daemon_ctx *ctx);
/* Renew the enrollment CA when two enroll-ttl are left, retire the previous one when
 * the last certificate it issued has lapsed. Serving thread. Returns true if the set of
 * enrollment CAs changed (the trust list was rebuilt). */
bool enroll_tick(struct daemon_ctx *ctx, int64_t now);
/* client CA (none in token-only) + current enrollment CA: the CA names libmicrohttpd
 * offers in the handshake. */
int enroll_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca, struct secret **ret);
struct enroll_req {
	enum req_kind kind; /* REQ_ENROLL */
	struct secret *body;
	bool too_big;
	/* GET /v1/bundle/info by a client without a certificate that sends its join token as
	 * "Authorization: Bearer", not an enrollment: the token is checked as enrollment
	 * checks it (failures count against the address) but not spent, so a joiner plans
	 * (key id, clock, profile) before its enrollment spends a use. */
	bool describe;
	/* Coordination: suspended while a worker spends the token's use in etcd, or hears
	 * the cluster's tokens again (once: refreshed) for a token this node has not heard of. */
	struct fetch_job *job;
	bool refreshed;
	struct secret *pem; /* the certificate issued, answered once the use is spent */
	char cn[SIGNER_CN_MAX + 2];
};
enum MHD_Result enroll_handle(struct daemon_ctx *ctx, struct MHD_Connection *c,
			      struct enroll_req *req, const char *peer);

/* routes.c: the held bundle's description (GET /v1/bundle/info), or 404. */
enum MHD_Result routes_bundle_info(struct daemon_ctx *ctx, struct MHD_Connection *c);

/* admin.c: the admin API on the unix socket (root or our own uid only). */
int admin_start(struct daemon_ctx *ctx);
void admin_stop(struct daemon_ctx *ctx);

/* http.c: responses shared by both APIs. */
enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, enum api_reason reason,
			   const char *fmt, ...) _printf_(4, 5);
/* 429 too-many-attempts with Retry-After. */
enum MHD_Result http_error_retry(struct MHD_Connection *c, int64_t retry_after_s, const char *fmt,
				 ...) _printf_(3, 4);
/* An error answer with Retry-After (503 busy: try again shortly). */
enum MHD_Result http_error_retry_status(struct MHD_Connection *c, unsigned status,
					enum api_reason reason, int64_t retry_after_s,
					const char *fmt, ...) _printf_(5, 6);
enum MHD_Result http_pem(struct MHD_Connection *c, struct secret *pem);
enum MHD_Result http_metrics(struct daemon_ctx *ctx, struct MHD_Connection *c);
enum MHD_Result http_secret(struct MHD_Connection *c, unsigned status, struct secret *body);
/* A JSON response over len bytes at data; free_cb(cls) runs when libmicrohttpd is done with
 * them, or at once if the response cannot be made. */
enum MHD_Result http_buffer(struct MHD_Connection *c, unsigned status, size_t len, void *data,
			    MHD_ContentReaderFreeCallback free_cb, void *cls);
/* libmicrohttpd's own messages, at debug level (refused handshakes are audited instead). */
void http_mhd_logger(void *cls, const char *fmt, va_list ap);
