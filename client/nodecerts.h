/* nodecerts.h - generate a control-plane node's own certificates from the shared CAs, as
 * kubeadm would for the same cluster settings, and check those already present as
 * kubeadm's join checks them. The one owner of the node-certificate options of
 * `pkishare join` and `pkishare pki node-certs`. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "x509.h"

#define NODECERTS_SANS_MAX 32

struct nodecerts_opts {
	const char *pki_dir;
	const char *node_name;
	const char *advertise_address;
	const char *control_plane_endpoint; /* may be NULL */
	const char *service_cidr;	    /* default 10.96.0.0/12 */
	const char *dns_domain;		    /* default cluster.local */
	/* kubeadm's apiServer.certSANs, etcd.local.serverCertSANs and peerCertSANs */
	const char *api_sans[NODECERTS_SANS_MAX];
	size_t n_api_sans;
	const char *etcd_server_sans[NODECERTS_SANS_MAX];
	size_t n_etcd_server_sans;
	const char *etcd_peer_sans[NODECERTS_SANS_MAX];
	size_t n_etcd_peer_sans;
	enum key_type key_type; /* kubeadm's encryptionAlgorithm; RSA-2048 by default */
	bool external_etcd;	/* no etcd/ certificates */
	bool force;		/* replace existing node certificates */
};

/* Option ids shared by the verbs that make node certificates. */
enum {
	NC_OPT_ADVERTISE = 0x400,
	NC_OPT_ENDPOINT,
	NC_OPT_SERVICE_CIDR,
	NC_OPT_DNS_DOMAIN,
	NC_OPT_API_SANS,
	NC_OPT_ETCD_SERVER_SANS,
	NC_OPT_ETCD_PEER_SANS,
	NC_OPT_ALGORITHM,
};
#define NODECERTS_LONG_OPTIONS                                                                     \
	{"advertise-address", required_argument, NULL, NC_OPT_ADVERTISE},                          \
	    {"control-plane-endpoint", required_argument, NULL, NC_OPT_ENDPOINT},                  \
	    {"service-cidr", required_argument, NULL, NC_OPT_SERVICE_CIDR},                        \
	    {"dns-domain", required_argument, NULL, NC_OPT_DNS_DOMAIN},                            \
	    {"apiserver-cert-extra-sans", required_argument, NULL, NC_OPT_API_SANS},               \
	    {"etcd-server-cert-extra-sans", required_argument, NULL, NC_OPT_ETCD_SERVER_SANS},     \
	    {"etcd-peer-cert-extra-sans", required_argument, NULL, NC_OPT_ETCD_PEER_SANS},         \
	{                                                                                          \
		"encryption-algorithm", required_argument, NULL, NC_OPT_ALGORITHM                  \
	}
#define NODECERTS_USAGE                                                                            \
	"  node certificates: --advertise-address IP [--control-plane-endpoint HOST[:PORT]]\n"     \
	"    [--service-cidr CIDR] [--dns-domain D] [--apiserver-cert-extra-sans A,B]\n"           \
	"    [--etcd-server-cert-extra-sans A,B] [--etcd-peer-cert-extra-sans A,B]\n"              \
	"    [--encryption-algorithm RSA-2048|RSA-3072|RSA-4096|ECDSA-P256|ECDSA-P384]\n"

/* Defaults: kubeadm's service CIDR, DNS domain and algorithm. */
void nodecerts_defaults(struct nodecerts_opts *o);
/* Take one of the options above (arg may be split in place at commas): 1 if taken, 0 if
 * the id is not one of ours, -1 on a bad value (said on stderr). */
int nodecerts_option(struct nodecerts_opts *o, int id, char *arg);
/* The node name kubeadm would use by default: the host name, lowercased. */
void nodecerts_default_name(char *buf, size_t len);

/* Generate what is missing (everything with force) and install it atomically; check what
 * is already there (key, chain to the CA, validity, every SAN) and refuse a mismatch,
 * naming the file and what is wrong. Returns an exit status; reports on stdout/stderr. */
int nodecerts_make(const struct nodecerts_opts *o, const char *tag);
