/* net.c - HTTP to pkishared: plain over a unix socket or a given descriptor, and HTTPS with
 * the server pinned to the cluster CA and our client certificate, over a connection of
 * its own or a descriptor the caller opened.
 *
 * The pin is checked inside the handshake, before our certificate or any request is
 * sent. Responses land in guarded memory. Never logs: why a server was refused is said in
 * detail, for the caller to say. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "cleanup.h"
#include "error.h"
#include "net.h"
#include "pin.h"
#include "util.h"
#include "x509.h"

#define KEY_FILE_MAX (64 * 1024)

struct conn {
	int fd;
	SSL *ssl;
};

/* All n bytes to c. Returns 0, or -EIO / -errno. */
static int conn_write(struct conn *c, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w;
		if (c->ssl) {
			size_t done = 0;
			if (SSL_write_ex(c->ssl, b, n, &done) != 1)
				return -EIO;
			w = (ssize_t)done;
		} else {
			w = write(c->fd, b, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read the whole response (the server closes: we send Connection: close). Returns 0, or
 * -PKS_E_TOO_BIG past HTTP_RESPONSE_MAX_BYTES, -EIO, -errno. */
static int conn_read_all(struct conn *c, struct secret *out)
{
	unsigned char buf[8192];
	int r = 0;
	for (;;) {
		ssize_t n;
		if (c->ssl) {
			size_t got = 0;
			if (SSL_read_ex(c->ssl, buf, sizeof(buf), &got) != 1) {
				int e = SSL_get_error(c->ssl, 0);
				if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
					break;
				r = -EIO;
				break;
			}
			n = (ssize_t)got;
		} else {
			n = read(c->fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			if (n == 0)
				break;
		}
		if (out->len + (size_t)n > HTTP_RESPONSE_MAX_BYTES) {
			r = -PKS_E_TOO_BIG;
			break;
		}
		r = secret_append(out, buf, (size_t)n);
		if (r < 0)
			break;
	}
	secret_wipe(buf, sizeof(buf));
	return r;
}

/* One request on c and its parsed answer. Returns 0 with *ret, or <0. */
static int send_and_receive(struct conn *c, const char *host, const char *method, const char *path,
			    const char *header, const struct secret *body,
			    struct http_response *ret)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pkishare\r\n"
			 "Accept: application/json\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n%s%s%s\r\n",
			 method, path, host, body ? body->len : 0,
			 body ? "Content-Type: application/json\r\n" : "", header ? header : "",
			 header ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -E2BIG;
	int r = conn_write(c, head, (size_t)n);
	if (r == 0 && body && body->len)
		r = conn_write(c, body->data, body->len);
	if (r < 0)
		return r;
	_cleanup_(secret_freep) struct secret *raw = secret_new(16384);
	if (!raw)
		return -ENOMEM;
	secret_wipe(head, sizeof(head)); /* it may have carried a bearer token */
	r = conn_read_all(c, raw);
	if (r < 0)
		return r;
	if (!raw->len)
		return -ENODATA;
	return http_response_parse(raw->data, raw->len, ret);
}

/* Returns whether host is an IPv4 or IPv6 address. */
static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Bound every read and write on fd. Returns nothing (best effort). */
static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = NET_IO_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int net_http_request_fd(int fd, const char *host, const char *method, const char *path,
			const char *header, const struct secret *body, struct http_response *ret)
{
	struct conn c = {.fd = fd};
	return send_and_receive(&c, host, method, path, header, body, ret);
}

int net_unix_request(const char *socket_path, const char *method, const char *path,
		     const struct secret *body, struct http_response *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	str_copy(sa.sun_path, sizeof(sa.sun_path), socket_path);
	_cleanup_(closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	int r = net_http_request_fd(fd, "localhost", method, path, NULL, body, ret);
	/* A socket timeout surfaces as EAGAIN ("Resource temporarily unavailable"). */
	return r == -EAGAIN || r == -EWOULDBLOCK ? -ETIMEDOUT : r;
}

/* A connected socket, or -errno; a name that does not resolve is -EADDRNOTAVAIL with
 * the resolver's word in gai (GAI_MAX). */
#define GAI_MAX 128
static int tcp_connect(const char *host, const char *port, char *gai)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		str_copy(gai, GAI_MAX, r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	int fd = -1, err = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (poll(&p, 1, NET_CONNECT_TIMEOUT_MS) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			err = soerr ? -soerr : -ETIMEDOUT;
		} else {
			err = -errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return err;
	/* Small TLS records (Finished, the request) must not wait for delayed ACKs (Nagle). */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Back to blocking, bounded by the socket timeouts. */
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	set_timeouts(fd);
	return fd;
}

struct pin_check {
	const uint8_t *pin;
	const uint8_t *leaf_pin;
	const char *host;
	uint16_t port;
	bool matched;
	int err; /* what the handshake's failure means: -PKS_E_PIN_MISMATCH, -PKS_E_CLOCK,
		  * -PKS_E_SERVER_NAME or -PKS_E_API_SERVER */
	char why[DETAIL_MAX];
};

/* The Kubernetes API server's port, which a kubeadm habit puts in --server. */
#define API_SERVER_PORT 6443

/* The DNS names and IP addresses cert names (its subjectAltNames), comma-separated and
 * made printable, into buf (cut to len); *ret_api says whether one of them is
 * kubernetes.default, which only the Kubernetes API server's certificate carries.
 * Returns nothing. */
static void cert_names(X509 *cert, char *buf, size_t len, bool *ret_api)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t at = 0;
	buf[0] = 0;
	*ret_api = false;
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		char one[INET6_ADDRSTRLEN + 1] = "";
		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *d = g->d.dNSName;
			int n = ASN1_STRING_length(d);
			str_format(one, sizeof(one), "%.*s", n < 0 ? 0 : n,
				   (const char *)ASN1_STRING_get0_data(d));
			if (!strcmp(one, "kubernetes.default"))
				*ret_api = true;
		} else if (g->type == GEN_IPADD) {
			int n = ASN1_STRING_length(g->d.iPAddress);
			const void *ip = ASN1_STRING_get0_data(g->d.iPAddress);
			if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, ip, one, sizeof(one)) ||
			    (n != 4 && n != 16))
				one[0] = 0;
		}
		if (!one[0] || at >= len)
			continue;
		str_printable(one);
		int w = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", one);
		at = w < 0 ? len : at + (size_t)w;
	}
	GENERAL_NAMES_free(names);
}

/* The server is not pkishared but the Kubernetes API server (port 6443, or a certificate
 * naming kubernetes.default; by_name_only: the certificate alone decides, for a chain
 * that verified). Said in pc->why; returns whether it was. */
static bool say_api_server(struct pin_check *pc, X509 *leaf, bool by_name_only)
{
	char names[160];
	bool api;
	cert_names(leaf, names, sizeof(names), &api);
	if (!api && (by_name_only || pc->port != API_SERVER_PORT))
		return false;
	pc->err = -PKS_E_API_SERVER;
	str_format(pc->why, sizeof(pc->why),
		   "this is the Kubernetes API server, not pkishared (%s)",
		   api ? "its certificate names kubernetes.default" : "port 6443");
	return true;
}

/* The pinned chain failed only on a certificate's dates (err: X509_V_ERR_CERT_NOT_YET_VALID
 * or _HAS_EXPIRED, for cert: the pinned CA anchor, the server's own leaf, or a CA between
 * them): the likeliest cause is a clock, this node's or the one that made the certificate.
 * Said in pc->why, naming the certificate whose dates fail. Returns nothing. */
static void say_dates(struct pin_check *pc, int err, X509 *cert, const X509 *anchor,
		      const X509 *leaf)
{
	char now[RFC3339_LEN], at[RFC3339_LEN], by[64] = "?", cn[64] = "", what[160];
	int64_t t = 0;
	bool early = err == X509_V_ERR_CERT_NOT_YET_VALID;
	bool ca = cert == anchor;
	const ASN1_TIME *when = early ? X509_get0_notBefore(cert) : X509_get0_notAfter(cert);
	struct tm tm;
	if (when && ASN1_TIME_to_tm(when, &tm) == 1)
		t = (int64_t)timegm(&tm);
	time_format(time_now(), now);
	time_format(t, at);
	if (t)
		duration_format(early ? t - time_now() : time_now() - t, by, sizeof(by));
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) <
	    0)
		cn[0] = 0;
	str_printable(cn);
	str_format(what, sizeof(what), "%s%s%s%s",
		   ca		  ? "the pinned cluster CA"
		   : cert == leaf ? "its serving certificate"
				  : "a CA in its chain",
		   cn[0] ? " (CN " : "", cn, cn[0] ? ")" : "");
	pc->err = -PKS_E_CLOCK;
	/* The facts only (DETAIL_MAX); error_message(-PKS_E_CLOCK) says what to do. */
	if (early)
		str_format(pc->why, sizeof(pc->why),
			   "%s is not valid before %s, but this node's clock reads %s: this "
			   "node's clock is at least %s behind, or the clock that made %s was "
			   "ahead",
			   what, at, now, by, ca ? "the cluster CA" : "the certificate");
	else
		str_format(pc->why, sizeof(pc->why),
			   "%s expired at %s by this node's clock (%s, %s later): this node's "
			   "clock is ahead, or %s",
			   what, at, now, by,
			   ca ? "the cluster CA has expired (renew it, then every certificate it "
				"signed)"
			      : "pkishared's serving certificate is out of date (renew it: pki "
				"serving-cert)");
}

/* The pinned chain verifies, but the certificate is not for the address used: said with
 * the names it has, in pc->why. Returns nothing. */
static void say_name(struct pin_check *pc, X509 *leaf)
{
	char names[160];
	bool api;
	cert_names(leaf, names, sizeof(names), &api);
	pc->err = -PKS_E_SERVER_NAME;
	str_format(pc->why, sizeof(pc->why),
		   "its certificate is from the pinned CA but not for %s: it names %s", pc->host,
		   names[0] ? names : "no address or DNS name");
}

/* Does the chain the server sent hold a CA certificate besides the leaf? */
static bool chain_has_ca(STACK_OF(X509) * chain, X509 *leaf)
{
	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		if (c != leaf && X509_cmp(c, leaf) != 0 && X509_check_ca(c) >= 1)
			return true;
	}
	return false;
}

/* The server sent its own certificate without a CA after it: there is nothing to check
 * the pin against, and the pin is not to blame. Said in pc->why, naming the leaf's issuer.
 * Returns nothing. */
static void say_no_ca(struct pin_check *pc, X509 *leaf)
{
	char issuer[256] = "?";
	const X509_NAME *n = X509_get_issuer_name(leaf);
	if (n)
		X509_NAME_oneline(n, issuer, sizeof(issuer));
	str_printable(issuer);
	pc->err = -PKS_E_SERVER_NO_CA;
	str_format(pc->why, sizeof(pc->why),
		   "the server sent no CA certificate, only its own (issued by %s), so the "
		   "--ca-cert-hash cannot be checked",
		   issuer);
}

/* Runs inside the handshake instead of OpenSSL's own chain building: find the pinned CA
 * in what the server sent, then verify the server certificate (chain, purpose, name)
 * against that CA alone. Returns 1 to go on with the handshake, 0 to end it. */
static int pin_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	struct pin_check *pc = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xctx);
	X509 *anchor = NULL;
	int ok = 0;

	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		uint8_t got[PIN_BYTES];
		if (X509_check_ca(c) >= 1 && pin_of_cert(c, got) == 0 &&
		    memcmp(got, pc->pin, PIN_BYTES) == 0) {
			anchor = c;
			break;
		}
	}
	if (!anchor) {
		if (say_api_server(pc, leaf, false))
			return 0;
		if (!chain_has_ca(chain, leaf)) {
			say_no_ca(pc, leaf);
			return 0;
		}
		str_copy(pc->why, sizeof(pc->why),
			 "no CA certificate in the server's chain matches the pin");
		return 0;
	}
	pc->matched = true;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *v = X509_STORE_CTX_new();
	if (store && v && X509_STORE_add_cert(store, anchor) == 1 &&
	    X509_STORE_CTX_init(v, store, leaf, chain) == 1) {
		X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(v);
		X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
		if (X509_VERIFY_PARAM_set1_ip_asc(param, pc->host) != 1)
			X509_VERIFY_PARAM_set1_host(param, pc->host, 0);
		ok = X509_verify_cert(v) == 1;
		int e = ok ? X509_V_OK : X509_STORE_CTX_get_error(v);
		X509 *bad = X509_STORE_CTX_get_current_cert(v);
		if (!ok && bad &&
		    (e == X509_V_ERR_CERT_NOT_YET_VALID || e == X509_V_ERR_CERT_HAS_EXPIRED))
			say_dates(pc, e, bad, anchor, leaf);
		else if (!ok && say_api_server(pc, leaf, false))
			; /* said */
		else if (!ok &&
			 (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH))
			say_name(pc, leaf);
		else if (!ok)
			snprintf(pc->why, sizeof(pc->why),
				 "the server certificate does not verify against the pinned CA "
				 "for %s: %s",
				 pc->host,
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(v)));
	}
	/* The API server's certificate is from the pinned (cluster) CA and names the address
	 * it was reached by: it verifies, and would be sent the request (a join token in its
	 * Authorization header). Its kubernetes.default name ends the handshake first. */
	if (ok && say_api_server(pc, leaf, true))
		ok = 0;
	/* A registered peer: its own key too, not only a certificate the CA made. */
	uint8_t lp[PIN_BYTES];
	if (ok && pc->leaf_pin &&
	    (pin_of_cert(leaf, lp) < 0 || memcmp(lp, pc->leaf_pin, PIN_BYTES) != 0)) {
		str_copy(pc->why, sizeof(pc->why),
			 "the server's key is not the one registered for it (its serving key's "
			 "pin differs)");
		ok = 0;
	}
	X509_STORE_CTX_free(v);
	X509_STORE_free(store);
	X509_STORE_CTX_set_error(xctx, ok ? X509_V_OK : X509_V_ERR_CERT_REJECTED);
	return ok;
}

/* Our certificate and key into ctx: held in memory (o->cert, o->key) or read from files.
 * Returns 0, or <0 with detail saying why. */
static int load_client_identity(SSL_CTX *ctx, const struct net_tls_opts *o, char *detail)
{
	if (o->cert && o->key)
		return SSL_CTX_use_certificate(ctx, o->cert) == 1 &&
			       SSL_CTX_use_PrivateKey(ctx, o->key) == 1
			   ? 0
			   : -PKS_E_X509;
	if (!o->cert_file || !o->key_file)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
		snprintf(detail, DETAIL_MAX, "cannot load client certificate %s", o->cert_file);
		return -PKS_E_X509;
	}
	_cleanup_(secret_freep) struct secret *pem = NULL;
	int r = secret_read_file(o->key_file, KEY_FILE_MAX, &pem);
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "cannot read client key %s: %s", o->key_file,
			 error_message(r));
		return r;
	}
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	r = x509_key_load(pem->data, pem->len, &key);
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "cannot parse client key %s", o->key_file);
		return r;
	}
	r = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1
		? 0
		: -PKS_E_X509;
	if (r < 0)
		snprintf(detail, DETAIL_MAX, "client key %s does not match certificate %s",
			 o->key_file, o->cert_file);
	return r;
}

/* _cleanup_ destructors for OpenSSL's connection types (only this file holds them);
 * they take NULL and return nothing. */
static void ssl_ctx_freep(SSL_CTX **p)
{
	SSL_CTX_free(*p);
}

static void ssl_freep(SSL **p)
{
	SSL_free(*p);
}

/* A client context for o: TLS 1.2 or later, the server checked against the pin (by
 * pin_verify_cb with pc) or o->ca_file, our identity loaded. Returns 0 with *ret, or <0
 * with detail saying why. */
static int tls_ctx_new(const struct net_tls_opts *o, struct pin_check *pc, SSL_CTX **ret,
		       char *detail)
{
	_cleanup_(ssl_ctx_freep) SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	if (o->pin) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_cert_verify_callback(ctx, pin_verify_cb, pc);
	} else if (o->ca_file) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
			snprintf(detail, DETAIL_MAX, "cannot load CA file %s", o->ca_file);
			return -PKS_E_X509;
		}
	}
	int r = load_client_identity(ctx, o, detail);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(ctx);
	return 0;
}

/* A TCP connection to host port. Returns the socket, or with detail saying why
 * -EADDRNOTAVAIL (a name that does not resolve) or -EHOSTUNREACH (no connection). */
static int server_connect(const char *host, const char *port, char *detail)
{
	char gai[GAI_MAX] = "";
	int fd = tcp_connect(host, port, gai);
	if (fd == -EADDRNOTAVAIL) {
		str_format(detail, DETAIL_MAX,
			   "the name %.100s did not resolve (%s); check the spelling of --server "
			   "and this node's DNS, or give an IP address",
			   host, gai);
		return -EADDRNOTAVAIL;
	}
	if (fd < 0) {
		snprintf(detail, DETAIL_MAX, "cannot connect to %.100s port %s: %s", host, port,
			 strerror(-fd));
		return -EHOSTUNREACH;
	}
	return fd;
}

/* The TLS handshake with o->server on fd, the pin checked inside it (pc says why it did
 * not match). Returns 0 with *ret_ssl, or <0 with detail saying why:
 * -PKS_E_PIN_MISMATCH, -ECONNABORTED, -ENOMEM. */
static int tls_handshake(SSL_CTX *ctx, int fd, const struct net_tls_opts *o,
			 const struct pin_check *pc, SSL **ret_ssl, char *detail)
{
	_cleanup_(ssl_freep) SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return -ENOMEM;
	SSL_set_fd(ssl, fd);
	/* An IP literal is checked against the IP SANs and sent as no SNI at all (RFC 6066
	 * allows only host names there; OpenSSL would send "::1" and GnuTLS then ends the
	 * handshake). A host name gets both. */
	bool literal = is_ip_literal(pc->host);
	if (!o->pin && o->ca_file) {
		if (literal)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), pc->host);
		else
			SSL_set1_host(ssl, pc->host);
	}
	if (!literal && SSL_set_tlsext_host_name(ssl, pc->host) != 1)
		ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		if (o->pin && pc->why[0]) {
			str_copy(detail, DETAIL_MAX, pc->why);
			return pc->err ? pc->err : -PKS_E_PIN_MISMATCH;
		}
		unsigned long e = ERR_peek_last_error();
		snprintf(detail, DETAIL_MAX, "TLS handshake with %s failed: %s", o->server,
			 e ? ERR_reason_error_string(e) : "connection closed");
		return -ECONNABORTED;
	}
	*ret_ssl = TAKE_PTR(ssl);
	return 0;
}

int net_https_get(const struct net_tls_opts *o, const char *path, struct http_response *ret,
		  char *detail)
{
	return net_https_request(o, "GET", path, NULL, NULL, ret, detail);
}

/* What a request to o->server needs before a connection: its host and port (pc's), and
 * the TLS context. Returns 0 with *ret_ctx, or <0 with detail saying why. */
static int https_prepare(const struct net_tls_opts *o, char host[ADDR_HOST_MAX],
			 struct pin_check *pc, SSL_CTX **ret_ctx, char *detail)
{
	uint16_t portno;
	detail[0] = 0;
	if (addr_parse(o->server, ADDR_DEFAULT_PORT, host, &portno, detail) < 0)
		return -EINVAL;
	pc->pin = o->pin;
	pc->leaf_pin = o->leaf_pin;
	pc->host = host;
	pc->port = portno;
	return tls_ctx_new(o, pc, ret_ctx, detail);
}

/* The handshake on fd (pinned with pc) and the request over it. Returns 0 with *ret, or
 * <0 with detail saying why (as net_https_request). */
static int https_exchange(int fd, SSL_CTX *ctx, const struct net_tls_opts *o, struct pin_check *pc,
			  const char *method, const char *path, const char *header,
			  const struct secret *body, struct http_response *ret, char *detail)
{
	_cleanup_(ssl_freep) SSL *ssl = NULL;
	int r = tls_handshake(ctx, fd, o, pc, &ssl, detail);
	if (r >= 0) {
		struct conn c = {.fd = fd, .ssl = ssl};
		int x = send_and_receive(&c, pc->host, method, path, header, body, ret);
		if (x == -PKS_E_TOO_BIG) {
			snprintf(detail, DETAIL_MAX, "the server's answer is larger than %d bytes",
				 HTTP_RESPONSE_MAX_BYTES);
			r = x;
		} else if (x == -EPROTO || x == -EBADMSG) {
			snprintf(detail, DETAIL_MAX,
				 "the server's answer is not an HTTP answer this client reads (or "
				 "was cut short)");
			r = -EPROTO;
		} else if (x < 0) {
			/* Under TLS 1.3 a server that refuses our certificate closes right after
			 * the handshake: the request then fails with no answer. */
			snprintf(detail, DETAIL_MAX,
				 "the server closed the connection without an answer: it refused "
				 "our client certificate (not signed by its client CA, expired, or "
				 "not a client certificate)");
			r = -ECONNRESET;
		}
	}
	ERR_clear_error(); /* what the handshake left; ssl is freed after */
	return r;
}

int net_https_request(const struct net_tls_opts *o, const char *method, const char *path,
		      const char *header, const struct secret *body, struct http_response *ret,
		      char *detail)
{
	char host[ADDR_HOST_MAX], port[8];
	struct pin_check pc = {0};
	_cleanup_(ssl_ctx_freep) SSL_CTX *ctx = NULL;
	_cleanup_(closep) int fd = -1;

	int r = https_prepare(o, host, &pc, &ctx, detail);
	if (r < 0)
		return r;
	snprintf(port, sizeof(port), "%u", (unsigned)pc.port);
	fd = server_connect(host, port, detail);
	if (fd < 0)
		return fd;
	return https_exchange(fd, ctx, o, &pc, method, path, header, body, ret, detail);
}

int net_https_request_fd(int fd, const struct net_tls_opts *o, const char *method, const char *path,
			 const char *header, const struct secret *body, struct http_response *ret,
			 char *detail)
{
	char host[ADDR_HOST_MAX];
	struct pin_check pc = {0};
	_cleanup_(ssl_ctx_freep) SSL_CTX *ctx = NULL;

	int r = https_prepare(o, host, &pc, &ctx, detail);
	if (r < 0)
		return r;
	/* A connection opened elsewhere (pkishare-coordd's, for a peer copy) had Nagle on:
	 * each small record after the first then waited for the peer's delayed ACK, about
	 * 40 ms a time (bench/coord.sh: 170 ms from an upload to three holders, 30 without). */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return https_exchange(fd, ctx, o, &pc, method, path, header, body, ret, detail);
}
