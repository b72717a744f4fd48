/* attest-sim: simulated hosts for testing attest without hardware.
 * One file per concern: sim_ca.c (the test EK CA), sim_swtpm.c (swtpm
 * processes and control channel), sim_boot.c (startup and measurements),
 * sim_util.c (the host directory). docs/simulator.md explains the design. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpmdev.h"
#include "alg.h"
#include "err.h"
#include "eventlog.h"
#include "fileio.h"
#include "hex.h"
#include "sim.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: attest-sim COMMAND DIR [OPTIONS]\n"
	        "\n"
	        "A simulated host is a directory DIR: a TPM emulator's state (swtpm) with EK\n"
	        "certificates from a test CA, and a real event log that each boot extends into\n"
	        "the TPM's PCRs.\n"
	        "\n"
	        "  create DIR --eventlog FILE [--ek-ca CADIR] [--ecc]\n"
	        "        new TPM state in DIR (runs swtpm_setup): RSA-2048 and ECC P-384 EKs with\n"
	        "        certificates signed by the CA in CADIR (default DIR/ca; created if\n"
	        "        missing, certificate CADIR/ca.pem); SHA-256 bank, plus SHA-1 if the log\n"
	        "        has it; the log is copied to DIR/eventlog.bin. --ecc records that this\n"
	        "        host's agent makes an ECC AK (see `status`).\n"
	        "  boot DIR\n"
	        "        start swtpm on free loopback ports, TPM2_Startup (at the log's\n"
	        "        StartupLocality), extend every logged digest (EV_NO_ACTION skipped);\n"
	        "        print the TCTI string (swtpm:host=127.0.0.1,port=P)\n"
	        "  reboot DIR\n"
	        "        power-cycle the running TPM (resetCount changes) and boot again; print\n"
	        "        the TCTI string\n"
	        "  extend DIR PCR HEX\n"
	        "        tamper: extend 32 bytes HEX into PCR in the SHA-256 bank, and\n"
	        "        H(HEX bytes) in every other active bank\n"
	        "  compose-log IN OUT EVENT=FILE...\n"
	        "        a copy of the event log IN whose event EVENT carries FILE's digests in\n"
	        "        every bank: the PE Authenticode digest for a boot application, the file\n"
	        "        digest otherwise (a host booting real binaries; docs/simulator.md)\n"
	        "  stop DIR\n"
	        "        stop this host's swtpm (only the process recorded in DIR whose command\n"
	        "        line names DIR/state)\n"
	        "  status DIR\n"
	        "        JSON: running, pid, tcti, reset_count, restart_count, ak\n"
	        "\n"
	        "A VM host is a directory DIR too: QEMU (TCG) with OVMF booting Debian's signed\n"
	        "shim, grub and kernel, swtpm as its TPM, the real attest-agent inside.\n"
	        "\n"
	        "  create DIR --vm [--tpm tis|crb|none] [--secure-boot on|off]\n"
	        "             [--kernel VERSION] [--ek-ca CADIR]\n"
	        "        TPM state as above (also with --tpm none: a TPM can be fitted later);\n"
	        "        OVMF variables with Microsoft's keys (Secure Boot on, default) or none\n"
	        "        (off); an ESP image with shim, grub, linux-image-VERSION (default: the\n"
	        "        newest 6.1.0-NN-amd64 in the archive) and an initramfs holding busybox\n"
	        "        and this build's attest-agent; a persistent data disk for the agent.\n"
	        "        Packages come from apt-get download into ATTEST_VM_CACHE (default\n"
	        "        /var/cache/attest-vm). Exit status 3 if they cannot be fetched.\n"
	        "  boot DIR [--trust-verifier SHA256:HEX] [--tpm tis|crb|none] [--tpm-noise]\n"
	        "           [--timeout S]\n"
	        "        start swtpm and QEMU; the thumbprint goes to the agent through the\n"
	        "        data disk; --tpm changes the TPM fitted (recorded); --tpm-noise runs\n"
	        "        another TPM user in the guest (attest-agent evidence in a loop); wait\n"
	        "        up to S seconds (default 180) for the agent; last line printed:\n"
	        "        agent 127.0.0.1:PORT SHA256:<agent thumbprint>\n"
	        "  reboot DIR [--trust-verifier TP] [--tpm-noise|--no-tpm-noise] [--timeout S]\n"
	        "        reset the running guest (QMP system_reset: the TPM is reset, new\n"
	        "        resetCount; the data disk is kept); prints the agent line again\n"
	        "  kernel DIR VERSION\n"
	        "        install linux-image-VERSION on the ESP: it runs from the next boot\n"
	        "  stop DIR, status DIR\n"
	        "        as above, for QEMU and swtpm (status: running, vm, tpm, secure_boot,\n"
	        "        kernel, pid, swtpm_pid, agent, thumbprint)\n"
	        "\n"
	        "Needs swtpm and swtpm_setup on PATH (VM hosts: qemu-system-x86_64, ovmf,\n"
	        "mtools, dosfstools, cpio, busybox-static). Exit status 0 ok, 1 failure,\n"
	        "2 usage, 3 (create --vm) Debian's packages cannot be fetched.\n");
}

static int abspath(const char *in, char out[SIM_PATH_MAX])
{
	char buf[PATH_MAX];
	if (!realpath(in, buf) || strlen(buf) >= SIM_PATH_MAX)
		return ATTEST_E_IO;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char p[SIM_PATH_MAX];
	int rc = sim_path(p, dir, name);
	return rc ? rc : fileio_write_atomic(p, text, strlen(text), 0644);
}

int sim_tpm_state_create(const struct sim_conf *c)
{
	struct sim_conf conf = *c;
	char state[SIM_PATH_MAX];
	/* swtpm_setup runs swtpm_localca with configuration files we write
	 * here, so it signs with our CA and never the system one. */
	char text[4 * SIM_PATH_MAX + 256];
	snprintf(text, sizeof text,
	         "statedir = %s\nsigningkey = %s/ca-key.pem\nissuercert = %s/ca.pem\n"
	         "certserial = %s/certserial\n",
	         conf.ca_dir, conf.ca_dir, conf.ca_dir, conf.ca_dir);
	if (write_text(conf.dir, "swtpm-localca.conf", text) ||
	    write_text(conf.dir, "swtpm-localca.options",
	               "--platform-manufacturer attest\n--platform-version 1.0\n"
	               "--platform-model attest-sim\n"))
		return 1;
	snprintf(text, sizeof text,
	         "create_certs_tool = swtpm_localca\n"
	         "create_certs_tool_config = %s/swtpm-localca.conf\n"
	         "create_certs_tool_options = %s/swtpm-localca.options\n"
	         "active_pcr_banks = sha256\n",
	         conf.dir, conf.dir);
	if (write_text(conf.dir, "swtpm_setup.conf", text))
		return 1;
	if (sim_path(state, conf.dir, "state") || (mkdir(state, 0755) != 0 && errno != EEXIST))
		return 1;
	char cfg[SIM_PATH_MAX], setup_log[SIM_PATH_MAX];
	if (sim_path(cfg, conf.dir, "swtpm_setup.conf") ||
	    sim_path(setup_log, conf.dir, "swtpm_setup.log"))
		return 1;
	char *args[] = {"swtpm_setup",
	                "--tpm2",
	                "--tpm-state",
	                state,
	                "--create-ek-cert",
	                "--config",
	                cfg,
	                "--pcr-banks",
	                conf.sha1_bank ? "sha1,sha256" : "sha256",
	                "--write-ek-cert-files",
	                conf.dir,
	                "--overwrite",
	                NULL};
	if (sim_run_wait(args, setup_log) != 0)
		return 1;
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {{"eventlog", required_argument, NULL, 'e'},
	                                     {"ek-ca", required_argument, NULL, 'c'},
	                                     {"ecc", no_argument, NULL, 'E'},
	                                     {NULL, 0, NULL, 0}};
	const char *logpath = NULL, *ca = NULL;
	bool ecc = false;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': logpath = optarg; break;
		case 'c': ca = optarg; break;
		case 'E': ecc = true; break;
		default: return 2;
		}
	}
	if (optind != argc || !logpath) {
		fprintf(stderr, "attest-sim create: usage: create DIR --eventlog FILE [--ek-ca "
		                "CADIR] [--ecc]\n");
		return 2;
	}
	const char *dir_arg = argv[1];
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	struct eventlog *log = NULL;
	struct diag perr;
	if (fileio_read(logpath, EVENTLOG_MAX_SIZE, &raw, &raw_len) != 0) {
		fprintf(stderr, "attest-sim create: cannot read event log %s\n", logpath);
		return 1;
	}
	if (eventlog_parse(raw, raw_len, &log, &perr) != 0) {
		fprintf(stderr, "attest-sim create: %s: %s (offset %zu)\n", logpath, perr.message,
		        perr.offset);
		free(raw);
		return 1;
	}
	struct sim_conf conf;
	memset(&conf, 0, sizeof conf);
	conf.ecc_ak = ecc;
	for (uint32_t b = 0; b < log->bank_count; b++)
		if (log->banks[b].alg == EVENTLOG_ALG_SHA1)
			conf.sha1_bank = true;
	eventlog_free(log);

	int status = 1;
	char p[SIM_PATH_MAX];
	if (mkdir(dir_arg, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "attest-sim create: cannot create %s: %s\n", dir_arg,
		        strerror(errno));
		goto out;
	}
	if (abspath(dir_arg, conf.dir) != 0 || sim_path(p, conf.dir, "sim.conf") != 0)
		goto out;
	if (access(p, F_OK) == 0) {
		fprintf(stderr, "attest-sim create: %s already holds a simulated host\n", conf.dir);
		goto out;
	}
	char ca_default[SIM_PATH_MAX];
	if (!ca) {
		if (sim_path(ca_default, conf.dir, "ca") != 0)
			goto out;
		ca = ca_default;
	}
	if (mkdir(ca, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "attest-sim create: cannot create %s: %s\n", ca, strerror(errno));
		goto out;
	}
	if (abspath(ca, conf.ca_dir) != 0 || sim_ca_ensure(conf.ca_dir) != 0)
		goto out;
	if (sim_path(p, conf.dir, "eventlog.bin") || fileio_write_atomic(p, raw, raw_len, 0644)) {
		fprintf(stderr, "attest-sim create: cannot copy the event log into %s\n", conf.dir);
		goto out;
	}

	if (sim_tpm_state_create(&conf) != 0)
		goto out;
	if (sim_conf_write(&conf) != 0) {
		fprintf(stderr, "attest-sim create: cannot write %s/sim.conf\n", conf.dir);
		goto out;
	}
	status = 0;
out:
	free(raw);
	return status;
}

/* The host directory argument, made absolute, with its sim.conf read. */
static int host_dir(const char *arg, struct sim_conf *conf)
{
	char dir[SIM_PATH_MAX];
	if (abspath(arg, dir) != 0 || sim_conf_read(dir, conf) != 0) {
		log_error("%s is not a simulated host (no sim.conf; run create)", arg);
		return ATTEST_E_NOTFOUND;
	}
	/* Trust the directory we were given over the one recorded (moved). */
	memcpy(conf->dir, dir, sizeof dir);
	return 0;
}

static int running(const struct sim_conf *conf, struct sim_run *run)
{
	return sim_run_read(conf->dir, run) == 0 && sim_pid_is_ours(run->pid, conf->dir)
	           ? 0
	           : ATTEST_E_NOTFOUND;
}

static int cmd_boot(int argc, char **argv, bool reboot)
{
	const char *cmd = reboot ? "reboot" : "boot";
	struct sim_conf conf;
	struct sim_run run;
	char tcti[96];
	if (argc >= 2 && host_dir(argv[1], &conf) != 0)
		return 1;
	if (argc >= 2 && conf.vm)
		return sim_vm_boot(&conf, argc, argv, reboot);
	if (argc != 2) {
		fprintf(stderr, "attest-sim %s: usage: %s DIR\n", cmd, cmd);
		return 2;
	}
	bool up = running(&conf, &run) == 0;
	if (!reboot && up) {
		sim_tcti(tcti, sizeof tcti, run.port);
		fprintf(stderr,
		        "attest-sim boot: %s is already running (pid %ld, %s); use reboot\n",
		        conf.dir, (long)run.pid, tcti);
		return 1;
	}
	if (reboot && !up) {
		fprintf(stderr, "attest-sim reboot: %s is not running; use boot\n", conf.dir);
		return 1;
	}
	if (reboot) {
		/* An orderly power cycle: TPM2_Shutdown(CLEAR) as the OS sends it,
		 * then TPM_Init through the control channel; the TPM then needs
		 * TPM2_Startup(CLEAR), which increments resetCount. */
		if (sim_tpm_shutdown(run.port) != 0 || sim_ctrl_init(run.port + 1) != 0) {
			fprintf(stderr, "attest-sim reboot: swtpm control channel failed\n");
			return 1;
		}
	} else {
		sim_run_clear(conf.dir);
		if (sim_swtpm_start(conf.dir, &run) != 0)
			return 1;
		if (sim_run_write(conf.dir, &run) != 0) {
			fprintf(stderr, "attest-sim boot: cannot record the swtpm pid in %s\n",
			        conf.dir);
			sim_swtpm_stop(conf.dir, &run);
			return 1;
		}
	}
	if (sim_boot(conf.dir, run.port) != 0) {
		if (!reboot) {
			sim_swtpm_stop(conf.dir, &run);
			sim_run_clear(conf.dir);
		}
		return 1;
	}
	sim_tcti(tcti, sizeof tcti, run.port);
	printf("%s\n", tcti);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_stop(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "attest-sim stop: usage: stop DIR\n");
		return 2;
	}
	struct sim_conf conf;
	struct sim_run run;
	if (host_dir(argv[1], &conf) != 0)
		return 1;
	if (conf.vm)
		return sim_vm_stop(&conf);
	if (sim_run_read(conf.dir, &run) != 0) {
		fprintf(stderr, "attest-sim stop: %s is not running\n", conf.dir);
		return 0;
	}
	int rc = sim_swtpm_stop(conf.dir, &run);
	sim_run_clear(conf.dir);
	if (rc == ATTEST_E_NOTFOUND)
		fprintf(stderr,
		        "attest-sim stop: pid %ld is not this host's swtpm (already gone); left "
		        "alone\n",
		        (long)run.pid);
	return rc && rc != ATTEST_E_NOTFOUND ? 1 : 0;
}

static int derive(uint16_t alg, const uint8_t *in, size_t n, uint8_t *out)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	const EVP_MD *md = h ? h->md() : NULL;
	unsigned len = 0;
	return md && EVP_Digest(in, n, out, &len, md, NULL) ? 0 : ATTEST_E_UNSUPPORTED;
}

static int cmd_extend(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "attest-sim extend: usage: extend DIR PCR HEX\n");
		return 2;
	}
	struct sim_conf conf;
	struct sim_run run;
	char *end = NULL;
	errno = 0;
	unsigned long pcr = strtoul(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || pcr >= TPMDEV_NUM_PCRS) {
		fprintf(stderr, "attest-sim extend: PCR \"%s\" is not 0-23\n", argv[2]);
		return 2;
	}
	uint8_t d[32];
	size_t dl = 0;
	if (hex_decode(argv[3], d, sizeof d, &dl) != 0 || dl != 32) {
		fprintf(stderr,
		        "attest-sim extend: \"%s\" is not 32 bytes of hex (a SHA-256 digest)\n",
		        argv[3]);
		return 2;
	}
	if (host_dir(argv[1], &conf) != 0)
		return 1;
	if (conf.vm) {
		fprintf(stderr, "attest-sim extend: %s is a VM host: its firmware measures\n",
		        conf.dir);
		return 1;
	}
	if (running(&conf, &run) != 0) {
		fprintf(stderr, "attest-sim extend: %s is not running; boot it first\n", conf.dir);
		return 1;
	}
	char tcti[96], emsg[TPMDEV_ERRMSG_SIZE];
	sim_tcti(tcti, sizeof tcti, run.port);
	struct tpmdev *t = NULL;
	if (tpmdev_open(tcti, &t, emsg) != 0) {
		fprintf(stderr, "attest-sim extend: %s\n", emsg);
		return 1;
	}
	struct tpmdev_info info;
	int rc = tpmdev_info(t, &info);
	uint16_t algs[TPMDEV_MAX_BANKS * 2];
	uint8_t bufs[TPMDEV_MAX_BANKS * 2][64];
	const uint8_t *dig[TPMDEV_MAX_BANKS * 2];
	size_t n = 0;
	for (uint32_t i = 0; !rc && i < info.bank_count; i++) {
		algs[n] = info.banks[i];
		if (info.banks[i] == 0x000B) {
			memcpy(bufs[n], d, 32);
		} else if (derive(info.banks[i], d, 32, bufs[n]) != 0) {
			continue;
		}
		dig[n] = bufs[n];
		n++;
	}
	if (!rc)
		rc = tpmdev_pcr_extend(t, (uint32_t)pcr, n, algs, dig);
	if (rc)
		fprintf(stderr, "attest-sim extend: %s\n", tpmdev_last_error(t));
	tpmdev_close(t);
	return rc ? 1 : 0;
}

static int cmd_status(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "attest-sim status: usage: status DIR\n");
		return 2;
	}
	struct sim_conf conf;
	struct sim_run run;
	if (host_dir(argv[1], &conf) != 0)
		return 1;
	if (conf.vm)
		return sim_vm_status(&conf);
	if (running(&conf, &run) != 0) {
		printf("{\"running\": false, \"ak\": \"%s\"}\n", conf.ecc_ak ? "ecc" : "rsa");
		return 0;
	}
	char tcti[96], emsg[TPMDEV_ERRMSG_SIZE];
	sim_tcti(tcti, sizeof tcti, run.port);
	struct tpmdev *t = NULL;
	uint32_t reset = 0, restart = 0;
	int rc = tpmdev_open(tcti, &t, emsg);
	if (!rc && tpmdev_clock(t, &reset, &restart) != 0) {
		snprintf(emsg, sizeof emsg, "%s", tpmdev_last_error(t));
		rc = ATTEST_E_TPM;
	}
	tpmdev_close(t);
	if (rc) {
		fprintf(stderr, "attest-sim status: %s\n", emsg);
		return 1;
	}
	printf("{\"running\": true, \"pid\": %ld, \"tcti\": \"%s\", \"reset_count\": %u, "
	       "\"restart_count\": %u, \"ak\": \"%s\"}\n",
	       (long)run.pid, tcti, reset, restart, conf.ecc_ak ? "ecc" : "rsa");
	return 0;
}

int main(int argc, char **argv)
{
	log_init("attest-sim", LOG_LEVEL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "compose-log"))
		return sim_compose_log(argc - 1, argv + 1);
	if (argc < 3) {
		fprintf(stderr, "attest-sim: %s needs a host directory\n", cmd);
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "create")) {
		for (int i = 3; i < argc; i++)
			if (!strcmp(argv[i], "--vm"))
				return sim_vm_create(argc - 1, argv + 1);
		return cmd_create(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "kernel")) {
		struct sim_conf conf;
		if (argc != 4) {
			fprintf(stderr, "attest-sim kernel: usage: kernel DIR VERSION\n");
			return 2;
		}
		if (host_dir(argv[2], &conf) != 0)
			return 1;
		if (!conf.vm) {
			fprintf(stderr, "attest-sim kernel: %s is not a VM host\n", conf.dir);
			return 1;
		}
		return sim_vm_kernel(&conf, argv[3]);
	}
	if (!strcmp(cmd, "boot"))
		return cmd_boot(argc - 1, argv + 1, false);
	if (!strcmp(cmd, "reboot"))
		return cmd_boot(argc - 1, argv + 1, true);
	if (!strcmp(cmd, "stop"))
		return cmd_stop(argc - 1, argv + 1);
	if (!strcmp(cmd, "extend"))
		return cmd_extend(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	fprintf(stderr, "attest-sim: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
