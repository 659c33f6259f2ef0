/* nodecerts.h - generate a control-plane node's own certificates from the shared CAs, as
 * kubeadm would for the same cluster settings, and check those already present as
 * kubeadm's join checks them. The one owner of the node-certificate options of
 * `pkishare join` and `pkishare pki node-certs`. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "certlist.h"
#include "pkidir.h"
#include "profile.h"
#include "x509.h"

/* The profile options: what is the same for every control-plane node of a cluster. */
enum {
	NC_OPT_ADVERTISE = 0x400,
	NC_OPT_ENDPOINT,
	NC_OPT_SERVICE_CIDR,
	NC_OPT_DNS_DOMAIN,
	NC_OPT_API_SANS,
	NC_OPT_ETCD_SERVER_SANS,
	NC_OPT_ETCD_PEER_SANS,
	NC_OPT_ALGORITHM,
	NC_OPT_VALIDITY,
};
/* Which profile fields a flag set (to tell what overrides the bundle's profile). */
enum {
	NC_GIVEN_ENDPOINT = 1 << 0,
	NC_GIVEN_SERVICE_CIDR = 1 << 1,
	NC_GIVEN_DNS_DOMAIN = 1 << 2,
	NC_GIVEN_API_SANS = 1 << 3,
	NC_GIVEN_ETCD_SERVER_SANS = 1 << 4,
	NC_GIVEN_ETCD_PEER_SANS = 1 << 5,
	NC_GIVEN_ALGORITHM = 1 << 6,
	NC_GIVEN_VALIDITY = 1 << 7,
};

struct nodecerts_opts {
	const char *pki_dir;
	const char *node_name;
	const char *advertise_address;
	/* The cluster's settings: from flags, or the sealed bundle's profile. Unset fields
	 * take kubeadm's defaults (10.96.0.0/12, cluster.local, RSA-2048, a year). */
	struct profile prof;
	unsigned given;	    /* NC_GIVEN_*: set by a flag */
	bool external_etcd; /* no etcd/ certificates */
	bool force;	    /* replace existing node certificates */
};

#define NODECERTS_PROFILE_OPTIONS                                                                  \
	{"control-plane-endpoint", required_argument, NULL, NC_OPT_ENDPOINT},                      \
	    {"service-cidr", required_argument, NULL, NC_OPT_SERVICE_CIDR},                        \
	    {"dns-domain", required_argument, NULL, NC_OPT_DNS_DOMAIN},                            \
	    {"apiserver-cert-extra-sans", required_argument, NULL, NC_OPT_API_SANS},               \
	    {"etcd-server-cert-extra-sans", required_argument, NULL, NC_OPT_ETCD_SERVER_SANS},     \
	    {"etcd-peer-cert-extra-sans", required_argument, NULL, NC_OPT_ETCD_PEER_SANS},         \
	    {"encryption-algorithm", required_argument, NULL, NC_OPT_ALGORITHM},                   \
	{                                                                                          \
		"certificate-validity", required_argument, NULL, NC_OPT_VALIDITY                   \
	}
#define NODECERTS_LONG_OPTIONS                                                                     \
	{"advertise-address", required_argument, NULL, NC_OPT_ADVERTISE}, NODECERTS_PROFILE_OPTIONS
#define NODECERTS_PROFILE_USAGE                                                                    \
	"  cluster profile: [--control-plane-endpoint HOST[:PORT]] [--service-cidr CIDR]\n"        \
	"    [--dns-domain D] [--apiserver-cert-extra-sans A,B] [--etcd-server-cert-extra-sans\n"  \
	"    A,B] [--etcd-peer-cert-extra-sans A,B] [--certificate-validity 8760h]\n"              \
	"    [--encryption-algorithm RSA-2048|RSA-3072|RSA-4096|ECDSA-P256|ECDSA-P384]\n"
#define NODECERTS_USAGE                                                                            \
	"  node certificates: --advertise-address IP, and the cluster profile (by default\n"       \
	"    the sealed bundle's, kept in the PKI directory):\n" NODECERTS_PROFILE_USAGE

/* Take one of the options above (arg is split at commas): 1 if taken, 0 if the id is not
 * one of ours, -1 on a bad value (said on stderr). The profile one takes only the
 * cluster's settings (upload-certs); ret_given (may be NULL) gets the NC_GIVEN_ bit. */
int nodecerts_profile_option(struct profile *p, int id, char *arg, unsigned *ret_given);
int nodecerts_option(struct nodecerts_opts *o, int id, char *arg);
/* Fill what no flag set from the bundle's profile; say on stdout which flags override
 * it (quietly with tag NULL). */
void nodecerts_take_profile(struct nodecerts_opts *o, const struct profile *bundle,
			    const char *tag);
/* kubeadm's encryption algorithm name as a key type (RSA-2048 for "" or unknown). */
enum key_type nodecerts_key_type(const char *algorithm);
/* The node name kubeadm would use by default: the host name, lowercased. */
void nodecerts_default_name(char *buf, size_t len);

/* Can node certificates be made from this profile: a service CIDR, a control-plane
 * endpoint and a DNS domain kubeadm would take (unset ones: kubeadm's defaults)? The one
 * check, run by upload-certs before it uploads and by every node before it generates.
 * 0, or -EINVAL with why (a sentence naming the value). */
int nodecerts_profile_check(const struct profile *p, char *why, size_t len);

/* The inputs alone (addresses, node name, service CIDR, endpoint): an exit status. */
int nodecerts_check(const struct nodecerts_opts *o);
/* The files the node certificates to be made will take: each key and certificate at most
 * its group's bytes (from the key type, the CA's signature at most RSA-8192, its names). */
struct nodecerts_space {
	struct pkidir_space_group g[2 * CERTLIST_MAX];
	size_t n;
};

/* The plan, before the bundle is fetched: every input and every certificate already in
 * o->pki_dir checked (all but its chain to a CA not yet at hand); ret_made/ret_kept say
 * how many would be generated or kept, and ret_space (if not NULL) what those generated
 * take at most. An exit status; refusals said on stderr. */
int nodecerts_plan(const struct nodecerts_opts *o, size_t *ret_made, size_t *ret_kept,
		   struct nodecerts_space *ret_space);
/* Generate what is missing (everything with force), signed by the CAs in cas (the opened
 * bundle), into set, in memory, for the caller to install with the shared PKI in one
 * atomic install; check what is already there, chain included. An exit status. */
int nodecerts_build(const struct nodecerts_opts *o, const struct pki_set *cas, struct pki_set *set,
		    size_t *ret_made, size_t *ret_kept, const char *tag);
/* Generate what is missing (everything with force) and install it atomically; check what
 * is already there (key, chain to the CA, validity, every SAN) and refuse a mismatch,
 * naming the file and what is wrong. Returns an exit status; reports on stdout/stderr. */
int nodecerts_make(const struct nodecerts_opts *o, const char *tag);

/* The cluster profile a join or decrypt kept in o->pki_dir (PROFILE_FILE_NAME), taken
 * under the flags (o->given), and said on stdout under tag which one is used. An exit
 * status; a kept file that cannot be trusted or read is refused (said). */
int nodecerts_kept_profile(struct nodecerts_opts *o, const char *tag);

/* The node certificates present in pki_dir (their .crt), as names ("apiserver.crt,
 * etcd/peer.crt") into list (len bytes). Returns how many. */
size_t nodecerts_present(const char *pki_dir, char *list, size_t len);
/* The node certificates present in pki_dir that are not signed by their CA in cas (the
 * opened bundle: ca, front-proxy-ca, etcd/ca), or do not load, as names into list. A CA
 * the bundle lacks (external etcd) is not compared. Returns how many. */
size_t nodecerts_foreign(const char *pki_dir, const struct pki_set *cas, char *list, size_t len);
