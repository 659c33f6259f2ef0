/* test-error.c - the one place that turns codes into advice (error.c): every project code
 * has its own sentence, errno values read as strerror(3), nothing is NULL. */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "test.h"

static void every_project_code_has_its_own_sentence(void)
{
	for (int c = PKS_E_BASE + 1; c < PKS_E_LAST; c++) {
		const char *m = error_message(-c);
		CHECK(m != NULL && strlen(m) > 20);
		CHECK(strcmp(m, "unknown error") != 0);
		if (!strcmp(m, "unknown error"))
			fprintf(stderr, "  code %d has no sentence\n", c);
		for (int d = PKS_E_BASE + 1; d < c; d++)
			CHECK(strcmp(m, error_message(-d)) != 0);
	}
}

static void errno_values_read_as_strerror(void)
{
	CHECK(!strcmp(error_message(-ENOENT), strerror(ENOENT)));
	CHECK(!strcmp(error_message(-EACCES), strerror(EACCES)));
}

static void anything_else_is_unknown_never_null(void)
{
	CHECK(!strcmp(error_message(0), "unknown error"));
	CHECK(!strcmp(error_message(5), "unknown error"));
	CHECK(!strcmp(error_message(-PKS_E_BASE), "unknown error"));
	CHECK(!strcmp(error_message(-PKS_E_LAST), "unknown error"));
	CHECK(!strcmp(error_message(-PKS_E_LAST - 100), "unknown error"));
}

static void advice_says_what_to_do(void)
{
	/* The codes a user meets most say the next step, not only what failed. */
	CHECK(strstr(error_message(-PKS_E_EXPIRED), "pkishare upload-certs") != NULL);
	CHECK(strstr(error_message(-PKS_E_EXISTS), "--force") != NULL);
	CHECK(strstr(error_message(-PKS_E_KEY_MISMATCH), "rotated") != NULL);
	CHECK(strstr(error_message(-PKS_E_AUTH), "nothing was written") != NULL);
}

static const struct test_case cases[] = {
    TEST(every_project_code_has_its_own_sentence),
    TEST(errno_values_read_as_strerror),
    TEST(anything_else_is_unknown_never_null),
    TEST(advice_says_what_to_do),
};

int main(void)
{
	return test_run("error", cases, TEST_ELEMENTS(cases));
}
