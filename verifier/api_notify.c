/* The notification targets' API (docs/api.md, "Notifications"), handlers
 * of the route table in routes.c, and their lines in /metrics. A target's
 * secret goes in and is never given back: answers say "secret": true. */
#include "api_notify.h"

#include "err.h"
#include "notify.h"
#include "notify_format.h"
#include "store_notify.h"
#include "tlsid.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *events_json(const char *events)
{
	json_t *a = json_array();
	const char *p = events ? events : "";
	while (*p) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return a;
}

static json_t *target_json(const struct store_notify_target *t)
{
	struct notify_url u;
	const char *type = notify_url_parse(t->url, &u, NULL, 0) == 0 && u.scheme != NOTIFY_HTTPS
	                       ? "syslog"
	                       : "webhook";
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:o,s:b,s:b,s:s?,s:I,s:I,s:I,s:I,s:I,s:s?,s:o,s:o,s:o}", "name", t->name,
	    "type", type, "url", t->url, "events", events_json(t->events), "secret", t->has_secret,
	    "ca", t->has_ca, "thumbprint", t->thumbprint, "attempts", (json_int_t)t->max_attempts,
	    "delivered", (json_int_t)t->delivered, "failed", (json_int_t)t->failed, "pending",
	    (json_int_t)t->pending, "dead", (json_int_t)t->dead, "last_error", t->last_error,
	    "last_error_at", api_time(t->last_error_at), "last_delivered_at",
	    api_time(t->last_delivered_at), "created_at", api_time(t->created_at));
	return o;
}

void api_notify_list(struct api_call *c)
{
	struct store_notify_list *l = NULL;
	int rc = store_notify_list(c->v->store, &l);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "notification targets");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, target_json(&l->v[i]));
	store_notify_list_free(l);
	https_reply_json(c->req, 200, json_pack("{s:o}", "targets", a));
}

static void reply_target(struct api_call *c, const char *name, int status)
{
	struct store_notify_target *t = NULL;
	int rc = store_notify_get(c->v->store, name, &t);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "notification target");
		return;
	}
	json_t *o = target_json(t), *d = json_array();
	for (size_t i = 0; i < t->ndead; i++)
		json_array_append_new(
		    d, json_pack("{s:I,s:s,s:s,s:s?,s:I,s:o,s:o}", "id", (json_int_t)t->deadv[i].id,
		                 "kind", t->deadv[i].kind, "idempotency_key", t->deadv[i].idem_key,
		                 "error", t->deadv[i].last_error, "attempts",
		                 (json_int_t)t->deadv[i].attempts, "created_at",
		                 api_time(t->deadv[i].created_at), "dead_at",
		                 api_time(t->deadv[i].dead_at)));
	json_object_set_new(o, "dead_letters", d);
	store_notify_target_free(t);
	https_reply_json(c->req, status, o);
}

void api_notify_show(struct api_call *c)
{
	reply_target(c, c->key, 200);
}

static const char *str(json_t *b, const char *k)
{
	return json_string_value(json_object_get(b, k));
}

/* Wipe a string member in place (the secret) before the body is freed. */
static void wipe(json_t *b, const char *k)
{
	const char *s = str(b, k);
	if (s)
		OPENSSL_cleanse((char *)s, strlen(s));
}

void api_notify_add(struct api_call *c)
{
	static const char *const keys[] = {"name",   "url",        "events",   "secret",
	                                   "ca_pem", "thumbprint", "attempts", NULL};
	struct https_request *req = c->req;
	json_t *b = c->body;
	char why[256], events[64] = "", tp[TLSID_THUMBPRINT_SIZE];
	struct notify_url u;
	const char *key;
	json_t *val;
	json_object_foreach(b, key, val)
	{
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], key) != 0)
			i++;
		if (!keys[i]) {
			snprintf(why, sizeof why, "unknown field \"%.64s\"", key);
			goto refuse;
		}
	}
	const char *name = str(b, "name"), *url = str(b, "url"), *secret = str(b, "secret");
	const char *ca = str(b, "ca_pem"), *thumb = str(b, "thumbprint");
	json_t *ev = json_object_get(b, "events"), *at = json_object_get(b, "attempts");
	if (!name || !api_name_ok(name)) {
		snprintf(why, sizeof why, "give a name (letters, digits, . _ -)");
		goto refuse;
	}
	if (notify_url_parse(url, &u, why, sizeof why) < 0)
		goto refuse;
	if ((json_object_get(b, "secret") && (!secret || !*secret)) ||
	    (json_object_get(b, "ca_pem") && !ca) || (json_object_get(b, "thumbprint") && !thumb) ||
	    (at && !json_is_integer(at))) {
		snprintf(why, sizeof why,
		         "secret, ca_pem and thumbprint are strings, attempts a number");
		goto refuse;
	}
	if (ca && thumb) {
		snprintf(why, sizeof why, "give a CA or a thumbprint, not both");
		goto refuse;
	}
	if (thumb && tlsid_thumbprint_parse(thumb, tp) < 0) {
		snprintf(why, sizeof why, "the thumbprint is not SHA256:<64 hex digits>");
		goto refuse;
	}
	if (secret && u.scheme != NOTIFY_HTTPS) {
		snprintf(why, sizeof why, "a secret signs webhooks only (https://)");
		goto refuse;
	}
	if ((ca || thumb) && (u.scheme == NOTIFY_UNIX || u.scheme == NOTIFY_TCP)) {
		snprintf(why, sizeof why, "a CA or thumbprint needs https:// or tls://");
		goto refuse;
	}
	if (ev) { /* ["alarm", "trust"] or "alarm,trust" */
		if (json_is_string(ev))
			snprintf(events, sizeof events, "%s", json_string_value(ev));
		else if (json_is_array(ev) && json_array_size(ev) <= 8) {
			size_t i;
			json_t *e;
			json_array_foreach(ev, i, e)
			{
				const char *k = json_string_value(e);
				if (!k || strlen(events) + strlen(k) + 2 > sizeof events)
					break;
				snprintf(events + strlen(events), sizeof events - strlen(events),
				         "%s%s", i ? "," : "", k);
			}
		}
		if (!store_notify_events_ok(events)) {
			snprintf(why, sizeof why, "events: a list of alarm, trust, host, coverage");
			goto refuse;
		}
	}
	struct store_notify_new t = {
	    .name = name,
	    .url = url,
	    .events = ev ? events : NULL,
	    .secret = (const uint8_t *)secret,
	    .secret_len = secret ? strlen(secret) : 0,
	    .ca_pem = ca,
	    .thumbprint = thumb ? tp : NULL,
	    .max_attempts = at ? (int64_t)json_integer_value(at) : 0,
	};
	int rc = api_change_begin(c->v);
	if (rc == 0)
		rc = store_notify_add(c->v->store, &t, verifier_now(), NULL);
	rc = api_change_end(c->v, rc, 0, "notify", c->ctx.actor,
	                    "notification target %s added (%s)", name, url);
	wipe(b, "secret");
	if (rc < 0) {
		api_store_error(c->v, req, rc, "notification target");
		return;
	}
	reply_target(c, name, 201);
	return;
refuse:
	wipe(b, "secret");
	https_reply_error(req, 400, "INVALID_FIELD", why);
}

void api_notify_remove(struct api_call *c)
{
	int rc = api_change_begin(c->v);
	if (rc == 0)
		rc = store_notify_remove(c->v->store, c->key);
	rc = api_change_end(c->v, rc, 0, "notify", c->ctx.actor, "notification target %s removed",
	                    c->key);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "notification target");
		return;
	}
	https_reply_json(c->req, 200, json_pack("{s:s}", "removed", c->key));
}

void api_notify_test(struct api_call *c)
{
	int rc = store_outbox_enqueue_test(c->v->store, c->key, c->ctx.actor, verifier_now());
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "notification target");
		return;
	}
	https_reply_json(c->req, 202, json_pack("{s:s}", "queued", c->key));
}

void api_notify_metrics(struct verifier *v, struct textbuf *b)
{
	struct notify_stats st;
	notify_get_stats(v, &st);
	textbuf_add(b,
	            "# HELP attest_notifications_total Notification attempts by this instance, "
	            "by result (failed: each failed attempt; dead: rows that ran out of "
	            "attempts).\n"
	            "# TYPE attest_notifications_total counter\n"
	            "attest_notifications_total{result=\"delivered\"} %llu\n"
	            "attest_notifications_total{result=\"failed\"} %llu\n"
	            "attest_notifications_total{result=\"dead\"} %llu\n"
	            "# HELP attest_notifications_queued Outbox rows waiting (every instance).\n"
	            "# TYPE attest_notifications_queued gauge\n"
	            "attest_notifications_queued %lld\n"
	            "# HELP attest_notifications_dead_letters Dead letters in the outbox.\n"
	            "# TYPE attest_notifications_dead_letters gauge\n"
	            "attest_notifications_dead_letters %lld\n",
	            (unsigned long long)st.delivered, (unsigned long long)st.failed,
	            (unsigned long long)st.dead_letters, (long long)st.queued, (long long)st.dead);
}
