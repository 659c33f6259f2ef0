/* fuzz-coordmsg.c - what pkishare-coordd reads from pkishared and pkishared reads back
 * (lib/coordmsg.c): a request that parses must build again to the same request; replies
 * and results parse or are refused, never half-read. The first byte picks the reader. */
#include <stdlib.h>
#include <string.h>

#include "coordmsg.h"
#include "fuzz.h"
#include "secret.h"

#define COOKIE "0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++ && secret_init() < 0)
		abort();
	if (size < 1)
		return 0;
	size_t n = size - 1;
	char *in = malloc(n ? n : 1);
	memcpy(in, data + 1, n);
	char why[128], buf[COORD_MSG_MAX];
	struct coord_request r, back;
	struct coord_reply rep;
	switch (data[0] % 3) {
	case 0:
		if (coordmsg_request_parse(in, n, &r, why, sizeof(why)) == 0) {
			int len = coordmsg_request_build(&r, buf, sizeof(buf));
			if (len <= 0 ||
			    coordmsg_request_parse(buf, (size_t)len, &back, why, sizeof(why)) !=
				0 ||
			    back.op != r.op || back.timeout_ms != r.timeout_ms ||
			    strcmp(back.cookie, r.cookie) ||
			    memcmp(&back.args, &r.args, sizeof(r.args)))
				abort();
		}
		break;
	case 1:
		if (coordmsg_reply_parse(in, n, COOKIE, &rep) == 0) {
			if (rep.ok != (rep.result != NULL))
				abort();
			json_decref(rep.result);
		}
		break;
	default: {
		json_t *j = json_loadb(in, n, 0, NULL);
		struct coord_claim_result c;
		struct coord_view v;
		struct coord_holder h[COORD_HOLDERS_MAX];
		size_t nh = 0;
		if (j) {
			coordmsg_claim_result_parse(j, &c);
			coordmsg_view_result_parse(j, &v);
			if (coordmsg_holders_result_parse(j, h, COORD_HOLDERS_MAX, &nh) == 0 &&
			    nh > COORD_HOLDERS_MAX)
				abort();
			if (coordmsg_peers_result_parse(j, h, COORD_HOLDERS_MAX, &nh) == 0 &&
			    nh > COORD_HOLDERS_MAX)
				abort();
			(void)coordmsg_connect_result_parse(j, h);
			struct coord_token_use u;
			(void)coordmsg_token_use_result_parse(j, &u);
			static struct coord_token t[COORD_TOKENS_MAX];
			size_t nt = 0;
			if (coordmsg_tokens_result_parse(j, t, COORD_TOKENS_MAX, &nt) == 0 &&
			    nt > COORD_TOKENS_MAX)
				abort();
			json_decref(j);
		}
		break;
	}
	}
	free(in);
	return 0;
}
