/* addr.c - socket addresses as text (see addr.h), and the one parser of a server address
 * as an operator writes it, with the daemon's listen address as a narrower form of it.
 * Pure: no I/O, no name resolution, no state. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "util.h"

void addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	str_copy(buf, len, "unknown");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* An IPv4 client of a dual-stack socket: shown (and counted) as IPv4. */
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(buf, len, "%s:%u", host, ntohs(in6->sin6_port));
			return;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		str_copy(buf, len, "unix");
	}
}

void addr_net(const struct sockaddr *sa, uint8_t ret_net[ADDR_NET_LEN])
{
	memset(ret_net, 0, ADDR_NET_LEN);
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		ret_net[0] = 4;
		memcpy(ret_net + 1, &in->sin_addr, 3);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			ret_net[0] = 4;
			memcpy(ret_net + 1, &in6->sin6_addr.s6_addr[12], 3);
		} else {
			ret_net[0] = 6;
			memcpy(ret_net + 1, &in6->sin6_addr, 8);
		}
	}
}

void addr_host_part(const char *text, char *buf, size_t len)
{
	str_copy(buf, len, text);
	char *colon = strrchr(buf, ':');
	if (buf[0] == '[') {
		char *end = strstr(buf, "]:");
		if (end)
			end[1] = 0;
	} else if (colon && strchr(buf, ':') == colon) {
		*colon = 0;
	}
}

#define FORMS "HOST, HOST:PORT, [IPv6]:PORT or https://HOST:PORT"

static bool is_ip6(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET6, s, &a) == 1;
}

/* A DNS name or an IPv4 address (the same characters); labels of 1 to 63. */
static bool host_ok(const char *h)
{
	size_t n = strlen(h), label = 0;
	if (n == 0 || n >= ADDR_HOST_MAX || h[0] == '.' || h[0] == '-')
		return false;
	for (const char *c = h; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '-' || *c == '_';
		if (!ok || ++label > 63)
			return false;
	}
	return true;
}

/* A port in decimal, leading zeros allowed (as getaddrinfo takes them); 0 only where the
 * kernel is to pick one (listen). */
static int port_parse(const char *p, bool zero_ok, uint16_t *ret)
{
	unsigned long v = 0;
	while (p[0] == '0' && p[1])
		p++;
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if ((v == 0 && !zero_ok) || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* What each form accepts; addr_parse and addr_parse_listen differ only here. */
struct form {
	const char *expected; /* for the messages: "expected ..." */
	bool scheme_ok;	      /* https:// and a trailing "/" */
	bool name_ok;	      /* a DNS name (else an IP address only) */
	bool port_needed;     /* no default port */
	bool port_zero_ok;    /* 0: the kernel picks */
};

static const struct form server_form = {FORMS, true, true, false, false};
static const struct form listen_form = {"IPv4:PORT or [IPv6]:PORT (port 0 picks one)", false, false,
					true, true};

/* Strip "https://" and a trailing "/" into buf. */
static int strip_scheme(const char *text, const struct form *f, char *buf, size_t len, char *detail)
{
	const char *s = text, *scheme = strstr(s, "://");
	if (scheme) {
		if (!f->scheme_ok || (size_t)(scheme - s) != 5 || strncasecmp(s, "https", 5) != 0) {
			snprintf(detail, DETAIL_MAX,
				 f->scheme_ok ? "'%.*s://' is not a scheme pkishared speaks: only "
						"https:// (or no scheme: %s)"
					      : "'%.*s://': no scheme here; expected %s",
				 (int)(scheme - s) > 16 ? 16 : (int)(scheme - s), s, f->expected);
			return -EINVAL;
		}
		s = scheme + 3;
	}
	str_copy(buf, len, s);
	char *slash = strchr(buf, '/');
	if (slash) {
		if (!scheme || slash[1]) {
			snprintf(detail, DETAIL_MAX, "'%.120s' has a path; expected %s", text,
				 f->expected);
			return -EINVAL;
		}
		*slash = 0;
	}
	if (!buf[0]) {
		snprintf(detail, DETAIL_MAX, "empty; expected %s", f->expected);
		return -EINVAL;
	}
	return 0;
}

/* Split buf (no scheme) into host and the port's text (NULL when none is written). */
static int split_host(const char *text, char *buf, const struct form *f, char host[ADDR_HOST_MAX],
		      const char **ret_port, char *detail)
{
	*ret_port = NULL;
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (!end || (end[1] && end[1] != ':')) {
			snprintf(detail, DETAIL_MAX,
				 "'%.120s': an IPv6 address is written [ADDRESS] or [ADDRESS]:PORT",
				 text);
			return -EINVAL;
		}
		*end = 0;
		if (end[1] == ':')
			*ret_port = end + 2;
		str_copy(host, ADDR_HOST_MAX, buf + 1);
		if (!is_ip6(host)) {
			snprintf(detail, DETAIL_MAX, "'%.120s' is not an IPv6 address", host);
			return -EINVAL;
		}
		return 0;
	}
	char *colon = strchr(buf, ':');
	if (colon && strchr(colon + 1, ':')) { /* more colons: a bare IPv6 address */
		if (!is_ip6(buf)) {
			snprintf(detail, DETAIL_MAX,
				 "'%.120s' is not an IPv6 address (with a port: [ADDRESS]:PORT)",
				 text);
			return -EINVAL;
		}
		str_copy(host, ADDR_HOST_MAX, buf);
		return 0;
	}
	if (colon) {
		*colon = 0;
		*ret_port = colon + 1;
	}
	struct in_addr a4;
	if (!host_ok(buf) || (!f->name_ok && inet_pton(AF_INET, buf, &a4) != 1)) {
		snprintf(detail, DETAIL_MAX, "'%.120s' is not %s; expected %s", text,
			 f->name_ok ? "a host name or address" : "an IP address", f->expected);
		return -EINVAL;
	}
	str_copy(host, ADDR_HOST_MAX, buf);
	return 0;
}

static int parse(const char *text, const struct form *f, uint16_t default_port,
		 char ret_host[ADDR_HOST_MAX], uint16_t *ret_port, char *detail)
{
	char buf[ADDR_INPUT_MAX + 1], host[ADDR_HOST_MAX];
	const char *pstr;
	uint16_t port = default_port;

	if (strlen(text) > ADDR_INPUT_MAX) {
		snprintf(detail, DETAIL_MAX, "longer than %d characters; expected %s",
			 ADDR_INPUT_MAX, f->expected);
		return -EINVAL;
	}
	if (strip_scheme(text, f, buf, sizeof(buf), detail) < 0 ||
	    split_host(text, buf, f, host, &pstr, detail) < 0)
		return -EINVAL;
	if (!pstr && f->port_needed) {
		snprintf(detail, DETAIL_MAX, "'%.120s' has no port; expected %s", text,
			 f->expected);
		return -EINVAL;
	}
	if (pstr && port_parse(pstr, f->port_zero_ok, &port) < 0) {
		snprintf(detail, DETAIL_MAX, "'%.120s': the port must be a number from %d to 65535",
			 text, f->port_zero_ok ? 0 : 1);
		return -EINVAL;
	}
	str_copy(ret_host, ADDR_HOST_MAX, host);
	*ret_port = port;
	return 0;
}

int addr_parse(const char *text, uint16_t default_port, char ret_host[ADDR_HOST_MAX],
	       uint16_t *ret_port, char *detail)
{
	return parse(text, &server_form, default_port, ret_host, ret_port, detail);
}

int addr_parse_listen(const char *text, char ret_host[ADDR_HOST_MAX], uint16_t *ret_port,
		      char *detail)
{
	return parse(text, &listen_form, 0, ret_host, ret_port, detail);
}

void addr_join(const char *host, uint16_t port, char *buf, size_t len)
{
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}
