/* policy.h - who a TLS client is and what it may do, decided from facts about its
 * certificate chain: pure decisions, no GnuTLS, no sockets, so unit.policy reaches them.
 * identity.c reads the facts in the handshake; routes.c asks whether a fetch is allowed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define CLIENT_ID_MAX 256
#define POLICY_CHAIN_MAX 8 /* certificates a client may present */
#define POLICY_WHY_MAX 320 /* why a certificate was refused, for the log */
#define POLICY_VERIFIED 0  /* a verification status: the chain verified */

enum client_source {
	CLIENT_NONE,	 /* no certificate: only POST /v1/enroll answers it */
	CLIENT_CA,	 /* a certificate from the operator's --client-ca */
	CLIENT_ENROLLED, /* a certificate from the enrollment CA (a join-token holder) */
	CLIENT_PEER,	 /* coordination: another control-plane node, by its serving key as
			  * registered in etcd; the peer route only, never a fetch */
};

struct client_id {
	enum client_source source;
	char name[CLIENT_ID_MAX];	  /* subject CN, printable ASCII */
	char cert[STORE_CERT_ID_LEN + 1]; /* the leaf's id: SHA-256 of issuer and serial, hex */
};

/* What the handshake learnt of a presented chain (identity.c fills it in). */
struct peer_facts {
	unsigned n_certs;  /* 0: no certificate was presented */
	bool parsed;	   /* every certificate of the chain parsed */
	unsigned weak_key; /* 1-based place in the chain of the first key outside the policy */
	/* Verification for the TLS client purpose: POLICY_VERIFIED, or why it failed. */
	unsigned client_ca_status, enroll_status;
	char client_ca_why[POLICY_WHY_MAX], enroll_why[POLICY_WHY_MAX];
	bool issued_by_enroll; /* the leaf's issuer is a current or previous enrollment CA */
	bool is_ca;	       /* basicConstraints CA:TRUE */
	bool client_auth;      /* extendedKeyUsage includes clientAuth */
	bool has_key_usage, digital_signature;
	char cn[CLIENT_ID_MAX];		     /* subject CN, as the certificate has it ("": none) */
	char cert_id[STORE_CERT_ID_LEN + 1]; /* "" if it could not be hashed */
	/* Coordination: the registered node whose serving key the leaf's is ("": none). */
	char peer_node[CLIENT_ID_MAX];
};

/* The identity the facts prove. 0 with *ret_id filled in (source CLIENT_NONE when no
 * certificate was presented: enrollment only), or -EACCES with why (printable) saying
 * what is wrong with the certificate; *ret_id is untouched then. The operator's client CA
 * is tried first; a chain it does not verify is an enrolled identity only if an
 * enrollment CA verifies it, and a leaf issued by an enrollment CA that fails is refused
 * for that reason, not the client CA's. */
int policy_identity(const struct peer_facts *f, struct client_id *ret_id, char *why,
		    size_t why_len);

enum policy_fetch {
	POLICY_FETCH_OK,
	POLICY_FETCH_NO_CERT,	       /* no identity: enrollment only */
	POLICY_FETCH_ENROLLED_REFUSED, /* enrolled-fetch = no */
	POLICY_FETCH_NOT_ALLOWED,      /* a client-CA identity that no --allow pattern matches */
	POLICY_FETCH_PEER,	       /* a peer: the peer route only */
};

/* May this identity read the bundle (and its description, metrics, healthz)? Enrolled
 * identities as enrolled_fetch says; client-CA ones if allow is empty or a pattern
 * (fnmatch(3)) matches the CN. */
enum policy_fetch policy_may_fetch(const struct client_id *id, const char *const *allow,
				   size_t n_allow, bool enrolled_fetch);

/* "enrolled" / "client-ca" / "peer" / "none". */
const char *client_source_name(enum client_source s);

/* Replace every byte outside printable ASCII with '?' (log lines and JSON stay printable
 * whatever a certificate says). */
void policy_printable(char *s);
