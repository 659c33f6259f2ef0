/* x509.c - key generation, certificate issuing and PEM handling with OpenSSL.
 *
 * Must never write a private key anywhere but into guarded memory (struct secret). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"
#include "util.h"
#include "x509.h"

int x509_key_new(enum key_type type, EVP_PKEY **ret)
{
	EVP_PKEY *k = NULL;

	switch (type) {
	case KEY_TYPE_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_TYPE_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_TYPE_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case KEY_TYPE_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
	if (!k)
		return -PKS_E_X509;
	*ret = k;
	return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -PKS_E_X509;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -PKS_E_X509;
}

/* The subjectAltName extension, built from GENERAL_NAMEs directly: no value goes through
 * OpenSSL's "DNS:a,IP:b" configuration syntax, so none can add a name of its own. */
static int add_san(X509 *c, const struct cert_spec *s)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	int r = names ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < s->n_dns + s->n_ips; i++) {
		bool dns = i < s->n_dns;
		const char *v = dns ? s->dns[i] : s->ips[i - s->n_dns];
		GENERAL_NAME *g = GENERAL_NAME_new();
		if (!g) {
			r = -ENOMEM;
			break;
		}
		if (dns) {
			ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
			if (!ia5 || !ASN1_STRING_set(ia5, v, -1)) {
				ASN1_IA5STRING_free(ia5);
				r = -ENOMEM;
			} else {
				GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
			}
		} else {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
			if (ip)
				GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
			else
				r = -PKS_E_X509; /* not an IP address */
		}
		if (r < 0 || !sk_GENERAL_NAME_push(names, g)) {
			GENERAL_NAME_free(g);
			r = r < 0 ? r : -ENOMEM;
		}
	}
	if (r == 0 && X509_add1_ext_i2d(c, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
		r = -PKS_E_X509;
	GENERAL_NAMES_free(names);
	return r;
}

int x509_cert_new(const struct cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
		  EVP_PKEY *issuer_key, X509 **ret)
{
	X509 *c = X509_new();
	BIGNUM *serial = BN_new();
	char eku[64];
	int r = -PKS_E_X509;

	if (!c || !serial)
		goto out;
	if (!X509_set_version(c, 2))
		goto out;
	/* A random positive 127-bit serial number, as RFC 5280 allows and browsers expect. */
	if (!BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(c)))
		goto out;
	if (!X509_gmtime_adj(X509_getm_notBefore(c), spec->not_before_offset - 300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c),
			     spec->not_before_offset + (spec->seconds > 0
							    ? spec->seconds
							    : (long)spec->days * 24 * 3600)))
		goto out;
	X509_NAME *name = X509_get_subject_name(c);
	if (spec->org && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
						     (const unsigned char *)spec->org, -1, -1, 0))
		goto out;
	/* A subject without CN only where asked (and named by O). */
	if (spec->cn && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						    (const unsigned char *)spec->cn, -1, -1, 0))
		goto out;
	if (!spec->cn && !spec->org)
		goto out;
	if (!X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name))
		goto out;
	if (!X509_set_pubkey(c, subject_key))
		goto out;
	X509 *iss = issuer ? issuer : c;
	/* keyEncipherment is RSA key transport: RFC 5480 does not allow it with an EC key. */
	bool rsa = EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA;
	if (spec->is_ca) {
		if (add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
		    add_ext(c, iss, NID_key_usage,
			    rsa ? "critical,digitalSignature,keyEncipherment,keyCertSign"
				: "critical,digitalSignature,keyCertSign") < 0)
			goto out;
	} else {
		if (add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
		    add_ext(c, iss, NID_key_usage,
			    rsa ? "critical,digitalSignature,keyEncipherment"
				: "critical,digitalSignature") < 0)
			goto out;
		snprintf(eku, sizeof(eku), "%s%s%s", spec->server_auth ? "serverAuth" : "",
			 spec->server_auth && spec->client_auth ? "," : "",
			 spec->client_auth ? "clientAuth" : "");
		if (eku[0] && add_ext(c, iss, NID_ext_key_usage, eku) < 0)
			goto out;
	}
	if (add_ext(c, iss, NID_subject_key_identifier, "hash") < 0)
		goto out;
	if (issuer && add_ext(c, iss, NID_authority_key_identifier, "keyid:always") < 0)
		goto out;
	if (spec->n_dns + spec->n_ips > 0 && add_san(c, spec) < 0)
		goto out;
	if (X509_sign(c, issuer_key ? issuer_key : subject_key, EVP_sha256()) <= 0)
		goto out;
	*ret = c;
	c = NULL;
	r = 0;
out:
	X509_free(c);
	BN_free(serial);
	return r;
}

/* Move a memory BIO's contents into guarded memory. OpenSSL clears the BIO's buffer when
 * it is freed (BUF_MEM_free uses OPENSSL_clear_free). */
static int bio_to_secret(BIO *bio, struct secret **ret)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	if (n <= 0)
		return -PKS_E_X509;
	struct secret *s = secret_dup(p, (size_t)n);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int x509_key_pem(EVP_PKEY *key, struct secret **ret)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -PKS_E_X509;
	if (bio && PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL))
		r = bio_to_secret(bio, ret);
	BIO_free(bio);
	return r;
}

int x509_pubkey_pem(EVP_PKEY *key, struct secret **ret)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -PKS_E_X509;
	if (bio && PEM_write_bio_PUBKEY(bio, key))
		r = bio_to_secret(bio, ret);
	BIO_free(bio);
	return r;
}

int x509_cert_pem(X509 *cert, struct secret **ret)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -PKS_E_X509;
	if (bio && PEM_write_bio_X509(bio, cert))
		r = bio_to_secret(bio, ret);
	BIO_free(bio);
	return r;
}

int x509_key_load(const void *pem, size_t len, EVP_PKEY **ret)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!k)
		return -PKS_E_X509;
	*ret = k;
	return 0;
}

int x509_cert_load(const void *pem, size_t len, X509 **ret)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!c)
		return -PKS_E_X509;
	*ret = c;
	return 0;
}

int x509_pair_check(const void *key_pem, size_t key_len, const void *pub_pem, size_t pub_len)
{
	EVP_PKEY *key = NULL, *pub = NULL;
	X509 *cert = NULL;
	int r = x509_key_load(key_pem, key_len, &key);
	if (r < 0)
		return r;
	if (x509_cert_load(pub_pem, pub_len, &cert) == 0) {
		pub = X509_get_pubkey(cert);
	} else {
		BIO *bio = BIO_new_mem_buf(pub_pem, (int)pub_len);
		pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	}
	if (!pub)
		r = -PKS_E_X509;
	else
		r = EVP_PKEY_eq(key, pub) == 1 ? 0 : -PKS_E_PAIR;
	EVP_PKEY_free(pub);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

int x509_key_matches(X509 *cert, EVP_PKEY *key)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	return pub && EVP_PKEY_eq(key, pub) == 1 ? 0 : -PKS_E_PAIR;
}

int x509_set_pairs_check(const struct pki_set *set, char *detail)
{
	static const char *const pairs[][2] = {
	    {"ca.key", "ca.crt"},
	    {"front-proxy-ca.key", "front-proxy-ca.crt"},
	    {"etcd/ca.key", "etcd/ca.crt"},
	    {"sa.key", "sa.pub"},
	};
	for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
		const struct pki_entry *k = pki_set_find(set, pairs[i][0]),
				       *c = pki_set_find(set, pairs[i][1]);
		if (!k || !c)
			continue;
		int r = x509_pair_check(k->data->data, k->data->len, c->data->data, c->data->len);
		if (r < 0) {
			snprintf(detail, DETAIL_MAX,
				 r == -PKS_E_PAIR ? "%s is not the private key of %s"
						  : "%s or %s does not parse",
				 pairs[i][0], pairs[i][1]);
			return r;
		}
	}
	return 0;
}

/* One subjectAltName entry as text: an IP address or a DNS name; false for any other. */
static bool san_text(const GENERAL_NAME *g, bool want_ip, char *out, size_t len)
{
	if (want_ip && g->type == GEN_IPADD) {
		int n = ASN1_STRING_length(g->d.iPAddress);
		const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
		return (n == 4 && inet_ntop(AF_INET, b, out, (socklen_t)len)) ||
		       (n == 16 && inet_ntop(AF_INET6, b, out, (socklen_t)len));
	}
	if (!want_ip && g->type == GEN_DNS) {
		int n = ASN1_STRING_length(g->d.dNSName);
		const unsigned char *b = ASN1_STRING_get0_data(g->d.dNSName);
		if (n <= 0 || (size_t)n >= len || memchr(b, 0, (size_t)n))
			return false;
		memcpy(out, b, (size_t)n);
		out[n] = 0;
		return true;
	}
	return false;
}

int x509_cert_names(const void *pem, size_t len, char (*names)[X509_NAME_TEXT_MAX], size_t max,
		    size_t *ret_n)
{
	_cleanup_(x509_freep) X509 *cert = NULL;
	size_t n = 0;

	if (x509_cert_load(pem, len, &cert) < 0)
		return -PKS_E_X509;
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && n < max; i++)
			if (san_text(sk_GENERAL_NAME_value(sans, i), pass == 0, names[n],
				     X509_NAME_TEXT_MAX))
				n++;
	GENERAL_NAMES_free(sans);
	*ret_n = n;
	return 0;
}

int x509_cert_load_file(const char *path, X509 **ret)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!c)
		return -PKS_E_X509;
	*ret = c;
	return 0;
}

int x509_csr_new(EVP_PKEY *key, const char *cn, struct secret **ret_pem)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -PKS_E_X509;
	if (req && bio && X509_REQ_set_version(req, 0) &&
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) &&
	    X509_REQ_set_pubkey(req, key) && X509_REQ_sign(req, key, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(bio, req))
		r = bio_to_secret(bio, ret_pem);
	BIO_free(bio);
	X509_REQ_free(req);
	return r;
}

int x509_key_facts_check(const struct key_facts *k, bool leaf)
{
	bool ok = false;
	switch (k->kind) {
	case KEY_KIND_EC:
		ok = k->curve == KEY_CURVE_P256 ||
		     (!leaf && (k->curve == KEY_CURVE_P384 || k->curve == KEY_CURVE_P521));
		break;
	case KEY_KIND_EDDSA:
		ok = !leaf;
		break;
	case KEY_KIND_RSA:
		/* A huge exponent makes every verification slow: the usual one for a client,
		 * a small odd one above it. */
		ok = leaf ? k->bits >= 2048 && k->bits <= 4096 && k->e_is_f4
			  : k->bits >= 2048 && k->bits <= 8192 && k->e_bits <= 32 && k->e_odd;
		break;
	case KEY_KIND_OTHER:
	default:
		break;
	}
	return ok ? 0 : -PKS_E_WEAK_KEY;
}

int x509_key_policy_check(const EVP_PKEY *key)
{
	char group[32] = "";
	BIGNUM *e = NULL;
	struct key_facts k = {.kind = KEY_KIND_OTHER};

	if (!key)
		return -PKS_E_WEAK_KEY;
	if (EVP_PKEY_is_a(key, "EC")) {
		k.kind = KEY_KIND_EC;
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) == 1)
			k.curve = !strcmp(group, "prime256v1")	? KEY_CURVE_P256
				  : !strcmp(group, "secp384r1") ? KEY_CURVE_P384
				  : !strcmp(group, "secp521r1") ? KEY_CURVE_P521
								: KEY_CURVE_OTHER;
	} else if (EVP_PKEY_is_a(key, "RSA")) {
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
			return -PKS_E_WEAK_KEY;
		k.kind = KEY_KIND_RSA;
		k.bits = (unsigned)EVP_PKEY_get_bits(key);
		k.e_bits = (unsigned)BN_num_bits(e);
		k.e_is_f4 = BN_is_word(e, RSA_F4);
		k.e_odd = BN_is_odd(e);
		BN_free(e);
	} else if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) {
		k.kind = KEY_KIND_EDDSA;
	}
	return x509_key_facts_check(&k, true);
}

int x509_csr_load(const void *pem, size_t len, X509_REQ **ret, char *cn, size_t cn_len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!req)
		return -PKS_E_X509;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	int r = x509_key_policy_check(pub);
	if (r < 0) {
		X509_REQ_free(req);
		return r;
	}
	int n = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
					  (int)cn_len);
	if (!pub || X509_REQ_verify(req, pub) != 1 || n <= 0 || (size_t)n >= cn_len) {
		X509_REQ_free(req);
		return -PKS_E_X509;
	}
	for (int i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] > 0x7e) {
			X509_REQ_free(req);
			return -PKS_E_X509;
		}
	*ret = req;
	return 0;
}
