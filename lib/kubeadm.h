/* kubeadm.h - kubeadm's upload-certs format, byte for byte: each file AES-256-GCM under
 * the certificate key, nonce(12) || ciphertext || tag(16), no associated data, in the
 * data of the Secret kube-system/kubeadm-certs with '/' in names replaced by '-'. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pkidir.h"
#include "secret.h"

#define KUBEADM_NONCE_BYTES 12
#define KUBEADM_TAG_BYTES 16
#define KUBEADM_SECRET_MAX_BYTES (1024 * 1024)

/* kubeadm's EncryptBytes / DecryptBytes. decrypt: -PKS_E_KUBEADM_SHORT when shorter
 * than nonce + tag, -PKS_E_AUTH when authentication fails (nothing returned). */
int kubeadm_encrypt(const uint8_t *key, const uint8_t *pt, size_t len, struct secret **ret);
int kubeadm_decrypt(const uint8_t *key, const uint8_t *in, size_t len, struct secret **ret);

/* External etcd files travel under their names (pkidir.h's ext_etcd_names) as Secret keys
 * too; they live outside the PKI directory, so the caller says where they go. */
#define KUBEADM_EXT_CA EXT_ETCD_CA
#define KUBEADM_EXT_CERT EXT_ETCD_CERT
#define KUBEADM_EXT_KEY EXT_ETCD_KEY
#define KUBEADM_EXT_COUNT EXT_ETCD_COUNT
#define kubeadm_external_keys ext_etcd_names

/* Parse a kubeadm-certs Secret (JSON, as kubectl prints it) and decrypt every non-empty
 * entry. PKI-directory files go to ret (with kubeadm's modes), external etcd files to
 * ret_external[] (NULL when absent or empty). Unknown data keys, a missing required key,
 * and a Secret without local or external etcd entries are refused; detail names it. */
int kubeadm_secret_open(const char *json, size_t len, const uint8_t *key, struct pki_set *ret,
			struct secret *ret_external[KUBEADM_EXT_COUNT], char *detail);

enum {
	/* external etcd: all three external-etcd-* keys, empty for a NULL entry (a file that
	 * is not on disk), as kubeadm's upload-certs writes them */
	KUBEADM_BUILD_EXTERNAL = 1 << 0,
	/* a v1 List of the Secret and the Role and RoleBinding kubeadm's upload-certs
	 * creates, so that a joining node's bootstrap token may read the Secret */
	KUBEADM_BUILD_RBAC = 1 << 1,
};
/* Build a Secret manifest of kubeadm's shape from plain (shared files) and optional
 * external etcd files (entries may be NULL). */
int kubeadm_secret_build(const struct pki_set *plain,
			 const struct secret *const external[KUBEADM_EXT_COUNT], const uint8_t *key,
			 unsigned flags, struct secret **ret_json);

/* Which of kubeadm's CAs a certificate's CN names: "the cluster CA" ("kubernetes"),
 * "the front-proxy CA" ("front-proxy-ca", which signs front-proxy-client) or "the etcd
 * CA" ("etcd-ca", which signs apiserver-etcd-client and etcd's clients); NULL for any
 * other name. kubeadm gives its CAs these names; a node-identity CA must not be one of
 * them, since every certificate such a CA issued could then fetch the bundle. */
const char *kubeadm_ca_role(const char *cn);
/* The client certificates the CA kubeadm names cn signs, as a phrase for a message
 * ("front-proxy-client (the API server's aggregation client)"); NULL where
 * kubeadm_ca_role is. */
const char *kubeadm_ca_signs(const char *cn);
