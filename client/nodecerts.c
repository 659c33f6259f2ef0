/* nodecerts.c - the certificates kubeadm generates on each control-plane node, signed by
 * the shared CAs: apiserver, apiserver-kubelet-client, apiserver-etcd-client,
 * front-proxy-client, etcd/server, etcd/peer, etcd/healthcheck-client. kubeadm's
 * subjects, SANs, key usages and one-year validity; RSA 2048 keys like kubeadm.
 *
 * CA keys are read into guarded memory only for signing and never written anywhere. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "nodecerts.h"
#include "pkidir.h"
#include "util.h"
#include "x509.h"

#define CA_KEY_MAX (64 * 1024)
#define NODE_CERT_DAYS 365

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
		secret_free(pem);
	}
	if (r < 0) {
		str_copy(detail, DETAIL_MAX, path);
		ca_done(ret);
	}
	return r;
}

/* The first address of the service CIDR (10.96.0.0/12 -> 10.96.0.1): the kubernetes
 * Service's ClusterIP, which kubeadm puts in the API server's certificate. */
static int service_ip(const char *cidr, char *out, size_t len)
{
	char buf[64];
	str_copy(buf, sizeof(buf), cidr);
	char *slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) == 1) {
		a.s_addr = htonl(ntohl(a.s_addr) + 1);
		return inet_ntop(AF_INET, &a, out, (socklen_t)len) ? 0 : -EINVAL;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, buf, &a6) == 1) {
		for (int i = 15; i >= 0 && ++a6.s6_addr[i] == 0; i--)
			;
		return inet_ntop(AF_INET6, &a6, out, (socklen_t)len) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static bool is_ip(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int issue(struct pki_set *set, const char *base, const struct cert_spec *spec,
		 const struct ca *ca)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct secret *pem = NULL;
	char name[PKI_NAME_MAX];
	int r = x509_key_new(KEY_TYPE_RSA2048, &key);
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

int nodecerts_make(const struct nodecerts_opts *o, const char *tag)
{
	struct ca ca = {0}, fp = {0}, etcd = {0};
	struct pki_set set = {0};
	char detail[DETAIL_MAX] = "", svc_ip[64], fqdn[300], endpoint[256];
	int r, ex = EXIT_FAIL;

	if (!is_ip(o->advertise_address)) {
		cli_error("--advertise-address '%s' is not an IP address", o->advertise_address);
		return EXIT_USAGE;
	}
	if (service_ip(o->service_cidr, svc_ip, sizeof(svc_ip)) < 0) {
		cli_error("--service-cidr '%s' is not a CIDR like 10.96.0.0/12", o->service_cidr);
		return EXIT_USAGE;
	}
	if (!name_is_safe(o->node_name) || strchr(o->node_name, '/')) {
		cli_error("--node-name '%s' must be letters, digits, '.', '_' or '-'",
			  o->node_name);
		return EXIT_USAGE;
	}
	bool need_etcd = !o->external_etcd;
	r = ca_load(o->pki_dir, "ca", &ca, detail);
	if (r >= 0)
		r = ca_load(o->pki_dir, "front-proxy-ca", &fp, detail);
	if (r >= 0 && need_etcd)
		r = ca_load(o->pki_dir, "etcd/ca", &etcd, detail);
	if (r < 0) {
		cli_error("cannot load the CA %s: %s; install the shared PKI first (pkishare join "
			  "or decrypt)",
			  detail, error_message(r));
		goto out;
	}
	snprintf(fqdn, sizeof(fqdn), "kubernetes.default.svc.%s", o->dns_domain);
	const char *api_dns[8] = {o->node_name, "kubernetes", "kubernetes.default",
				  "kubernetes.default.svc", fqdn};
	const char *api_ip[4] = {svc_ip, o->advertise_address};
	size_t n_dns = 5, n_ip = 2;
	if (o->control_plane_endpoint) {
		char host[256];
		str_copy(host, sizeof(host), o->control_plane_endpoint);
		char *colon = strrchr(host, ':');
		if (colon && !strchr(host, ']') && strchr(host, ':') == colon)
			*colon = 0; /* HOST:PORT -> HOST */
		str_copy(endpoint, sizeof(endpoint), host);
		if (is_ip(endpoint))
			api_ip[n_ip++] = endpoint;
		else
			api_dns[n_dns++] = endpoint;
	}
	const char *etcd_dns[2] = {o->node_name, "localhost"};
	const char *etcd_ip[3] = {o->advertise_address, "127.0.0.1", "::1"};
	struct {
		const char *base;
		struct cert_spec spec;
		struct ca *ca;
		bool etcd;
	} certs[] = {
	    {"apiserver",
	     {.cn = "kube-apiserver",
	      .dns = api_dns,
	      .n_dns = n_dns,
	      .ips = api_ip,
	      .n_ips = n_ip,
	      .server_auth = true,
	      .days = NODE_CERT_DAYS},
	     &ca,
	     false},
	    {"apiserver-kubelet-client",
	     {.cn = "kube-apiserver-kubelet-client",
	      .org = "kubeadm:cluster-admins",
	      .client_auth = true,
	      .days = NODE_CERT_DAYS},
	     &ca,
	     false},
	    {"front-proxy-client",
	     {.cn = "front-proxy-client", .client_auth = true, .days = NODE_CERT_DAYS},
	     &fp,
	     false},
	    {"apiserver-etcd-client",
	     {.cn = "kube-apiserver-etcd-client", .client_auth = true, .days = NODE_CERT_DAYS},
	     &etcd,
	     true},
	    {"etcd/server",
	     {.cn = o->node_name,
	      .dns = etcd_dns,
	      .n_dns = 2,
	      .ips = etcd_ip,
	      .n_ips = 3,
	      .server_auth = true,
	      .client_auth = true,
	      .days = NODE_CERT_DAYS},
	     &etcd,
	     true},
	    {"etcd/peer",
	     {.cn = o->node_name,
	      .dns = etcd_dns,
	      .n_dns = 2,
	      .ips = etcd_ip,
	      .n_ips = 3,
	      .server_auth = true,
	      .client_auth = true,
	      .days = NODE_CERT_DAYS},
	     &etcd,
	     true},
	    {"etcd/healthcheck-client",
	     {.cn = "kube-etcd-healthcheck-client", .client_auth = true, .days = NODE_CERT_DAYS},
	     &etcd,
	     true},
	};
	size_t made = 0, kept = 0;
	for (size_t i = 0; i < ELEMENTSOF(certs); i++) {
		if (certs[i].etcd && !need_etcd)
			continue;
		if (!o->force && present(o->pki_dir, certs[i].base)) {
			kept++;
			continue;
		}
		r = issue(&set, certs[i].base, &certs[i].spec, certs[i].ca);
		if (r < 0) {
			cli_error("cannot issue %s: %s", certs[i].base, error_message(r));
			goto out;
		}
		made++;
	}
	if (made) {
		struct pkidir_report rep;
		r = pkidir_install(o->pki_dir, &set, o->force ? PKIDIR_FORCE : 0, &rep, detail);
		if (r < 0) {
			cli_error(
			    "cannot install the node certificates into %s: %s (%s); nothing was "
			    "changed",
			    o->pki_dir, error_message(r), detail);
			ex = cli_exit_for(r);
			goto out;
		}
	}
	printf("[%s] Node certificates for %s (%s): %zu generated, %zu already present and "
	       "kept%s\n",
	       tag, o->node_name, o->advertise_address, made, kept,
	       kept && !o->force ? " (--force to replace)" : "");
	ex = EXIT_OK;
out:
	pki_set_clear(&set);
	ca_done(&ca);
	ca_done(&fp);
	ca_done(&etcd);
	return ex;
}
