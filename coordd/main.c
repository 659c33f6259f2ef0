/* main.c - pkishare-coordd: the coordination helper (proto/coord.md). It alone holds the
 * etcd credential; pkishared asks it, on a unix SEQPACKET socket that only root (or
 * client-uid) may use, for the few fixed operations of the ledger.
 *
 * Threads. The main thread accepts callers, reads each request, checks it (lib/coordmsg)
 * and takes its send time; it also parks the "wait"s on one watch of the prefix until a
 * change or their deadline, keeps the lease alive, withdraws what pkishared registered
 * once it is gone, and pings systemd's watchdog. Every request it reads goes to a queue
 * served by WORKERS threads, each with its own etcd client: a worker decides the request
 * in etcd by its deadline (ledger-etcd.c), or opens the connection to a peer, and
 * answers. So a request that waits on a slow etcd member or an unreachable peer holds one
 * worker, not every caller. While a worker has a connection's request the connection is
 * busy: the main thread neither reads from it nor closes it (pkishared sends one request
 * per connection, and opens one connection per call).
 *
 * A deadline runs from the request's send, not its read: requests wait in their sockets
 * and in the queue while the workers are busy; one whose time ran out there is answered
 * "timeout" untried, one whose caller hung up is dropped.
 *
 * Locks: pool.lock guards the queue and every client's busy, drop and park flags;
 * records_lock what pkishared registered through us. Neither is held across an etcd call
 * or a send, and never both at once. The lease id is atomic (ledger-etcd.h). Must never
 * log a secret nor copy the credential: every etcd client references the one in guarded
 * memory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "addr.h"
#include "coordconf.h"
#include "coordmsg.h"
#include "etcd.h"
#include "ledger-etcd.h"
#include "secret.h"

#define MAX_CLIENTS 16
#define MAX_BAD 64
#define MAX_HELD 8
#define PKISHARED_GONE_MS 5000
/* The main thread's own etcd call, kept short: no request is read meanwhile. */
#define KEEPALIVE_MAX_MS 1000
/* Requests decided at once. Each worker has its own etcd client (connections, and a token
 * with etcd's auth). pkishared rarely has more than a few calls out at once: claims of
 * joiners, its ledger thread's writes and its long-polled wait (parked here, no worker). */
#define WORKERS 4

struct client {
	int fd;
	unsigned bad;
	int64_t accepted_ms; /* CLOCK_MONOTONIC: its requests were sent after, or ... */
	int64_t early_ms;    /* ... its first by then (sent before its timestamps were on) */
	bool waiting;	     /* a parked wait */
	char cookie[COORD_COOKIE_LEN + 1];
	uint64_t since;
	int64_t deadline_ms;
	/* Under pool.lock. busy: a worker has its request; the worker alone uses the
	 * connection then, and writes cookie, since and deadline_ms of a wait to park. drop:
	 * the worker found its caller gone. park: the worker found no change since `since`
	 * (the main thread parks the wait). */
	bool busy, drop, park;
};

/* A request read and checked, for a worker. */
struct job {
	struct client *c;
	struct coord_request r;
	int64_t sent;
};

struct coordd;

struct worker {
	struct coordd *d;
	struct ledger_etcd ledger; /* its own etcd client; the lease is coordd's */
	pthread_t thread;
	bool started;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t more;	      /* a job was queued, or quit was set */
	struct job jobs[MAX_CLIENTS]; /* a ring: at most one per connection (busy) */
	size_t head, n;
	bool quit;
	int wake_fd; /* eventfd: a worker let a connection go; the main thread polls it again */
	struct worker workers[WORKERS];
};

struct coordd {
	struct coordd_conf conf;
	struct ledger_etcd ledger; /* the main thread's: keep-alive, watch, withdrawal */
	_Atomic int64_t lease;
	struct etcd_health health; /* what every client of ours knows of the members */
	struct pool pool;
	int listen_fd;
	struct client clients[MAX_CLIENTS];
	struct etcd_watch *watch;
	int64_t watch_from, last_rev;
	/* After a watch failed: not opened again before watch_retry_at, and the pause doubles
	 * (200 ms to 5 s) until one delivers an answer: no member reachable is no busy loop. */
	int64_t watch_retry_at, watch_backoff_ms;
	/* What this node's pkishared registered through us (register, hold), withdrawn when
	 * it has had no connection open for PKISHARED_GONE_MS (killed or stopped: peers and
	 * --replicas would count a holder that serves nothing; it registers again). Noted by
	 * the workers, withdrawn by the main thread: under records_lock. */
	pthread_mutex_t records_lock;
	char node[COORD_TEXT_MAX + 1];
	bool registered;
	char held[MAX_HELD][33];
	size_t n_held;
	int64_t last_client_ms;
	int64_t next_keepalive_ms;
	int64_t watchdog_ms, next_watchdog_ms; /* half systemd's WatchdogSec (0: off) */
	struct secret *ca, *cert, *key, *password;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A credential into guarded memory, by its setting's name. */
static int load_secret(const char *setting, const char *name, struct secret **ret)
{
	char *path = coordd_conf_path(name);
	if (!path) {
		fprintf(
		    stderr,
		    "pkishare-coordd: %s = %s is relative and no $CREDENTIALS_DIRECTORY is set; "
		    "give an absolute path, or pass it with LoadCredential=\n",
		    setting, name);
		return -EINVAL;
	}
	int r = secret_read_file(path, 1 << 20, ret);
	if (r < 0)
		fprintf(stderr, "pkishare-coordd: cannot read %s %s: %s\n", setting, path,
			strerror(r == -ENOENT ? ENOENT : EINVAL));
	free(path);
	return r;
}

/* An etcd client of coordd's settings and credential for l (the credential referenced,
 * not copied), sharing coordd's lease. */
static int open_client(struct coordd *d, struct ledger_etcd *l)
{
	struct etcd_config cfg = {.endpoints = (const char *const *)d->conf.endpoints,
				  .n_endpoints = d->conf.n_endpoints,
				  .ca_pem = d->ca,
				  .cert_pem = d->cert,
				  .key_pem = d->key,
				  .user = d->conf.etcd_user,
				  .password = d->password,
				  .health = &d->health};
	int r = etcd_open(&cfg, &l->e);
	if (r < 0) {
		fprintf(stderr,
			"pkishare-coordd: cannot use etcd at %s: %s; check etcd-endpoints, that "
			"etcd-ca is etcd's CA and etcd-cert/etcd-key a client certificate it "
			"accepts%s\n",
			d->conf.endpoints[0],
			r == -EHOSTUNREACH ? "no member could be reached"
			: r == -EACCES	   ? "refused (user, password or role)"
					   : strerror(-r < 200 ? -r : EIO),
			d->conf.etcd_user ? ", and the user and password" : "");
		return r;
	}
	snprintf(l->prefix, sizeof(l->prefix), "%s", d->conf.prefix);
	l->lease = &d->lease;
	return 0;
}

static int open_etcd(struct coordd *d)
{
	int r = load_secret("etcd-ca", d->conf.etcd_ca, &d->ca);
	if (r >= 0)
		r = load_secret("etcd-cert", d->conf.etcd_cert, &d->cert);
	if (r >= 0)
		r = load_secret("etcd-key", d->conf.etcd_key, &d->key);
	if (r >= 0 && d->conf.etcd_password_file) {
		r = load_secret("etcd-password-file", d->conf.etcd_password_file, &d->password);
		while (r >= 0 && d->password->len &&
		       (d->password->data[d->password->len - 1] == '\n' ||
			d->password->data[d->password->len - 1] == '\r'))
			d->password->data[--d->password->len] = 0;
	}
	if (r < 0)
		return r;
	return open_client(d, &d->ledger);
}

static int open_socket(struct coordd *d)
{
	int n = sd_listen_fds(1);
	if (n >= 1) {
		d->listen_fd = SD_LISTEN_FDS_START;
		return 0;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(d->conf.socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pkishare-coordd: socket path %s is too long\n", d->conf.socket);
		return -EINVAL;
	}
	memcpy(sa.sun_path, d->conf.socket, strlen(d->conf.socket) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(d->conf.socket);
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		r = -errno;
		fprintf(stderr, "pkishare-coordd: cannot listen on %s: %s\n", d->conf.socket,
			strerror(-r));
		close(fd);
		return r;
	}
	d->listen_fd = fd;
	return 0;
}

static void reply(struct client *c, const char *buf, int len)
{
	if (len > 0 && send(c->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		fprintf(stderr, "pkishare-coordd: a reply could not be sent: %s\n",
			strerror(errno));
}

static void reply_error(struct client *c, const char *cookie, enum coord_error e, const char *msg)
{
	char buf[COORD_MSG_MAX];
	reply(c, buf, coordmsg_reply_error(cookie, e, msg, buf, sizeof(buf)));
}

static void reply_ok(struct client *c, const char *cookie, json_t *result)
{
	char buf[COORD_MSG_MAX];
	int n = coordmsg_reply_ok(cookie, result, buf, sizeof(buf));
	if (n < 0)
		reply_error(c, cookie, COORD_E_INTERNAL, "the answer does not fit a message");
	else
		reply(c, buf, n);
}

/* A connection to a registered peer (connect): a TCP connection to its peerAddress,
 * opened by the deadline (at most 3 s: it holds a worker meanwhile), passed to pkishared
 * beside the reply. <0 with msg. */
static int peer_connect(const struct coord_holder *h, int64_t deadline, char *msg, size_t len)
{
	char host[ADDR_HOST_MAX], port[8], detail[256];
	uint16_t p = 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
			*ai = NULL;
	if (addr_parse(h->peer_address, 9443, host, &p, detail) < 0 ||
	    (snprintf(port, sizeof(port), "%u", p), getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(msg, len, "node %s's peer address %s is not an IP address and port",
			 h->node, h->peer_address);
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = fd < 0 ? -errno : 0;
	if (r == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		r = -errno;
	freeaddrinfo(ai);
	int64_t until = now_ms() + 3000 < deadline ? now_ms() + 3000 : deadline;
	while (r == 0) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int64_t left = until - now_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		int n = poll(&pf, 1, (int)left);
		if (n < 0 && errno != EINTR)
			r = -errno;
		if (n > 0 && pf.revents) {
			int e = 0;
			socklen_t el = sizeof(e);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
			r = e ? -e : 1;
		}
	}
	if (r < 0) {
		snprintf(msg, len, "cannot connect to node %s at %s: %s", h->node, h->peer_address,
			 strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* pkishared runs TLS over it: small records, which must not wait for delayed ACKs. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* pkishared runs TLS over it with blocking reads bounded by its own timeouts. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static void handle_connect(struct worker *w, struct client *c, const struct coord_request *r,
			   int64_t deadline)
{
	struct coord_holder h = {0};
	enum coord_error e = COORD_E_INTERNAL;
	char msg[COORD_MESSAGE_MAX], buf[COORD_MSG_MAX];
	if (ledger_etcd_peer(&w->ledger, r->args.node, deadline, &h, &e, msg, sizeof(msg)) < 0) {
		reply_error(c, r->cookie, e, msg);
		return;
	}
	int fd = peer_connect(&h, deadline, msg, sizeof(msg));
	if (fd < 0) {
		reply_error(c, r->cookie, COORD_E_UNREACHABLE, msg);
		return;
	}
	int n = coordmsg_reply_ok(r->cookie, coordmsg_connect_result(&h), buf, sizeof(buf));
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = n > 0 ? (size_t)n : 0};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (n < 0 || sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		fprintf(stderr, "pkishare-coordd: the connection to node %s could not be passed\n",
			h.node);
	close(fd);
}

static void client_close(struct client *c)
{
	close(c->fd);
	*c = (struct client){.fd = -1};
}

static void accept_client(struct coordd *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && (d->conf.client_uid < 0 || cred.uid != (uid_t)d->conf.client_uid))) {
		fprintf(stderr, "pkishare-coordd: refused a caller with uid %u (allowed: 0%s)\n",
			(unsigned)cred.uid, d->conf.client_uid >= 0 ? " and client-uid" : "");
		close(fd);
		return;
	}
	/* The kernel stamps a message with its send time only once the receiving socket asks
	 * (SO_TIMESTAMPNS), and an accepted socket does not inherit it from the listening one:
	 * what was sent before now is stamped when read. So a message already waiting was
	 * sent by now at the latest (callers send right after connecting; they are accepted
	 * while the main thread waits for etcd too, etcd_set_idle). */
	int on = 1, queued = 0;
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	int64_t now = now_ms();
	if (ioctl(fd, FIONREAD, &queued) < 0)
		queued = 1;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd < 0) {
			d->clients[i] = (struct client){
			    .fd = fd, .accepted_ms = now, .early_ms = queued ? now : 0};
			return;
		}
	fprintf(stderr, "pkishare-coordd: more than %d callers at once; refused one\n",
		MAX_CLIENTS);
	close(fd);
}

/* While an etcd call of the main thread waits: callers are accepted as they come, so that
 * their requests' age shows. */
static void on_idle(void *arg)
{
	accept_client(arg);
}

static int on_watch(const struct etcd_watch_msg *m, void *arg)
{
	struct coordd *d = arg;
	if (m->n_events && m->revision > d->last_rev)
		d->last_rev = m->revision;
	d->watch_backoff_ms = 0; /* etcd answers: the next failure retries soon */
	return 0;
}

/* One watch of the prefix while waits are parked, from the oldest one's since + 1. A
 * watch that fails to open leaves the waits to their deadlines ("unchanged"); the next
 * pass tries again. */
static void ensure_watch(struct coordd *d)
{
	int64_t from = INT64_MAX;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0 && d->clients[i].waiting &&
		    (int64_t)d->clients[i].since + 1 < from)
			from = (int64_t)d->clients[i].since + 1;
	if (d->watch || from == INT64_MAX || now_ms() < d->watch_retry_at)
		return;
	char end[LEDGER_PREFIX_MAX + 2];
	etcd_prefix_end(d->ledger.prefix, end, sizeof(end));
	d->watch_from = from;
	if (etcd_watch_open(d->ledger.e, d->ledger.prefix, end, from, 30, on_watch, d, &d->watch) <
	    0) {
		d->watch = NULL;
		d->watch_retry_at = now_ms() + 1000;
	}
}

/* A wait, in a worker: answered now if the prefix changed after since (true), else
 * written down for the main thread to park (false). */
static bool start_wait(struct worker *w, struct client *c, const struct coord_request *r,
		       int64_t deadline)
{
	enum coord_error e;
	int64_t rev = 0;
	if (ledger_etcd_revision(&w->ledger, deadline, &rev, &e) < 0) {
		reply_error(c, r->cookie, e, "cannot read etcd's revision");
		return true;
	}
	if ((uint64_t)rev > r->args.since) {
		reply_ok(c, r->cookie,
			 json_pack("{s:I, s:b}", "revision", (json_int_t)rev, "changed", 1));
		return true;
	}
	memcpy(c->cookie, r->cookie, sizeof(c->cookie));
	c->since = r->args.since;
	c->deadline_ms = deadline;
	return false;
}

/* When the message just read was sent, by CLOCK_MONOTONIC: from its kernel timestamp
 * (CLOCK_REALTIME, turned into an age), never later than now nor, a clock stepped forward
 * meanwhile, before its connection was accepted; a first message that waited before its
 * connection was accepted counts from then. */
static int64_t sent_at(struct client *c, struct msghdr *mh)
{
	int64_t now = now_ms(), sent = now;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			/* Never asked for: closed. */
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS ||
		    cm->cmsg_len < CMSG_LEN(sizeof(struct timespec)))
			continue;
		struct timespec ts, real;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		clock_gettime(CLOCK_REALTIME, &real);
		int64_t age = ((int64_t)real.tv_sec - (int64_t)ts.tv_sec) * 1000 +
			      (real.tv_nsec - ts.tv_nsec) / 1000000;
		if (age > 0)
			sent = now - age;
	}
	if (c->early_ms) {
		if (c->early_ms < sent)
			sent = c->early_ms;
		c->early_ms = 0;
	} else if (sent < c->accepted_ms) {
		sent = c->accepted_ms;
	}
	return sent;
}

/* The caller closed its end: whatever it asked, it no longer waits for the answer. (Not a
 * half close, POLLRDHUP alone: that caller may still read the reply.) */
static bool hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* After a successful request, in a worker: what pkishared now has registered through us. */
static void note_records(struct coordd *d, const struct coord_request *r)
{
	if (r->op != COORD_REGISTER && r->op != COORD_HOLD && r->op != COORD_RELEASE)
		return;
	pthread_mutex_lock(&d->records_lock);
	snprintf(d->node, sizeof(d->node), "%s", r->args.node);
	if (r->op == COORD_REGISTER) {
		d->registered = true;
		goto out;
	}
	for (size_t i = 0; i < d->n_held; i++)
		if (!strcmp(d->held[i], r->args.id)) {
			if (r->op == COORD_RELEASE)
				memmove(d->held[i], d->held[i + 1],
					(d->n_held-- - i - 1) * sizeof(d->held[0]));
			goto out;
		}
	if (r->op == COORD_HOLD && d->n_held < MAX_HELD)
		snprintf(d->held[d->n_held++], sizeof(d->held[0]), "%s", r->args.id);
out:
	pthread_mutex_unlock(&d->records_lock);
}

/* Whether pkishared has anything registered through us. */
static bool records_pending(struct coordd *d)
{
	pthread_mutex_lock(&d->records_lock);
	bool any = d->n_held || d->registered;
	pthread_mutex_unlock(&d->records_lock);
	return any;
}

/* pkishared has had no connection open for PKISHARED_GONE_MS: its holder and peer records
 * go (best effort, within 2 s; what fails stays until the lease collects it). They are
 * taken under the lock and withdrawn outside it. No worker notes one meanwhile: with no
 * connection open none has a request, and the main thread reads none until this is done,
 * so a pkishared that is back registers after the withdrawal, not before it. */
static void forget_pkishared(struct coordd *d)
{
	char node[COORD_TEXT_MAX + 1], held[MAX_HELD][33];
	pthread_mutex_lock(&d->records_lock);
	size_t n_held = d->n_held;
	bool registered = d->registered;
	memcpy(node, d->node, sizeof(node));
	memcpy(held, d->held, sizeof(held));
	d->n_held = 0;
	d->registered = false;
	pthread_mutex_unlock(&d->records_lock);
	int64_t deadline = now_ms() + 2000;
	for (size_t i = 0; i < n_held; i++) {
		struct coord_request r = {.op = COORD_RELEASE};
		json_t *res = NULL;
		enum coord_error e;
		char msg[COORD_MESSAGE_MAX];
		snprintf(r.args.id, sizeof(r.args.id), "%.32s", held[i]);
		snprintf(r.args.node, sizeof(r.args.node), "%s", node);
		if (ledger_etcd_handle(&d->ledger, &r, deadline, &res, &e, msg, sizeof(msg)) == 0)
			json_decref(res);
	}
	if (registered)
		(void)ledger_etcd_unregister(&d->ledger, node, deadline);
	fprintf(stderr,
		"pkishare-coordd: pkishared has not called for %d s: node %s's records withdrawn "
		"(%zu holder record(s)%s); it registers again when it is back\n",
		PKISHARED_GONE_MS / 1000, node, n_held,
		registered ? ", its peer registration" : "");
}

/* Read a caller's request, in the main thread: a bad one answered here, a good one handed
 * to the workers, its connection busy until one is done with it. */
static void read_request(struct coordd *d, struct client *c)
{
	char buf[COORD_MSG_MAX + 1], why[128];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	int64_t sent = sent_at(c, &mh);
	struct job j = {.c = c, .sent = sent};
	int rc = (size_t)n > COORD_MSG_MAX
		     ? -EBADMSG
		     : coordmsg_request_parse(buf, (size_t)n, &j.r, why, sizeof(why));
	/* The request's bytes may hold a join token's hash (tokenAdd, tokenUse). */
	secret_wipe(buf, sizeof(buf));
	if ((size_t)n > COORD_MSG_MAX)
		snprintf(why, sizeof(why), "a message over %d bytes", COORD_MSG_MAX);
	if (rc < 0) {
		reply_error(c, j.r.cookie,
			    rc == -EPROTO ? COORD_E_BAD_VERSION : COORD_E_BAD_REQUEST, why);
		secret_wipe(&j, sizeof(j));
		if (++c->bad > MAX_BAD) {
			fprintf(stderr, "pkishare-coordd: cut a caller after %d bad messages\n",
				MAX_BAD);
			client_close(c);
		}
		return;
	}
	struct pool *p = &d->pool;
	pthread_mutex_lock(&p->lock);
	/* Never full: a busy connection is not read, so there is one job per connection at
	 * most. */
	p->jobs[(p->head + p->n++) % MAX_CLIENTS] = j;
	c->busy = true;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	secret_wipe(&j, sizeof(j));
}

enum outcome { ANSWERED, DROP, PARK };

/* A request taken from the queue, in a worker: dropped if its caller hung up meanwhile,
 * answered "timeout" untried if its deadline passed while it waited, else decided by its
 * deadline and answered (a wait with no change yet: left to the main thread to park). */
static enum outcome decide(struct worker *w, const struct job *j)
{
	struct client *c = j->c;
	const struct coord_request *r = &j->r;
	char msg[COORD_MESSAGE_MAX];
	if (hung_up(c->fd)) {
		fprintf(stderr,
			"pkishare-coordd: dropped a request (%s): its caller hung up before it was "
			"decided\n",
			coord_op_name(r->op));
		return DROP;
	}
	int64_t now = now_ms(), deadline = j->sent + r->timeout_ms;
	if (deadline <= now) {
		fprintf(
		    stderr,
		    "pkishare-coordd: %s not attempted: it waited %lld ms in coordd's queue, past "
		    "its timeoutMs\n",
		    coord_op_name(r->op), (long long)(now - j->sent));
		snprintf(
		    msg, sizeof(msg),
		    "waited %lld ms in coordd's queue, past its timeoutMs; nothing was attempted",
		    (long long)(now - j->sent));
		reply_error(c, r->cookie, COORD_E_TIMEOUT, msg);
		return ANSWERED;
	}
	if (r->op == COORD_WAIT)
		return start_wait(w, c, r, deadline) ? ANSWERED : PARK;
	if (r->op == COORD_CONNECT) {
		handle_connect(w, c, r, deadline);
		return ANSWERED;
	}
	json_t *result = NULL;
	enum coord_error e = COORD_E_INTERNAL;
	if (ledger_etcd_handle(&w->ledger, r, deadline, &result, &e, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "pkishare-coordd: %s refused: %s: %s\n", coord_op_name(r->op),
			coord_error_name(e), msg);
		reply_error(c, r->cookie, e, msg);
		return ANSWERED;
	}
	note_records(w->d, r);
	reply_ok(c, r->cookie, result);
	return ANSWERED;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct pool *p = &w->d->pool;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->quit && !p->n)
			pthread_cond_wait(&p->more, &p->lock);
		if (p->quit) {
			/* What is still queued is abandoned: its connection closes. */
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct job j = p->jobs[p->head];
		secret_wipe(&p->jobs[p->head], sizeof(p->jobs[0]));
		p->head = (p->head + 1) % MAX_CLIENTS;
		p->n--;
		pthread_mutex_unlock(&p->lock);

		enum outcome o = decide(w, &j);

		struct client *c = j.c;
		secret_wipe(&j, sizeof(j));
		pthread_mutex_lock(&p->lock);
		c->busy = false;
		c->drop = o == DROP;
		c->park = o == PARK;
		pthread_mutex_unlock(&p->lock);
		uint64_t one = 1;
		/* Only fails when the counter is full (it never is: the main thread reads it). */
		if (write(p->wake_fd, &one, sizeof(one)) < 0)
			fprintf(stderr, "pkishare-coordd: cannot wake the main thread: %s\n",
				strerror(errno));
	}
}

/* The workers, each with its own etcd client (a libcurl handle is one thread's at a
 * time), started with SIGTERM and SIGINT blocked so that they reach the main thread's
 * poll. 0, or <0 (said). */
static int start_workers(struct coordd *d)
{
	struct pool *p = &d->pool;
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		int r = -errno;
		fprintf(stderr, "pkishare-coordd: cannot make an eventfd: %s\n", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < WORKERS; i++) {
		p->workers[i].d = d;
		int r = open_client(d, &p->workers[i].ledger);
		if (r < 0)
			return r;
	}
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int r = 0;
	for (size_t i = 0; i < WORKERS && r == 0; i++) {
		r = -pthread_create(&p->workers[i].thread, NULL, worker_run, &p->workers[i]);
		p->workers[i].started = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		fprintf(stderr, "pkishare-coordd: cannot start its workers: %s\n", strerror(-r));
	return r;
}

/* Stop the workers: each finishes the request it has (bounded by its deadline), the
 * queued ones are abandoned. */
static void stop_workers(struct coordd *d)
{
	struct pool *p = &d->pool;
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < WORKERS; i++) {
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
		p->workers[i].ledger.e = etcd_free(p->workers[i].ledger.e);
	}
	secret_wipe(p->jobs, sizeof(p->jobs));
	p->n = 0;
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	p->wake_fd = -1;
}

/* Take back what the workers are done with: a connection whose caller left is closed, a
 * wait with no change yet parked. ret_busy[i]: client i is still a worker's (not polled). */
static void take_back(struct coordd *d, bool ret_busy[MAX_CLIENTS])
{
	uint64_t wakes;
	int64_t from = INT64_MAX;
	/* Nonblocking: empty after one read. */
	(void)!read(d->pool.wake_fd, &wakes, sizeof(wakes));
	pthread_mutex_lock(&d->pool.lock);
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &d->clients[i];
		ret_busy[i] = c->fd >= 0 && c->busy;
		if (c->fd < 0 || c->busy)
			continue;
		if (c->drop) {
			client_close(c);
		} else if (c->park) {
			c->park = false;
			c->waiting = true;
			if ((int64_t)c->since + 1 < from)
				from = (int64_t)c->since + 1;
		}
	}
	pthread_mutex_unlock(&d->pool.lock);
	/* A watch from later than a new wait's since + 1 could miss its change. */
	if (d->watch && d->watch_from > from)
		d->watch = etcd_watch_free(d->watch);
}

/* Answer the parked waits that saw a change or ran out of time. */
static void settle_waits(struct coordd *d)
{
	int64_t now = now_ms();
	bool any = false;
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &d->clients[i];
		if (c->fd < 0 || !c->waiting)
			continue;
		bool changed = d->last_rev > (int64_t)c->since;
		if (changed || now >= c->deadline_ms) {
			c->waiting = false;
			reply_ok(c, c->cookie,
				 json_pack("{s:I, s:b}", "revision",
					   (json_int_t)(changed ? d->last_rev : (int64_t)c->since),
					   "changed", changed));
		} else {
			any = true;
		}
	}
	if (!any && d->watch) {
		d->watch = etcd_watch_free(d->watch);
		d->last_rev = 0;
	}
}

static void keepalive(struct coordd *d)
{
	enum coord_error e;
	if (now_ms() < d->next_keepalive_ms)
		return;
	d->next_keepalive_ms = now_ms() + d->conf.lease_ttl_s * 1000 / 3;
	/* Bounded short: with a member hung it would keep the main thread from reading
	 * requests (the workers go on with theirs). A failed one is tried again in a third of
	 * the lease's time. */
	int64_t budget = d->conf.lease_ttl_s * 1000 / 6;
	if (budget > KEEPALIVE_MAX_MS)
		budget = KEEPALIVE_MAX_MS;
	if (ledger_etcd_keepalive(&d->ledger, d->conf.lease_ttl_s, now_ms() + budget, &e) < 0)
		fprintf(stderr, "pkishare-coordd: cannot keep its etcd lease alive: %s; retrying\n",
			coord_error_name(e));
}

/* How long the loop may sleep: until the next keep-alive, watchdog ping or parked
 * wait's deadline. Idle, it wakes only for those. */
static int next_timeout(struct coordd *d)
{
	int64_t now = now_ms(), next = d->next_keepalive_ms;
	if (d->watchdog_ms && d->next_watchdog_ms < next)
		next = d->next_watchdog_ms;
	bool parked = false;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0 && d->clients[i].waiting) {
			parked = true;
			if (d->clients[i].deadline_ms < next)
				next = d->clients[i].deadline_ms;
		}
	/* pkishared gone a while: wake to withdraw its records. */
	bool any = false;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		any |= d->clients[i].fd >= 0;
	if (!any && d->last_client_ms + PKISHARED_GONE_MS < next && records_pending(d))
		next = d->last_client_ms + PKISHARED_GONE_MS;
	/* Waits parked and no watch (it failed): wake to open it again. */
	if (parked && !d->watch && d->watch_retry_at > now && d->watch_retry_at < next)
		next = d->watch_retry_at;
	int64_t left = next - now;
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void loop(struct coordd *d)
{
	while (!stopping) {
		struct pollfd pfd[MAX_CLIENTS + 2];
		size_t idx[MAX_CLIENTS + 2] = {0}, n = 0;
		bool busy[MAX_CLIENTS];
		take_back(d, busy);
		ensure_watch(d); /* for the waits just parked, before sleeping */
		pfd[n++] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = d->pool.wake_fd, .events = POLLIN};
		bool any = false;
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			if (d->clients[i].fd < 0)
				continue;
			any = true;
			/* A busy one is the worker's: a second request, or its caller's EOF, is
			 * read once the worker is done. A parked wait is polled: to see its
			 * caller hang up (EOF reads). */
			if (busy[i])
				continue;
			idx[n] = i;
			pfd[n++] = (struct pollfd){.fd = d->clients[i].fd, .events = POLLIN};
		}
		if (any)
			d->last_client_ms = now_ms();
		else if (now_ms() - d->last_client_ms >= PKISHARED_GONE_MS && records_pending(d))
			forget_pkishared(d);
		int timeout = next_timeout(d);
		if (d->watch) {
			struct curl_waitfd w[MAX_CLIENTS + 1];
			for (size_t i = 0; i < n; i++)
				w[i] = (struct curl_waitfd){.fd = pfd[i].fd,
							    .events = CURL_WAIT_POLLIN};
			int r = etcd_watch_poll(d->watch, w, (unsigned)n, timeout);
			for (size_t i = 0; i < n; i++)
				pfd[i].revents = (w[i].revents & CURL_WAIT_POLLIN) ? POLLIN : 0;
			if (r < 0) {
				d->watch_backoff_ms =
				    d->watch_backoff_ms ? d->watch_backoff_ms * 2 : 200;
				if (d->watch_backoff_ms > 5000)
					d->watch_backoff_ms = 5000;
				d->watch_retry_at = now_ms() + d->watch_backoff_ms;
				fprintf(stderr, "pkishare-coordd: %s; watching again in %lld ms\n",
					etcd_watch_why(d->watch), (long long)d->watch_backoff_ms);
				d->watch = etcd_watch_free(d->watch);
			}
		} else if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			break;
		}
		if (pfd[0].revents & POLLIN)
			accept_client(d);
		/* pfd[1], the workers' wake-up: read by take_back on the next pass. */
		for (size_t i = 2; i < n; i++) {
			struct client *c = &d->clients[idx[i]];
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) || c->fd < 0)
				continue;
			if (c->waiting) {
				/* One request per connection at a time: only its end is read. */
				char b;
				if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
					client_close(c);
				continue;
			}
			read_request(d, c);
		}
		settle_waits(d);
		ensure_watch(d);
		keepalive(d);
		if (d->watchdog_ms && now_ms() >= d->next_watchdog_ms) {
			sd_notify(0, "WATCHDOG=1");
			d->next_watchdog_ms = now_ms() + d->watchdog_ms;
		}
	}
}

/* How many keys are under the prefix: 0 means no node ever coordinated under it (right
 * for the first node; on any other, an etcd-prefix that differs from the other nodes'
 * makes a ledger of its own). <0 if etcd did not say within 2 s. */
static int64_t prefix_keys(struct coordd *d)
{
	char end[LEDGER_PREFIX_MAX + 2];
	uint64_t n = 0;
	struct etcd_error err = {0};
	etcd_prefix_end(d->ledger.prefix, end, sizeof(end));
	etcd_set_deadline(d->ledger.e, now_ms() + 2000);
	int r = etcd_range_count(d->ledger.e, d->ledger.prefix, end, &n, &err);
	etcd_set_deadline(d->ledger.e, 0);
	return r < 0 ? -1 : (int64_t)n;
}

static const char empty_prefix_advice[] =
    "right on the first node of a cluster; on any other, check that every node's "
    "coordd.conf names the same etcd-prefix (a different one keeps a ledger of its own: "
    "its own fetch counts and key ids)";

static int check(struct coordd *d)
{
	enum coord_error e;
	int64_t rev = 0;
	if (ledger_etcd_revision(&d->ledger, now_ms() + 5000, &rev, &e) < 0) {
		printf("pkishare-coordd: etcd at %s: %s\n", etcd_endpoint(d->ledger.e),
		       coord_error_name(e));
		return 1;
	}
	int64_t keys = prefix_keys(d);
	printf("pkishare-coordd: etcd at %s answers (revision %lld); prefix %s (%lld keys); "
	       "socket %s\n",
	       etcd_endpoint(d->ledger.e), (long long)rev, d->ledger.prefix, (long long)keys,
	       d->conf.socket);
	if (keys == 0)
		printf("pkishare-coordd: nothing is under prefix %s yet: %s\n", d->ledger.prefix,
		       empty_prefix_advice);
	return 0;
}

/* Everything after the settings: 0 when stopped (or --check found etcd), 1 when etcd or
 * the socket cannot be used. */
static int run(struct coordd *d)
{
	if (open_etcd(d) < 0)
		return 1;
	if (d->conf.check)
		return check(d);
	if (open_socket(d) < 0 || start_workers(d) < 0)
		return 1;
	/* The main thread's client only: the workers' calls leave the main thread free to
	 * accept. */
	etcd_set_idle(d->ledger.e, d->listen_fd, on_idle, d);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int64_t keys = prefix_keys(d);
	keepalive(d);
	fprintf(stderr, "pkishare-coordd: serving %s for etcd prefix %s at %s\n", d->conf.socket,
		d->conf.prefix, d->conf.endpoints[0]);
	if (keys == 0)
		fprintf(stderr,
			"pkishare-coordd: warning: nothing is under etcd prefix %s yet: %s\n",
			d->conf.prefix, empty_prefix_advice);
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ms = (int64_t)(wd_usec / 2000);
	sd_notifyf(0, "READY=1\nSTATUS=etcd prefix %s", d->conf.prefix);
	loop(d);
	sd_notify(0, "STOPPING=1");
	return 0;
}

static void coordd_done(struct coordd *d)
{
	/* First: the workers use the clients' connections and the credential. */
	stop_workers(d);
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0)
			close(d->clients[i].fd);
	etcd_watch_free(d->watch);
	etcd_free(d->ledger.e);
	secret_free(d->ca);
	secret_free(d->cert);
	secret_free(d->key);
	secret_free(d->password);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	coordd_conf_free(&d->conf);
	pthread_cond_destroy(&d->pool.more);
	pthread_mutex_destroy(&d->pool.lock);
	pthread_mutex_destroy(&d->records_lock);
}

int main(int argc, char **argv)
{
	struct coordd d = {.listen_fd = -1,
			   .pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
				    .more = PTHREAD_COND_INITIALIZER,
				    .wake_fd = -1},
			   .records_lock = PTHREAD_MUTEX_INITIALIZER};
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	if (secret_init() < 0 || secret_harden_process() < 0) {
		fprintf(stderr, "pkishare-coordd: cannot set up guarded memory\n");
		return 1;
	}
	secret_openssl_heap_init(SECRET_OPENSSL_HEAP_BYTES);
	int r = coordd_conf_load(&d.conf, argc, argv);
	int rc = r == 0 ? 0 : 2;
	if (r > 0)
		rc = run(&d);
	coordd_done(&d);
	return rc;
}
