/* nodecerts.h - generate a control-plane node's own certificates from the shared CAs. */
#pragma once

#include <stdbool.h>

struct nodecerts_opts {
	const char *pki_dir;
	const char *node_name;
	const char *advertise_address;
	const char *control_plane_endpoint; /* may be NULL */
	const char *service_cidr;	    /* default 10.96.0.0/12 */
	const char *dns_domain;		    /* default cluster.local */
	bool external_etcd;		    /* no etcd/ certificates */
	bool force;			    /* replace existing node certificates */
};

/* Generate what is missing (everything with force) and install it atomically. Returns an
 * exit status and reports on stdout/stderr. */
int nodecerts_make(const struct nodecerts_opts *o, const char *tag);
