/* Learning a policy from a known-good host (policy_learn in policy.h). */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "hex.h"
#include "textbuf.h"

#define SUMMARY_MAX (256u * 1024) /* bytes of summary text */

struct learn {
	const struct policy_learn_input *in;
	const struct quote_pcr_bank *quoted; /* sha256 values, or NULL */
	struct policy *p;
	struct textbuf sum; /* growable, up to SUMMARY_MAX */
};

/* Whether an event can back a learned value: its PCR was quoted in the
 * sha256 bank and its content check did not fail (needs_pass: it passed). */
static bool usable(struct learn *l, int64_t event, bool needs_pass, const char *what)
{
	const struct eventlog *log = l->in->log;
	if (event < 0 || (size_t)event >= log->event_count)
		return false;
	const struct eventlog_event *ev = &log->events[event];
	uint8_t st = l->in->checks->status[event];
	if (ev->pcr >= QUOTE_NUM_PCRS || !l->quoted || !(l->quoted->present & (1u << ev->pcr))) {
		textbuf_add(&l->sum, "not approved: %s (event %u): PCR %u was not quoted\n", what,
		            ev->number, ev->pcr);
		return false;
	}
	if (st == EVENTLOG_CHECK_FAIL || (needs_pass && st != EVENTLOG_CHECK_PASS)) {
		textbuf_add(&l->sum,
		            "not approved: %s (event %u): its content check did not pass\n", what,
		            ev->number);
		return false;
	}
	return true;
}

/* The PCR that backs a learned value must be quoted by the policy. */
static void need_pcr(struct learn *l, int64_t event)
{
	uint32_t pcr = l->in->log->events[event].pcr;
	for (size_t i = 0; i < l->p->selection_count; i++)
		if (l->p->selection[i].alg == TPM2_ALG_SHA256)
			l->p->selection[i].mask |= 1u << pcr;
}

static const uint8_t *sha256_of(const struct learn *l, int64_t event)
{
	const struct eventlog_digest *d =
	    eventlog_event_digest(&l->in->log->events[event], TPM2_ALG_SHA256);
	return d && d->size == POLICY_DIGEST_SIZE ? d->bytes : NULL;
}

static int add_string(struct policy_strings *s, const char *v)
{
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->v[i], v))
			return 0;
	if (s->count >= POLICY_MAX_ITEMS)
		return 0;
	char **n = realloc(s->v, (s->count + 1) * sizeof *n);
	if (!n)
		return ATTEST_E_NOMEM;
	s->v = n;
	if (!(s->v[s->count] = strdup(v)))
		return ATTEST_E_NOMEM;
	s->count++;
	return 0;
}

static int add_digest(struct policy_digests *d, const uint8_t *v)
{
	for (size_t i = 0; i < d->count; i++)
		if (!memcmp(d->v[i], v, POLICY_DIGEST_SIZE))
			return 0;
	if (d->count >= POLICY_MAX_ITEMS)
		return 0;
	uint8_t(*n)[POLICY_DIGEST_SIZE] = realloc(d->v, (d->count + 1) * sizeof *n);
	if (!n)
		return ATTEST_E_NOMEM;
	d->v = n;
	memcpy(d->v[d->count++], v, POLICY_DIGEST_SIZE);
	return 0;
}

static int copy_requirements(const struct policy *base, struct policy *p)
{
	p->version = POLICY_VERSION;
	p->secure_boot = base->secure_boot;
	p->uefi = base->uefi;
	p->certified_tpm = base->certified_tpm;
	p->bank_count = base->bank_count;
	memcpy(p->banks, base->banks, sizeof p->banks);
	p->tpm_interfaces = base->tpm_interfaces;
	p->ek_trust = base->ek_trust;
	p->selection_count = base->selection_count;
	memcpy(p->selection, base->selection, sizeof p->selection);
	p->pk.entries = p->kek.entries = p->db.entries = p->dbx.entries = -1;
	p->pk.min_entries = p->kek.min_entries = p->db.min_entries = p->dbx.min_entries = -1;
	if (base->min_agent_version && !(p->min_agent_version = strdup(base->min_agent_version)))
		return ATTEST_E_NOMEM;
	return 0;
}

static int learn_pcrs(struct learn *l)
{
	struct policy *p = l->p;
	p->pcr_values = calloc(POLICY_MAX_BANKS * QUOTE_NUM_PCRS, sizeof *p->pcr_values);
	if (!p->pcr_values)
		return ATTEST_E_NOMEM;
	for (size_t b = 0; b < p->selection_count; b++) {
		const struct policy_selection *s = &p->selection[b];
		const struct quote_pcr_bank *q = quote_pcrs_bank(l->in->pcrs, s->alg);
		unsigned learned = 0;
		for (unsigned i = 0; i < QUOTE_NUM_PCRS; i++) {
			if (!(s->mask & (1u << i)))
				continue;
			if (!q || !(q->present & (1u << i))) {
				textbuf_add(&l->sum, "not approved: PCR %u (%s): no quoted value\n",
				            i, bundle_bank_name(s->alg));
				continue;
			}
			struct policy_pcr_values *pv = &p->pcr_values[p->pcr_value_count];
			if (!(pv->v = calloc(1, sizeof *pv->v)))
				return ATTEST_E_NOMEM;
			pv->alg = s->alg;
			pv->index = i;
			pv->count = 1;
			memcpy(pv->v[0], q->value[i], q->size);
			p->pcr_value_count++;
			learned++;
		}
		textbuf_add(&l->sum, "PCR values: %u %s PCRs pinned to their quoted values\n",
		            learned, bundle_bank_name(s->alg));
	}
	return 0;
}

static int learn_firmware(struct learn *l)
{
	const struct eventlog_facts *f = l->in->facts;
	const struct eventlog *log = l->in->log;
	int e;
	for (size_t i = 0; i < f->firmware_count; i++) {
		const struct eventlog_fact_text *t = &f->firmware[i];
		if (t->type != EV_S_CRTM_VERSION || !usable(l, t->event, true, "firmware version"))
			continue;
		if ((e = add_string(&l->p->firmware_versions, t->text)) < 0)
			return e;
		l->p->has_firmware_versions = true;
		textbuf_add(&l->sum, "firmware version: \"%s\" (event %u)\n", t->text, t->event);
	}
	for (size_t i = 0; i < log->event_count; i++) {
		const struct eventlog_event *ev = &log->events[i];
		if (ev->type != EV_EFI_PLATFORM_FIRMWARE_BLOB &&
		    ev->type != EV_EFI_PLATFORM_FIRMWARE_BLOB2)
			continue;
		const uint8_t *d = sha256_of(l, (int64_t)i);
		if (!d || !usable(l, (int64_t)i, false, "firmware blob"))
			continue;
		if ((e = add_digest(&l->p->firmware_blobs, d)) < 0)
			return e;
		l->p->has_firmware_blobs = true;
		char h[2 * POLICY_DIGEST_SIZE + 1];
		hex_encode(d, POLICY_DIGEST_SIZE, h);
		textbuf_add(&l->sum, "firmware blob: %s (event %u)\n", h, ev->number);
	}
	return 0;
}

static int learn_boot_apps(struct learn *l)
{
	const struct eventlog_facts *f = l->in->facts;
	struct policy *p = l->p;
	if (!f->boot_app_count)
		return 0;
	p->boot_apps = calloc(f->boot_app_count, sizeof *p->boot_apps);
	if (!p->boot_apps)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; i < f->boot_app_count; i++) {
		const struct eventlog_boot_app *a = &f->boot_apps[i];
		const uint8_t *d = sha256_of(l, a->event);
		if (!d || !usable(l, a->event, false, "boot application"))
			continue;
		const char *path = a->path && a->path[0] ? a->path : NULL;
		bool dup = false;
		for (size_t k = 0; k < p->boot_app_count && !dup; k++)
			dup =
			    !memcmp(p->boot_apps[k].digest, d, POLICY_DIGEST_SIZE) &&
			    ((!path && !p->boot_apps[k].path) ||
			     (path && p->boot_apps[k].path && !strcmp(path, p->boot_apps[k].path)));
		if (dup)
			continue;
		struct policy_boot_app *b = &p->boot_apps[p->boot_app_count];
		memcpy(b->digest, d, POLICY_DIGEST_SIZE);
		if (path && !(b->path = strdup(path)))
			return ATTEST_E_NOMEM;
		p->boot_app_count++;
		p->has_boot_apps = true;
		char h[2 * POLICY_DIGEST_SIZE + 1];
		hex_encode(d, POLICY_DIGEST_SIZE, h);
		textbuf_add(&l->sum, "boot application: %s %s (event %u)\n",
		            path ? path : "(no path)", h, a->event);
	}
	return 0;
}

static int learn_kernel(struct learn *l)
{
	const struct eventlog_facts *f = l->in->facts;
	int e;
	if (f->kernel_cmdline && usable(l, f->kernel_cmdline_event, true, "kernel command line")) {
		if ((e = add_string(&l->p->kernel_cmdlines, f->kernel_cmdline)) < 0)
			return e;
		l->p->has_kernel_cmdlines = true;
		need_pcr(l, f->kernel_cmdline_event);
		textbuf_add(&l->sum, "kernel command line: \"%s\" (event %lld)\n",
		            f->kernel_cmdline, (long long)f->kernel_cmdline_event);
	}
	if (f->kernel_image &&
	    usable(l, f->kernel_image_event, !f->kernel_image_from_boot_app, "kernel image")) {
		if ((e = add_string(&l->p->kernel_images, f->kernel_image)) < 0)
			return e;
		l->p->has_kernel_images = true;
		need_pcr(l, f->kernel_image_event);
		textbuf_add(&l->sum, "kernel image: %s (event %lld)\n", f->kernel_image,
		            (long long)f->kernel_image_event);
	}
	return 0;
}

static int learn_sigdb(struct learn *l, const char *name, const struct eventlog_sigdb *s,
                       struct policy_sigdb *ps, bool at_least)
{
	if (!s->present) {
		textbuf_add(&l->sum, "not approved: %s: the log does not show it\n", name);
		return 0;
	}
	if (!s->verified || !s->well_formed) {
		textbuf_add(&l->sum, "not approved: %s (event %u): %s\n", name, s->event,
		            !s->verified ? "its content check did not pass" : "it does not parse");
		return 0;
	}
	const uint8_t *d = sha256_of(l, s->event);
	if (!d || !usable(l, s->event, true, name))
		return 0;
	ps->set = true;
	if (at_least) {
		/* a dbx only grows with updates: approve this one and newer */
		ps->min_entries = s->entries;
		textbuf_add(&l->sum, "%s: at least %u entries (event %u)\n", name, s->entries,
		            s->event);
		return 0;
	}
	ps->entries = s->entries;
	char h[2 * POLICY_DIGEST_SIZE + 1];
	hex_encode(d, POLICY_DIGEST_SIZE, h);
	textbuf_add(&l->sum, "%s: %u entries, digest %s (event %u)\n", name, s->entries, h,
	            s->event);
	return add_digest(&ps->digests, d);
}

/* Say which requirements the learned-from host itself does not meet:
 * learning never relaxes them. */
static void warn_requirements(struct learn *l)
{
	const struct eventlog_facts *f = l->in->facts;
	const struct policy *p = l->p;
	if (p->secure_boot && f->secure_boot != EVENTLOG_SECURE_BOOT_ENABLED)
		textbuf_add(&l->sum,
		            "warning: this host's Secure Boot is %s; the policy requires it "
		            "enabled\n",
		            eventlog_secure_boot_name(f->secure_boot));
	if (p->uefi && !f->is_uefi)
		textbuf_add(&l->sum,
		            "warning: this host did not boot with UEFI; the policy requires it\n");
	if (!l->quoted)
		textbuf_add(&l->sum, "warning: no sha256 PCR values were quoted\n");
}

int policy_learn(const struct policy_learn_input *in, struct policy **ret, char **ret_summary)
{
	if (!in || !in->log || !in->checks || !in->facts || !in->pcrs || !ret ||
	    in->checks->event_count != in->log->event_count)
		return ATTEST_E_ARG;
	struct policy *def = NULL;
	const struct policy *base = in->base;
	int e = 0;
	if (!base) {
		if ((e = policy_default(&def)) < 0)
			return e;
		base = def;
	}
	struct learn l;
	memset(&l, 0, sizeof l);
	l.in = in;
	l.quoted = quote_pcrs_bank(in->pcrs, TPM2_ALG_SHA256);
	textbuf_growable(&l.sum, SUMMARY_MAX);
	l.p = calloc(1, sizeof *l.p);
	if (!l.p) {
		e = ATTEST_E_NOMEM;
		goto out;
	}
	if ((e = copy_requirements(base, l.p)) < 0 || (e = learn_pcrs(&l)) < 0 ||
	    (e = learn_firmware(&l)) < 0 || (e = learn_boot_apps(&l)) < 0 ||
	    (e = learn_kernel(&l)) < 0 ||
	    (e = learn_sigdb(&l, "PK", &in->facts->pk, &l.p->pk, false)) < 0 ||
	    (e = learn_sigdb(&l, "KEK", &in->facts->kek, &l.p->kek, false)) < 0 ||
	    (e = learn_sigdb(&l, "db", &in->facts->db, &l.p->db, false)) < 0 ||
	    (e = learn_sigdb(&l, "dbx", &in->facts->dbx, &l.p->dbx, true)) < 0)
		goto out;
	warn_requirements(&l);
	{
		char r[96];
		uint32_t m = policy_selection_mask(l.p, TPM2_ALG_SHA256);
		size_t len = 0;
		r[0] = '\0';
		for (unsigned i = 0; i < QUOTE_NUM_PCRS; i++)
			if (m & (1u << i)) {
				int n =
				    snprintf(r + len, sizeof r - len, "%s%u", len ? "," : "", i);
				if (n > 0 && (size_t)n < sizeof r - len)
					len += (size_t)n;
			}
		textbuf_add(&l.sum, "quote: sha256 PCRs %s\n", r);
	}
	if (l.sum.nomem) {
		e = ATTEST_E_NOMEM;
		goto out;
	}
	if (ret_summary) {
		*ret_summary = textbuf_take(&l.sum);
		if (!*ret_summary) {
			e = ATTEST_E_NOMEM;
			goto out;
		}
	}
	*ret = l.p;
	l.p = NULL;
out:
	textbuf_free(&l.sum);
	policy_free(l.p);
	policy_free(def);
	return e;
}
