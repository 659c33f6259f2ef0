/* test-kubeadm.c - kubeadm's AES-256-GCM entries against Python cryptography's vectors,
 * the Secret round trip, and the errors (short entry, flipped byte, wrong key). */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "key.h"
#include "kubeadm.h"
#include "secret.h"
#include "test.h"
#include "util.h"

int main(int argc, char **argv)
{
	char path[1024];
	CHECK(secret_init() == 0);
	CHECK(argc > 1);
	if (argc < 2)
		return test_done("test-kubeadm");
	snprintf(path, sizeof(path), "%s/kubeadm.json", argv[1]);
	json_t *v = json_load_file(path, 0, NULL);
	CHECK(v != NULL);
	if (!v)
		return test_done("test-kubeadm");
	size_t klen;
	unsigned char *key = test_unhex(json_string_value(json_object_get(v, "key")), &klen);
	json_t *e;
	size_t i;
	json_array_foreach (json_object_get(v, "entries"), i, e) {
		size_t plen, slen;
		unsigned char *pt =
		    test_unhex(json_string_value(json_object_get(e, "plaintext")), &plen);
		unsigned char *sealed =
		    test_unhex(json_string_value(json_object_get(e, "sealed")), &slen);
		struct secret *out = NULL;
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, slen, &out), 0);
		CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
		secret_free(out);
		out = NULL;
		sealed[slen / 2] ^= 1;
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, slen, &out), -PKS_E_AUTH);
		CHECK(out == NULL);
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, 27, &out), -PKS_E_KUBEADM_SHORT);
		/* Our encryption opens with our decryption, with a fresh nonce each time. */
		struct secret *a = NULL, *b = NULL;
		CHECK_EQ_INT(kubeadm_encrypt(key, pt, plen, &a), 0);
		CHECK_EQ_INT(kubeadm_encrypt(key, pt, plen, &b), 0);
		CHECK(a->len == plen + 28 && memcmp(a->data, b->data, 12) != 0);
		CHECK_EQ_INT(kubeadm_decrypt(key, a->data, a->len, &out), 0);
		CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
		secret_free(out);
		secret_free(a);
		secret_free(b);
		free(pt);
		free(sealed);
	}
	/* Secret round trip, and refusals. */
	struct pki_set plain = {0}, back = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	for (i = 0; i < pki_shared_files_count; i++)
		if (!pki_shared_files[i].external)
			pki_set_add(
			    &plain, pki_shared_files[i].name, pki_shared_files[i].mode,
			    secret_dup(pki_shared_files[i].name, strlen(pki_shared_files[i].name)));
	struct secret *json = NULL;
	char detail[DETAIL_MAX];
	CHECK_EQ_INT(kubeadm_secret_build(&plain, NULL, key, &json), 0);
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)json->data, json->len, key, &back, ext, detail), 0);
	CHECK_EQ_INT(back.n, plain.n);
	const struct pki_entry *etcd = pki_set_find(&back, "etcd/ca.key");
	CHECK(etcd && etcd->mode == 0600 && etcd->data->len == strlen("etcd/ca.key"));
	pki_set_clear(&back);
	uint8_t other[KEY_BYTES];
	memset(other, 7, sizeof(other));
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)json->data, json->len, other, &back, ext, detail),
	    -PKS_E_AUTH);
	CHECK_EQ_INT(back.n, 0);
	const char *not_secret = "{\"kind\":\"ConfigMap\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(not_secret, strlen(not_secret), key, &back, ext, detail),
		     -PKS_E_BUNDLE_FORMAT);
	const char *empty = "{\"kind\":\"Secret\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(empty, strlen(empty), key, &back, ext, detail),
		     -PKS_E_MISSING);
	secret_free(json);
	pki_set_clear(&plain);
	free(key);
	json_decref(v);
	return test_done("test-kubeadm");
}
