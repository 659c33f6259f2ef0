/* fuzz-kubeconf.c - kubeadm configuration files (YAML, or the kubeadm-config ConfigMap as
 * JSON with YAML inside) read for the node-certificate profile. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "kubeconf.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct profile p;
	char detail[DETAIL_MAX], path[64];
	int fd = memfd_create("kubeconf", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		kubeconf_read(path, &p, detail);
	}
	close(fd);
	return 0;
}
