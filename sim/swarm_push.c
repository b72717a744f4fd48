/* Push mode of the swarm (--push): each emulated host opens no port and
 * long-polls the verifier's push listener over mutual TLS with its own
 * certificate, as attest-agent --push does (docs/protocol.md, "Push
 * carrier"): POST /push/v1/poll, the answer is the next request to carry
 * out ({"id", "method", "path", "body"}) or 204; the request's answer goes
 * with the next poll (?id=ID&status=NNN), started once the answer is there
 * (a quote's after its signature, swarm_sign.c). The calls themselves are
 * the pull routes' (swarm_serve), so both carriers answer alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "err.h"
#include "log.h"
#include "swarm.h"

/* The hold each poll asks for (?wait=S), attest-agent's default --push-wait,
 * and its timeout: that hold and 15 s for the answer to travel. */
#define PUSH_WAIT_S          110u
#define PUSH_POLL_TIMEOUT_MS ((PUSH_WAIT_S + 15u) * 1000u)
#define PUSH_RETRY_S         2u
#define PUSH_REQ_MAX         (256u * 1024u)

static void poll_start(struct swarm_host *h);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_start(arg);
}

static void retry_later(struct swarm_host *h)
{
	struct timeval tv = {.tv_sec = PUSH_RETRY_S,
	                     .tv_usec = (suseconds_t)(h->index % 1000) * 1000};
	h->sw->poll_failures++;
	h->hello = true;
	if (h->retry == NULL)
		h->retry = evtimer_new(h->sw->base, on_retry, h);
	if (h->retry == NULL || evtimer_add(h->retry, &tv) != 0)
		log_error("%s: cannot schedule the next poll", h->name);
}

/* The poll after a request's answer, which it posts. */
static void next_poll(struct swarm_host *h)
{
	if (!h->answer_body) {
		log_error("%s: cannot encode an answer", h->name);
		retry_later(h);
		return;
	}
	poll_start(h);
}

void swarm_push_answer(struct swarm_host *h, int status, json_t *answer)
{
	h->answer_status = status;
	free(h->answer_body);
	h->answer_body = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	json_decref(answer);
	h->answered = true;
	/* Answered later (a quote signed on a worker): nothing polls now. */
	if (!h->carrying)
		next_poll(h);
}

/* Carry out the verifier's request {"id", "method", "path", "body"}; its
 * answer goes with the next poll, started now or when the answer comes
 * (swarm_push_answer). false: the request is malformed. */
static bool carry_out(struct swarm_host *h, const uint8_t *text, size_t len)
{
	json_t *j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *method = json_string_value(json_object_get(j, "method"));
	const char *path = json_string_value(json_object_get(j, "path"));
	json_t *body = json_object_get(j, "body");
	if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32 || !method || !path) {
		json_decref(j);
		return false;
	}
	char *bt = body && !json_is_null(body) ? json_dumps(body, JSON_COMPACT) : NULL;
	struct swarm_req q = {.body = (const uint8_t *)(bt ? bt : ""), .len = bt ? strlen(bt) : 0};
	snprintf(h->answer_id, sizeof h->answer_id, "%s", id);
	h->answered = false;
	h->carrying = true;
	swarm_serve(h, method, path, &q);
	h->carrying = false;
	free(bt);
	json_decref(j);
	if (h->answered)
		next_poll(h);
	return true;
}

static void on_poll(const struct https_result *res, void *arg)
{
	struct swarm_host *h = arg;
	/* The answer just posted was taken (or is lost with the connection:
	 * the verifier's call then times out, as with a real agent). */
	free(h->answer_body);
	h->answer_body = NULL;
	if (res->error != HTTPS_OK || (res->status != 200 && res->status != 204)) {
		if (res->status == 403)
			log_error("%s: the verifier refused this host's certificate (not pinned "
			          "on a push host)",
			          h->name);
		retry_later(h);
		return;
	}
	h->hello = false;
	if (res->status == 204) {
		poll_start(h);
		return;
	}
	if (!carry_out(h, res->body, res->body_len)) {
		log_error("%s: a malformed request from the verifier", h->name);
		retry_later(h);
	}
}

static void poll_start(struct swarm_host *h)
{
	struct swarm *sw = h->sw;
	char path[128];
	if (h->answer_body)
		snprintf(path, sizeof path, "/push/v1/poll?id=%s&status=%d&wait=%u", h->answer_id,
		         h->answer_status, PUSH_WAIT_S);
	else
		snprintf(path, sizeof path, "/push/v1/poll?wait=%u%s", PUSH_WAIT_S,
		         h->hello ? "&hello=1" : "");
	struct https_call call = {
	    .host = sw->push_host,
	    .port = sw->push_port,
	    .method = "POST",
	    .path = path,
	    .body = h->answer_body,
	    .body_len = h->answer_body ? strlen(h->answer_body) : 0,
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = sw->push_pin,
	    .timeout_ms = PUSH_POLL_TIMEOUT_MS,
	    .max_response = PUSH_REQ_MAX,
	};
	sw->polls++;
	if (https_client_request(h->cli, &call, on_poll, h) != 0)
		retry_later(h);
}

int swarm_host_push(struct swarm_host *h)
{
	char err[256] = "";
	int rc = https_client_new(h->sw->base, &h->tls, NULL, &h->cli, err, sizeof err);
	if (rc) {
		log_error("%s: %s", h->name, err);
		return rc;
	}
	/* One connection, kept between polls: the channel. */
	https_client_set_keepalive(h->cli, 1, PUSH_POLL_TIMEOUT_MS);
	h->hello = true;
	poll_start(h);
	return 0;
}

void swarm_host_push_free(struct swarm_host *h)
{
	if (h->retry)
		event_free(h->retry);
	h->retry = NULL;
	https_client_free(h->cli);
	h->cli = NULL;
	free(h->answer_body);
	h->answer_body = NULL;
}
