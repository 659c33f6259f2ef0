/* test-policy.c - who a TLS client is and what it may read (daemon core, policy.c):
 * every refusal of a chain or leaf, which trust list names the source, and the
 * allow-list and enrolled-fetch rules. */
#include <errno.h>
#include <string.h>

#include "policy.h"
#include "test.h"

/* A leaf the operator's client CA verifies and that passes every check. */
static struct peer_facts good(void)
{
	struct peer_facts f = {.n_certs = 1, .parsed = true, .client_auth = true};
	f.enroll_status = 4;
	strcpy(f.cn, "node-2");
	memset(f.cert_id, 'a', STORE_CERT_ID_LEN);
	return f;
}

static struct client_id untouched(void)
{
	struct client_id id = {.source = CLIENT_ENROLLED};
	strcpy(id.name, "untouched");
	return id;
}

/* Refused, with a reason that contains want, and the identity left as it was. */
static void refused(const struct peer_facts *f, const char *want)
{
	struct client_id id = untouched();
	char why[POLICY_WHY_MAX] = "";
	CHECK_EQ_INT(policy_identity(f, &id, why, sizeof(why)), -EACCES);
	CHECK(strstr(why, want) != NULL);
	if (!strstr(why, want))
		fprintf(stderr, "  why: '%s', wanted '%s'\n", why, want);
	CHECK(id.source == CLIENT_ENROLLED && !strcmp(id.name, "untouched"));
}

static void no_certificate_is_no_identity(void)
{
	struct peer_facts f = {0};
	struct client_id id = untouched();
	char why[POLICY_WHY_MAX];
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	CHECK(id.source == CLIENT_NONE && id.name[0] == 0 && id.cert[0] == 0);
}

/* The key policy is decided before, and whatever, the chain's verification says. */
static void a_key_outside_the_policy_is_refused_whoever_issued_it(void)
{
	struct peer_facts f = good();
	f.weak_key = 1;
	refused(&f, "client certificate's key is not ECDSA P-256 or RSA 2048-4096");
	f.weak_key = 2;
	refused(&f, "certificate 2 of the chain has a key that is costly to verify");
}

static void client_ca_chain_is_a_client_ca_identity(void)
{
	struct peer_facts f = good();
	struct client_id id = untouched();
	char why[POLICY_WHY_MAX];
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	CHECK(id.source == CLIENT_CA);
	CHECK(!strcmp(id.name, "node-2"));
	CHECK(!strcmp(id.cert, f.cert_id));
}

static void enrolled_only_when_the_client_ca_fails(void)
{
	struct peer_facts f = good();
	struct client_id id;
	char why[POLICY_WHY_MAX];
	f.client_ca_status = 4;
	f.enroll_status = POLICY_VERIFIED;
	f.issued_by_enroll = true;
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	CHECK(id.source == CLIENT_ENROLLED);
	/* Both verify (an operator's CA that is also an enrollment CA): the client CA wins. */
	f.client_ca_status = POLICY_VERIFIED;
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	CHECK(id.source == CLIENT_CA);
}

static void unverified_chain_says_the_client_cas_reason(void)
{
	struct peer_facts f = good();
	f.client_ca_status = 4;
	strcpy(f.client_ca_why, "The certificate issuer is unknown.");
	strcpy(f.enroll_why, "enrollment reason");
	refused(&f, "The certificate issuer is unknown.");
}

static void enrolled_leaf_that_fails_says_the_enrollment_reason(void)
{
	struct peer_facts f = good();
	f.client_ca_status = 4;
	f.enroll_status = 2;
	f.issued_by_enroll = true;
	strcpy(f.client_ca_why, "client CA reason");
	strcpy(f.enroll_why, "The certificate chain uses expired certificate.");
	refused(&f, "uses expired certificate");
}

static void verification_that_could_not_run_is_refused(void)
{
	struct peer_facts f = good();
	f.client_ca_status = 0xffffffffu;
	refused(&f, "the chain could not be verified");
}

static void chain_too_long_or_unparsed_is_refused(void)
{
	struct peer_facts f = good();
	f.n_certs = POLICY_CHAIN_MAX + 1;
	refused(&f, "a chain of 9 certificates (at most 8)");
	f = good();
	f.parsed = false;
	refused(&f, "does not parse");
}

static void leaf_must_be_a_client_certificate(void)
{
	struct peer_facts f = good();
	f.is_ca = true;
	refused(&f, "CA:TRUE");
	f = good();
	f.client_auth = false;
	refused(&f, "no extended key usage clientAuth");
	f = good();
	f.has_key_usage = true;
	refused(&f, "lacks digitalSignature");
	f.digital_signature = true;
	struct client_id id;
	char why[POLICY_WHY_MAX];
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	f = good();
	f.cn[0] = 0;
	refused(&f, "no subject CN");
	f = good();
	f.cert_id[0] = 0;
	refused(&f, "cannot be hashed");
}

static void leaf_checks_apply_to_enrolled_identities_too(void)
{
	struct peer_facts f = good();
	f.client_ca_status = 4;
	f.enroll_status = POLICY_VERIFIED;
	f.is_ca = true;
	refused(&f, "CA:TRUE");
}

static void names_and_reasons_stay_printable(void)
{
	struct peer_facts f = good();
	struct client_id id;
	char why[POLICY_WHY_MAX];
	strcpy(f.cn, "node\n2\x1b[31m\xc3\xa9");
	CHECK_EQ_INT(policy_identity(&f, &id, why, sizeof(why)), 0);
	CHECK(!strcmp(id.name, "node?2?[31m??"));
	f.client_ca_status = 4;
	strcpy(f.client_ca_why, "bad\r\nline");
	refused(&f, "bad??line");
}

static void fetch_follows_the_allow_list_and_enrolled_fetch(void)
{
	struct client_id ca = {.source = CLIENT_CA}, en = {.source = CLIENT_ENROLLED},
			 none = {.source = CLIENT_NONE};
	const char *allow[] = {"node-*", "cp[0-9]"};
	strcpy(ca.name, "node-2");
	strcpy(en.name, "node-3");
	CHECK_EQ_INT(policy_may_fetch(&none, NULL, 0, true), POLICY_FETCH_NO_CERT);
	CHECK_EQ_INT(policy_may_fetch(&ca, NULL, 0, false), POLICY_FETCH_OK);
	CHECK_EQ_INT(policy_may_fetch(&ca, allow, 2, false), POLICY_FETCH_OK);
	strcpy(ca.name, "cp7");
	CHECK_EQ_INT(policy_may_fetch(&ca, allow, 2, false), POLICY_FETCH_OK);
	strcpy(ca.name, "worker-1");
	CHECK_EQ_INT(policy_may_fetch(&ca, allow, 2, true), POLICY_FETCH_NOT_ALLOWED);
	/* Enrolled identities: enrolled-fetch alone decides; --allow patterns do not apply. */
	CHECK_EQ_INT(policy_may_fetch(&en, allow, 2, true), POLICY_FETCH_OK);
	strcpy(en.name, "worker-1");
	CHECK_EQ_INT(policy_may_fetch(&en, allow, 2, true), POLICY_FETCH_OK);
	CHECK_EQ_INT(policy_may_fetch(&en, NULL, 0, false), POLICY_FETCH_ENROLLED_REFUSED);
}

static void source_names(void)
{
	CHECK(!strcmp(client_source_name(CLIENT_CA), "client-ca"));
	CHECK(!strcmp(client_source_name(CLIENT_ENROLLED), "enrolled"));
	CHECK(!strcmp(client_source_name(CLIENT_NONE), "none"));
	CHECK(!strcmp(client_source_name((enum client_source)42), "none"));
}

static const struct test_case cases[] = {
    TEST(no_certificate_is_no_identity),
    TEST(client_ca_chain_is_a_client_ca_identity),
    TEST(enrolled_only_when_the_client_ca_fails),
    TEST(unverified_chain_says_the_client_cas_reason),
    TEST(enrolled_leaf_that_fails_says_the_enrollment_reason),
    TEST(verification_that_could_not_run_is_refused),
    TEST(chain_too_long_or_unparsed_is_refused),
    TEST(leaf_must_be_a_client_certificate),
    TEST(leaf_checks_apply_to_enrolled_identities_too),
    TEST(names_and_reasons_stay_printable),
    TEST(fetch_follows_the_allow_list_and_enrolled_fetch),
    TEST(source_names),
    TEST(a_key_outside_the_policy_is_refused_whoever_issued_it),
};

int main(void)
{
	return test_run("policy", cases, TEST_ELEMENTS(cases));
}
