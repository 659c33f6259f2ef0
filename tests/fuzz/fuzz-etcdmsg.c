/* fuzz-etcdmsg.c - every etcd answer coordd's client parses (coordd/etcdmsg.c): ranges,
 * txns, writes, errors in both shapes, leases, auth tokens, watch messages, and the stream
 * splitter they arrive through. The first byte picks the parser; the rest is the answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcdmsg.h"
#include "fuzz.h"

static int count_line(const char *line, size_t len, void *arg)
{
	size_t *n = arg;
	if (len == 0 || memchr(line, '\n', len) || line[len] != 0)
		abort();
	(*n)++;
	return 0;
}

static void check_kvs(const struct etcd_kvs *k)
{
	if (k->n > ETCD_KVS_MAX)
		abort();
	for (size_t i = 0; i < k->n; i++)
		if (!k->kv[i].key || strlen(k->kv[i].key) != k->kv[i].key_len ||
		    k->kv[i].key_len > ETCD_KEY_MAX || k->kv[i].value_len > ETCD_VALUE_MAX ||
		    k->kv[i].value[k->kv[i].value_len] != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++ && secret_init() < 0)
		abort();
	if (size < 1)
		return 0;
	/* A copy of exactly the answer's bytes: no parser may read past them. */
	size_t n = size - 1;
	char *in = malloc(n ? n : 1);
	memcpy(in, data + 1, n);
	struct etcd_kvs k;
	struct etcd_txn_result t;
	struct etcd_error e;
	struct etcd_watch_msg m;
	struct secret *tok = NULL;
	int64_t a, b;
	switch (data[0] % 8) {
	case 0:
		if (etcdmsg_range_result(in, n, &k) == 0) {
			check_kvs(&k);
			etcd_kvs_done(&k);
		}
		break;
	case 1:
		if (etcdmsg_txn_result(in, n, &t) == 0) {
			if (t.n_ranges > ETCD_TXN_OPS_MAX)
				abort();
			for (size_t i = 0; i < t.n_ranges; i++)
				check_kvs(&t.ranges[i]);
			etcd_txn_result_done(&t);
		}
		break;
	case 2:
		if (etcdmsg_error(in, n, &e) == 0)
			for (const char *p = e.message; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
					abort();
		break;
	case 3: {
		int r = etcdmsg_watch_msg(in, n, &m, &e);
		if (r == 0) {
			if (m.n_events > ETCD_EVENTS_MAX || (m.progress && m.n_events))
				abort();
			etcd_watch_msg_done(&m);
		}
		break;
	}
	case 4:
		etcdmsg_lease_grant_result(in, n, &a, &b);
		etcdmsg_keepalive_result(in, n, &a, &b);
		etcdmsg_write_result(in, n, &a, &b);
		break;
	case 5:
		if (etcdmsg_auth_result(in, n, &tok) == 0) {
			for (size_t i = 0; i < tok->len; i++)
				if (tok->data[i] <= 0x20 || tok->data[i] > 0x7e)
					abort();
			secret_free(tok);
		}
		break;
	default: {
		/* The splitter, fed in pieces whose sizes the input decides. */
		struct etcd_lines l = {.max = 1 + data[0] % 64};
		size_t lines = 0, off = 0;
		while (off < n) {
			size_t piece = 1 + (unsigned char)in[off] % 7;
			if (piece > n - off)
				piece = n - off;
			int r = etcd_lines_feed(&l, in + off, piece, count_line, &lines);
			if (r < 0 && r != -E2BIG)
				abort();
			off += piece;
		}
		etcd_lines_done(&l);
		break;
	}
	}
	free(in);
	return 0;
}
