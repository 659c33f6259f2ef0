/* test-tlshello.c - the server name read from a ClientHello: a host name, an IP literal,
 * no extension, and every truncation of a valid message. */
#include <string.h>

#include "test.h"
#include "tlshello.h"

/* A minimal ClientHello body: version, random, empty session id, one cipher suite, null
 * compression, then the extensions given. */
static size_t hello(unsigned char *out, const unsigned char *ext, size_t ext_len)
{
	size_t n = 0;
	out[n++] = 3;
	out[n++] = 3;
	memset(out + n, 0xab, 32);
	n += 32;
	out[n++] = 0;		       /* session id */
	out[n++] = 0, out[n++] = 2;    /* cipher suites length */
	out[n++] = 0x13, out[n++] = 1; /* TLS_AES_128_GCM_SHA256 */
	out[n++] = 1, out[n++] = 0;    /* compression: null */
	out[n++] = (unsigned char)(ext_len >> 8), out[n++] = (unsigned char)ext_len;
	memcpy(out + n, ext, ext_len);
	return n + ext_len;
}

/* server_name extension (type 0) for name, after a dummy extension. */
static size_t sni_ext(unsigned char *out, const char *name)
{
	size_t l = strlen(name), n = 0;
	static const unsigned char other[] = {0, 11, 0, 2, 1, 0}; /* ec_point_formats */
	memcpy(out, other, sizeof(other));
	n = sizeof(other);
	out[n++] = 0, out[n++] = 0; /* type server_name */
	out[n++] = 0, out[n++] = (unsigned char)(l + 5);
	out[n++] = 0, out[n++] = (unsigned char)(l + 3); /* list length */
	out[n++] = 0;					 /* host_name */
	out[n++] = 0, out[n++] = (unsigned char)l;
	memcpy(out + n, name, l);
	return n + l;
}

static unsigned char ext[128], msg[256];
static char name[64];

static void host_name_is_read(void)
{
	size_t n = hello(msg, ext, sni_ext(ext, "node-1.example"));
	CHECK(tlshello_sni(msg, n, name, sizeof(name)) && strcmp(name, "node-1.example") == 0);
}

static void ip_literal_is_read_as_sent(void)
{
	size_t n = hello(msg, ext, sni_ext(ext, "::1"));
	CHECK(tlshello_sni(msg, n, name, sizeof(name)) && strcmp(name, "::1") == 0);
}

static void every_truncation_is_refused_never_read_past(void)
{
	size_t n = hello(msg, ext, sni_ext(ext, "::1"));
	for (size_t cut = 0; cut < n; cut++)
		CHECK(!tlshello_sni(msg, cut, name, sizeof(name)));
}

static void name_longer_than_the_buffer_is_refused(void)
{
	size_t n = hello(msg, ext, sni_ext(ext, "a-name-too-long-for-eight"));
	CHECK(!tlshello_sni(msg, n, name, 8));
}

static void no_server_name_extension_is_no_name(void)
{
	static const unsigned char only_other[] = {0, 11, 0, 2, 1, 0};
	size_t n = hello(msg, only_other, sizeof(only_other));
	CHECK(!tlshello_sni(msg, n, name, sizeof(name)));
}

static const struct test_case cases[] = {
    TEST(host_name_is_read),
    TEST(ip_literal_is_read_as_sent),
    TEST(every_truncation_is_refused_never_read_past),
    TEST(name_longer_than_the_buffer_is_refused),
    TEST(no_server_name_extension_is_no_name),
};

int main(void)
{
	return test_run("tlshello", cases, TEST_ELEMENTS(cases));
}
