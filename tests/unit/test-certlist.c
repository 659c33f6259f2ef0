/* test-certlist.c - kubeadm's node certificates (certlist.c) against kubeadm's own
 * specification (cmd/kubeadm/app/phases/certs/certlist.go, pki_helpers.go): which
 * certificates a control-plane node has, their CNs, organisations, SANs, key usages,
 * validity and issuers, for kubeadm's defaults and for a cluster profile. */
#include <errno.h>
#include <string.h>

#include "certlist.h"
#include "test.h"
#include "util.h"

static const struct certlist_cert *find(const struct certlist *cl, const char *base)
{
	for (size_t i = 0; i < cl->n; i++)
		if (!strcmp(cl->certs[i].entry->base, base))
			return &cl->certs[i];
	return NULL;
}

/* The names as one comma-separated string, to compare with kubeadm's in order. */
static void joined(const char *const *v, size_t n, char *out, size_t len)
{
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%s%s", i ? "," : "", v[i]);
	}
}

static void dns_of(const struct certlist_cert *c, char *out, size_t len)
{
	joined(c->spec.dns, c->spec.n_dns, out, len);
}

static void ips_of(const struct certlist_cert *c, char *out, size_t len)
{
	joined(c->spec.ips, c->spec.n_ips, out, len);
}

static void a_node_has_kubeadms_seven_certificates_in_order(void)
{
	static const char *const want[][2] = {
	    {"apiserver", "ca"},
	    {"apiserver-kubelet-client", "ca"},
	    {"front-proxy-client", "front-proxy-ca"},
	    {"apiserver-etcd-client", "etcd/ca"},
	    {"etcd/server", "etcd/ca"},
	    {"etcd/peer", "etcd/ca"},
	    {"etcd/healthcheck-client", "etcd/ca"},
	};
	struct profile p = {0};
	struct certlist cl;
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	CHECK_EQ_INT(cl.n, 7);
	for (size_t i = 0; i < cl.n && i < TEST_ELEMENTS(want); i++) {
		CHECK(!strcmp(cl.certs[i].entry->base, want[i][0]));
		CHECK(!strcmp(cl.certs[i].entry->ca, want[i][1]));
		CHECK(!cl.certs[i].spec.is_ca);
	}
}

static void subjects_and_key_usages_are_kubeadms(void)
{
	static const struct {
		const char *base, *cn, *org;
		bool server, client;
	} want[] = {
	    {"apiserver", "kube-apiserver", NULL, true, false},
	    {"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "kubeadm:cluster-admins",
	     false, true},
	    {"front-proxy-client", "front-proxy-client", NULL, false, true},
	    {"apiserver-etcd-client", "kube-apiserver-etcd-client", NULL, false, true},
	    {"etcd/server", "cp-1", NULL, true, true},
	    {"etcd/peer", "cp-1", NULL, true, true},
	    {"etcd/healthcheck-client", "kube-etcd-healthcheck-client", NULL, false, true},
	};
	struct profile p = {0};
	struct certlist cl;
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	for (size_t i = 0; i < TEST_ELEMENTS(want); i++) {
		const struct certlist_cert *c = find(&cl, want[i].base);
		CHECK(c != NULL);
		if (!c)
			continue;
		CHECK(!strcmp(c->spec.cn, want[i].cn));
		CHECK(want[i].org ? c->spec.org && !strcmp(c->spec.org, want[i].org)
				  : c->spec.org == NULL);
		CHECK_EQ_INT(c->spec.server_auth, want[i].server);
		CHECK_EQ_INT(c->spec.client_auth, want[i].client);
	}
}

static void default_sans_are_kubeadms(void)
{
	struct profile p = {0};
	struct certlist cl;
	char buf[1024];
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	const struct certlist_cert *api = find(&cl, "apiserver");
	dns_of(api, buf, sizeof(buf));
	CHECK(!strcmp(buf, "cp-1,kubernetes,kubernetes.default,kubernetes.default.svc,"
			   "kubernetes.default.svc.cluster.local"));
	ips_of(api, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.96.0.1,10.0.0.1")); /* the first of 10.96.0.0/12 */
	for (size_t i = 0; i < 2; i++) {
		const struct certlist_cert *e = find(&cl, i ? "etcd/peer" : "etcd/server");
		dns_of(e, buf, sizeof(buf));
		CHECK(!strcmp(buf, "cp-1,localhost"));
		ips_of(e, buf, sizeof(buf));
		CHECK(!strcmp(buf, "10.0.0.1,127.0.0.1,::1"));
	}
	/* Client certificates carry no names. */
	const struct certlist_cert *c = find(&cl, "apiserver-kubelet-client");
	CHECK(c->spec.n_dns == 0 && c->spec.n_ips == 0);
}

static void the_profile_adds_its_names_once(void)
{
	struct profile p = {0};
	struct certlist cl;
	char buf[1024];
	str_copy(p.endpoint, sizeof(p.endpoint), "cp.example.com:6443");
	str_copy(p.service_subnet, sizeof(p.service_subnet), "10.100.7.5/16,fd00::/108");
	str_copy(p.dns_domain, sizeof(p.dns_domain), "corp.local");
	str_copy(p.api_sans[0], sizeof(p.api_sans[0]), "192.168.1.10");
	str_copy(p.api_sans[1], sizeof(p.api_sans[1]), "kubernetes"); /* already there */
	p.n_api_sans = 2;
	str_copy(p.etcd_server_sans[0], sizeof(p.etcd_server_sans[0]), "etcd.example.com");
	p.n_etcd_server_sans = 1;
	str_copy(p.etcd_peer_sans[0], sizeof(p.etcd_peer_sans[0]), "10.0.0.1"); /* already */
	p.n_etcd_peer_sans = 1;
	CHECK_EQ_INT(certlist_make("cp-2", "10.0.0.1", &p, false, &cl), 0);
	const struct certlist_cert *api = find(&cl, "apiserver");
	dns_of(api, buf, sizeof(buf));
	CHECK(!strcmp(buf, "cp-2,kubernetes,kubernetes.default,kubernetes.default.svc,"
			   "kubernetes.default.svc.corp.local,cp.example.com"));
	ips_of(api, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.100.0.1,10.0.0.1,192.168.1.10"));
	dns_of(find(&cl, "etcd/server"), buf, sizeof(buf));
	CHECK(!strcmp(buf, "cp-2,localhost,etcd.example.com"));
	ips_of(find(&cl, "etcd/peer"), buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.0.0.1,127.0.0.1,::1"));
}

static void validity_is_a_year_unless_the_profile_says(void)
{
	struct profile p = {0};
	struct certlist cl;
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	for (size_t i = 0; i < cl.n; i++) {
		CHECK_EQ_INT(cl.certs[i].spec.days, 365);
		CHECK_EQ_INT(cl.certs[i].spec.seconds, 0);
	}
	p.validity_s = 2 * 86400;
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	CHECK_EQ_INT(cl.certs[0].spec.days, 2);
	CHECK_EQ_INT(cl.certs[0].spec.seconds, 0);
	p.validity_s = 90 * 60; /* not whole days: to the second */
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), 0);
	CHECK_EQ_INT(cl.certs[0].spec.seconds, 5400);
}

static void external_etcd_leaves_out_etcds_certificates(void)
{
	struct profile p = {0};
	struct certlist cl;
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, true, &cl), 0);
	CHECK_EQ_INT(cl.n, 3);
	for (size_t i = 0; i < cl.n; i++)
		CHECK(!cl.certs[i].entry->etcd && strcmp(cl.certs[i].entry->ca, "etcd/ca") != 0);
}

static void service_ip_is_the_networks_first_address(void)
{
	char ip[64];
	CHECK_EQ_INT(certlist_service_ip("10.96.0.0/12", ip, sizeof(ip)), 0);
	CHECK(!strcmp(ip, "10.96.0.1"));
	CHECK_EQ_INT(certlist_service_ip("10.96.0.5/12", ip, sizeof(ip)), 0);
	CHECK(!strcmp(ip, "10.96.0.1"));
	CHECK_EQ_INT(certlist_service_ip("fd00:10::/108,10.96.0.0/12", ip, sizeof(ip)), 0);
	CHECK(!strcmp(ip, "fd00:10::1"));
	CHECK_EQ_INT(certlist_service_ip("10.96.0.0", ip, sizeof(ip)), -EINVAL);
	CHECK_EQ_INT(certlist_service_ip("10.96.0.0/32", ip, sizeof(ip)), -EINVAL);
	CHECK_EQ_INT(certlist_service_ip("10.96.0.0/x", ip, sizeof(ip)), -EINVAL);
	CHECK_EQ_INT(certlist_service_ip("cluster/12", ip, sizeof(ip)), -EINVAL);
}

static void inputs_that_do_not_parse_are_refused(void)
{
	struct profile p = {0};
	struct certlist cl;
	str_copy(p.service_subnet, sizeof(p.service_subnet), "not-a-cidr");
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), -EINVAL);
	p = (struct profile){0};
	str_copy(p.endpoint, sizeof(p.endpoint), "[::1");
	CHECK_EQ_INT(certlist_make("cp-1", "10.0.0.1", &p, false, &cl), -EINVAL);
}

static const struct test_case cases[] = {
    TEST(a_node_has_kubeadms_seven_certificates_in_order),
    TEST(subjects_and_key_usages_are_kubeadms),
    TEST(default_sans_are_kubeadms),
    TEST(the_profile_adds_its_names_once),
    TEST(validity_is_a_year_unless_the_profile_says),
    TEST(external_etcd_leaves_out_etcds_certificates),
    TEST(service_ip_is_the_networks_first_address),
    TEST(inputs_that_do_not_parse_are_refused),
};

int main(void)
{
	return test_run("certlist", cases, TEST_ELEMENTS(cases));
}
