/* profile.c - the node-certificate profile's JSON form, checked strictly both ways. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"
#include "pkidir.h"
#include "profile.h"
#include "secret.h"
#include "util.h"

static const char *const algorithms[] = {"RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256",
					 "ECDSA-P384"};

bool profile_is_set(const struct profile *p)
{
	return p->endpoint[0] || p->service_subnet[0] || p->dns_domain[0] || p->algorithm[0] ||
	       p->validity_s || p->n_api_sans || p->n_etcd_server_sans || p->n_etcd_peer_sans ||
	       p->external_ca[0] || p->external_cert[0] || p->external_key[0];
}

bool profile_value_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

bool profile_san_ok(const char *s)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return true;
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return false;
	if (!strncmp(s, "*.", 2))
		s += 2;
	for (const char *c = s;; c++) {
		bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			     (*c >= '0' && *c <= '9');
		if (alnum || *c == '-') {
			if (++label > 63 || (*c == '-' && label == 1))
				return false;
		} else if (*c == '.' || *c == 0) {
			if (label == 0 || c[-1] == '-')
				return false;
			if (*c == 0)
				return true;
			label = 0;
		} else {
			return false;
		}
	}
}

bool profile_algorithm_ok(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(algorithms); i++)
		if (!strcmp(s, algorithms[i]))
			return true;
	return false;
}

int64_t profile_duration_parse(const char *s)
{
	/* Go's time.Duration text as kubeadm writes it (lib/util.c), at most 100 years. */
	int64_t v;
	return duration_parse_max(s, DURATION_LIMIT_SECONDS, &v) < 0 ? -1 : v;
}

static int put_list(json_t *o, const char *key, const char (*v)[PROFILE_STR_MAX], size_t n)
{
	if (!n)
		return 0;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	return a && json_object_set_new(o, key, a) == 0 ? 0 : -ENOMEM;
}

static int put_str(json_t *o, const char *key, const char *v)
{
	return !v[0] || json_object_set_new(o, key, json_string(v)) == 0 ? 0 : -ENOMEM;
}

json_t *profile_to_json(const struct profile *p)
{
	json_t *o = json_object();
	int r = o ? 0 : -ENOMEM;
	if (r == 0)
		r = put_str(o, "controlPlaneEndpoint", p->endpoint);
	if (r == 0)
		r = put_str(o, "serviceSubnet", p->service_subnet);
	if (r == 0)
		r = put_str(o, "dnsDomain", p->dns_domain);
	if (r == 0)
		r = put_str(o, "encryptionAlgorithm", p->algorithm);
	if (r == 0 && p->validity_s)
		r = json_object_set_new(o, "certificateValiditySeconds",
					json_integer((json_int_t)p->validity_s));
	if (r == 0)
		r = put_list(o, "apiServerCertSANs", p->api_sans, p->n_api_sans);
	if (r == 0)
		r = put_list(o, "etcdServerCertSANs", p->etcd_server_sans, p->n_etcd_server_sans);
	if (r == 0)
		r = put_list(o, "etcdPeerCertSANs", p->etcd_peer_sans, p->n_etcd_peer_sans);
	if (r == 0)
		r = put_str(o, "externalEtcdCAFile", p->external_ca);
	if (r == 0)
		r = put_str(o, "externalEtcdCertFile", p->external_cert);
	if (r == 0)
		r = put_str(o, "externalEtcdKeyFile", p->external_key);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int bad(char *detail, const char *field, const char *what)
{
	if (detail)
		snprintf(detail, DETAIL_MAX, "profile%s%s %s", *field ? "." : "", field, what);
	return -PKS_E_BUNDLE_FORMAT;
}

static int take_str(const json_t *v, const char *key, char *out, size_t max, char *detail)
{
	const char *s = json_string_value(v);
	if (!s || !profile_value_ok(s, max))
		return bad(detail, key,
			   "must be a non-empty printable ASCII string without '\"' or '\\'");
	str_copy(out, max, s);
	return 0;
}

static int take_list(const json_t *v, const char *key, char (*out)[PROFILE_STR_MAX], size_t *n,
		     char *detail)
{
	size_t i;
	const json_t *e;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PROFILE_SANS_MAX)
		return bad(detail, key, "must be an array of 1 to 32 names");
	json_array_foreach (v, i, e) {
		int r = take_str(e, key, out[i], PROFILE_STR_MAX, detail);
		if (r < 0)
			return r;
		if (!profile_san_ok(out[i]))
			return bad(detail, key,
				   "holds a name that is neither an IP address nor a DNS name");
	}
	*n = json_array_size(v);
	return 0;
}

int profile_from_json(const json_t *o, struct profile *ret, char *detail)
{
	struct profile p = {0};
	const char *k;
	const json_t *v;
	int r = 0;

	if (!json_is_object(o) || json_object_size(o) == 0)
		return bad(detail, "", "must be a non-empty object");
	json_object_foreach ((json_t *)o, k, v) {
		if (!strcmp(k, "controlPlaneEndpoint"))
			r = take_str(v, k, p.endpoint, sizeof(p.endpoint), detail);
		else if (!strcmp(k, "serviceSubnet"))
			r = take_str(v, k, p.service_subnet, sizeof(p.service_subnet), detail);
		else if (!strcmp(k, "dnsDomain"))
			r = take_str(v, k, p.dns_domain, sizeof(p.dns_domain), detail);
		else if (!strcmp(k, "encryptionAlgorithm")) {
			r = take_str(v, k, p.algorithm, sizeof(p.algorithm), detail);
			if (r == 0 && !profile_algorithm_ok(p.algorithm))
				r = bad(detail, k,
					"must be RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or "
					"ECDSA-P384");
		} else if (!strcmp(k, "certificateValiditySeconds")) {
			json_int_t s = json_integer_value(v);
			if (!json_is_integer(v) || s < 3600 || s > (json_int_t)100 * 366 * 86400)
				r = bad(detail, k, "must be an integer from 3600 to 100 years");
			p.validity_s = (int64_t)s;
		} else if (!strcmp(k, "apiServerCertSANs"))
			r = take_list(v, k, p.api_sans, &p.n_api_sans, detail);
		else if (!strcmp(k, "etcdServerCertSANs"))
			r = take_list(v, k, p.etcd_server_sans, &p.n_etcd_server_sans, detail);
		else if (!strcmp(k, "etcdPeerCertSANs"))
			r = take_list(v, k, p.etcd_peer_sans, &p.n_etcd_peer_sans, detail);
		else if (!strcmp(k, "externalEtcdCAFile"))
			r = take_str(v, k, p.external_ca, sizeof(p.external_ca), detail);
		else if (!strcmp(k, "externalEtcdCertFile"))
			r = take_str(v, k, p.external_cert, sizeof(p.external_cert), detail);
		else if (!strcmp(k, "externalEtcdKeyFile"))
			r = take_str(v, k, p.external_key, sizeof(p.external_key), detail);
		else
			r = bad(detail, k, "is not a known field");
		if (r < 0)
			return r;
	}
	*ret = p;
	return 0;
}

char *profile_canonical(const struct profile *p)
{
	json_t *o = profile_to_json(p);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	/* jansson's allocator (secret.c) must free what it allocated: hand back a malloc copy. */
	char *s = text ? strdup(text) : NULL;
	if (text)
		secret_json_free(text);
	return s;
}

static void append(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(buf);
	if (n < len)
		snprintf(buf + n, len - n, fmt, a, b);
}

static void append_list(char *buf, size_t len, const char *what, const char (*v)[PROFILE_STR_MAX],
			size_t n)
{
	for (size_t i = 0; i < n; i++)
		append(buf, len, i ? ",%s%s" : "%s %s", i ? "" : what, v[i]);
	if (n)
		append(buf, len, "%s%s", ";", "");
}

void profile_describe(const struct profile *p, char *buf, size_t len)
{
	buf[0] = 0;
	if (p->endpoint[0])
		append(buf, len, "endpoint %s%s;", p->endpoint, "");
	if (p->algorithm[0])
		append(buf, len, " %s%s;", p->algorithm, "");
	append_list(buf, len, " API server SANs", p->api_sans, p->n_api_sans);
	append_list(buf, len, " etcd server SANs", p->etcd_server_sans, p->n_etcd_server_sans);
	append_list(buf, len, " etcd peer SANs", p->etcd_peer_sans, p->n_etcd_peer_sans);
	if (p->service_subnet[0])
		append(buf, len, " service subnet %s%s;", p->service_subnet, "");
	if (p->dns_domain[0])
		append(buf, len, " DNS domain %s%s;", p->dns_domain, "");
	if (p->validity_s) {
		char d[32];
		duration_format(p->validity_s, d, sizeof(d));
		append(buf, len, " certificates valid %s%s;", d, "");
	}
	if (p->external_ca[0])
		append(buf, len, " external etcd CA %s%s;", p->external_ca, "");
	size_t n = strlen(buf);
	if (n && buf[n - 1] == ';')
		buf[n - 1] = 0;
	if (buf[0] == ' ')
		memmove(buf, buf + 1, strlen(buf));
}

int profile_load(const char *pki_dir, struct profile *ret, char *detail)
{
	struct profile p = {0};

	_cleanup_(secret_freep) struct secret *text = NULL;
	int r = pkidir_read_kept(pki_dir, PROFILE_FILE_NAME, PROFILE_FILE_MAX_BYTES, &text);
	if (r < 0)
		return r;
	json_t *o = json_loadb((const char *)text->data, text->len, 0, NULL);
	/* "{}": a bundle without a profile emptied the one an earlier bundle left. */
	r = !o						    ? -PKS_E_BUNDLE_FORMAT
	    : json_is_object(o) && json_object_size(o) == 0 ? 0
							    : profile_from_json(o, &p, detail);
	json_decref(o);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}
