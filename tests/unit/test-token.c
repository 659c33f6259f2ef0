/* test-token.c - join tokens (token.c): kubeadm's format, messages that never echo the
 * secret, and the stored hash against Python's hashlib.blake2b (not libsodium):
 *   blake2b(b"0123456789abcdef", key=b"abcdef" + 16 * b"\0", digest_size=32) */
#include <string.h>

#include "api.h"
#include "error.h"
#include "test.h"
#include "token.h"
#include "util.h"

static void parse_splits_id_and_secret(void)
{
	char id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1];
	CHECK_EQ_INT(token_parse("abcdef.0123456789abcdef", id, secret, NULL), 0);
	CHECK(!strcmp(id, "abcdef"));
	CHECK(!strcmp(secret, "0123456789abcdef"));
}

static void parse_refuses_other_forms_without_echoing_the_secret(void)
{
	char id[TOKEN_ID_LEN + 1] = "keep", secret[TOKEN_SECRET_LEN + 1], detail[DETAIL_MAX];
	/* The secret part zxcvbnmasdfghjkl (or a piece of it) must never be echoed. */
	const char *bad[] = {
	    "",
	    "qwertyzxcvbnmasdfghjkl", /* no dot */
	    "qwerty.zxcvbnmasdfghjk",
	    "qwerty.zxcvbnmasdfghjklm",
	    "QWERTY.zxcvbnmasdfghjkl",
	    "qwerty.zxcvbnmASDFGHJKL",
	    "qwert.yzxcvbnmasdfghjkl",
	    "qwerty-zxcvbnmasdfghjkl",
	    "qwerty.zxcvbnmasdfghjk\n",
	    "qwe ty.zxcvbnmasdfghjkl",
	};

	for (size_t i = 0; i < TEST_ELEMENTS(bad); i++) {
		detail[0] = 0;
		CHECK_EQ_INT(token_parse(bad[i], id, secret, detail), -PKS_E_TOKEN_FORMAT);
		CHECK(detail[0] != 0);
		CHECK(strstr(detail, "zxcv") == NULL && strstr(detail, "asdf") == NULL);
		CHECK(!strcmp(id, "keep"));
	}
	token_parse("abcdef.0123456789ABCDEF", id, secret, detail);
	CHECK(strstr(detail, "character 18 is not a lowercase letter or digit") != NULL);
	token_parse("abcdef", id, secret, detail);
	CHECK(strstr(detail, "found 6 characters") != NULL);
	CHECK_EQ_INT(token_parse(NULL, id, secret, NULL), -PKS_E_TOKEN_FORMAT);
}

static void generated_tokens_parse_and_differ(void)
{
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1];
	token_generate(a);
	token_generate(b);
	CHECK_EQ_INT(strlen(a), TOKEN_LEN);
	CHECK_EQ_INT(token_parse(a, id, secret, NULL), 0);
	CHECK(token_id_valid(id));
	CHECK(strcmp(a, b) != 0);
}

static void hash_matches_pythons_blake2b(void)
{
	uint8_t h[TOKEN_HASH_BYTES];
	char hex[2 * TOKEN_HASH_BYTES + 1];
	token_hash("abcdef", "0123456789abcdef", h);
	for (size_t i = 0; i < TOKEN_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	CHECK(!strcmp(hex, "99792879ea8a29b28a3be18ba6a990be895e68660d1963e38d56a9dcd4ea4b90"));
}

static void hash_is_keyed_by_the_id(void)
{
	uint8_t a[TOKEN_HASH_BYTES], b[TOKEN_HASH_BYTES];
	token_hash("abcdef", "0123456789abcdef", a);
	token_hash("abcdeg", "0123456789abcdef", b);
	CHECK(memcmp(a, b, TOKEN_HASH_BYTES) != 0);
}

static void id_valid_is_six_of_the_alphabet(void)
{
	CHECK(token_id_valid("abc123"));
	CHECK(!token_id_valid("abc12"));
	CHECK(!token_id_valid("abc1234"));
	CHECK(!token_id_valid("Abc123"));
	CHECK(!token_id_valid("abc.12"));
	CHECK(!token_id_valid(NULL));
}

static void descriptions_are_printable_bounded_and_visible(void)
{
	char max[API_TOKEN_DESCRIPTION_MAX + 2];
	CHECK(token_description_ok(NULL) && token_description_ok(""));
	CHECK(token_description_ok("cp-2's join, ticket #42 (Bob)"));
	CHECK(!token_description_ok("   "));
	CHECK(!token_description_ok("tab\there") && !token_description_ok("new\nline"));
	CHECK(!token_description_ok("caf\xc3\xa9") && !token_description_ok("del\x7f"));
	memset(max, 'x', API_TOKEN_DESCRIPTION_MAX);
	max[API_TOKEN_DESCRIPTION_MAX] = 0;
	CHECK(token_description_ok(max));
	max[API_TOKEN_DESCRIPTION_MAX] = 'x';
	max[API_TOKEN_DESCRIPTION_MAX + 1] = 0;
	CHECK(!token_description_ok(max));
}

static const struct test_case cases[] = {
    TEST(descriptions_are_printable_bounded_and_visible),
    TEST(parse_splits_id_and_secret),
    TEST(parse_refuses_other_forms_without_echoing_the_secret),
    TEST(generated_tokens_parse_and_differ),
    TEST(hash_matches_pythons_blake2b),
    TEST(hash_is_keyed_by_the_id),
    TEST(id_valid_is_six_of_the_alphabet),
};

int main(void)
{
	return test_run("token", cases, TEST_ELEMENTS(cases));
}
