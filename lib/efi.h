/* UEFI structures found in measured-boot event logs: GUIDs, UTF-16 strings,
 * UEFI_VARIABLE_DATA, EFI_SIGNATURE_LIST databases and device paths.
 *
 * All decoders read untrusted bytes through struct reader, never allocate
 * and borrow their input: pointers they return point into it. */
#ifndef ATTEST_EFI_H
#define ATTEST_EFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EFI_GUID_SIZE    16
#define EFI_GUID_STR_LEN 36 /* "8be4df61-93ca-11d2-aa0d-00e098032b8c" */

/* Caps on what a hostile log can make us walk. */
#define EFI_MAX_SIGLISTS      4096u /* EFI_SIGNATURE_LISTs in one variable */
#define EFI_MAX_DEVPATH_NODES 256u  /* nodes rendered from one device path */

/* Well-known GUIDs (in their on-disk, mixed-endian byte order). */
extern const uint8_t EFI_GLOBAL_VARIABLE_GUID[EFI_GUID_SIZE];
extern const uint8_t EFI_IMAGE_SECURITY_DATABASE_GUID[EFI_GUID_SIZE];
extern const uint8_t EFI_SHIM_LOCK_GUID[EFI_GUID_SIZE];

/* Write the canonical lowercase text form of a GUID and a NUL into out. */
void efi_guid_format(const uint8_t guid[EFI_GUID_SIZE], char out[EFI_GUID_STR_LEN + 1]);

/* Short name of a well-known GUID ("EFI_GLOBAL_VARIABLE", "EFI_CERT_X509"),
 * or NULL. */
const char *efi_guid_name(const uint8_t guid[EFI_GUID_SIZE]);

/* Convert n_units UTF-16LE code units at in (2*n_units bytes) to UTF-8 in
 * out (cap bytes, always NUL-terminated when cap > 0). Conversion stops at
 * the first U+0000 if stop_at_nul. Unpaired surrogates become U+FFFD, so the
 * output is always valid UTF-8; 3*n_units+1 bytes always suffice. If out is
 * too small the text is cut at a character boundary and ATTEST_E_LIMIT is
 * returned. *ret_len (may be NULL) gets the UTF-8 length without the NUL. */
int efi_utf16le_to_utf8(const uint8_t *in, size_t n_units, bool stop_at_nul, char *out, size_t cap,
                        size_t *ret_len);

/* UEFI_VARIABLE_DATA: VariableName GUID, UnicodeNameLength u64,
 * VariableDataLength u64, UnicodeName[], VariableData[]. */
struct efi_variable_data {
	const uint8_t *guid; /* 16 bytes */
	const uint8_t *name; /* UTF-16LE, name_units code units */
	size_t name_units;
	const uint8_t *data; /* VariableData */
	size_t data_len;
	size_t trailing; /* bytes after VariableData (0 in a well-formed event) */
};

/* Decode len bytes at buf. ATTEST_E_TRUNCATED if the lengths announce more
 * than is there; pointers in *ret borrow buf. *ret untouched on failure. */
int efi_variable_data_parse(const uint8_t *buf, size_t len, struct efi_variable_data *ret);

/* True if the variable's GUID is guid and its name equals the ASCII name. */
bool efi_variable_is(const struct efi_variable_data *v, const uint8_t guid[EFI_GUID_SIZE],
                     const char *name);

/* A signature database (PK, KEK, db, dbx): a sequence of EFI_SIGNATURE_LIST.
 * Counts the lists and the signatures in them; checks each list's sizes
 * (ListSize covers the header, SignatureSize >= 16 and divides the rest).
 * Returns ATTEST_E_FORMAT/TRUNCATED on a malformed database, ATTEST_E_LIMIT
 * past EFI_MAX_SIGLISTS. Outputs untouched on failure. */
int efi_signature_db_count(const uint8_t *buf, size_t len, uint32_t *ret_lists,
                           uint32_t *ret_entries);

/* Called once per signature by efi_signature_db_walk: type is the list's
 * SignatureType GUID, owner the entry's SignatureOwner, data the rest.
 * A non-zero return stops the walk and is returned by it. */
typedef int (*efi_signature_fn)(void *ctx, const uint8_t *type, const uint8_t *owner,
                                const uint8_t *data, size_t len);

/* Validate like efi_signature_db_count and call fn for every signature. */
int efi_signature_db_walk(const uint8_t *buf, size_t len, efi_signature_fn fn, void *ctx);

/* Render a UEFI device path as text (UEFI spec's text forms where we have
 * them, e.g. "PciRoot(0x0)/Pci(0x1,0x1)/HD(1,GPT,<guid>,0x800,0x100000)/
 * \EFI\debian\shimx64.efi"; unknown nodes as "Path(type,subtype,hex)").
 * The output is NUL-terminated and cut (ending in "...") if cap is too
 * small. Returns 0, or ATTEST_E_FORMAT/TRUNCATED for a malformed path (the
 * text then holds what was rendered, followed by "<malformed>"). */
int efi_device_path_render(const uint8_t *buf, size_t len, char *out, size_t cap);

/* Only the file path part of a device path (the concatenated FilePath
 * nodes, e.g. "\EFI\debian\shimx64.efi") into out. Returns 0 if there was
 * one, ATTEST_E_NOTFOUND if none, or the malformation error. */
int efi_device_path_file(const uint8_t *buf, size_t len, char *out, size_t cap);

#endif
