/* "Booting" a simulated host: TPM2_Startup, then every digest of the event
 * log extended into its PCR, through the agent's TPM module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpmdev.h"
#include "err.h"
#include "eventlog.h"
#include "fileio.h"
#include "sim.h"
#include "log.h"

int sim_tcti(char *out, size_t cap, unsigned port)
{
	int n = snprintf(out, cap, "swtpm:host=127.0.0.1,port=%u", port);
	return (n < 0 || (size_t)n >= cap) ? ATTEST_E_LIMIT : 0;
}

/* Which banks the TPM has active: extends carry exactly those. */
static int active_banks(struct tpmdev *t, uint16_t *algs, size_t *n)
{
	struct tpmdev_info info;
	int rc = tpmdev_info(t, &info);
	if (rc)
		return rc;
	*n = 0;
	for (uint32_t i = 0; i < info.bank_count; i++)
		algs[(*n)++] = info.banks[i];
	return 0;
}

int sim_boot(const char *dir, unsigned port)
{
	char path[SIM_PATH_MAX], tcti[96];
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	struct eventlog *log = NULL;
	struct diag perr;
	struct tpmdev *t = NULL;
	int rc = sim_path(path, dir, "eventlog.bin");
	if (!rc)
		rc = fileio_read(path, EVENTLOG_MAX_SIZE, &raw, &raw_len);
	if (rc) {
		log_error("cannot read %s", path);
		return rc;
	}
	rc = eventlog_parse(raw, raw_len, &log, &perr);
	free(raw);
	if (rc) {
		log_error("%s: %s", path, perr.message);
		return rc;
	}

	char emsg[TPMDEV_ERRMSG_SIZE];
	sim_tcti(tcti, sizeof tcti, port);
	rc = tpmdev_open(tcti, &t, emsg);
	if (rc) {
		log_error("%s", emsg);
		goto out;
	}

	/* PCR 0 starts at the locality TPM2_Startup came from (PC Client
	 * profile); a StartupLocality event in the log says which. swtpm lets
	 * us pick it through its control channel (CMD_SET_LOCALITY). */
	uint8_t loc = log->has_startup_locality ? log->startup_locality : 0;
	rc = tpmdev_startup(t, loc);
	if (rc == ATTEST_E_UNSUPPORTED && loc != 0) {
		log_warning("the emulator cannot start up at locality %u (%s); started at "
		            "locality 0: PCR 0 will NOT match this log's replay",
		            loc, tpmdev_last_error(t));
		rc = tpmdev_startup(t, 0);
	}
	if (rc) {
		log_error("%s", tpmdev_last_error(t));
		goto out;
	}
	if (log->has_hcrtm)
		log_warning("this log has an H-CRTM event (PCR 0 starts at 4 on real "
		            "hardware); the simulator cannot reproduce an H-CRTM sequence with its "
		            "digest, so PCR 0 will NOT match this log's replay");

	uint16_t algs[TPMDEV_MAX_BANKS * 2];
	size_t nalg = 0;
	rc = active_banks(t, algs, &nalg);
	if (rc) {
		log_error("%s", tpmdev_last_error(t));
		goto out;
	}
	size_t extended = 0, skipped_pcr = 0;
	for (size_t i = 0; i < log->event_count; i++) {
		const struct eventlog_event *e = &log->events[i];
		if (e->type == EV_NO_ACTION)
			continue;
		if (e->pcr >= TPMDEV_NUM_PCRS) {
			skipped_pcr++;
			continue;
		}
		/* One digest per bank the TPM has and the event carries: a bank
		 * the log lacks stays as the TPM has it (the verifier sees a
		 * value the log does not explain, as on a real host). */
		uint16_t ea[TPMDEV_MAX_BANKS * 2];
		const uint8_t *ed[TPMDEV_MAX_BANKS * 2];
		size_t n = 0;
		for (size_t b = 0; b < nalg; b++)
			for (uint32_t d = 0; d < e->digest_count; d++)
				if (e->digests[d].alg == algs[b]) {
					ea[n] = algs[b];
					ed[n] = e->digests[d].bytes;
					n++;
					break;
				}
		if (n == 0)
			continue;
		rc = tpmdev_pcr_extend(t, e->pcr, n, ea, ed);
		if (rc) {
			log_error("event %u: %s", e->number, tpmdev_last_error(t));
			goto out;
		}
		extended++;
	}
	if (skipped_pcr)
		log_warning("%zu events name a PCR beyond 23; not extended", skipped_pcr);
	(void)extended;
out:
	tpmdev_close(t);
	eventlog_free(log);
	return rc;
}
