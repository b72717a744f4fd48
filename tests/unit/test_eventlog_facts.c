/* Content checks (lie detection), derived facts, event descriptions and the
 * UEFI helpers behind them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "efi.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_build.h"
#include "eventlog_facts.h"
#include "testutil.h"

static const struct tbanks two = {2, {EVENTLOG_ALG_SHA1, EVENTLOG_ALG_SHA256}, {20, 32}};
static const uint8_t sep[4] = {0, 0, 0, 0};

struct derived {
	struct eventlog *log;
	struct eventlog_checks *c;
	struct eventlog_facts *f;
};

static void derive(const struct tbuf *b, struct derived *d)
{
	struct diag err;
	if (eventlog_parse(b->p, b->len, &d->log, &err) != 0)
		fail_msg("parse: %s", err.message);
	assert_int_equal(eventlog_content_check(d->log, &d->c), 0);
	assert_int_equal(eventlog_facts_derive(d->log, d->c, &d->f), 0);
}

static void derived_free(struct derived *d)
{
	eventlog_facts_free(d->f);
	eventlog_checks_free(d->c);
	eventlog_free(d->log);
}

/* A PCR 7 secure boot configuration; secure_boot_hashed is the SecureBoot
 * value the digest covers, secure_boot_data what the data claims. */
static void build_sb(struct tbuf *b, uint8_t secure_boot_data, uint8_t secure_boot_hashed)
{
	tb_spec_id(b, &two);
	struct tbuf v = {0}, h = {0};
	tb_vardata(&v, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot", &secure_boot_data, 1);
	tb_vardata(&h, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot", &secure_boot_hashed, 1);
	tb_agile_h(b, &two, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, h.p, h.len, v.p, v.len);
	free(v.p);
	free(h.p);
	/* db with one EFI_CERT_SHA256 list of two entries. */
	struct tbuf sl = {0};
	static const uint8_t sha256_type[16] = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
	                                        0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
	uint8_t entry[48];
	memset(entry, 0x11, sizeof entry);
	tb_put(&sl, sha256_type, 16);
	tb_u32(&sl, 28 + 2 * 48);
	tb_u32(&sl, 0);
	tb_u32(&sl, 48);
	tb_put(&sl, entry, 48);
	tb_put(&sl, entry, 48);
	v.p = NULL;
	v.len = v.cap = 0;
	tb_vardata(&v, EFI_IMAGE_SECURITY_DATABASE_GUID, "db", sl.p, sl.len);
	tb_agile(b, &two, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, v.p, v.len);
	free(v.p);
	free(sl.p);
	tb_agile(b, &two, 7, EV_SEPARATOR, sep, 4);
}

static void test_secure_boot_honest(void **state)
{
	struct tbuf b = {0};
	build_sb(&b, 1, 1);
	struct derived d = {0};
	derive(&b, &d);
	assert_int_equal(d.c->failed_events, 0);
	assert_int_equal(d.c->checked, 3);
	assert_int_equal(d.c->status[1], EVENTLOG_CHECK_PASS);
	assert_int_equal(d.f->secure_boot, EVENTLOG_SECURE_BOOT_ENABLED);
	assert_string_equal(eventlog_secure_boot_name(d.f->secure_boot), "enabled");
	assert_true(d.f->db.present && d.f->db.verified && d.f->db.well_formed);
	assert_int_equal(d.f->db.entries, 2);
	assert_int_equal(d.f->db.lists, 1);
	assert_false(d.f->pk.present);
	assert_true(d.f->is_uefi);
	derived_free(&d);
	free(b.p);

	b = (struct tbuf){0};
	build_sb(&b, 0, 0);
	derive(&b, &d);
	assert_int_equal(d.f->secure_boot, EVENTLOG_SECURE_BOOT_DISABLED);
	derived_free(&d);
	free(b.p);
}

/* The data says 1, the digest (which replays fine) is of 0: caught, and
 * Secure Boot becomes unknown rather than "enabled". */
static void test_secure_boot_lie(void **state)
{
	struct tbuf b = {0};
	build_sb(&b, 1, 0);
	struct derived d = {0};
	derive(&b, &d);
	assert_int_equal(d.c->status[1], EVENTLOG_CHECK_FAIL);
	assert_int_equal(d.c->failed_events, 1);
	assert_int_equal(d.c->failure_count, 2); /* both banks */
	assert_int_equal(d.f->secure_boot, EVENTLOG_SECURE_BOOT_UNKNOWN);
	const struct eventlog_check_failure *f = &d.c->failures[1];
	assert_int_equal(f->event, 1);
	assert_int_equal(f->pcr, 7);
	assert_int_equal(f->type, EV_EFI_VARIABLE_DRIVER_CONFIG);
	assert_int_equal(f->alg, EVENTLOG_ALG_SHA256);
	/* expected = H(data as logged), actual = the digest in the log. */
	uint8_t want[32];
	tb_hash(EVENTLOG_ALG_SHA256, 32, d.log->events[1].data, d.log->events[1].data_len, want);
	assert_memory_equal(f->expected, want, 32);
	assert_memory_equal(f->actual, d.log->events[1].digests[1].bytes, 32);
	derived_free(&d);
	free(b.p);
}

/* Every lying event is reported, whatever its type. */
static void test_every_lie_reported(void **state)
{
	struct tbuf b = {0};
	tb_spec_id(&b, &two);
	static const uint8_t ff[4] = {0xff, 0xff, 0xff, 0xff};
	tb_agile_h(&b, &two, 0, EV_SEPARATOR, ff, 4, sep, 4);               /* 1: lie */
	tb_agile(&b, &two, 1, EV_SEPARATOR, sep, 4);                        /* 2 */
	tb_agile_h(&b, &two, 4, EV_EFI_ACTION, "Booting", 7, "Calling", 7); /* 3: lie */
	tb_agile_h(&b, &two, 0, EV_S_CRTM_VERSION, "v2", 2, "v1", 2);       /* 4: lie */
	tb_agile(&b, &two, 0, EV_POST_CODE, "ACPI DATA", 9);                /* 5: no rule */
	tb_agile_h(&b, &two, 8, EV_IPL, "quiet", 5, "kernel_cmdline: /vmlinuz ro", 28); /* 6: lie */
	tb_agile_h(&b, &two, 8, EV_IPL, "/vmlinuz ro", 11, "kernel_cmdline: /vmlinuz ro",
	           28);                                     /* 7 */
	tb_agile_h(&b, &two, 5, EV_ACTION, "x", 1, "y", 1); /* 8: lie */
	struct derived d = {0};
	derive(&b, &d);
	static const uint8_t want[] = {0,
	                               EVENTLOG_CHECK_FAIL,
	                               EVENTLOG_CHECK_PASS,
	                               EVENTLOG_CHECK_FAIL,
	                               EVENTLOG_CHECK_FAIL,
	                               EVENTLOG_CHECK_NONE,
	                               EVENTLOG_CHECK_FAIL,
	                               EVENTLOG_CHECK_PASS,
	                               EVENTLOG_CHECK_FAIL};
	assert_int_equal(d.c->event_count, 9);
	for (size_t i = 0; i < 9; i++)
		if (d.c->status[i] != want[i])
			fail_msg("event %zu: status %u, want %u", i, d.c->status[i], want[i]);
	assert_int_equal(d.c->failed_events, 5);
	assert_int_equal(d.c->failure_count, 10);
	/* The honest kernel_cmdline (event 7) is believed; the lying one not. */
	assert_string_equal(d.f->kernel_cmdline, "/vmlinuz ro");
	assert_int_equal(d.f->kernel_cmdline_event, 7);
	assert_string_equal(d.f->kernel_image, "/vmlinuz");
	/* The S-CRTM version is kept but marked unverified. */
	assert_int_equal(d.f->firmware_count, 1);
	assert_false(d.f->firmware[0].verified);
	assert_string_equal(d.f->firmware[0].text, "v1");
	assert_true(d.f->is_uefi); /* EV_EFI_ACTION */
	derived_free(&d);
	free(b.p);
}

static void test_boot_variable_forms(void **state)
{
	/* EV_EFI_VARIABLE_BOOT: the spec's whole-structure hash and the
	 * VariableData-only hash (EDK2) both pass; anything else fails. */
	struct tbuf b = {0}, v = {0};
	static const uint8_t order[4] = {1, 0, 0, 0};
	tb_spec_id(&b, &two);
	tb_vardata(&v, EFI_GLOBAL_VARIABLE_GUID, "BootOrder", order, 4);
	tb_agile(&b, &two, 1, EV_EFI_VARIABLE_BOOT, v.p, v.len);
	tb_agile_h(&b, &two, 1, EV_EFI_VARIABLE_BOOT, order, 4, v.p, v.len);
	tb_agile_h(&b, &two, 1, EV_EFI_VARIABLE_BOOT, order, 3, v.p, v.len);
	/* DRIVER_CONFIG accepts only the whole structure. */
	tb_agile_h(&b, &two, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, order, 4, v.p, v.len);
	struct derived d = {0};
	derive(&b, &d);
	assert_int_equal(d.c->status[1], EVENTLOG_CHECK_PASS);
	assert_int_equal(d.c->status[2], EVENTLOG_CHECK_PASS);
	assert_int_equal(d.c->status[3], EVENTLOG_CHECK_FAIL);
	assert_int_equal(d.c->status[4], EVENTLOG_CHECK_FAIL);
	char line[256];
	assert_true(eventlog_event_describe(&d.log->events[1], line, sizeof line) > 0);
	assert_string_equal(line, "EFI_GLOBAL_VARIABLE:BootOrder = 0001 0000");
	derived_free(&d);
	free(v.p);
	free(b.p);
}

static void test_unverifiable_bank(void **state)
{
	/* Only a bank we cannot hash: the rule exists but cannot be checked,
	 * so the variable's value is not believed. */
	const struct tbanks odd = {1, {0x7777}, {32}};
	struct tbuf b = {0}, v = {0};
	uint8_t one = 1;
	tb_spec_id(&b, &odd);
	tb_vardata(&v, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot", &one, 1);
	tb_agile(&b, &odd, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, v.p, v.len);
	struct derived d = {0};
	derive(&b, &d);
	assert_int_equal(d.c->status[1], EVENTLOG_CHECK_UNVERIFIABLE);
	assert_int_equal(d.f->secure_boot, EVENTLOG_SECURE_BOOT_UNKNOWN);
	assert_true(d.f->has_secure_boot_event);
	derived_free(&d);
	free(v.p);
	free(b.p);
}

static void test_describe_image_and_cut(void **state)
{
	/* UEFI_IMAGE_LOAD_EVENT with PciRoot/Pci/HD/FilePath. */
	struct tbuf dp = {0}, data = {0}, b = {0};
	tb_u8(&dp, 2), tb_u8(&dp, 1), tb_u16(&dp, 12), tb_u32(&dp, 0x0A0341D0), tb_u32(&dp, 0);
	tb_u8(&dp, 1), tb_u8(&dp, 1), tb_u16(&dp, 6), tb_u8(&dp, 1), tb_u8(&dp, 4);
	uint8_t guid[16];
	for (int i = 0; i < 16; i++)
		guid[i] = (uint8_t)i;
	tb_u8(&dp, 4), tb_u8(&dp, 1), tb_u16(&dp, 42), tb_u32(&dp, 1), tb_u64(&dp, 0x800),
	    tb_u64(&dp, 0x100000), tb_put(&dp, guid, 16), tb_u8(&dp, 2), tb_u8(&dp, 2);
	const char *path = "\\EFI\\debian\\shimx64.efi";
	size_t pl = strlen(path);
	tb_u8(&dp, 4), tb_u8(&dp, 4), tb_u16(&dp, (uint16_t)(4 + 2 * (pl + 1)));
	for (size_t i = 0; i <= pl; i++)
		tb_u16(&dp, (uint8_t)path[i]);
	tb_u8(&dp, 0x7F), tb_u8(&dp, 0xFF), tb_u16(&dp, 4);
	tb_u64(&data, 0x1000), tb_u64(&data, 0x2000), tb_u64(&data, 0), tb_u64(&data, dp.len);
	tb_put(&data, dp.p, dp.len);
	tb_spec_id(&b, &two);
	tb_agile_h(&b, &two, 4, EV_EFI_BOOT_SERVICES_APPLICATION, "pe", 2, data.p, data.len);
	struct derived d = {0};
	derive(&b, &d);
	char line[512];
	eventlog_event_describe(&d.log->events[1], line, sizeof line);
	assert_string_equal(line, "PciRoot(0x0)/Pci(0x4,0x1)/HD(1,GPT,03020100-0504-0706-0809-"
	                          "0a0b0c0d0e0f,0x800,0x100000)/\\EFI\\debian\\shimx64.efi "
	                          "[at 0x1000, 0x2000 bytes, link 0x0]");
	assert_int_equal(d.f->boot_app_count, 1);
	assert_string_equal(d.f->boot_apps[0].path, "\\EFI\\debian\\shimx64.efi");
	assert_string_equal(d.f->kernel_image, "\\EFI\\debian\\shimx64.efi");
	assert_true(d.f->kernel_image_from_boot_app);
	/* A small buffer is cut, NUL-terminated, marked with "...". */
	char small[16];
	int n = eventlog_event_describe(&d.log->events[1], small, sizeof small);
	assert_int_equal(n, 15);
	assert_string_equal(small, "PciRoot(0x0)...");
	assert_int_equal(eventlog_event_describe(&d.log->events[1], small, 0), ATTEST_E_ARG);
	/* Malformed device path: a node length below 4. */
	char out[128];
	uint8_t bad[4] = {1, 1, 2, 0};
	assert_int_equal(efi_device_path_render(bad, 4, out, sizeof out), ATTEST_E_FORMAT);
	assert_non_null(strstr(out, "<malformed>"));
	uint8_t shortp[3] = {4, 4, 9};
	assert_int_equal(efi_device_path_render(shortp, 3, out, sizeof out), ATTEST_E_TRUNCATED);
	assert_int_equal(efi_device_path_file(dp.p, 12, out, sizeof out), ATTEST_E_NOTFOUND);
	derived_free(&d);
	free(dp.p);
	free(data.p);
	free(b.p);
}

static void test_utf16(void **state)
{
	char out[64];
	size_t n;
	/* "A", U+00E9, U+20AC, U+1F600 (pair), lone high, lone low, NUL, "B". */
	const uint8_t in[] = {'A',  0,    0xE9, 0, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE,
	                      0x00, 0xD8, 'x',  0, 0x00, 0xDC, 0,    0,    'B',  0};
	assert_int_equal(efi_utf16le_to_utf8(in, 10, true, out, sizeof out, &n), 0);
	assert_string_equal(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBDx\xEF\xBF\xBD");
	assert_int_equal(n, strlen(out));
	assert_int_equal(efi_utf16le_to_utf8(in, 10, false, out, sizeof out, &n), 0);
	assert_int_equal(n, 17 + 1 + 1); /* NUL kept, then "B" */
	/* A high surrogate as the very last unit. */
	assert_int_equal(efi_utf16le_to_utf8(in + 10, 1, true, out, sizeof out, &n), 0);
	assert_string_equal(out, "\xEF\xBF\xBD");
	/* Too small: cut at a character boundary. */
	assert_int_equal(efi_utf16le_to_utf8(in, 3, true, out, 4, &n), ATTEST_E_LIMIT);
	assert_string_equal(out, "A\xC3\xA9");
	assert_int_equal(efi_utf16le_to_utf8(in, 3, true, out, 0, &n), ATTEST_E_LIMIT);
}

static void test_guid_and_vardata(void **state)
{
	char s[EFI_GUID_STR_LEN + 1];
	efi_guid_format(EFI_GLOBAL_VARIABLE_GUID, s);
	assert_string_equal(s, "8be4df61-93ca-11d2-aa0d-00e098032b8c");
	assert_string_equal(efi_guid_name(EFI_IMAGE_SECURITY_DATABASE_GUID),
	                    "EFI_IMAGE_SECURITY_DATABASE");
	uint8_t z[16] = {0};
	assert_null(efi_guid_name(z));

	struct tbuf v = {0};
	uint8_t one = 1;
	tb_vardata(&v, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot", &one, 1);
	struct efi_variable_data vd;
	assert_int_equal(efi_variable_data_parse(v.p, v.len, &vd), 0);
	assert_true(efi_variable_is(&vd, EFI_GLOBAL_VARIABLE_GUID, "SecureBoot"));
	assert_false(efi_variable_is(&vd, EFI_GLOBAL_VARIABLE_GUID, "SecureBoo"));
	assert_false(efi_variable_is(&vd, EFI_IMAGE_SECURITY_DATABASE_GUID, "SecureBoot"));
	assert_int_equal(vd.trailing, 0);
	for (size_t n = 0; n < v.len; n++)
		assert_int_equal(efi_variable_data_parse(v.p, n, &vd), ATTEST_E_TRUNCATED);
	/* Huge name length must not wrap. */
	memset(v.p + 16, 0xFF, 8);
	assert_int_equal(efi_variable_data_parse(v.p, v.len, &vd), ATTEST_E_TRUNCATED);
	free(v.p);
}

static void test_signature_lists(void **state)
{
	struct tbuf sl = {0};
	uint8_t t[16] = {0}, e[20] = {0};
	tb_put(&sl, t, 16), tb_u32(&sl, 28 + 40), tb_u32(&sl, 0), tb_u32(&sl, 20);
	tb_put(&sl, e, 20), tb_put(&sl, e, 20);
	tb_put(&sl, t, 16), tb_u32(&sl, 28 + 4 + 20), tb_u32(&sl, 4), tb_u32(&sl, 20);
	tb_u32(&sl, 0), tb_put(&sl, e, 20);
	uint32_t lists = 99, entries = 99;
	assert_int_equal(efi_signature_db_count(sl.p, sl.len, &lists, &entries), 0);
	assert_int_equal(lists, 2);
	assert_int_equal(entries, 3);
	assert_int_equal(efi_signature_db_count(NULL, 0, &lists, &entries), 0);
	assert_int_equal(lists, 0);
	/* Cut anywhere inside: an error, outputs untouched. */
	for (size_t n = 1; n < sl.len; n++) {
		if (n == 68)
			continue; /* a list boundary */
		lists = 77;
		assert_true(efi_signature_db_count(sl.p, n, &lists, &entries) < 0);
		assert_int_equal(lists, 77);
	}
	/* SignatureSize not dividing the body; below 16; ListSize below 28. */
	sl.p[24] = 19;
	assert_int_equal(efi_signature_db_count(sl.p, sl.len, &lists, &entries), ATTEST_E_FORMAT);
	sl.p[24] = 8;
	assert_int_equal(efi_signature_db_count(sl.p, sl.len, &lists, &entries), ATTEST_E_FORMAT);
	sl.p[24] = 20;
	sl.p[16] = 27;
	assert_int_equal(efi_signature_db_count(sl.p, sl.len, &lists, &entries), ATTEST_E_FORMAT);
	free(sl.p);
}

static struct derived real(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/eventlogs/%s", TESTDATA_DIR, name);
	size_t len;
	uint8_t *buf = testutil_read_file(path, &len);
	if (!buf)
		fail_msg("cannot read %s", path);
	struct tbuf b = {buf, len, len};
	struct derived d = {0};
	derive(&b, &d);
	free(buf);
	return d;
}

/* Secure Boot per testdata/README.md; the gdc-host S-CRTM mismatch. */
static void test_real_logs_facts(void **state)
{
	if (!testutil_have_shared())
		skip();
	static const struct {
		const char *file;
		enum eventlog_secure_boot sb;
	} cases[] = {
	    {"gce-rhel8-secureboot.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"gce-ubuntu2104-no-secureboot.bin", EVENTLOG_SECURE_BOOT_DISABLED},
	    {"gce-debian10-secureboot-sha1-legacy.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"gce-windows-shieldedvm-secureboot-sha1-legacy.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"laptop-glinux-no-secureboot-startuplocality3.bin", EVENTLOG_SECURE_BOOT_DISABLED},
	    {"gdc-host-dell-sha256-startuplocality3.bin", EVENTLOG_SECURE_BOOT_DISABLED},
	    {"hygon-dhyana-server-hcrtm-sm3.bin", EVENTLOG_SECURE_BOOT_DISABLED},
	    {"hp-workstation-windows-optionrom-sha1-legacy.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"lenovo-thinkpad-p51-windows-secureboot.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"lenovo-sr645-server-pxe-no-secureboot.bin", EVENTLOG_SECURE_BOOT_DISABLED},
	    {"supermicro-server-pxe-secureboot.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	    {"qemu-ovmf-ubuntu-secureboot.bin", EVENTLOG_SECURE_BOOT_ENABLED},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct derived d = real(cases[i].file);
		if (d.f->secure_boot != cases[i].sb)
			fail_msg("%s: secure boot %s", cases[i].file,
			         eventlog_secure_boot_name(d.f->secure_boot));
		assert_true(d.f->is_uefi);
		assert_true(d.f->db.present);
		/* Only gdc-host has a content mismatch among these logs. */
		bool gdc = strstr(cases[i].file, "gdc-host") != NULL;
		if (d.c->failed_events != (gdc ? 1u : 0u))
			fail_msg("%s: %zu failed events", cases[i].file, d.c->failed_events);
		derived_free(&d);
	}

	struct derived d = real("gdc-host-dell-sha256-startuplocality3.bin");
	assert_int_equal(d.c->failures_kept, 1);
	assert_int_equal(d.c->failures[0].event, 3);
	assert_int_equal(d.c->failures[0].type, EV_S_CRTM_VERSION);
	assert_int_equal(d.c->failures[0].alg, EVENTLOG_ALG_SHA256);
	assert_false(d.f->firmware[0].verified);
	assert_int_equal(d.f->dbx.entries, 460);
	assert_string_equal(d.f->kernel_image, "/vmlinuz-6.9.0-rc7+");
	derived_free(&d);

	d = real("qemu-ovmf-ubuntu-secureboot.bin");
	assert_int_equal(d.f->boot_app_count, 3);
	assert_string_equal(d.f->boot_apps[0].path, "\\EFI\\ubuntu\\shimx64.efi");
	assert_string_equal(d.f->boot_apps[1].path, "\\EFI\\ubuntu\\grubx64.efi");
	assert_non_null(strstr(d.f->kernel_cmdline, "root=UUID=68a3fb48"));
	assert_int_equal(d.f->kek.entries, 2);
	derived_free(&d);

	d = real("gce-rhel8-secureboot.bin"); /* RHEL grub: "grub_cmd " prefix, NUL hashed */
	assert_int_equal(d.c->failed_events, 0);
	assert_string_equal(d.f->kernel_image,
	                    "(hd0,gpt2)/boot/vmlinuz-4.18.0-240.22.1.el8_3.x86_64");
	assert_int_equal(d.f->dbx.entries, 186);
	derived_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secure_boot_honest),
	    cmocka_unit_test(test_secure_boot_lie),
	    cmocka_unit_test(test_every_lie_reported),
	    cmocka_unit_test(test_boot_variable_forms),
	    cmocka_unit_test(test_unverifiable_bank),
	    cmocka_unit_test(test_describe_image_and_cut),
	    cmocka_unit_test(test_utf16),
	    cmocka_unit_test(test_guid_and_vardata),
	    cmocka_unit_test(test_signature_lists),
	    cmocka_unit_test(test_real_logs_facts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
