/* certlist.c - kubeadm's node certificates as a table and the names each carries
 * (certlist.go, pki_helpers.go), computed from the node's and the cluster's settings.
 * Pure: no I/O, no messages, nothing kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "certlist.h"
#include "macro.h"
#include "util.h"

const struct certlist_entry certlist_table[CERTLIST_MAX] = {
    {"apiserver", "ca", false},
    {"apiserver-kubelet-client", "ca", false},
    {"front-proxy-client", "front-proxy-ca", false},
    {"apiserver-etcd-client", "etcd/ca", true},
    {"etcd/server", "etcd/ca", true},
    {"etcd/peer", "etcd/ca", true},
    {"etcd/healthcheck-client", "etcd/ca", true},
};

bool certlist_is_ip(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int certlist_service_ip(const char *cidr, char *out, size_t len)
{
	char buf[64];
	unsigned char a[16];
	str_copy(buf, sizeof(buf), cidr);
	char *comma = strchr(buf, ',');
	if (comma) /* dual-stack "10.96.0.0/12,fd00::/108": the first, as kubeadm takes it */
		*comma = 0;
	char *slash = strchr(buf, '/'), *end = NULL;
	if (!slash)
		return -EINVAL;
	*slash = 0;
	long bits = strtol(slash + 1, &end, 10);
	int family = inet_pton(AF_INET, buf, a) == 1	? AF_INET
		     : inet_pton(AF_INET6, buf, a) == 1 ? AF_INET6
							: 0;
	int size = family == AF_INET ? 4 : 16;
	if (!family || !end || *end || end == slash + 1 || bits < 0 || bits >= size * 8)
		return -EINVAL;
	for (int i = 0; i < size; i++) { /* keep the network part only */
		long keep = bits - i * 8;
		a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	for (int i = size - 1; i >= 0 && ++a[i] == 0; i--)
		;
	return inet_ntop(family, a, out, (socklen_t)len) ? 0 : -EINVAL;
}

static void san_add(struct certlist_sans *s, const char *v)
{
	bool ip = certlist_is_ip(v);
	const char **list = ip ? s->ips : s->dns;
	size_t *n = ip ? &s->n_ips : &s->n_dns;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i], v))
			return;
	if (*n < CERTLIST_SANS_MAX)
		list[(*n)++] = v;
}

static void san_add_all(struct certlist_sans *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		san_add(s, v[i]);
}

/* certlist.go: the API server's names and addresses, the endpoint's host, then
 * apiServer.certSANs; etcd's server and peer: node name, localhost, the advertise address
 * and loopback, then their extra SANs. */
static void certlist_sans(const char *node_name, const char *advertise_address,
			  const struct profile *p, struct certlist *cl)
{
	const char *domain = p->dns_domain[0] ? p->dns_domain : "cluster.local";
	snprintf(cl->fqdn, sizeof(cl->fqdn), "kubernetes.default.svc.%s", domain);
	const char *api_base[] = {
	    node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
	    cl->fqdn,  cl->svc_ip,   advertise_address};
	san_add_all(&cl->api, api_base, ELEMENTSOF(api_base));
	if (cl->endpoint[0])
		san_add(&cl->api, cl->endpoint);
	for (size_t i = 0; i < p->n_api_sans; i++)
		san_add(&cl->api, p->api_sans[i]);
	const char *etcd_base[] = {node_name, "localhost", advertise_address, "127.0.0.1", "::1"};
	san_add_all(&cl->eserver, etcd_base, ELEMENTSOF(etcd_base));
	for (size_t i = 0; i < p->n_etcd_server_sans; i++)
		san_add(&cl->eserver, p->etcd_server_sans[i]);
	san_add_all(&cl->epeer, etcd_base, ELEMENTSOF(etcd_base));
	for (size_t i = 0; i < p->n_etcd_peer_sans; i++)
		san_add(&cl->epeer, p->etcd_peer_sans[i]);
}

int certlist_make(const char *node_name, const char *advertise_address, const struct profile *p,
		  bool external_etcd, struct certlist *ret)
{
	const char *svc = p->service_subnet[0] ? p->service_subnet : "10.96.0.0/12";
	char detail[DETAIL_MAX];
	uint16_t port;

	*ret = (struct certlist){0};
	if (certlist_service_ip(svc, ret->svc_ip, sizeof(ret->svc_ip)) < 0)
		return -EINVAL;
	if (p->endpoint[0] && addr_parse(p->endpoint, 6443, ret->endpoint, &port, detail) < 0)
		return -EINVAL;
	certlist_sans(node_name, advertise_address, p, ret);
	int days = p->validity_s ? (int)(p->validity_s / 86400) : CERTLIST_DAYS;
	long seconds = p->validity_s && p->validity_s % 86400 ? (long)p->validity_s : 0;
	/* kubeadm's node certificates, in certlist_table's order. A table: it reads best
	 * whole. */
	const struct cert_spec specs[CERTLIST_MAX] = {
	    {.cn = "kube-apiserver",
	     .dns = ret->api.dns,
	     .n_dns = ret->api.n_dns,
	     .ips = ret->api.ips,
	     .n_ips = ret->api.n_ips,
	     .server_auth = true},
	    {.cn = "kube-apiserver-kubelet-client",
	     .org = "kubeadm:cluster-admins",
	     .client_auth = true},
	    {.cn = "front-proxy-client", .client_auth = true},
	    {.cn = "kube-apiserver-etcd-client", .client_auth = true},
	    {.cn = node_name,
	     .dns = ret->eserver.dns,
	     .n_dns = ret->eserver.n_dns,
	     .ips = ret->eserver.ips,
	     .n_ips = ret->eserver.n_ips,
	     .server_auth = true,
	     .client_auth = true},
	    {.cn = node_name,
	     .dns = ret->epeer.dns,
	     .n_dns = ret->epeer.n_dns,
	     .ips = ret->epeer.ips,
	     .n_ips = ret->epeer.n_ips,
	     .server_auth = true,
	     .client_auth = true},
	    {.cn = "kube-etcd-healthcheck-client", .client_auth = true},
	};
	for (size_t i = 0; i < CERTLIST_MAX; i++) {
		if (certlist_table[i].etcd && external_etcd)
			continue;
		struct certlist_cert *c = &ret->certs[ret->n++];
		c->entry = &certlist_table[i];
		c->spec = specs[i];
		c->spec.days = days;
		c->spec.seconds = seconds;
	}
	return 0;
}
