/* policy.c - the identity of a TLS client and what it may read, decided from the facts
 * identity.c gathered in the handshake (policy.h). Pure: no GnuTLS, no I/O, no logging.
 * Must never return an identity for a chain that neither trust list verified, nor for a
 * leaf that is a CA, lacks clientAuth or digitalSignature, or has no CN. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>

#include "policy.h"
#include "util.h"

const char *client_source_name(enum client_source s)
{
	switch (s) {
	case CLIENT_CA:
		return "client-ca";
	case CLIENT_ENROLLED:
		return "enrolled";
	case CLIENT_PEER:
		return "peer";
	case CLIENT_NONE:
	default:
		return "none";
	}
}

void policy_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* Which trust list proves the chain: CLIENT_CA, CLIENT_ENROLLED, or CLIENT_NONE with why. */
static enum client_source chain_source(const struct peer_facts *f, char *why, size_t len)
{
	if (f->client_ca_status == POLICY_VERIFIED)
		return CLIENT_CA;
	if (f->enroll_status == POLICY_VERIFIED)
		return CLIENT_ENROLLED;
	/* Neither CA: a registered node's serving key (its registration in etcd is what
	 * makes it a peer; the handshake proved the key). */
	if (f->peer_node[0])
		return CLIENT_PEER;
	/* A leaf the enrollment CA issued is told what is wrong with it as an enrolled one. */
	str_copy(why, len, f->issued_by_enroll ? f->enroll_why : f->client_ca_why);
	if (!why[0])
		str_copy(why, len, "the chain could not be verified");
	return CLIENT_NONE;
}

/* What the leaf must be to stand for a client: NULL if it is, else why not. */
static const char *leaf_refusal(const struct peer_facts *f)
{
	if (f->is_ca)
		return "a CA certificate (CA:TRUE) cannot be a client identity";
	if (!f->client_auth)
		return "the certificate has no extended key usage clientAuth";
	if (f->has_key_usage && !f->digital_signature)
		return "the certificate's key usage lacks digitalSignature";
	if (!f->cn[0])
		return "the certificate has no subject CN";
	if (!f->cert_id[0])
		return "the certificate cannot be hashed";
	return NULL;
}

int policy_identity(const struct peer_facts *f, struct client_id *ret_id, char *why, size_t why_len)
{
	const char *leaf_why;

	why[0] = 0;
	if (f->n_certs == 0) {
		*ret_id = (struct client_id){.source = CLIENT_NONE};
		return 0;
	}
	if (f->n_certs > POLICY_CHAIN_MAX) {
		snprintf(why, why_len, "a chain of %u certificates (at most %d)", f->n_certs,
			 POLICY_CHAIN_MAX);
		return -EACCES;
	}
	if (!f->parsed) {
		str_copy(why, why_len, "a certificate that does not parse");
		return -EACCES;
	}
	if (f->weak_key == 1) {
		str_copy(why, why_len,
			 "the client certificate's key is not ECDSA P-256 or RSA "
			 "2048-4096 bits with e=65537");
		return -EACCES;
	}
	if (f->weak_key) {
		snprintf(why, why_len,
			 "certificate %u of the chain has a key that is costly to verify (not "
			 "ECDSA P-256/384/521, Ed25519, Ed448, or RSA up to 8192 bits with a small "
			 "exponent)",
			 f->weak_key);
		return -EACCES;
	}
	enum client_source source = chain_source(f, why, why_len);
	if (source == CLIENT_NONE) {
		policy_printable(why);
		return -EACCES;
	}
	leaf_why = leaf_refusal(f);
	if (leaf_why) {
		str_copy(why, why_len, leaf_why);
		return -EACCES;
	}
	ret_id->source = source;
	str_copy(ret_id->name, sizeof(ret_id->name), source == CLIENT_PEER ? f->peer_node : f->cn);
	policy_printable(ret_id->name);
	str_copy(ret_id->cert, sizeof(ret_id->cert), f->cert_id);
	return 0;
}

enum policy_fetch policy_may_fetch(const struct client_id *id, const char *const *allow,
				   size_t n_allow, bool enrolled_fetch)
{
	if (id->source == CLIENT_NONE)
		return POLICY_FETCH_NO_CERT;
	if (id->source == CLIENT_PEER)
		return POLICY_FETCH_PEER;
	if (id->source == CLIENT_ENROLLED)
		return enrolled_fetch ? POLICY_FETCH_OK : POLICY_FETCH_ENROLLED_REFUSED;
	if (n_allow == 0)
		return POLICY_FETCH_OK;
	for (size_t i = 0; i < n_allow; i++)
		if (fnmatch(allow[i], id->name, 0) == 0)
			return POLICY_FETCH_OK;
	return POLICY_FETCH_NOT_ALLOWED;
}
