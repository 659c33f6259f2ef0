/* fuzz-clienthello.c - the ClientHello server-name reader pkishared runs on peer bytes. */
#include <string.h>

#include "fuzz.h"
#include "tlshello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[256];
	if (tlshello_sni(data, size, name, sizeof(name)) && strlen(name) >= sizeof(name))
		__builtin_trap(); /* always NUL-terminated inside the buffer */
	return 0;
}
