/* fuzz-daemonconf.c - pkishared's configuration file parser (daemon/core/options.c), through
 * options_load as pkishared runs it, on a memory file given as --config. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		log_setup(-1); /* refusals are expected: keep stderr for crashes */
	int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	char *argv[] = {(char *)"pkishared", (char *)"--config", path, NULL};
	struct options o;
	options_load(&o, 3, argv);
	options_free(&o);
	close(fd);
	return 0;
}
