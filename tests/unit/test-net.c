/* test-net.c - HTTP and pinned HTTPS (net.c) over descriptors the test opened: one end of
 * a socketpair goes to net, the other to a tiny server in a child process (plain HTTP, or
 * TLS with a CA and certificates made here). Nothing leaves the process pair. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "cleanup.h"
#include "error.h"
#include "net.h"
#include "pin.h"
#include "test.h"
#include "util.h"
#include "x509.h"

#define SERVER_NAME "pkishared.test"
#define ANSWER                                                                                     \
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nok"

/* How the child server ended (its exit status). */
enum {
	SERVED = 0,	   /* it read a whole request and answered */
	NO_HANDSHAKE = 10, /* the TLS handshake did not complete: nothing was asked */
	NO_REQUEST = 11,   /* the handshake completed but no request came */
	BAD_REQUEST = 12,  /* a request, but not the one expected */
	CHILD_BROKEN = 13,
};

/* A CA and a serving certificate it issued for names (DNS), made once per case. */
struct pki {
	EVP_PKEY *ca_key, *key;
	X509 *ca, *cert;
	uint8_t pin[PIN_BYTES];
};

static void pki_done(struct pki *p)
{
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->key);
	X509_free(p->ca);
	X509_free(p->cert);
}

static int pki_make(struct pki *p, const char *const *dns, size_t n_dns)
{
	struct cert_spec ca = {.cn = "net-test-ca", .is_ca = true, .days = 1};
	struct cert_spec leaf = {
	    .cn = "pkishared", .dns = dns, .n_dns = n_dns, .server_auth = true, .days = 1};
	*p = (struct pki){0};
	if (x509_key_new(KEY_TYPE_P256, &p->ca_key) < 0 ||
	    x509_key_new(KEY_TYPE_P256, &p->key) < 0 ||
	    x509_cert_new(&ca, p->ca_key, NULL, NULL, &p->ca) < 0 ||
	    x509_cert_new(&leaf, p->key, p->ca, p->ca_key, &p->cert) < 0 ||
	    pin_of_cert(p->ca, p->pin) < 0)
		return -1;
	return 0;
}

/* Read a request's head (up to the blank line) with rd; whether it starts with want. */
static int request_check(int (*rd)(void *, char *, int), void *io, const char *want)
{
	char buf[4096];
	size_t at = 0;
	while (at < sizeof(buf) - 1) {
		int n = rd(io, buf + at, (int)(sizeof(buf) - 1 - at));
		if (n <= 0)
			return NO_REQUEST;
		at += (size_t)n;
		buf[at] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return strncmp(buf, want, strlen(want)) == 0 ? SERVED : BAD_REQUEST;
	}
	return BAD_REQUEST;
}

static int fd_read(void *io, char *buf, int n)
{
	return (int)read(*(int *)io, buf, (size_t)n);
}

static int ssl_read(void *io, char *buf, int n)
{
	return SSL_read(io, buf, n);
}

/* The child's side: a plain HTTP server on fd answering one request. An exit status. */
static int plain_serve(int fd, const char *want)
{
	int r = request_check(fd_read, &fd, want);
	if (r == SERVED && write(fd, ANSWER, strlen(ANSWER)) != (ssize_t)strlen(ANSWER))
		r = CHILD_BROKEN;
	return r;
}

/* The child's side: a TLS server on fd with p's certificate (and its CA in the chain, as
 * pkishared sends it), answering one request. An exit status. */
static int tls_serve(int fd, const struct pki *p, const char *want)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate(ctx, p->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, p->key) != 1 || X509_up_ref(p->ca) != 1 ||
	    SSL_CTX_add_extra_chain_cert(ctx, p->ca) != 1)
		return CHILD_BROKEN;
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		return CHILD_BROKEN;
	if (SSL_accept(ssl) != 1)
		return NO_HANDSHAKE;
	int r = request_check(ssl_read, ssl, want);
	if (r == SERVED && SSL_write(ssl, ANSWER, (int)strlen(ANSWER)) != (int)strlen(ANSWER))
		r = CHILD_BROKEN;
	SSL_shutdown(ssl);
	return r;
}

/* A socketpair: *ret_fd is ours (for net), the other end served by a child running
 * tls_serve(p) or, with p NULL, plain_serve. Returns the child's pid, or -1. */
static pid_t server_start(const struct pki *p, const char *want, int *ret_fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(sv[0]);
		_exit(p ? tls_serve(sv[1], p, want) : plain_serve(sv[1], want));
	}
	close(sv[1]);
	*ret_fd = sv[0];
	return pid;
}

/* The child's exit status (how it ended), or -1. */
static int server_wait(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void plain_http_runs_over_a_descriptor_it_did_not_open(void)
{
	int fd = -1;
	struct http_response resp = {0};
	pid_t pid = server_start(NULL, "GET /v1/bundle/info HTTP/1.1\r\nHost: peer\r\n", &fd);
	CHECK(pid > 0);
	CHECK_EQ_INT(net_http_request_fd(fd, "peer", "GET", "/v1/bundle/info", NULL, NULL, &resp),
		     0);
	CHECK_EQ_INT(resp.status, 200);
	CHECK(resp.body && resp.body->len == 2 && memcmp(resp.body->data, "ok", 2) == 0);
	CHECK_EQ_INT(resp.date, 784111777);
	CHECK(fd_is_open(fd)); /* the caller's to close */
	close(fd);
	CHECK_EQ_INT(server_wait(pid), SERVED);
	http_response_done(&resp);
}

static void plain_http_refuses_an_answer_that_is_not_http(void)
{
	int sv[2];
	struct http_response resp = {0};
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* The whole "answer" is there before the request, and the other end is closed. */
	CHECK(write(sv[1], "SSH-2.0-OpenSSH\r\n", 17) == 17);
	shutdown(sv[1], SHUT_WR);
	CHECK_EQ_INT(net_http_request_fd(sv[0], "peer", "GET", "/", NULL, NULL, &resp), -EPROTO);
	CHECK(resp.body == NULL); /* untouched on failure */
	close(sv[0]);
	close(sv[1]);
}

static void pinned_https_runs_over_a_descriptor_it_did_not_open(void)
{
	const char *const dns[] = {SERVER_NAME};
	struct pki p;
	struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	int fd = -1;
	CHECK(pki_make(&p, dns, 1) == 0);
	struct net_tls_opts o = {.server = SERVER_NAME, .pin = p.pin};
	pid_t pid = server_start(&p, "POST /v1/enroll HTTP/1.1\r\nHost: " SERVER_NAME "\r\n", &fd);
	CHECK(pid > 0);
	int r = net_https_request_fd(fd, &o, "POST", "/v1/enroll", "Authorization: Bearer x", NULL,
				     &resp, detail);
	CHECK_EQ_INT(r, 0);
	if (r < 0)
		fprintf(stderr, "detail: %s\n", detail);
	CHECK_EQ_INT(resp.status, 200);
	CHECK(resp.body && resp.body->len == 2 && memcmp(resp.body->data, "ok", 2) == 0);
	CHECK(fd_is_open(fd));
	close(fd);
	CHECK_EQ_INT(server_wait(pid), SERVED);
	http_response_done(&resp);
	pki_done(&p);
}

/* A refused server is sent nothing: the child sees the handshake end, never a request. */
static int refused(const struct pki *p, const uint8_t *pin, const char *server,
		   char detail[DETAIL_MAX])
{
	struct net_tls_opts o = {.server = server, .pin = pin};
	struct http_response resp = {0};
	int fd = -1;
	pid_t pid = server_start(p, "GET", &fd);
	CHECK(pid > 0);
	int r = net_https_request_fd(fd, &o, "GET", "/v1/bundle", "Authorization: Bearer secret",
				     NULL, &resp, detail);
	CHECK(resp.body == NULL);
	CHECK(fd_is_open(fd));
	close(fd);
	CHECK_EQ_INT(server_wait(pid), NO_HANDSHAKE);
	return r;
}

static void a_server_without_the_pinned_ca_is_refused_before_any_request(void)
{
	const char *const dns[] = {SERVER_NAME};
	struct pki p, other;
	char detail[DETAIL_MAX] = "";
	CHECK(pki_make(&p, dns, 1) == 0);
	CHECK(pki_make(&other, dns, 1) == 0);
	CHECK_EQ_INT(refused(&p, other.pin, SERVER_NAME, detail), -PKS_E_PIN_MISMATCH);
	CHECK(!strcmp(detail, "no CA certificate in the server's chain matches the pin"));
	pki_done(&p);
	pki_done(&other);
}

static void the_pinned_cas_certificate_for_another_name_is_refused(void)
{
	const char *const dns[] = {"other.test"};
	struct pki p;
	char detail[DETAIL_MAX] = "";
	CHECK(pki_make(&p, dns, 1) == 0);
	CHECK_EQ_INT(refused(&p, p.pin, SERVER_NAME, detail), -PKS_E_SERVER_NAME);
	CHECK(!strcmp(detail, "its certificate is from the pinned CA but not for " SERVER_NAME
			      ": it names other.test"));
	pki_done(&p);
}

static void the_api_servers_certificate_is_refused_though_it_verifies(void)
{
	const char *const dns[] = {SERVER_NAME, "kubernetes.default"};
	struct pki p;
	char detail[DETAIL_MAX] = "";
	CHECK(pki_make(&p, dns, 2) == 0);
	CHECK_EQ_INT(refused(&p, p.pin, SERVER_NAME, detail), -PKS_E_API_SERVER);
	CHECK(!strcmp(detail, "this is the Kubernetes API server, not pkishared (its certificate "
			      "names kubernetes.default)"));
	pki_done(&p);
}

static void a_server_that_does_not_parse_is_refused_before_the_handshake(void)
{
	struct net_tls_opts o = {.server = "[::1", .pin = (const uint8_t *)"x"};
	struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ_INT(net_https_request_fd(sv[0], &o, "GET", "/", NULL, NULL, &resp, detail),
		     -EINVAL);
	CHECK(detail[0] != 0);
	close(sv[0]);
	close(sv[1]);
}

static void a_unix_socket_that_is_not_there_is_an_errno(void)
{
	struct http_response resp = {0};
	CHECK_EQ_INT(net_unix_request("/nonexistent/pkishare-test.sock", "GET", "/", NULL, &resp),
		     -ENOENT);
}

static const struct test_case cases[] = {
    TEST(plain_http_runs_over_a_descriptor_it_did_not_open),
    TEST(plain_http_refuses_an_answer_that_is_not_http),
    TEST(pinned_https_runs_over_a_descriptor_it_did_not_open),
    TEST(a_server_without_the_pinned_ca_is_refused_before_any_request),
    TEST(the_pinned_cas_certificate_for_another_name_is_refused),
    TEST(the_api_servers_certificate_is_refused_though_it_verifies),
    TEST(a_server_that_does_not_parse_is_refused_before_the_handshake),
    TEST(a_unix_socket_that_is_not_there_is_an_errno),
};

int main(void)
{
	/* A refused server may close before our alert is written. */
	signal(SIGPIPE, SIG_IGN);
	if (secret_init() < 0)
		return 1;
	return test_run("net", cases, TEST_ELEMENTS(cases));
}
