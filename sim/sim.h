/* attest-sim internals: a simulated host is a directory holding swtpm's
 * state, the event log it "boots", and what the simulator recorded. See
 * docs/simulator.md. */
#ifndef ATTEST_SIM_H
#define ATTEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SIM_PATH_MAX 1024
#define SIM_CONF_MAX 4096u

/* What sim.conf in a host directory records (key=value lines). */
struct sim_conf {
	char dir[SIM_PATH_MAX]; /* absolute host directory */
	char ca_dir[SIM_PATH_MAX];
	bool ecc_ak;    /* the AK this host's agent should make */
	bool sha1_bank; /* SHA-1 bank active besides SHA-256 */
	/* VM hosts only (sim_vm.c): QEMU + OVMF booting Debian's signed chain. */
	bool vm;
	char tpm[8];      /* "tis", "crb" or "none": the TPM device the VM has */
	bool secure_boot; /* OVMF variables with Microsoft's keys enrolled */
	char kernel[64];  /* 6.1.0-NN-amd64 on the ESP */
};

/* What a running simulated host recorded at boot. */
struct sim_run {
	pid_t pid;
	unsigned port; /* data port; control port is port + 1 */
};

/* sim_util.c */
int sim_path(char out[SIM_PATH_MAX], const char *dir, const char *name);
int sim_conf_write(const struct sim_conf *c);
int sim_conf_read(const char *dir, struct sim_conf *ret);
int sim_run_read(const char *dir, struct sim_run *ret);
int sim_run_write(const char *dir, const struct sim_run *r);
void sim_run_clear(const char *dir);
/* Whether pid is a live swtpm serving this host directory (its command
 * line names DIR/state). */
bool sim_pid_is_ours(pid_t pid, const char *dir);
/* Run argv (PATH lookup), stdout+stderr appended to logpath; wait for it.
 * 0 if it exited 0. */
int sim_run_wait(char *const argv[], const char *logpath);

/* main.c: swtpm_setup for the host in conf->dir with EKs certified by the
 * CA in conf->ca_dir (written before). Messages on stderr. */
int sim_tpm_state_create(const struct sim_conf *conf);

/* sim_vm.c: VM hosts. Each takes the command's argc/argv (argv[1] = DIR)
 * and returns the exit status. */
int sim_vm_create(int argc, char **argv);
int sim_vm_boot(const struct sim_conf *conf, int argc, char **argv, bool reboot);
int sim_vm_stop(const struct sim_conf *conf);
int sim_vm_status(const struct sim_conf *conf);
int sim_vm_kernel(const struct sim_conf *conf, const char *version);

/* sim_ca.c: the test EK CA in ca_dir (ca.pem, ca-key.pem, certserial),
 * created if missing, under a lock so parallel creates share one CA. */
int sim_ca_ensure(const char *ca_dir);

/* sim_swtpm.c */
int sim_swtpm_start(const char *dir, struct sim_run *ret);
int sim_swtpm_stop(const char *dir, const struct sim_run *r);
/* swtpm control channel: CMD_INIT (power cycle, TPM_Init). */
int sim_ctrl_init(unsigned ctrl_port);

/* TPM2_Shutdown(CLEAR) on the swtpm at port, before a reboot. */
int sim_tpm_shutdown(unsigned port);

/* sim_boot.c: TPM2_Startup (at the log's startup locality where the
 * emulator allows) and every logged digest extended. Messages on stderr. */
int sim_boot(const char *dir, unsigned port);
/* sim_compose.c: attest-sim compose-log IN OUT EVENT=FILE... */
int sim_compose_log(int argc, char **argv);
int sim_tcti(char *out, size_t cap, unsigned port);

#endif
