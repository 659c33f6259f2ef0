/* fuzz-kubeadm.c - the kubeadm-certs Secret parser and AES-GCM opener. */
#include <string.h>

#include "fuzz.h"
#include "kubeadm.h"
#include "secret.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t key[32] = {[0 ... 31] = 0x42}; /* the corpus is sealed under this key */
	struct pki_set set = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	char detail[DETAIL_MAX];
	static int init;
	if (!init) {
		secret_init();
		init = 1;
	}
	if (kubeadm_secret_open((const char *)data, size, key, &set, ext, detail) == 0) {
		pki_set_clear(&set);
		for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
			secret_free(ext[i]);
	}
	return 0;
}
