/* What one kept-alive mutual-TLS client connection costs in memory, the
 * way the verifier holds one per agent (https_client_set_keepalive and
 * set_resumption). A server (the agents' side, a child process: its memory
 * is not counted) serves N hosts on 127.0.x.y addresses of one port; this
 * process makes one request to each and keeps the N connections parked,
 * then prints, per connection:
 *  - the heap it holds (glibc mallinfo2: in use, and free but held);
 *  - OpenSSL's live bytes (counted with CRYPTO_set_mem_functions), by the
 *    OpenSSL source file and line that allocated them;
 *  - libevent's live bytes (event_set_mem_functions);
 *  - the rest (the client's own bookkeeping, the kept TLS session).
 *
 *   bench_conn_mem [N=1000] [SITES=12]   env: CONN_MEM_SERVER_KEY=ed25519 (the
 *                                        server's identity has an Ed25519 key)
 *
 * Prints figures; asserts nothing. Not run by make bench (a few seconds). */
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "https.h"
#include "tlsid.h"

/* ---- counting allocators ---- */

struct hdr {
	uint32_t site;
	uint32_t lib; /* 0: OpenSSL, 1: libevent */
	uint64_t size;
};
#define HDR sizeof(struct hdr) /* 16: keeps malloc's alignment */

#define SITES 8192u
struct site {
	const char *file;
	int line;
	int64_t live_bytes, live_count;
	int64_t snap_bytes, snap_count;
};
static struct site sites[SITES];
static int64_t live[2], live_n[2];

static uint32_t site_of(const char *file, int line)
{
	uint32_t h = (uint32_t)(((uintptr_t)file >> 3) * 2654435761u) ^ (uint32_t)line * 40503u;
	for (uint32_t k = 0; k < SITES; k++) {
		struct site *s = &sites[(h + k) % SITES];
		if (s->file == file && s->line == line)
			return (h + k) % SITES;
		if (s->file == NULL && s->line == 0) {
			s->file = file ? file : "?";
			s->line = line;
			return (h + k) % SITES;
		}
	}
	return 0;
}

static void *count_in(void *raw, size_t n, uint32_t lib, uint32_t site)
{
	struct hdr *h = raw;
	if (!h)
		return NULL;
	h->site = site;
	h->lib = lib;
	h->size = n;
	live[lib] += (int64_t)n;
	live_n[lib]++;
	if (lib == 0) {
		sites[site].live_bytes += (int64_t)n;
		sites[site].live_count++;
	}
	return (char *)raw + HDR;
}

static struct hdr *count_out(void *p)
{
	struct hdr *h = (struct hdr *)((char *)p - HDR);
	live[h->lib] -= (int64_t)h->size;
	live_n[h->lib]--;
	if (h->lib == 0) {
		sites[h->site].live_bytes -= (int64_t)h->size;
		sites[h->site].live_count--;
	}
	return h;
}

static void *o_malloc(size_t n, const char *file, int line)
{
	return count_in(malloc(n + HDR), n, 0, site_of(file, line));
}

static void o_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p)
		free(count_out(p));
}

static void *o_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return o_malloc(n, file, line);
	if (n == 0) {
		o_free(p, file, line);
		return NULL;
	}
	struct hdr *h = count_out(p);
	uint32_t site = h->site;
	struct hdr *r = realloc(h, n + HDR);
	if (!r) { /* the old block stays: count it back */
		count_in(h, h->size, 0, site);
		return NULL;
	}
	return count_in(r, n, 0, site);
}

static void *e_malloc(size_t n)
{
	return count_in(malloc(n + HDR), n, 1, 0);
}

static void e_free(void *p)
{
	if (p)
		free(count_out(p));
}

static void *e_realloc(void *p, size_t n)
{
	if (!p)
		return e_malloc(n);
	if (n == 0) {
		e_free(p);
		return NULL;
	}
	struct hdr *h = count_out(p);
	size_t old = h->size;
	struct hdr *r = realloc(h, n + HDR);
	if (!r) {
		count_in(h, old, 1, 0);
		return NULL;
	}
	return count_in(r, n, 1, 0);
}

/* ---- the server (child process) ---- */

static void h_quote(struct https_request *req, void *arg)
{
	(void)arg;
	/* About the size of an agent's answer without its event log. */
	static char pad[4097];
	if (!pad[0])
		memset(pad, 'a', sizeof pad - 1);
	https_reply_json(req, 200, json_pack("{s:s}", "quote", pad));
}

static void serve(const struct tlsid *sid, unsigned n, int wfd)
{
	struct event_base *base = event_base_new();
	struct https_server *srv = NULL;
	struct https_server_config cfg = {
	    .listen = "0.0.0.0:0",
	    .identity = sid,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .max_connections = n + 64,
	    .max_per_peer = n + 64,
	    .keepalive_ms = 150000,
	    .session_cache = n + 16, /* as the agent and attest-swarm: stateful tickets */
	};
	char err[256];
	if (!base || https_server_new(base, &cfg, &srv, err, sizeof err) < 0) {
		fprintf(stderr, "bench_conn_mem: server: %s\n", err);
		_exit(1);
	}
	https_server_route(srv, "POST", "/v1/quote", h_quote, NULL);
	uint16_t port = https_server_port(srv);
	if (write(wfd, &port, sizeof port) != sizeof port)
		_exit(1);
	close(wfd);
	event_base_dispatch(base);
	_exit(0);
}

/* ---- the client (this process) ---- */

struct run {
	struct event_base *base;
	struct https_client *cli;
	uint16_t port;
	const char *pin;
	unsigned total, started, done, failed, window;
	char host[32];
};

static void on_done(const struct https_result *r, void *arg);

static void host_of(unsigned i, char *out, size_t len)
{
	unsigned a = i / 254;
	snprintf(out, len, "127.%u.%u.%u", 1 + a / 256, a % 256, i % 254 + 1);
}

static void launch(struct run *r)
{
	while (r->started < r->total && r->started - r->done < r->window) {
		char host[32];
		host_of(r->started, host, sizeof host);
		struct https_call call = {.host = host,
		                          .port = r->port,
		                          .method = "POST",
		                          .path = "/v1/quote",
		                          .body = (const uint8_t *)"{}",
		                          .body_len = 2,
		                          .verify = HTTPS_VERIFY_PIN,
		                          .pin = r->pin,
		                          .timeout_ms = 20000};
		r->started++;
		if (https_client_request(r->cli, &call, on_done, r) < 0) {
			r->failed++;
			r->done++;
		}
	}
}

static void on_done(const struct https_result *res, void *arg)
{
	struct run *r = arg;
	r->done++;
	if (res->error || res->status != 200) {
		if (r->failed++ < 3)
			fprintf(stderr, "bench_conn_mem: %s\n", res->message);
	}
	if (r->done == r->total)
		event_base_loopbreak(r->base);
	else
		launch(r);
}

static void run_requests(struct run *r, unsigned first, unsigned n)
{
	r->started = first;
	r->done = first;
	r->total = first + n;
	launch(r);
	event_base_dispatch(r->base);
	for (int i = 0; i < 5; i++)
		event_base_loop(r->base, EVLOOP_NONBLOCK);
}

static int cmp_site(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	int64_t dx = x->live_bytes - x->snap_bytes, dy = y->live_bytes - y->snap_bytes;
	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (!getenv("NO_SSL_HOOK") && !CRYPTO_set_mem_functions(o_malloc, o_realloc, o_free)) {
		fprintf(stderr, "bench_conn_mem: OpenSSL allocated before main\n");
		return 1;
	}
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned nsites = argc > 2 ? (unsigned)atoi(argv[2]) : 12;
	if (n == 0 || n > 60000)
		n = 1000;
	char dir[] = "/tmp/attest-bench-connmem-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	const char *sans[] = {"127.0.0.1", NULL};
	struct tlsid *sid = NULL, *cid = NULL;
	char err[256];
	/* CONN_MEM_SERVER_KEY=ed25519: the agents' identities have Ed25519 keys */
	const char *kt = getenv("CONN_MEM_SERVER_KEY");
	enum tlsid_key kind = kt && strcmp(kt, "ed25519") == 0 ? TLSID_KEY_ED25519 : TLSID_KEY_P256;
	if (tlsid_load_or_create_ex(dir, "server", sans, kind, &sid, err, sizeof err) < 0 ||
	    tlsid_load_or_create(dir, "client", NULL, &cid, err, sizeof err) < 0) {
		fprintf(stderr, "bench_conn_mem: %s\n", err);
		return 1;
	}
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		close(pfd[0]);
		serve(sid, n, pfd[1]);
	}
	close(pfd[1]);
	/* Here, not before the fork: the server's allocations are its own. */
	if (!getenv("NO_EV_HOOK"))
		event_set_mem_functions(e_malloc, e_realloc, e_free);
	struct run r = {.window = 16, .pin = sid->thumbprint};
	if (read(pfd[0], &r.port, sizeof r.port) != sizeof r.port) {
		fprintf(stderr, "bench_conn_mem: the server did not start\n");
		return 1;
	}
	r.base = event_base_new();
	if (https_client_new(r.base, cid, NULL, &r.cli, err, sizeof err) < 0) {
		fprintf(stderr, "bench_conn_mem: %s\n", err);
		return 1;
	}
	https_client_set_keepalive(r.cli, n + 64, 600000);
	https_client_set_resumption(r.cli, n + 64);
	/* Warm up: OpenSSL's and libevent's lazily made objects, on hosts
	 * that are not counted. */
	run_requests(&r, n + 1, 32);
	run_requests(&r, n + 1, 32); /* reused: the same hosts */
	malloc_trim(0);
	struct mallinfo2 m0 = mallinfo2();
	int64_t l0[2] = {live[0], live[1]}, c0[2] = {live_n[0], live_n[1]};
	for (unsigned i = 0; i < SITES; i++) {
		sites[i].snap_bytes = sites[i].live_bytes;
		sites[i].snap_count = sites[i].live_count;
	}
	struct https_client_stats s0;
	https_client_get_stats(r.cli, &s0);
	run_requests(&r, 0, n); /* new connections, parked */
	run_requests(&r, 0, n); /* each reused once, parked again: the steady state */
	struct https_client_stats s1;
	https_client_get_stats(r.cli, &s1);
	struct mallinfo2 m1 = mallinfo2();
	malloc_trim(0);
	struct mallinfo2 m2 = mallinfo2();
	double dn = n;
	double ossl = (double)(live[0] - l0[0]) / dn, ev = (double)(live[1] - l0[1]) / dn;
	double inuse = ((double)m1.uordblks - (double)m0.uordblks) / dn;
	/* the counting headers are not the libraries' own bytes */
	double hdrs = (double)((live_n[0] - c0[0]) + (live_n[1] - c0[1])) * HDR / dn;
	printf("bench_conn_mem: %u kept connections (idle %u, new %llu, reused %llu, resumed "
	       "%llu, failed %u); %s\n",
	       n, s1.idle, (unsigned long long)(s1.connections - s0.connections),
	       (unsigned long long)(s1.reused - s0.reused),
	       (unsigned long long)(s1.resumed - s0.resumed), r.failed,
	       OpenSSL_version(OPENSSL_VERSION));
	printf("  heap in use          %8.0f bytes/connection (mallinfo2 uordblks, less %.0f of "
	       "this program's counting headers)\n",
	       inuse - hdrs, hdrs);
	printf("    OpenSSL            %8.0f bytes in %.1f blocks\n", ossl,
	       (double)(live_n[0] - c0[0]) / dn);
	printf("    libevent           %8.0f bytes in %.1f blocks\n", ev,
	       (double)(live_n[1] - c0[1]) / dn);
	printf("    the rest           %8.0f bytes (the pool's entry, the kept session: %zu "
	       "bytes of DER each)\n",
	       inuse - hdrs - ossl - ev, s1.sessions ? s1.session_bytes / s1.sessions : 0);
	printf("  heap free but held   %8.0f bytes/connection before malloc_trim, %.0f after "
	       "(fordblks)\n",
	       ((double)m1.fordblks - (double)m0.fordblks) / dn,
	       ((double)m2.fordblks - (double)m0.fordblks) / dn);
	printf("  heap size            %8.0f bytes/connection (arena + mmapped)\n",
	       ((double)(m1.arena + m1.hblkhd) - (double)(m0.arena + m0.hblkhd)) / dn);
	printf("  OpenSSL by allocation site (bytes and blocks per connection):\n");
	qsort(sites, SITES, sizeof sites[0], cmp_site);
	for (unsigned i = 0; i < nsites && i < SITES; i++) {
		const struct site *s = &sites[i];
		int64_t b = s->live_bytes - s->snap_bytes, c = s->live_count - s->snap_count;
		if (b <= 0)
			break;
		const char *f = strstr(s->file, "/ssl/")      ? strstr(s->file, "/ssl/") + 1
		                : strstr(s->file, "/crypto/") ? strstr(s->file, "/crypto/") + 1
		                : strstr(s->file, "/providers/")
		                    ? strstr(s->file, "/providers/") + 1
		                    : s->file;
		printf("    %7.0f %5.2f  %s:%d\n", (double)b / dn, (double)c / dn, f, s->line);
	}
	/* The client's CPU per request on a kept connection (the verifier's
	 * side of a steady-state attestation's exchange): each host again. */
	struct timespec c0t, c1t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0t);
	for (int k = 0; k < 3; k++)
		run_requests(&r, 0, n);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1t);
	double cpu_us =
	    ((double)(c1t.tv_sec - c0t.tv_sec) * 1e6 + (double)(c1t.tv_nsec - c0t.tv_nsec) / 1e3) /
	    (3.0 * n);
	printf("  client CPU per request on a kept connection: %.1f us (%s)\n", cpu_us,
	       "4 KB answers, this process only");
	https_client_free(r.cli);
	event_base_free(r.base);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	tlsid_free(sid);
	tlsid_free(cid);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
