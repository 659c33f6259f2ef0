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

int main(void)
{
	unsigned char ext[128], msg[256];
	char name[64];

	size_t n = hello(msg, ext, sni_ext(ext, "node-1.example"));
	CHECK(tlshello_sni(msg, n, name, sizeof(name)) && strcmp(name, "node-1.example") == 0);
	n = hello(msg, ext, sni_ext(ext, "::1"));
	CHECK(tlshello_sni(msg, n, name, sizeof(name)) && strcmp(name, "::1") == 0);
	/* Every truncation is refused, never read past. */
	for (size_t cut = 0; cut < n; cut++)
		CHECK(!tlshello_sni(msg, cut, name, sizeof(name)));
	/* A name longer than the buffer is refused. */
	n = hello(msg, ext, sni_ext(ext, "a-name-too-long-for-eight"));
	CHECK(!tlshello_sni(msg, n, name, 8));
	/* No server_name extension. */
	static const unsigned char only_other[] = {0, 11, 0, 2, 1, 0};
	n = hello(msg, only_other, sizeof(only_other));
	CHECK(!tlshello_sni(msg, n, name, sizeof(name)));
	return test_done("test-tlshello");
}
