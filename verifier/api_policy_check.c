/* What-if for a policy (api_policy_check.h): the named policy against every
 * host's last stored evidence, through the same checks attestation runs
 * (lib/verify.h, verify_stored), with the same software catalog. Nothing
 * is written: no verdict, no event, no alarm. Hosts whose last evidence did
 * not verify (or that have none) cannot be judged and are listed as such. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_policy_check.h"
#include "bundle.h"
#include "catalog_appraise.h"
#include "err.h"
#include "policy.h"
#include "verify.h"

/* One host: its would-be verdict into o (keys would_be, reasons). */
static void judge(struct verifier *v, const struct store_host *h, const struct policy *p, json_t *o)
{
	struct store_evidence *e = NULL;
	int rc = store_evidence_get(v->store, h->id, &e);
	if (rc < 0 || !e->verified) {
		json_object_set_new(o, "would_be", json_string("unknown"));
		json_object_set_new(o, "why",
		                    json_string(rc < 0 ? "no stored evidence"
		                                       : "its last evidence did not verify"));
		store_evidence_free(e);
		return;
	}
	struct bundle b;
	memset(&b, 0, sizeof b);
	json_t *pj = json_loads(e->pcrs_json ? e->pcrs_json : "{}", 0, NULL);
	rc = pj ? evidence_pcrs_from_json(pj, &b.pcrs) : ATTEST_E_FORMAT;
	json_decref(pj);
	b.metadata = e->metadata_json ? json_loads(e->metadata_json, 0, NULL) : NULL;
	b.eventlog = e->eventlog;
	b.eventlog_len = e->eventlog ? e->eventlog_len : 0;
	json_t *tpm = verifier_json_stored(h->tpm_json);
	uint16_t banks[QUOTE_MAX_BANKS];
	size_t nb = 0, i;
	json_t *x;
	json_array_foreach(json_object_get(tpm, "banks"), i, x)
	{
		const char *s = json_string_value(x);
		uint16_t id = s ? bundle_bank_alg(s) : 0;
		if (id != 0 && nb < QUOTE_MAX_BANKS)
			banks[nb++] = id;
	}
	struct verify_input in = {
	    .bundle = &b,
	    .host = {.tpm_interface = json_string_value(json_object_get(tpm, "interface")),
	             .banks = banks,
	             .bank_count = nb,
	             .agent_version = json_string_value(json_object_get(tpm, "agent_version")),
	             .ek_certified = h->ek_certified,
	             .ek_trust = json_string_value(json_object_get(tpm, "ek_trust"))},
	    .policy = p,
	};
	struct catalog_entry *cat = NULL;
	size_t ncat = 0;
	catalog_appraise_load(v, 0, NULL, b.eventlog, b.eventlog_len, &cat, &ncat);
	in.catalog = cat;
	in.catalog_count = ncat;
	struct verify_result *r = NULL;
	json_t *reasons = NULL;
	if (rc == 0 && verify_stored(&in, &r) == 0 && verify_reasons_json(r, &reasons) == 0) {
		json_object_set_new(o, "would_be", json_string(verify_trust_name(r)));
		json_object_set_new(o, "reasons", reasons);
	} else {
		json_decref(reasons);
		json_object_set_new(o, "would_be", json_string("unknown"));
		json_object_set_new(o, "why", json_string("its stored evidence cannot be read"));
	}
	verify_result_free(r);
	free(cat);
	json_decref(tpm);
	json_decref(b.metadata);
	store_evidence_free(e);
}

void api_policy_check(struct api_call *c)
{
	struct verifier *v = c->v;
	struct store_policy *sp = NULL;
	int rc = store_policy_get_by_name(v->store, c->key, &sp);
	if (rc < 0) {
		api_store_error(v, c->req, rc, "policy");
		return;
	}
	struct policy *p = NULL;
	struct policy_error pe = {0};
	rc = policy_parse(sp->body_json, strlen(sp->body_json), &p, &pe);
	store_policy_free(sp);
	if (rc < 0) {
		https_reply_error(c->req, 422, "INVALID_POLICY", pe.message);
		return;
	}
	json_t *hosts = json_array();
	int64_t changing = 0;
	struct store_page pg = {.limit = STORE_PAGE_MAX, .offset = 0};
	for (;;) {
		struct store_host_list *l = NULL;
		if ((rc = store_host_list(v->store, &pg, &l)) < 0)
			break;
		for (size_t i = 0; i < l->n; i++) {
			const struct store_host *h = &l->v[i];
			json_t *o = json_pack("{s:s,s:s,s:s?}", "host", h->name, "current",
			                      store_trust_name(h->trust), "policy", h->policy_name);
			if (!o)
				continue;
			judge(v, h, p, o);
			const char *wb = json_string_value(json_object_get(o, "would_be"));
			bool change = wb && strcmp(wb, "unknown") != 0 &&
			              strcmp(wb, store_trust_name(h->trust)) != 0;
			changing += change;
			json_object_set_new(o, "changes", json_boolean(change));
			json_array_append_new(hosts, o);
		}
		size_t n = l->n;
		store_host_list_free(l);
		if (n < pg.limit)
			break;
		pg.offset += n;
	}
	policy_free(p);
	if (rc < 0) {
		json_decref(hosts);
		api_store_error(v, c->req, rc, "hosts");
		return;
	}
	https_reply_json(c->req, 200,
	                 json_pack("{s:s,s:I,s:o}", "policy", c->key, "would_change",
	                           (json_int_t)changing, "hosts", hosts));
}
