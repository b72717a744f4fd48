/* The fleet watched as a whole (docs/operations.md "Watching the fleet as
 * a whole"): coverage, the fleet alarms (coverage, dead man) and /healthz.
 *
 * Every few seconds the coverage is read in one aggregate query with the
 * open fleet alarms, off the event loop: the query reads an entry of every
 * enabled host (and on PostgreSQL costs a round trip and the server's
 * time), so it runs as a work of the storage writer (on PostgreSQL its
 * apart lane, at once; on SQLite with the next group) and the loop takes the
 * result in the work's completion. /metrics, the status route and /healthz
 * answer from that cached snapshot, without touching the database. An alarm
 * that must change is handed to the writer thread too (store_fleet_alarm_set):
 * any instance may raise or clear it, the database keeps one open of each
 * kind. The arithmetic (ratios, hold, hysteresis) is lib/coverage.c. */
#include "coverage.h"
#include "reason.h"
#include "textbuf.h"
#include "verifier.h"

#include "err.h"
#include "log.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct vcoverage {
	struct event *timer;
	int64_t every_s;            /* evaluation period */
	int64_t started;            /* watching since (the dead-man grace) */
	struct store_coverage *cov; /* last successful read, or NULL */
	int64_t read_at;            /* when it was read */
	unsigned db_fails;          /* consecutive failed reads */
	char db_err[240];           /* the last failed read's message */
	unsigned open_mask;         /* open fleet alarms at the last read */
	struct coverage_hold hold[STORE_FLEET_ALARMS];
	bool setting; /* a fleet alarm change is with the writer */
	bool reading; /* a read is with the writer (one at a time) */
	/* The writer's progress: works run ok and failed at the last look, and
	 * when it last committed or had nothing to do. */
	uint64_t w_ok, w_failed;
	int64_t w_ok_at;
};

static struct vcoverage *cv(struct verifier *v)
{
	return v->coverage;
}

/* ------------------------------------------------------------------ */
/* Fleet alarm changes, on the writer thread */

struct fleet_set {
	struct verifier *v;
	enum store_fleet_alarm kind;
	bool open, changed;
	char reasons[512], message[256];
};

static int fleet_set_work(struct store *s, void *arg)
{
	struct fleet_set *f = arg;
	return store_fleet_alarm_set(s, f->kind, f->open, f->reasons, f->message, verifier_now(),
	                             &f->changed);
}

static void fleet_set_done(void *arg, int rc, const char *msg)
{
	struct fleet_set *f = arg;
	struct vcoverage *c = cv(f->v);
	if (c)
		c->setting = false;
	const char *name = store_fleet_alarm_name(f->kind);
	if (rc < 0)
		log_error("%s alarm: cannot %s it: %s", name, f->open ? "raise" : "clear", msg);
	else if (f->changed)
		log_info("%s", f->message);
	if (c && rc == 0) {
		/* The next read sees it too; keep the view right until then. */
		if (f->open)
			c->open_mask |= 1u << f->kind;
		else
			c->open_mask &= ~(1u << f->kind);
	}
	free(f);
}

static void fleet_set(struct verifier *v, enum store_fleet_alarm kind, bool open, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fleet_set(struct verifier *v, enum store_fleet_alarm kind, bool open, const char *code,
                      const char *fmt, ...)
{
	struct fleet_set *f = calloc(1, sizeof *f);
	if (f == NULL)
		return;
	f->v = v;
	f->kind = kind;
	f->open = open;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
	/* The reason as hosts carry theirs: code, message, evidence. */
	json_t *r = json_pack("[{s:s,s:s,s:{s:s}}]", "code", code, "message", f->message,
	                      "evidence", "instance", v->cfg.instance);
	char *t = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	if (t == NULL || strlen(t) >= sizeof f->reasons) {
		free(t);
		free(f);
		return;
	}
	memcpy(f->reasons, t, strlen(t) + 1);
	free(t);
	cv(v)->setting = true;
	verifier_store_later(v, fleet_set_work, fleet_set_done, f);
}

/* ------------------------------------------------------------------ */
/* The evaluation */

static void writer_look(struct verifier *v, struct vcoverage *c, int64_t now)
{
	struct store_writer_stats ws = {0};
	if (v->writer == NULL)
		return;
	store_writer_stats(v->writer, &ws);
	uint64_t ok = ws.works - ws.failed;
	/* Progress: a work committed, or nothing was waiting and nothing failed
	 * since the last look (an idle writer is a healthy one). */
	if (ok > c->w_ok || (ws.queued == 0 && ws.failed == c->w_failed))
		c->w_ok_at = now;
	c->w_ok = ok;
	c->w_failed = ws.failed;
}

/* One read: the coverage at now and the open fleet alarms. */
struct cov_read {
	struct verifier *v;
	int64_t now;
	struct store_coverage *cov;
	unsigned mask;
};

static int cov_read_run(struct store *s, struct cov_read *r)
{
	int rc = store_coverage_read(s, r->now, r->v->cfg.evidence_validity_s, &r->cov);
	if (rc == 0)
		rc = store_fleet_alarms_open(s, &r->mask);
	return rc;
}

static int cov_read_work(struct store *s, void *arg)
{
	return cov_read_run(s, arg);
}

static void decide(struct verifier *v, struct vcoverage *c, const struct store_coverage *cov,
                   unsigned mask);

/* A read ended (rc < 0: msg says why): keep what it saw, then decide
 * whether a fleet alarm must change. Takes r->cov. */
static void cov_read_end(struct vcoverage *c, struct cov_read *r, int rc, const char *msg)
{
	struct verifier *v = r->v;
	if (rc < 0) {
		store_coverage_free(r->cov);
		r->cov = NULL;
		if (c->db_fails++ == 1) /* one line per outage, not per read */
			log_error("coverage: cannot read the database: %s", msg);
		snprintf(c->db_err, sizeof c->db_err, "%s", msg);
		return;
	}
	if (c->db_fails >= 2)
		log_info("coverage: the database answers again");
	c->db_fails = 0;
	store_coverage_free(c->cov);
	c->cov = r->cov;
	r->cov = NULL;
	c->read_at = r->now;
	c->open_mask = r->mask;
	if (c->setting || v->stopping)
		return;
	decide(v, c, c->cov, c->open_mask);
}

static void cov_read_done(void *arg, int rc, const char *msg)
{
	struct cov_read *r = arg;
	struct vcoverage *c = cv(r->v);
	if (c) {
		c->reading = false;
		cov_read_end(c, r, rc, msg);
	}
	store_coverage_free(r->cov);
	free(r);
}

/* Read now on the loop's connection (sync) or hand the read to the writer. */
static void evaluate(struct verifier *v, bool sync)
{
	struct vcoverage *c = cv(v);
	int64_t now = verifier_now();
	writer_look(v, c, now);
	if (c->reading)
		return; /* the last one is still with the writer (a slow database) */
	struct cov_read *r = calloc(1, sizeof *r);
	if (r == NULL)
		return;
	r->v = v;
	r->now = now;
	if (sync || v->writer == NULL) {
		int rc = cov_read_run(v->store, r);
		cov_read_end(c, r, rc, rc < 0 ? store_errmsg(v->store) : "");
		store_coverage_free(r->cov);
		free(r);
		return;
	}
	c->reading = true;
	verifier_store_apart(v, cov_read_work, cov_read_done, r, false);
}

/* Raise or clear the fleet alarms the read calls for. */
static void decide(struct verifier *v, struct vcoverage *c, const struct store_coverage *cov,
                   unsigned mask)
{
	const struct verifier_config *cfg = &v->cfg;
	int64_t now = verifier_now();

	if (cfg->coverage_alarm_pct > 0) {
		bool open = mask & (1u << STORE_FLEET_COVERAGE);
		enum coverage_action a = coverage_alarm_next(
		    &c->hold[STORE_FLEET_COVERAGE], open,
		    coverage_below(cov->covered, cov->enabled, cfg->coverage_alarm_pct),
		    coverage_recovered(cov->covered, cov->enabled, cfg->coverage_alarm_pct), now,
		    cfg->alarm_hold_s);
		double pct = 100.0 * coverage_ratio(cov->covered, cov->enabled);
		if (a == COVERAGE_RAISE) {
			fleet_set(v, STORE_FLEET_COVERAGE, true, REASON_COVERAGE_LOW,
			          "coverage %.1f%% (%lld of %lld enabled hosts) is under the alarm "
			          "threshold of %u%%",
			          pct, (long long)cov->covered, (long long)cov->enabled,
			          cfg->coverage_alarm_pct);
			return;
		}
		if (a == COVERAGE_CLEAR) {
			fleet_set(v, STORE_FLEET_COVERAGE, false, REASON_COVERAGE_LOW,
			          "coverage alarm cleared: coverage %.1f%% (%lld of %lld enabled "
			          "hosts)",
			          pct, (long long)cov->covered, (long long)cov->enabled);
			return;
		}
	} else if (mask & (1u << STORE_FLEET_COVERAGE)) {
		/* Raised by an instance with --coverage-alarm (or by this one
		 * before a restart without it): no threshold here, but a fully
		 * covered fleet is above any, so clear it then. */
		if (coverage_alarm_next(&c->hold[STORE_FLEET_COVERAGE], true, false,
		                        cov->covered >= cov->enabled, now,
		                        cfg->alarm_hold_s) == COVERAGE_CLEAR) {
			fleet_set(
			    v, STORE_FLEET_COVERAGE, false, REASON_COVERAGE_LOW,
			    "coverage alarm cleared: every one of %lld enabled hosts is covered",
			    (long long)cov->enabled);
			return;
		}
	}
	if (cfg->dead_man_s > 0) {
		bool open = mask & (1u << STORE_FLEET_DEAD_MAN);
		bool dead =
		    coverage_dead(cov->enabled, cov->newest, c->started, now, cfg->dead_man_s);
		enum coverage_action a =
		    coverage_alarm_next(&c->hold[STORE_FLEET_DEAD_MAN], open, dead, !dead, now, 0);
		if (a == COVERAGE_RAISE)
			fleet_set(v, STORE_FLEET_DEAD_MAN, true, REASON_NO_RECENT_VERDICTS,
			          "no verdict for any of %lld enabled hosts for more than %lld s "
			          "(dead-man period)",
			          (long long)cov->enabled, (long long)cfg->dead_man_s);
		else if (a == COVERAGE_CLEAR)
			fleet_set(v, STORE_FLEET_DEAD_MAN, false, REASON_NO_RECENT_VERDICTS,
			          "dead-man alarm cleared: verdicts are written again");
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evaluate(arg, false);
}

int coverage_start(struct verifier *v)
{
	struct vcoverage *c = calloc(1, sizeof *c);
	if (c == NULL)
		return ATTEST_E_NOMEM;
	v->coverage = c;
	const struct verifier_config *cfg = &v->cfg;
	/* Often enough to notice within a quarter of the shortest period
	 * watched, at most every 5 s, at least every second. */
	int64_t every = 5, p[] = {cfg->dead_man_s, cfg->alarm_hold_s, cfg->stall_s};
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		if (p[i] > 0 && p[i] / 4 < every)
			every = p[i] / 4;
	c->every_s = every < 1 ? 1 : every;
	c->started = c->w_ok_at = verifier_now();
	c->timer = event_new(v->base, -1, EV_PERSIST, on_timer, v);
	struct timeval tv = {.tv_sec = (time_t)c->every_s};
	if (c->timer == NULL || event_add(c->timer, &tv) < 0)
		return ATTEST_E_NOMEM;
	evaluate(v, true); /* before the loop serves anything: a snapshot from the start */
	return 0;
}

void coverage_free(struct verifier *v)
{
	struct vcoverage *c = cv(v);
	if (c == NULL)
		return;
	if (c->timer)
		event_free(c->timer);
	store_coverage_free(c->cov);
	free(c);
	v->coverage = NULL;
}

/* ------------------------------------------------------------------ */
/* Health */

/* The problems that make this instance unhealthy, as {check, message}
 * objects appended to a (each check at most once). */
static void health_problems(struct verifier *v, int64_t now, json_t *a)
{
	struct vcoverage *c = cv(v);
	const struct verifier_config *cfg = &v->cfg;
	char m[400];
	if (c == NULL) {
		json_array_append_new(a, json_pack("{s:s,s:s}", "check", "starting", "message",
		                                   "the verifier is starting"));
		return;
	}
	if (c->db_fails >= 2) {
		snprintf(m, sizeof m, "the database cannot be read (%u reads in a row failed): %s",
		         c->db_fails, c->db_err);
		json_array_append_new(a, json_pack("{s:s,s:s}", "check", "database", "message", m));
	}
	if (cfg->stall_s > 0 && now - c->w_ok_at > cfg->stall_s) {
		struct store_writer_stats ws = {0};
		if (v->writer)
			store_writer_stats(v->writer, &ws);
		snprintf(
		    m, sizeof m,
		    "the storage writer has committed nothing for %lld s while work is waiting "
		    "(%zu queued, %llu failed so far)",
		    (long long)(now - c->w_ok_at), ws.queued, (unsigned long long)ws.failed);
		json_array_append_new(a, json_pack("{s:s,s:s}", "check", "writer", "message", m));
	}
	if (cfg->stall_s > 0 && v->last_round > 0 && now - v->last_round > cfg->stall_s) {
		snprintf(m, sizeof m, "the scheduler has not run a round for %lld s",
		         (long long)(now - v->last_round));
		json_array_append_new(a,
		                      json_pack("{s:s,s:s}", "check", "scheduler", "message", m));
	}
	if (c->cov &&
	    coverage_dead(c->cov->enabled, c->cov->newest, c->started, now, cfg->dead_man_s)) {
		int64_t last = c->cov->newest > c->started ? c->cov->newest : c->started;
		snprintf(m, sizeof m,
		         "no verdict for any of the %lld enabled hosts for %lld s (dead-man period "
		         "%lld s): %s",
		         (long long)c->cov->enabled, (long long)(now - last),
		         (long long)cfg->dead_man_s, REASON_NO_RECENT_VERDICTS);
		json_array_append_new(a, json_pack("{s:s,s:s}", "check", "verdicts", "message", m));
	}
}

static void route_healthz(struct https_request *req, void *arg)
{
	struct verifier *v = arg;
	struct vcoverage *c = cv(v);
	int64_t now = verifier_now();
	json_t *problems = json_array();
	if (problems == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	health_problems(v, now, problems);
	bool ok = json_array_size(problems) == 0;
	const char *reason =
	    ok ? NULL : json_string_value(json_object_get(json_array_get(problems, 0), "message"));
	json_t *b = json_pack("{s:s,s:s,s:o,s:o}", "status", ok ? "ok" : "unhealthy", "instance",
	                      v->cfg.instance, "reason", reason ? json_string(reason) : json_null(),
	                      "problems", problems);
	if (b && c && c->cov)
		json_object_set_new(b, "coverage",
		                    json_real(coverage_ratio(c->cov->covered, c->cov->enabled)));
	if (b == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(req, ok ? 200 : 503, b);
}

int coverage_register(struct verifier *v)
{
	return https_server_route(v->srv, "GET", "/healthz", route_healthz, v) < 0 ? ATTEST_E_ARG
	                                                                           : 0;
}

/* ------------------------------------------------------------------ */
/* What the status route and /metrics show */

json_t *coverage_json(struct verifier *v)
{
	struct vcoverage *c = cv(v);
	const struct verifier_config *cfg = &v->cfg;
	if (c == NULL || c->cov == NULL)
		return json_null();
	const struct store_coverage *cov = c->cov;
	json_t *inst = json_array(), *problems = json_array();
	for (size_t i = 0; inst && i < cov->n; i++) {
		const struct store_coverage_group *g = &cov->v[i];
		json_array_append_new(
		    inst, json_pack("{s:o,s:f,s:I,s:I,s:o}", "instance",
		                    g->instance ? json_string(g->instance) : json_null(), "ratio",
		                    coverage_ratio(g->covered, g->enabled), "enabled",
		                    (json_int_t)g->enabled, "covered", (json_int_t)g->covered,
		                    "newest_verdict", api_time(g->newest)));
	}
	if (problems)
		health_problems(v, verifier_now(), problems);
	return json_pack(
	    "{s:f,s:I,s:I,s:o,s:I,s:o,s:o,s:I,s:{s:b,s:b},s:o,s:{s:b,s:o}}", "ratio",
	    coverage_ratio(cov->covered, cov->enabled), "enabled", (json_int_t)cov->enabled,
	    "covered", (json_int_t)cov->covered, "newest_verdict", api_time(cov->newest),
	    "validity_s", (json_int_t)cfg->evidence_validity_s, "at", api_time(c->read_at),
	    "alarm_percent",
	    cfg->coverage_alarm_pct ? json_integer(cfg->coverage_alarm_pct) : json_null(),
	    "dead_man_s", (json_int_t)cfg->dead_man_s, "alarms", "coverage",
	    (c->open_mask & (1u << STORE_FLEET_COVERAGE)) != 0, "dead_man",
	    (c->open_mask & (1u << STORE_FLEET_DEAD_MAN)) != 0, "instances",
	    inst ? inst : json_array(), "health", "ok", json_array_size(problems) == 0, "problems",
	    problems ? problems : json_array());
}

/* A label value as the Prometheus text format wants it. */
static void label_escaped(struct textbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			textbuf_add(b, "\\%c", *s);
		else if (*s == '\n')
			textbuf_add(b, "\\n");
		else
			textbuf_add(b, "%c", *s);
	}
}

void coverage_metrics(struct verifier *v, struct textbuf *b)
{
	struct vcoverage *c = cv(v);
	if (c == NULL || c->cov == NULL)
		return;
	const struct store_coverage *cov = c->cov;
	int64_t now = verifier_now();
	textbuf_add(b,
	            "# HELP attest_coverage_ratio Share of enabled hosts whose last verdict is "
	            "younger than its validity: the fleet, or the hosts whose last verdict each "
	            "instance wrote.\n"
	            "# TYPE attest_coverage_ratio gauge\n"
	            "attest_coverage_ratio{scope=\"fleet\"} %.6g\n",
	            coverage_ratio(cov->covered, cov->enabled));
	for (size_t i = 0; i < cov->n; i++) {
		if (cov->v[i].instance == NULL)
			continue;
		textbuf_add(b, "attest_coverage_ratio{scope=\"instance\",instance=\"");
		label_escaped(b, cov->v[i].instance);
		textbuf_add(b, "\"} %.6g\n", coverage_ratio(cov->v[i].covered, cov->v[i].enabled));
	}
	textbuf_add(b,
	            "# HELP attest_coverage_hosts Enabled hosts, and those covered (a verdict "
	            "younger than its validity).\n"
	            "# TYPE attest_coverage_hosts gauge\n"
	            "attest_coverage_hosts{state=\"enabled\"} %lld\n"
	            "attest_coverage_hosts{state=\"covered\"} %lld\n"
	            "# HELP attest_last_verdict_age_seconds Age of the newest verdict of any "
	            "enabled host (-1: none yet).\n"
	            "# TYPE attest_last_verdict_age_seconds gauge\n"
	            "attest_last_verdict_age_seconds %lld\n"
	            "# HELP attest_fleet_alarm Open fleet alarms, by kind.\n"
	            "# TYPE attest_fleet_alarm gauge\n"
	            "attest_fleet_alarm{kind=\"coverage\"} %d\n"
	            "attest_fleet_alarm{kind=\"dead_man\"} %d\n",
	            (long long)cov->enabled, (long long)cov->covered,
	            (long long)(cov->newest ? now - cov->newest : -1),
	            (c->open_mask & (1u << STORE_FLEET_COVERAGE)) != 0,
	            (c->open_mask & (1u << STORE_FLEET_DEAD_MAN)) != 0);
	json_t *problems = json_array();
	if (problems)
		health_problems(v, now, problems);
	textbuf_add(b,
	            "# HELP attest_healthy 1 when /healthz answers 200 (this instance works).\n"
	            "# TYPE attest_healthy gauge\n"
	            "attest_healthy %d\n",
	            problems && json_array_size(problems) == 0);
	json_decref(problems);
}
