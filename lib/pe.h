/* PE/COFF images: the digests UEFI firmware, shim and grub measure, and
 * the Authenticode signer.
 *
 * pe_parse() reads an EFI application (shim, grub, a kernel with its EFI
 * stub, a unified kernel image, systemd-boot) held in memory. It is pure:
 * no I/O, and every field is read through struct reader with caps, so an
 * untrusted file gives a precise sentence in msg, never a crash.
 *
 * The Authenticode SHA-256 is what the firmware and shim extend for an
 * EV_EFI_BOOT_SERVICES_APPLICATION (PE/COFF specification, "Attribute
 * Certificate Table"; Authenticode PE format): the headers up to
 * SizeOfHeaders without the CheckSum field and without the certificate
 * table's data-directory entry, then each section's raw data in file order
 * (sorted by PointerToRawData, whatever the section table's order), then
 * any data after the last section up to the certificate table, which is
 * left out. The certificate table, when present, must be the last thing in
 * the file (as signing tools write it and as shim requires).
 *
 * The signer is read from the first WIN_CERTIFICATE of type
 * WIN_CERT_TYPE_PKCS_SIGNED_DATA: a PKCS#7 SignedData whose SignerInfo
 * names the signing certificate by issuer and serial number. The signature
 * is not verified against any trust anchor here: the firmware does that at
 * boot; the catalog only records who signed. The digest the signature
 * covers (SpcIndirectDataContent's messageDigest) is compared with the one
 * computed, and the result reported. */
#ifndef ATTEST_PE_H
#define ATTEST_PE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PE_MAX_SIZE       (256u * 1024 * 1024) /* one image in memory */
#define PE_MAX_SECTIONS   96u                  /* the PE loader's own limit */
#define PE_MAX_CERT_TABLE (1u * 1024 * 1024)   /* all WIN_CERTIFICATEs */
#define PE_MAX_CERTS      16u                  /* WIN_CERTIFICATE entries */
#define PE_NAME_MAX       256u                 /* subject/issuer lines */

#define PE_MSG_SIZE 160u

#define PE_SUBSYSTEM_EFI_APPLICATION 10u
#define PE_SUBSYSTEM_EFI_ROM         13u

struct pe_info {
	uint16_t machine;   /* COFF Machine, e.g. 0x8664 for x86-64 */
	bool pe32plus;      /* optional header magic 0x20b */
	uint16_t sections;  /* NumberOfSections */
	uint16_t subsystem; /* 10 EFI application, 11/12 EFI drivers, 13 EFI ROM */
	uint8_t authenticode_sha256[32];
	uint8_t file_sha256[32]; /* the whole file, as grub measures it */
	/* Signature (all zero/empty when has_signature is false). */
	bool has_signature;               /* a PKCS#7 SignedData WIN_CERTIFICATE was read */
	size_t signatures;                /* WIN_CERTIFICATE entries in the table */
	bool signed_digest_ok;            /* the signed messageDigest equals ours (SHA-256) */
	char signer_subject[PE_NAME_MAX]; /* one line, "CN=..., O=..." */
	char signer_issuer[PE_NAME_MAX];
};

/* Parse the PE image buf[0..len): digests, and the signer if signed.
 * On success returns 0 and fills *ret. On failure returns
 * ATTEST_E_TRUNCATED / ATTEST_E_FORMAT / ATTEST_E_LIMIT /
 * ATTEST_E_UNSUPPORTED (e.g. a signature that is not PKCS#7) /
 * ATTEST_E_CRYPTO / ATTEST_E_NOMEM, with a sentence in msg naming the
 * field and offset; *ret is then untouched. A signature that cannot be
 * read is an error, not an unsigned image. */
int pe_parse(const uint8_t *buf, size_t len, struct pe_info *ret, char msg[static PE_MSG_SIZE]);

/* The Authenticode digest with another algorithm (OpenSSL name: "SHA1",
 * "SHA384", ...), as firmware extends into PCR banks other than SHA-256.
 * out gets *ret_len bytes. Errors as pe_parse(), and ATTEST_E_UNSUPPORTED
 * for an unknown algorithm. */
int pe_authenticode(const uint8_t *buf, size_t len, const char *alg, uint8_t out[static 64],
                    size_t *ret_len, char msg[static PE_MSG_SIZE]);

#endif
