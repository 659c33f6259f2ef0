/* cleanup.h - _cleanup_() destructors for the third-party and project types passed
 * around by pointer, so a function that holds several says each once, at its
 * declaration, and hands one out with TAKE_PTR() (macro.h). Each accepts NULL. */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "macro.h"

static inline void x509_freep(X509 **p)
{
	X509_free(*p);
}

static inline void x509_req_freep(X509_REQ **p)
{
	X509_REQ_free(*p);
}

static inline void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

/* json_t: jansson's own json_decrefp. */

static inline void evp_cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}
