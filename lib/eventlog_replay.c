/* Replay an event log into PCR values, per bank, with OpenSSL EVP. */
#include "eventlog.h"

#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "eventlog_facts.h"
#include "eventlog_internal.h"

const char *eventlog_alg_evp_name(uint16_t alg)
{
	switch (alg) {
	case EVENTLOG_ALG_SHA1: return "SHA1";
	case EVENTLOG_ALG_SHA256: return "SHA256";
	case EVENTLOG_ALG_SHA384: return "SHA384";
	case EVENTLOG_ALG_SHA512: return "SHA512";
	case EVENTLOG_ALG_SM3_256: return "SM3";
	default: return NULL;
	}
}

const struct eventlog_pcr_bank *eventlog_pcrs_bank(const struct eventlog_pcrs *p, uint16_t alg)
{
	if (!p)
		return NULL;
	for (uint32_t i = 0; i < p->bank_count && i < EVENTLOG_MAX_BANKS; i++)
		if (p->banks[i].alg == alg)
			return &p->banks[i];
	return NULL;
}

/* Fetch the EVP digest for a bank; NULL when OpenSSL (or its provider, for
 * SM3) cannot compute it or the declared size differs. Caller frees. */
EVP_MD *eventlog_fetch_md(uint16_t alg, uint16_t size)
{
	const char *name = eventlog_alg_evp_name(alg);
	if (!name || eventlog_alg_size(alg) != size)
		return NULL;
	EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
	if (md && (size_t)EVP_MD_get_size(md) != size) {
		EVP_MD_free(md);
		return NULL;
	}
	return md;
}

int eventlog_replay(const struct eventlog *log, struct eventlog_pcrs *ret)
{
	return eventlog_replay_bank(log, 0, ret);
}

int eventlog_replay_bank(const struct eventlog *log, uint16_t only_alg, struct eventlog_pcrs *ret)
{
	if (!log || !ret || log->bank_count > EVENTLOG_MAX_BANKS)
		return ATTEST_E_ARG;
	struct eventlog_pcrs out;
	memset(&out, 0, sizeof out);
	out.bank_count = log->bank_count;
	int e = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ATTEST_E_NOMEM;
	uint8_t init0 = 0;
	if (log->has_hcrtm)
		init0 = 4;
	else if (log->has_startup_locality)
		init0 = log->startup_locality;

	for (uint32_t b = 0; b < log->bank_count; b++) {
		struct eventlog_pcr_bank *pb = &out.banks[b];
		pb->alg = log->banks[b].alg;
		pb->size = log->banks[b].size;
		if (only_alg && pb->alg != only_alg)
			continue;
		EVP_MD *md = eventlog_fetch_md(pb->alg, pb->size);
		if (!md)
			continue; /* a bank we cannot compute stays untouched */
		pb->pcr[0][pb->size - 1] = init0;
		for (size_t i = 0; i < log->event_count; i++) {
			const struct eventlog_event *ev = &log->events[i];
			if (ev->type == EV_NO_ACTION || ev->pcr >= EVENTLOG_NUM_PCRS)
				continue;
			const struct eventlog_digest *d = NULL;
			for (uint32_t k = 0; k < ev->digest_count; k++)
				if (ev->digests[k].alg == pb->alg) {
					d = &ev->digests[k];
					break;
				}
			if (!d || d->size != pb->size)
				continue; /* parser guarantees one per bank */
			uint8_t *p = pb->pcr[ev->pcr];
			unsigned int outlen = 0;
			if (!EVP_DigestInit_ex2(ctx, md, NULL) ||
			    !EVP_DigestUpdate(ctx, p, pb->size) ||
			    !EVP_DigestUpdate(ctx, d->bytes, d->size) ||
			    !EVP_DigestFinal_ex(ctx, p, &outlen) || outlen != pb->size) {
				e = ATTEST_E_CRYPTO;
				EVP_MD_free(md);
				goto out;
			}
			pb->touched |= 1u << ev->pcr;
		}
		EVP_MD_free(md);
	}
	*ret = out;
out:
	EVP_MD_CTX_free(ctx);
	return e;
}
