/* The software catalog's entries (see catalog.h). */
#include "catalog.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "termtext.h"

static const char *const kinds[] = {"shim",         "mok_manager", "fallback", "boot_loader",
                                    "systemd_boot", "uki",         "kernel",   "efi_application"};

bool catalog_kind_valid(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *catalog_kind_guess(const char *path)
{
	if (!path)
		return "efi_application";
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (starts(base, "shim"))
		return "shim";
	if (starts(base, "mm") && strstr(base, ".efi"))
		return "mok_manager";
	if (starts(base, "fb") && strstr(base, ".efi"))
		return "fallback";
	if (starts(base, "grub") || starts(base, "gcd"))
		return "boot_loader";
	if (starts(base, "systemd-boot"))
		return "systemd_boot";
	if (starts(base, "vmlinuz") || starts(base, "vmlinux"))
		return "kernel";
	if (strstr(path, "/EFI/Linux/") || (strstr(base, ".efi") && strstr(base, "linux")))
		return "uki";
	return "efi_application";
}

void catalog_entry_set_pe(struct catalog_entry *e, const struct pe_info *pe)
{
	hex_encode(pe->authenticode_sha256, 32, e->authenticode_sha256);
	hex_encode(pe->file_sha256, 32, e->file_sha256);
	/* A signature whose signed digest is not this image's does not sign
	 * it (the firmware would refuse it): recorded as unsigned. */
	bool signed_ok = pe->has_signature && pe->signed_digest_ok;
	snprintf(e->signer_subject, sizeof e->signer_subject, "%s",
	         signed_ok ? pe->signer_subject : "");
	snprintf(e->signer_issuer, sizeof e->signer_issuer, "%s",
	         signed_ok ? pe->signer_issuer : "");
}

/* Copy o[key] (a string) into out; required or not. */
static int text(const json_t *o, const char *key, bool required, char *out, size_t cap,
                char msg[static CATALOG_MSG_SIZE])
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (!required) {
			out[0] = '\0';
			return 0;
		}
		snprintf(msg, CATALOG_MSG_SIZE, "\"%s\" is missing", key);
		return ATTEST_E_FORMAT;
	}
	if (!json_is_string(v)) {
		snprintf(msg, CATALOG_MSG_SIZE, "\"%s\" is not a string", key);
		return ATTEST_E_FORMAT;
	}
	size_t n = json_string_length(v);
	if (n >= cap) {
		snprintf(msg, CATALOG_MSG_SIZE, "\"%s\" is longer than %zu bytes", key, cap - 1);
		return ATTEST_E_LIMIT;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != n || termtext_needs_escape(s, n)) {
		snprintf(msg, CATALOG_MSG_SIZE,
		         "\"%s\" holds a control or bidirectional character or invalid UTF-8", key);
		return ATTEST_E_FORMAT;
	}
	if (required && n == 0) {
		snprintf(msg, CATALOG_MSG_SIZE, "\"%s\" is empty", key);
		return ATTEST_E_FORMAT;
	}
	memcpy(out, s, n + 1);
	return 0;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; *c;) {
		const char *seg = c + 1, *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (n == 0 && end) /* "//" */
			return false;
		c = end ? end : seg + n;
	}
	return true;
}

int catalog_entry_from_json(const json_t *o, struct catalog_entry *ret,
                            char msg[static CATALOG_MSG_SIZE])
{
	static const char *const known[] = {"id",          "added_at", "kind",
	                                    "package",     "version",  "arch",
	                                    "vendor",      "path",     "authenticode_sha256",
	                                    "file_sha256", "signer"};
	struct catalog_entry e;
	memset(&e, 0, sizeof e);
	msg[0] = '\0';
	if (!json_is_object(o)) {
		snprintf(msg, CATALOG_MSG_SIZE, "a catalog entry is not a JSON object");
		return ATTEST_E_FORMAT;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++)
			ok = !strcmp(key, known[i]);
		if (!ok) {
			snprintf(msg, CATALOG_MSG_SIZE, "unknown key \"%.64s\" in a catalog entry",
			         key);
			return ATTEST_E_FORMAT;
		}
	}
	int rc;
	if ((rc = text(o, "kind", true, e.kind, sizeof e.kind, msg)) < 0 ||
	    (rc = text(o, "package", true, e.package, sizeof e.package, msg)) < 0 ||
	    (rc = text(o, "version", true, e.version, sizeof e.version, msg)) < 0 ||
	    (rc = text(o, "arch", false, e.arch, sizeof e.arch, msg)) < 0 ||
	    (rc = text(o, "vendor", false, e.vendor, sizeof e.vendor, msg)) < 0 ||
	    (rc = text(o, "path", true, e.path, sizeof e.path, msg)) < 0 ||
	    (rc = text(o, "authenticode_sha256", true, e.authenticode_sha256,
	               sizeof e.authenticode_sha256, msg)) < 0 ||
	    (rc = text(o, "file_sha256", true, e.file_sha256, sizeof e.file_sha256, msg)) < 0)
		return rc;
	if (!catalog_kind_valid(e.kind)) {
		snprintf(msg, CATALOG_MSG_SIZE, "\"kind\" \"%.40s\" is not a catalog kind", e.kind);
		return ATTEST_E_FORMAT;
	}
	if (!debver_valid(e.version)) {
		snprintf(msg, CATALOG_MSG_SIZE, "\"version\" \"%.60s\" is not a Debian version",
		         e.version);
		return ATTEST_E_FORMAT;
	}
	if (!path_ok(e.path)) {
		snprintf(msg, CATALOG_MSG_SIZE,
		         "\"path\" must start with / and have no empty, . or .. component");
		return ATTEST_E_FORMAT;
	}
	if (!is_hex64(e.authenticode_sha256) || !is_hex64(e.file_sha256)) {
		snprintf(msg, CATALOG_MSG_SIZE, "digests must be 64 lowercase hex digits");
		return ATTEST_E_FORMAT;
	}
	const json_t *sg = json_object_get(o, "signer");
	if (sg && !json_is_null(sg)) {
		if (!json_is_object(sg) || json_object_size(sg) != 2) {
			snprintf(msg, CATALOG_MSG_SIZE,
			         "\"signer\" must be null or {\"subject\", \"issuer\"}");
			return ATTEST_E_FORMAT;
		}
		if ((rc = text(sg, "subject", true, e.signer_subject, sizeof e.signer_subject,
		               msg)) < 0 ||
		    (rc = text(sg, "issuer", true, e.signer_issuer, sizeof e.signer_issuer, msg)) <
		        0)
			return rc;
	}
	*ret = e;
	return 0;
}

json_t *catalog_entry_to_json(const struct catalog_entry *e)
{
	json_t *signer = e->signer_subject[0] ? json_pack("{s:s,s:s}", "subject", e->signer_subject,
	                                                  "issuer", e->signer_issuer)
	                                      : json_null();
	json_t *o =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "kind", e->kind, "package",
	              e->package, "version", e->version, "arch", e->arch, "vendor", e->vendor,
	              "path", e->path, "authenticode_sha256", e->authenticode_sha256, "file_sha256",
	              e->file_sha256, "signer", signer);
	if (o && e->id > 0) {
		json_object_set_new(o, "id", json_integer(e->id));
		json_object_set_new(o, "added_at", json_integer(e->added_at));
	}
	return o;
}

void catalog_entry_describe(const struct catalog_entry *e, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s %s", e->package, e->version);
	if (n >= 0 && (size_t)n < cap && e->vendor[0])
		n += snprintf(out + n, cap - (size_t)n, ", %s", e->vendor);
	if (n >= 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, "%s%s",
		         e->signer_subject[0] ? ", signed by " : ", unsigned", e->signer_subject);
}
