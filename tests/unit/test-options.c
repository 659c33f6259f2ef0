/* test-options.c - pkishared's configuration (daemon core): the file, the flags that win
 * over it, the bounds, and the refusals an operator can cause. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "store.h"
#include "test.h"

static char dir[] = "/tmp/pkishare-options.XXXXXX";

static const char *conf(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* options_load on argv (NULL-terminated), stderr silenced; the options are freed. */
static int load(struct options *o, const char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	fflush(stderr);
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	int r = options_load(o, argc, (char **)argv);
	fclose(stderr);
	stderr = saved;
	return r;
}

static const char *base = "tls-cert = /x/tls.crt\ntls-key = /x/tls.key\nclient-ca = /x/ca.crt\n";

static void options_read_the_given_file(void)
{
	struct options o;
	const char *argv[] = {"pkishared", "--config", conf("a.conf", base), NULL};
	CHECK_EQ_INT(load(&o, argv), 1);
	CHECK(o.cfg.tls_cert && strcmp(o.cfg.tls_cert, "/x/tls.crt") == 0);
	CHECK(o.config_path != NULL);
	options_free(&o);
}

static void options_flags_win_over_the_file(void)
{
	struct options o;
	char text[512];
	snprintf(text, sizeof(text), "%sttl = 1h\n", base);
	const char *argv[] = {"pkishared", "--config", conf("b.conf", text), "--ttl", "30m", NULL};
	CHECK_EQ_INT(load(&o, argv), 1);
	CHECK_EQ_INT(o.cfg.ttl_s, 1800);
	options_free(&o);
}

static void options_refuse_an_unknown_key(void)
{
	struct options o;
	char text[512];
	snprintf(text, sizeof(text), "%sttll = 1h\n", base);
	const char *argv[] = {"pkishared", "--config", conf("c.conf", text), NULL};
	CHECK_EQ_INT(load(&o, argv), -EINVAL);
	options_free(&o);
}

/* The tail of a comment longer than the read buffer was read as a setting of its own. */
static void options_refuse_a_line_longer_than_the_buffer(void)
{
	struct options o;
	static char text[8192];
	int n = snprintf(text, sizeof(text), "%s#", base);
	memset(text + n, 'a', 4094);
	snprintf(text + n + 4094, sizeof(text) - (size_t)n - 4094, "ttl = 1s\n");
	const char *argv[] = {"pkishared", "--config", conf("long.conf", text), NULL};
	CHECK(load(&o, argv) < 0);
	options_free(&o);
	/* A line that just fits is read. */
	n = snprintf(text, sizeof(text), "%s#", base);
	memset(text + n, 'a', 4093);
	snprintf(text + n + 4093, sizeof(text) - (size_t)n - 4093, "\nttl = 1h\n");
	const char *argv2[] = {"pkishared", "--config", conf("fits.conf", text), NULL};
	CHECK_EQ_INT(load(&o, argv2), 1);
	CHECK_EQ_INT(o.cfg.ttl_s, 3600);
	options_free(&o);
}

/* What follows a NUL byte in a line was ignored unseen. */
static void options_refuse_a_nul_byte_in_a_line(void)
{
	struct options o;
	char path[256];
	static const char text[] = "ttl = 1h\0 this is not read\n";
	snprintf(path, sizeof(path), "%s", conf("nul.conf", base));
	FILE *f = fopen(path, "a");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(text, 1, sizeof(text) - 1, f);
	fclose(f);
	const char *argv[] = {"pkishared", "--config", path, NULL};
	CHECK(load(&o, argv) < 0);
	options_free(&o);
}

static void options_refuse_a_missing_given_file(void)
{
	struct options o;
	const char *argv[] = {"pkishared", "--config", "/nonexistent/pkishared.conf", NULL};
	CHECK_EQ_INT(load(&o, argv), -EINVAL);
	options_free(&o);
}

static void options_bound_lifetimes_by_the_store(void)
{
	struct options o;
	const char *argv[] = {"pkishared", "--config", conf("d.conf", base),
			      "--max-ttl", "24024h",   NULL};
	CHECK_EQ_INT(load(&o, argv), -EINVAL);
	options_free(&o);
	const char *ok[] = {"pkishared", "--config", conf("d.conf", base),
			    "--max-ttl", "24000h",   NULL};
	CHECK_EQ_INT(load(&o, ok), 1);
	CHECK(o.cfg.max_ttl_s <= STORE_MAX_TTL_S);
	options_free(&o);
}

static void options_refuse_ttl_over_max_ttl(void)
{
	struct options o;
	const char *argv[] = {
	    "pkishared", "--config", conf("e.conf", base), "--ttl", "3h", "--max-ttl", "2h", NULL};
	CHECK_EQ_INT(load(&o, argv), -EINVAL);
	options_free(&o);
	const char *lower[] = {"pkishared", "--config", conf("e.conf", base),
			       "--max-ttl", "1h",	NULL};
	CHECK_EQ_INT(load(&o, lower), 1);
	CHECK_EQ_INT(o.cfg.ttl_s, 3600); /* a short max-ttl alone lowers the default */
	options_free(&o);
}

static void options_require_the_tls_files(void)
{
	struct options o;
	const char *argv[] = {"pkishared", "--config", conf("f.conf", "ttl = 1h\n"), NULL};
	CHECK_EQ_INT(load(&o, argv), -EINVAL);
	options_free(&o);
}

static void options_answer_help(void)
{
	struct options o;
	const char *argv[] = {"pkishared", "--config", conf("g.conf", base), "--help", NULL};
	FILE *saved = stdout;
	stdout = fopen("/dev/null", "w");
	int r = load(&o, argv);
	fclose(stdout);
	stdout = saved;
	CHECK_EQ_INT(r, 0);
	options_free(&o);
}

static const char *source_root = ".";

/* The whole file, or NULL. */
static char *slurp(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", source_root, rel);
	return test_slurp(path);
}

/* A name as groff writes it: every '-' as "\-". */
static void roff(const char *name, char *out, size_t len)
{
	size_t j = 0;
	for (const char *p = name; *p && j + 3 < len; p++) {
		if (*p == '-')
			out[j++] = '\\';
		out[j++] = *p;
	}
	out[j] = 0;
}

static void options_are_documented_where_the_table_says(void)
{
	char *man = slurp("docs/pkishared.8"), *conf5 = slurp("docs/pkishared.conf.5"),
	     *sample = slurp("systemd/pkishared.conf");
	CHECK(man && conf5 && sample);
	if (!man || !conf5 || !sample)
		goto out;
	/* The sample's header lists exactly the settings a reload does not change. */
	char *header_end = strstr(sample, "\n\n");
	size_t n;
	const struct option_def *defs = options_table(&n);
	for (size_t i = 0; i < n; i++) {
		char flag[128], key[96], in_sample[128];
		roff(defs[i].name, key, sizeof(key));
		snprintf(flag, sizeof(flag), "\\-\\-%s ", key);
		snprintf(in_sample, sizeof(in_sample), "%s = ", defs[i].name);
		if (!strstr(man, flag))
			fprintf(stderr, "pkishared(8) does not document --%s\n", defs[i].name);
		CHECK(strstr(man, flag) != NULL);
		if (!strstr(conf5, key))
			fprintf(stderr, "pkishared.conf(5) does not document %s\n", defs[i].name);
		CHECK(strstr(conf5, key) != NULL);
		if (!strstr(sample, in_sample))
			fprintf(stderr, "the sample configuration lacks '%s'\n", in_sample);
		CHECK(strstr(sample, in_sample) != NULL);
		char word[128];
		snprintf(word, sizeof(word), " %s", defs[i].name);
		char *hit = strstr(sample, word);
		bool in_header = hit && header_end && hit < header_end;
		if (in_header == defs[i].reload)
			fprintf(stderr,
				"the sample's header %s %s among the restart-only settings\n",
				in_header ? "lists" : "does not list", defs[i].name);
		CHECK(in_header != defs[i].reload);
		/* And pkishared(8) names the restart-only ones in its reload paragraph. */
		if (!defs[i].reload) {
			char *para = strstr(man, "A reload (SIGHUP");
			char *end = para ? strstr(para, "\n.") : NULL;
			char bare[128];
			snprintf(bare, sizeof(bare), "\\-\\-%s", key);
			char *at = para ? strstr(para, bare) : NULL;
			if (!at || at > end)
				fprintf(stderr, "pkishared(8)'s reload paragraph lacks --%s\n",
					defs[i].name);
			CHECK(at && at < end);
		}
	}
out:
	free(man);
	free(conf5);
	free(sample);
}

static const struct test_case cases[] = {
    TEST(options_read_the_given_file),
    TEST(options_flags_win_over_the_file),
    TEST(options_refuse_an_unknown_key),
    TEST(options_refuse_a_line_longer_than_the_buffer),
    TEST(options_refuse_a_nul_byte_in_a_line),
    TEST(options_refuse_a_missing_given_file),
    TEST(options_bound_lifetimes_by_the_store),
    TEST(options_refuse_ttl_over_max_ttl),
    TEST(options_require_the_tls_files),
    TEST(options_answer_help),
    TEST(options_are_documented_where_the_table_says),
};

int main(int argc, char **argv)
{
	if (argc > 1)
		source_root = argv[1];
	if (!mkdtemp(dir))
		return 1;
	int r = test_run("options", cases, TEST_ELEMENTS(cases));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return r;
}
