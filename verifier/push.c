/* The push carrier (docs/protocol.md, "Push carrier"): agents that accept no
 * inbound connection keep a long poll open to `--push-listen`, and a job's
 * requests to such a host's agent go down that poll instead of over a
 * connection the verifier opens. Everything above the carrier (the job's
 * requests, the answers' parsing and verification) is the same as in pull
 * mode: job_request() hands a push host's request to push_request().
 *
 * One channel per push host that polls this instance, found by the client
 * certificate's thumbprint, which must be the one pinned on a host added
 * with mode push (anything else: 403 and an event, nothing changed). A
 * channel holds at most one poll (the agent's open request, answered with
 * the next request or 204 after the hold: the poll's ?wait=S, 1 to
 * PUSH_HOLD_MAX_S, or PUSH_HOLD_S without one) and at most one call (the
 * job's request, carried with a random id; the agent's answer must name
 * that id, on the same host's channel, or it is refused).
 *
 * Idle cost per agent: one TLS connection in evhttp plus this struct. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "bundle.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "verifier.h"

#define PUSH_HOLD_S        25    /* a poll without ?wait= is held at most this long, then 204 */
#define PUSH_HOLD_MAX_S    300   /* the longest hold a poll may ask for (?wait=S) */
#define PUSH_GRACE_S       15    /* a channel without a poll for its hold + GRACE is gone */
#define PUSH_SWEEP_S       5     /* dead channels looked for (and push_seen renewed), at most */
#define PUSH_RECHECK_S     60    /* a channel's host is read from the store again after */
#define PUSH_HELLO_EVERY_S 10    /* a hello makes the host due at once at most this often */
#define PUSH_BUCKETS       4096u /* hash buckets (by host id and by thumbprint) */
#define PUSH_REFUSED_LOG   32    /* refused thumbprints remembered (one event a minute each) */
#define PUSH_ID_HEX        32    /* request ids: 16 random bytes in hex */
#define PUSH_MAX_BODY      (BUNDLE_MAX_SIZE + 64u * 1024u) /* a quote answer with its log */
/* Pushing agents may all sit behind one NAT address: the budget is shared by
 * connection count, not by address. */
#define PUSH_MAX_CONNECTIONS 20000u

struct push_call {
	char id[PUSH_ID_HEX + 1];
	char *method, *path;
	json_t *body; /* the request body, or NULL */
	bool sent;    /* handed to the agent in a poll answer */
	bool retry_safe;
	https_done_fn done;
	void *arg;
	struct event *timer; /* the whole call's deadline, or an immediate failure */
	int error;           /* set before the timer fires for a failure */
	char msg[200];
	struct push_chan *chan;
};

struct push_chan {
	struct push_chan *next_host, *next_tp;
	int64_t host_id;
	char tp[TLSID_THUMBPRINT_SIZE];
	struct https_request *held; /* the agent's poll, or NULL */
	struct event *hold_timer;
	struct push_call *call; /* the job's request, or NULL */
	int64_t last_poll;      /* wall clock of the last poll */
	int64_t checked;        /* when the host was last read from the store */
	int64_t attached;       /* when a hello last made the host due at once */
	unsigned hold_s;        /* how long the last poll may be held (its ?wait=) */
	bool enabled;
};

struct push {
	struct verifier *v;
	struct https_server *srv;
	struct event *sweep;
	struct push_chan *by_host[PUSH_BUCKETS];
	struct push_chan *by_tp[PUSH_BUCKETS];
	size_t nchans;
	int64_t last_beat;
	struct {
		char tp[TLSID_THUMBPRINT_SIZE];
		int64_t at;
	} refused[PUSH_REFUSED_LOG];
	size_t refused_next;
};

static size_t host_bucket(int64_t id)
{
	return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 52) % PUSH_BUCKETS;
}

static size_t tp_bucket(const char *tp)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = tp; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return (size_t)(h % PUSH_BUCKETS);
}

static struct push_chan *chan_by_host(struct push *p, int64_t id)
{
	struct push_chan *c = p->by_host[host_bucket(id)];
	while (c && c->host_id != id)
		c = c->next_host;
	return c;
}

static struct push_chan *chan_by_tp(struct push *p, const char *tp)
{
	struct push_chan *c = p->by_tp[tp_bucket(tp)];
	while (c && strcmp(c->tp, tp) != 0)
		c = c->next_tp;
	return c;
}

/* ---- calls ---------------------------------------------------------------- */

static void call_free(struct push_call *k)
{
	if (k == NULL)
		return;
	if (k->timer)
		event_free(k->timer);
	free(k->method);
	free(k->path);
	json_decref(k->body);
	OPENSSL_cleanse(k->id, sizeof k->id);
	free(k);
}

/* End a call with a transport failure (the job sees it as pull mode's). */
static void call_fail(struct push_call *k, int error, const char *msg)
{
	if (k->chan)
		k->chan->call = NULL;
	char m[sizeof k->msg];
	snprintf(m, sizeof m, "%s", msg); /* msg may be k->msg, freed below */
	struct https_result r = {.error = error, .message = m, .body = (const uint8_t *)""};
	https_done_fn done = k->done;
	void *arg = k->arg;
	call_free(k);
	done(&r, arg);
}

static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct push_call *k = arg;
	if (k->error != 0)
		call_fail(k, k->error, k->msg);
	else
		call_fail(k, HTTPS_E_TIMEOUT,
		          "no answer over the agent's push channel within the timeout");
}

/* The poll's answer carrying call k. */
static void call_send(struct push_chan *c, struct https_request *req)
{
	struct push_call *k = c->call;
	json_t *m = json_pack("{s:s,s:s,s:s,s:O?}", "id", k->id, "method", k->method, "path",
	                      k->path, "body", k->body);
	if (m == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	k->sent = true;
	https_reply_json(req, 200, m);
}

/* ---- channels --------------------------------------------------------------- */

static void unhold(struct push_chan *c)
{
	if (c->hold_timer)
		evtimer_del(c->hold_timer);
	c->held = NULL;
}

static void on_hold_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct push_chan *c = arg;
	struct https_request *req = c->held;
	unhold(c);
	if (req)
		https_reply_bytes(req, 204, "application/json", NULL, 0);
}

struct push_w {
	struct push *p;
	int64_t host_id;
	int kind;    /* 0 attach, 1 detach, 2 heartbeat */
	int64_t due; /* attach: the host is due then at the latest (0: now) */
	char instance[STORE_NAME_MAX + 1];
};

static int push_work(struct store *s, void *arg)
{
	struct push_w *w = arg;
	int64_t now = verifier_now();
	switch (w->kind) {
	case 0:
		return store_push_attach(s, w->host_id, w->instance, now,
		                         w->due > now ? w->due : now);
	case 1: return store_push_detach(s, w->host_id, w->instance);
	default: return store_push_heartbeat(s, w->instance, now);
	}
}

static void push_done(void *arg, int rc, const char *msg)
{
	struct push_w *w = arg;
	if (rc < 0 && rc != ATTEST_E_NOTFOUND)
		log_error("push channel of host %lld: not stored: %s", (long long)w->host_id, msg);
	else if (w->kind == 0 && !w->p->v->stopping)
		scheduler_kick(w->p->v); /* a new channel is attested now */
	free(w);
}

static void push_later(struct push *p, int64_t host_id, int kind, int64_t due)
{
	struct push_w *w = calloc(1, sizeof *w);
	if (w == NULL) {
		log_error("push channel of host %lld: out of memory", (long long)host_id);
		return;
	}
	w->p = p;
	w->host_id = host_id;
	w->kind = kind;
	w->due = due;
	memcpy(w->instance, p->v->cfg.instance, sizeof w->instance);
	verifier_store_later(p->v, push_work, push_done, w);
}

static void chan_unlink(struct push *p, struct push_chan *c)
{
	struct push_chan **pp = &p->by_host[host_bucket(c->host_id)];
	while (*pp && *pp != c)
		pp = &(*pp)->next_host;
	if (*pp)
		*pp = c->next_host;
	pp = &p->by_tp[tp_bucket(c->tp)];
	while (*pp && *pp != c)
		pp = &(*pp)->next_tp;
	if (*pp)
		*pp = c->next_tp;
	p->nchans--;
}

/* Drop a channel: its poll answered 204 (reply_held), its call failed
 * (fail_call: else freed without a callback, at shutdown). */
static void chan_drop(struct push *p, struct push_chan *c, bool fail_call, bool detach)
{
	chan_unlink(p, c);
	struct https_request *req = c->held;
	unhold(c);
	if (req)
		https_reply_bytes(req, 204, "application/json", NULL, 0);
	if (c->hold_timer)
		event_free(c->hold_timer);
	struct push_call *k = c->call;
	c->call = NULL;
	if (detach)
		push_later(p, c->host_id, 1, 0);
	int64_t id = c->host_id;
	free(c);
	if (k == NULL)
		return;
	k->chan = NULL;
	if (fail_call) {
		char m[120];
		snprintf(m, sizeof m, "the push channel of host %lld closed", (long long)id);
		call_fail(k, HTTPS_E_CONNECT, m);
	} else {
		call_free(k);
	}
}

static struct push_chan *chan_new(struct push *p, int64_t host_id, const char *tp)
{
	struct push_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->hold_timer = evtimer_new(p->v->base, on_hold_timer, c);
	if (c->hold_timer == NULL) {
		free(c);
		return NULL;
	}
	c->host_id = host_id;
	c->hold_s = PUSH_HOLD_S;
	memcpy(c->tp, tp, sizeof c->tp);
	size_t hb = host_bucket(host_id), tb = tp_bucket(tp);
	c->next_host = p->by_host[hb];
	p->by_host[hb] = c;
	c->next_tp = p->by_tp[tb];
	p->by_tp[tb] = c;
	p->nchans++;
	return c;
}

static bool chan_live(const struct push_chan *c, int64_t now)
{
	return c->held != NULL || c->call != NULL ||
	       now - c->last_poll <= (int64_t)c->hold_s + PUSH_GRACE_S;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct push *p = arg;
	int64_t now = verifier_now();
	for (size_t b = 0; b < PUSH_BUCKETS; b++) {
		struct push_chan *c = p->by_host[b];
		while (c) {
			struct push_chan *next = c->next_host;
			if (!chan_live(c, now)) {
				log_info("push: host %lld: its agent stopped polling",
				         (long long)c->host_id);
				chan_drop(p, c, true, true);
			}
			c = next;
		}
	}
	/* The channels we hold are still ours: another instance claims their
	 * hosts only once this stops for STORE_PUSH_STALE_LEASES leases. */
	int64_t beat = p->v->cfg.lease_s / 2 > 0 ? p->v->cfg.lease_s / 2 : 1;
	if (p->nchans > 0 && now - p->last_beat >= beat) {
		p->last_beat = now;
		push_later(p, 0, 2, 0);
	}
}

/* ---- the poll route ------------------------------------------------------------ */

/* An unpinned certificate: 403, and an event at most once a minute per
 * thumbprint (an agent retrying cannot flood the audit log). */
static void refuse(struct push *p, struct https_request *req, const char *tp)
{
	int64_t now = verifier_now();
	bool seen = false;
	for (size_t i = 0; i < PUSH_REFUSED_LOG && !seen; i++)
		if (strcmp(p->refused[i].tp, tp) == 0 && now - p->refused[i].at < 60)
			seen = true;
	if (!seen) {
		size_t i = p->refused_next++ % PUSH_REFUSED_LOG;
		memcpy(p->refused[i].tp, tp, sizeof p->refused[i].tp);
		p->refused[i].at = now;
		log_warning("push: refused an agent from %s: certificate %s is not pinned on any "
		            "push host",
		            https_request_peer_addr(req), tp);
		verifier_event(p->v, 0, "push", "verifier",
		               "push channel refused: agent certificate %s (from %s) is not pinned "
		               "on any push host",
		               tp, https_request_peer_addr(req));
	}
	/* Nothing more to say to it: its connection does not keep a slot. */
	https_reply_header(req, "Connection", "close");
	https_reply_error(req, 403, "PUSH_NOT_PINNED",
	                  "this agent's certificate is not pinned on any push host of this "
	                  "verifier (attestctl host add --push --thumbprint ...)");
}

/* The channel of the push host pinning tp, read again from the store every
 * PUSH_RECHECK_S (a removed host, or one whose pin changed, loses it). NULL
 * after a reply (403 or 500). */
static struct push_chan *chan_for(struct push *p, struct https_request *req, const char *tp,
                                  bool *created)
{
	int64_t now = verifier_now();
	struct push_chan *c = chan_by_tp(p, tp);
	if (c != NULL && now - c->checked < PUSH_RECHECK_S)
		return c;
	int64_t id = 0;
	bool enabled = false;
	int rc = store_push_host_by_thumbprint(p->v->store, tp, &id, &enabled);
	if (rc == ATTEST_E_NOTFOUND || (rc == 0 && c != NULL && c->host_id != id)) {
		if (c != NULL)
			chan_drop(p, c, true, true);
		c = NULL;
	}
	if (rc == ATTEST_E_NOTFOUND) {
		refuse(p, req, tp);
		return NULL;
	}
	if (rc < 0) {
		https_reply_header(req, "Retry-After", "5");
		https_reply_error(req, 503, "DATABASE_BUSY", "the verifier cannot read its store");
		return NULL;
	}
	if (c == NULL) {
		c = chan_new(p, id, tp);
		if (c == NULL) {
			https_reply_error(req, 500, "INTERNAL", "out of memory");
			return NULL;
		}
		log_info("push: host %lld: agent %s connected from %s", (long long)id, tp,
		         https_request_peer_addr(req));
		*created = true;
	}
	c->checked = now;
	c->enabled = enabled;
	return c;
}

/* The agent's answer to the call it was sent: ?id=ID&status=N, the body
 * being the answer as pull mode's agent sends it. false after a reply. */
static bool take_answer(struct push_chan *c, struct https_request *req, const char *id)
{
	const char *st = https_request_query(req, "status");
	long status = 0;
	bool ok = strlen(id) == PUSH_ID_HEX && st != NULL && strlen(st) == 3;
	for (size_t i = 0; ok && i < PUSH_ID_HEX; i++) /* ids are ours: lowercase hex */
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	for (size_t i = 0; ok && i < 3; i++)
		ok = st[i] >= '0' && st[i] <= '9';
	if (ok)
		status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
	if (!ok || status < 100 || status > 599) {
		https_reply_error(req, 400, "BAD_REQUEST",
		                  "id must be 32 hex digits and status an HTTP status");
		return false;
	}
	struct push_call *k = c->call;
	if (k == NULL || !k->sent || CRYPTO_memcmp(k->id, id, PUSH_ID_HEX) != 0) {
		log_warning("push: host %lld: an answer to a request it was not sent (id %.32s)",
		            (long long)c->host_id, id);
		https_reply_error(req, 409, "PUSH_UNKNOWN_REQUEST",
		                  "no request with this id is waiting for this agent's answer");
		return false;
	}
	const uint8_t *body;
	size_t len;
	https_request_body(req, &body, &len);
	c->call = NULL;
	k->chan = NULL;
	struct https_result r = {
	    .error = HTTPS_OK,
	    .message = "",
	    .status = (int)status,
	    .body = body,
	    .body_len = len,
	    .content_type = "application/json",
	    .peer_thumbprint = c->tp,
	};
	https_done_fn done = k->done;
	void *arg = k->arg;
	call_free(k);
	done(&r, arg); /* may hand the channel its next call at once */
	return true;
}

/* The poll's ?wait=S: how long the agent lets us hold it (its own timeout
 * is longer). Without one, PUSH_HOLD_S, what agents before it allowed.
 * false: not 1 to PUSH_HOLD_MAX_S in plain digits. */
static bool poll_wait(const struct https_request *req, unsigned *ret)
{
	const char *w = https_request_query(req, "wait");
	if (w == NULL) {
		*ret = PUSH_HOLD_S;
		return true;
	}
	unsigned v = 0;
	size_t n = 0;
	for (; w[n] != '\0'; n++) {
		if (n >= 3 || w[n] < '0' || w[n] > '9')
			return false;
		v = v * 10 + (unsigned)(w[n] - '0');
	}
	if (n == 0 || v < 1 || v > PUSH_HOLD_MAX_S)
		return false;
	*ret = v;
	return true;
}

static void on_poll(struct https_request *req, void *arg)
{
	struct push *p = arg;
	const char *tp = https_request_peer_thumbprint(req);
	if (tp == NULL) {
		https_reply_error(req, 403, "PUSH_NOT_PINNED", "no client certificate");
		return;
	}
	if (https_request_path_rest(req)[0] != '\0') {
		https_reply_error(req, 404, "not_found", "no such resource");
		return;
	}
	unsigned hold_s = 0;
	if (!poll_wait(req, &hold_s)) {
		https_reply_error(req, 400, "BAD_REQUEST",
		                  "wait must be a whole number of seconds from 1 to 300");
		return;
	}
	bool created = false;
	struct push_chan *c = chan_for(p, req, tp, &created);
	if (c == NULL)
		return;
	c->last_poll = verifier_now();
	c->hold_s = hold_s;
	/* A new channel, or an agent that (re)started ("hello"): this instance
	 * holds it now, and the host is attested at once. */
	if (created || https_request_query(req, "hello") != NULL) {
		/* Not sooner than PUSH_HELLO_EVERY_S after the last one: an agent
		 * cannot make us attest its host in a loop. */
		int64_t due = created ? 0 : c->attached + PUSH_HELLO_EVERY_S;
		c->attached = due > c->last_poll ? due : c->last_poll;
		push_later(p, c->host_id, 0, due);
	}
	const char *id = https_request_query(req, "id");
	if (id != NULL) {
		/* Channels end only in the sweep and in chan_for, never from a
		 * job's callback: c outlives take_answer. */
		if (!take_answer(c, req, id))
			return;
	} else if (c->call != NULL && c->call->sent) {
		/* A fresh poll while a request is out: the agent never got it
		 * (its connection broke). Only an idempotent one goes again. */
		if (!c->call->retry_safe) {
			struct push_call *k = c->call;
			k->chan = NULL;
			c->call = NULL;
			call_fail(k, HTTPS_E_PROTOCOL,
			          "the agent polled again without answering the request");
		} else {
			c->call->sent = false;
		}
	}
	if (c->held != NULL) { /* an older poll (a connection the agent left) */
		struct https_request *old = c->held;
		unhold(c);
		https_reply_bytes(old, 204, "application/json", NULL, 0);
	}
	if (c->call != NULL && !c->call->sent) {
		call_send(c, req);
		return;
	}
	https_request_drop_body(req); /* the answer it carried is taken */
	c->held = req;
	struct timeval tv = {(time_t)c->hold_s, 0};
	evtimer_add(c->hold_timer, &tv);
}

/* ---- the job's side ------------------------------------------------------------ */

int push_request(struct verifier *v, int64_t host_id, const struct https_call *call,
                 https_done_fn done, void *arg)
{
	struct push *p = v->push;
	struct push_call *k = calloc(1, sizeof *k);
	if (k == NULL)
		return ATTEST_E_NOMEM;
	uint8_t rnd[PUSH_ID_HEX / 2];
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		free(k);
		return ATTEST_E_CRYPTO;
	}
	hex_encode(rnd, sizeof rnd, k->id);
	k->method = strdup(call->method ? call->method : "GET");
	k->path = strdup(call->path ? call->path : "/");
	k->done = done;
	k->arg = arg;
	k->retry_safe = call->retry_safe;
	k->timer = evtimer_new(v->base, on_call_timer, k);
	json_error_t jerr;
	if (call->body != NULL && call->body_len > 0)
		k->body = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (k->method == NULL || k->path == NULL || k->timer == NULL ||
	    (call->body_len > 0 && k->body == NULL)) {
		call_free(k);
		return ATTEST_E_NOMEM;
	}
	struct push_chan *c = p ? chan_by_host(p, host_id) : NULL;
	struct timeval tv = {0, 0};
	/* The job carries the thumbprint pinned on the host now. A channel
	 * opened under an earlier pin (the operator re-pinned the host since)
	 * is not this host's agent any more: as in pull mode, the pin is
	 * checked on every request, not only when the channel was opened. */
	char pin[TLSID_THUMBPRINT_SIZE];
	bool repinned =
	    c != NULL && call->pin != NULL &&
	    (tlsid_thumbprint_parse(call->pin, pin) < 0 || !tlsid_thumbprint_equal(pin, c->tp));
	if (c == NULL || !chan_live(c, verifier_now()) || c->call != NULL || repinned) {
		/* Fails on the next loop turn: never from inside this call. */
		k->error = repinned ? HTTPS_E_PIN : HTTPS_E_CONNECT;
		snprintf(k->msg, sizeof k->msg, "%s",
		         c == NULL || !chan_live(c, verifier_now())
		             ? "the agent has no push channel open to this verifier"
		         : repinned ? "the agent on the push channel does not present the "
		                      "certificate pinned on the host"
		                    : "the push channel is busy with another request");
		evtimer_add(k->timer, &tv);
		return 0;
	}
	unsigned ms = call->timeout_ms ? call->timeout_ms : HTTPS_DEFAULT_REQUEST_TIMEOUT_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(k->timer, &tv);
	k->chan = c;
	c->call = k;
	if (c->held != NULL) {
		struct https_request *req = c->held;
		unhold(c);
		call_send(c, req);
	}
	return 0;
}

/* ---- start and stop --------------------------------------------------------------- */

/* Thousands of agents each hold a descriptor: raise the soft limit (systemd
 * and most shells start services at 1024) toward the hard one, as far as the
 * connections we accept need. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = PUSH_MAX_CONNECTIONS + 4096u;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rlim_t before = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (rl.rlim_cur > before && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("push: open files limit raised from %llu to %llu",
		         (unsigned long long)before, (unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur < want)
		log_warning("push: at most about %llu agents can stay connected (open files limit; "
		            "LimitNOFILE= in the unit raises it)",
		            (unsigned long long)(rl.rlim_cur > 256 ? rl.rlim_cur - 256 : 0));
}

int push_start(struct verifier *v, const char *listen)
{
	char err[512];
	struct push *p = calloc(1, sizeof *p);
	if (p == NULL)
		return ATTEST_E_NOMEM;
	p->v = v;
	v->push = p;
	raise_fd_limit();
	struct https_server_config sc = {
	    .listen = listen,
	    .identity = v->id,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .max_body = PUSH_MAX_BODY,
	    .timeout_ms = (PUSH_HOLD_MAX_S + PUSH_GRACE_S) * 1000u,
	    .max_connections = PUSH_MAX_CONNECTIONS,
	    .max_per_peer = PUSH_MAX_CONNECTIONS,
	};
	int rc = https_server_new(v->base, &sc, &p->srv, err, sizeof err);
	if (rc < 0) {
		log_error("--push-listen: %s", err);
		return rc;
	}
	if ((rc = https_server_route(p->srv, "POST", "/push/v1/poll", on_poll, p)) < 0)
		return rc;
	p->sweep = event_new(v->base, -1, EV_PERSIST, on_sweep, p);
	/* Often enough that push_seen is refreshed at least every half lease. */
	int64_t every = v->cfg.lease_s / 2 > 0 ? v->cfg.lease_s / 2 : 1;
	struct timeval tv = {every < PUSH_SWEEP_S ? every : PUSH_SWEEP_S, 0};
	if (p->sweep == NULL || event_add(p->sweep, &tv) < 0)
		return ATTEST_E_NOMEM;
	return 0;
}

uint16_t push_port(const struct verifier *v)
{
	return v->push && v->push->srv ? https_server_port(v->push->srv) : 0;
}

size_t push_channels(const struct verifier *v)
{
	return v->push ? v->push->nchans : 0;
}

void push_stop(struct verifier *v)
{
	struct push *p = v->push;
	if (p == NULL)
		return;
	for (size_t b = 0; b < PUSH_BUCKETS; b++)
		while (p->by_host[b])
			chan_drop(p, p->by_host[b], false, false);
	if (p->sweep)
		event_free(p->sweep);
	https_server_free(p->srv);
	free(p);
	v->push = NULL;
}
