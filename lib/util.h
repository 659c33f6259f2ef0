/* util.h - small pure helpers: durations, RFC 3339 times, names. No I/O, no state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

#define DETAIL_MAX 256
#define RFC3339_LEN 21 /* "2026-11-25T06:00:00Z" + NUL */

/* Parse a duration in Go's form, as kubeadm prints and takes it ("90s", "15m", "2h",
 * "1h30m0s", "1.5h"; units h, m, s), a whole number of seconds from 1 s to 1000 days. */
int duration_parse(const char *text, int64_t *ret_seconds);
/* The same with another bound (at most DURATION_LIMIT_SECONDS, 100 years). */
#define DURATION_LIMIT_SECONDS (100LL * 366 * 86400)
int duration_parse_max(const char *text, int64_t max_seconds, int64_t *ret_seconds);
/* Format seconds as the shortest of "2h", "15m", "90s", "1h30m". */
void duration_format(int64_t seconds, char *buf, size_t len);

/* UTC "YYYY-MM-DDTHH:MM:SSZ". */
void time_format(int64_t unix_seconds, char buf[RFC3339_LEN]);
/* Parse exactly that canonical form (and nothing else). */
int time_parse(const char *text, int64_t *ret_unix_seconds);

/* Wall-clock and monotonic seconds. */
int64_t time_now(void);
int64_t time_mono_ms(void);

/* Copy src into dst of size n, truncating; always NUL-terminates when n > 0. */
void str_copy(char *dst, size_t n, const char *src);
/* snprintf for a message that may be cut at n (a detail, a reason): returns true if it
 * was. gcc's -Wformat-truncation, which some build types raise on a plain snprintf into
 * a fixed buffer, does not apply: cutting a message is intended. */
bool str_format(char *dst, size_t n, const char *fmt, ...) _printf_(3, 4);

/* Replace anything but printable ASCII in s (escape sequences from a peer, on their way
 * to a terminal or a log) with '?', in place. Returns nothing. */
void str_printable(char *s);

/* Safe relative file name inside a PKI directory: [A-Za-z0-9._-] components, at most one
 * '/', no empty, "." or ".." component, not absolute, at most 64 bytes. */
bool name_is_safe(const char *name);
/* Exactly n lowercase hex characters then a NUL (reads at most n + 1 bytes, so s may be a
 * char[n + 1] that is not terminated). */
bool str_is_lower_hex(const char *s, size_t n);

/* Parse a positive decimal integer no larger than max. */
int uint_parse(const char *text, uint64_t max, uint64_t *ret);
