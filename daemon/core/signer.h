/* signer.h - the enrollment CA: the one holder of its private keys, behind one narrow
 * call. Callers see certificates (public) and ask for a certificate with plain data (a DER
 * SubjectPublicKeyInfo and a name); no caller ever holds an EVP_PKEY of the CA. So the
 * keys can move to another process (OpenBSD relayd's ca process is the model) by replacing
 * this file, not its callers.
 *
 * Not thread-safe: pkishared calls it from the serving thread only (and from main before
 * the serving thread starts or after it stopped). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define SIGNER_CN_MAX 64

struct signer;

/* A fresh CA valid ca_lifetime_s from now (wall clock), issuing certificates valid
 * cert_ttl_s. Its name carries random bytes, so no operator's CA is ever mistaken for it. */
int signer_new(int64_t ca_lifetime_s, int64_t cert_ttl_s, int64_t now, struct signer **ret);
/* Wipe and free (NULL is fine); returns NULL. */
struct signer *signer_free(struct signer *s);

/* What signer_tick did. */
enum {
	SIGNER_RETIRED = 1 << 0,      /* the previous CA is no longer trusted */
	SIGNER_RENEWED = 1 << 1,      /* a new current CA; the old one is now the previous */
	SIGNER_RENEW_FAILED = 1 << 2, /* renewal was due and failed; retried at the next tick */
};
/* Keep the CAs current at now: renew while two cert-ttl are left (so no certificate
 * outlives its CA; the previous one stays trusted cert_ttl + 1 s more, until what it
 * issued has lapsed), retire the previous one when that time is reached. Returns the
 * SIGNER_* bits of what happened (0: nothing). */
unsigned signer_tick(struct signer *s, int64_t now);

/* The CA certificates to trust now, PEM in guarded memory: the current one, and the
 * previous one while its certificates may live (*ret_prev NULL when none). Public data. */
int signer_cas(const struct signer *s, struct secret **ret_cur, struct secret **ret_prev);

/* Whether a node name may be put in a certificate: 1-SIGNER_CN_MAX characters of letters,
 * digits, '.', '-', '_' or ':'. */
bool signer_name_ok(const char *cn);

/* The one private-key operation: a client certificate (clientAuth, O=pkishare:enrolled,
 * CN cn, valid cert-ttl from now) for the public key spki (DER SubjectPublicKeyInfo),
 * signed by the current CA, as PEM. -EINVAL for a name signer_name_ok refuses or an spki
 * that does not parse, -PKS_E_WEAK_KEY for a key outside the leaf key policy (lib/x509).
 * Call signer_tick first: it does not renew by itself. */
int signer_issue(struct signer *s, const uint8_t *spki, size_t spki_len, const char *cn,
		 struct secret **ret_pem);
