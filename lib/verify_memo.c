/* The per-host memo's storage (verify_memo.h); verify.c fills and reads it. */
#include "verify_memo.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int verify_memo_new(struct verify_memo **ret)
{
	if (!ret)
		return ATTEST_E_ARG;
	struct verify_memo *m = calloc(1, sizeof *m);
	if (!m)
		return ATTEST_E_NOMEM;
	*ret = m;
	return 0;
}

void verify_memo_clear_tail(struct verify_memo *m)
{
	if (!m)
		return;
	free(m->reasons);
	free(m->firmware);
	free(m->boot_loader);
	free(m->kernel_image);
	free(m->kernel_cmdline);
	for (size_t i = 0; i < m->not_verified_count; i++)
		free(m->not_verified[i].value);
	free(m->not_verified);
	free(m->components);
	m->have_tail = false;
	memset(m->tail_key, 0, sizeof m->tail_key);
	m->reason_count = m->reasons_dropped = m->not_verified_count = 0;
	m->reasons = NULL;
	m->not_verified = NULL;
	m->components = NULL;
	m->component_count = 0;
	m->firmware = m->boot_loader = m->kernel_image = m->kernel_cmdline = NULL;
}

void verify_memo_clear(struct verify_memo *m)
{
	if (!m)
		return;
	verify_memo_clear_tail(m);
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		free(m->banks[i].pcr);
	memset(m->banks, 0, sizeof m->banks);
	m->bank_count = 0;
	m->have_log = false;
	memset(m->log_digest, 0, sizeof m->log_digest);
	EVP_PKEY_free(m->ak_key);
	m->ak_key = NULL;
	m->have_ak = false;
	memset(m->ak_digest, 0, sizeof m->ak_digest);
}

void verify_memo_free(struct verify_memo *m)
{
	if (!m)
		return;
	verify_memo_clear(m);
	free(m);
}

static size_t text_bytes(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

size_t verify_memo_bytes(const struct verify_memo *m)
{
	if (!m)
		return 0;
	size_t n = sizeof *m;
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		n += (size_t)QUOTE_NUM_PCRS * m->banks[i].size;
	n += m->reason_count * sizeof *m->reasons;
	n += text_bytes(m->firmware) + text_bytes(m->boot_loader) + text_bytes(m->kernel_image) +
	     text_bytes(m->kernel_cmdline);
	for (size_t i = 0; i < m->not_verified_count; i++)
		n += sizeof *m->not_verified + text_bytes(m->not_verified[i].value);
	n += m->component_count * sizeof *m->components;
	if (m->ak_key)
		n += 1024; /* an RSA-2048 or P-256 public key, roughly */
	return n;
}
