/* Store throughput on one connection, for docs/storage.md: the same loop on
 * any backend, so SQLite and PostgreSQL figures compare.
 *
 *   bench_store URL [N]     (N operations of each kind, default 2000)
 *
 * URL must name an empty database (a new SQLite file, or a fresh
 * PostgreSQL database). Prints operations per second for: host add; nonce
 * add + consume (two commits); verdict with a history row
 * (store_host_set_trust, every other one entering red and raising an
 * alarm, the next one clearing it); claim 100 due hosts + release each.
 * Then the same verdicts through the storage writer thread
 * (store_writer.h), as the verifier writes them: one per commit (each
 * waited for) and grouped (all queued, one commit per group). Then, SQLite
 * only, what the verifier's event loop sees while another connection holds
 * the write lock for 3 s: reads (a host, a page of 100 hosts: what the API's
 * GETs run) with their p50/p99/max, a write on the loop's connection
 * (lock wait 250 ms: refused busy), and a verdict handed to the writer
 * (committed when the lock goes). */
#include "err.h"
#include "store.h"
#include "store_writer.h"

#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0 1700000000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(struct store *s, const char *what, int rc)
{
	fprintf(stderr, "bench_store: %s: %s (%s)\n", what, attest_strerror(rc),
	        s ? store_errmsg(s) : "");
	return 1;
}

struct vwork {
	int64_t host_id;
	long i;
	double done_at; /* when its completion ran */
	int rc;
};

static int verdict_work(struct store *s, void *arg)
{
	struct vwork *w = arg;
	struct store_verdict v = {.host_id = w->host_id,
	                          .trust = w->i % 2 ? STORE_TRUST_GREEN : STORE_TRUST_RED,
	                          .attested = true,
	                          .reasons_json = w->i % 2 ? "[]" : "[{\"code\":\"PCR_MISMATCH\"}]",
	                          .duration_ms = 12};
	return store_host_set_trust(s, &v, NULL, NULL, T0 + 4, NULL);
}

static long delivered;

static void verdict_done(void *arg, int rc, const char *msg)
{
	struct vwork *w = arg;
	w->rc = rc;
	w->done_at = now_s();
	if (rc < 0)
		fprintf(stderr, "bench_store: verdict through the writer: %s\n", msg);
	delivered++;
}

/* Run completions until `until` of them ran in all. */
static void wait_delivered(struct store_writer *w, long until)
{
	struct pollfd p = {.fd = store_writer_fd(w), .events = POLLIN};
	while (delivered < until) {
		(void)poll(&p, 1, 1000);
		(void)store_writer_deliver(w);
	}
}

/* n verdicts through the writer: each waited for (one per commit), or all
 * queued at once (group commits). Verdicts per second, 0 on failure. */
static double writer_verdicts(const char *url, const int64_t *ids, long n, bool grouped,
                              struct store_writer_stats *st)
{
	struct store_writer *w = NULL;
	char *err = NULL;
	if (store_writer_open(url, 0, &w, &err) < 0) {
		fprintf(stderr, "bench_store: writer: %s\n", err ? err : "cannot open");
		free(err);
		return 0;
	}
	struct vwork *v = calloc((size_t)n, sizeof *v);
	if (v == NULL)
		return 0;
	delivered = 0;
	double t = now_s();
	for (long i = 0; i < n; i++) {
		v[i] = (struct vwork){.host_id = ids[(i / 2) % n], .i = i};
		if (store_writer_submit(w, verdict_work, verdict_done, &v[i]) < 0)
			return 0;
		if (!grouped)
			wait_delivered(w, i + 1);
	}
	wait_delivered(w, n);
	t = now_s() - t;
	store_writer_stats(w, st);
	store_writer_close(w);
	int bad = 0;
	for (long i = 0; i < n; i++)
		bad |= v[i].rc < 0;
	free(v);
	return bad ? 0 : (double)n / t;
}

/* Another connection holding the write lock for 3 s. */
struct locker {
	const char *path;
	volatile int held; /* 1 taken, -1 failed */
};

static void *hold_lock(void *arg)
{
	struct locker *l = arg;
	sqlite3 *db = NULL;
	if (sqlite3_open(l->path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		l->held = -1;
		sqlite3_close(db);
		return NULL;
	}
	l->held = 1;
	sleep(3);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The event loop's view of a 3 s lock held by another connection. */
static void under_lock(const char *url, struct store *s, const int64_t *ids, long n)
{
	struct store_writer *w = NULL;
	char *err = NULL;
	if (store_writer_open(url, 0, &w, &err) < 0) {
		fprintf(stderr, "bench_store: writer: %s\n", err ? err : "cannot open");
		free(err);
		return;
	}
	(void)store_set_lock_wait(s, 250);
	struct locker l = {.path = url + strlen("sqlite:")};
	pthread_t th;
	if (pthread_create(&th, NULL, hold_lock, &l) != 0)
		return;
	while (l.held == 0)
		usleep(1000);
	if (l.held < 0) {
		pthread_join(th, NULL);
		store_writer_close(w);
		fprintf(stderr, "bench_store: could not take the lock\n");
		return;
	}
	double t0 = now_s();
	delivered = 0;
	struct vwork vw = {.host_id = ids[0], .i = 1};
	(void)store_writer_submit(w, verdict_work, verdict_done, &vw);
	double wt = now_s();
	int wrc = store_host_set_next_due(s, ids[1], T0 + 5, NULL, T0 + 5);
	wt = now_s() - wt;
	bool busy = wrc < 0 && store_busy(s);
	size_t cap = 100000, nr = 0;
	double *lat = calloc(cap, sizeof *lat);
	while (lat && now_s() - t0 < 2.5 && nr < cap) {
		double a = now_s();
		struct store_host *h = NULL;
		struct store_host_list *hl = NULL;
		struct store_page page = {.limit = 100};
		int rc = nr % 2 ? store_host_get(s, ids[nr % (size_t)n], &h)
		                : store_host_list(s, &page, &hl);
		lat[nr++] = now_s() - a;
		store_host_free(h);
		store_host_list_free(hl);
		if (rc < 0) {
			fprintf(stderr, "bench_store: read during the lock: %s\n", store_errmsg(s));
			break;
		}
	}
	pthread_join(th, NULL);
	wait_delivered(w, 1);
	store_writer_close(w);
	if (lat && nr > 0) {
		qsort(lat, nr, sizeof *lat, cmp_double);
		printf("%-44s %zu reads, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		       "reads on the loop's connection, 3 s lock", nr, lat[nr / 2] * 1e3,
		       lat[nr * 99 / 100] * 1e3, lat[nr - 1] * 1e3);
	}
	printf("%-44s %s in %.0f ms\n", "a write on the loop's connection",
	       busy       ? "refused busy"
	       : wrc == 0 ? "accepted (no lock?)"
	                  : "failed",
	       wt * 1e3);
	printf("%-44s %s %.2f s after it was queued\n", "a verdict through the writer",
	       vw.rc == 0 ? "committed" : "failed", vw.done_at - t0);
	free(lat);
}

int main(int argc, char **argv)
{
	struct store *s = NULL;
	char *err = NULL;
	long n = 2000;
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_store URL [N]\n");
		return 2;
	}
	if (argc == 3) {
		char *end = NULL;
		n = strtol(argv[2], &end, 10);
		if (!end || *end || n < 2 || n > 1000000) {
			fprintf(stderr, "bench_store: N must be 2..1000000\n");
			return 2;
		}
	}
	int rc = store_open(argv[1], &s, &err);
	if (rc) {
		fprintf(stderr, "bench_store: %s\n", err ? err : attest_strerror(rc));
		free(err);
		return 1;
	}
	int64_t *ids = calloc((size_t)n, sizeof(*ids));
	if (!ids)
		return 1;
	printf("backend %s, %ld operations each\n", store_backend_name(s), n);

	double t = now_s();
	for (long i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "bench-%06ld", i);
		struct store_host_new h = {
		    .name = name, .address = "10.0.0.1:8443", .interval_s = 60};
		if ((rc = store_host_add(s, &h, T0, &ids[i])))
			return die(s, "host add", rc);
	}
	printf("%-44s %10.0f /s\n", "host add", (double)n / (now_s() - t));

	t = now_s();
	for (long i = 0; i < n; i++) {
		uint8_t nonce[32] = {0};
		memcpy(nonce, &i, sizeof(i));
		if ((rc = store_nonce_add(s, ids[i], nonce, sizeof(nonce), T0, T0 + 30)))
			return die(s, "nonce add", rc);
		if ((rc = store_nonce_consume(s, ids[i], nonce, sizeof(nonce), T0 + 1)))
			return die(s, "nonce consume", rc);
	}
	printf("%-44s %10.0f pairs/s\n", "nonce add + consume (2 commits)",
	       (double)n / (now_s() - t));

	t = now_s();
	for (long i = 0; i < n; i++) {
		struct store_verdict v = {.host_id = ids[(i / 2) % n],
		                          .trust = i % 2 ? STORE_TRUST_GREEN : STORE_TRUST_RED,
		                          .attested = true,
		                          .reasons_json =
		                              i % 2 ? "[]" : "[{\"code\":\"PCR_MISMATCH\"}]",
		                          .duration_ms = 12};
		if ((rc = store_host_set_trust(s, &v, NULL, NULL, T0 + 2, NULL)))
			return die(s, "verdict", rc);
	}
	printf("%-44s %10.0f /s\n", "verdict + history (half raise alarms)",
	       (double)n / (now_s() - t));

	t = now_s();
	long done = 0;
	while (done < n) {
		struct store_host_list *l = NULL;
		if ((rc = store_claim_due_hosts(s, "bench", T0 + 3, 30, 100, &l)))
			return die(s, "claim", rc);
		if (l->n == 0) {
			store_host_list_free(l);
			break;
		}
		for (size_t j = 0; j < l->n; j++)
			if ((rc =
			         store_lease_release(s, l->v[j].id, "bench", T0 + 1000, 0, T0 + 3)))
				return die(s, "release", rc);
		done += (long)l->n;
		store_host_list_free(l);
	}
	printf("%-44s %10.0f hosts/s\n", "claim 100 + release each", (double)done / (now_s() - t));

	struct store_writer_stats st;
	double r1 = writer_verdicts(argv[1], ids, n, false, &st);
	printf("%-44s %10.0f /s\n", "verdict via the writer, one per commit", r1);
	double rg = writer_verdicts(argv[1], ids, n, true, &st);
	printf("%-44s %10.0f /s (%llu groups, largest %llu)\n", "verdict via the writer, grouped",
	       rg, (unsigned long long)st.groups, (unsigned long long)st.largest);
	if (strncmp(argv[1], "sqlite:", 7) == 0)
		under_lock(argv[1], s, ids, n);
	free(ids);
	store_close(s);
	return 0;
}
