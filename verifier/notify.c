/* The deliverer: sends the outbox's rows (store_notify.h) to their targets
 * from the event loop, never blocking it (docs/operations.md,
 * "Notifications").
 *
 * Once a second, when nothing is in flight, a short read on the loop's
 * connection asks whether a row is due; only then the storage writer
 * claims up to NOTIFY_BATCH rows with a lease (--lease-seconds, owner: this
 * instance), so an idle outbox costs no write. Each claimed row is sent
 * (webhook: HTTPS POST; syslog: a datagram, or a TCP/TLS stream framed by
 * octet counting) and its outcome written through the writer; the next
 * claim waits until every outcome is written. A verifier that dies holding
 * rows leaves them to the next claimer once the lease ran out: delivery is
 * at least once, and the idempotency key lets a receiver drop a repeat. */
#include "notify.h"

#include "err.h"
#include "log.h"
#include "notify_format.h"
#include "store_notify.h"
#include "verifier.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_BATCH      32
#define NOTIFY_TIMEOUT_MS 10000
#define NOTIFY_DEPTH_S    5 /* how often the queue depth gauges are read */

struct delivery;

struct notifier {
	struct verifier *v;
	struct event *tick;
	bool claiming, stopping;
	unsigned in_flight; /* claimed rows not yet finished */
	int64_t last_depth;
	struct notify_stats st;
	struct delivery *sending; /* being sent (not yet with the writer) */
	char hostname[256];
};

struct delivery {
	struct notifier *n;
	struct delivery *next, *prev; /* in n->sending while sending */
	bool is_sending, in_cb;
	struct store_delivery d; /* moved out of the claimed list */
	struct notify_url url;
	struct https_client *cli;
	struct bufferevent *bev;
	SSL_CTX *ssl_ctx;
	char *frame;
	size_t frame_len;
	bool connected;
	/* outcome */
	bool ok, permanent, dead;
	char error[256];
};

static void delivery_free(struct delivery *x)
{
	if (x->cli)
		https_client_free(x->cli);
	if (x->bev)
		bufferevent_free(x->bev);
	SSL_CTX_free(x->ssl_ctx);
	free(x->frame);
	store_delivery_clear(&x->d);
	free(x);
}

static void delivery_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	delivery_free(arg);
}

static void unlink_sending(struct delivery *x)
{
	if (!x->is_sending)
		return;
	if (x->prev)
		x->prev->next = x->next;
	else
		x->n->sending = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->is_sending = false;
}

/* --- the outcome, written through the storage writer --- */

static int result_work(struct store *s, void *arg)
{
	struct delivery *x = arg;
	return store_outbox_result(s, x->d.id, x->n->v->cfg.instance, x->ok, x->permanent, x->error,
	                           verifier_now(), &x->dead);
}

static void result_done(void *arg, int rc, const char *msg)
{
	struct delivery *x = arg;
	struct notifier *n = x->n;
	if (rc < 0 && rc != ATTEST_E_NOTFOUND)
		log_error("notification %s to %s: writing the outcome: %s", x->d.idem_key,
		          x->d.target, msg);
	else if (rc == 0 && x->ok)
		n->st.delivered++;
	else if (rc == 0) {
		n->st.failed++;
		if (x->dead) {
			n->st.dead_letters++;
			log_error(
			    "notification %s to %s is a dead letter after %lld attempt(s): %s",
			    x->d.idem_key, x->d.target, (long long)x->d.attempts + 1, x->error);
		} else
			log_info("notification %s to %s failed (%s); it will be tried again",
			         x->d.idem_key, x->d.target, x->error);
	}
	n->in_flight--;
	/* Inside a completion of its own HTTPS client (the writer refused the
	 * work at once): free it once that returned. */
	if (x->in_cb && !n->stopping &&
	    event_base_once(n->v->base, -1, EV_TIMEOUT, delivery_free_cb, x, NULL) == 0)
		return;
	delivery_free(x);
}

static void finish(struct delivery *x)
{
	unlink_sending(x);
	if (x->bev) { /* no more callbacks from the stream */
		bufferevent_setcb(x->bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(x->bev, EV_READ | EV_WRITE);
	}
	verifier_store_later(x->n->v, result_work, result_done, x);
}

static void fail(struct delivery *x, bool permanent, const char *why)
{
	x->ok = false;
	x->permanent = permanent;
	snprintf(x->error, sizeof(x->error), "%s", why);
	finish(x);
}

/* --- webhooks --- */

static void on_http(const struct https_result *res, void *arg)
{
	struct delivery *x = arg;
	char why[256];
	x->in_cb = true;
	if (res->error != HTTPS_OK) {
		snprintf(why, sizeof(why), "%s: %s", https_error_name(res->error), res->message);
		fail(x, false, why);
		return;
	}
	int cls = notify_http_class(res->status);
	if (cls == 0) {
		x->ok = true;
		finish(x);
		return;
	}
	/* A 4xx other than 408 and 429 says the request itself is refused:
	 * sending it again would get the same answer. */
	snprintf(why, sizeof(why), "HTTP %d%s", res->status,
	         cls == 2 ? " (refused: not retried)" : "");
	fail(x, cls == 2, why);
}

static void send_webhook(struct delivery *x)
{
	char errbuf[256], sig[NOTIFY_SIGNATURE_SIZE];
	const char *hdr[8];
	size_t h = 0;
	int rc = https_client_new(x->n->v->base, NULL, NULL, &x->cli, errbuf, sizeof errbuf);
	if (rc < 0) {
		fail(x, false, errbuf);
		return;
	}
	if (!x->d.thumbprint && https_client_add_ca_pem(x->cli, x->d.ca_pem) < 0) {
		fail(x, true, "the target's CA certificates cannot be used");
		return;
	}
	hdr[h++] = "Idempotency-Key";
	hdr[h++] = x->d.idem_key;
	hdr[h++] = "X-Attest-Event";
	hdr[h++] = x->d.kind;
	if (x->d.secret) {
		if (notify_sign(x->d.secret, x->d.secret_len, x->d.body, strlen(x->d.body), sig) <
		    0) {
			fail(x, false, "cannot sign the body");
			return;
		}
		hdr[h++] = "X-Attest-Signature";
		hdr[h++] = sig;
	}
	hdr[h] = NULL;
	struct https_call call = {
	    .host = x->url.host,
	    .port = x->url.port,
	    .method = "POST",
	    .path = x->url.path,
	    .body = x->d.body,
	    .body_len = strlen(x->d.body),
	    .content_type = "application/json",
	    .verify = x->d.thumbprint ? HTTPS_VERIFY_PIN : HTTPS_VERIFY_CA,
	    .pin = x->d.thumbprint,
	    .timeout_ms = NOTIFY_TIMEOUT_MS,
	    .max_response = 64 * 1024,
	    .headers = hdr,
	};
	rc = https_client_request(x->cli, &call, on_http, x);
	OPENSSL_cleanse(sig, sizeof sig);
	if (rc < 0)
		fail(x, rc == ATTEST_E_ARG, "the request cannot be made (bad address or pin)");
}

/* --- syslog --- */

static void send_unix(struct delivery *x)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char why[256];
	memcpy(sa.sun_path, x->url.path, strlen(x->url.path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(x, false, "socket() failed");
		return;
	}
	ssize_t w =
	    sendto(fd, x->frame, x->frame_len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	close(fd);
	if (w == (ssize_t)x->frame_len) {
		x->ok = true;
		finish(x);
		return;
	}
	snprintf(why, sizeof why, "%.120s: %s", x->url.path, w < 0 ? strerror(e) : "short write");
	fail(x, false, why);
}

static void on_stream_write(struct bufferevent *bev, void *arg)
{
	struct delivery *x = arg;
	if (x->connected && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		x->ok = true;
		finish(x);
	}
}

/* The pin of a tls:// target, checked once the handshake is over. */
static int check_pin(struct delivery *x)
{
	char seen[TLSID_THUMBPRINT_SIZE], want[TLSID_THUMBPRINT_SIZE];
	SSL *ssl = bufferevent_openssl_get_ssl(x->bev);
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (!peer || tlsid_thumbprint_of(peer, seen) < 0 ||
	    tlsid_thumbprint_parse(x->d.thumbprint, want) < 0 ||
	    !tlsid_thumbprint_equal(seen, want))
		return -1;
	return 0;
}

static void on_stream_event(struct bufferevent *bev, short what, void *arg)
{
	struct delivery *x = arg;
	char why[256];
	if (what & BEV_EVENT_CONNECTED) {
		if (x->url.scheme == NOTIFY_TLS && x->d.thumbprint && check_pin(x) < 0) {
			fail(x, false, "tls: the collector's certificate does not match the pin");
			return;
		}
		x->connected = true;
		if (bufferevent_write(bev, x->frame, x->frame_len) < 0) {
			fail(x, false, "out of memory");
			return;
		}
		bufferevent_enable(bev, EV_WRITE | EV_READ);
		return;
	}
	unsigned long ssl_err =
	    x->url.scheme == NOTIFY_TLS ? bufferevent_get_openssl_error(bev) : 0;
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "timeout: no answer within %u ms", NOTIFY_TIMEOUT_MS);
	else if (ssl_err)
		snprintf(why, sizeof why, "tls: %s", ERR_reason_error_string(ssl_err));
	else if (!x->connected)
		snprintf(why, sizeof why, "connect: %s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(why, sizeof why, "the collector closed the connection");
	ERR_clear_error();
	fail(x, false, why);
}

static int stream_tls(struct delivery *x, SSL **ret)
{
	x->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!x->ssl_ctx || SSL_CTX_set_min_proto_version(x->ssl_ctx, TLS1_2_VERSION) != 1)
		return -1;
	if (!x->d.thumbprint) {
		/* CA mode: the chain and the address in the certificate. */
		if (x->d.ca_pem) {
			BIO *bio = BIO_new_mem_buf(x->d.ca_pem, -1);
			X509 *c;
			int k = 0;
			while (bio && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
				k +=
				    X509_STORE_add_cert(SSL_CTX_get_cert_store(x->ssl_ctx), c) == 1;
				X509_free(c);
			}
			BIO_free(bio);
			ERR_clear_error();
			if (k == 0)
				return -1;
		} else if (SSL_CTX_set_default_verify_paths(x->ssl_ctx) != 1)
			return -1;
		SSL_CTX_set_verify(x->ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL *ssl = SSL_new(x->ssl_ctx);
	if (!ssl)
		return -1;
	if (!x->d.thumbprint &&
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), x->url.host) != 1) {
		SSL_free(ssl);
		return -1;
	}
	*ret = ssl;
	return 0;
}

static void send_stream(struct delivery *x)
{
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	char hp[NOTIFY_HOST_MAX + 16];
	SSL *ssl = NULL;
	snprintf(hp, sizeof hp, strchr(x->url.host, ':') ? "[%s]:%u" : "%s:%u", x->url.host,
	         (unsigned)x->url.port);
	if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)&ss, &sl) < 0) {
		fail(x, true, "bad collector address");
		return;
	}
	if (x->url.scheme == NOTIFY_TLS) {
		if (stream_tls(x, &ssl) < 0) {
			ERR_clear_error();
			fail(x, true, "tls: cannot set up TLS with the target's settings");
			return;
		}
		x->bev = bufferevent_openssl_socket_new(
		    x->n->v->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		x->bev = bufferevent_socket_new(x->n->v->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!x->bev) {
		fail(x, false, "out of memory");
		return;
	}
	struct timeval tv = {.tv_sec = NOTIFY_TIMEOUT_MS / 1000};
	bufferevent_set_timeouts(x->bev, &tv, &tv);
	bufferevent_setcb(x->bev, NULL, on_stream_write, on_stream_event, x);
	if (bufferevent_socket_connect(x->bev, (struct sockaddr *)&ss, sl) < 0)
		fail(x, false, "connect: cannot start the connection");
}

/* --- claims --- */

static void start(struct notifier *n, struct store_delivery *d)
{
	char why[256];
	struct delivery *x = calloc(1, sizeof *x);
	if (!x) {
		store_delivery_clear(d);
		return; /* the lease runs out: sent later */
	}
	x->n = n;
	x->d = *d;
	memset(d, 0, sizeof *d);
	n->in_flight++;
	x->next = n->sending;
	if (n->sending)
		n->sending->prev = x;
	n->sending = x;
	x->is_sending = true;
	if (notify_url_parse(x->d.url, &x->url, why, sizeof why) < 0) {
		fail(x, true, why);
		return;
	}
	if (x->url.scheme == NOTIFY_HTTPS) {
		send_webhook(x);
		return;
	}
	if (notify_syslog_message(x->d.body, n->hostname, x->url.scheme != NOTIFY_UNIX, &x->frame,
	                          &x->frame_len) < 0) {
		fail(x, true, "the stored document is not JSON");
		return;
	}
	if (x->url.scheme == NOTIFY_UNIX)
		send_unix(x);
	else
		send_stream(x);
}

struct claim {
	struct notifier *n;
	struct store_delivery_list *l;
};

static int claim_work(struct store *s, void *arg)
{
	struct claim *c = arg;
	struct verifier *v = c->n->v;
	return store_outbox_claim(s, v->cfg.instance, verifier_now(), v->cfg.lease_s, NOTIFY_BATCH,
	                          &c->l);
}

static void claim_done(void *arg, int rc, const char *msg)
{
	struct claim *c = arg;
	struct notifier *n = c->n;
	n->claiming = false;
	if (rc < 0)
		log_error("claiming notifications: %s", msg);
	for (size_t i = 0; rc == 0 && c->l && i < c->l->n; i++)
		if (!n->stopping)
			start(n, &c->l->v[i]);
	store_delivery_list_free(c->l);
	free(c);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct notifier *n = arg;
	struct verifier *v = n->v;
	int64_t now = verifier_now();
	bool due = false;
	if (n->stopping)
		return;
	if (now - n->last_depth >= NOTIFY_DEPTH_S) {
		n->last_depth = now;
		(void)store_outbox_depth(v->store, &n->st.queued, &n->st.dead);
	}
	if (n->claiming || n->in_flight > 0)
		return;
	if (store_outbox_due(v->store, now, &due) < 0 || !due)
		return;
	struct claim *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->n = n;
	n->claiming = true;
	verifier_store_later(v, claim_work, claim_done, c);
}

int notify_start(struct verifier *v)
{
	struct notifier *n = calloc(1, sizeof *n);
	if (!n)
		return ATTEST_E_NOMEM;
	n->v = v;
	if (gethostname(n->hostname, sizeof n->hostname - 1) != 0)
		n->hostname[0] = '\0';
	n->tick = event_new(v->base, -1, EV_PERSIST, on_tick, n);
	struct timeval tv = {.tv_sec = 1};
	if (!n->tick || event_add(n->tick, &tv) < 0) {
		if (n->tick)
			event_free(n->tick);
		free(n);
		return ATTEST_E_NOMEM;
	}
	v->notifier = n;
	/* What an earlier run under this --instance name held when it died. */
	if (store_outbox_release(v->store, v->cfg.instance) < 0)
		log_error("releasing this instance's notification leases: %s",
		          store_errmsg(v->store));
	return 0;
}

void notify_stop(struct verifier *v)
{
	struct notifier *n = v->notifier;
	if (!n)
		return;
	n->stopping = true;
	event_del(n->tick);
	while (n->sending) {
		struct delivery *x = n->sending;
		unlink_sending(x);
		n->in_flight--;
		delivery_free(x);
	}
}

void notify_free(struct verifier *v)
{
	struct notifier *n = v->notifier;
	if (!n)
		return;
	notify_stop(v);
	event_free(n->tick);
	free(n);
	v->notifier = NULL;
}

void notify_get_stats(struct verifier *v, struct notify_stats *ret)
{
	if (v->notifier)
		*ret = v->notifier->st;
	else
		*ret = (struct notify_stats){0};
}
