/* bench_eventlog LOG...: in one process, parse + replay + content-check
 * throughput over the given logs, next to SHA-256 (EVP) over the same
 * bytes, the practical limit for anything that must read every byte. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "fileio.h"

#define SECONDS 2.0

struct input {
	const char *path;
	uint8_t *buf;
	size_t len;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 0: check every bank; else the verifier's quoted bank when the log has it. */
static uint16_t check_alg;

static bool eventlog_pcrs_bank_present(const struct eventlog *log, uint16_t alg)
{
	for (uint32_t b = 0; b < log->bank_count; b++)
		if (log->banks[b].alg == alg)
			return true;
	return false;
}

static int one_log(const struct input *in)
{
	struct eventlog *log = NULL;
	struct eventlog_pcrs pcrs;
	struct eventlog_checks *checks = NULL;
	int e = eventlog_parse(in->buf, in->len, &log, NULL);
	if (e == 0) {
		/* The verifier's path: replay the quoted bank only (a
		 * SHA-1-only log: all, i.e. its one bank). */
		uint16_t alg = check_alg;
		if (alg && !eventlog_pcrs_bank_present(log, alg))
			alg = 0;
		e = eventlog_replay_bank(log, alg, &pcrs);
	}
	if (e == 0) {
		e = eventlog_content_check_bank(log, check_alg, &checks);
		if (e == ATTEST_E_NOTFOUND) /* e.g. a SHA-1-only log: its one bank */
			e = eventlog_content_check(log, &checks);
	}
	eventlog_checks_free(checks);
	eventlog_free(log);
	return e;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_eventlog LOG...\n");
		return 2;
	}
	struct input *in = calloc((size_t)argc, sizeof *in);
	size_t n = 0, total = 0;
	if (!in)
		return 1;
	for (int i = 1; i < argc; i++) {
		struct input x = {argv[i], NULL, 0};
		if (fileio_read(argv[i], EVENTLOG_MAX_SIZE, &x.buf, &x.len) < 0) {
			fprintf(stderr, "bench_eventlog: cannot read %s\n", argv[i]);
			continue;
		}
		if (one_log(&x) < 0) {
			fprintf(stderr, "bench_eventlog: %s does not parse; left out\n", argv[i]);
			free(x.buf);
			continue;
		}
		in[n++] = x;
		total += x.len;
	}
	if (n == 0) {
		fprintf(stderr, "bench_eventlog: no usable logs\n");
		return 1;
	}

	/* parse + replay + content check: first as the verifier runs it
	 * (replay and content check in the quoted SHA-256 bank), then with
	 * every bank replayed and checked. */
	double ours_mbs[2], ours_logs[2], t0, t;
	for (int pass = 0; pass < 2; pass++) {
		check_alg = pass == 0 ? EVENTLOG_ALG_SHA256 : 0;
		size_t rounds = 0;
		t0 = now();
		do {
			for (size_t i = 0; i < n; i++)
				if (one_log(&in[i]) < 0)
					return 1;
			rounds++;
		} while ((t = now() - t0) < SECONDS);
		ours_mbs[pass] = (double)total * (double)rounds / t / 1e6;
		ours_logs[pass] = (double)n * (double)rounds / t;
	}

	/* SHA-256 over the same bytes, one digest per log */
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!md || !ctx)
		return 1;
	uint8_t out[32];
	unsigned int olen;
	size_t srounds = 0;
	t0 = now();
	do {
		for (size_t i = 0; i < n; i++)
			if (!EVP_DigestInit_ex2(ctx, md, NULL) ||
			    !EVP_DigestUpdate(ctx, in[i].buf, in[i].len) ||
			    !EVP_DigestFinal_ex(ctx, out, &olen))
				return 1;
		srounds++;
	} while ((t = now() - t0) < SECONDS);
	double sha_mbs = (double)total * (double)srounds / t / 1e6;

	printf("event logs: %zu files, %zu bytes\n", n, total);
	printf("parse+replay+content-check (SHA-256 bank): %8.1f MB/s  %9.0f logs/s\n", ours_mbs[0],
	       ours_logs[0]);
	printf("parse+replay+content-check (every bank):  %8.1f MB/s  %9.0f logs/s\n", ours_mbs[1],
	       ours_logs[1]);
	printf("SHA-256 (EVP) over the same bytes:         %8.1f MB/s  %9.0f logs/s\n", sha_mbs,
	       (double)n * (double)srounds / t);
	printf("ratio to SHA-256, SHA-256 bank (target >= 0.5): %.2f\n", ours_mbs[0] / sha_mbs);
	printf("ratio to SHA-256, every bank:                   %.2f\n", ours_mbs[1] / sha_mbs);
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	for (size_t i = 0; i < n; i++)
		free(in[i].buf);
	free(in);
	return 0;
}
