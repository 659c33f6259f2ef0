/* tlsfiles.c - the serving certificate, its key and the client CA (none in token-only
 * mode), as loaded by one start or reload: checked, then immutable and shared by
 * reference. Must never take the cluster CA as the client CA.
 *
 * A reload publishes a new set under ctx->tls_lock; a thread that was reading the old one
 * (the admin thread computing pins for status) keeps its reference, so nothing is freed
 * under it. The key lives in guarded memory and is wiped with the last reference. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "daemon.h"
#include "error.h"
#include "kubeadm.h"

#define PEM_MAX_BYTES (64 * 1024)

/* Do the certificate and key load together in GnuTLS, as libmicrohttpd will load them? */
static int check_pair(const struct secret *cert, const struct secret *key)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = {.data = cert->data, .size = (unsigned)cert->len};
	gnutls_datum_t k = {.data = key->data, .size = (unsigned)key->len};
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	int r = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	return r < 0 ? -PKS_E_X509 : 0;
}

static int load_pem(const char *what, const char *path, struct secret **ret, char *why,
		    size_t why_len)
{
	int r = secret_read_file(path, PEM_MAX_BYTES, ret);
	if (r < 0)
		snprintf(why, why_len, "cannot read %s %s: %s; check the path and permissions",
			 what, path, error_message(r));
	return r;
}

/* The CN of a certificate in pem that kubeadm gives one of the cluster's own CAs
 * (kubeadm_ca_role: "kubernetes", "front-proxy-ca", "etcd-ca"), or "". pkishared cannot
 * see the cluster's PKI directory; the names are what it has (the cluster CA itself is
 * also found by its pin, above). */
static void kubeadm_ca_in(const struct secret *pem, char cn[64])
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	gnutls_datum_t d = {.data = pem->data, .size = (unsigned)pem->len};

	cn[0] = 0;
	if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		char name[64];
		size_t sz = sizeof(name);
		if (!cn[0] &&
		    gnutls_x509_crt_get_dn_by_oid(crts[i], GNUTLS_OID_X520_COMMON_NAME, 0, 0, name,
						  &sz) >= 0 &&
		    kubeadm_ca_role(name))
			snprintf(cn, 64, "%s", name);
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
}

/* The client CA, if one is configured: its file must exist (named but missing is a
 * mistake, not token-only), and must not be the cluster CA. */
static int load_client_ca(const struct daemon_config *cfg, struct tls_files *t, char *why,
			  size_t why_len)
{
	uint8_t pin[PIN_BYTES];
	if (!cfg->client_ca)
		return 0;
	int r = secret_read_file(cfg->client_ca, PEM_MAX_BYTES, &t->client_ca_pem);
	if (r == -ENOENT) {
		snprintf(why, why_len,
			 "client CA %s (client-ca) does not exist: install your node-identity "
			 "CA there ('pkishare pki client-ca' makes one), or, for joiners that "
			 "all use join tokens (the kubeadm way), remove the client-ca setting "
			 "(comment it out in the configuration file) to run token-only",
			 cfg->client_ca);
		return r;
	}
	if (r < 0) {
		snprintf(why, why_len,
			 "cannot read client CA %s: %s; check the path and permissions",
			 cfg->client_ca, error_message(r));
		return r;
	}
	/* The serving certificate is issued by the cluster CA and carries it in its chain:
	 * trusting that CA for clients would let every kubelet and component certificate
	 * of the cluster fetch the bundle. */
	if (pin_of_chain_ca(t->cert_pem->data, t->cert_pem->len, pin) == 0 &&
	    pin_pem_has(t->client_ca_pem->data, t->client_ca_pem->len, pin) == 1) {
		snprintf(why, why_len,
			 "client CA %s holds the cluster CA (the CA of the serving "
			 "certificate's chain): every kubelet and component client "
			 "certificate of the cluster could fetch the bundle; use join tokens "
			 "(remove client-ca) or a node-identity CA of its own ('pkishare pki "
			 "client-ca')",
			 cfg->client_ca);
		return -PKS_E_X509;
	}
	char kubeadm_ca[64];
	kubeadm_ca_in(t->client_ca_pem, kubeadm_ca);
	if (kubeadm_ca[0]) {
		snprintf(why, why_len,
			 "client CA %s holds a CA named %s, as kubeadm names %s, one of the "
			 "cluster's own CAs: the client certificates it signs, %s, could fetch "
			 "the bundle; use join tokens (remove client-ca) or a node-identity CA "
			 "of its own ('pkishare pki client-ca')",
			 cfg->client_ca, kubeadm_ca, kubeadm_ca_role(kubeadm_ca),
			 kubeadm_ca_signs(kubeadm_ca));
		return -PKS_E_X509;
	}
	t->client_ca_path = strdup(cfg->client_ca);
	return t->client_ca_path ? 0 : -ENOMEM;
}

int tls_files_load(const struct daemon_config *cfg, struct tls_files **ret, char *why,
		   size_t why_len)
{
	struct tls_files *t = calloc(1, sizeof(*t));
	uint8_t pin[PIN_BYTES];

	if (!t)
		return -ENOMEM;
	t->refs = 1;
	int r = load_pem("TLS key", cfg->tls_key, &t->key_pem, why, why_len);
	if (r >= 0)
		r = load_pem("TLS certificate", cfg->tls_cert, &t->cert_pem, why, why_len);
	if (r >= 0) {
		r = check_pair(t->cert_pem, t->key_pem);
		if (r < 0)
			snprintf(why, why_len,
				 "the TLS certificate %s and key %s do not load together (not PEM, "
				 "or the key is not the certificate's); make them with 'pkishare "
				 "pki serving-cert'",
				 cfg->tls_cert, cfg->tls_key);
	}
	if (r >= 0)
		r = load_client_ca(cfg, t, why, why_len);
	if (r < 0) {
		tls_files_unref(t);
		return r;
	}
	/* Computed once here, so readers never parse the PEM. */
	if (pin_of_chain_ca(t->cert_pem->data, t->cert_pem->len, pin) == 0)
		pin_format(pin, t->ca_cert_hash);
	if (pin_curl_of_leaf(t->cert_pem->data, t->cert_pem->len, t->pinned_pubkey,
			     sizeof(t->pinned_pubkey)) < 0)
		t->pinned_pubkey[0] = 0;
	if (x509_cert_names(t->cert_pem->data, t->cert_pem->len, t->serving_names,
			    TLS_SERVING_NAMES_MAX, &t->n_serving_names) < 0)
		t->n_serving_names = 0;
	*ret = t;
	return 0;
}

struct tls_files *tls_files_ref(struct tls_files *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

struct tls_files *tls_files_unref(struct tls_files *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
		secret_free(t->key_pem);
		secret_free(t->cert_pem);
		secret_free(t->client_ca_pem);
		free(t->client_ca_path);
		free(t);
	}
	return NULL;
}

struct tls_files *daemon_tls_get(struct daemon_ctx *ctx)
{
	pthread_mutex_lock(&ctx->tls_lock);
	struct tls_files *t = tls_files_ref(ctx->tls);
	pthread_mutex_unlock(&ctx->tls_lock);
	return t;
}
