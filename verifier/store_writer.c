/* The storage writer thread and its group commits (store_writer.h). */
#include "store_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "store_internal.h"

struct op {
	struct op *next;
	store_work_fn *work;
	store_done_fn *done;
	void *arg;
	int64_t at_ns; /* submitted (CLOCK_MONOTONIC) */
	size_t bytes;  /* windowed: the submitter's size hint */
	bool urgent;
	int rc;
	char msg[256];
};

struct opq {
	struct op *head, *tail;
	size_t n;
	size_t urgent; /* urgent works in it */
	size_t bytes;  /* the windowed works' size hints */
};

/* The apart lane (store_writer_submit_apart): a second thread and
 * connection that runs each apart work at once in a transaction of its own,
 * without the audit chain's head, beside the groups. */
struct apart {
	struct store *s;
	pthread_t thread;
	pthread_cond_t cv;
	struct opq waiting;
	int sync_want; /* as store_writer.sync_want, for this connection */
};

struct store_writer {
	struct store *s;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct opq waiting;  /* submitted, not yet run */
	struct apart *apart; /* NULL: apart works go with the groups */
	struct opq done;     /* run, completion not yet delivered */
	bool closing;
	int sync_want;        /* -1, or store_set_sync(full) to apply before the next group */
	int64_t window_ns;    /* how long windowed work may wait for company (0: not at all) */
	size_t window_bytes;  /* a group is due once its windowed works' sizes reach this */
	bool flush;           /* store_writer_flush(): the current window ends now */
	int pipe_rd, pipe_wr; /* a byte in it: completions are waiting */
	struct store_writer_stats st;
};

static int64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void q_push(struct opq *q, struct op *o)
{
	o->next = NULL;
	if (q->tail)
		q->tail->next = o;
	else
		q->head = o;
	q->tail = o;
	q->n++;
	q->urgent += o->urgent;
	q->bytes += o->bytes;
}

/* Move the whole of q out. */
static struct opq q_take(struct opq *q)
{
	struct opq all = *q;
	*q = (struct opq){0};
	return all;
}

static void op_fail(struct op *o, int rc, const char *msg)
{
	o->rc = rc;
	snprintf(o->msg, sizeof o->msg, "%s", msg);
}

/* One group: BEGIN, each work under its savepoint, COMMIT. apart: begun
 * without the audit chain's head (store_batch_begin_apart). */
static void run_group(struct store *s, bool apart, struct op *first, size_t n)
{
	int rc = apart ? store_batch_begin_apart(s) : store_batch_begin(s);
	if (rc) {
		for (struct op *o = first; n-- > 0; o = o->next)
			op_fail(o, rc, store_errmsg(s));
		return;
	}
	char broken[256] = "";
	size_t i = 0;
	for (struct op *o = first; i < n; o = o->next, i++) {
		if (broken[0] == '\0' && !store_batch_alive(s))
			snprintf(broken, sizeof broken,
			         "the group's transaction was rolled back by the database: %s",
			         store_errmsg(s));
		if (broken[0] == '\0' && store_batch_mark(s) < 0)
			snprintf(broken, sizeof broken, "%s", store_errmsg(s));
		if (broken[0] != '\0') {
			op_fail(o, ATTEST_E_IO, broken);
			continue;
		}
		o->rc = o->work(s, o->arg);
		if (o->rc < 0) {
			snprintf(o->msg, sizeof o->msg, "%s", store_errmsg(s));
			store_batch_undo(s);
		} else if (store_batch_keep(s) < 0) {
			op_fail(o, ATTEST_E_IO, store_errmsg(s));
			store_batch_undo(s);
		}
	}
	if (broken[0] == '\0' && !store_batch_alive(s))
		snprintf(broken, sizeof broken,
		         "the group's transaction was rolled back by the database: %s",
		         store_errmsg(s));
	if (broken[0] != '\0') {
		store_batch_rollback(s);
		rc = ATTEST_E_IO;
	} else if ((rc = store_batch_commit(s)) < 0)
		snprintf(broken, sizeof broken, "commit: %s", store_errmsg(s));
	if (rc == 0)
		return;
	/* Nothing of the group is in the database: every work failed. */
	i = 0;
	for (struct op *o = first; i < n; o = o->next, i++)
		if (o->rc >= 0)
			op_fail(o, rc, broken);
}

/* Whether the queued work must be committed now rather than wait for
 * more to share its commit. */
static bool group_due(const struct store_writer *w)
{
	return w->closing || w->flush || w->window_ns == 0 || w->waiting.urgent > 0 ||
	       w->waiting.n >= STORE_WRITER_BATCH_MAX || w->waiting.bytes >= w->window_bytes;
}

/* With only windowed work queued, wait (mu held) until the oldest of it
 * has waited the window, or the group is due for another reason
 * (group_due: urgent work, the size caps, a flush, closing). */
static void window_wait(struct store_writer *w)
{
	const struct op *head = w->waiting.head;
	int64_t deadline = head->at_ns + w->window_ns;
	while (!group_due(w)) {
		if (mono_ns() >= deadline)
			break;
		struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000),
		                      .tv_nsec = (long)(deadline % 1000000000)};
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
			break;
	}
	/* Windowed work committed before its time was up. */
	if (!head->urgent && w->window_ns > 0 && !w->closing && mono_ns() < deadline)
		w->st.cut++;
	w->flush = false;
}

/* Move works that ran (a list) to the completions and wake the caller's
 * thread if it had none waiting; mu held. */
static void ran(struct store_writer *w, struct op *first)
{
	bool was_empty = w->done.head == NULL;
	for (struct op *o = first, *nx; o; o = nx) {
		nx = o->next;
		if (o->rc < 0)
			w->st.failed++;
		q_push(&w->done, o);
	}
	if (was_empty) {
		ssize_t r;
		do
			r = write(w->pipe_wr, "x", 1);
		while (r < 0 && errno == EINTR);
		/* EAGAIN: the pipe is full of wake-ups already. */
	}
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->waiting.head == NULL && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->waiting.head == NULL)
			break;
		window_wait(w);
		/* Up to STORE_WRITER_BATCH_MAX from the front of the queue. */
		struct op *first = w->waiting.head, *last = first;
		size_t n = 1, urgent = first->urgent, bytes = first->bytes;
		while (n < STORE_WRITER_BATCH_MAX && last->next) {
			last = last->next;
			urgent += last->urgent;
			bytes += last->bytes;
			n++;
		}
		w->waiting.head = last->next;
		if (w->waiting.head == NULL)
			w->waiting.tail = NULL;
		w->waiting.n -= n;
		w->waiting.urgent -= urgent;
		w->waiting.bytes -= bytes;
		last->next = NULL;
		int sync_want = w->sync_want;
		w->sync_want = -1;
		pthread_mutex_unlock(&w->mu);

		/* Outside a transaction; failing, the commits stay as they were. */
		if (sync_want >= 0)
			(void)store_set_sync(w->s, sync_want == 1);
		run_group(w->s, false, first, n);

		pthread_mutex_lock(&w->mu);
		w->st.works += n;
		w->st.groups++;
		if (n > w->st.largest)
			w->st.largest = n;
		ran(w, first);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The apart lane's thread: each work alone, at once, in submission order. */
static void *apart_main(void *arg)
{
	struct store_writer *w = arg;
	struct apart *a = w->apart;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (a->waiting.head == NULL && !w->closing)
			pthread_cond_wait(&a->cv, &w->mu);
		struct op *o = a->waiting.head;
		if (o == NULL)
			break;
		a->waiting.head = o->next;
		if (a->waiting.head == NULL)
			a->waiting.tail = NULL;
		a->waiting.n--;
		o->next = NULL;
		int sync_want = a->sync_want;
		a->sync_want = -1;
		pthread_mutex_unlock(&w->mu);

		if (sync_want >= 0)
			(void)store_set_sync(a->s, sync_want == 1);
		/* One work per transaction: a renewal waiting for a row another
		 * group holds then holds nothing anyone waits for (a claim's rows
		 * beside it could close a cycle with that group). */
		run_group(a->s, true, o, 1);

		pthread_mutex_lock(&w->mu);
		w->st.works++;
		w->st.apart++;
		ran(w, o);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int apart_open(struct store_writer *w, const char *url, unsigned lock_ms, char **ret_err)
{
	struct apart *a = calloc(1, sizeof *a);
	if (a == NULL)
		return ATTEST_E_NOMEM;
	a->sync_want = -1;
	int rc = store_open(url, &a->s, ret_err);
	if (rc == 0 && lock_ms > 0)
		rc = store_set_lock_wait(a->s, lock_ms);
	if (rc < 0) {
		store_close(a->s);
		free(a);
		return rc;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&w->mu);
	w->apart = a;
	if (pthread_create(&a->thread, NULL, apart_main, w) != 0) {
		w->apart = NULL;
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&a->cv);
		store_close(a->s);
		free(a);
		return ATTEST_E_NOMEM;
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int store_writer_open(const char *url, unsigned lock_ms, struct store_writer **ret, char **ret_err)
{
	struct store_writer *w = calloc(1, sizeof *w);
	if (w == NULL)
		return ATTEST_E_NOMEM;
	w->pipe_rd = w->pipe_wr = -1;
	w->sync_want = -1;
	int rc = store_open(url, &w->s, ret_err);
	if (rc)
		goto fail;
	if (lock_ms > 0 && (rc = store_set_lock_wait(w->s, lock_ms)) < 0)
		goto fail;
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		rc = ATTEST_E_IO;
		goto fail;
	}
	w->pipe_rd = fds[0];
	w->pipe_wr = fds[1];
	w->window_bytes = STORE_WRITER_WINDOW_BYTES;
	pthread_mutex_init(&w->mu, NULL);
	/* The window's deadlines are on the monotonic clock. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		rc = ATTEST_E_NOMEM;
		goto fail;
	}
	w->started = true;
	/* PostgreSQL: lease claims and renewals need not queue behind the
	 * groups, which wait for the audit chain's head (store_batch_begin). */
	if (store_batch_takes_head(w->s) && (rc = apart_open(w, url, lock_ms, ret_err)) < 0) {
		store_writer_close(w);
		return rc;
	}
	*ret = w;
	return 0;
fail:
	if (w->pipe_rd >= 0) {
		close(w->pipe_rd);
		close(w->pipe_wr);
	}
	store_close(w->s);
	free(w);
	return rc;
}

void store_writer_set_sync(struct store_writer *w, bool full)
{
	pthread_mutex_lock(&w->mu);
	w->sync_want = full ? 1 : 0;
	if (w->apart)
		w->apart->sync_want = full ? 1 : 0;
	pthread_mutex_unlock(&w->mu);
}

int store_writer_fd(const struct store_writer *w)
{
	return w->pipe_rd;
}

static int submit(struct store_writer *w, store_work_fn *work, store_done_fn *done, void *arg,
                  bool urgent, size_t bytes)
{
	struct op *o = calloc(1, sizeof *o);
	if (o == NULL)
		return ATTEST_E_NOMEM;
	o->work = work;
	o->done = done;
	o->arg = arg;
	o->urgent = urgent;
	o->bytes = urgent ? 0 : bytes;
	o->at_ns = mono_ns();
	pthread_mutex_lock(&w->mu);
	if (w->closing) {
		pthread_mutex_unlock(&w->mu);
		free(o);
		return ATTEST_E_STATE;
	}
	q_push(&w->waiting, o);
	/* The thread sleeps without a deadline only on an empty queue; in a
	 * window it needs waking only when the group became due. */
	if (w->waiting.n == 1 || group_due(w))
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int store_writer_submit(struct store_writer *w, store_work_fn *work, store_done_fn *done, void *arg)
{
	return submit(w, work, done, arg, true, 0);
}

int store_writer_submit_apart(struct store_writer *w, store_work_fn *work, store_done_fn *done,
                              void *arg)
{
	if (w->apart == NULL) /* set before the writer is handed out, never changed */
		return submit(w, work, done, arg, true, 0);
	struct op *o = calloc(1, sizeof *o);
	if (o == NULL)
		return ATTEST_E_NOMEM;
	o->work = work;
	o->done = done;
	o->arg = arg;
	o->urgent = true;
	o->at_ns = mono_ns();
	pthread_mutex_lock(&w->mu);
	if (w->closing) {
		pthread_mutex_unlock(&w->mu);
		free(o);
		return ATTEST_E_STATE;
	}
	q_push(&w->apart->waiting, o);
	pthread_cond_signal(&w->apart->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

bool store_writer_has_apart(const struct store_writer *w)
{
	return w->apart != NULL;
}

int store_writer_submit_window(struct store_writer *w, store_work_fn *work, store_done_fn *done,
                               void *arg, size_t bytes)
{
	return submit(w, work, done, arg, false, bytes);
}

void store_writer_set_window(struct store_writer *w, unsigned ms, size_t bytes)
{
	pthread_mutex_lock(&w->mu);
	if (ms > STORE_WRITER_WINDOW_MAX_MS)
		ms = STORE_WRITER_WINDOW_MAX_MS;
	w->window_ns = (int64_t)ms * 1000000;
	w->window_bytes = bytes > 0 ? bytes : STORE_WRITER_WINDOW_BYTES;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void store_writer_flush(struct store_writer *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->waiting.head != NULL) {
		w->flush = true;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

size_t store_writer_deliver(struct store_writer *w)
{
	char buf[64];
	while (read(w->pipe_rd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&w->mu);
	struct opq q = q_take(&w->done);
	pthread_mutex_unlock(&w->mu);
	size_t n = 0;
	for (struct op *o = q.head, *nx; o; o = nx, n++) {
		nx = o->next;
		if (o->done)
			o->done(o->arg, o->rc, o->rc < 0 ? o->msg : "");
		free(o);
	}
	return n;
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *ret)
{
	pthread_mutex_lock(&w->mu);
	*ret = w->st;
	ret->queued = w->waiting.n + (w->apart ? w->apart->waiting.n : 0);
	pthread_mutex_unlock(&w->mu);
}

void store_writer_close(struct store_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->cv);
	if (w->apart)
		pthread_cond_signal(&w->apart->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (w->apart)
		pthread_join(w->apart->thread, NULL);
	(void)store_writer_deliver(w);
	if (w->apart) {
		pthread_cond_destroy(&w->apart->cv);
		store_close(w->apart->s);
		free(w->apart);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->pipe_rd);
	close(w->pipe_wr);
	store_close(w->s);
	free(w);
}
