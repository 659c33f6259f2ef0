/* fuzz-kubeconf.c - kubeadm configuration files (YAML, or the kubeadm-config ConfigMap as
 * JSON with YAML inside) read for the node-certificate profile, and the same bytes as a
 * kubeadm-certs Secret in YAML (decrypt --format kubeadm-secret). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "kubeconf.h"
#include "util.h"

/* Warnings name FILE:LINE and a field; they must be short and printable. */
static void warn(void *data, const char *msg)
{
	(void)data;
	if (strlen(msg) >= DETAIL_MAX + 128)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct profile p;
	char detail[DETAIL_MAX], path[64];
	int fd = memfd_create("kubeconf", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		kubeconf_read_warn(path, &p, detail, warn, NULL);
	}
	close(fd);
	json_t *o = NULL;
	if (kubeconf_yaml_json((const char *)data, size, "fuzz", &o, detail) == 0) {
		if (!o)
			abort();
		json_decref(o);
	}
	return 0;
}
