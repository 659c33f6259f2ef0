/* identity.c - who is at the other end of a TLS connection: decided once, inside the
 * handshake, and kept in the connection's state for the routes to read.
 *
 * libmicrohttpd only *requests* a client certificate. Here the handshake's verify
 * function imports the presented chain once, verifies it for the TLS client purpose
 * against the operator's client CA (none in token-only mode: that list is then empty and
 * verifies nothing) and, only if that fails, against the enrollment CAs
 * (the list that verifies it says where the identity comes from, whatever the chain's
 * length or order), and requires of the leaf: an extended key usage with clientAuth,
 * CA:FALSE, and digitalSignature where a key usage is present. A certificate that fails
 * any of that ends the handshake, so it never reaches a route. A client without a certificate
 * completes the handshake with no identity; only POST /v1/enroll answers it.
 *
 * Must never let a connection whose certificate failed a check reach a route, and never
 * count anything but a refused certificate against an address. Serving thread only. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "addr.h"
#include "daemon.h"
#include "log.h"
#include "pin.h"
#include "tlshello.h"
#include "util.h"
#include "x509.h"

#define VERIFY_FAILED UINT_MAX /* verify_with: the verification could not run */

/* Per TLS connection, from libmicrohttpd's STARTED notification to CLOSED. */
struct conn_state {
	struct daemon_ctx *ctx;
	struct client_id id;
	bool decided;	   /* the verify function ran (or there was nothing to verify) */
	bool cert_refused; /* the handshake failed on the client's certificate */
	bool reached_http;
	bool cut;
	bool fetch_waiting; /* suspended while a claim worker owns its fetch (fetchq.c) */
	int fd;
	int64_t started_ms;
	int64_t resumed_ms;	   /* when its fetch was last resumed; 0: never suspended */
	uint8_t net[ADDR_NET_LEN]; /* its /24 or /64 (addr_net), for per-network-limit */
	char peer[ADDR_TEXT_MAX];
	char host[ADDR_TEXT_MAX]; /* peer without its port */
	char why[POLICY_WHY_MAX]; /* why the certificate (or the handshake) was refused */
	struct conn_state *prev, *next;
};

void identity_trust_free(struct daemon_ctx *ctx)
{
	if (ctx->trust_client)
		gnutls_x509_trust_list_deinit(ctx->trust_client, 1);
	if (ctx->trust_enroll)
		gnutls_x509_trust_list_deinit(ctx->trust_enroll, 1);
	ctx->trust_client = NULL;
	ctx->trust_enroll = NULL;
}

static int trust_add_ca(gnutls_x509_trust_list_t tl, gnutls_x509_crt_t ca, unsigned tl_flags)
{
	gnutls_x509_crt_t copy;
	gnutls_datum_t der = {0};
	int r = gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_DER, &der);
	if (r < 0)
		return -EIO;
	r = gnutls_x509_crt_init(&copy);
	if (r >= 0) {
		r = gnutls_x509_crt_import(copy, &der, GNUTLS_X509_FMT_DER);
		/* On success the list owns the copy. */
		if (r >= 0)
			r = gnutls_x509_trust_list_add_cas(tl, &copy, 1, tl_flags) == 1 ? 0 : -1;
		if (r < 0)
			gnutls_x509_crt_deinit(copy);
	}
	gnutls_free(der.data);
	return r < 0 ? -EIO : 0;
}

int identity_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca_pem)
{
	gnutls_x509_trust_list_t tc = NULL, te = NULL;

	/* Two lists, never one: GnuTLS reorders a presented chain and drops what is not part
	 * of it, so the number or order of certificates a client sends says nothing about
	 * who issued its leaf; the list that verifies it does. */
	if (gnutls_x509_trust_list_init(&tc, 0) < 0)
		return -ENOMEM;
	if (gnutls_x509_trust_list_init(&te, 0) < 0) {
		gnutls_x509_trust_list_deinit(tc, 1);
		return -ENOMEM;
	}
	/* Token-only (no client CA): the client CA's list stays empty, so no chain verifies
	 * through it and every certificate is judged by the enrollment CAs alone. */
	int r = 1;
	if (client_ca_pem) {
		gnutls_datum_t pem = {.data = client_ca_pem->data,
				      .size = (unsigned)client_ca_pem->len};
		r = gnutls_x509_trust_list_add_trust_mem(tc, &pem, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	}
	if (r <= 0 || (ctx->enroll_crt[0] && trust_add_ca(te, ctx->enroll_crt[0], 0) < 0) ||
	    (ctx->enroll_crt[1] && trust_add_ca(te, ctx->enroll_crt[1], 0) < 0)) {
		gnutls_x509_trust_list_deinit(tc, 1);
		gnutls_x509_trust_list_deinit(te, 1);
		return -EIO;
	}
	identity_trust_free(ctx);
	ctx->trust_client = tc;
	ctx->trust_enroll = te;
	ctx->trust_gen++;
	return 0;
}

/* The CA names the CertificateRequest offers come from the trust list of libmicrohttpd's
 * credentials, filled once at start; after an enrollment CA renewal they would name the
 * retired CA and not the new one, and a client that picks its certificate by those names
 * (Go's crypto/tls does) would then send none. So before the next handshake, the
 * credentials get a fresh list (client CA and the enrollment CAs in force). That list is
 * only ever used for names: identity.c verifies against its own lists. Serving thread,
 * which runs every handshake, so no handshake sees the list change under it. */
static void refresh_ca_names(struct daemon_ctx *ctx, gnutls_session_t session)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_trust_list_t tl = NULL;

	if (ctx->names_gen == ctx->trust_gen || !ctx->serving_tls)
		return;
	if (gnutls_credentials_get(session, GNUTLS_CRD_CERTIFICATE, (void **)&cred) < 0 || !cred ||
	    gnutls_x509_trust_list_init(&tl, 0) < 0)
		goto fail;
	const struct secret *pem = ctx->serving_tls->client_ca_pem; /* NULL: token-only */
	gnutls_datum_t d = {.data = pem ? pem->data : NULL, .size = pem ? (unsigned)pem->len : 0};
	if ((pem && gnutls_x509_trust_list_add_trust_mem(tl, &d, NULL, GNUTLS_X509_FMT_PEM,
							 GNUTLS_TL_USE_IN_TLS, 0) <= 0) ||
	    (ctx->enroll_crt[0] &&
	     trust_add_ca(tl, ctx->enroll_crt[0], GNUTLS_TL_USE_IN_TLS) < 0) ||
	    (ctx->enroll_crt[1] &&
	     trust_add_ca(tl, ctx->enroll_crt[1], GNUTLS_TL_USE_IN_TLS) < 0)) {
		gnutls_x509_trust_list_deinit(tl, 1);
		goto fail;
	}
	gnutls_certificate_set_trust_list(cred, tl, 0); /* frees the previous list */
	ctx->names_gen = ctx->trust_gen;
	return;
fail:
	/* Tried again at the next connection; verification does not depend on it. */
	log_msg(LOG_WARNING, "cannot renew the CA names offered to TLS clients; clients that "
			     "choose their certificate by them may send none");
}

static bool has_client_auth_eku(gnutls_x509_crt_t crt)
{
	for (unsigned i = 0;; i++) {
		char oid[128];
		size_t sz = sizeof(oid);
		int r = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &sz, NULL);
		if (r == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue; /* an OID longer than any we look for */
		if (r < 0)
			return false;
		if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
			return true;
	}
}

static bool issued_by(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca)
{
	return ca && gnutls_x509_crt_check_issuer(leaf, ca) == 1;
}

/* Verify the chain against one trust list for the TLS client purpose: POLICY_VERIFIED,
 * or the GnuTLS status with why it failed ("" if the verification could not run). */
static unsigned verify_with(gnutls_x509_trust_list_t tl, gnutls_x509_crt_t *crts, unsigned n,
			    char *why, size_t why_len)
{
	gnutls_typed_vdata_st purpose = {
	    .type = GNUTLS_DT_KEY_PURPOSE_OID,
	    .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	unsigned status = 0;
	gnutls_datum_t out = {0};

	why[0] = 0;
	if (!tl ||
	    gnutls_x509_trust_list_verify_crt2(tl, crts, n, &purpose, 1, 0, &status, NULL) < 0)
		return VERIFY_FAILED;
	if (status != POLICY_VERIFIED &&
	    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
		str_copy(why, why_len, (const char *)out.data);
		gnutls_free(out.data);
	}
	return status;
}

/* The certificate's id: SHA-256 of its issuer's name and its serial number as the
 * certificate holds them. Both lie inside what the CA signed, so no other encoding of the
 * same certificate (an ECDSA signature's s as n - s, an INTEGER with leading zeros, which
 * GnuTLS accepts) changes it, where the SHA-256 of the DER it was sent as did. */
static void cert_id(gnutls_x509_crt_t leaf, char out[STORE_CERT_ID_LEN + 1])
{
	gnutls_datum_t issuer = {0};
	gnutls_hash_hd_t h = NULL;
	uint8_t serial[128], digest[32], len[4];
	size_t serial_len = sizeof(serial);

	out[0] = 0;
	if (gnutls_x509_crt_get_raw_issuer_dn(leaf, &issuer) < 0)
		return;
	if (gnutls_x509_crt_get_serial(leaf, serial, &serial_len) >= 0 &&
	    gnutls_hash_init(&h, GNUTLS_DIG_SHA256) >= 0) {
		/* The issuer's length first: the two fields cannot be cut elsewhere. */
		len[0] = (uint8_t)(issuer.size >> 24);
		len[1] = (uint8_t)(issuer.size >> 16);
		len[2] = (uint8_t)(issuer.size >> 8);
		len[3] = (uint8_t)issuer.size;
		gnutls_hash(h, len, sizeof(len));
		gnutls_hash(h, issuer.data, issuer.size);
		gnutls_hash(h, serial, serial_len);
		gnutls_hash_deinit(h, digest);
		for (size_t i = 0; i < sizeof(digest); i++)
			snprintf(out + 2 * i, 3, "%02x", digest[i]);
	}
	gnutls_free(issuer.data);
}

/* What the leaf says of itself: CA flag, key purposes and usage, CN, its id. */
static void leaf_facts(gnutls_x509_crt_t leaf, struct peer_facts *f)
{
	unsigned ca = 0, ku = 0;
	size_t sz = sizeof(f->cn);

	f->is_ca = gnutls_x509_crt_get_basic_constraints(leaf, NULL, &ca, NULL) >= 0 && ca;
	f->client_auth = has_client_auth_eku(leaf);
	f->has_key_usage = gnutls_x509_crt_get_key_usage(leaf, &ku, NULL) >= 0;
	f->digital_signature = ku & GNUTLS_KEY_DIGITAL_SIGNATURE;
	if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0, f->cn, &sz) < 0)
		f->cn[0] = 0;
	cert_id(leaf, f->cert_id);
}

/* The RSA exponent's size and value, from its big-endian bytes. */
static void rsa_exponent_facts(const gnutls_datum_t *e, struct key_facts *k)
{
	size_t i = 0;
	while (i < e->size && e->data[i] == 0)
		i++;
	if (i == e->size)
		return; /* e = 0: e_bits 0, not odd, refused */
	unsigned top = e->data[i], top_bits = 0;
	while (top >> top_bits)
		top_bits++;
	size_t bytes = e->size - i;
	k->e_bits = bytes > 8 ? UINT_MAX : (unsigned)(bytes - 1) * 8 + top_bits;
	k->e_is_f4 = bytes == 3 && e->data[i] == 1 && e->data[i + 1] == 0 && e->data[i + 2] == 1;
	k->e_odd = e->data[e->size - 1] & 1;
}

/* What lib/x509's key policy looks at, read from a parsed certificate: parameters only.
 * A modulus past any the policy takes ends it before the exponent is even copied. */
static void crt_key_facts(gnutls_x509_crt_t crt, struct key_facts *k)
{
	unsigned bits = 0;
	gnutls_datum_t a = {0}, b = {0};
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	int alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits);

	*k = (struct key_facts){.kind = KEY_KIND_OTHER, .bits = bits};
	if (alg == GNUTLS_PK_RSA) {
		k->kind = KEY_KIND_RSA;
		if (bits <= 8192 && gnutls_x509_crt_get_pk_rsa_raw(crt, &a, &b) >= 0)
			rsa_exponent_facts(&b, k);
	} else if (alg == GNUTLS_PK_ECDSA) {
		k->kind = KEY_KIND_EC;
		if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &a, &b) >= 0)
			k->curve = curve == GNUTLS_ECC_CURVE_SECP256R1	 ? KEY_CURVE_P256
				   : curve == GNUTLS_ECC_CURVE_SECP384R1 ? KEY_CURVE_P384
				   : curve == GNUTLS_ECC_CURVE_SECP521R1 ? KEY_CURVE_P521
									 : KEY_CURVE_OTHER;
	} else if (alg == GNUTLS_PK_EDDSA_ED25519 || alg == GNUTLS_PK_EDDSA_ED448) {
		k->kind = KEY_KIND_EDDSA;
	}
	gnutls_free(a.data);
	gnutls_free(b.data);
}

/* Import the presented chain and gather what policy_identity decides on. */
static void chain_facts(struct daemon_ctx *ctx, gnutls_session_t session, struct peer_facts *f)
{
	gnutls_x509_crt_t crts[POLICY_CHAIN_MAX];
	unsigned n = 0, n_crts = 0;

	const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
	f->n_certs = chain ? n : 0;
	if (f->n_certs == 0 || n > POLICY_CHAIN_MAX)
		return;
	for (; n_crts < n; n_crts++) {
		if (gnutls_x509_crt_init(&crts[n_crts]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[n_crts], &chain[n_crts], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[n_crts]);
			break;
		}
	}
	f->parsed = n_crts == n;
	/* The key policy before any verification: no key the client chose is ever used for
	 * costly work (the chain's signatures here, its CertificateVerify after). */
	for (unsigned i = 0; f->parsed && i < n && !f->weak_key; i++) {
		struct key_facts k;
		crt_key_facts(crts[i], &k);
		if (x509_key_facts_check(&k, i == 0) < 0)
			f->weak_key = i + 1;
	}
	if (f->parsed && !f->weak_key) {
		gnutls_x509_crt_t leaf = crts[0];
		f->client_ca_status = verify_with(ctx->trust_client, crts, n, f->client_ca_why,
						  sizeof(f->client_ca_why));
		/* The enrollment CAs only if the operator's client CA does not verify it. */
		f->enroll_status = f->client_ca_status == POLICY_VERIFIED
				       ? VERIFY_FAILED
				       : verify_with(ctx->trust_enroll, crts, n, f->enroll_why,
						     sizeof(f->enroll_why));
		f->issued_by_enroll =
		    issued_by(leaf, ctx->enroll_crt[0]) || issued_by(leaf, ctx->enroll_crt[1]);
		leaf_facts(leaf, f);
		/* Neither CA: perhaps another control-plane node, by its registered key. */
		uint8_t pin[PIN_BYTES];
		char pin_text[PIN_TEXT_LEN + 1];
		if (ctx->cfg->coord_socket && f->client_ca_status != POLICY_VERIFIED &&
		    f->enroll_status != POLICY_VERIFIED &&
		    pin_of_der(chain[0].data, chain[0].size, pin) == 0) {
			pin_format(pin, pin_text);
			(void)store_peer_of(&ctx->store, pin_text, f->peer_node);
		}
	}
	for (unsigned i = 0; i < n_crts; i++)
		gnutls_x509_crt_deinit(crts[i]);
}

/* Decide the identity from the presented chain (policy.c). 0 and st->id filled in, or
 * GNUTLS_E_CERTIFICATE_ERROR with st->why saying why. */
static int decide(struct conn_state *st, gnutls_session_t session)
{
	struct peer_facts f = {0};

	st->decided = true;
	st->id = (struct client_id){.source = CLIENT_NONE};
	chain_facts(st->ctx, session, &f);
	if (policy_identity(&f, &st->id, st->why, sizeof(st->why)) < 0) {
		st->cert_refused = true;
		/* In token-only mode no operator CA is trusted: say so, the cause to fix. */
		if (f.parsed && !f.issued_by_enroll && st->ctx->serving_tls &&
		    !st->ctx->serving_tls->client_ca_pem) {
			size_t n = strlen(st->why);
			snprintf(
			    st->why + n, sizeof(st->why) - n,
			    " (token-only: no client CA; such a node joins with a join token)");
		}
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	return 0;
}

/* The connection state behind a GnuTLS session (see handshake_verify), or NULL. */
static struct conn_state *state_of(gnutls_session_t session)
{
	struct MHD_Connection *c = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
	    c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	return ci ? ci->socket_context : NULL;
}

/* Before GnuTLS parses a ClientHello: an IP address sent as server name (RFC 6066 allows
 * host names only) makes GnuTLS end the handshake without a word; note why, so the
 * close is audited with a reason a person can act on. */
static int client_hello_note(struct conn_state *st, const gnutls_datum_t *msg)
{
	char sni[256], buf[sizeof(struct in6_addr)];
	if (!msg || !tlshello_sni(msg->data, msg->size, sni, sizeof(sni)))
		return 0;
	if (inet_pton(AF_INET, sni, buf) == 1 || inet_pton(AF_INET6, sni, buf) == 1) {
		snprintf(st->why, sizeof(st->why),
			 "the client sent the IP address %.64s as TLS server name (SNI), which "
			 "GnuTLS refuses; connect without SNI (openssl s_client -noservername; "
			 "curl and pkishare do this for addresses) or by host name",
			 LOG_Q(sni));
	}
	return 0;
}

/* The identity, decided once per handshake: by whichever of the two callers below runs
 * first. GnuTLS calls both inside the handshake, in the serving thread; libmicrohttpd
 * sets the session's pointer to its connection (checked when the connection starts). */
static int handshake_decide(gnutls_session_t session)
{
	struct conn_state *st = state_of(session);
	if (!st)
		return GNUTLS_E_CERTIFICATE_ERROR;
	if (st->decided)
		return st->cert_refused ? GNUTLS_E_CERTIFICATE_ERROR : 0;
	int r = decide(st, session);
	if (r != 0) {
		/* The audit event follows when the connection closes. */
		log_msg(LOG_INFO, "client certificate from %s refused in the TLS handshake: %s",
			st->peer, st->why);
		/* Say it in TLS's own terms before the handshake ends, so the client reports
		 * a refused certificate (curl: "alert access denied"), not an empty reply.
		 * One small record on a non-blocking socket: if it cannot go now, it goes
		 * nowhere, with the connection. */
		gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
	}
	return r;
}

/* The verify function: in TLS 1.2 GnuTLS calls it when the Certificate arrives. */
static int handshake_verify(gnutls_session_t session)
{
	return handshake_decide(session);
}

/* Before GnuTLS handles an incoming handshake message. In TLS 1.3 GnuTLS checks the
 * client's CertificateVerify (a signature with the key in the client's certificate)
 * before it calls the verify function, so a made-up certificate with a huge RSA modulus
 * and exponent cost seconds of this thread's time whoever had issued it. Deciding here,
 * before that message is looked at, bounds the work an unauthenticated peer can cause:
 * a refused chain ends the handshake before its key is ever used. */
static int handshake_hook(gnutls_session_t session, unsigned htype, unsigned when,
			  unsigned incoming, const gnutls_datum_t *msg)
{
	struct conn_state *st = state_of(session);
	if (!incoming || when != GNUTLS_HOOK_PRE)
		return 0;
	if (htype == GNUTLS_HANDSHAKE_CERTIFICATE_VERIFY)
		return handshake_decide(session);
	if (htype == GNUTLS_HANDSHAKE_CLIENT_HELLO && st)
		return client_hello_note(st, msg);
	return 0;
}

/* Cut a connection (the serving loop sees it close and libmicrohttpd frees it), audited
 * with result and why. */
static void conn_cut(struct daemon_ctx *ctx, struct conn_state *st, const char *result,
		     const char *why)
{
	/* The identity, once known: a cut after the handshake is someone's. */
	bool known = st->id.source != CLIENT_NONE && st->id.name[0];
	log_audit(&(struct audit){.event = AUDIT_REFUSE,
				  .peer = st->peer,
				  .client = known ? st->id.name : NULL,
				  .source = known ? client_source_name(st->id.source) : NULL,
				  .result = result},
		  "%s", why);
	shutdown(st->fd, SHUT_RDWR);
	st->cut = true;
	ctx->n_conns_live--;
}

/* Cut a connection that has had its time to show an identity and has not, and count it
 * against its address like a refused certificate: an address that keeps slots busy
 * without ever finishing is turned away at accept (tls-failure-limit). */
static void conn_evict(struct daemon_ctx *ctx, struct conn_state *st, const char *result,
		       const char *why)
{
	METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TLS);
	ratelimit_fail(&ctx->tls_ratelimit, st->peer);
	conn_cut(ctx, st, result, why);
}

/* Connections without an identity, in groups (by network, or by address), oldest first
 * within each. */
static int cmp_by_net(const void *a, const void *b)
{
	const struct conn_state *x = *(struct conn_state *const *)a;
	const struct conn_state *y = *(struct conn_state *const *)b;
	int r = memcmp(x->net, y->net, ADDR_NET_LEN);
	return r ? r : (x->started_ms > y->started_ms) - (x->started_ms < y->started_ms);
}

static int cmp_by_host(const void *a, const void *b)
{
	const struct conn_state *x = *(struct conn_state *const *)a;
	const struct conn_state *y = *(struct conn_state *const *)b;
	int r = strcmp(x->host, y->host);
	return r ? r : (x->started_ms > y->started_ms) - (x->started_ms < y->started_ms);
}

/* The oldest connection of the largest group of v (sorted by cmp; ties: the group whose
 * oldest is older), or NULL if v is empty. */
static struct conn_state *heaviest_oldest(struct conn_state **v, size_t n,
					  int (*cmp)(const void *, const void *))
{
	struct conn_state *best = NULL;
	size_t best_n = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n; j++) {
			const struct conn_state *x = v[i], *y = v[j];
			if (cmp == cmp_by_net ? memcmp(x->net, y->net, ADDR_NET_LEN) != 0
					      : strcmp(x->host, y->host) != 0)
				break;
		}
		if (j - i > best_n || (j - i == best_n && v[i]->started_ms < best->started_ms)) {
			best = v[i];
			best_n = j - i;
		}
	}
	return best;
}

/* Which connection to cut for a newcomer: one that has shown no identity, taken from
 * whoever holds the most such connections. Within net (a network at per-network-limit)
 * the address with the most, else (connection-limit) the network with the most; of
 * those, the oldest. A node that connects once and finishes its handshake at once is
 * then never the one cut while others hold more, whatever they do with their slots
 * (hold them, or give them up and take them again at once). NULL: none to cut. */
static struct conn_state *pick_victim(struct daemon_ctx *ctx, const uint8_t *net)
{
	size_t n = 0, max = ctx->n_conns_live;
	struct conn_state **v = calloc(max ? max : 1, sizeof(struct conn_state *));
	if (!v)
		return NULL;
	for (struct conn_state *st = ctx->conns; st && n < max; st = st->next)
		if (!st->cut && st->fd >= 0 && st->id.source == CLIENT_NONE &&
		    (!net || memcmp(st->net, net, ADDR_NET_LEN) == 0))
			v[n++] = st;
	int (*cmp)(const void *, const void *) = net ? cmp_by_host : cmp_by_net;
	qsort(v, n, sizeof(struct conn_state *), cmp);
	struct conn_state *victim = heaviest_oldest(v, n, cmp);
	free(v);
	return victim;
}

/* Room for a newcomer from net: under connection-limit and per-network-limit, or made by
 * cutting a connection that has shown no identity (pick_victim). false: there is none;
 * refuse the newcomer. Serving thread (libmicrohttpd's accept). */
static bool make_room(struct daemon_ctx *ctx, const uint8_t *net)
{
	const struct daemon_config *cfg = ctx->cfg;
	struct conn_state *victim;
	unsigned in_net = 0;
	char why[160];

	if (ctx->n_conns_live < cfg->per_net_limit && ctx->n_conns_live < cfg->connection_limit)
		return true;
	for (struct conn_state *st = ctx->conns; st; st = st->next)
		in_net += !st->cut && st->fd >= 0 && memcmp(st->net, net, ADDR_NET_LEN) == 0;
	if (in_net >= cfg->per_net_limit) {
		victim = pick_victim(ctx, net);
		snprintf(why, sizeof(why),
			 "its network has %u connections (per-network-limit); one without an "
			 "identity from its busiest address is cut to make room",
			 in_net);
	} else if (ctx->n_conns_live >= cfg->connection_limit) {
		victim = pick_victim(ctx, NULL);
		snprintf(why, sizeof(why),
			 "%u connections open (connection-limit); one without an identity from the "
			 "busiest network is cut to make room",
			 ctx->n_conns_live);
	} else {
		return true;
	}
	if (!victim)
		return false;
	conn_evict(ctx, victim, "evicted", why);
	return true;
}

enum MHD_Result identity_accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct daemon_ctx *ctx = cls;
	char peer[ADDR_TEXT_MAX];
	uint8_t net[ADDR_NET_LEN];
	(void)len;
	addr_format(addr, peer, sizeof(peer));
	if (ratelimit_wait_ms(&ctx->tls_ratelimit, peer, ctx->cfg->tls_failure_limit) > 0) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TLS);
		log_msg(LOG_INFO,
			"turned away %s: too many refused client certificates or unfinished "
			"handshakes",
			peer);
		return MHD_NO;
	}
	addr_net(addr, net);
	if (!make_room(ctx, net)) {
		log_audit(&(struct audit){.event = AUDIT_REFUSE, .peer = peer, .result = "no-room"},
			  "turned away: every connection of its network or of the daemon has "
			  "shown an identity (per-network-limit, connection-limit)");
		return MHD_NO;
	}
	return MHD_YES;
}

static void conn_started(struct daemon_ctx *ctx, struct MHD_Connection *c, void **socket_ctx)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct conn_state *st = calloc(1, sizeof(struct conn_state));
	if (!st)
		return; /* no state: the verify function refuses any certificate */
	*socket_ctx = st;
	st->ctx = ctx;
	st->fd = fi ? fi->connect_fd : -1;
	st->started_ms = time_mono_ms();
	addr_format(ai ? ai->client_addr : NULL, st->peer, sizeof(st->peer));
	addr_net(ai ? ai->client_addr : NULL, st->net);
	addr_host_part(st->peer, st->host, sizeof(st->host));
	ctx->n_conns_live++;
	st->next = ctx->conns;
	if (ctx->conns)
		ctx->conns->prev = st;
	ctx->conns = st;
	if (!ci || !ci->tls_session)
		return;
	gnutls_session_t session = (gnutls_session_t)ci->tls_session;
	void *p = gnutls_session_get_ptr(session);
	if (p && p != (void *)c) {
		/* A libmicrohttpd that uses the pointer differently: fail closed. */
		log_msg(LOG_ERR, "libmicrohttpd's TLS session pointer is not its connection; "
				 "refusing client certificates");
		return;
	}
	gnutls_session_set_ptr(session, c);
	refresh_ca_names(ctx, session);
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
	gnutls_session_set_verify_function(session, handshake_verify);
	/* One hook per session: it looks at the messages it needs (handshake_hook). */
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_PRE,
					   handshake_hook);
}

static void conn_closed(struct daemon_ctx *ctx, struct MHD_Connection *c, struct conn_state *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		ctx->conns = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (!st->cut)
		ctx->n_conns_live--;
	if (st->cert_refused) {
		/* Only a certificate refused in the handshake counts against the address;
		 * idle, aborted or plain TCP connects are for the connection limits. */
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TLS);
		ratelimit_fail(&ctx->tls_ratelimit, st->peer);
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = st->peer,
					  .result = "tls-refused"},
			  "client certificate refused in the TLS handshake: %s", st->why);
	} else if (!st->reached_http && !st->cut) {
		/* Audited (not counted) when the client sent a ClientHello: a protocol or
		 * cipher we do not allow, or a handshake given up. A bare TCP connect that
		 * said nothing is only logged. */
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
		if (session &&
		    gnutls_handshake_get_last_in(session) != GNUTLS_HANDSHAKE_HELLO_REQUEST)
			log_audit(
			    &(struct audit){
				.event = AUDIT_REFUSE, .peer = st->peer, .result = "tls-failed"},
			    "TLS handshake failed or abandoned before any request: %s",
			    st->why[0] ? st->why
				       : "a protocol or cipher that is not allowed, or the client "
					 "gave up");
		else
			log_msg(LOG_INFO, "connection from %s closed before saying anything",
				st->peer);
	}
	free(st);
}

void identity_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		     enum MHD_ConnectionNotificationCode code)
{
	struct daemon_ctx *ctx = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_started(ctx, c, socket_ctx);
		return;
	}
	struct conn_state *st = *socket_ctx;
	*socket_ctx = NULL;
	if (st)
		conn_closed(ctx, c, st);
}

const struct client_id *identity_of(struct MHD_Connection *c)
{
	static const struct client_id none = {.source = CLIENT_NONE};
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_state *st = ci ? ci->socket_context : NULL;
	if (!st)
		return &none;
	st->reached_http = true;
	const union MHD_ConnectionInfo *si =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t session = si ? (gnutls_session_t)si->tls_session : NULL;
	if (!session)
		return &none;
	/* A resumed session skips the handshake's verify function: decide now. */
	if (!st->decided || gnutls_session_is_resumed(session)) {
		st->decided = false;
		if (decide(st, session) != 0)
			return &none;
	}
	return &st->id;
}

static struct conn_state *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

int64_t identity_fetch_suspended(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct conn_state *st = conn_of(c);
	if (!st)
		return INT64_MAX;
	st->fetch_waiting = true;
	return st->started_ms + (int64_t)ctx->cfg->connection_max_age_s * 1000;
}

void identity_fetch_resumed(struct MHD_Connection *c, int64_t now_ms)
{
	struct conn_state *st = conn_of(c);
	if (st) {
		st->fetch_waiting = false;
		st->resumed_ms = now_ms;
	}
}

void identity_cut_old(struct daemon_ctx *ctx, int64_t now_ms)
{
	const struct daemon_config *cfg = ctx->cfg;
	int64_t max_ms = (int64_t)cfg->connection_max_age_s * 1000;
	int64_t handshake_ms = (int64_t)cfg->handshake_timeout_s * 1000;
	char why[160];

	for (struct conn_state *st = ctx->conns; st; st = st->next) {
		int64_t age = now_ms - st->started_ms;
		/* A fetch a claim worker owns is never cut: its queue wait is bounded instead
		 * (fetchq_expire answers it 503 at this deadline), and a claim in progress is
		 * answered. */
		if (st->cut || st->fd < 0 || st->fetch_waiting)
			continue;
		if (!st->reached_http && age >= handshake_ms) {
			snprintf(why, sizeof(why),
				 "no finished TLS handshake and request within %us "
				 "(handshake-timeout); cut and counted against the address",
				 cfg->handshake_timeout_s);
			conn_evict(ctx, st, "handshake-timeout", why);
		} else if (age >= max_ms &&
			   (!st->resumed_ms || now_ms - st->resumed_ms >= FETCHQ_ANSWER_GRACE_MS)) {
			/* (A fetch resumed past its age has FETCHQ_ANSWER_GRACE_MS to take its
			 * answer.) */
			snprintf(
			    why, sizeof(why),
			    "connection open for %us (connection-max-age) without finishing; cut",
			    cfg->connection_max_age_s);
			conn_cut(ctx, st, "too-slow", why);
		}
	}
}
