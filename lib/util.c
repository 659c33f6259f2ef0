/* util.c - durations, times and name checks. Pure functions only. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "util.h"

#define DURATION_MAX_SECONDS (1000LL * 24 * 3600)

int duration_parse_max(const char *text, int64_t max_seconds, int64_t *ret_seconds)
{
	/* Go's time.Duration text (time.ParseDuration), as kubeadm prints and takes it: one
	 * or more NUMBER UNIT with NUMBER digits and at most one '.', UNIT h, m or s. Counted
	 * in nanoseconds: max_seconds (at most 100 years) keeps every product in range. */
	const int64_t units[] = {['h'] = 3600, ['m'] = 60, ['s'] = 1};
	int64_t total = 0, max = max_seconds * 1000000000LL;
	const char *p = text;

	if (!text || !*p || max_seconds <= 0 || max_seconds > DURATION_LIMIT_SECONDS)
		return -PKS_E_DURATION;
	while (*p) {
		int64_t whole = 0, frac = 0, scale = 1000000000LL;
		bool digits = false;
		for (; *p >= '0' && *p <= '9'; p++, digits = true)
			if ((whole = whole * 10 + (*p - '0')) > max_seconds)
				return -PKS_E_DURATION;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
				if (scale > 1) /* past nanoseconds: dropped, as Go does */
					frac += (*p - '0') * (scale /= 10);
		unsigned char u = (unsigned char)*p;
		if (!digits || (u != 'h' && u != 'm' && u != 's') || (u == 'm' && p[1] == 's'))
			return -PKS_E_DURATION; /* no number, no unit, or below a second */
		int64_t unit = units[u];
		p++;
		if (whole > max_seconds / unit)
			return -PKS_E_DURATION;
		/* whole * unit <= max_seconds, frac < 1e9 and unit <= 3600: no overflow. */
		total += whole * unit * 1000000000LL + frac * unit;
		if (total > max)
			return -PKS_E_DURATION;
	}
	if (total < 1000000000LL || total % 1000000000LL)
		return -PKS_E_DURATION; /* nothing, or not a whole number of seconds */
	*ret_seconds = total / 1000000000LL;
	return 0;
}

int duration_parse(const char *text, int64_t *ret_seconds)
{
	return duration_parse_max(text, DURATION_MAX_SECONDS, ret_seconds);
}

void duration_format(int64_t s, char *buf, size_t len)
{
	/* Go's form without its trailing zero units: exact, and shortest (1h30m, 1h0m1s). */
	long long h = (long long)(s / 3600), m = (long long)(s % 3600 / 60),
		  sec = (long long)(s % 60);
	if (h && !m && !sec)
		snprintf(buf, len, "%lldh", h);
	else if (h && !sec)
		snprintf(buf, len, "%lldh%lldm", h, m);
	else if (h)
		snprintf(buf, len, "%lldh%lldm%llds", h, m, sec);
	else if (m && !sec)
		snprintf(buf, len, "%lldm", m);
	else if (m)
		snprintf(buf, len, "%lldm%llds", m, sec);
	else
		snprintf(buf, len, "%llds", sec);
}

void time_format(int64_t t, char buf[RFC3339_LEN])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) || strftime(buf, RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_copy(buf, RFC3339_LEN, "1970-01-01T00:00:00Z");
}

int time_parse(const char *text, int64_t *ret)
{
	struct tm tm = {0};
	char check[RFC3339_LEN];

	if (!text || strlen(text) != RFC3339_LEN - 1)
		return -EINVAL;
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	/* Only the canonical spelling: it is what the sealing binds. */
	time_format((int64_t)t, check);
	if (strcmp(check, text) != 0)
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}

int64_t time_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool str_format(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(dst, n, fmt, ap);
	va_end(ap);
	return r < 0 || (size_t)r >= n;
}

void str_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void str_copy(char *dst, size_t n, const char *src)
{
	if (n == 0)
		return;
	size_t l = strnlen(src, n - 1);
	memcpy(dst, src, l);
	dst[l] = 0;
}

static bool component_ok(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool str_is_lower_hex(const char *s, size_t n)
{
	if (strnlen(s, n + 1) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool name_is_safe(const char *name)
{
	size_t len = strnlen(name, 65);
	if (len == 0 || len > 64)
		return false;
	const char *slash = memchr(name, '/', len);
	if (!slash)
		return component_ok(name, len);
	size_t first = (size_t)(slash - name);
	if (memchr(slash + 1, '/', len - first - 1))
		return false;
	return component_ok(name, first) && component_ok(slash + 1, len - first - 1);
}

int uint_parse(const char *text, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (!text || !*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		uint64_t digit = (uint64_t)(*p - '0');
		if (digit > max || v > (max - digit) / 10) /* v * 10 + digit > max, unwrapped */
			return -ERANGE;
		v = v * 10 + digit;
	}
	*ret = v;
	return 0;
}
