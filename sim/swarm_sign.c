/* Quote signatures on a few worker threads (--sign-threads), so that the
 * verifier's quote requests, which arrive in batches, are signed side by
 * side as each host's own TPM would, instead of queueing behind each other
 * (and behind the TLS work) on the swarm's one event loop.
 *
 * A worker touches only its job: the AK (a reference of the job's own; each
 * signature its own EVP_MD_CTX/EVP_PKEY_CTX) and the job's buffers. Host
 * state, JSON and replies stay on the loop: a finished job goes to the done
 * list and the loop is woken through an eventfd, where the job's callback
 * sends the answer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "err.h"
#include "log.h"
#include "swarm.h"

struct swarm_signer {
	struct swarm *sw;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct swarm_sign_job *queue,
	    *queue_tail; /* jobs not yet taken by a worker, oldest first; under mu */
	struct swarm_sign_job *done, *done_tail; /* FIFO, under mu */
	bool stop;                               /* under mu */
	int efd;                                 /* a worker's "done" wakes the loop */
	struct event *ev;
	pthread_t *threads;
	unsigned nthreads; /* started */
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The signature itself, timed: the swarm's "signing ms/quote" is the CPU
 * time of the thread that made it (on a loaded machine a thread preempted
 * mid-signature would count others' time as its own); its wall time is
 * kept too. */
static void run(struct swarm_sign_job *j)
{
	uint64_t t0 = swarm_now_ns(), c0 = thread_cpu_ns();
	j->rc =
	    swarm_quote_sign(j->key, j->attest, j->attest_len, j->sig, sizeof j->sig, &j->sig_len);
	j->sign_ns = thread_cpu_ns() - c0;
	j->sign_wall_ns = swarm_now_ns() - t0;
}

/* On the loop: the job's accounting, then its callback (which frees it). */
static void finish(struct swarm *sw, struct swarm_sign_job *j)
{
	sw->sign_ns += j->sign_ns;
	sw->sign_wall_ns += j->sign_wall_ns;
	sw->sign_count++;
	EVP_PKEY_free(j->key);
	j->key = NULL;
	j->done(j, false);
}

static void *worker(void *arg)
{
	struct swarm_signer *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stop && !s->queue)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		struct swarm_sign_job *j = s->queue;
		s->queue = j->next;
		if (!s->queue)
			s->queue_tail = NULL;
		pthread_mutex_unlock(&s->mu);
		run(j);
		pthread_mutex_lock(&s->mu);
		j->next = NULL;
		if (s->done_tail)
			s->done_tail->next = j;
		else
			s->done = j;
		s->done_tail = j;
		/* The counter coalesces wake-ups: one read takes them all. A
		 * full counter (never, at 2^64 - 2) would only fail the write,
		 * and the loop is readable already then. */
		uint64_t one = 1;
		ssize_t w = write(s->efd, &one, sizeof one);
		(void)w;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct swarm_signer *s = arg;
	uint64_t n;
	(void)what;
	ssize_t r = read(fd, &n, sizeof n);
	(void)r;
	pthread_mutex_lock(&s->mu);
	struct swarm_sign_job *j = s->done;
	s->done = s->done_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	while (j) {
		struct swarm_sign_job *next = j->next;
		finish(s->sw, j);
		j = next;
	}
}

int swarm_signer_new(struct swarm *sw, unsigned threads, struct swarm_signer **ret)
{
	*ret = NULL;
	if (threads == 0)
		return 0; /* signed on the loop */
	struct swarm_signer *s = calloc(1, sizeof *s);
	if (!s)
		return ATTEST_E_NOMEM;
	s->sw = sw;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->threads = calloc(threads, sizeof *s->threads);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int rc = ATTEST_E_NOMEM;
	if (!s->threads || s->efd < 0 ||
	    !(s->ev = event_new(sw->base, s->efd, EV_READ | EV_PERSIST, on_done, s)) ||
	    event_add(s->ev, NULL) != 0)
		goto fail;
	for (; s->nthreads < threads; s->nthreads++) {
		int e = pthread_create(&s->threads[s->nthreads], NULL, worker, s);
		if (e) {
			log_error("cannot start a signing thread: %s", strerror(e));
			rc = ATTEST_E_IO;
			goto fail;
		}
	}
	*ret = s;
	return 0;
fail:
	swarm_signer_free(s);
	return rc;
}

void swarm_sign_submit(struct swarm *sw, struct swarm_sign_job *j)
{
	struct swarm_signer *s = sw->signer;
	j->next = NULL;
	if (!s) {
		run(j);
		finish(sw, j);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (s->queue_tail)
		s->queue_tail->next = j;
	else
		s->queue = j;
	s->queue_tail = j;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void drop(struct swarm_sign_job *j)
{
	while (j) {
		struct swarm_sign_job *next = j->next;
		EVP_PKEY_free(j->key);
		j->key = NULL;
		j->done(j, true);
		j = next;
	}
}

void swarm_signer_free(struct swarm_signer *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	/* No worker runs now: what is left was never answered. */
	drop(s->queue);
	drop(s->done);
	if (s->ev)
		event_free(s->ev);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->threads);
	free(s);
}
