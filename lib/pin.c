/* pin.c - CA public-key pins. Public values only; no secrets pass through here. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <errno.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "error.h"
#include "pin.h"
#include "util.h"

int pin_parse(const char *text, uint8_t out[PIN_BYTES], char *detail)
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (!text || strncmp(text, "sha256:", 7) != 0) {
		if (detail)
			str_copy(detail, DETAIL_MAX, "missing the \"sha256:\" prefix");
		return -PKS_E_PIN_FORMAT;
	}
	const char *hex = text + 7;
	if (strlen(hex) != 2 * PIN_BYTES) {
		if (detail)
			snprintf(detail, DETAIL_MAX,
				 "expected 64 hex characters after sha256:, found %zu",
				 strlen(hex));
		return -PKS_E_PIN_FORMAT;
	}
	if (sodium_hex2bin(out, PIN_BYTES, hex, strlen(hex), NULL, &bin_len, &end) != 0 ||
	    bin_len != PIN_BYTES || *end) {
		if (detail)
			str_copy(detail, DETAIL_MAX, "not valid hexadecimal");
		return -PKS_E_PIN_FORMAT;
	}
	return 0;
}

int pin_of_cert(X509 *cert, uint8_t out[PIN_BYTES])
{
	unsigned char *der = NULL;
	unsigned int md_len = 0;

	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0)
		return -PKS_E_X509;
	int ok = EVP_Digest(der, (size_t)n, out, &md_len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 && md_len == PIN_BYTES ? 0 : -PKS_E_X509;
}

void pin_format(const uint8_t pin[PIN_BYTES], char out[PIN_TEXT_LEN + 1])
{
	memcpy(out, "sha256:", 7); /* NOLINT(bugprone-not-null-terminated-result): hex follows */
	sodium_bin2hex(out + 7, 2 * PIN_BYTES + 1, pin, PIN_BYTES);
}

int pin_of_chain_ca(const void *pem, size_t len, uint8_t out[PIN_BYTES])
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c;
	int r = -PKS_E_X509;
	while (bio && r < 0 && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_check_ca(c) >= 1)
			r = pin_of_cert(c, out);
		X509_free(c);
	}
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

int pin_pem_has(const void *pem, size_t len, const uint8_t pin[PIN_BYTES])
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c;
	uint8_t p[PIN_BYTES];
	int r = -PKS_E_X509;
	while (bio && r != 1 && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (pin_of_cert(c, p) == 0)
			r = memcmp(p, pin, PIN_BYTES) == 0 ? 1 : 0;
		X509_free(c);
	}
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

int pin_of_der(const void *der, size_t len, uint8_t out[PIN_BYTES])
{
	const unsigned char *p = der;
	X509 *c = len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
	if (!c)
		return -PKS_E_X509;
	int r = pin_of_cert(c, out);
	X509_free(c);
	return r;
}

int pin_of_leaf(const void *pem, size_t len, uint8_t out[PIN_BYTES])
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!c)
		return -PKS_E_X509;
	int r = pin_of_cert(c, out);
	X509_free(c);
	return r;
}

int pin_curl_of_leaf(const void *pem, size_t len, char *out, size_t out_len)
{
	uint8_t h[PIN_BYTES];
	int r = pin_of_leaf(pem, len, h);
	if (r < 0)
		return r;
	if (out_len < 8 + sodium_base64_ENCODED_LEN(PIN_BYTES, sodium_base64_VARIANT_ORIGINAL))
		return -ENOBUFS;
	memcpy(out, "sha256//", 8); /* NOLINT(bugprone-not-null-terminated-result) */
	sodium_bin2base64(out + 8, out_len - 8, h, PIN_BYTES, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}
