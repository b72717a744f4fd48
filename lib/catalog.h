/* The software catalog: boot components read from vendor packages, each
 * with the digests the firmware and boot loaders measure (docs/policy.md,
 * "Catalog rules"; docs/cli.md, "attestctl catalog").
 *
 * An entry is what `attestctl catalog import` read from one EFI binary of
 * one package: its kind, the package's name, version and vendor, the path
 * inside the package, the PE Authenticode SHA-256 (what UEFI and shim
 * extend into PCR 4), the plain file SHA-256 (what grub extends into PCR 9)
 * and the signing certificate's subject and issuer (lib/pe.h).
 *
 * This module is pure: the entry's JSON form with strict checks (the
 * verifier takes entries over its API), and the kind a file's path
 * suggests. */
#ifndef ATTEST_CATALOG_H
#define ATTEST_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debver.h"
#include "pe.h"

#define CATALOG_KIND_MAX    32u
#define CATALOG_PACKAGE_MAX 128u /* Debian package names are shorter */
#define CATALOG_ARCH_MAX    32u
#define CATALOG_VENDOR_MAX  128u
#define CATALOG_PATH_MAX    512u
#define CATALOG_MSG_SIZE    160u

struct catalog_entry {
	int64_t id;       /* the verifier's row id; 0 before it is stored */
	int64_t added_at; /* unix seconds; 0 before it is stored */
	char kind[CATALOG_KIND_MAX];
	char package[CATALOG_PACKAGE_MAX];
	char version[DEBVER_MAX + 1];
	char arch[CATALOG_ARCH_MAX];     /* "" if unknown */
	char vendor[CATALOG_VENDOR_MAX]; /* "" if unknown */
	char path[CATALOG_PATH_MAX];     /* inside the package, starting with '/' */
	char authenticode_sha256[65];    /* lowercase hex */
	char file_sha256[65];
	char signer_subject[PE_NAME_MAX]; /* "" if unsigned */
	char signer_issuer[PE_NAME_MAX];
};

/* The kind a binary's path suggests: "shim", "mok_manager", "fallback",
 * "boot_loader" (grub), "systemd_boot", "uki" (a unified kernel image under
 * EFI/Linux or named *.efi with "linux" in it), "kernel" (vmlinuz-*), else
 * "efi_application". Never NULL. */
const char *catalog_kind_guess(const char *path);

/* Whether kind is one of the words above. */
bool catalog_kind_valid(const char *kind);

/* Fill the digests and signer of e from a parsed PE image. The signer is
 * set only when the signature's signed digest (SpcIndirectDataContent) is
 * the image's Authenticode SHA-256; otherwise e is recorded unsigned. */
void catalog_entry_set_pe(struct catalog_entry *e, const struct pe_info *pe);

/* Read an entry from its JSON form: {"kind", "package", "version", "path",
 * "authenticode_sha256", "file_sha256"} required, "arch", "vendor" and
 * "signer" ({"subject", "issuer"} or null) optional; "id" and "added_at"
 * are ignored (the verifier sets them). Every text must fit its cap and
 * hold no control character, bidirectional formatting character or invalid
 * UTF-8; digests are 64 lowercase hex digits; version must be a Debian
 * version (debver_valid); path starts with '/' and has no "." or ".."
 * component. An unknown key is an error naming it. 0, or ATTEST_E_FORMAT /
 * ATTEST_E_LIMIT with a sentence in msg; *ret untouched on failure. */
int catalog_entry_from_json(const json_t *o, struct catalog_entry *ret,
                            char msg[static CATALOG_MSG_SIZE]);

/* The JSON form (what catalog_entry_from_json reads, plus "id" and
 * "added_at" when set). A new reference, or NULL when out of memory. */
json_t *catalog_entry_to_json(const struct catalog_entry *e);

/* "linux-image-6.1.0-56-amd64 6.1.192-2, Debian, signed by CN=..." (the
 * software view's words). Always NUL-terminated. */
void catalog_entry_describe(const struct catalog_entry *e, char *out, size_t cap);

#endif
