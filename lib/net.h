/* net.h - HTTP requests to pkishared: plain HTTP over a unix socket or any connected
 * descriptor, and HTTPS with the server pinned to the cluster CA (checked inside the
 * handshake, before our certificate or any request is sent) and our client certificate.
 * Shared by the client and the daemon; it opens a connection itself or runs over a
 * descriptor the caller opened. Responses land in guarded memory. Never logs: what went
 * wrong is returned, with a sentence in detail (DETAIL_MAX) where a caller says it. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "httpresp.h"
#include "secret.h"

/* How every read and write of a connection net opens is bounded. */
#define NET_IO_TIMEOUT_S 30
#define NET_CONNECT_TIMEOUT_MS 5000

/* Who the HTTPS server must be, and who we are. */
struct net_tls_opts {
	const char *server;	 /* host[:port] (ADDR_DEFAULT_PORT); over a given descriptor, the
				  * name the server's certificate must carry (and the port, for the
				  * API server's) */
	const uint8_t *pin;	 /* PIN_BYTES */
	const uint8_t *leaf_pin; /* PIN_BYTES, or NULL: the server's own key must have this pin
				  * too (a registered peer's serving key) */
	const char *cert_file;
	const char *key_file;
	const char *ca_file; /* alternative to the pin: a CA file (tests, curl parity) */
	/* An identity held in memory (enrollment) instead of cert_file/key_file. */
	X509 *cert;
	EVP_PKEY *key;
};

/* One request (Connection: close) over fd, a connected stream the caller opened and still
 * owns (not closed, its timeouts left as they are), and the whole answer parsed. host goes
 * in the Host header; header is one "Name: value" line (may be NULL), body a JSON body
 * (may be NULL). 0 with *ret, or -EPROTO (not HTTP), -PKS_E_TOO_BIG (past
 * HTTP_RESPONSE_MAX_BYTES), -E2BIG (the request's head), -errno. */
int net_http_request_fd(int fd, const char *host, const char *method, const char *path,
			const char *header, const struct secret *body, struct http_response *ret);
/* The same over a new connection to the unix socket socket_path, every read and write
 * bounded by NET_IO_TIMEOUT_S (-ETIMEDOUT when the other side does not answer). */
int net_unix_request(const char *socket_path, const char *method, const char *path,
		     const struct secret *body, struct http_response *ret);

/* An HTTPS request to o->server with the server pinned (o->pin) or checked against
 * o->ca_file, and our certificate. Errors, with detail saying which: -EINVAL (o->server
 * does not parse), -PKS_E_PIN_MISMATCH (no CA in the server's chain has the pin: nothing
 * sent), -PKS_E_CLOCK (a pinned certificate outside its dates), -PKS_E_SERVER_NAME (the
 * pinned CA's certificate, for another name), -PKS_E_API_SERVER (the Kubernetes API
 * server, not pkishared), -PKS_E_SERVER_NO_CA (the server sent its certificate without
 * a CA: nothing to check the pin against), -EADDRNOTAVAIL (the server's name does not
 * resolve), -EHOSTUNREACH (no connection), -ECONNABORTED (handshake failed), -ECONNRESET (handshake
 * done, then no answer: our certificate was refused), -PKS_E_X509 or -errno for our own certificate
 * and key files. */
int net_https_request(const struct net_tls_opts *o, const char *method, const char *path,
		      const char *header, const struct secret *body, struct http_response *ret,
		      char *detail);
/* net_https_request("GET") without header or body. */
int net_https_get(const struct net_tls_opts *o, const char *path, struct http_response *ret,
		  char *detail);
/* net_https_request over fd, a connected stream the caller opened and still owns (not
 * closed; its timeouts are the caller's to set): the same handshake, checks and errors,
 * except -EADDRNOTAVAIL and -EHOSTUNREACH. o->server names the server the certificate must be for.
 */
int net_https_request_fd(int fd, const struct net_tls_opts *o, const char *method, const char *path,
			 const char *header, const struct secret *body, struct http_response *ret,
			 char *detail);
