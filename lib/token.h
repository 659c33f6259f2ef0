/* token.h - join tokens in kubeadm's format "[a-z0-9]{6}.[a-z0-9]{16}": a public id and a
 * secret. Only a hash of the secret is ever stored; the token travels as a bearer
 * credential to POST /v1/enroll. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define TOKEN_ID_LEN 6
#define TOKEN_SECRET_LEN 16
#define TOKEN_LEN (TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN)
#define TOKEN_HASH_BYTES 32
#define TOKEN_HASH_HEX_LEN (2 * TOKEN_HASH_BYTES)

/* A fresh random token, TOKEN_LEN characters + NUL (out should be guarded memory). */
void token_generate(char *out);

/* Split and check a token. id receives the public part (+ NUL), secret the secret part
 * (+ NUL, guarded). detail (may be NULL) says what is wrong, never echoing the secret. */
int token_parse(const char *text, char id[TOKEN_ID_LEN + 1], char *secret, char *detail);

/* BLAKE2b-256 of the secret, keyed by the id (domain separation). */
void token_hash(const char *id, const char *secret, uint8_t out[TOKEN_HASH_BYTES]);

/* Is text a well-formed token id? */
bool token_id_valid(const char *text);

/* Is text a description a join token may carry (kubeadm's token --description)? NULL and
 * "" are (none); else 1 to API_TOKEN_DESCRIPTION_MAX printable ASCII bytes with at least
 * one that is not a space (a blank one would read as none). pkishared and pkishare both
 * ask this one rule. */
bool token_description_ok(const char *text);
