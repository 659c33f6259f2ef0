/* profile.h - the cluster's node-certificate profile: what kubeadm's ClusterConfiguration
 * says about the certificates every control-plane node makes for itself (endpoint, extra
 * SANs, service subnet, DNS domain, key algorithm, validity, external etcd files).
 *
 * It travels in the sealed bundle as the optional "profile" object (proto/bundle.md),
 * bound into every entry's associated data in its canonical form (proto/sealing.md), so a
 * server cannot alter it. Values are printable ASCII without '"' or '\', so that any JSON
 * serializer writing sorted keys without spaces produces the same canonical bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROFILE_SANS_MAX 32
#define PROFILE_STR_MAX 254
#define PROFILE_PATH_MAX 1024
/* Where join and decrypt keep the profile of the bundle they installed, inside the PKI
 * directory (0600, installed atomically with it), for `pki node-certs` to find. */
#define PROFILE_FILE_NAME "pkishare-profile.json"
#define PROFILE_FILE_MAX_BYTES (64 * 1024)

struct profile {
	char endpoint[PROFILE_STR_MAX];	      /* controlPlaneEndpoint, "" if unset */
	char service_subnet[PROFILE_STR_MAX]; /* networking.serviceSubnet */
	char dns_domain[PROFILE_STR_MAX];     /* networking.dnsDomain */
	char algorithm[16];		      /* encryptionAlgorithm: RSA-2048 ... ECDSA-P384 */
	int64_t validity_s;		      /* certificateValidityPeriod, 0 if unset */
	char api_sans[PROFILE_SANS_MAX][PROFILE_STR_MAX]; /* apiServer.certSANs */
	size_t n_api_sans;
	char etcd_server_sans[PROFILE_SANS_MAX][PROFILE_STR_MAX]; /* etcd.local.serverCertSANs */
	size_t n_etcd_server_sans;
	char etcd_peer_sans[PROFILE_SANS_MAX][PROFILE_STR_MAX]; /* etcd.local.peerCertSANs */
	size_t n_etcd_peer_sans;
	char external_ca[PROFILE_PATH_MAX]; /* etcd.external.caFile, certFile, keyFile */
	char external_cert[PROFILE_PATH_MAX];
	char external_key[PROFILE_PATH_MAX];
};

/* Is anything set? */
bool profile_is_set(const struct profile *p);
/* Is s acceptable as a profile value (non-empty printable ASCII, no '"' or '\', short)? */
bool profile_value_ok(const char *s, size_t max);
/* A SAN as kubeadm accepts one in certSANs: an IP address, or a DNS name (labels of
 * letters, digits and '-', a leading "*." allowed), at most 253 characters. Nothing
 * else reaches a certificate (no ',' or ':' that could add another SAN). */
bool profile_san_ok(const char *s);
/* One of kubeadm's encryption algorithm names. */
bool profile_algorithm_ok(const char *s);
/* A Go duration as kubeadm writes it ("8760h", "8760h0m0s", "90m"): seconds, or -1. */
int64_t profile_duration_parse(const char *s);

/* The JSON object of the set fields (NULL on ENOMEM). */
json_t *profile_to_json(const struct profile *p);
/* Strict: an object with known fields only, each of its type and limits. detail (may be
 * NULL, DETAIL_MAX) names the field. -PKS_E_BUNDLE_FORMAT on any error. */
int profile_from_json(const json_t *o, struct profile *ret, char *detail);
/* Sorted keys, no whitespace: the bytes bound into the associated data (malloc'd). */
char *profile_canonical(const struct profile *p);
/* One line for people: "endpoint cp.example.com:6443, ECDSA-P256, ...". */
void profile_describe(const struct profile *p, char *buf, size_t len);
/* The profile kept in pki_dir/PROFILE_FILE_NAME into ret ("{}": an empty one, nothing
 * set). -ENOENT if there is none;
 * -PKS_E_SYMLINK for a symlink; -PKS_E_FOREIGN if the file is owned by another user than
 * this one or root, or writable by group or others (whoever could write it would choose
 * this node's SANs); -PKS_E_BUNDLE_FORMAT (detail names the field) if it is not a
 * profile. ret untouched on failure. */
int profile_load(const char *pki_dir, struct profile *ret, char *detail);
