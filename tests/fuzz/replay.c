/* replay.c - run a fuzz target over its seed corpus without libFuzzer, so that ordinary
 * builds (and the sanitizer build) check every seed on every test run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		if (!d) {
			fprintf(stderr, "cannot open corpus %s\n", argv[i]);
			return 1;
		}
		while ((de = readdir(d))) {
			char path[4096];
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			static uint8_t buf[1 << 21];
			size_t len = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			uint8_t *copy = malloc(len ? len : 1);
			memcpy(copy, buf, len);
			LLVMFuzzerTestOneInput(copy, len);
			free(copy);
			n++;
		}
		closedir(d);
	}
	printf("replayed %zu inputs\n", n);
	return n ? 0 : 1;
}
