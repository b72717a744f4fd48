/* Adding the swarm's hosts to a verifier: POST /api/v1/hosts per host with
 * its address, name and pinned thumbprint (docs/api.md), a few requests in
 * flight at a time on a private event loop, before the hosts are served. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "swarm.h"

struct reg {
	struct swarm *sw;
	uint64_t t0;
	char url[256];
	struct https_client *cli;
	struct event_base *base;
	char host[256];
	uint16_t port;
	const char *token, *pin;
	unsigned interval_s, parallel;
	unsigned next, in_flight, ok, exists, failed;
};

static void reg_next(struct reg *r);
static void reg_send(struct reg *r, struct swarm_host *h, unsigned tries);

/* One host's POST in flight; tries counts its earlier 503s. */
struct reg_call {
	struct reg *r;
	struct swarm_host *h;
	unsigned tries;
};

#define REG_BUSY_TRIES 8 /* 503 (a database lock wait ran out): send again, up to this */

/* The client cannot be freed inside its own callback: a moment later. */
static void reg_free(evutil_socket_t fd, short what, void *arg)
{
	struct reg *r = arg;
	https_client_free(r->cli);
	free(r);
}

static void reg_finish(struct reg *r)
{
	log_notice("registered %u hosts with %s in %.1f s (%u already there, %u failed)", r->ok,
	           r->url, (double)(swarm_now_ns() - r->t0) / 1e9, r->exists, r->failed);
	printf("registered %u failed %u\n", r->ok + r->exists, r->failed);
	fflush(stdout);
	/* Push mode: the hosts start polling once the verifier knows them (an
	 * unknown certificate is refused, and would only be tried again). */
	for (unsigned i = 0; r->sw->push && i < r->sw->n; i++)
		if (swarm_host_push(&r->sw->hosts[i]) != 0)
			log_error("%s: cannot start polling", r->sw->hosts[i].name);
	struct timeval now = {0, 0};
	if (event_base_once(r->base, -1, EV_TIMEOUT, reg_free, r, &now) != 0)
		log_warning("the registration client is not freed");
}

/* A 503's host sent again, after its back-off. */
static void reg_retry(evutil_socket_t fd, short what, void *arg)
{
	struct reg_call *c = arg;
	struct reg *r = c->r;
	(void)fd;
	(void)what;
	r->in_flight--;
	reg_send(r, c->h, c->tries);
	free(c);
	if (r->in_flight == 0)
		reg_finish(r);
}

static void reg_done(const struct https_result *res, void *arg)
{
	struct reg_call *c = arg;
	struct reg *r = c->r;
	/* The verifier answers 503 when its lock wait ran out (DATABASE_BUSY:
	 * "nothing was changed, try again"): an operator's script retries it,
	 * and so does the swarm, backing off 0.25 s more each time. */
	if (res->error == HTTPS_OK && res->status == 503 && c->tries + 1 < REG_BUSY_TRIES) {
		c->tries++;
		struct timeval tv = {(time_t)(c->tries / 4), (suseconds_t)(c->tries % 4) * 250000};
		if (event_base_once(r->base, -1, EV_TIMEOUT, reg_retry, c, &tv) == 0)
			return; /* still in flight */
		c->tries = REG_BUSY_TRIES;
	}
	free(c);
	r->in_flight--;
	if (res->error == HTTPS_OK && res->status == 201) {
		r->ok++;
	} else if (res->error == HTTPS_OK && res->status == 409 && res->body &&
	           strstr((const char *)res->body, "\"EXISTS\"")) {
		r->exists++;
	} else {
		if (r->failed < 5)
			log_error("adding a host: %s HTTP %d %.300s", res->message, res->status,
			          res->body ? (const char *)res->body : "");
		r->failed++;
	}
	reg_next(r);
	if (r->in_flight == 0)
		reg_finish(r);
}

static void reg_send(struct reg *r, struct swarm_host *h, unsigned tries)
{
	json_t *o = r->sw->push ? json_pack("{s:s,s:s,s:s}", "mode", "push", "name", h->name,
	                                    "thumbprint", h->tls.thumbprint)
	                        : json_pack("{s:s,s:s,s:s}", "address", h->listen, "name", h->name,
	                                    "thumbprint", h->tls.thumbprint);
	if (o && r->interval_s)
		json_object_set_new(o, "interval_s", json_integer(r->interval_s));
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	struct https_call call = {
	    .host = r->host,
	    .port = r->port,
	    .method = "POST",
	    .path = "/api/v1/hosts",
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .bearer = r->token,
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = r->pin,
	    .timeout_ms = 60000,
	};
	struct reg_call *c = body ? calloc(1, sizeof *c) : NULL;
	if (c) {
		c->r = r;
		c->h = h;
		c->tries = tries;
	}
	if (!c || https_client_request(r->cli, &call, reg_done, c) != 0) {
		free(c);
		r->failed++;
	} else {
		r->in_flight++;
	}
	free(body);
}

static void reg_next(struct reg *r)
{
	while (r->in_flight < r->parallel && r->next < r->sw->n)
		reg_send(r, &r->sw->hosts[r->next++], 0);
}

int swarm_parse_url(const char *url, char *host, size_t cap, uint16_t *ret_port)
{
	static const char scheme[] = "https://";
	if (strncmp(url, scheme, sizeof scheme - 1) != 0)
		return ATTEST_E_FORMAT;
	const char *hp = url + sizeof scheme - 1;
	const char *colon = strrchr(hp, ':');
	if (!colon || (size_t)(colon - hp) >= cap || colon == hp)
		return ATTEST_E_FORMAT;
	char *end = NULL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!end || (*end && strcmp(end, "/") != 0) || port == 0 || port > 65535)
		return ATTEST_E_FORMAT;
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}

int swarm_register(struct swarm *sw, const char *url, const char *token, const char *pin,
                   unsigned interval_s, unsigned parallel)
{
	struct reg *r = calloc(1, sizeof *r);
	if (!r)
		return ATTEST_E_NOMEM;
	r->sw = sw;
	r->base = sw->base;
	r->token = token;
	r->pin = pin;
	r->interval_s = interval_s;
	r->parallel = parallel ? parallel : 1;
	snprintf(r->url, sizeof r->url, "%s", url);
	if (swarm_parse_url(url, r->host, sizeof r->host, &r->port) != 0) {
		log_error("--register %s: expected https://HOST:PORT", url);
		free(r);
		return ATTEST_E_ARG;
	}
	char err[256] = "";
	if (https_client_new(r->base, NULL, NULL, &r->cli, err, sizeof err) != 0) {
		log_error("cannot start the API client: %s", err);
		free(r);
		return ATTEST_E_NOMEM;
	}
	r->t0 = swarm_now_ns();
	reg_next(r);
	if (r->in_flight == 0)
		reg_finish(r);
	return 0;
}
