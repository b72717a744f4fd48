/* attest-sim compose-log: a simulated host's event log that carries the
 * digests of real boot binaries (docs/simulator.md, "Logs from real
 * binaries"). Each EVENT=FILE replaces every bank's digest of event EVENT
 * in a real log: the PE Authenticode digest for an
 * EV_EFI_BOOT_SERVICES_APPLICATION (what UEFI firmware and shim extend),
 * the plain file digest for any other event (what grub extends for the
 * files it reads). The rest of the log is kept byte for byte, so booting
 * the result extends exactly what a machine running those binaries would. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eventlog.h"
#include "fileio.h"
#include "pe.h"
#include "sim.h"

static const char *ossl_name(uint16_t alg)
{
	switch (alg) {
	case 0x0004: return "SHA1";
	case 0x000b: return "SHA256";
	case 0x000c: return "SHA384";
	case 0x000d: return "SHA512";
	case 0x0012: return "SM3";
	default: return NULL;
	}
}

static int replace(uint8_t *out, const struct eventlog *log, const char *spec)
{
	const char *eq = strchr(spec, '=');
	char *end = NULL;
	unsigned long n = eq ? strtoul(spec, &end, 10) : 0;
	if (!eq || end != eq || eq == spec || n >= log->event_count) {
		fprintf(
		    stderr,
		    "attest-sim compose-log: \"%s\" is not EVENT=FILE with an event of the log\n",
		    spec);
		return 2;
	}
	const char *file = eq + 1;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(file, PE_MAX_SIZE, &buf, &len) < 0) {
		fprintf(stderr, "attest-sim compose-log: cannot read %s\n", file);
		return 1;
	}
	const struct eventlog_event *ev = &log->events[n];
	int rc = 0;
	for (uint32_t i = 0; i < ev->digest_count && rc == 0; i++) {
		const struct eventlog_digest *d = &ev->digests[i];
		const char *name = ossl_name(d->alg);
		uint8_t dig[64];
		size_t dlen = 0;
		char msg[PE_MSG_SIZE] = "";
		if (!name) {
			fprintf(stderr, "attest-sim compose-log: event %lu: bank 0x%04x unknown\n",
			        n, d->alg);
			rc = 1;
		} else if (ev->type == EV_EFI_BOOT_SERVICES_APPLICATION) {
			if (pe_authenticode(buf, len, name, dig, &dlen, msg) < 0) {
				fprintf(stderr, "attest-sim compose-log: %s: %s\n", file, msg);
				rc = 1;
			}
		} else {
			EVP_MD *m = EVP_MD_fetch(NULL, name, NULL);
			unsigned int k = 0;
			if (!m || EVP_Digest(buf, len, dig, &k, m, NULL) != 1) {
				fprintf(stderr, "attest-sim compose-log: %s: cannot hash\n", file);
				rc = 1;
			}
			dlen = k;
			EVP_MD_free(m);
		}
		if (rc == 0 && dlen != d->size) {
			fprintf(stderr, "attest-sim compose-log: event %lu: digest size mismatch\n",
			        n);
			rc = 1;
		}
		if (rc == 0)
			memcpy(out + (d->bytes - log->raw), dig, dlen);
	}
	free(buf);
	return rc;
}

int sim_compose_log(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: attest-sim compose-log IN OUT EVENT=FILE...\n");
		return 2;
	}
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	struct eventlog *log = NULL;
	struct diag perr;
	if (fileio_read(argv[1], EVENTLOG_MAX_SIZE, &raw, &raw_len) < 0) {
		fprintf(stderr, "attest-sim compose-log: cannot read %s\n", argv[1]);
		return 1;
	}
	if (eventlog_parse(raw, raw_len, &log, &perr) < 0) {
		fprintf(stderr, "attest-sim compose-log: %s: %s\n", argv[1], perr.message);
		free(raw);
		return 1;
	}
	uint8_t *out = malloc(log->raw_len ? log->raw_len : 1);
	int rc = out ? 0 : 1;
	if (out)
		memcpy(out, log->raw, log->raw_len);
	for (int i = 3; i < argc && rc == 0; i++)
		rc = replace(out, log, argv[i]);
	if (rc == 0 && fileio_write_atomic(argv[2], out, log->raw_len, 0644) < 0) {
		fprintf(stderr, "attest-sim compose-log: cannot write %s\n", argv[2]);
		rc = 1;
	}
	free(out);
	eventlog_free(log);
	free(raw);
	return rc;
}
