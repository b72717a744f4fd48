/* HTTPS transport on loopback: requests per second over one kept-alive TLS
 * connection, against a new TLS handshake (mutual TLS, P-256) per request,
 * sequential and with 32 in flight. The server runs on its own thread and
 * event loop, as in the agent. Prints figures; asserts nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "https.h"
#include "tlsid.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void h_ping(struct https_request *req, void *arg)
{
	https_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

struct srv {
	struct event_base *base;
	volatile int stop;
};

static void check_stop(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	if (s->stop)
		event_base_loopbreak(s->base);
}

static void *serve(void *arg)
{
	struct srv *s = arg;
	struct event *ev = event_new(s->base, -1, EV_PERSIST, check_stop, s);
	struct timeval tv = {0, 20000};
	event_add(ev, &tv);
	event_base_dispatch(s->base);
	event_free(ev);
	return NULL;
}

/* One blocking TLS connection, n keep-alive requests. */
static double keepalive(uint16_t port, const struct tlsid *id, int n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_use_certificate(ctx, id->cert);
	SSL_CTX_use_PrivateKey(ctx, id->key);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	double rate = -1;
	if (SSL_connect(ssl) == 1) {
		static const char rq[] = "GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n";
		double t0 = now_s();
		int ok = 0;
		for (int i = 0; i < n; i++) {
			if (SSL_write(ssl, rq, sizeof rq - 1) <= 0)
				break;
			char buf[4096];
			size_t len = 0;
			/* read headers, then Content-Length bytes */
			for (;;) {
				int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
				if (r <= 0)
					goto done;
				len += (size_t)r;
				buf[len] = 0;
				char *end = strstr(buf, "\r\n\r\n");
				char *cl = strcasestr(buf, "Content-Length:");
				if (end && cl &&
				    len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
					break;
			}
			ok++;
		}
	done:
		rate = ok / (now_s() - t0);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rate;
}

struct flight {
	struct https_client *cli;
	struct https_call call;
	int started, done, failed, total, window;
	struct event_base *base;
};

static void on_done(const struct https_result *r, void *arg);

static void launch(struct flight *f)
{
	while (f->started < f->total && f->started - f->done < f->window) {
		f->started++;
		if (https_client_request(f->cli, &f->call, on_done, f) < 0) {
			f->failed++;
			f->done++;
		}
	}
}

static void on_done(const struct https_result *r, void *arg)
{
	struct flight *f = arg;
	f->done++;
	if (r->error || r->status != 200)
		f->failed++;
	if (f->done == f->total)
		event_base_loopbreak(f->base);
	else
		launch(f);
}

enum reuse { FRESH, RESUMED, POOLED };

static double thread_cpu_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static clockid_t server_clock;

/* CPU ms per request of the last handshakes() run: the client's (this
 * thread: the verifier's side) and the server's (the agent's side). */
static double cli_ms, srv_ms;
static unsigned long long last_resumed;
static size_t last_session_bytes;

static double handshakes(uint16_t port, const struct tlsid *id, const char *pin, int n, int window,
                         int *failed, enum reuse how)
{
	struct flight f = {.total = n, .window = window};
	f.base = event_base_new();
	https_client_new(f.base, id, NULL, &f.cli, NULL, 0);
	if (how == RESUMED)
		https_client_set_resumption(f.cli, 16);
	if (how == POOLED)
		https_client_set_keepalive(f.cli, 64, 0);
	f.call = (struct https_call){.host = "127.0.0.1",
	                             .port = port,
	                             .path = "/v1/ping",
	                             .verify = HTTPS_VERIFY_PIN,
	                             .pin = pin};
	double t0 = now_s(), c0 = thread_cpu_s(CLOCK_THREAD_CPUTIME_ID),
	       s0 = thread_cpu_s(server_clock);
	launch(&f);
	event_base_dispatch(f.base);
	double dt = now_s() - t0;
	cli_ms = (thread_cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3 / (f.done ? f.done : 1);
	srv_ms = (thread_cpu_s(server_clock) - s0) * 1e3 / (f.done ? f.done : 1);
	struct https_client_stats st;
	https_client_get_stats(f.cli, &st);
	last_resumed = st.resumed;
	if (st.sessions)
		last_session_bytes = st.session_bytes / st.sessions;
	https_client_free(f.cli);
	event_base_free(f.base);
	*failed = f.failed;
	return f.done / dt;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	if (n <= 0)
		n = 2000;
	char dir[] = "/tmp/attest-bench-https-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	const char *sans[] = {"127.0.0.1", NULL};
	struct tlsid *sid = NULL, *cid = NULL;
	char err[256];
	if (tlsid_load_or_create(dir, "server", sans, &sid, err, sizeof err) < 0 ||
	    tlsid_load_or_create(dir, "client", NULL, &cid, err, sizeof err) < 0) {
		fprintf(stderr, "bench_https: %s\n", err);
		return 1;
	}
	struct srv s = {.base = event_base_new()};
	struct https_server_config cfg = {
	    .listen = "127.0.0.1:0", .identity = sid, .client_cert = HTTPS_CLIENT_CERT_REQUIRED};
	struct https_server *srv = NULL;
	if (https_server_new(s.base, &cfg, &srv, err, sizeof err) < 0) {
		fprintf(stderr, "bench_https: %s\n", err);
		return 1;
	}
	https_server_route(srv, "GET", "/v1/ping", h_ping, NULL);
	uint16_t port = https_server_port(srv);
	/* The same with the sessions kept by the server (an agent's setting):
	 * small tickets, no client certificate parsed on resumption. */
	struct https_server *srv2 = NULL;
	cfg.session_cache = 64;
	if (https_server_new(s.base, &cfg, &srv2, err, sizeof err) < 0) {
		fprintf(stderr, "bench_https: %s\n", err);
		return 1;
	}
	https_server_route(srv2, "GET", "/v1/ping", h_ping, NULL);
	uint16_t port2 = https_server_port(srv2);
	pthread_t th;
	pthread_create(&th, NULL, serve, &s);
	pthread_getcpuclockid(th, &server_clock);

	int f1 = 0, f2 = 0, f3 = 0, f4 = 0;
	double ka = keepalive(port, cid, n);
	if (getenv("BENCH_HTTPS_RESUMED_ONLY")) { /* for a profile of resumed handshakes */
		int fr = 0;
		double r = handshakes(port, cid, sid->thumbprint, n, 1, &fr, RESUMED);
		printf("resumed: %.0f requests/s, CPU ms per request client %.3f server %.3f, %llu "
		       "resumed, session kept in %zu bytes\n",
		       r, cli_ms, srv_ms, last_resumed, last_session_bytes);
		r = handshakes(port2, cid, sid->thumbprint, n, 1, &fr, RESUMED);
		printf("resumed, server-side session cache: %.0f requests/s, CPU ms per request "
		       "client %.3f server %.3f, %llu resumed, session kept in %zu bytes\n",
		       r, cli_ms, srv_ms, last_resumed, last_session_bytes);
		n = 0;
	}
	double cpu[3][2];
	double seq = handshakes(port, cid, sid->thumbprint, n / 4, 1, &f1, FRESH);
	cpu[0][0] = cli_ms, cpu[0][1] = srv_ms;
	double par = handshakes(port, cid, sid->thumbprint, n / 2, 32, &f2, FRESH);
	double res = handshakes(port, cid, sid->thumbprint, n / 4, 1, &f3, RESUMED);
	cpu[1][0] = cli_ms, cpu[1][1] = srv_ms;
	unsigned long long resumed = last_resumed;
	size_t sess_bytes = last_session_bytes;
	int f5 = 0;
	double res2 = handshakes(port2, cid, sid->thumbprint, n / 4, 1, &f5, RESUMED);
	double cpu2[2] = {cli_ms, srv_ms};
	size_t sess_bytes2 = last_session_bytes;
	unsigned long long resumed2 = last_resumed;
	double pool = handshakes(port, cid, sid->thumbprint, n, 1, &f4, POOLED);
	cpu[2][0] = cli_ms, cpu[2][1] = srv_ms;
	printf("HTTPS on loopback, mutual TLS with P-256 certificates (server and client on 2 "
	       "threads)\n");
	printf("  one TLS connection, keep-alive, sequential : %8.0f requests/s (%d requests)\n",
	       ka, n);
	printf("  new TLS handshake per request, sequential  : %8.0f requests/s (%d requests, %d "
	       "failed)\n",
	       seq, n / 4, f1);
	printf("  new TLS handshake per request, 32 in flight: %8.0f requests/s (%d requests, %d "
	       "failed)\n",
	       par, n / 2, f2);
	printf("  resumed TLS session per request, sequential: %8.0f requests/s (%d requests, %d "
	       "failed, %llu resumed; https_client_set_resumption)\n",
	       res, n / 4, f3, resumed);
	printf("  resumed, sessions kept by the server     : %8.0f requests/s (%d requests, %d "
	       "failed, %llu resumed; https_server_config.session_cache, as the agent)\n",
	       res2, n / 4, f5, resumed2);
	printf("  attest client's kept-alive pool, sequential: %8.0f requests/s (%d requests, %d "
	       "failed; https_client_set_keepalive, as the verifier)\n",
	       pool, n, f4);
	printf(
	    "  CPU ms per request, client (verifier) / server (agent): new handshake %.3f / %.3f, "
	    "resumed %.3f / %.3f, kept-alive %.3f / %.3f\n",
	    cpu[0][0], cpu[0][1], cpu[1][0], cpu[1][1], cpu[2][0], cpu[2][1]);
	printf("  resumed with sessions kept by the server: %.3f / %.3f; a session kept by the "
	       "client: %zu bytes (stateless ticket), %zu (server-side session)\n",
	       cpu2[0], cpu2[1], sess_bytes, sess_bytes2);
	if (seq > 0)
		printf("  keep-alive / handshake (sequential)       : %8.1fx\n", ka / seq);

	s.stop = 1;
	pthread_join(th, NULL);
	https_server_free(srv);
	https_server_free(srv2);
	event_base_free(s.base);
	tlsid_free(sid);
	tlsid_free(cid);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
