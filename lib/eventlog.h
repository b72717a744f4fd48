/* TCG PC Client measured-boot event logs: parse and replay.
 *
 * Two formats are accepted:
 *  - crypto-agile: a SHA-1-format TCG_PCR_EVENT whose data is the
 *    "Spec ID Event03" header (lists the banks and their digest sizes), then
 *    TCG_PCR_EVENT2 records, each carrying one digest per declared bank;
 *  - legacy SHA-1: TCG_PCR_EVENT records only.
 *
 * The parser copies the input: the returned log owns its bytes, and event
 * data/digest pointers point into that copy. All reads go through
 * struct reader; every count and size is checked against the caps below
 * before anything is allocated. Trailing zero padding (kernel-exported logs)
 * is accepted and counted in trailing_bytes. */
#ifndef ATTEST_EVENTLOG_H
#define ATTEST_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define EVENTLOG_MAX_SIZE       (16u * 1024 * 1024) /* whole log, bytes */
#define EVENTLOG_MAX_EVENTS     100000u             /* events in one log */
#define EVENTLOG_MAX_EVENT_DATA (1u * 1024 * 1024)  /* one event's data */
#define EVENTLOG_MAX_BANKS      8u                  /* digests per event */
#define EVENTLOG_MAX_DIGEST     64u                 /* bytes, SHA-512 */
#define EVENTLOG_NUM_PCRS       24u                 /* PCRs 0..23 can be extended */
#define EVENTLOG_PCR_NONE       0xFFFFFFFFu         /* Windows' trailing EV_NO_ACTION */

/* TPM_ALG_ID values of the hash algorithms logs use. */
#define EVENTLOG_ALG_SHA1    0x0004
#define EVENTLOG_ALG_SHA256  0x000B
#define EVENTLOG_ALG_SHA384  0x000C
#define EVENTLOG_ALG_SHA512  0x000D
#define EVENTLOG_ALG_SM3_256 0x0012

/* Event types of the TCG PC Client Platform Firmware Profile. */
#define EV_PREBOOT_CERT                  0x00000000u
#define EV_POST_CODE                     0x00000001u
#define EV_UNUSED                        0x00000002u
#define EV_NO_ACTION                     0x00000003u
#define EV_SEPARATOR                     0x00000004u
#define EV_ACTION                        0x00000005u
#define EV_EVENT_TAG                     0x00000006u
#define EV_S_CRTM_CONTENTS               0x00000007u
#define EV_S_CRTM_VERSION                0x00000008u
#define EV_CPU_MICROCODE                 0x00000009u
#define EV_PLATFORM_CONFIG_FLAGS         0x0000000Au
#define EV_TABLE_OF_DEVICES              0x0000000Bu
#define EV_COMPACT_HASH                  0x0000000Cu
#define EV_IPL                           0x0000000Du
#define EV_IPL_PARTITION_DATA            0x0000000Eu
#define EV_NONHOST_CODE                  0x0000000Fu
#define EV_NONHOST_CONFIG                0x00000010u
#define EV_NONHOST_INFO                  0x00000011u
#define EV_OMIT_BOOT_DEVICE_EVENTS       0x00000012u
#define EV_POST_CODE2                    0x00000013u
#define EV_EFI_EVENT_BASE                0x80000000u
#define EV_EFI_VARIABLE_DRIVER_CONFIG    0x80000001u
#define EV_EFI_VARIABLE_BOOT             0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER      0x80000004u
#define EV_EFI_RUNTIME_SERVICES_DRIVER   0x80000005u
#define EV_EFI_GPT_EVENT                 0x80000006u
#define EV_EFI_ACTION                    0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB    0x80000008u
#define EV_EFI_HANDOFF_TABLES            0x80000009u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2   0x8000000Au
#define EV_EFI_HANDOFF_TABLES2           0x8000000Bu
#define EV_EFI_VARIABLE_BOOT2            0x8000000Cu
#define EV_EFI_GPT_EVENT2                0x8000000Du
#define EV_EFI_HCRTM_EVENT               0x80000010u
#define EV_EFI_VARIABLE_AUTHORITY        0x800000E0u
#define EV_EFI_SPDM_FIRMWARE_BLOB        0x800000E1u
#define EV_EFI_SPDM_FIRMWARE_CONFIG      0x800000E2u
#define EV_EFI_SPDM_DEVICE_POLICY        0x800000E3u
#define EV_EFI_SPDM_DEVICE_AUTHORITY     0x800000E4u

enum eventlog_format {
	EVENTLOG_FORMAT_LEGACY_SHA1 = 1, /* TCG_PCR_EVENT records only */
	EVENTLOG_FORMAT_CRYPTO_AGILE = 2 /* Spec ID Event03 + TCG_PCR_EVENT2 */
};

struct eventlog_bank {
	uint16_t alg;  /* TPM_ALG_ID */
	uint16_t size; /* digest size in bytes, as the header declares */
};

struct eventlog_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *bytes; /* points into the log's own copy */
};

struct eventlog_event {
	uint32_t number; /* 0-based position in the log (0 = first record) */
	size_t offset;   /* byte offset of the record in the log */
	uint32_t pcr;    /* PCR index; EVENTLOG_PCR_NONE only for EV_NO_ACTION */
	uint32_t type;   /* EV_* */
	uint32_t digest_count;
	struct eventlog_digest digests[EVENTLOG_MAX_BANKS];
	const uint8_t *data; /* event data, data_len bytes, into the log's copy */
	uint32_t data_len;
};

struct eventlog {
	enum eventlog_format format;
	uint32_t bank_count; /* legacy: 1 (SHA-1) */
	struct eventlog_bank banks[EVENTLOG_MAX_BANKS];
	bool has_startup_locality; /* a "StartupLocality" EV_NO_ACTION was seen */
	uint8_t startup_locality;
	bool has_hcrtm; /* an EV_EFI_HCRTM_EVENT was seen: PCR 0 starts at 4 */
	size_t event_count;
	struct eventlog_event *events;
	size_t trailing_bytes; /* zero padding after the last record */
	uint8_t *raw;          /* the log's own copy of the input */
	size_t raw_len;
};

/* Where and why parsing failed: struct diag (diag.h), with offset and event
 * set. */

/* Parse len bytes at buf. On success *ret is a new log the caller frees with
 * eventlog_free(). On failure returns a negative ATTEST_E_* code, leaves *ret
 * untouched and, if err is non-NULL, fills it in. */
int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret, struct diag *err);

/* Frees a log from eventlog_parse(); NULL is fine. */
void eventlog_free(struct eventlog *log);

/* Name of an event type ("EV_SEPARATOR"); "unknown" for others. Never NULL. */
const char *eventlog_type_name(uint32_t type);

/* Name of a hash algorithm ("sha256"); NULL if unknown. */
const char *eventlog_alg_name(uint16_t alg);

/* Digest size of a hash algorithm; 0 if unknown. */
size_t eventlog_alg_size(uint16_t alg);

/* PCR values computed from the log. */
struct eventlog_pcr_bank {
	uint16_t alg;
	uint16_t size;
	uint32_t touched; /* bit i set: the log extends PCR i in this bank */
	uint8_t pcr[EVENTLOG_NUM_PCRS][EVENTLOG_MAX_DIGEST];
};

struct eventlog_pcrs {
	uint32_t bank_count;
	struct eventlog_pcr_bank banks[EVENTLOG_MAX_BANKS];
};

/* Replay the log: start every PCR at zero (PCR 0 at the startup locality, or
 * 4 with an H-CRTM event), skip EV_NO_ACTION, and extend every other event's
 * digest into its PCR, per bank. Banks whose hash we cannot compute
 * are left with touched == 0 and ATTEST_E_UNSUPPORTED is NOT returned for
 * them; a fatal crypto failure returns ATTEST_E_CRYPTO. */
int eventlog_replay(const struct eventlog *log, struct eventlog_pcrs *ret);

/* The replayed bank for alg, or NULL. */
const struct eventlog_pcr_bank *eventlog_pcrs_bank(const struct eventlog_pcrs *p, uint16_t alg);

#endif
