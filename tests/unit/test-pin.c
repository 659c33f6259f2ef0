/* test-pin.c - CA pins (pin.c) against pins computed by the openssl command line:
 *   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum (| base64)
 * for a fixed CA and a leaf it signed. */
#include <errno.h>
#include <string.h>

#include <openssl/pem.h>

#include "error.h"
#include "pin.h"
#include "test.h"
#include "util.h"

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
			     "MIIBgjCCASmgAwIBAgIUIwe+Y9PcXdcKmo+GXfvTvHfRI0IwCgYIKoZIzj0EAwIw\n"
			     "FjEUMBIGA1UEAwwLcGluLXRlc3QtY2EwIBcNMjYxMjAxMTMxNjE5WhgPMjEyNjEx\n"
			     "MDcxMzE2MTlaMBYxFDASBgNVBAMMC3Bpbi10ZXN0LWNhMFkwEwYHKoZIzj0CAQYI\n"
			     "KoZIzj0DAQcDQgAE42fKr+/HQWIoGBhAGZceD1t395dEiNxpstEywhQcnd0Dsys2\n"
			     "JWJ4RM0Qa4uLac5sQjuaHtyhDE4y9o0A7gHiKaNTMFEwHQYDVR0OBBYEFFzU0E65\n"
			     "aqJUn0goh4vcqyT8zp4JMB8GA1UdIwQYMBaAFFzU0E65aqJUn0goh4vcqyT8zp4J\n"
			     "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgbE2W0tiG8s7fb9lm\n"
			     "X0dV+iSul9BTR8cx5v+fYUS5jawCIHeG1cO05mwBKEjlisxN9Fy0jNd+oyMKOOIr\n"
			     "X8Sl4LGM\n"
			     "-----END CERTIFICATE-----\n";
static const char leaf_pem[] = "-----BEGIN CERTIFICATE-----\n"
			       "MIIBIjCByAIUTgi5Vwca6gVgINhLc3pUf5jqBtkwCgYIKoZIzj0EAwIwFjEUMBIG\n"
			       "A1UEAwwLcGluLXRlc3QtY2EwIBcNMjYxMjAxMTMxNjE5WhgPMjEyNjExMDcxMzE2\n"
			       "MTlaMA8xDTALBgNVBAMMBGxlYWYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT+\n"
			       "yUA7J9QHqawx5W6GGk2be7bA7B0o4bIvLCNz7ITd9isknungg8yAH7oss2ic7d1R\n"
			       "nj/2yf++zIhqtldKAPFcMAoGCCqGSM49BAMCA0kAMEYCIQC5GQLKCHGVyvWh3gT1\n"
			       "vYoSkM2FgXiBMdUWuetIi12a0AIhAKuBY7Dz1NNjbn/0k8Hq+pP5EzP/oGgNxrsL\n"
			       "fXcPYmnZ\n"
			       "-----END CERTIFICATE-----\n";
#define CA_PIN "sha256:3afb9d23b4e2de934f7e5769eb173796d356db70ece98f1a94252c8fe25e2892"
#define LEAF_CURL_PIN "sha256//dAwlzvFaUPMr98aboieV3kxSLUt0iqSndsCK+8pziYI="

static void parse_takes_kubeadms_form_in_either_case(void)
{
	uint8_t a[PIN_BYTES], b[PIN_BYTES];
	char upper[] = CA_PIN, detail[DETAIL_MAX];
	for (char *p = upper + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_EQ_INT(pin_parse(CA_PIN, a, detail), 0);
	CHECK_EQ_INT(pin_parse(upper, b, detail), 0);
	CHECK(memcmp(a, b, PIN_BYTES) == 0);
	CHECK_EQ_INT(a[0], 0x3a);
	CHECK_EQ_INT(a[31], 0x92);
}

static void parse_refuses_other_forms_saying_why(void)
{
	uint8_t out[PIN_BYTES];
	char detail[DETAIL_MAX];
	const struct {
		const char *in, *why;
	} bad[] = {
	    {"3afb9d23b4e2de934f7e5769eb173796d356db70ece98f1a94252c8fe25e2892", "sha256:"},
	    {"sha1:3afb9d23b4e2de934f7e5769eb173796d356db70", "sha256:"},
	    {"SHA256:3afb9d23b4e2de934f7e5769eb173796d356db70ece98f1a94252c8fe25e2892", "sha256:"},
	    {"sha256:3afb9d23", "found 8"},
	    {CA_PIN "00", "found 66"},
	    {"sha256:zzfb9d23b4e2de934f7e5769eb173796d356db70ece98f1a94252c8fe25e2892", "hex"},
	    {"sha256:3afb9d23b4e2de934f7e5769eb173796d356db70ece98f1a94252c8fe25e289 ", "hex"},
	    {"", "sha256:"},
	};
	for (size_t i = 0; i < TEST_ELEMENTS(bad); i++) {
		detail[0] = 0;
		CHECK_EQ_INT(pin_parse(bad[i].in, out, detail), -PKS_E_PIN_FORMAT);
		CHECK(strstr(detail, bad[i].why) != NULL);
	}
	CHECK_EQ_INT(pin_parse(NULL, out, NULL), -PKS_E_PIN_FORMAT);
}

static void format_is_the_inverse_of_parse(void)
{
	uint8_t pin[PIN_BYTES];
	char text[PIN_TEXT_LEN + 1];
	CHECK_EQ_INT(pin_parse(CA_PIN, pin, NULL), 0);
	pin_format(pin, text);
	CHECK(!strcmp(text, CA_PIN));
	CHECK_EQ_INT(strlen(text), PIN_TEXT_LEN);
}

static void pin_of_cert_matches_openssls_spki_hash(void)
{
	uint8_t pin[PIN_BYTES];
	char text[PIN_TEXT_LEN + 1];
	BIO *bio = BIO_new_mem_buf(ca_pem, (int)strlen(ca_pem));
	X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CHECK(ca != NULL);
	CHECK_EQ_INT(pin_of_cert(ca, pin), 0);
	pin_format(pin, text);
	CHECK(!strcmp(text, CA_PIN));
	X509_free(ca);
}

static void chain_pin_is_the_first_ca_not_the_leaf(void)
{
	char chain[sizeof(leaf_pem) + sizeof(ca_pem)], text[PIN_TEXT_LEN + 1];
	uint8_t pin[PIN_BYTES];
	snprintf(chain, sizeof(chain), "%s%s", leaf_pem, ca_pem);
	CHECK_EQ_INT(pin_of_chain_ca(chain, strlen(chain), pin), 0);
	pin_format(pin, text);
	CHECK(!strcmp(text, CA_PIN));
	/* A chain without a CA certificate has no pin. */
	CHECK_EQ_INT(pin_of_chain_ca(leaf_pem, strlen(leaf_pem), pin), -PKS_E_X509);
	CHECK_EQ_INT(pin_of_chain_ca("not pem", 7, pin), -PKS_E_X509);
}

static void curl_pin_is_the_leafs_base64_spki_hash(void)
{
	char chain[sizeof(leaf_pem) + sizeof(ca_pem)], out[128], small[20];
	snprintf(chain, sizeof(chain), "%s%s", leaf_pem, ca_pem);
	CHECK_EQ_INT(pin_curl_of_leaf(chain, strlen(chain), out, sizeof(out)), 0);
	CHECK(!strcmp(out, LEAF_CURL_PIN));
	CHECK_EQ_INT(pin_curl_of_leaf(chain, strlen(chain), small, sizeof(small)), -ENOBUFS);
	CHECK_EQ_INT(pin_curl_of_leaf("x", 1, out, sizeof(out)), -PKS_E_X509);
}

static void pem_has_finds_a_key_anywhere_in_the_file(void)
{
	char chain[sizeof(leaf_pem) + sizeof(ca_pem)];
	uint8_t pin[PIN_BYTES], other[PIN_BYTES] = {0};
	snprintf(chain, sizeof(chain), "%s%s", leaf_pem, ca_pem);
	CHECK_EQ_INT(pin_parse(CA_PIN, pin, NULL), 0);
	CHECK_EQ_INT(pin_pem_has(chain, strlen(chain), pin), 1);
	CHECK_EQ_INT(pin_pem_has(ca_pem, strlen(ca_pem), pin), 1);
	CHECK_EQ_INT(pin_pem_has(leaf_pem, strlen(leaf_pem), pin), 0);
	CHECK_EQ_INT(pin_pem_has(chain, strlen(chain), other), 0);
	CHECK_EQ_INT(pin_pem_has("not pem", 7, pin), -PKS_E_X509);
}

static const struct test_case cases[] = {
    TEST(parse_takes_kubeadms_form_in_either_case), TEST(parse_refuses_other_forms_saying_why),
    TEST(format_is_the_inverse_of_parse),	    TEST(pin_of_cert_matches_openssls_spki_hash),
    TEST(chain_pin_is_the_first_ca_not_the_leaf),   TEST(curl_pin_is_the_leafs_base64_spki_hash),
    TEST(pem_has_finds_a_key_anywhere_in_the_file),
};

int main(void)
{
	return test_run("pin", cases, TEST_ELEMENTS(cases));
}
