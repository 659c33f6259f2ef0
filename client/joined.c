/* joined.c - the record of the bundle a join or decrypt installed (joined.h): written with
 * the shared PKI in its atomic install, read by join's plan. Never holds a secret; a
 * record that cannot be trusted (another user's, writable by others, malformed) is
 * refused, and the caller then does the ordinary join. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cleanup.h"
#include "error.h"
#include "joined.h"
#include "pkidir.h"
#include "x509.h"

#define F_BUNDLE_ID "bundleId"
#define F_KEY_ID "keyId"
#define F_CA_CERT_HASH "caCertHash"
#define F_AT "at"

static bool hex_of_len(const char *s, size_t len)
{
	return s && strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

int joined_load(const char *pki_dir, struct joined *ret)
{
	struct joined j = {0};
	uint8_t pin[PIN_BYTES];

	_cleanup_(secret_freep) struct secret *text = NULL;
	int r = pkidir_read_kept(pki_dir, JOINED_FILE_NAME, JOINED_FILE_MAX_BYTES, &text);
	if (r < 0)
		return r;
	_cleanup_(json_decrefp) json_t *o =
	    json_loadb((const char *)text->data, text->len, 0, NULL);
	const char *id = NULL, *kid = NULL, *hash = NULL, *at = NULL;
	if (!o ||
	    json_unpack(o, "{s:s, s:s, s:s, s:s}", F_BUNDLE_ID, &id, F_KEY_ID, &kid, F_CA_CERT_HASH,
			&hash, F_AT, &at) < 0 ||
	    !hex_of_len(id, BUNDLE_ID_HEX_LEN) || !hex_of_len(kid, KEY_ID_HEX_LEN) ||
	    pin_parse(hash, pin, NULL) < 0 || time_parse(at, &j.at) < 0)
		return -PKS_E_BUNDLE_FORMAT;
	str_copy(j.bundle_id, sizeof(j.bundle_id), id);
	str_copy(j.key_id, sizeof(j.key_id), kid);
	pin_format(pin, j.ca_cert_hash);
	*ret = j;
	return 0;
}

int joined_add(const struct bundle *b, const char *pki_dir, struct pki_set *plain,
	       bool *ret_changed)
{
	const struct pki_entry *ca = pki_set_find(plain, "ca.crt");
	_cleanup_(x509_freep) X509 *cert = NULL;
	uint8_t pin[PIN_BYTES];
	struct joined had;
	char hash[PIN_TEXT_LEN + 1], at[RFC3339_LEN];

	if (!ca || x509_cert_load(ca->data->data, ca->data->len, &cert) < 0 ||
	    pin_of_cert(cert, pin) < 0)
		return -PKS_E_X509;
	pin_format(pin, hash);
	bool same = joined_load(pki_dir, &had) == 0 && !strcmp(had.bundle_id, b->id) &&
		    !strcmp(had.key_id, b->key_id) && !strcmp(had.ca_cert_hash, hash);
	time_format(same ? had.at : time_now(), at);
	_cleanup_(json_decrefp) json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s}", F_BUNDLE_ID, b->id, F_KEY_ID, b->key_id,
		      F_CA_CERT_HASH, hash, F_AT, at);
	char *text = o ? json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
	struct secret *data = text ? secret_dup(text, strlen(text)) : NULL;
	if (text)
		secret_json_free(text); /* jansson's allocator (secret.c) frees what it gave */
	if (!data || secret_append(data, "\n", 1) < 0) {
		secret_free(data);
		return -ENOMEM;
	}
	int r = pki_set_add(plain, JOINED_FILE_NAME, 0644, data); /* frees data on failure */
	if (r < 0)
		return r;
	plain->e[plain->n - 1].replace = true;
	pki_set_sort(plain);
	*ret_changed = !same;
	return 0;
}
