/* certlist.h - kubeadm's specification of a control-plane node's own certificates
 * (certlist.go, pki_helpers.go): which ones, their CNs and organisations, SANs, key
 * usages, validity and the CA that signs each, from the node's and the cluster's
 * settings. Pure: data in, data out; no I/O, no messages (nodecerts.c does both). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"
#include "x509.h"

#define CERTLIST_MAX 7				 /* kubeadm's node certificates */
#define CERTLIST_DAYS 365			 /* kubeadm's validity unless the profile says */
#define CERTLIST_SANS_MAX (PROFILE_SANS_MAX + 8) /* the profile's extra SANs and kubeadm's */

/* Each node certificate's file base name, the base name of the CA that signs it, and
 * whether it is etcd's (none with an external etcd), in kubeadm's order. */
struct certlist_entry {
	const char *base, *ca;
	bool etcd;
};
extern const struct certlist_entry certlist_table[CERTLIST_MAX];

/* A certificate's SANs: IP addresses and DNS names, each once, in the order added. */
struct certlist_sans {
	const char *dns[CERTLIST_SANS_MAX];
	size_t n_dns;
	const char *ips[CERTLIST_SANS_MAX];
	size_t n_ips;
};

/* One certificate to make: its entry in certlist_table and what it says (the spec's
 * names point into the struct certlist that holds it, and into the inputs). */
struct certlist_cert {
	const struct certlist_entry *entry;
	struct cert_spec spec;
};

/* The node's certificates. Self-referential (the specs point into it): filled in place by
 * certlist_make, never copied. */
struct certlist {
	char svc_ip[64], fqdn[300], endpoint[256];
	struct certlist_sans api, eserver, epeer;
	struct certlist_cert certs[CERTLIST_MAX];
	size_t n;
};

/* Is s an IPv4 or IPv6 address? */
bool certlist_is_ip(const char *s);
/* The first address of the service CIDR cidr (the first of a dual-stack pair), from its
 * network address whatever host bits are written (10.96.0.5/12 -> 10.96.0.1, as kubeadm
 * computes it): the kubernetes Service's ClusterIP. 0 with out (len bytes), or -EINVAL. */
int certlist_service_ip(const char *cidr, char *out, size_t len);
/* The certificates of the node node_name at advertise_address for the cluster profile p
 * (unset fields: kubeadm's defaults, 10.96.0.0/12, cluster.local, a year), without etcd's
 * with external_etcd, into *ret (in kubeadm's order; node_name, advertise_address and p
 * must outlive it). 0, or -EINVAL for a service CIDR or endpoint that does not parse
 * (nodecerts_profile_check says which first). */
int certlist_make(const char *node_name, const char *advertise_address, const struct profile *p,
		  bool external_etcd, struct certlist *ret);
