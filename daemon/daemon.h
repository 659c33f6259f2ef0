/* daemon.h - pkishared's context: everything the request handlers and the reaper share,
 * passed explicitly (no global mutable state outside main()). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>

#include "metrics.h"
#include "secret.h"
#include "store.h"

#define DAEMON_MAX_ALLOW 64
#define ADMIN_BODY_MAX (BUNDLE_MAX_BYTES + 4096)
#define DEFAULT_TTL_S (2 * 3600)
#define DEFAULT_MAX_TTL_S (24 * 3600)
#define DEFAULT_LISTEN "0.0.0.0:9443"
#define DEFAULT_ADMIN_SOCKET "/run/pkishare/admin.sock"
#define DEFAULT_CONNECTION_TIMEOUT_S 10
#define DEFAULT_CONNECTION_MAX_AGE_S 30
#define DEFAULT_CONNECTION_LIMIT 1024
#define DEFAULT_PER_IP_LIMIT 64
#define DEFAULT_ENROLL_TTL_S 600
#define CSR_MAX_BYTES 16384
#define RATELIMIT_SLOTS 256
#define DEFAULT_AUTH_FAILURE_LIMIT 5 /* failed authentications per peer address ... */
#define DEFAULT_TLS_FAILURE_LIMIT 30 /* refused client certificates per address ... */
#define RATELIMIT_WINDOW_MS 60000    /* ... per minute, then 429 until the minute is over */
#define DEFAULT_TLS_PRIORITIES                                                                     \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"       \
	"+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"          \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

struct daemon_config {
	const char *listen;
	const char *tls_cert;
	const char *tls_key;
	const char *client_ca;
	const char *admin_socket;
	const char *allow[DAEMON_MAX_ALLOW];
	size_t n_allow;
	int64_t ttl_s;
	int64_t max_ttl_s;
	unsigned connection_timeout_s;
	unsigned connection_limit;
	unsigned per_ip_limit;
	const char *tls_priorities;
	int64_t enroll_ttl_s;
	bool ttl_given;
	unsigned connection_max_age_s;
	unsigned auth_failure_limit; /* failed enrollments per address per minute */
	unsigned tls_failure_limit;  /* refused client identities per address per minute */
};

/* Failed authentications per peer address, to slow down token guessing. */
struct ratelimit {
	pthread_mutex_t lock;
	struct {
		char addr[64];
		unsigned failures;
		int64_t window_start_ms;
	} slot[RATELIMIT_SLOTS];
};

struct daemon_ctx {
	const struct daemon_config *cfg;
	struct store store;

	/* TLS material: libmicrohttpd keeps these pointers, so they live (guarded) until
	 * after MHD_stop_daemon(). */
	struct secret *tls_key_pem;
	struct secret *tls_cert_pem;
	struct secret *client_ca_pem;
	struct secret *trust_pem; /* client CA + enrollment CA, for MHD_OPTION_HTTPS_MEM_TRUST */

	/* The enrollment CA, made in memory at start; its key never leaves this process. */
	EVP_PKEY *enroll_key;
	X509 *enroll_ca;
	struct ratelimit ratelimit;	/* join tokens */
	struct ratelimit tls_ratelimit; /* client certificates */
	struct metrics metrics;

	struct MHD_Daemon *https;
	pthread_t serve_thread;
	bool serving;
	_Atomic bool serve_stop;
	int serve_wake_fd;
	struct conn_state *conns; /* serving thread only */
	struct MHD_Daemon *admin;
	int https_fd;
	int admin_fd;
	char listen_name[128];	 /* the address actually bound, e.g. 127.0.0.1:9443 */
	bool admin_from_systemd; /* socket activation: systemd owns the socket file */
};

struct conn_state;

/* server.c: the public HTTPS API (mutual TLS). */
int server_start(struct daemon_ctx *ctx);
/* Does this certificate chain and key load in GnuTLS, and do they match? */
int server_check_tls(const struct secret *cert, const struct secret *key);
/* "addr:port" of a listening socket. */
void server_sock_name(int fd, char *buf, size_t len);
void server_stop(struct daemon_ctx *ctx);

/* enroll.c: the enrollment CA and POST /v1/enroll. */
int enroll_init(struct daemon_ctx *ctx);
void enroll_done(struct daemon_ctx *ctx);
/* client CA + enrollment CA, the PEM the TLS layer trusts. */
int enroll_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca, struct secret **ret);
struct enroll_req {
	struct secret *body;
	bool too_big;
};
enum MHD_Result enroll_handle(struct daemon_ctx *ctx, struct MHD_Connection *c,
			      struct enroll_req *req, const char *peer);
/* Milliseconds until peer may try again (0: it may now), and recording a failure. */
int64_t ratelimit_wait_ms(struct ratelimit *rl, const char *peer, unsigned limit);
void ratelimit_fail(struct ratelimit *rl, const char *peer);

/* admin.c: the admin API on the unix socket (root or our own uid only). */
int admin_start(struct daemon_ctx *ctx);
void admin_stop(struct daemon_ctx *ctx);

/* http.c: responses shared by both APIs. */
enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *reason,
			   const char *fmt, ...) _printf_(4, 5);
/* Serve a guarded buffer; it is wiped and freed when libmicrohttpd is done with it. */
enum MHD_Result http_error_retry(struct MHD_Connection *c, int64_t retry_after_s, const char *fmt,
				 ...) _printf_(3, 4);
enum MHD_Result http_pem(struct MHD_Connection *c, struct secret *pem);
enum MHD_Result http_metrics(struct daemon_ctx *ctx, struct MHD_Connection *c);
enum MHD_Result http_secret(struct MHD_Connection *c, unsigned status, struct secret *body);
/* The peer's address as text ("unix" for the admin socket). */
void http_peer(struct MHD_Connection *c, char *buf, size_t len);
/* libmicrohttpd's own messages, at debug level (refused handshakes are audited instead). */
void http_mhd_logger(void *cls, const char *fmt, va_list ap);
