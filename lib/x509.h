/* x509.h - the one narrow interface for key pairs and certificates (OpenSSL).
 *
 * Private keys are created, serialised and loaded only here, so that signing could move
 * into a separate process without touching callers. PEM of private keys is produced into
 * and read from guarded memory only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkidir.h"
#include "secret.h"

/* kubeadm's encryption algorithms (v1beta4 encryptionAlgorithm). */
enum key_type {
	KEY_TYPE_RSA2048, /* kubeadm's default */
	KEY_TYPE_P256,
	KEY_TYPE_RSA3072,
	KEY_TYPE_RSA4096,
	KEY_TYPE_P384,
};

struct cert_spec {
	const char *cn;	 /* NULL: no CN (org then names the subject) */
	const char *org; /* may be NULL */
	const char *const *dns;
	size_t n_dns;
	const char *const *ips;
	size_t n_ips;
	bool is_ca;
	bool server_auth;
	bool client_auth;
	int days;
	long seconds;		/* when > 0, the validity in seconds instead of days */
	long not_before_offset; /* seconds added to "now" for notBefore (tests) */
};

int x509_key_new(enum key_type type, EVP_PKEY **ret);
/* Create a certificate for subject_key. issuer NULL: self-signed with subject_key. */
int x509_cert_new(const struct cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
		  EVP_PKEY *issuer_key, X509 **ret);

/* PEM serialisations (the private key in kubeadm's traditional form) into guarded memory. */
int x509_key_pem(EVP_PKEY *key, struct secret **ret);
int x509_pubkey_pem(EVP_PKEY *key, struct secret **ret);
int x509_cert_pem(X509 *cert, struct secret **ret);

int x509_key_load(const void *pem, size_t len, EVP_PKEY **ret);
int x509_cert_load(const void *pem, size_t len, X509 **ret);
/* 0 if the private key key_pem belongs to pub_pem, which is a certificate or a public
 * key (PEM); -PKS_E_PAIR if not, -PKS_E_X509 if either does not parse. */
int x509_pair_check(const void *key_pem, size_t key_len, const void *pub_pem, size_t pub_len);
/* 0 if key is the private key of cert, -PKS_E_PAIR if not. */
int x509_key_matches(X509 *cert, EVP_PKEY *key);
/* The key pairs a cluster's PKI must hold, in set: the three CAs (ca, front-proxy-ca,
 * etcd/ca: NAME.key the key of NAME.crt) and the service-account pair (sa.key, sa.pub),
 * each checked when both of its files are there. 0, or -PKS_E_PAIR (a key of another
 * pair) or -PKS_E_X509 (a file that does not parse), with detail naming the two files. */
int x509_set_pairs_check(const struct pki_set *set, char *detail);
/* The subjectAltName entries of the first certificate of a PEM (a serving chain's leaf):
 * IP addresses as text, then DNS names, at most max of each kind together, each under
 * X509_NAME_TEXT_MAX bytes. 0 with *ret_n set, or -PKS_E_X509. */
#define X509_NAME_TEXT_MAX 254
int x509_cert_names(const void *pem, size_t len, char (*names)[X509_NAME_TEXT_MAX], size_t max,
		    size_t *ret_n);
/* Load a certificate from a file (public data). */
int x509_cert_load_file(const char *path, X509 **ret);

/* A PEM certificate signing request for key with subject CN=cn. */
int x509_csr_new(EVP_PKEY *key, const char *cn, struct secret **ret_pem);
/* What the key policy looks at: parameters only, so that it is cheap and holds whoever
 * parsed the key (OpenSSL here, GnuTLS in pkishared's handshake). */
enum key_kind { KEY_KIND_OTHER, KEY_KIND_RSA, KEY_KIND_EC, KEY_KIND_EDDSA };
enum key_curve { KEY_CURVE_OTHER, KEY_CURVE_P256, KEY_CURVE_P384, KEY_CURVE_P521 };
struct key_facts {
	enum key_kind kind;
	unsigned bits;	      /* RSA: the modulus's */
	unsigned e_bits;      /* RSA: the public exponent's */
	bool e_is_f4, e_odd;  /* RSA: e = 65537; e odd */
	enum key_curve curve; /* EC */
};
/* The one key policy. For a key we sign for, or a client presents as its own (leaf):
 * ECDSA P-256, or RSA 2048-4096 bits with e = 65537. For a certificate above a client's
 * own in the chain it presents: what costs little to verify (ECDSA P-256, P-384, P-521,
 * EdDSA, RSA 2048-8192 bits with an odd exponent below 2^32). 0 or -PKS_E_WEAK_KEY. */
int x509_key_facts_check(const struct key_facts *k, bool leaf);
/* x509_key_facts_check(leaf) of an OpenSSL key; -PKS_E_WEAK_KEY for NULL. Cheap: looks at
 * parameters only, verifies nothing. */
int x509_key_policy_check(const EVP_PKEY *key);
/* Parse a PEM CSR, check its key against x509_key_policy_check() (before any signature
 * work), then its self-signature, and return it with its subject CN (printable ASCII
 * only, at most cn_len - 1 bytes). -PKS_E_WEAK_KEY for a key outside the policy. */
int x509_csr_load(const void *pem, size_t len, X509_REQ **ret, char *cn, size_t cn_len);
