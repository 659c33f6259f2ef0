/* nodecerts.c - the certificates kubeadm generates on each control-plane node, signed by
 * the shared CAs: apiserver, apiserver-kubelet-client, apiserver-etcd-client,
 * front-proxy-client, etcd/server, etcd/peer, etcd/healthcheck-client. What each says
 * (kubeadm's subjects, SANs, key usages and validity) is certlist.c's; here the keys (of
 * the cluster's encryption algorithm, RSA-2048 unless told), the signing and the files.
 *
 * Certificates already present are checked as kubeadm's join checks them (the key is the
 * certificate's, the chain leads to the CA, not expired, every SAN kubeadm would put in
 * is there) and a mismatch is refused. CA keys are read into guarded memory only for
 * signing and never written anywhere. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "addr.h"
#include "certlist.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "nodecerts.h"
#include "pkidir.h"
#include "util.h"
#include "x509.h"

#define CA_KEY_MAX (64 * 1024)

struct ca {
	X509 *cert;
	EVP_PKEY *key;
};

static void ca_done(struct ca *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	c->cert = NULL;
	c->key = NULL;
}

static int ca_load(const char *pki_dir, const char *base, struct ca *ret, char *detail)
{
	char path[4096];
	struct secret *pem = NULL;
	snprintf(path, sizeof(path), "%s/%s.crt", pki_dir, base);
	int r = x509_cert_load_file(path, &ret->cert);
	if (r >= 0) {
		snprintf(path, sizeof(path), "%s/%s.key", pki_dir, base);
		r = secret_read_file(path, CA_KEY_MAX, &pem);
		if (r >= 0)
			r = x509_key_load(pem->data, pem->len, &ret->key);
		if (r >= 0)
			r = x509_key_matches(ret->cert, ret->key);
		secret_free(pem);
	}
	if (r == -PKS_E_PAIR)
		str_format(detail, DETAIL_MAX, "%s (not the key of %s.crt, another CA's)", path,
			   base);
	else if (r < 0)
		str_copy(detail, DETAIL_MAX, path);
	if (r < 0) {
		ca_done(ret);
	}
	return r;
}

/* The CA base.crt/base.key from an in-memory set (the opened bundle) instead of files. */
static int ca_from_set(const struct pki_set *set, const char *base, struct ca *ret, char *detail)
{
	char name[PKI_NAME_MAX];
	snprintf(name, sizeof(name), "%s.crt", base);
	const struct pki_entry *c = pki_set_find(set, name);
	int r = c ? x509_cert_load(c->data->data, c->data->len, &ret->cert) : -ENOENT;
	if (r >= 0) {
		snprintf(name, sizeof(name), "%s.key", base);
		const struct pki_entry *k = pki_set_find(set, name);
		r = k ? x509_key_load(k->data->data, k->data->len, &ret->key) : -ENOENT;
		if (r >= 0)
			r = x509_key_matches(ret->cert, ret->key);
	}
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "%s (in the bundle%s)", name,
			 r == -PKS_E_PAIR ? "; not the key of its certificate" : "");
		ca_done(ret);
	}
	return r;
}

void nodecerts_default_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1) != 0)
		str_copy(buf, len, "localhost");
	buf[len - 1] = 0;
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static int take_value(char *out, size_t max, const char *arg, const char *opt)
{
	if (!profile_value_ok(arg, max)) {
		cli_error("--%s '%s' must be printable ASCII without quotes or backslashes", opt,
			  arg);
		return -1;
	}
	str_copy(out, max, arg);
	return 1;
}

static int split_list(char (*list)[PROFILE_STR_MAX], size_t *n, char *arg, const char *opt)
{
	char *save = NULL;
	*n = 0;
	for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n >= PROFILE_SANS_MAX) {
			cli_error("--%s: at most %d names", opt, PROFILE_SANS_MAX);
			return -1;
		}
		if (!profile_san_ok(t)) {
			cli_error("--%s: '%s' is neither an IP address nor a DNS name", opt, t);
			return -1;
		}
		if (take_value(list[(*n)++], PROFILE_STR_MAX, t, opt) < 0)
			return -1;
	}
	return 1;
}

int nodecerts_profile_option(struct profile *p, int id, char *arg, unsigned *ret_given)
{
	unsigned given = 0;
	int r = 1;
	switch (id) {
	case NC_OPT_ENDPOINT:
		given = NC_GIVEN_ENDPOINT;
		r = take_value(p->endpoint, sizeof(p->endpoint), arg, "control-plane-endpoint");
		break;
	case NC_OPT_SERVICE_CIDR:
		given = NC_GIVEN_SERVICE_CIDR;
		r = take_value(p->service_subnet, sizeof(p->service_subnet), arg, "service-cidr");
		break;
	case NC_OPT_DNS_DOMAIN:
		given = NC_GIVEN_DNS_DOMAIN;
		r = take_value(p->dns_domain, sizeof(p->dns_domain), arg, "dns-domain");
		break;
	case NC_OPT_API_SANS:
		given = NC_GIVEN_API_SANS;
		r = split_list(p->api_sans, &p->n_api_sans, arg, "apiserver-cert-extra-sans");
		break;
	case NC_OPT_ETCD_SERVER_SANS:
		given = NC_GIVEN_ETCD_SERVER_SANS;
		r = split_list(p->etcd_server_sans, &p->n_etcd_server_sans, arg,
			       "etcd-server-cert-extra-sans");
		break;
	case NC_OPT_ETCD_PEER_SANS:
		given = NC_GIVEN_ETCD_PEER_SANS;
		r = split_list(p->etcd_peer_sans, &p->n_etcd_peer_sans, arg,
			       "etcd-peer-cert-extra-sans");
		break;
	case NC_OPT_ALGORITHM:
		given = NC_GIVEN_ALGORITHM;
		if (!profile_algorithm_ok(arg)) {
			cli_error("--encryption-algorithm must be RSA-2048, RSA-3072, RSA-4096, "
				  "ECDSA-P256 or ECDSA-P384 (kubeadm's names), not '%s'",
				  arg);
			return -1;
		}
		str_copy(p->algorithm, sizeof(p->algorithm), arg);
		break;
	case NC_OPT_VALIDITY:
		given = NC_GIVEN_VALIDITY;
		p->validity_s = profile_duration_parse(arg);
		if (p->validity_s < 3600) {
			cli_error("--certificate-validity '%s' must be a duration of at least an "
				  "hour, like 8760h (kubeadm's certificateValidityPeriod)",
				  arg);
			return -1;
		}
		break;
	default:
		return 0;
	}
	if (r > 0 && ret_given)
		*ret_given |= given;
	return r;
}

int nodecerts_option(struct nodecerts_opts *o, int id, char *arg)
{
	if (id == NC_OPT_ADVERTISE) {
		o->advertise_address = arg;
		return 1;
	}
	return nodecerts_profile_option(&o->prof, id, arg, &o->given);
}

static void take_field(bool given, char *mine, size_t len, const char *theirs, const char *flag,
		       const char *tag)
{
	if (!theirs[0])
		return;
	if (!given)
		str_copy(mine, len, theirs);
	else if (tag && strcmp(mine, theirs) != 0)
		printf("[%s] --%s %s overrides the cluster profile's %s\n", tag, flag, mine,
		       theirs);
}

static void take_list(bool given, char (*mine)[PROFILE_STR_MAX], size_t *n,
		      const char (*theirs)[PROFILE_STR_MAX], size_t tn, const char *flag,
		      const char *tag)
{
	if (!tn)
		return;
	if (!given) {
		memcpy(mine, theirs, tn * sizeof(*theirs));
		*n = tn;
	} else if (tag) {
		printf("[%s] --%s replaces the cluster profile's %zu name(s)\n", tag, flag, tn);
	}
}

void nodecerts_take_profile(struct nodecerts_opts *o, const struct profile *b, const char *tag)
{
	struct profile *p = &o->prof;
	take_field(o->given & NC_GIVEN_ENDPOINT, p->endpoint, sizeof(p->endpoint), b->endpoint,
		   "control-plane-endpoint", tag);
	take_field(o->given & NC_GIVEN_SERVICE_CIDR, p->service_subnet, sizeof(p->service_subnet),
		   b->service_subnet, "service-cidr", tag);
	take_field(o->given & NC_GIVEN_DNS_DOMAIN, p->dns_domain, sizeof(p->dns_domain),
		   b->dns_domain, "dns-domain", tag);
	take_field(o->given & NC_GIVEN_ALGORITHM, p->algorithm, sizeof(p->algorithm), b->algorithm,
		   "encryption-algorithm", tag);
	take_list(o->given & NC_GIVEN_API_SANS, p->api_sans, &p->n_api_sans, b->api_sans,
		  b->n_api_sans, "apiserver-cert-extra-sans", tag);
	take_list(o->given & NC_GIVEN_ETCD_SERVER_SANS, p->etcd_server_sans, &p->n_etcd_server_sans,
		  b->etcd_server_sans, b->n_etcd_server_sans, "etcd-server-cert-extra-sans", tag);
	take_list(o->given & NC_GIVEN_ETCD_PEER_SANS, p->etcd_peer_sans, &p->n_etcd_peer_sans,
		  b->etcd_peer_sans, b->n_etcd_peer_sans, "etcd-peer-cert-extra-sans", tag);
	if (b->validity_s && !(o->given & NC_GIVEN_VALIDITY))
		p->validity_s = b->validity_s;
	else if (tag && b->validity_s && p->validity_s != b->validity_s) {
		char d[32];
		duration_format(b->validity_s, d, sizeof(d));
		printf("[%s] --certificate-validity overrides the cluster profile's %s\n", tag, d);
	}
}

enum key_type nodecerts_key_type(const char *algorithm)
{
	return !strcmp(algorithm, "ECDSA-P256")	  ? KEY_TYPE_P256
	       : !strcmp(algorithm, "ECDSA-P384") ? KEY_TYPE_P384
	       : !strcmp(algorithm, "RSA-3072")	  ? KEY_TYPE_RSA3072
	       : !strcmp(algorithm, "RSA-4096")	  ? KEY_TYPE_RSA4096
						  : KEY_TYPE_RSA2048;
}

int nodecerts_profile_check(const struct profile *p, char *why, size_t len)
{
	char host[ADDR_HOST_MAX], ip[64], detail[DETAIL_MAX];
	uint16_t port;
	const char *svc = p->service_subnet[0] ? p->service_subnet : "10.96.0.0/12";
	const char *domain = p->dns_domain[0] ? p->dns_domain : "cluster.local";
	if (certlist_service_ip(svc, ip, sizeof(ip)) < 0) {
		snprintf(why, len, "service CIDR '%s' is not a CIDR like 10.96.0.0/12", svc);
		return -EINVAL;
	}
	if (p->endpoint[0] &&
	    (addr_parse(p->endpoint, 6443, host, &port, detail) < 0 || !profile_san_ok(host))) {
		snprintf(why, len,
			 "control-plane endpoint '%s' is not HOST, HOST:PORT or [IPv6]:PORT",
			 p->endpoint);
		return -EINVAL;
	}
	/* It ends the API server's kubernetes.default.svc.DOMAIN: a DNS name, no wildcard. */
	if (certlist_is_ip(domain) || domain[0] == '*' || !profile_san_ok(domain)) {
		snprintf(why, len, "DNS domain '%s' is not a DNS name like cluster.local", domain);
		return -EINVAL;
	}
	return 0;
}

static int issue(struct pki_set *set, const char *base, const struct cert_spec *spec,
		 const struct ca *ca, enum key_type type)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct secret *pem = NULL;
	char name[PKI_NAME_MAX];
	int r = x509_key_new(type, &key);
	if (r >= 0)
		r = x509_cert_new(spec, key, ca->cert, ca->key, &cert);
	if (r >= 0)
		r = x509_cert_pem(cert, &pem);
	if (r >= 0) {
		snprintf(name, sizeof(name), "%s.crt", base);
		r = pki_set_add(set, name, 0644, pem);
	}
	if (r >= 0)
		r = x509_key_pem(key, &pem);
	if (r >= 0) {
		snprintf(name, sizeof(name), "%s.key", base);
		r = pki_set_add(set, name, 0600, pem);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

static bool present(const char *pki_dir, const char *base)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s.crt", pki_dir, base);
	if (access(p, F_OK) != 0)
		return false;
	snprintf(p, sizeof(p), "%s/%s.key", pki_dir, base);
	return access(p, F_OK) == 0;
}

/* An existing node certificate, checked as kubeadm's join checks it before using it
 * (certs.go validateCertificateWithConfig): its key, its chain to the CA (unless ca is
 * NULL: the plan before the CA is at hand), its validity and every SAN the spec asks
 * for. 0, or -1 with what is wrong in why. */
static int check_existing(const char *pki_dir, const char *base, const struct cert_spec *spec,
			  const struct ca *ca, char *why, size_t why_len)
{
	char path[4096];
	_cleanup_(x509_freep) X509 *cert = NULL;
	_cleanup_(secret_freep) struct secret *cert_pem = NULL, *key_pem = NULL;
	snprintf(path, sizeof(path), "%s/%s.crt", pki_dir, base);
	if (secret_read_file(path, CA_KEY_MAX, &cert_pem) < 0 ||
	    x509_cert_load(cert_pem->data, cert_pem->len, &cert) < 0) {
		snprintf(why, why_len, "the certificate does not load");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s.key", pki_dir, base);
	if (secret_read_file(path, CA_KEY_MAX, &key_pem) < 0 ||
	    x509_pair_check(key_pem->data, key_pem->len, cert_pem->data, cert_pem->len) < 0) {
		snprintf(why, why_len, "%s.key is not the key of %s.crt", base, base);
		return -1;
	}
	if (ca && (X509_check_issued(ca->cert, cert) != X509_V_OK ||
		   X509_verify(cert, X509_get0_pubkey(ca->cert)) != 1)) {
		snprintf(why, why_len,
			 "it is not signed by this cluster's CA (made for another "
			 "cluster?)");
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		snprintf(why, why_len, "it is expired or not yet valid");
		return -1;
	}
	for (size_t i = 0; i < spec->n_dns; i++)
		if (X509_check_host(cert, spec->dns[i], 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
				    NULL) != 1) {
			snprintf(why, why_len, "its SANs lack the DNS name %s", spec->dns[i]);
			return -1;
		}
	for (size_t i = 0; i < spec->n_ips; i++)
		if (X509_check_ip_asc(cert, spec->ips[i], 0) != 1) {
			snprintf(why, why_len, "its SANs lack the IP address %s", spec->ips[i]);
			return -1;
		}
	return 0;
}

/* Append "NAME.crt" to the comma-separated list. */
static void list_add(char *list, size_t len, const char *base)
{
	size_t n = strlen(list);
	if (n < len)
		snprintf(list + n, len - n, "%s%s.crt", n ? ", " : "", base);
}

size_t nodecerts_present(const char *pki_dir, char *list, size_t len)
{
	char path[4096];
	size_t n = 0;
	list[0] = 0;
	for (size_t i = 0; i < CERTLIST_MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s.crt", pki_dir, certlist_table[i].base);
		if (access(path, F_OK) == 0) {
			list_add(list, len, certlist_table[i].base);
			n++;
		}
	}
	return n;
}

size_t nodecerts_foreign(const char *pki_dir, const struct pki_set *cas, char *list, size_t len)
{
	char path[4096], name[PKI_NAME_MAX];
	size_t n = 0;
	list[0] = 0;
	for (size_t i = 0; i < CERTLIST_MAX; i++) {
		_cleanup_(x509_freep) X509 *cert = NULL, *ca = NULL;
		snprintf(path, sizeof(path), "%s/%s.crt", pki_dir, certlist_table[i].base);
		snprintf(name, sizeof(name), "%s.crt", certlist_table[i].ca);
		const struct pki_entry *e = pki_set_find(cas, name);
		if (access(path, F_OK) != 0 || !e ||
		    x509_cert_load(e->data->data, e->data->len, &ca) < 0)
			continue;
		if (x509_cert_load_file(path, &cert) < 0 ||
		    X509_check_issued(ca, cert) != X509_V_OK ||
		    X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
			list_add(list, len, certlist_table[i].base);
			n++;
		}
	}
	return n;
}

/* Every input check, before anything is made; an exit status. */
static int check_inputs(const struct nodecerts_opts *o)
{
	char svc_ip[64];
	if (!o->advertise_address || !certlist_is_ip(o->advertise_address)) {
		cli_error("--advertise-address '%s' is not an IP address", o->advertise_address);
		return EXIT_USAGE;
	}
	const struct profile *p = &o->prof;
	const char *svc = p->service_subnet[0] ? p->service_subnet : "10.96.0.0/12";
	const char *ep = p->endpoint[0] ? p->endpoint : NULL;
	char detail[DETAIL_MAX];
	if (nodecerts_profile_check(p, detail, sizeof(detail)) < 0) {
		cli_error("%s", detail);
		return EXIT_USAGE;
	}
	if (certlist_service_ip(svc, svc_ip, sizeof(svc_ip)) < 0) {
		cli_error("service CIDR '%s' is not a CIDR like 10.96.0.0/12", svc);
		return EXIT_USAGE;
	}
	if (!name_is_safe(o->node_name) || strchr(o->node_name, '/')) {
		cli_error("--node-name '%s' must be letters, digits, '.', '_' or '-'",
			  o->node_name);
		return EXIT_USAGE;
	}
	for (const char *c = o->node_name; *c; c++)
		if (isupper((unsigned char)*c)) {
			cli_error("--node-name '%s' has upper-case letters; kubeadm accepts only "
				  "lower-case node names",
				  o->node_name);
			return EXIT_USAGE;
		}
	char host[ADDR_HOST_MAX], why[DETAIL_MAX];
	uint16_t port;
	if (ep && addr_parse(ep, 6443, host, &port, why) < 0) {
		cli_error("control-plane endpoint: %s", why);
		return EXIT_USAGE;
	}
	if (ep && !profile_san_ok(host)) {
		cli_error("control-plane endpoint '%s' is not HOST, HOST:PORT or [IPv6]:PORT", ep);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Everything build() works from: the certificates kubeadm makes (their names and
 * specs, certlist.c) and the CAs that sign them. */
struct node_plan {
	struct certlist cl;
	struct ca ca, fp, etcd;
};

static void node_plan_done(struct node_plan *np)
{
	ca_done(&np->ca);
	ca_done(&np->fp);
	ca_done(&np->etcd);
}

/* The CAs, from the opened bundle (cas) or from o->pki_dir (from_dir); neither in a plan.
 * An exit status. */
static int node_cas(const struct nodecerts_opts *o, const struct pki_set *cas, bool from_dir,
		    struct node_plan *np)
{
	char detail[DETAIL_MAX] = "";
	bool need_etcd = !o->external_etcd;
	int r = 0;
	if (cas) {
		r = ca_from_set(cas, "ca", &np->ca, detail);
		if (r >= 0)
			r = ca_from_set(cas, "front-proxy-ca", &np->fp, detail);
		if (r >= 0 && need_etcd)
			r = ca_from_set(cas, "etcd/ca", &np->etcd, detail);
	} else if (from_dir) {
		r = ca_load(o->pki_dir, "ca", &np->ca, detail);
		if (r >= 0)
			r = ca_load(o->pki_dir, "front-proxy-ca", &np->fp, detail);
		if (r >= 0 && need_etcd)
			r = ca_load(o->pki_dir, "etcd/ca", &np->etcd, detail);
	}
	if (r < 0 && cas && r == -ENOENT && !strncmp(detail, "etcd/", 5))
		/* A bundle without the etcd CA: external etcd uploaded without its profile, or
		 * etcd/ca.key missing on the first node. Join's plan cannot see that. */
		cli_error("the bundle holds no etcd CA (%s), which this node's stacked-etcd "
			  "certificates need; nothing was written. With external etcd: on the "
			  "first control-plane node run 'pkishare upload-certs --config "
			  "kubeadm.yaml' (etcd.external) and join again, this node then makes no "
			  "etcd certificates; with stacked etcd: upload-certs from a PKI directory "
			  "that holds etcd/ca.crt and etcd/ca.key; or join without "
			  "--advertise-address (the shared PKI only) and let kubeadm make this "
			  "node's certificates",
			  detail);
	else if (r < 0 && cas)
		cli_error("cannot use the CA %s from the bundle: %s; nothing was written: on the "
			  "first control-plane node, fix its PKI directory and run 'pkishare "
			  "upload-certs' again",
			  detail, error_message(r));
	else if (r < 0)
		cli_error("cannot load the CA %s: %s; install the shared PKI first (pkishare join "
			  "or decrypt); nothing was changed",
			  detail, error_message(r));
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

/* The CA of np that signs c (by its base name in certlist_table). */
static const struct ca *node_cert_ca(const struct node_plan *np, const struct certlist_cert *c)
{
	return !strcmp(c->entry->ca, "ca")		 ? &np->ca
	       : !strcmp(c->entry->ca, "front-proxy-ca") ? &np->fp
							 : &np->etcd;
}

/* One certificate: one already present is checked (with its chain unless planning) and
 * kept; else it is issued into set, or in a plan only counted. An exit status. */
static int node_cert_make(const struct nodecerts_opts *o, const struct certlist_cert *c,
			  const struct ca *ca, bool plan, struct pki_set *set, const char *tag,
			  size_t *made, size_t *kept)
{
	if (!o->force && present(o->pki_dir, c->entry->base)) {
		char why[256];
		if (check_existing(o->pki_dir, c->entry->base, &c->spec, plan ? NULL : ca, why,
				   sizeof(why)) < 0) {
			cli_error(
			    "%s/%s.crt is already there and kubeadm would refuse it: %s; "
			    "remove it or pass --force to make a new one; nothing was changed",
			    o->pki_dir, c->entry->base, why);
			return EXIT_EXISTS;
		}
		++*kept;
		return EXIT_OK;
	}
	if (!plan) {
		printf("[%s] Generating %s.crt and .key\n", tag, c->entry->base);
		fflush(stdout);
		int r =
		    issue(set, c->entry->base, &c->spec, ca, nodecerts_key_type(o->prof.algorithm));
		if (r < 0) {
			cli_error("cannot issue %s: %s; nothing was changed", c->entry->base,
				  error_message(r));
			return EXIT_FAIL;
		}
	}
	++*made;
	return EXIT_OK;
}

/* Plan (cas NULL, nothing issued: inputs and present certificates checked without the
 * chain) or build: certificates signed by the CAs of cas (the opened bundle) or, with
 * from_dir, of o->pki_dir, added to set. ret_made/ret_kept count them. An exit status;
 * every refusal is said on stderr. */
/* What the PEM of der bytes of DER takes at most: base64 in 64-column lines, with its
 * BEGIN and END lines. */
static uint64_t pem_bound(uint64_t der)
{
	uint64_t b64 = (der + 2) / 3 * 4;
	return b64 + b64 / 64 + 1 + 2 * 40;
}

/* Upper bounds of a node key's and certificate's DER by what varies: the key's type, and
 * the CA's signature (any CA a bundle may carry, RSA-8192 at most: 1 KiB) and the rest of
 * a kubeadm node certificate (serial, issuer, validity, extensions: under 1 KiB) besides
 * the CN, O and SANs counted from its spec. */
#define NODE_CERT_DER_FIXED (1024 + 1024)
static uint64_t key_der_bound(enum key_type t)
{
	switch (t) {
	case KEY_TYPE_P256:
	case KEY_TYPE_P384:
		return 256;
	case KEY_TYPE_RSA3072:
		return 1900;
	case KEY_TYPE_RSA4096:
		return 2400;
	case KEY_TYPE_RSA2048:
	default:
		return 1300;
	}
}

/* The files of certificate c (key and certificate) as two groups of space. */
static void cert_space(const struct certlist_cert *c, enum key_type t,
		       struct pkidir_space_group ret[2])
{
	uint64_t spki = t == KEY_TYPE_P256 || t == KEY_TYPE_P384 ? 128 : key_der_bound(t) / 2;
	uint64_t der = NODE_CERT_DER_FIXED + spki + strlen(c->spec.cn) +
		       (c->spec.org ? strlen(c->spec.org) : 0);
	for (size_t i = 0; i < c->spec.n_dns; i++)
		der += strlen(c->spec.dns[i]) + 4;
	der += c->spec.n_ips * 20;
	ret[0] = (struct pkidir_space_group){.bytes = pem_bound(key_der_bound(t)), .files = 1};
	ret[1] = (struct pkidir_space_group){.bytes = pem_bound(der), .files = 1};
}

static int build(const struct nodecerts_opts *o, const struct pki_set *cas, bool from_dir,
		 struct pki_set *set, size_t *ret_made, size_t *ret_kept, const char *tag,
		 struct nodecerts_space *ret_space)
{
	_cleanup_(node_plan_done) struct node_plan np = {0};
	int ex = check_inputs(o);
	if (ex == EXIT_OK)
		ex = node_cas(o, cas, from_dir, &np);
	if (ex != EXIT_OK)
		return ex;
	if (certlist_make(o->node_name, o->advertise_address, &o->prof, o->external_etcd, &np.cl) <
	    0) {
		/* check_inputs said what does not parse; this only if they ever disagree. */
		cli_error("cannot compute this node's certificates from the cluster profile");
		return EXIT_USAGE;
	}
	bool plan = !cas && !from_dir;
	size_t made = 0, kept = 0;
	if (ret_space)
		ret_space->n = 0;
	for (size_t i = 0; i < np.cl.n; i++) {
		const struct certlist_cert *c = &np.cl.certs[i];
		size_t before = made;
		ex = node_cert_make(o, c, node_cert_ca(&np, c), plan, set, tag, &made, &kept);
		if (ex != EXIT_OK)
			return ex;
		if (ret_space && made > before) {
			cert_space(c, nodecerts_key_type(o->prof.algorithm),
				   &ret_space->g[ret_space->n]);
			ret_space->n += 2;
		}
	}
	*ret_made = made;
	*ret_kept = kept;
	return EXIT_OK;
}

int nodecerts_check(const struct nodecerts_opts *o)
{
	return check_inputs(o);
}

int nodecerts_plan(const struct nodecerts_opts *o, size_t *ret_made, size_t *ret_kept,
		   struct nodecerts_space *ret_space)
{
	return build(o, NULL, false, NULL, ret_made, ret_kept, "plan", ret_space);
}

int nodecerts_build(const struct nodecerts_opts *o, const struct pki_set *cas, struct pki_set *set,
		    size_t *ret_made, size_t *ret_kept, const char *tag)
{
	return build(o, cas, false, set, ret_made, ret_kept, tag, NULL);
}

int nodecerts_make(const struct nodecerts_opts *o, const char *tag)
{
	_cleanup_(pki_set_clearp) struct pki_set set = {0};
	char detail[DETAIL_MAX] = "";
	size_t made = 0, kept = 0;
	int r, ex = build(o, NULL, true, &set, &made, &kept, tag, NULL);
	if (ex != EXIT_OK)
		return ex;
	if (made) {
		struct pkidir_report rep;
		r = pkidir_install(o->pki_dir, &set, o->force ? PKIDIR_FORCE : 0, &rep, detail);
		if (r < 0) {
			cli_error(
			    "cannot install the node certificates into %s: %s (%s); nothing was "
			    "changed",
			    o->pki_dir, error_message(r), detail);
			return cli_exit_for(r);
		}
	}
	printf("[%s] Node certificates for %s (%s): %zu generated, %zu already present, checked "
	       "and kept%s\n",
	       tag, o->node_name, o->advertise_address, made, kept,
	       kept && !o->force ? " (--force to replace)" : "");
	return EXIT_OK;
}

/* The cluster profile join or decrypt kept in the PKI directory (PROFILE_FILE_NAME), taken
 * under the flags, and said which one is used: without it the curl path would make an API
 * server certificate without the endpoint and the certSANs, which kubeadm refuses later.
 * EXIT_OK, or said and the exit status (a file that cannot be trusted or read). */
int nodecerts_kept_profile(struct nodecerts_opts *nc, const char *tag)
{
	char detail[DETAIL_MAX] = "", desc[1024];
	struct profile kept = {0};

	int r = profile_load(nc->pki_dir, &kept, detail);
	if (r == -ENOENT || (r == 0 && !profile_is_set(&kept))) {
		printf("[%s] Cluster profile: none kept in %s (the bundle carried none: "
		       "upload-certs --config kubeadm.yaml seals one); using the flags and "
		       "kubeadm's defaults\n",
		       tag, nc->pki_dir);
		return EXIT_OK;
	}
	if (r < 0) {
		cli_error("cannot use the cluster profile %s/%s: %s%s%s; nothing was written: fix "
			  "or remove it (decrypt or join writes it again), or give the profile "
			  "with the flags",
			  nc->pki_dir, PROFILE_FILE_NAME,
			  r == -PKS_E_FOREIGN ? "owned by another user or writable by group or "
						"others, so someone else could choose this node's "
						"SANs"
			  : r == -PKS_E_BUNDLE_FORMAT ? "it is not a cluster profile"
						      : error_message(r),
			  detail[0] ? ": " : "", detail);
		return EXIT_FAIL;
	}
	profile_describe(&kept, desc, sizeof(desc));
	printf("[%s] Cluster profile: %s/%s (sealed with the bundle): %s\n", tag, nc->pki_dir,
	       PROFILE_FILE_NAME, desc);
	nodecerts_take_profile(nc, &kept, tag);
	return EXIT_OK;
}
