/* addr.c - socket addresses as text (see addr.h), and the one parser of a server
 * address as an operator writes it. Pure: no I/O, no name resolution, no state. */
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

static int port_parse(const char *p, uint16_t *ret)
{
	unsigned long v = 0;
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

int addr_parse(const char *text, uint16_t default_port, char ret_host[ADDR_HOST_MAX],
	       uint16_t *ret_port, char *detail)
{
	char buf[ADDR_INPUT_MAX + 1], host[ADDR_HOST_MAX];
	uint16_t port = default_port;
	const char *pstr = NULL;

	if (strlen(text) > ADDR_INPUT_MAX) {
		snprintf(detail, DETAIL_MAX, "longer than %d characters; expected " FORMS,
			 ADDR_INPUT_MAX);
		return -EINVAL;
	}
	const char *s = text;
	const char *scheme = strstr(s, "://");
	if (scheme) {
		if ((size_t)(scheme - s) != 5 || strncasecmp(s, "https", 5) != 0) {
			snprintf(detail, DETAIL_MAX,
				 "'%.*s://' is not a scheme pkishared speaks: only https:// (or no "
				 "scheme: " FORMS ")",
				 (int)(scheme - s) > 16 ? 16 : (int)(scheme - s), s);
			return -EINVAL;
		}
		s = scheme + 3;
	}
	str_copy(buf, sizeof(buf), s);
	char *slash = strchr(buf, '/');
	if (slash) {
		if (!scheme || slash[1]) {
			snprintf(detail, DETAIL_MAX, "'%.120s' has a path; expected " FORMS, text);
			return -EINVAL;
		}
		*slash = 0;
	}
	if (!buf[0]) {
		snprintf(detail, DETAIL_MAX, "empty; expected " FORMS);
		return -EINVAL;
	}
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
			pstr = end + 2;
		str_copy(host, sizeof(host), buf + 1);
		if (!is_ip6(host)) {
			snprintf(detail, DETAIL_MAX, "'%.120s' is not an IPv6 address", host);
			return -EINVAL;
		}
	} else {
		char *colon = strchr(buf, ':');
		if (colon && strchr(colon + 1, ':')) { /* more colons: a bare IPv6 address */
			if (!is_ip6(buf)) {
				snprintf(
				    detail, DETAIL_MAX,
				    "'%.120s' is not an IPv6 address (with a port: [ADDRESS]:PORT)",
				    text);
				return -EINVAL;
			}
			str_copy(host, sizeof(host), buf);
		} else {
			if (colon) {
				*colon = 0;
				pstr = colon + 1;
			}
			if (!host_ok(buf)) {
				snprintf(detail, DETAIL_MAX,
					 "'%.120s' is not a host name or address; expected " FORMS,
					 text);
				return -EINVAL;
			}
			str_copy(host, sizeof(host), buf);
		}
	}
	if (pstr && port_parse(pstr, &port) < 0) {
		snprintf(detail, DETAIL_MAX, "'%.120s': the port must be a number from 1 to 65535",
			 text);
		return -EINVAL;
	}
	str_copy(ret_host, ADDR_HOST_MAX, host);
	*ret_port = port;
	return 0;
}

void addr_join(const char *host, uint16_t port, char *buf, size_t len)
{
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}
