/* Starting and stopping swtpm, and its control channel. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "sim.h"
#include "log.h"
#include "tpmdev.h"

extern char **environ;

#define START_ATTEMPTS  5
#define START_WAIT_MS   5000
#define STOP_WAIT_MS    5000
#define CTRL_TIMEOUT_MS 5000

/* swtpm control channel commands (swtpm's tpm_ioctl.h). */
#define CMD_INIT 0x02u

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int connect_port(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Two consecutive free loopback ports (data, control): the kernel picks
 * the first; the second is checked by binding it. swtpm may still lose a
 * race for them, which the caller handles by trying again. */
static int free_port_pair(unsigned *ret)
{
	for (int i = 0; i < 50; i++) {
		int s1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int s2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t al = sizeof a;
		bool ok = s1 >= 0 && s2 >= 0 && bind(s1, (struct sockaddr *)&a, sizeof a) == 0 &&
		          getsockname(s1, (struct sockaddr *)&a, &al) == 0 &&
		          ntohs(a.sin_port) < 65535;
		unsigned p = ok ? ntohs(a.sin_port) : 0;
		if (ok) {
			a.sin_port = htons((uint16_t)(p + 1));
			ok = bind(s2, (struct sockaddr *)&a, sizeof a) == 0;
		}
		if (s1 >= 0)
			close(s1);
		if (s2 >= 0)
			close(s2);
		if (ok) {
			*ret = p;
			return 0;
		}
	}
	return ATTEST_E_IO;
}

static int spawn_swtpm(const char *dir, unsigned port, pid_t *ret)
{
	char state[SIM_PATH_MAX + 8], st[SIM_PATH_MAX], log[SIM_PATH_MAX + 16], lp[SIM_PATH_MAX];
	char server[96], ctrl[96];
	if (sim_path(st, dir, "state") || sim_path(lp, dir, "swtpm.log"))
		return ATTEST_E_LIMIT;
	snprintf(state, sizeof state, "dir=%s", st);
	snprintf(log, sizeof log, "file=%s", lp);
	snprintf(server, sizeof server, "type=tcp,port=%u,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof ctrl, "type=tcp,port=%u,bindaddr=127.0.0.1", port + 1);
	char *argv[] = {"swtpm",  "socket", "--tpm2",  "--tpmstate",    state,   "--server", server,
	                "--ctrl", ctrl,     "--flags", "not-need-init", "--log", log,        NULL};

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return ATTEST_E_NOMEM;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return ATTEST_E_NOMEM;
	}
	int rc = ATTEST_E_IO;
	/* Its own session, and no inherited stdio: whoever captures our
	 * stdout (tcti=$(attest-sim boot DIR)) must not wait for swtpm. */
	if (posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, lp, O_WRONLY | O_CREAT | O_APPEND, 0644) !=
	        0 ||
	    posix_spawn_file_actions_adddup2(&fa, 1, 2) != 0)
		goto out;
	int e = posix_spawnp(ret, "swtpm", &fa, &at, argv, environ);
	if (e != 0) {
		log_error("cannot run swtpm: %s", strerror(e));
		goto out;
	}
	rc = 0;
out:
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int sim_swtpm_start(const char *dir, struct sim_run *ret)
{
	for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		unsigned port;
		pid_t pid;
		int rc = free_port_pair(&port);
		if (!rc)
			rc = spawn_swtpm(dir, port, &pid);
		if (rc)
			return rc;
		/* Ready when both ports accept connections; gone if it exited
		 * (most likely a port taken meanwhile: try other ports). */
		bool exited = false;
		for (int waited = 0; waited < START_WAIT_MS; waited += 10) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				exited = true;
				break;
			}
			int fd = connect_port(port + 1);
			if (fd >= 0) {
				close(fd);
				int fd2 = connect_port(port);
				if (fd2 >= 0) {
					close(fd2);
					ret->pid = pid;
					ret->port = port;
					return 0;
				}
			}
			sleep_ms(10);
		}
		if (!exited) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			log_error("swtpm did not come up on port %u", port);
			return ATTEST_E_IO;
		}
	}
	log_error("swtpm exited at start %d times; see %s/swtpm.log", START_ATTEMPTS, dir);
	return ATTEST_E_IO;
}

int sim_swtpm_stop(const char *dir, const struct sim_run *r)
{
	if (!sim_pid_is_ours(r->pid, dir))
		return ATTEST_E_NOTFOUND;
	if (kill(r->pid, SIGTERM) != 0)
		return errno == ESRCH ? 0 : ATTEST_E_IO;
	for (int waited = 0; waited < STOP_WAIT_MS; waited += 10) {
		/* Our child only if this process started it; reap it then. */
		(void)waitpid(r->pid, NULL, WNOHANG);
		if (!sim_pid_is_ours(r->pid, dir))
			return 0;
		sleep_ms(10);
	}
	if (sim_pid_is_ours(r->pid, dir))
		kill(r->pid, SIGKILL);
	return 0;
}

static bool io_all(int fd, void *buf, size_t n, bool wr)
{
	uint8_t *p = buf;
	while (n > 0) {
		struct pollfd pf = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
		if (poll(&pf, 1, CTRL_TIMEOUT_MS) <= 0)
			return false;
		ssize_t k = wr ? write(fd, p, n) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* A reboot as an operating system does it: TPM2_Shutdown(CLEAR) first, so
 * the TPM_Init and TPM2_Startup that follow are orderly and the TPM's
 * dictionary-attack counter stays where it was. */
int sim_tpm_shutdown(unsigned port)
{
	char tcti[128], emsg[TPMDEV_ERRMSG_SIZE];
	struct tpmdev *t = NULL;
	sim_tcti(tcti, sizeof tcti, port);
	if (tpmdev_open(tcti, &t, emsg) != 0) {
		log_error("%s", emsg);
		return ATTEST_E_IO;
	}
	int rc = tpmdev_shutdown(t);
	if (rc)
		log_error("%s", tpmdev_last_error(t));
	tpmdev_close(t);
	return rc;
}

int sim_ctrl_init(unsigned ctrl_port)
{
	int fd = connect_port(ctrl_port);
	if (fd < 0)
		return ATTEST_E_IO;
	/* CMD_INIT, then its 4-byte flags (0: keep the volatile state file);
	 * the answer is a 4-byte result code, 0 on success. */
	uint8_t req[8] = {0, 0, 0, CMD_INIT, 0, 0, 0, 0}, res[4];
	bool ok = io_all(fd, req, sizeof req, true) && io_all(fd, res, sizeof res, false);
	close(fd);
	if (!ok)
		return ATTEST_E_IO;
	uint32_t code =
	    (uint32_t)res[0] << 24 | (uint32_t)res[1] << 16 | (uint32_t)res[2] << 8 | res[3];
	if (code != 0) {
		log_error("swtpm CMD_INIT answered 0x%08x", code);
		return ATTEST_E_IO;
	}
	return 0;
}
