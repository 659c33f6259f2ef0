/* test-metrics.c - the Prometheus text of the counters and the held state (daemon view,
 * metrics.c): every sample belongs to a family with HELP and TYPE, counts appear as they
 * are, and nothing names a bundle, a token or a node. Pure: counters and views by hand. */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "store.h"
#include "test.h"

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void counters_and_gauges_appear_as_they_are(void)
{
	struct metrics m = {0};
	m.fetch[M_FETCH_OK] = 3;
	m.fetch[M_FETCH_OTHER] = 1;
	m.fetch_by_source[M_SOURCE_ENROLLED] = 2;
	m.enroll[M_ENROLL_BAD_TOKEN] = 5;
	m.auth_fail[M_AUTH_TLS] = 7;
	m.upload[M_UPLOAD_OK] = 1;
	struct store_view v = {.held = true, .n_tokens = 2};
	v.bundle.expires_in_s = 99;
	v.kept = (struct store_kept_view){.under = true, .kept = true, .restores = 4};
	char *t = metrics_render(&m, &v);
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(has_line(t, "pkishare_bundle_held 1"));
	CHECK(has_line(t, "pkishare_bundle_expires_in_seconds 99"));
	CHECK(has_line(t, "pkishare_bundle_fetches_total{result=\"ok\"} 3"));
	CHECK(has_line(t, "pkishare_bundle_fetches_total{result=\"other-bundle-held\"} 1"));
	CHECK(has_line(t, "pkishare_bundle_fetches_by_source_total{source=\"enrolled\"} 2"));
	CHECK(has_line(t, "pkishare_enrollments_total{result=\"bad-token\"} 5"));
	CHECK(has_line(t, "pkishare_authentication_failures_total{stage=\"tls-handshake\"} 7"));
	CHECK(has_line(t, "pkishare_uploads_total{result=\"ok\"} 1"));
	CHECK(has_line(t, "pkishare_tokens_active 2"));
	CHECK(has_line(t, "pkishare_state_kept 1"));
	CHECK(has_line(t, "pkishare_state_restores_total 4"));
	free(t);
}

static void nothing_held_reads_as_zero(void)
{
	struct metrics m = {0};
	struct store_view v = {.held = false};
	v.bundle.expires_in_s = 1234; /* stale: must not show */
	char *t = metrics_render(&m, &v);
	CHECK(t && has_line(t, "pkishare_bundle_held 0"));
	CHECK(t && has_line(t, "pkishare_bundle_expires_in_seconds 0"));
	free(t);
}

/* With coordination: the cluster's state as this node heard it; without, no such family. */
static void coordination_shows_only_when_on(void)
{
	struct metrics m = {0};
	struct store_view v = {0};
	char *t = metrics_render(&m, &v);
	CHECK(t && !strstr(t, "pkishare_coordination_reachable"));
	free(t);
	v.coord.on = true;
	v.coord.reachable = true;
	v.coord.n_holders = 3;
	v.cluster.current = true;
	v.cluster.fetches = 2;
	t = metrics_render(&m, &v);
	CHECK(t && has_line(t, "pkishare_coordination_reachable 1"));
	CHECK(t && has_line(t, "pkishare_cluster_holders 3"));
	CHECK(t && has_line(t, "pkishare_cluster_fetches 2"));
	free(t);
	/* A failure since the last success reads as unreachable. */
	snprintf(v.coord.error, sizeof(v.coord.error), "claim: no leader");
	t = metrics_render(&m, &v);
	CHECK(t && has_line(t, "pkishare_coordination_reachable 0"));
	free(t);
}

/* The exposition format: comments are "# HELP name text" or "# TYPE name counter|gauge",
 * and every sample's family has both, given before it. */
static void every_sample_has_its_family(void)
{
	struct metrics m = {0};
	struct store_view v = {.coord.on = true}; /* every family, coordination's too */
	char *t = metrics_render(&m, &v);
	CHECK(t != NULL);
	if (!t)
		return;
	char helped[64][96], typed[64][96];
	size_t nh = 0, nt = 0, samples = 0;
	for (char *save = NULL, *line = strtok_r(t, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[96];
		if (!strncmp(line, "# HELP ", 7)) {
			CHECK(sscanf(line + 7, "%95s", name) == 1 && nh < 64);
			if (nh < 64)
				strcpy(helped[nh++], name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char type[16];
			CHECK(sscanf(line + 7, "%95s %15s", name, type) == 2);
			CHECK(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			if (nt < 64)
				strcpy(typed[nt++], name);
			continue;
		}
		samples++;
		size_t n = strcspn(line, "{ ");
		CHECK(n > 0 && n < sizeof(name));
		snprintf(name, sizeof(name), "%.*s", (int)n, line);
		bool h = false, ty = false;
		for (size_t i = 0; i < nh; i++)
			h |= !strcmp(helped[i], name);
		for (size_t i = 0; i < nt; i++)
			ty |= !strcmp(typed[i], name);
		CHECK(h && ty);
		const char *val = strrchr(line, ' ');
		char *end = NULL;
		CHECK(val && (strtod(val + 1, &end), end && *end == 0));
	}
	CHECK(samples > 20);
	free(t);
}

static const struct test_case cases[] = {
    TEST(coordination_shows_only_when_on),
    TEST(counters_and_gauges_appear_as_they_are),
    TEST(nothing_held_reads_as_zero),
    TEST(every_sample_has_its_family),
};

int main(void)
{
	return test_run("metrics", cases, TEST_ELEMENTS(cases));
}
