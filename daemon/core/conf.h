/* conf.h - pkishared's settings as the core and the serving side read them, with every
 * default and bound in one place. No sockets, no libmicrohttpd, no GnuTLS: options.c fills
 * it, the serving side (serve/daemon.h) points at it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>

#include "api.h"

#define DAEMON_MAX_ALLOW 64
#define DEFAULT_TTL_S (2 * 3600)
#define DEFAULT_MAX_TTL_S (24 * 3600)
#define DEFAULT_LISTEN "0.0.0.0:9443"
#define DEFAULT_ADMIN_SOCKET API_ADMIN_SOCKET
#define DEFAULT_CONNECTION_TIMEOUT_S 10
#define DEFAULT_CONNECTION_MAX_AGE_S 30
/* The serving loop uses select(2) (see server.c for why), so every descriptor must stay
 * below FD_SETSIZE; libmicrohttpd closes a connection whose descriptor would not. */
#define CONNECTION_LIMIT_MAX (FD_SETSIZE - 64)
#define DEFAULT_CONNECTION_LIMIT CONNECTION_LIMIT_MAX
#define DEFAULT_PER_IP_LIMIT 64
#define DEFAULT_PER_NET_LIMIT 128     /* per IPv4 /24 or IPv6 /64 */
#define DEFAULT_HANDSHAKE_TIMEOUT_S 5 /* to finish the handshake and send the first request */
/* Connections libmicrohttpd may hold beyond connection-limit: the ones cut to make room
 * for a newcomer, until the serving loop has seen them close. */
#define CONNECTION_EVICT_HEADROOM 32
#define DEFAULT_ENROLL_TTL_S 600
#define DEFAULT_ENROLL_CA_LIFETIME_S (30 * 24 * 3600)
#define CSR_MAX_BYTES 16384
#define DEFAULT_AUTH_FAILURE_LIMIT 5 /* failed enrollments per address per minute */
#define DEFAULT_TLS_FAILURE_LIMIT 30 /* refused client certificates per address per minute */
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
	const char *allow[DAEMON_MAX_ALLOW]; /* CN patterns for client-CA identities */
	size_t n_allow;
	int64_t ttl_s;
	int64_t max_ttl_s;
	unsigned connection_timeout_s;
	unsigned connection_limit;
	unsigned per_ip_limit;
	unsigned per_net_limit; /* per IPv4 /24 or IPv6 /64 */
	unsigned handshake_timeout_s;
	const char *tls_priorities;
	int64_t enroll_ttl_s;
	int64_t enroll_ca_lifetime_s;
	bool enrolled_fetch; /* may enrolled identities fetch the bundle */
	bool ttl_given;
	unsigned connection_max_age_s;
	unsigned auth_failure_limit; /* failed enrollments per address per minute */
	unsigned tls_failure_limit;  /* refused client certificates per address per minute */
	const char *coord_socket;    /* pkishare-coordd's socket; NULL: coordination off */
	const char *node_name;	     /* with coordination: this node's name */
	const char *peer_address;    /* with coordination: HOST:PORT peers reach; NULL none */
};
