/* test-profile.c - the cluster profile: kubeadm's durations, strict JSON both ways, the
 * canonical form bound into the associated data, and the one-line description. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "cleanup.h"
#include "error.h"
#include "profile.h"
#include "secret.h"
#include "test.h"
#include "util.h"
#include "x509.h"

static struct profile sample(void);

static void kept_write(const char *dir, const char *text, mode_t mode)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, PROFILE_FILE_NAME);
	unlink(path);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK(chmod(path, mode) == 0);
}

/* The profile join and decrypt keep for pki node-certs: read back as sealed, "{}" is
 * empty, absent is -ENOENT, and one that others could have written is never taken. */
static void kept_profile_loads_only_from_a_file_of_ours(void)
{
	char dir[] = "/tmp/test-profile.XXXXXX", path[512], detail[DETAIL_MAX] = "";
	struct profile p = sample(), got;
	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(profile_load(dir, &got, detail), -ENOENT);
	_cleanup_(freep) char *text = profile_canonical(&p);
	kept_write(dir, text, 0600);
	memset(&got, 0, sizeof(got));
	CHECK_EQ_INT(profile_load(dir, &got, detail), 0);
	_cleanup_(freep) char *back = profile_canonical(&got);
	CHECK(back && !strcmp(back, text));
	kept_write(dir, "{}\n", 0600);
	CHECK_EQ_INT(profile_load(dir, &got, detail), 0);
	CHECK(!profile_is_set(&got));
	kept_write(dir, text, 0666);
	CHECK_EQ_INT(profile_load(dir, &got, detail), -PKS_E_FOREIGN);
	kept_write(dir, "{\"x\":1}", 0600);
	CHECK_EQ_INT(profile_load(dir, &got, detail), -PKS_E_BUNDLE_FORMAT);
	snprintf(path, sizeof(path), "%s/%s", dir, PROFILE_FILE_NAME);
	unlink(path);
	CHECK(symlink("/etc/hostname", path) == 0);
	CHECK_EQ_INT(profile_load(dir, &got, detail), -PKS_E_SYMLINK);
	unlink(path);
	rmdir(dir);
}

static struct profile sample(void)
{
	struct profile p = {0};
	str_copy(p.endpoint, sizeof(p.endpoint), "[fd00::10]:6443");
	str_copy(p.algorithm, sizeof(p.algorithm), "ECDSA-P256");
	str_copy(p.etcd_peer_sans[0], sizeof(p.etcd_peer_sans[0]), "fd00::99");
	p.n_etcd_peer_sans = 1;
	p.validity_s = 3600;
	return p;
}

static void go_durations_parse_as_kubeadm_writes_them(void)
{
	CHECK_EQ_INT(profile_duration_parse("8760h"), 8760LL * 3600);
	CHECK_EQ_INT(profile_duration_parse("8760h0m0s"), 8760LL * 3600);
	CHECK_EQ_INT(profile_duration_parse("1h30m"), 5400);
	CHECK_EQ_INT(profile_duration_parse("90m"), 5400);
	CHECK_EQ_INT(profile_duration_parse("1.5h"), 5400);
}

static void malformed_or_absurd_durations_are_refused(void)
{
	const char *bad[] = {"",    "h",     "10",    "10d",	"-1h",		"1e9h", "inf",
			     "nan", "0x10h", "100ms", "1h 30m", "99999999999h", "0s"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		CHECK_EQ_INT(profile_duration_parse(bad[i]), -1);
		if (profile_duration_parse(bad[i]) != -1)
			fprintf(stderr, "  taken: '%s'\n", bad[i]);
	}
}

static void values_are_printable_ascii_without_quotes(void)
{
	CHECK(profile_value_ok("cp.example.com:6443", 64));
	CHECK(!profile_value_ok("", 64));
	CHECK(!profile_value_ok("a\"b", 64));
	CHECK(!profile_value_ok("a\\b", 64));
	CHECK(!profile_value_ok("caf\xc3\xa9", 64));
	CHECK(!profile_value_ok("0123456789", 10));
	CHECK(profile_algorithm_ok("ECDSA-P384") && !profile_algorithm_ok("ecdsa-p384"));
}

static void sans_are_one_ip_address_or_dns_name(void)
{
	/* Nothing that could add another SAN. */
	const char *sans_ok[] = {"cp.example.com", "10.0.0.100", "fd00::10",
				 "*.example.com",  "localhost",	 "a-b.c"};
	const char *sans_bad[] = {
	    "a,IP:1.2.3.4", "IP:1.2.3.4", "email:x@y", "@section", "a..b",	 "-a.b",
	    "a-.b",	    "a.b.",	  "*",	       "a b",	   "[fd00::10]", ""};
	for (size_t i = 0; i < ELEMENTSOF(sans_ok); i++)
		CHECK(profile_san_ok(sans_ok[i]));
	for (size_t i = 0; i < ELEMENTSOF(sans_bad); i++) {
		CHECK(!profile_san_ok(sans_bad[i]));
		if (profile_san_ok(sans_bad[i]))
			fprintf(stderr, "  taken: '%s'\n", sans_bad[i]);
	}
}

static void canonical_form_has_sorted_keys_and_no_whitespace(void)
{
	struct profile p = sample(), empty = {0};
	CHECK(profile_is_set(&p) && !profile_is_set(&empty));
	char *c = profile_canonical(&p);
	CHECK(c && !strcmp(c, "{\"certificateValiditySeconds\":3600,\"controlPlaneEndpoint\":"
			      "\"[fd00::10]:6443\",\"encryptionAlgorithm\":\"ECDSA-P256\","
			      "\"etcdPeerCertSANs\":[\"fd00::99\"]}"));
	free(c);
}

static void json_round_trips_to_the_same_canonical_form(void)
{
	struct profile p = sample(), back = {0};
	char detail[DETAIL_MAX];
	char *c = profile_canonical(&p);
	_cleanup_(json_decrefp) json_t *j = json_loads(c, 0, NULL);
	CHECK_EQ_INT(profile_from_json(j, &back, detail), 0);
	char *c2 = profile_canonical(&back);
	CHECK(c && c2 && !strcmp(c, c2));
	free(c);
	free(c2);
}

static void json_refuses_bad_values_naming_the_field(void)
{
	struct profile back = {0};
	char detail[DETAIL_MAX];
	json_t *j = json_pack("{s:s}", "controlPlaneEndpoint", "a\"b");
	CHECK_EQ_INT(profile_from_json(j, &back, detail), -PKS_E_BUNDLE_FORMAT);
	CHECK(strstr(detail, "profile.controlPlaneEndpoint") != NULL);
	json_decref(j);
	j = json_pack("{s:I}", "certificateValiditySeconds", (json_int_t)59);
	CHECK_EQ_INT(profile_from_json(j, &back, detail), -PKS_E_BUNDLE_FORMAT);
	json_decref(j);
}

static void certificate_sans_are_names_not_openssl_config(void)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL, *none = NULL;
	const char *dns[] = {"a,IP:9.9.9.9", "cp.example.com"};
	const char *ips[] = {"fd00::10", "10.96.0.1"};
	struct cert_spec spec = {
	    .cn = "t", .dns = dns, .n_dns = 2, .ips = ips, .n_ips = 2, .days = 1};
	CHECK_EQ_INT(x509_key_new(KEY_TYPE_P256, &k), 0);
	CHECK_EQ_INT(x509_cert_new(&spec, k, NULL, NULL, &cert), 0);
	GENERAL_NAMES *names =
	    cert ? X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL) : NULL;
	CHECK(names && sk_GENERAL_NAME_num(names) == 4);
	GENERAL_NAMES_free(names);
	CHECK(X509_check_ip_asc(cert, "9.9.9.9", 0) != 1);
	CHECK(X509_check_ip_asc(cert, "fd00::10", 0) == 1);
	CHECK(X509_check_host(cert, "cp.example.com", 0, 0, NULL) == 1);
	const char *not_ip[] = {"10.0.0.300"};
	spec.ips = not_ip;
	spec.n_ips = 1;
	CHECK_EQ_INT(x509_cert_new(&spec, k, NULL, NULL, &none), -PKS_E_X509);
	CHECK(none == NULL);
}

static void description_is_one_line(void)
{
	struct profile p = sample();
	char desc[1024];
	profile_describe(&p, desc, sizeof(desc));
	CHECK(!strcmp(desc, "endpoint [fd00::10]:6443; ECDSA-P256; etcd peer SANs fd00::99; "
			    "certificates valid 1h"));
}

static const struct test_case cases[] = {
    TEST(go_durations_parse_as_kubeadm_writes_them),
    TEST(malformed_or_absurd_durations_are_refused),
    TEST(values_are_printable_ascii_without_quotes),
    TEST(sans_are_one_ip_address_or_dns_name),
    TEST(canonical_form_has_sorted_keys_and_no_whitespace),
    TEST(json_round_trips_to_the_same_canonical_form),
    TEST(json_refuses_bad_values_naming_the_field),
    TEST(certificate_sans_are_names_not_openssl_config),
    TEST(description_is_one_line),
    TEST(kept_profile_loads_only_from_a_file_of_ours),
};

int main(void)
{
	if (secret_init() != 0)
		return 1;
	return test_run("profile", cases, TEST_ELEMENTS(cases));
}
