/* Event descriptions, content checks and derived facts (eventlog_facts.h). */
#include "eventlog_facts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "efi.h"
#include "err.h"
#include "eventlog_internal.h"
#include "reader.h"
#include "termtext.h"
#include "textbuf.h"

/* Printable ASCII as is, anything else as \xNN; stops at a NUL when asked. */
static void tstr(struct textbuf *t, const uint8_t *p, size_t n, bool stop_at_nul)
{
	for (size_t i = 0; i < n && !t->cut; i++) {
		if (p[i] == 0 && stop_at_nul)
			break;
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\\')
			textbuf_add(t, "%c", p[i]);
		else if (p[i] == '\\')
			textbuf_add(t, "\\");
		else
			textbuf_add(t, "\\x%02x", p[i]);
	}
}

static void tguid(struct textbuf *t, const uint8_t *g)
{
	const char *name = efi_guid_name(g);
	if (name) {
		textbuf_add(t, "%s", name);
		return;
	}
	char s[EFI_GUID_STR_LEN + 1];
	efi_guid_format(g, s);
	textbuf_add(t, "%s", s);
}

static void tutf16(struct textbuf *t, const uint8_t *p, size_t units)
{
	char tmp[512], safe[4 * sizeof tmp];
	size_t u = units > 160 ? 160 : units;
	efi_utf16le_to_utf8(p, u, true, tmp, sizeof tmp, NULL);
	/* Keep control and bidi formatting characters out of terminals. */
	termtext_escape(tmp, strlen(tmp), safe, sizeof safe, NULL);
	textbuf_add(t, "%s%s", safe, u < units ? "..." : "");
}

/* A device path rendered as text through termtext_escape: its UTF-16
 * file names are the log's, and may carry ESC, BEL or U+202E. */
static void device_path_text(const uint8_t *p, size_t n, bool file_only, char *out, size_t cap)
{
	char raw[1024];
	int e = file_only ? efi_device_path_file(p, n, raw, sizeof raw)
	                  : efi_device_path_render(p, n, raw, sizeof raw);
	if (e < 0 && file_only) {
		out[0] = '\0';
		return;
	}
	termtext_escape(raw, strnlen(raw, sizeof raw), out, cap, NULL);
}

/* True if data looks like UTF-16LE text: even length, ASCII-range units. */
static bool looks_utf16(const uint8_t *p, size_t n)
{
	if (n < 2 || n % 2)
		return false;
	size_t ascii = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (p[i] == 0 && p[i + 1] == 0)
			break;
		if (p[i + 1] != 0)
			return false;
		ascii++;
	}
	return ascii > 0;
}

/* A string event's text (UTF-16 or ASCII) into a malloc'd, sanitized
 * string; NULL on allocation failure. */
static char *string_data(const uint8_t *p, size_t n)
{
	if (n > EVENTLOG_MAX_FACT_TEXT)
		n = EVENTLOG_MAX_FACT_TEXT;
	if (looks_utf16(p, n)) {
		/* looks_utf16 admits only units below U+0100: at most 2 bytes
		 * of UTF-8 each, then at most 4 bytes of escape per byte. */
		char *u = malloc(n + 1);
		char *s = u ? malloc(4 * n + 1) : NULL;
		if (s) {
			size_t ulen = 0;
			efi_utf16le_to_utf8(p, n / 2, true, u, n + 1, &ulen);
			termtext_escape(u, ulen, s, 4 * n + 1, NULL);
		}
		free(u);
		return s;
	}
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n && p[i]; i++)
		s[o++] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '?';
	s[o] = '\0';
	return s;
}

static bool printable_ascii(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] >= 0x20 && p[i] < 0x7F)
		i++;
	/* Text up to a NUL (what follows, if anything, is not shown). */
	return i == n || (i >= 2 && p[i] == 0);
}

/* An S-CRTM version: UTF-16 or ASCII text, or (some AMI-based firmware)
 * a 16-byte GUID; anything else in hex. malloc'd; NULL if out of memory. */
static char *version_text(const uint8_t *p, size_t n)
{
	if (looks_utf16(p, n) || printable_ascii(p, n))
		return string_data(p, n);
	if (n == EFI_GUID_SIZE) {
		char *s = malloc(EFI_GUID_STR_LEN + 6);
		if (s) {
			memcpy(s, "GUID ", 5);
			efi_guid_format(p, s + 5);
		}
		return s;
	}
	if (n > 64)
		n = 64;
	char *s = malloc(2 * n + 5);
	if (!s)
		return NULL;
	memcpy(s, "hex ", 4);
	for (size_t i = 0; i < n; i++)
		snprintf(s + 4 + 2 * i, 3, "%02x", p[i]);
	s[4 + 2 * n] = '\0';
	return s;
}

/* ---- grub / shim EV_IPL strings ---- */

/* Prefixes upstream grub (and distribution patches) put before a measured
 * string; the digest covers only what follows, without the NUL. */
static const char *const grub_prefixes[] = {
    "grub_cmd: ", "kernel_cmdline: ", "module_cmdline: ", "grub_kernel_cmdline ", "grub_cmd ",
};

/* If ev is a grub string event, the length of its prefix; else 0. */
static size_t grub_prefix(const struct eventlog_event *ev, const char **ret_prefix)
{
	if (ev->type != EV_IPL || ev->data_len == 0)
		return 0;
	for (size_t i = 0; i < sizeof grub_prefixes / sizeof grub_prefixes[0]; i++) {
		size_t n = strlen(grub_prefixes[i]);
		if (ev->data_len >= n && !memcmp(ev->data, grub_prefixes[i], n)) {
			if (ret_prefix)
				*ret_prefix = grub_prefixes[i];
			return n;
		}
	}
	return 0;
}

/* The measured part of a grub string: after the prefix, before the NUL. */
static void grub_payload(const struct eventlog_event *ev, size_t plen, const uint8_t **p, size_t *n)
{
	*p = ev->data + plen;
	*n = ev->data_len - plen;
	const uint8_t *nul = memchr(*p, 0, *n);
	if (nul)
		*n = (size_t)(nul - *p);
}

/* ---- describe ---- */

static void describe_variable(struct textbuf *t, const struct eventlog_event *ev)
{
	struct efi_variable_data v;
	if (efi_variable_data_parse(ev->data, ev->data_len, &v) < 0) {
		textbuf_add(t, "malformed UEFI_VARIABLE_DATA (%u bytes)", ev->data_len);
		return;
	}
	tguid(t, v.guid);
	textbuf_add(t, ":");
	tutf16(t, v.name, v.name_units);
	if (efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot") ||
	    efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "SetupMode") ||
	    efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "AuditMode") ||
	    efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "DeployedMode")) {
		if (v.data_len == 1)
			textbuf_add(t, " = %u", v.data[0]);
		else
			textbuf_add(t, " (%zu bytes)", v.data_len);
		return;
	}
	bool sigdb = efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "PK") ||
	             efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "KEK") ||
	             efi_variable_is(&v, EFI_IMAGE_SECURITY_DATABASE_GUID, "db") ||
	             efi_variable_is(&v, EFI_IMAGE_SECURITY_DATABASE_GUID, "dbx") ||
	             ev->type == EV_EFI_VARIABLE_AUTHORITY;
	if (sigdb && ev->type != EV_EFI_VARIABLE_AUTHORITY) {
		uint32_t lists, entries;
		if (efi_signature_db_count(v.data, v.data_len, &lists, &entries) == 0)
			textbuf_add(t, " (%u lists, %u entries, %zu bytes)", lists, entries,
			            v.data_len);
		else
			textbuf_add(t, " (malformed signature list, %zu bytes)", v.data_len);
		return;
	}
	if (efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "BootOrder")) {
		textbuf_add(t, " =");
		for (size_t i = 0; i + 1 < v.data_len && i < 64; i += 2)
			textbuf_add(t, " %04X", v.data[i] | v.data[i + 1] << 8);
		return;
	}
	/* Boot#### holds an EFI_LOAD_OPTION: attributes, path length,
	 * description (UTF-16, NUL-terminated), device path, optional data. */
	if ((ev->type == EV_EFI_VARIABLE_BOOT || ev->type == EV_EFI_VARIABLE_BOOT2) &&
	    v.data_len >= 6) {
		struct reader r;
		uint32_t attr;
		uint16_t fplen;
		reader_init(&r, v.data, v.data_len);
		if (!reader_u32le(&r, &attr) && !reader_u16le(&r, &fplen)) {
			const uint8_t *desc = r.buf + r.off;
			size_t units = 0;
			while (reader_left(&r) >= 2) {
				uint16_t u;
				reader_u16le(&r, &u);
				if (!u)
					break;
				units++;
			}
			textbuf_add(t, " \"");
			tutf16(t, desc, units);
			textbuf_add(t, "\"");
			const uint8_t *fp;
			if (!reader_bytes(&r, fplen, &fp) && fplen) {
				char dp[2048];
				device_path_text(fp, fplen, false, dp, sizeof dp);
				textbuf_add(t, " %s", dp);
			}
			return;
		}
	}
	textbuf_add(t, " (%zu bytes)", v.data_len);
}

static void describe_image(struct textbuf *t, const struct eventlog_event *ev)
{
	struct reader r;
	uint64_t loc, len, link, dplen;
	reader_init(&r, ev->data, ev->data_len);
	if (reader_u64le(&r, &loc) < 0 || reader_u64le(&r, &len) < 0 ||
	    reader_u64le(&r, &link) < 0 || reader_u64le(&r, &dplen) < 0) {
		textbuf_add(t, "malformed UEFI_IMAGE_LOAD_EVENT (%u bytes)", ev->data_len);
		return;
	}
	char dp[4096];
	dp[0] = '\0';
	if (dplen <= reader_left(&r))
		device_path_text(r.buf + r.off, (size_t)dplen, false, dp, sizeof dp);
	else
		textbuf_add(t, "(device path length %llu exceeds the data) ",
		            (unsigned long long)dplen);
	textbuf_add(t, "%s [at 0x%llx, 0x%llx bytes, link 0x%llx]", dp[0] ? dp : "(no device path)",
	            (unsigned long long)loc, (unsigned long long)len, (unsigned long long)link);
}

static void describe_no_action(struct textbuf *t, const struct eventlog_event *ev)
{
	if (ev->data_len >= 24 && !memcmp(ev->data, "Spec ID Event03", 16)) {
		struct reader r;
		uint32_t n;
		reader_init(&r, ev->data, ev->data_len);
		reader_skip(&r, 24);
		textbuf_add(t, "Spec ID Event03");
		if (!reader_u32le(&r, &n) && n <= EVENTLOG_MAX_BANKS) {
			textbuf_add(t, ":");
			for (uint32_t i = 0; i < n; i++) {
				uint16_t alg, size;
				if (reader_u16le(&r, &alg) || reader_u16le(&r, &size))
					break;
				const char *name = eventlog_alg_name(alg);
				if (name)
					textbuf_add(t, " %s", name);
				else
					textbuf_add(t, " 0x%04x", alg);
			}
		}
		return;
	}
	if (ev->data_len == 17 && !memcmp(ev->data, "StartupLocality", 16)) {
		textbuf_add(t, "StartupLocality %u", ev->data[16]);
		return;
	}
	if (ev->data_len >= 16 && ev->data[15] == 0 && memchr(ev->data, 0, 16) &&
	    ev->data[0] >= 0x20 && ev->data[0] < 0x7F) {
		tstr(t, ev->data, 16, true);
		textbuf_add(t, " (%u bytes)", ev->data_len);
		return;
	}
	textbuf_add(t, "%u bytes", ev->data_len);
}

int eventlog_event_describe(const struct eventlog_event *ev, char *buf, size_t cap)
{
	if (!ev || !buf || cap == 0)
		return ATTEST_E_ARG;
	struct textbuf t;
	textbuf_fixed(&t, buf, cap);
	buf[0] = '\0';
	struct reader r;
	uint64_t a, b;
	uint8_t n8;
	const uint8_t *p;
	reader_init(&r, ev->data, ev->data_len);

	switch (ev->type) {
	case EV_S_CRTM_VERSION:
	case EV_EFI_HCRTM_EVENT: {
		char *s = version_text(ev->data, ev->data_len);
		if (s)
			textbuf_add(&t, "%s", s);
		free(s);
		break;
	}
	case EV_SEPARATOR:
		if (ev->data_len == 4) {
			uint32_t v = (uint32_t)ev->data[0] | (uint32_t)ev->data[1] << 8 |
			             (uint32_t)ev->data[2] << 16 | (uint32_t)ev->data[3] << 24;
			textbuf_add(&t, "0x%08x%s", v, v == 0xFFFFFFFFu ? " (error)" : "");
		} else {
			tstr(&t, ev->data, ev->data_len > 64 ? 64 : ev->data_len, false);
		}
		break;
	case EV_POST_CODE:
	case EV_EFI_PLATFORM_FIRMWARE_BLOB:
		if (ev->data_len == 16 && !reader_u64le(&r, &a) && !reader_u64le(&r, &b)) {
			textbuf_add(&t, "blob at 0x%llx, 0x%llx bytes", (unsigned long long)a,
			            (unsigned long long)b);
			break;
		}
		tstr(&t, ev->data, ev->data_len > 256 ? 256 : ev->data_len, true);
		break;
	case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
		if (!reader_u8(&r, &n8) && !reader_bytes(&r, n8, &p) && !reader_u64le(&r, &a) &&
		    !reader_u64le(&r, &b)) {
			tstr(&t, p, n8, true);
			textbuf_add(&t, " at 0x%llx, 0x%llx bytes", (unsigned long long)a,
			            (unsigned long long)b);
		} else {
			textbuf_add(&t, "malformed UEFI_PLATFORM_FIRMWARE_BLOB2 (%u bytes)",
			            ev->data_len);
		}
		break;
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_IPL: tstr(&t, ev->data, ev->data_len > 1024 ? 1024 : ev->data_len, true); break;
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
	case EV_EFI_VARIABLE_AUTHORITY: describe_variable(&t, ev); break;
	case EV_EFI_BOOT_SERVICES_APPLICATION:
	case EV_EFI_BOOT_SERVICES_DRIVER:
	case EV_EFI_RUNTIME_SERVICES_DRIVER: describe_image(&t, ev); break;
	case EV_EFI_HANDOFF_TABLES:
	case EV_EFI_HANDOFF_TABLES2: {
		if (ev->type == EV_EFI_HANDOFF_TABLES2) {
			if (reader_u8(&r, &n8) || reader_bytes(&r, n8, &p)) {
				textbuf_add(&t, "malformed UEFI_HANDOFF_TABLE_POINTERS2");
				break;
			}
			tstr(&t, p, n8, true);
			textbuf_add(&t, ": ");
		}
		if (reader_u64le(&r, &a) || a > reader_left(&r) / 24) {
			textbuf_add(&t, "malformed UEFI_HANDOFF_TABLE_POINTERS (%u bytes)",
			            ev->data_len);
			break;
		}
		textbuf_add(&t, "%llu table%s", (unsigned long long)a, a == 1 ? "" : "s");
		for (uint64_t i = 0; i < a && i < 8; i++) {
			const uint8_t *g;
			reader_bytes(&r, 16, &g);
			reader_u64le(&r, &b);
			textbuf_add(&t, "%s", i ? ", " : ": ");
			tguid(&t, g);
			textbuf_add(&t, " at 0x%llx", (unsigned long long)b);
		}
		break;
	}
	case EV_EFI_GPT_EVENT:
	case EV_EFI_GPT_EVENT2: {
		/* UEFI_GPT_DATA: the 92-byte EFI_PARTITION_TABLE_HEADER, then
		 * NumberOfPartitions (u64) and the entries. */
		const uint8_t *hdr;
		uint64_t parts;
		if (reader_bytes(&r, 92, &hdr) || reader_u64le(&r, &parts) ||
		    memcmp(hdr, "EFI PART", 8)) {
			textbuf_add(&t, "malformed UEFI_GPT_DATA (%u bytes)", ev->data_len);
			break;
		}
		textbuf_add(&t, "GPT disk ");
		tguid(&t, hdr + 56);
		textbuf_add(&t, ", %llu partition%s", (unsigned long long)parts,
		            parts == 1 ? "" : "s");
		break;
	}
	case EV_NO_ACTION: describe_no_action(&t, ev); break;
	default:
		if (ev->data_len > 0 && ev->data_len <= 256) {
			bool text = true;
			for (uint32_t i = 0; i < ev->data_len; i++)
				if ((ev->data[i] < 0x20 || ev->data[i] >= 0x7F) &&
				    !(ev->data[i] == 0 && i == ev->data_len - 1))
					text = false;
			if (text) {
				tstr(&t, ev->data, ev->data_len, true);
				break;
			}
		}
		textbuf_add(&t, "%u bytes", ev->data_len);
		break;
	}
	return (int)t.len;
}

/* ---- content checks ---- */

const char *eventlog_check_rule(uint32_t type)
{
	switch (type) {
	case EV_SEPARATOR:
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_S_CRTM_VERSION:
	case EV_EFI_GPT_EVENT:
	case EV_EFI_GPT_EVENT2: return "digest = H(event data)";
	case EV_EFI_VARIABLE_DRIVER_CONFIG: return "digest = H(UEFI_VARIABLE_DATA)";
	case EV_EFI_VARIABLE_AUTHORITY:
		return "digest = H(UEFI_VARIABLE_DATA) (or old shim's H(data minus last byte))";
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2: return "digest = H(UEFI_VARIABLE_DATA) or H(VariableData)";
	case EV_IPL:
		return "grub string: digest = H(text after the prefix, without or with its NUL)";
	default: return NULL;
	}
}

/* The candidate byte ranges a digest may be the hash of, for one event.
 * Returns the count (0: no rule applies). */
static int rule_ranges(const struct eventlog_event *ev, const uint8_t *p[2], size_t n[2])
{
	struct efi_variable_data v;
	switch (ev->type) {
	case EV_SEPARATOR:
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_S_CRTM_VERSION:
	case EV_EFI_GPT_EVENT:
	case EV_EFI_GPT_EVENT2:
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
		p[0] = ev->data;
		n[0] = ev->data_len;
		return 1;
	case EV_EFI_VARIABLE_AUTHORITY:
		p[0] = ev->data;
		n[0] = ev->data_len;
		/* shim before 15 logged a few bytes of struct padding after
		 * VariableData and hashed all but the last byte. That prefix
		 * still covers the whole UEFI_VARIABLE_DATA, so it binds
		 * everything a decision reads. */
		if (efi_variable_data_parse(ev->data, ev->data_len, &v) == 0 && v.trailing > 0) {
			p[1] = ev->data;
			n[1] = ev->data_len - 1;
			return 2;
		}
		return 1;
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
		p[0] = ev->data;
		n[0] = ev->data_len;
		/* EDK2-derived firmware hashes only VariableData for boot
		 * variables (seen in real logs); the spec says the whole
		 * structure. Both bind the data decisions read. */
		if (efi_variable_data_parse(ev->data, ev->data_len, &v) == 0 && v.trailing == 0) {
			p[1] = v.data;
			n[1] = v.data_len;
			return 2;
		}
		return 1;
	case EV_IPL: {
		size_t plen = grub_prefix(ev, NULL);
		if (!plen)
			return 0;
		grub_payload(ev, plen, &p[0], &n[0]);
		/* Upstream grub hashes the text without its NUL; the RHEL 8
		 * patches ("grub_cmd " prefix) hash it with the NUL. */
		if (p[0] + n[0] < ev->data + ev->data_len) {
			p[1] = p[0];
			n[1] = n[0] + 1;
			return 2;
		}
		return 1;
	}
	default: return 0;
	}
}

void eventlog_checks_free(struct eventlog_checks *c)
{
	if (!c)
		return;
	free(c->status);
	free(c->failures);
	free(c);
}

static int hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *p, size_t n, uint8_t *out)
{
	unsigned int len;
	if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, p, n) ||
	    !EVP_DigestFinal_ex(ctx, out, &len))
		return ATTEST_E_CRYPTO;
	return 0;
}

int eventlog_content_check(const struct eventlog *log, struct eventlog_checks **ret)
{
	return eventlog_content_check_bank(log, 0, ret);
}

int eventlog_content_check_bank(const struct eventlog *log, uint16_t only_alg,
                                struct eventlog_checks **ret)
{
	if (!log || !ret || log->bank_count > EVENTLOG_MAX_BANKS)
		return ATTEST_E_ARG;
	if (only_alg) {
		uint32_t b;
		for (b = 0; b < log->bank_count; b++)
			if (log->banks[b].alg == only_alg)
				break;
		if (b == log->bank_count)
			return ATTEST_E_NOTFOUND;
	}
	int e = ATTEST_E_NOMEM;
	EVP_MD *mds[EVENTLOG_MAX_BANKS] = {0};
	EVP_MD_CTX *ctx = NULL;
	struct eventlog_checks *c = calloc(1, sizeof *c);
	if (!c)
		return ATTEST_E_NOMEM;
	c->event_count = log->event_count;
	c->status = calloc(log->event_count ? log->event_count : 1, 1);
	ctx = EVP_MD_CTX_new();
	if (!c->status || !ctx)
		goto out;
	for (uint32_t b = 0; b < log->bank_count; b++)
		if (!only_alg || log->banks[b].alg == only_alg)
			mds[b] = eventlog_fetch_md(log->banks[b].alg, log->banks[b].size);

	size_t fcap = 0;
	for (size_t i = 0; i < log->event_count; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const uint8_t *p[2];
		size_t n[2];
		int nr = rule_ranges(ev, p, n);
		if (nr == 0)
			continue;
		c->checked++;
		bool any = false, bad = false;
		for (uint32_t k = 0; k < ev->digest_count; k++) {
			const struct eventlog_digest *d = &ev->digests[k];
			const EVP_MD *md = NULL;
			for (uint32_t b = 0; b < log->bank_count; b++)
				if (log->banks[b].alg == d->alg)
					md = mds[b];
			if (!md)
				continue;
			any = true;
			uint8_t h[EVENTLOG_MAX_DIGEST];
			bool match = false;
			for (int j = 0; j < nr && !match; j++) {
				if ((e = hash(ctx, md, p[j], n[j], h)) < 0)
					goto out;
				match = CRYPTO_memcmp(h, d->bytes, d->size) == 0;
			}
			if (match)
				continue;
			/* Report the spec's form (the first range) as expected. */
			if (nr > 1 && (e = hash(ctx, md, p[0], n[0], h)) < 0)
				goto out;
			bad = true;
			c->failure_count++;
			if (c->failures_kept >= EVENTLOG_MAX_CHECK_FAILURES)
				continue;
			if (c->failures_kept == fcap) {
				size_t ncap = fcap ? fcap * 2 : 16;
				if (ncap > EVENTLOG_MAX_CHECK_FAILURES)
					ncap = EVENTLOG_MAX_CHECK_FAILURES;
				struct eventlog_check_failure *nf =
				    realloc(c->failures, ncap * sizeof *nf);
				if (!nf) {
					e = ATTEST_E_NOMEM;
					goto out;
				}
				c->failures = nf;
				fcap = ncap;
			}
			struct eventlog_check_failure *f = &c->failures[c->failures_kept++];
			memset(f, 0, sizeof *f);
			f->event = ev->number;
			f->pcr = ev->pcr;
			f->type = ev->type;
			f->alg = d->alg;
			f->size = d->size;
			memcpy(f->expected, h, d->size);
			memcpy(f->actual, d->bytes, d->size);
			f->rule = eventlog_check_rule(ev->type);
		}
		if (bad) {
			c->status[i] = EVENTLOG_CHECK_FAIL;
			c->failed_events++;
		} else {
			c->status[i] = any ? EVENTLOG_CHECK_PASS : EVENTLOG_CHECK_UNVERIFIABLE;
		}
	}
	e = 0;
	*ret = c;
	c = NULL;
out:
	for (uint32_t b = 0; b < EVENTLOG_MAX_BANKS; b++)
		EVP_MD_free(mds[b]);
	EVP_MD_CTX_free(ctx);
	eventlog_checks_free(c);
	return e;
}

/* ---- facts ---- */

const char *eventlog_secure_boot_name(enum eventlog_secure_boot sb)
{
	switch (sb) {
	case EVENTLOG_SECURE_BOOT_ENABLED: return "enabled";
	case EVENTLOG_SECURE_BOOT_DISABLED: return "disabled";
	default: return "unknown";
	}
}

const struct eventlog_digest *eventlog_event_digest(const struct eventlog_event *ev, uint16_t alg)
{
	for (uint32_t k = 0; ev && k < ev->digest_count && k < EVENTLOG_MAX_BANKS; k++)
		if (ev->digests[k].alg == alg)
			return &ev->digests[k];
	return NULL;
}

void eventlog_facts_free(struct eventlog_facts *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->firmware_count; i++)
		free(f->firmware[i].text);
	free(f->firmware);
	for (size_t i = 0; i < f->boot_app_count; i++) {
		free(f->boot_apps[i].path);
		free(f->boot_apps[i].device_path);
	}
	free(f->boot_apps);
	free(f->kernel_cmdline);
	free(f->kernel_image);
	free(f);
}

static int add_firmware(struct eventlog_facts *f, const struct eventlog_event *ev, bool verified,
                        char *text)
{
	if (!text)
		return ATTEST_E_NOMEM;
	if (f->firmware_count >= EVENTLOG_MAX_FACT_ITEMS) {
		free(text);
		return 0;
	}
	struct eventlog_fact_text *n = realloc(f->firmware, (f->firmware_count + 1) * sizeof *n);
	if (!n) {
		free(text);
		return ATTEST_E_NOMEM;
	}
	f->firmware = n;
	n[f->firmware_count++] = (struct eventlog_fact_text){ev->number, ev->type, verified, text};
	return 0;
}

static int add_boot_app(struct eventlog_facts *f, const struct eventlog_event *ev)
{
	if (f->boot_app_count >= EVENTLOG_MAX_FACT_ITEMS)
		return 0;
	char dp[4096], file[4096];
	dp[0] = file[0] = '\0';
	struct reader r;
	uint64_t dplen;
	reader_init(&r, ev->data, ev->data_len);
	if (!reader_skip(&r, 24) && !reader_u64le(&r, &dplen) && dplen <= reader_left(&r)) {
		device_path_text(r.buf + r.off, (size_t)dplen, false, dp, sizeof dp);
		device_path_text(r.buf + r.off, (size_t)dplen, true, file, sizeof file);
	}
	struct eventlog_boot_app *n = realloc(f->boot_apps, (f->boot_app_count + 1) * sizeof *n);
	if (!n)
		return ATTEST_E_NOMEM;
	f->boot_apps = n;
	char *path = strdup(file[0] ? file : dp);
	char *dps = strdup(dp);
	if (!path || !dps) {
		free(path);
		free(dps);
		return ATTEST_E_NOMEM;
	}
	n[f->boot_app_count++] = (struct eventlog_boot_app){ev->number, ev->pcr, path, dps};
	return 0;
}

static void sigdb_note(struct eventlog_sigdb *s, const struct eventlog_event *ev,
                       const struct efi_variable_data *v, bool verified)
{
	memset(s, 0, sizeof *s);
	s->present = true;
	s->verified = verified;
	s->event = ev->number;
	s->data_len = v->data_len;
	s->well_formed = efi_signature_db_count(v->data, v->data_len, &s->lists, &s->entries) == 0;
	if (!verified || !s->well_formed)
		s->lists = s->entries = 0;
}

/* Copy at most EVENTLOG_MAX_FACT_TEXT bytes, replacing non-printables. */
static char *dup_printable(const uint8_t *p, size_t n)
{
	if (n > EVENTLOG_MAX_FACT_TEXT)
		n = EVENTLOG_MAX_FACT_TEXT;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '?';
	s[n] = '\0';
	return s;
}

/* "linux (hd0,gpt2)/vmlinuz-6.1 root=..." -> "(hd0,gpt2)/vmlinuz-6.1". */
static char *first_arg_after(const uint8_t *p, size_t n, size_t skip)
{
	size_t i = skip;
	while (i < n && p[i] == ' ')
		i++;
	size_t start = i;
	while (i < n && p[i] != ' ')
		i++;
	if (i == start)
		return NULL;
	return dup_printable(p + start, i - start);
}

static bool starts_word(const uint8_t *p, size_t n, const char *w)
{
	size_t k = strlen(w);
	return n > k && !memcmp(p, w, k) && p[k] == ' ';
}

static int replace_str(char **slot, char *s)
{
	if (!s)
		return ATTEST_E_NOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

int eventlog_facts_derive(const struct eventlog *log, const struct eventlog_checks *checks,
                          struct eventlog_facts **ret)
{
	if (!log || !checks || !ret || checks->event_count != log->event_count)
		return ATTEST_E_ARG;
	struct eventlog_facts *f = calloc(1, sizeof *f);
	if (!f)
		return ATTEST_E_NOMEM;
	f->kernel_cmdline_event = -1;
	f->kernel_image_event = -1;
	int e = 0;

	for (size_t i = 0; i < log->event_count && e == 0; i++) {
		const struct eventlog_event *ev = &log->events[i];
		bool ok = checks->status[i] == EVENTLOG_CHECK_PASS;
		struct efi_variable_data v;
		if (ev->type >= EV_EFI_EVENT_BASE && ev->type != EV_NO_ACTION)
			f->is_uefi = true;
		switch (ev->type) {
		case EV_S_CRTM_VERSION:
			e = add_firmware(f, ev, ok, version_text(ev->data, ev->data_len));
			break;
		case EV_EFI_PLATFORM_FIRMWARE_BLOB2: {
			struct reader r;
			uint8_t n8;
			const uint8_t *p;
			reader_init(&r, ev->data, ev->data_len);
			/* The description is not covered by the digest
			 * (which is of the blob), so it is never verified. */
			if (!reader_u8(&r, &n8) && !reader_bytes(&r, n8, &p) && n8)
				e = add_firmware(f, ev, false, string_data(p, n8));
			break;
		}
		case EV_EFI_VARIABLE_DRIVER_CONFIG:
			if (ev->pcr != 7 || efi_variable_data_parse(ev->data, ev->data_len, &v) < 0)
				break;
			if (efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot")) {
				f->has_secure_boot_event = true;
				f->secure_boot_event = ev->number;
				if (!ok || v.trailing)
					f->secure_boot = EVENTLOG_SECURE_BOOT_UNKNOWN;
				else if (v.data_len == 0 || (v.data_len == 1 && v.data[0] == 0))
					f->secure_boot = EVENTLOG_SECURE_BOOT_DISABLED;
				else if (v.data_len == 1 && v.data[0] == 1)
					f->secure_boot = EVENTLOG_SECURE_BOOT_ENABLED;
				else
					f->secure_boot = EVENTLOG_SECURE_BOOT_UNKNOWN;
			} else if (efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "PK")) {
				sigdb_note(&f->pk, ev, &v, ok);
			} else if (efi_variable_is(&v, EFI_GLOBAL_VARIABLE_GUID, "KEK")) {
				sigdb_note(&f->kek, ev, &v, ok);
			} else if (efi_variable_is(&v, EFI_IMAGE_SECURITY_DATABASE_GUID, "db")) {
				sigdb_note(&f->db, ev, &v, ok);
			} else if (efi_variable_is(&v, EFI_IMAGE_SECURITY_DATABASE_GUID, "dbx")) {
				sigdb_note(&f->dbx, ev, &v, ok);
			}
			break;
		case EV_EFI_BOOT_SERVICES_APPLICATION: e = add_boot_app(f, ev); break;
		case EV_IPL: {
			const char *prefix = NULL;
			size_t plen = grub_prefix(ev, &prefix);
			if (!plen || !ok)
				break;
			const uint8_t *p;
			size_t n;
			grub_payload(ev, plen, &p, &n);
			if (!strcmp(prefix, "kernel_cmdline: ") ||
			    !strcmp(prefix, "grub_kernel_cmdline ")) {
				e = replace_str(&f->kernel_cmdline, dup_printable(p, n));
				f->kernel_cmdline_event = ev->number;
				if (e == 0 && !f->kernel_image) {
					char *img = first_arg_after(p, n, 0);
					if (img) {
						f->kernel_image = img;
						f->kernel_image_event = ev->number;
					}
				}
			} else if (starts_word(p, n, "linux") || starts_word(p, n, "linuxefi")) {
				size_t skip = starts_word(p, n, "linux") ? 5 : 8;
				char *img = first_arg_after(p, n, skip);
				if (img) {
					e = replace_str(&f->kernel_image, img);
					f->kernel_image_event = ev->number;
					f->kernel_image_from_boot_app = false;
				}
			}
			break;
		}
		default: break;
		}
	}
	/* No boot loader strings: the last application the firmware loaded
	 * (a UKI, systemd-boot's kernel) is the best the log can show. */
	if (e == 0 && !f->kernel_image && f->boot_app_count > 0) {
		const struct eventlog_boot_app *last = &f->boot_apps[f->boot_app_count - 1];
		if (last->path[0]) {
			f->kernel_image = strdup(last->path);
			if (!f->kernel_image)
				e = ATTEST_E_NOMEM;
			f->kernel_image_event = last->event;
			f->kernel_image_from_boot_app = true;
		}
	}
	if (e < 0) {
		eventlog_facts_free(f);
		return e;
	}
	*ret = f;
	return 0;
}
