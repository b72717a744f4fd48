/* Store throughput on one connection, for docs/storage.md: the same loop on
 * any backend, so SQLite and PostgreSQL figures compare.
 *
 *   bench_store URL [N]     (N operations of each kind, default 2000)
 *
 * URL must name an empty database (a new SQLite file, or a fresh
 * PostgreSQL database). Prints operations per second for: host add; nonce
 * add + consume (two commits); verdict with a history row
 * (store_host_set_trust, every other one entering red and raising an
 * alarm, the next one clearing it); claim 100 due hosts + release each. */
#include "err.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	free(ids);
	store_close(s);
	return 0;
}
