/* fetchq.c - fetches whose claim runs off the serving thread.
 *
 * Only when the ledger says its claim may wait (ledger.h, claim_waits; the one-node
 * ledger's never does, except in a test build made slow on purpose): a claim that cannot
 * wait is made inline by routes.c, without the thread hop. Otherwise the serving thread
 * takes a GET /v1/bundle, suspends its connection
 * (MHD_suspend_connection) and hands the claim to one of FETCHQ_WORKERS threads; the
 * worker runs it (it may wait: a claim may ask another system, and the test build can
 * make it slow on purpose), stores the outcome in the job and resumes the connection
 * (MHD_resume_connection, which wakes the serving loop through libmicrohttpd's ITC in
 * its fd set); the serving thread then answers from the outcome. So a claim that waits
 * stalls neither other connections nor the watchdog.
 *
 * Bounds: at most FETCHQ_MAX fetches wait or are being claimed; one more is answered 503
 * with Retry-After, without a suspend. A suspended fetch is exempt from the serving
 * loop's connection-max-age cut (identity.c); instead a job still queued when its
 * connection reaches that age is taken out (fetchq_expire, every pass of the serving
 * loop, and the worker's own look when it dequeues one) and answered 503 busy with
 * Retry-After, nothing counted; a claim in progress is answered. A client that has hung up while
 * its fetch waited in the queue is not claimed for (nothing counted); one that hangs up during its
 * claim is seen once the claim returns, before its answer is queued, and the slot is given back
 * (store_fetch_unless_gone: nothing counted, a bundle it had used up is current again). One that
 * hangs up after that, while the bytes are being sent, is counted: the answer had started. On stop
 * (and reload) queued fetches are resumed unclaimed and answered 503, claims in progress finish and
 * are answered, and only then does the serving loop stop, so libmicrohttpd never stops with a
 * suspended connection. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* A job that waited this long in the queue is looked at (has its client hung up?) before
 * its claim. */
#define FETCHQ_LOOK_AFTER_MS 20

/* Has the peer gone (FIN or reset)? Read without touching TLS: only the socket's state. */
static bool peer_gone(int fd)
{
	/* POLLRDHUP: a FIN (shutdown or close); POLLHUP/POLLERR: a reset or both sides shut. */
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};
	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Resume c and make the serving loop take another turn. libmicrohttpd's resume wakes its
 * loop through its ITC, but a resume that comes while the serving thread is still inside
 * the pass that suspended c (a claim that is quick) cancels the suspend instead, and c
 * would then be looked at again only when select() times out (a second, measured): our
 * own wake descriptor makes that turn at once. */
static void wake_serving(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	uint64_t one = 1;
	MHD_resume_connection(c);
	(void)!write(ctx->serve_wake_fd, &one, sizeof(one));
}

static void *worker_main(void *arg)
{
	struct fetchq *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->head)
			break;
		struct fetch_job *j = q->head;
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);

		/* A client that waited in the queue may have left meanwhile (one taken at once
		 * has not: no syscall spent on it); one that waited until its connection's max
		 * age is answered 503 rather than claimed for. */
		int64_t now = time_mono_ms();
		if (now >= j->deadline_ms)
			j->outcome = FETCH_JOB_TOO_LATE;
		else if (now - j->started_ms >= FETCHQ_LOOK_AFTER_MS && peer_gone(j->fd))
			j->outcome = FETCH_JOB_ABANDONED;
		else
			fetch_job_claim(j, true);
		/* After this the serving thread owns the job (and may free it). */
		wake_serving(j->ctx, j->c);

		pthread_mutex_lock(&q->lock);
		q->claiming--;
		if (q->gauge)
			atomic_store(q->gauge, q->claiming);
		pthread_cond_broadcast(&q->drained);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static bool job_peer_gone(void *arg)
{
	const struct fetch_job *j = arg;
	return peer_gone(j->fd);
}

void fetch_job_claim(struct fetch_job *j, bool look)
{
	if (j->token_refresh) {
		j->result = store_tokens_refresh(&j->ctx->store, j->started_ms);
		j->outcome = FETCH_JOB_CLAIMED;
		return;
	}
	if (j->peer_copy) {
		j->result = store_peer_current(&j->ctx->store, j->want);
		j->outcome = FETCH_JOB_CLAIMED;
		return;
	}
	if (j->token_use) {
		j->result = store_token_use(&j->ctx->store, j->token_id, j->token_hash, j->client);
		secret_wipe(j->token_hash, sizeof(j->token_hash));
		j->outcome = FETCH_JOB_CLAIMED;
		return;
	}
	j->res = store_fetch_unless_gone(&j->ctx->store, j->want[0] ? j->want : NULL, j->client,
					 j->cert[0] ? j->cert : NULL, j->source, j->peer,
					 look ? job_peer_gone : NULL, j, &j->blob, j->bid,
					 &j->fetch_no, &j->repeat, &j->gone_at);
	j->outcome = FETCH_JOB_CLAIMED;
}

int fetchq_start(struct fetchq *q, _Atomic uint64_t *gauge)
{
	/* The lock outlives a stop: libmicrohttpd's stop still completes (and releases)
	 * requests after the workers are gone. */
	if (!q->inited) {
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->wake, NULL);
		pthread_cond_init(&q->drained, NULL);
		q->inited = true;
	}
	pthread_mutex_lock(&q->lock);
	q->gauge = gauge;
	q->head = q->tail = NULL;
	q->busy = q->claiming = 0;
	q->stopping = false;
	q->n_workers = 0;
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < FETCHQ_WORKERS; i++) {
		int r = pthread_create(&q->workers[i], NULL, worker_main, q);
		if (r != 0) {
			fetchq_stop(q);
			return -r;
		}
		q->n_workers++;
	}
	q->running = true;
	return 0;
}

int fetchq_reserve(struct fetchq *q)
{
	int r = 0;
	pthread_mutex_lock(&q->lock);
	if (q->stopping)
		r = -ESHUTDOWN;
	else if (q->claiming >= FETCHQ_MAX)
		r = -EBUSY;
	else {
		q->busy++;
		q->claiming++;
	}
	if (r == 0 && q->gauge)
		atomic_store(q->gauge, q->claiming);
	pthread_mutex_unlock(&q->lock);
	return r;
}

void fetchq_release(struct fetchq *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->busy > 0)
		q->busy--;
	pthread_cond_broadcast(&q->drained);
	pthread_mutex_unlock(&q->lock);
}

void fetchq_push(struct fetchq *q, struct fetch_job *j)
{
	pthread_mutex_lock(&q->lock);
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

void fetchq_expire(struct fetchq *q, int64_t now_ms)
{
	pthread_mutex_lock(&q->lock);
	struct fetch_job **pp = &q->head, *prev = NULL;
	while (*pp) {
		struct fetch_job *j = *pp;
		if (now_ms < j->deadline_ms) {
			prev = j;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		if (q->tail == j)
			q->tail = prev;
		j->outcome = FETCH_JOB_TOO_LATE;
		q->claiming--;
		/* After this the serving thread owns the job (and may free it). */
		wake_serving(j->ctx, j->c);
	}
	if (q->gauge)
		atomic_store(q->gauge, q->claiming);
	pthread_cond_broadcast(&q->drained);
	pthread_mutex_unlock(&q->lock);
}

void fetchq_stop(struct fetchq *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	/* Queued, not yet claimed: back to the serving thread unclaimed. */
	while (q->head) {
		struct fetch_job *j = q->head;
		q->head = j->next;
		j->outcome = FETCH_JOB_STOPPING;
		wake_serving(j->ctx, j->c);
		q->claiming--;
	}
	if (q->gauge)
		atomic_store(q->gauge, q->claiming);
	q->tail = NULL;
	pthread_cond_broadcast(&q->wake);
	/* Claims in progress finish and resume their connections (as long as a claim
	 * takes: a claim that was made must be answered). */
	while (q->claiming > 0)
		pthread_cond_wait(&q->drained, &q->lock);
	/* The serving loop still runs: give the answers FETCHQ_STOP_ANSWER_MS to go out. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FETCHQ_STOP_ANSWER_MS / 1000;
	while (q->busy > 0 && pthread_cond_timedwait(&q->drained, &q->lock, &until) == 0)
		;
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < q->n_workers; i++)
		pthread_join(q->workers[i], NULL);
	q->n_workers = 0;
	q->running = false;
}

struct fetch_job *fetch_job_new(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct fetch_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	j->kind = REQ_FETCH;
	j->ctx = ctx;
	j->c = c;
	j->fd = ci ? ci->connect_fd : -1;
	j->started_ms = time_mono_ms();
	return j;
}

void fetch_job_suspend(struct fetch_job *j)
{
	/* Suspended before the worker can see it: a resume always follows a suspend. */
	j->reserved = true;
	j->deadline_ms = identity_fetch_suspended(j->ctx, j->c);
	MHD_suspend_connection(j->c);
	fetchq_push(&j->ctx->fetchq, j);
}

struct fetch_job *fetch_job_free(struct fetch_job *j)
{
	if (j) {
		if (j->reserved)
			fetchq_release(&j->ctx->fetchq);
		held_blob_unref(j->blob);
		secret_wipe(j->token_hash, sizeof(j->token_hash));
		free(j);
	}
	return NULL;
}
