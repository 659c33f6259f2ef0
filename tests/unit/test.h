/* test.h - a minimal check harness for the unit tests: each failed CHECK prints where and
 * what, and the test exits non-zero at the end. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		test_checks++;                                                                     \
		if (!(cond)) {                                                                     \
			test_failures++;                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		test_checks++;                                                                     \
		if (_a != _b) {                                                                    \
			test_failures++;                                                           \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
				__LINE__, #a, _a, #b, _b);                                         \
		}                                                                                  \
	} while (0)

/* Hex string to bytes (malloc'd); sets *len. For test vectors only. */
static inline unsigned char *test_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	unsigned char *out = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
	*len = n;
	return out;
}

/* A whole file (at most 1 MiB) as a NUL-terminated string, or NULL; free() it. */
static inline char *test_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	if (buf)
		buf[n] = 0;
	fclose(f);
	return buf;
}

/* Named cases: one behaviour each, so a failure says which behaviour broke.
 *   static void store_refuses_a_used_key(void) { CHECK(...); }
 *   static const struct test_case cases[] = {TEST(store_refuses_a_used_key), ...};
 *   int main(void) { return test_run("store", cases, ELEMENTS(cases)); }
 * Prints "ok N - name" or "not ok N - name" per case, then the totals. */
struct test_case {
	const char *name;
	void (*fn)(void);
};
#define TEST(fn)                                                                                   \
	{                                                                                          \
#fn, fn                                                                            \
	}
#define TEST_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static inline int test_run(const char *suite, const struct test_case *cases, size_t n)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		int before = test_failures;
		cases[i].fn();
		bool bad = test_failures != before;
		failed += bad;
		printf("%s %zu - %s\n", bad ? "not ok" : "ok", i + 1, cases[i].name);
	}
	printf("%s: %zu cases, %d failed (%d checks)\n", suite, n, failed, test_checks);
	return failed ? 1 : 0;
}
