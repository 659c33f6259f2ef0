/* fuzz-csr.c - the CSR handling of POST /v1/enroll (PEM parse, self-signature, CN). */
#include "fuzz.h"
#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *req = NULL;
	char cn[66];
	if (size > 16384)
		return 0; /* the daemon refuses larger bodies before parsing */
	if (x509_csr_load(data, size, &req, cn, sizeof(cn)) == 0)
		X509_REQ_free(req);
	return 0;
}
