/* TCG PC Client event log parser (see eventlog.h, docs/eventlog.md).
 *
 * The input is hostile: every read goes through struct reader, every count
 * and size is checked against a named cap before use, and every error names
 * the byte offset, the event number and the bad value. */
#include "eventlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "err.h"
#include "reader.h"

/* "Spec ID Event03\0": the crypto-agile header's signature (16 bytes). */
static const char spec_id_03[16] = "Spec ID Event03";
static const char startup_locality_sig[16] = "StartupLocality";

#define SHA1_SIZE 20u

/* Fixed part of a Spec ID event before the algorithm list: signature[16],
 * platformClass u32, specVersionMinor/Major, specErrata, uintnSize (u8 each),
 * numberOfAlgorithms u32. */
#define SPEC_ID_FIXED 28u

struct parse_state {
	struct reader r;
	struct eventlog *log;
	size_t cap; /* allocated events */
	struct diag *err;
};

static int fail(struct parse_state *st, int code, size_t offset, size_t event, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct parse_state *st, int code, size_t offset, size_t event, const char *fmt, ...)
{
	if (st->err) {
		char what[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof what, fmt, ap);
		va_end(ap);
		st->err->offset = offset;
		st->err->event = event;
		snprintf(st->err->message, sizeof st->err->message, "event %zu at offset %zu: %s",
		         event, offset, what);
	}
	return code;
}

size_t eventlog_alg_size(uint16_t alg)
{
	const struct alg_hash *h = alg_hash_by_id(alg);
	return h ? h->size : 0;
}

const char *eventlog_alg_name(uint16_t alg)
{
	const struct alg_hash *h = alg_hash_by_id(alg);
	return h ? h->name : NULL;
}

/* Append one event slot, growing geometrically up to the cap. */
static int new_event(struct parse_state *st, size_t offset, struct eventlog_event **ret)
{
	struct eventlog *log = st->log;
	if (log->event_count >= EVENTLOG_MAX_EVENTS)
		return fail(st, ATTEST_E_LIMIT, offset, log->event_count,
		            "more than %u events (the cap)", EVENTLOG_MAX_EVENTS);
	if (log->event_count == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 64;
		if (ncap > EVENTLOG_MAX_EVENTS)
			ncap = EVENTLOG_MAX_EVENTS;
		struct eventlog_event *n = realloc(log->events, ncap * sizeof *n);
		if (!n)
			return ATTEST_E_NOMEM;
		log->events = n;
		st->cap = ncap;
	}
	struct eventlog_event *ev = &log->events[log->event_count];
	memset(ev, 0, sizeof *ev);
	ev->number = (uint32_t)log->event_count;
	ev->offset = offset;
	*ret = ev;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks shared by both record formats once pcr/type/data are known. */
static int check_event(struct parse_state *st, struct eventlog_event *ev)
{
	if (ev->pcr == EVENTLOG_PCR_NONE) {
		if (ev->type != EV_NO_ACTION)
			return fail(st, ATTEST_E_FORMAT, ev->offset, ev->number,
			            "PCR index 0xFFFFFFFF is only allowed on EV_NO_ACTION, "
			            "event type is 0x%08x",
			            ev->type);
	} else if (ev->pcr >= EVENTLOG_NUM_PCRS) {
		return fail(st, ATTEST_E_FORMAT, ev->offset, ev->number,
		            "PCR index %u out of range (0..%u)", ev->pcr, EVENTLOG_NUM_PCRS - 1);
	}
	if (ev->type == EV_NO_ACTION && ev->data_len >= 16 &&
	    !memcmp(ev->data, startup_locality_sig, 16)) {
		if (ev->data_len != 17)
			return fail(st, ATTEST_E_FORMAT, ev->offset, ev->number,
			            "StartupLocality event data is %u bytes, expected 17",
			            ev->data_len);
		if (ev->pcr != 0)
			return fail(st, ATTEST_E_FORMAT, ev->offset, ev->number,
			            "StartupLocality event on PCR %u, expected PCR 0", ev->pcr);
		if (st->log->has_startup_locality)
			return fail(st, ATTEST_E_FORMAT, ev->offset, ev->number,
			            "second StartupLocality event");
		st->log->has_startup_locality = true;
		st->log->startup_locality = ev->data[16];
	}
	if (ev->type == EV_EFI_HCRTM_EVENT)
		st->log->has_hcrtm = true;
	return 0;
}

static int read_data(struct parse_state *st, struct eventlog_event *ev, size_t field_off)
{
	uint32_t size;
	if (reader_u32le(&st->r, &size) < 0)
		return fail(st, ATTEST_E_TRUNCATED, field_off, ev->number,
		            "log ends inside the event data size field");
	if (size > EVENTLOG_MAX_EVENT_DATA)
		return fail(st, ATTEST_E_LIMIT, field_off, ev->number,
		            "event data size %u exceeds the cap of %u bytes", size,
		            EVENTLOG_MAX_EVENT_DATA);
	if (reader_bytes(&st->r, size, &ev->data) < 0)
		return fail(st, ATTEST_E_TRUNCATED, field_off + 4, ev->number,
		            "event data size %u but only %zu bytes left", size,
		            reader_left(&st->r));
	ev->data_len = size;
	return 0;
}

/* TCG_PCR_EVENT: pcr, type, SHA-1 digest, data size, data. */
static int parse_sha1_event(struct parse_state *st, struct eventlog_event *ev)
{
	size_t off = st->r.off;
	if (reader_u32le(&st->r, &ev->pcr) < 0 || reader_u32le(&st->r, &ev->type) < 0)
		return fail(st, ATTEST_E_TRUNCATED, off, ev->number,
		            "log ends inside the record header (%zu bytes left, need 8)",
		            reader_left(&st->r));
	const uint8_t *d;
	if (reader_bytes(&st->r, SHA1_SIZE, &d) < 0)
		return fail(st, ATTEST_E_TRUNCATED, off + 8, ev->number,
		            "log ends inside the SHA-1 digest (%zu bytes left, need 20)",
		            reader_left(&st->r));
	ev->digest_count = 1;
	ev->digests[0] = (struct eventlog_digest){EVENTLOG_ALG_SHA1, SHA1_SIZE, d};
	int e = read_data(st, ev, off + 28);
	if (e < 0)
		return e;
	return check_event(st, ev);
}

/* TCG_PCR_EVENT2: pcr, type, TPML_DIGEST_VALUES, data size, data. */
static int parse_agile_event(struct parse_state *st, struct eventlog_event *ev)
{
	struct eventlog *log = st->log;
	size_t off = st->r.off;
	uint32_t count;
	if (reader_u32le(&st->r, &ev->pcr) < 0 || reader_u32le(&st->r, &ev->type) < 0 ||
	    reader_u32le(&st->r, &count) < 0)
		return fail(st, ATTEST_E_TRUNCATED, off, ev->number,
		            "log ends inside the record header (%zu bytes left, need 12)",
		            reader_left(&st->r));
	/* Windows logs events after boot in the active bank(s) only, so an
	 * event may carry a subset of the declared banks (never more). */
	if (count > log->bank_count || (count == 0 && ev->type != EV_NO_ACTION))
		return fail(st, count > EVENTLOG_MAX_BANKS ? ATTEST_E_LIMIT : ATTEST_E_FORMAT,
		            off + 8, ev->number,
		            "digest count %u, but the Spec ID header declares %u banks", count,
		            log->bank_count);
	for (uint32_t i = 0; i < count; i++) {
		size_t aoff = st->r.off;
		uint16_t alg;
		if (reader_u16le(&st->r, &alg) < 0)
			return fail(st, ATTEST_E_TRUNCATED, aoff, ev->number,
			            "log ends inside digest %u's algorithm id", i);
		uint32_t b;
		for (b = 0; b < log->bank_count; b++)
			if (log->banks[b].alg == alg)
				break;
		if (b == log->bank_count)
			return fail(
			    st, ATTEST_E_FORMAT, aoff, ev->number,
			    "digest %u has algorithm 0x%04x, not declared in the Spec ID header", i,
			    alg);
		for (uint32_t j = 0; j < i; j++)
			if (ev->digests[j].alg == alg)
				return fail(st, ATTEST_E_FORMAT, aoff, ev->number,
				            "algorithm 0x%04x appears twice in one event", alg);
		uint16_t size = log->banks[b].size;
		const uint8_t *d;
		if (reader_bytes(&st->r, size, &d) < 0)
			return fail(st, ATTEST_E_TRUNCATED, aoff + 2, ev->number,
			            "log ends inside the 0x%04x digest (%zu bytes left, need %u)",
			            alg, reader_left(&st->r), size);
		ev->digests[i] = (struct eventlog_digest){alg, size, d};
	}
	ev->digest_count = count;
	int e = read_data(st, ev, st->r.off);
	if (e < 0)
		return e;
	return check_event(st, ev);
}

/* Decode the Spec ID Event03 body (first event's data) into log->banks. */
static int parse_spec_id(struct parse_state *st, const struct eventlog_event *ev)
{
	struct eventlog *log = st->log;
	struct reader r;
	size_t base = ev->offset + 32; /* data starts after the 32-byte header */
	reader_init(&r, ev->data, ev->data_len);
	if (reader_skip(&r, SPEC_ID_FIXED - 4) < 0)
		return fail(st, ATTEST_E_FORMAT, base, 0,
		            "Spec ID Event03 data is %u bytes, shorter than its fixed part",
		            ev->data_len);
	uint8_t uintn = ev->data[23];
	if (uintn != 1 && uintn != 2)
		return fail(st, ATTEST_E_FORMAT, base + 23, 0,
		            "Spec ID uintnSize %u, expected 1 or 2", uintn);
	uint32_t n;
	if (reader_u32le(&r, &n) < 0)
		return fail(st, ATTEST_E_FORMAT, base + r.off, 0,
		            "Spec ID Event03 ends before numberOfAlgorithms");
	if (n == 0)
		return fail(st, ATTEST_E_FORMAT, base + 24, 0, "Spec ID declares 0 algorithms");
	if (n > EVENTLOG_MAX_BANKS)
		return fail(st, ATTEST_E_LIMIT, base + 24, 0,
		            "Spec ID declares %u algorithms, more than the cap of %u", n,
		            EVENTLOG_MAX_BANKS);
	for (uint32_t i = 0; i < n; i++) {
		size_t aoff = base + r.off;
		uint16_t alg, size;
		if (reader_u16le(&r, &alg) < 0 || reader_u16le(&r, &size) < 0)
			return fail(st, ATTEST_E_FORMAT, aoff, 0,
			            "Spec ID Event03 ends inside algorithm entry %u of %u", i, n);
		for (uint32_t j = 0; j < i; j++)
			if (log->banks[j].alg == alg)
				return fail(st, ATTEST_E_FORMAT, aoff, 0,
				            "Spec ID lists algorithm 0x%04x twice", alg);
		size_t known = eventlog_alg_size(alg);
		if (known && known != size)
			return fail(st, ATTEST_E_FORMAT, aoff + 2, 0,
			            "Spec ID declares digest size %u for %s, which is %zu bytes",
			            size, eventlog_alg_name(alg), known);
		if (size == 0 || size > EVENTLOG_MAX_DIGEST)
			return fail(st, size ? ATTEST_E_LIMIT : ATTEST_E_FORMAT, aoff + 2, 0,
			            "Spec ID declares digest size %u for algorithm 0x%04x "
			            "(must be 1..%u)",
			            size, alg, EVENTLOG_MAX_DIGEST);
		log->banks[i] = (struct eventlog_bank){alg, size};
	}
	uint8_t vendor_size;
	const uint8_t *vendor;
	size_t voff = base + r.off;
	if (reader_u8(&r, &vendor_size) < 0)
		return fail(st, ATTEST_E_FORMAT, voff, 0,
		            "Spec ID Event03 ends before its vendorInfoSize");
	if (reader_bytes(&r, vendor_size, &vendor) < 0)
		return fail(st, ATTEST_E_FORMAT, voff, 0,
		            "Spec ID vendorInfoSize %u but only %zu bytes left", vendor_size,
		            reader_left(&r));
	if (reader_left(&r) != 0)
		return fail(st, ATTEST_E_FORMAT, base + r.off, 0,
		            "%zu unexpected bytes after the Spec ID Event03 vendor info",
		            reader_left(&r));
	log->bank_count = n;
	return 0;
}

void eventlog_free(struct eventlog *log)
{
	if (!log)
		return;
	free(log->events);
	free(log->raw);
	free(log);
}

int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret, struct diag *err)
{
	struct parse_state st = {.err = err};
	int e;

	if (err)
		memset(err, 0, sizeof *err);
	if (!ret || (!buf && len))
		return ATTEST_E_ARG;
	if (len > EVENTLOG_MAX_SIZE)
		return fail(&st, ATTEST_E_LIMIT, 0, 0, "log is %zu bytes, more than the cap of %u",
		            len, EVENTLOG_MAX_SIZE);
	if (len == 0)
		return fail(&st, ATTEST_E_FORMAT, 0, 0, "log is empty");

	struct eventlog *log = calloc(1, sizeof *log);
	if (!log)
		return ATTEST_E_NOMEM;
	log->raw = malloc(len);
	if (!log->raw) {
		e = ATTEST_E_NOMEM;
		goto out_free;
	}
	memcpy(log->raw, buf, len);
	log->raw_len = len;
	st.log = log;
	reader_init(&st.r, log->raw, len);

	/* The first record is always in the SHA-1 format. */
	struct eventlog_event *ev;
	if ((e = new_event(&st, 0, &ev)) < 0 || (e = parse_sha1_event(&st, ev)) < 0)
		goto out_free;
	log->event_count = 1;
	if (ev->type == EV_NO_ACTION && ev->data_len >= 16 && !memcmp(ev->data, spec_id_03, 16)) {
		if (ev->pcr != 0) {
			e = fail(&st, ATTEST_E_FORMAT, 0, 0,
			         "Spec ID Event03 on PCR %u, expected PCR 0", ev->pcr);
			goto out_free;
		}
		if ((e = parse_spec_id(&st, ev)) < 0)
			goto out_free;
		log->format = EVENTLOG_FORMAT_CRYPTO_AGILE;
	} else {
		log->format = EVENTLOG_FORMAT_LEGACY_SHA1;
		log->bank_count = 1;
		log->banks[0] = (struct eventlog_bank){EVENTLOG_ALG_SHA1, SHA1_SIZE};
	}

	while (reader_left(&st.r) > 0) {
		size_t off = st.r.off;
		size_t left = reader_left(&st.r);
		/* Kernel-exported logs may end in zero padding; a real record
		 * always has a non-zero byte (agile: its digest count). */
		if (all_zero(log->raw + off, left)) {
			log->trailing_bytes = left;
			break;
		}
		if ((e = new_event(&st, off, &ev)) < 0)
			goto out_free;
		e = log->format == EVENTLOG_FORMAT_CRYPTO_AGILE ? parse_agile_event(&st, ev)
		                                                : parse_sha1_event(&st, ev);
		if (e < 0)
			goto out_free;
		log->event_count++;
	}
	*ret = log;
	return 0;

out_free:
	eventlog_free(log);
	return e;
}
