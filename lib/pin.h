/* pin.h - CA pins in kubeadm's --discovery-token-ca-cert-hash format:
 * "sha256:" followed by the hex SHA-256 of the CA certificate's DER SubjectPublicKeyInfo. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define PIN_BYTES 32
#define PIN_TEXT_LEN (7 + 2 * PIN_BYTES)

/* Parse "sha256:<64 hex>" (prefix required, hex in either case). */
int pin_parse(const char *text, uint8_t out[PIN_BYTES], char *detail);
/* The pin of a certificate's public key. */
int pin_of_cert(X509 *cert, uint8_t out[PIN_BYTES]);
void pin_format(const uint8_t pin[PIN_BYTES], char out[PIN_TEXT_LEN + 1]);

/* The pin of the first CA certificate in a PEM chain (the serving chain carries the
 * cluster CA after the leaf). -PKS_E_X509 if there is none. */
int pin_of_chain_ca(const void *pem, size_t len, uint8_t out[PIN_BYTES]);
/* 1 if some certificate of a PEM file has the public key whose pin is pin (the same CA,
 * or a re-issue of it with the same key), 0 if none has, -PKS_E_X509 if none parses. */
int pin_pem_has(const void *pem, size_t len, const uint8_t pin[PIN_BYTES]);
/* The pin of a DER certificate's public key. */
int pin_of_der(const void *der, size_t len, uint8_t out[PIN_BYTES]);
/* The pin of the first (leaf) certificate of a PEM chain (a serving key's). */
int pin_of_leaf(const void *pem, size_t len, uint8_t out[PIN_BYTES]);
/* curl's --pinnedpubkey value for the first (leaf) certificate of a PEM chain:
 * "sha256//" + base64 of SHA-256 of its SubjectPublicKeyInfo. */
int pin_curl_of_leaf(const void *pem, size_t len, char *out, size_t out_len);
