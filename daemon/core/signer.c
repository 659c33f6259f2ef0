/* signer.c - the enrollment CA (signer.h): two generations of a P-256 CA in this
 * process's memory, and the one call that signs with them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cleanup.h"
#include "error.h"
#include "signer.h"
#include "x509.h"

struct generation {
	EVP_PKEY *key;
	X509 *cert;
	int64_t not_after; /* wall clock */
	int64_t retire_at; /* the previous generation: trusted until then */
};

struct signer {
	int64_t ca_lifetime_s, cert_ttl_s;
	struct generation cur, prev; /* prev.cert NULL: none */
};

static void generation_free(struct generation *g)
{
	EVP_PKEY_free(g->key);
	X509_free(g->cert);
	*g = (struct generation){0};
}

static int generation_new(int64_t lifetime_s, int64_t now, struct generation *ret)
{
	unsigned char rnd[6];
	char cn[64];
	struct generation g = {0};

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	snprintf(cn, sizeof(cn), "pkishared enrollment CA %02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5]);
	struct cert_spec spec = {.cn = cn, .is_ca = true, .seconds = (long)lifetime_s};
	int r = x509_key_new(KEY_TYPE_P256, &g.key);
	if (r >= 0)
		r = x509_cert_new(&spec, g.key, NULL, NULL, &g.cert);
	if (r < 0) {
		generation_free(&g);
		return r;
	}
	g.not_after = now + lifetime_s;
	*ret = g;
	return 0;
}

int signer_new(int64_t ca_lifetime_s, int64_t cert_ttl_s, int64_t now, struct signer **ret)
{
	if (ca_lifetime_s <= 0 || cert_ttl_s <= 0)
		return -EINVAL;
	struct signer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ca_lifetime_s = ca_lifetime_s;
	s->cert_ttl_s = cert_ttl_s;
	int r = generation_new(ca_lifetime_s, now, &s->cur);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct signer *signer_free(struct signer *s)
{
	if (s) {
		generation_free(&s->cur);
		generation_free(&s->prev);
		free(s);
	}
	return NULL;
}

unsigned signer_tick(struct signer *s, int64_t now)
{
	unsigned done = 0;
	if (s->prev.cert && now >= s->prev.retire_at) {
		generation_free(&s->prev);
		done |= SIGNER_RETIRED;
	}
	if (now < s->cur.not_after - 2 * s->cert_ttl_s)
		return done;
	struct generation fresh;
	if (generation_new(s->ca_lifetime_s, now, &fresh) < 0)
		return done | SIGNER_RENEW_FAILED;
	generation_free(&s->prev);
	s->prev = s->cur;
	/* What it issued lives at most cert-ttl from now. */
	s->prev.retire_at = now + s->cert_ttl_s + 1;
	s->cur = fresh;
	return done | SIGNER_RENEWED;
}

int signer_cas(const struct signer *s, struct secret **ret_cur, struct secret **ret_prev)
{
	struct secret *cur = NULL, *prev = NULL;
	int r = x509_cert_pem(s->cur.cert, &cur);
	if (r >= 0 && s->prev.cert)
		r = x509_cert_pem(s->prev.cert, &prev);
	if (r < 0) {
		secret_free(cur);
		return r;
	}
	*ret_cur = cur;
	*ret_prev = prev;
	return 0;
}

bool signer_name_ok(const char *cn)
{
	size_t n = strlen(cn);
	if (n == 0 || n > SIGNER_CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = cn[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == ':'))
			return false;
	}
	return true;
}

int signer_issue(struct signer *s, const uint8_t *spki, size_t spki_len, const char *cn,
		 struct secret **ret_pem)
{
	if (!signer_name_ok(cn) || !spki || spki_len == 0 || spki_len > 16384)
		return -EINVAL;
	const unsigned char *p = spki;
	_cleanup_(evp_pkey_freep) EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
	if (!pub || p != spki + spki_len)
		return -EINVAL;
	int r = x509_key_policy_check(pub);
	if (r < 0)
		return r;
	_cleanup_(x509_freep) X509 *cert = NULL;
	struct cert_spec spec = {.cn = cn,
				 .org = "pkishare:enrolled",
				 .client_auth = true,
				 .seconds = (long)s->cert_ttl_s};
	r = x509_cert_new(&spec, pub, s->cur.cert, s->cur.key, &cert);
	return r < 0 ? r : x509_cert_pem(cert, ret_pem);
}
