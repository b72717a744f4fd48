/* VM hosts: QEMU (TCG) with Debian's OVMF booting Debian's signed shim,
 * grub and kernel, swtpm as the guest's TIS or CRB TPM, and the real
 * attest-agent inside (docs/simulator.md, "VM hosts"). The disk images are
 * built by sim/vm-image.sh; this file runs and watches the processes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "sim.h"
#include "log.h"

extern char **environ;

#ifndef ATTEST_SIM_VM_HELPER
#define ATTEST_SIM_VM_HELPER "vm-image.sh"
#endif

#define OVMF_CODE       "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
#define OVMF_VARS_KEYS  "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define QEMU            "qemu-system-x86_64"
#define GUEST_PORT      7443
#define BOOT_TIMEOUT_S  180 /* a TCG boot takes 20-25 s on an idle machine */
#define START_ATTEMPTS  5
#define STOP_WAIT_MS    5000
#define QMP_TIMEOUT_MS  5000
#define CONSOLE_MAX     (4u << 20) /* what we read of the guest's console */
#define THUMB_MAX       80

/* What a running VM host recorded (DIR/vm.run). */
struct vm_run {
	pid_t qemu, swtpm; /* swtpm 0 when the VM has no TPM */
	unsigned port;     /* host loopback port forwarded to the agent */
	char thumb[THUMB_MAX];
};

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- processes ------------------------------------------------------- */

/* Whether /proc/PID/cmdline has argv[0] with base name `base` and some
 * argument equal to `arg`: the only way we recognise our own processes. */
static bool pid_has(pid_t pid, const char *base, const char *arg)
{
	char path[64];
	if (pid <= 1)
		return false;
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(path, 64 * 1024, &buf, &len) != 0)
		return false;
	bool is = false, has = false;
	for (size_t i = 0; i < len;) {
		const char *a = (const char *)buf + i;
		size_t n = strnlen(a, len - i);
		if (i == 0) {
			const char *b = strrchr(a, '/');
			is = strcmp(b ? b + 1 : a, base) == 0;
		}
		if (strcmp(a, arg) == 0)
			has = true;
		i += n + 1;
	}
	free(buf);
	return is && has;
}

static bool qemu_is_ours(pid_t pid, const char *dir)
{
	char pidfile[SIM_PATH_MAX];
	return sim_path(pidfile, dir, "qemu.pid") == 0 && pid_has(pid, QEMU, pidfile);
}

/* Start argv detached (own session, stdin /dev/null, stdout and stderr
 * appended to logpath). */
static int spawn_detached(char *const argv[], const char *logpath, pid_t *ret)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return ATTEST_E_NOMEM;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return ATTEST_E_NOMEM;
	}
	int rc = ATTEST_E_IO;
	if (posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_APPEND,
	                                     0644) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, 1, 2) != 0)
		goto out;
	int e = posix_spawnp(ret, argv[0], &fa, &at, argv, environ);
	if (e != 0) {
		log_error("cannot run %s: %s", argv[0], strerror(e));
		goto out;
	}
	rc = 0;
out:
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* SIGTERM, wait, SIGKILL: only while `alive` still says it is ours. */
static void stop_pid(pid_t pid, bool (*alive)(pid_t, const char *), const char *dir)
{
	if (!alive(pid, dir))
		return;
	kill(pid, SIGTERM);
	for (int waited = 0; waited < STOP_WAIT_MS; waited += 20) {
		(void)waitpid(pid, NULL, WNOHANG); /* reap it if it is our child */
		if (!alive(pid, dir))
			return;
		sleep_ms(20);
	}
	if (alive(pid, dir))
		kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, WNOHANG);
}

/* ---- vm.run ------------------------------------------------------------ */

static int run_read(const char *dir, struct vm_run *ret)
{
	char path[SIM_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	if (sim_path(path, dir, "vm.run") || fileio_read(path, 1024, &buf, &len))
		return ATTEST_E_NOTFOUND;
	struct vm_run r;
	memset(&r, 0, sizeof r);
	long q = 0, s = 0, p = 0;
	char *save = NULL;
	char *text = (char *)buf;
	bool ok = len > 0 && memchr(buf, '\0', len) == NULL;
	if (ok) {
		char *t = realloc(buf, len + 1);
		if (!t) {
			free(buf);
			return ATTEST_E_NOMEM;
		}
		buf = (uint8_t *)t;
		text = t;
		text[len] = '\0';
	}
	for (char *l = ok ? strtok_r(text, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *end = NULL;
		if (!strncmp(l, "qemu=", 5))
			q = strtol(l + 5, &end, 10);
		else if (!strncmp(l, "swtpm=", 6))
			s = strtol(l + 6, &end, 10);
		else if (!strncmp(l, "port=", 5))
			p = strtol(l + 5, &end, 10);
		else if (!strncmp(l, "thumbprint=", 11) && strlen(l + 11) < sizeof r.thumb)
			snprintf(r.thumb, sizeof r.thumb, "%s", l + 11);
		if (end && *end)
			ok = false;
	}
	free(buf);
	if (!ok || q <= 1 || q > 4194304 || s < 0 || s > 4194304 || p <= 0 || p > 65535)
		return ATTEST_E_FORMAT;
	r.qemu = (pid_t)q;
	r.swtpm = (pid_t)s;
	r.port = (unsigned)p;
	*ret = r;
	return 0;
}

static int run_write(const char *dir, const struct vm_run *r)
{
	char path[SIM_PATH_MAX], buf[256];
	if (sim_path(path, dir, "vm.run"))
		return ATTEST_E_LIMIT;
	int n = snprintf(buf, sizeof buf, "qemu=%ld\nswtpm=%ld\nport=%u\nthumbprint=%s\n",
	                 (long)r->qemu, (long)r->swtpm, r->port, r->thumb);
	return fileio_write_atomic(path, buf, (size_t)n, 0644);
}

static void run_clear(const char *dir)
{
	char path[SIM_PATH_MAX];
	if (sim_path(path, dir, "vm.run") == 0)
		unlink(path);
}

static void stop_all(const char *dir, const struct vm_run *r)
{
	stop_pid(r->qemu, qemu_is_ours, dir);
	if (r->swtpm)
		stop_pid(r->swtpm, sim_pid_is_ours, dir);
}

/* ---- the data disk (FAT, written with mtools while the guest is off) --- */

static int data_put(const char *dir, const char *name, const char *text)
{
	char img[SIM_PATH_MAX], tmp[SIM_PATH_MAX], dst[64], log[SIM_PATH_MAX];
	if (sim_path(img, dir, "data.img") || sim_path(tmp, dir, "data.put") ||
	    sim_path(log, dir, "vm-image.log"))
		return ATTEST_E_LIMIT;
	snprintf(dst, sizeof dst, "::%s", name);
	if (!text) {
		char *del[] = {"mdel", "-i", img, dst, NULL};
		(void)sim_run_wait(del, "/dev/null"); /* absent is fine */
		return 0;
	}
	int rc = fileio_write_atomic(tmp, text, strlen(text), 0600);
	if (rc)
		return rc;
	char *put[] = {"mcopy", "-o", "-i", img, tmp, dst, NULL};
	rc = sim_run_wait(put, log);
	unlink(tmp);
	return rc;
}

/* ---- QMP (QEMU's machine protocol) on DIR/qmp.sock --------------------- */

static int qmp_line(int fd, char *buf, size_t cap, const char *want1, const char *want2)
{
	/* Read lines until one holds want1 or want2 (events may come first). */
	size_t n = 0;
	double end = now_s() + QMP_TIMEOUT_MS / 1000.0;
	while (now_s() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 200) <= 0)
			continue;
		if (n + 1 >= cap)
			n = 0; /* an overlong line (an event): drop it */
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k <= 0)
			return ATTEST_E_IO;
		n += (size_t)k;
		buf[n] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			bool hit = strstr(buf, want1) || (want2 && strstr(buf, want2));
			bool err = strstr(buf, "\"error\"") != NULL;
			size_t rest = n - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, rest + 1);
			n = rest;
			if (err)
				return ATTEST_E_STATE;
			if (hit)
				return 0;
		}
	}
	return ATTEST_E_IO;
}

static int qmp(const char *dir, const char *const cmds[], size_t ncmd)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char path[SIM_PATH_MAX], buf[8192];
	if (sim_path(path, dir, "qmp.sock") || strlen(path) >= sizeof a.sun_path)
		return ATTEST_E_LIMIT;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ATTEST_E_IO;
	int rc = ATTEST_E_IO;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		goto out;
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	if ((rc = qmp_line(fd, buf, sizeof buf, "\"QMP\"", NULL)) != 0)
		goto out;
	if (write(fd, caps, sizeof caps - 1) != (ssize_t)(sizeof caps - 1) ||
	    (rc = qmp_line(fd, buf, sizeof buf, "\"return\"", NULL)) != 0) {
		rc = rc ? rc : ATTEST_E_IO;
		goto out;
	}
	for (size_t i = 0; i < ncmd; i++) {
		char line[128];
		int n = snprintf(line, sizeof line, "{\"execute\":\"%s\"}\n", cmds[i]);
		if (write(fd, line, (size_t)n) != n) {
			rc = ATTEST_E_IO;
			goto out;
		}
		if ((rc = qmp_line(fd, buf, sizeof buf, "\"return\"", NULL)) != 0)
			goto out;
	}
out:
	close(fd);
	return rc;
}

/* ---- starting ---------------------------------------------------------- */

static int free_port(unsigned *ret)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	int rc = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
	                 getsockname(s, (struct sockaddr *)&a, &al) == 0
	             ? 0
	             : ATTEST_E_IO;
	if (!rc)
		*ret = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return rc;
}

static bool port_is_free(unsigned port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	/* As QEMU's slirp binds its forwarded ports: SO_REUSEADDR, so that the
	 * last boot's connections in TIME_WAIT do not count as the port taken. */
	bool ok = s >= 0 && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
	          bind(s, (struct sockaddr *)&a, sizeof a) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* DIR/vm.port: the forwarded port of the last boot (0 if none). */
static unsigned last_port(const char *dir)
{
	char path[SIM_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	if (sim_path(path, dir, "vm.port") || fileio_read(path, 16, &buf, &len))
		return 0;
	char text[17];
	memcpy(text, buf, len);
	text[len] = '\0';
	free(buf);
	char *end = NULL;
	long v = strtol(text, &end, 10);
	return end != text && (*end == '\n' || !*end) && v > 1024 && v < 65536 ? (unsigned)v : 0;
}

static int start_swtpm(const char *dir, pid_t *ret)
{
	char st[SIM_PATH_MAX], sock[SIM_PATH_MAX], lp[SIM_PATH_MAX];
	char state[SIM_PATH_MAX + 8], ctrl[SIM_PATH_MAX + 32], log[SIM_PATH_MAX + 8];
	struct sockaddr_un a;
	if (sim_path(st, dir, "state") || sim_path(sock, dir, "swtpm.sock") ||
	    sim_path(lp, dir, "swtpm.log") || strlen(sock) >= sizeof a.sun_path) {
		log_error("%s is too long a path for swtpm's socket", dir);
		return ATTEST_E_LIMIT;
	}
	unlink(sock);
	snprintf(state, sizeof state, "dir=%s", st);
	snprintf(ctrl, sizeof ctrl, "type=unixio,path=%s", sock);
	snprintf(log, sizeof log, "file=%s", lp);
	/* QEMU sends CMD_INIT at power-on and reset; the firmware sends
	 * TPM2_Startup, as on a real machine. */
	char *argv[] = {"swtpm", "socket", "--tpm2", "--tpmstate",  state, "--ctrl",
	                ctrl,    "--log",  log,      "--terminate", NULL};
	int rc = spawn_detached(argv, lp, ret);
	if (rc)
		return rc;
	for (int waited = 0; waited < 5000; waited += 10) {
		struct stat sb;
		if (stat(sock, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return 0;
		if (waitpid(*ret, NULL, WNOHANG) == *ret)
			break;
		sleep_ms(10);
	}
	log_error("swtpm did not come up; see %s", lp);
	stop_pid(*ret, sim_pid_is_ours, dir);
	return ATTEST_E_IO;
}

static int start_qemu(const struct sim_conf *c, unsigned port, pid_t *ret)
{
	char p[8][SIM_PATH_MAX + 96], pidfile[SIM_PATH_MAX], qlog[SIM_PATH_MAX];
	const char *d = c->dir;
	if (sim_path(pidfile, d, "qemu.pid") || sim_path(qlog, d, "qemu.log"))
		return ATTEST_E_LIMIT;
	snprintf(p[0], sizeof p[0], "if=pflash,format=raw,unit=0,readonly=on,file=%s", OVMF_CODE);
	snprintf(p[1], sizeof p[1], "if=pflash,format=raw,unit=1,file=%s/OVMF_VARS.fd", d);
	snprintf(p[2], sizeof p[2], "if=none,id=esp,format=raw,readonly=on,file=%s/esp.img", d);
	snprintf(p[3], sizeof p[3], "if=none,id=data,format=raw,file=%s/data.img", d);
	snprintf(p[4], sizeof p[4], "user,id=n0,hostfwd=tcp:127.0.0.1:%u-:%u", port, GUEST_PORT);
	snprintf(p[5], sizeof p[5], "file:%s/console.log", d);
	snprintf(p[6], sizeof p[6], "unix:%s/qmp.sock,server=on,wait=off", d);
	snprintf(p[7], sizeof p[7], "socket,id=chrtpm,path=%s/swtpm.sock", d);
	char *argv[64];
	size_t n = 0;
	char *fixed[] = {QEMU,
	                 "-machine",
	                 "q35,smm=on",
	                 "-cpu",
	                 "max",
	                 "-m",
	                 "512",
	                 "-display",
	                 "none",
	                 "-no-user-config",
	                 "-nodefaults",
	                 "-global",
	                 "driver=cfi.pflash01,property=secure,value=on",
	                 "-drive",
	                 p[0],
	                 "-drive",
	                 p[1],
	                 "-drive",
	                 p[2],
	                 "-device",
	                 "virtio-blk-pci,drive=esp,bootindex=1",
	                 "-drive",
	                 p[3],
	                 "-device",
	                 "virtio-blk-pci,drive=data,serial=attest-data",
	                 "-netdev",
	                 p[4],
	                 "-device",
	                 "virtio-net-pci,netdev=n0,romfile=",
	                 "-serial",
	                 p[5],
	                 "-qmp",
	                 p[6],
	                 "-pidfile",
	                 pidfile};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		argv[n++] = fixed[i];
	if (strcmp(c->tpm, "none") != 0) {
		argv[n++] = "-chardev";
		argv[n++] = p[7];
		argv[n++] = "-tpmdev";
		argv[n++] = "emulator,id=tpm0,chardev=chrtpm";
		argv[n++] = "-device";
		argv[n++] =
		    strcmp(c->tpm, "crb") == 0 ? "tpm-crb,tpmdev=tpm0" : "tpm-tis,tpmdev=tpm0";
	}
	argv[n] = NULL;
	return spawn_detached(argv, qlog, ret);
}

/* Read the console from offset `from`; find the agent's lines. 1 when the
 * agent is up (thumbprint copied), 0 not yet, <0 the boot failed (why in
 * `why`). */
/* At most CONSOLE_MAX bytes of DIR/console.log from offset `from` (a long
 * running guest's console grows; only this boot's part is read). */
static int console_read(const char *dir, size_t from, uint8_t **ret, size_t *ret_len)
{
	char path[SIM_PATH_MAX];
	if (sim_path(path, dir, "console.log"))
		return ATTEST_E_LIMIT;
	FILE *f = fopen(path, "rbe");
	if (!f)
		return ATTEST_E_NOTFOUND;
	uint8_t *buf = malloc(CONSOLE_MAX);
	size_t n = 0;
	int rc = buf && fseeko(f, (off_t)from, SEEK_SET) == 0 ? 0 : ATTEST_E_IO;
	if (!rc) {
		n = fread(buf, 1, CONSOLE_MAX, f);
		rc = ferror(f) ? ATTEST_E_IO : 0;
	}
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

static int console_scan(const char *dir, size_t from, char thumb[THUMB_MAX], const char **why)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (console_read(dir, from, &buf, &len))
		return 0;
	int rc = 0;
	bool listening = false;
	thumb[0] = '\0';
	/* Shim prints this and waits for a key, without ending the line. */
	static const char sv[] = "Security Violation";
	if (memmem(buf, len, sv, sizeof sv - 1)) {
		*why = "the boot chain was refused: \"Security Violation\" on the console "
		       "(shim or the firmware would not run a boot loader)";
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < len;) {
		const char *l = (const char *)buf + i;
		const char *nl = memchr(l, '\n', len - i);
		size_t n = nl ? (size_t)(nl - l) : len - i;
		if (!nl)
			break; /* an unfinished line: next time */
		static const char tp[] = "attest-vm: agent: thumbprint ";
		static const char ls[] = "attest-vm: agent: listening ";
		static const char gone[] = "attest-vm: attest-agent exited";
		if (n > sizeof tp - 1 && !strncmp(l, tp, sizeof tp - 1)) {
			const char *v = l + sizeof tp - 1;
			size_t k = n - (sizeof tp - 1);
			while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == ' '))
				k--;
			if (k < THUMB_MAX && k > 7 && !strncmp(v, "SHA256:", 7)) {
				memcpy(thumb, v, k);
				thumb[k] = '\0';
			}
		} else if (n >= sizeof ls - 1 && !strncmp(l, ls, sizeof ls - 1)) {
			listening = true;
		} else if (n >= sizeof gone - 1 && !strncmp(l, gone, sizeof gone - 1)) {
			*why = "the agent exited inside the guest";
			rc = -1;
			break;
		}
		i += n + 1;
	}
	free(buf);
	if (rc == 0 && listening && thumb[0])
		rc = 1;
	return rc;
}

static size_t console_size(const char *dir)
{
	char path[SIM_PATH_MAX];
	struct stat st;
	return sim_path(path, dir, "console.log") == 0 && stat(path, &st) == 0 ? (size_t)st.st_size
	                                                                       : 0;
}

static void console_tail(const char *dir, size_t from)
{
	char path[SIM_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	if (sim_path(path, dir, "console.log") || console_read(dir, from, &buf, &len))
		return;
	size_t start = len, lines = 0;
	while (start > 0 && lines < 8)
		if (buf[--start] == '\n' && start + 1 < len)
			lines++;
	log_info("last console lines (%s):", path);
	/* Printable text only: the firmware paints the screen with ANSI escape
	 * sequences (ESC [ ... letter), which are skipped. */
	for (size_t i = start; i < len; i++) {
		if (buf[i] == 0x1b) {
			while (i + 1 < len && !((buf[i + 1] >= 'A' && buf[i + 1] <= 'Z') ||
			                        (buf[i + 1] >= 'a' && buf[i + 1] <= 'z')))
				i++;
			i++;
			continue;
		}
		if (buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f))
			fputc(buf[i], stderr);
	}
	fputc('\n', stderr);
	free(buf);
}

/* Wait for the agent of the boot whose console output starts at `from`. */
static int wait_agent(const char *dir, const struct vm_run *r, size_t from, int timeout_s,
                      char thumb[THUMB_MAX])
{
	double end = now_s() + timeout_s;
	const char *why = NULL;
	while (now_s() < end) {
		int rc = console_scan(dir, from, thumb, &why);
		if (rc == 1)
			return 0;
		if (rc < 0)
			break;
		if (!qemu_is_ours(r->qemu, dir)) {
			(void)waitpid(r->qemu, NULL, WNOHANG);
			why = "QEMU exited (see qemu.log)";
			break;
		}
		sleep_ms(200);
	}
	if (!why)
		log_error("the agent did not come up within %d s", timeout_s);
	else
		log_error("boot failed: %s", why);
	console_tail(dir, from);
	return ATTEST_E_IO;
}

/* Options of boot and reboot. */
struct boot_opts {
	const char *trust; /* --trust-verifier */
	const char *tpm;   /* --tpm (boot only) */
	int noise;         /* --tpm-noise 1, --no-tpm-noise 0, -1 unchanged */
	int timeout_s;
};

static int parse_boot(int argc, char **argv, bool reboot, struct boot_opts *o)
{
	static const struct option opts[] = {{"trust-verifier", required_argument, NULL, 'v'},
	                                     {"tpm", required_argument, NULL, 't'},
	                                     {"tpm-noise", no_argument, NULL, 'n'},
	                                     {"no-tpm-noise", no_argument, NULL, 'N'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {NULL, 0, NULL, 0}};
	memset(o, 0, sizeof *o);
	o->noise = -1;
	o->timeout_s = BOOT_TIMEOUT_S;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (strncmp(optarg, "SHA256:", 7) != 0 || strlen(optarg) != 7 + 64 ||
			    strspn(optarg + 7, "0123456789abcdefABCDEF") != 64) {
				fprintf(stderr,
				        "attest-sim: --trust-verifier wants SHA256:<64 hex>, "
				        "not \"%s\"\n",
				        optarg);
				return 2;
			}
			o->trust = optarg;
			break;
		case 't':
			if (reboot || (strcmp(optarg, "tis") && strcmp(optarg, "crb") &&
			               strcmp(optarg, "none"))) {
				fprintf(stderr,
				        "attest-sim: --tpm is tis, crb or none (boot only)\n");
				return 2;
			}
			o->tpm = optarg;
			break;
		case 'n': o->noise = 1; break;
		case 'N': o->noise = 0; break;
		case 'T': {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!end || *end || v < 1 || v > 3600) {
				fprintf(stderr, "attest-sim: --timeout wants 1-3600 seconds\n");
				return 2;
			}
			o->timeout_s = (int)v;
			break;
		}
		default: return 2;
		}
	}
	if (optind != argc)
		return 2;
	return 0;
}

/* Options carried to the guest on its data disk (never on the kernel
 * command line, which grub measures into PCR 8). */
static int apply_disk_opts(const char *dir, const struct boot_opts *o)
{
	char line[THUMB_MAX + 2];
	int rc = 0;
	if (o->trust) {
		snprintf(line, sizeof line, "%s\n", o->trust);
		rc = data_put(dir, "trust-verifier", line);
	}
	if (!rc && o->noise >= 0)
		rc = data_put(dir, "tpm-noise", o->noise ? "1\n" : NULL);
	if (rc)
		log_error("cannot write the guest's data disk (mtools)");
	return rc;
}

static int vm_running(const struct sim_conf *c, struct vm_run *r)
{
	return run_read(c->dir, r) == 0 && qemu_is_ours(r->qemu, c->dir) ? 0 : ATTEST_E_NOTFOUND;
}

int sim_vm_boot(const struct sim_conf *conf, int argc, char **argv, bool reboot)
{
	const char *cmd = reboot ? "reboot" : "boot";
	struct boot_opts o;
	if (parse_boot(argc, argv, reboot, &o) != 0) {
		fprintf(stderr,
		        "attest-sim %s: usage: %s DIR [--trust-verifier SHA256:HEX]%s "
		        "[--tpm-noise|--no-tpm-noise] [--timeout S]\n",
		        cmd, cmd, reboot ? "" : " [--tpm tis|crb|none]");
		return 2;
	}
	struct sim_conf c = *conf;
	struct vm_run r;
	bool up = vm_running(&c, &r) == 0;
	if (!reboot && up) {
		fprintf(stderr,
		        "attest-sim boot: %s is already running (QEMU pid %ld); use reboot\n",
		        c.dir, (long)r.qemu);
		return 1;
	}
	if (reboot && !up) {
		fprintf(stderr, "attest-sim reboot: %s is not running; use boot\n", c.dir);
		return 1;
	}
	if (reboot) {
		/* A real reset: CPUs paused, the options written to the data disk
		 * (the guest writes it through, so nothing of it is in flight),
		 * then the machine reset (QEMU resets the TPM: new resetCount) and
		 * resumed. */
		size_t from = console_size(c.dir);
		static const char *const pause[] = {"stop"}, *const reset[] = {"system_reset",
		                                                               "cont"};
		if (qmp(c.dir, pause, 1) != 0) {
			fprintf(stderr, "attest-sim reboot: QEMU's QMP socket did not answer\n");
			return 1;
		}
		int rc = apply_disk_opts(c.dir, &o);
		if (qmp(c.dir, reset, 2) != 0) {
			fprintf(stderr, "attest-sim reboot: system_reset through QMP failed\n");
			return 1;
		}
		if (rc)
			return 1;
		r.thumb[0] = '\0';
		run_write(c.dir, &r);
		if (wait_agent(c.dir, &r, from, o.timeout_s, r.thumb) != 0) {
			stop_all(c.dir, &r);
			run_clear(c.dir);
			return 1;
		}
		run_write(c.dir, &r);
		printf("agent 127.0.0.1:%u %s\n", r.port, r.thumb);
		return fflush(stdout) == 0 ? 0 : 1;
	}

	if (o.tpm && strcmp(o.tpm, c.tpm) != 0) {
		snprintf(c.tpm, sizeof c.tpm, "%s", o.tpm);
		if (sim_conf_write(&c) != 0) {
			fprintf(stderr, "attest-sim boot: cannot record the new TPM in sim.conf\n");
			return 1;
		}
	}
	if (!o.trust)
		fprintf(stderr,
		        "attest-sim boot: no --trust-verifier: the agent keeps the verifier "
		        "pins it already has\n");
	if (apply_disk_opts(c.dir, &o) != 0)
		return 1;
	run_clear(c.dir);
	char path[SIM_PATH_MAX];
	if (sim_path(path, c.dir, "console.log") == 0)
		unlink(path);
	memset(&r, 0, sizeof r);
	if (strcmp(c.tpm, "none") != 0 && start_swtpm(c.dir, &r.swtpm) != 0)
		return 1;
	double t0 = now_s();
	int rc = ATTEST_E_IO;
	/* The port of the last boot first: a host keeps its address across
	 * power cycles, as the verifier knows it by that address. */
	unsigned last = last_port(c.dir);
	for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		if (attempt == 0 && last && port_is_free(last))
			r.port = last;
		else if (free_port(&r.port) != 0)
			break;
		if (start_qemu(&c, r.port, &r.qemu) != 0)
			break;
		if (run_write(c.dir, &r) != 0) {
			fprintf(stderr, "attest-sim boot: cannot record the pids in %s\n", c.dir);
			break;
		}
		/* QEMU exits at once when the forwarded port was taken meanwhile. */
		sleep_ms(500);
		int st;
		if (waitpid(r.qemu, &st, WNOHANG) == r.qemu) {
			fprintf(stderr,
			        "attest-sim boot: QEMU exited at start (see %s/qemu.log)%s\n",
			        c.dir, attempt + 1 < START_ATTEMPTS ? "; trying another port" : "");
			if (r.swtpm && !sim_pid_is_ours(r.swtpm, c.dir) &&
			    strcmp(c.tpm, "none") != 0 && start_swtpm(c.dir, &r.swtpm) != 0)
				break;
			continue;
		}
		rc = wait_agent(c.dir, &r, 0, o.timeout_s, r.thumb);
		break;
	}
	if (rc) {
		stop_all(c.dir, &r);
		run_clear(c.dir);
		return 1;
	}
	run_write(c.dir, &r);
	char pp[SIM_PATH_MAX], pt[16];
	int pn = snprintf(pt, sizeof pt, "%u\n", r.port);
	if (sim_path(pp, c.dir, "vm.port") == 0)
		(void)fileio_write_atomic(pp, pt, (size_t)pn, 0644);
	fprintf(stderr, "attest-sim boot: agent up %.1f s after QEMU started\n", now_s() - t0);
	printf("agent 127.0.0.1:%u %s\n", r.port, r.thumb);
	return fflush(stdout) == 0 ? 0 : 1;
}

int sim_vm_stop(const struct sim_conf *c)
{
	struct vm_run r;
	if (run_read(c->dir, &r) != 0) {
		fprintf(stderr, "attest-sim stop: %s is not running\n", c->dir);
		return 0;
	}
	if (!qemu_is_ours(r.qemu, c->dir))
		fprintf(stderr,
		        "attest-sim stop: pid %ld is not this host's QEMU (already gone); "
		        "left alone\n",
		        (long)r.qemu);
	stop_all(c->dir, &r);
	run_clear(c->dir);
	return 0;
}

int sim_vm_status(const struct sim_conf *c)
{
	struct vm_run r;
	bool up = vm_running(c, &r) == 0;
	printf("{\"running\": %s, \"vm\": true, \"tpm\": \"%s\", \"secure_boot\": %s, "
	       "\"kernel\": \"%s\", \"ak\": \"%s\"",
	       up ? "true" : "false", c->tpm, c->secure_boot ? "true" : "false", c->kernel,
	       c->ecc_ak ? "ecc" : "rsa");
	if (up)
		printf(", \"pid\": %ld, \"swtpm_pid\": %ld, \"agent\": \"127.0.0.1:%u\", "
		       "\"thumbprint\": \"%s\"",
		       (long)r.qemu, (long)r.swtpm, r.port, r.thumb);
	printf("}\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- create and kernel ------------------------------------------------- */

/* The helper script and the agent to put in the guest: next to this
 * program's sources, and next to this program, unless the environment
 * says otherwise (ATTEST_VM_HELPER, ATTEST_VM_AGENT). */
static int helper_paths(char helper[SIM_PATH_MAX], char agent[SIM_PATH_MAX])
{
	const char *h = getenv("ATTEST_VM_HELPER"), *a = getenv("ATTEST_VM_AGENT");
	snprintf(helper, SIM_PATH_MAX, "%s", h && *h ? h : ATTEST_SIM_VM_HELPER);
	if (a && *a) {
		snprintf(agent, SIM_PATH_MAX, "%s", a);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			return ATTEST_E_IO;
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (!slash)
			return ATTEST_E_IO;
		*slash = '\0';
		if (snprintf(agent, SIM_PATH_MAX, "%s/attest-agent", self) >= SIM_PATH_MAX)
			return ATTEST_E_LIMIT;
	}
	if (access(helper, R_OK) != 0 || access(agent, X_OK) != 0) {
		log_error("need %s and %s (ATTEST_VM_HELPER, ATTEST_VM_AGENT)", helper, agent);
		return ATTEST_E_NOTFOUND;
	}
	return 0;
}

/* Run vm-image.sh with args; 3 when the packages cannot be fetched. */
static int helper(const char *dir, char *const args[])
{
	char log[SIM_PATH_MAX];
	if (sim_path(log, dir, "vm-image.log"))
		return 1;
	pid_t pid;
	char *argv[12] = {"bash"};
	size_t n = 1;
	for (size_t i = 0; args[i] && n < 11; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	int e = posix_spawnp(&pid, "bash", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (e != 0)
		return 1;
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	if (code != 0) {
		log_error("%s %s failed; from %s:", args[0], args[1], log);
		uint8_t *buf = NULL;
		size_t len = 0;
		if (fileio_read(log, 1 << 20, &buf, &len) == 0) {
			size_t s = len > 1500 ? len - 1500 : 0;
			fwrite(buf + s, 1, len - s, stderr);
			free(buf);
		}
	}
	return code == 3 ? 3 : code ? 1 : 0;
}

static int esp_build(const struct sim_conf *c)
{
	char h[SIM_PATH_MAX], a[SIM_PATH_MAX];
	if (helper_paths(h, a) != 0)
		return 1;
	char *args[] = {
	    h, "esp", (char *)c->dir, (char *)c->kernel, a, c->secure_boot ? "on" : "off", NULL};
	return helper(c->dir, args);
}

/* A Debian kernel ABI name such as 6.1.0-56-amd64 (it becomes a package
 * name and file names). */
static bool kernel_ok(const char *v)
{
	size_t n = strlen(v);
	return n > 6 && n < 64 && isdigit((unsigned char)v[0]) && strspn(v, "0123456789.-") > 2 &&
	       strcmp(v + n - 6, "-amd64") == 0 && strspn(v, "0123456789.-amd") == n;
}

int sim_vm_kernel(const struct sim_conf *conf, const char *version)
{
	struct sim_conf c = *conf;
	if (!kernel_ok(version)) {
		fprintf(stderr,
		        "attest-sim kernel: \"%s\" is not a kernel version like "
		        "6.1.0-56-amd64\n",
		        version);
		return 2;
	}
	snprintf(c.kernel, sizeof c.kernel, "%s", version);
	int rc = esp_build(&c);
	if (rc)
		return rc;
	if (sim_conf_write(&c) != 0)
		return 1;
	fprintf(stderr,
	        "attest-sim kernel: %s installed on the ESP; it runs from the next "
	        "boot or reboot\n",
	        version);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = fileio_read(from, 64u << 20, &buf, &len);
	if (!rc)
		rc = fileio_write_atomic(to, buf, len, 0644);
	free(buf);
	return rc;
}

static int latest_kernel(const char *dir, char out[64])
{
	char h[SIM_PATH_MAX], a[SIM_PATH_MAX], vf[SIM_PATH_MAX];
	if (helper_paths(h, a) != 0 || sim_path(vf, dir, "kernels"))
		return 1;
	char *args[] = {h, "kernels-to", vf, NULL};
	int rc = helper(dir, args);
	if (rc)
		return rc;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(vf, 64 * 1024, &buf, &len) != 0)
		return 1;
	size_t n = 0;
	while (n < len && n < 63 && buf[n] != '\n')
		n++;
	memcpy(out, buf, n);
	out[n] = '\0';
	free(buf);
	unlink(vf);
	if (n == 0) {
		fprintf(stderr,
		        "attest-sim create: the archive lists no linux-image-6.1.0-NN-amd64 "
		        "(apt-get update?)\n");
		return 3;
	}
	return 0;
}

int sim_vm_create(int argc, char **argv)
{
	static const struct option opts[] = {{"vm", no_argument, NULL, 'V'},
	                                     {"tpm", required_argument, NULL, 't'},
	                                     {"secure-boot", required_argument, NULL, 's'},
	                                     {"kernel", required_argument, NULL, 'k'},
	                                     {"ek-ca", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	struct sim_conf c;
	memset(&c, 0, sizeof c);
	c.vm = true;
	c.secure_boot = true;
	snprintf(c.tpm, sizeof c.tpm, "tis");
	const char *ca = NULL, *kernel = NULL;
	int o;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'V': break;
		case 't':
			if (strcmp(optarg, "tis") && strcmp(optarg, "crb") &&
			    strcmp(optarg, "none")) {
				fprintf(stderr, "attest-sim create: --tpm is tis, crb or none\n");
				return 2;
			}
			snprintf(c.tpm, sizeof c.tpm, "%s", optarg);
			break;
		case 's':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "attest-sim create: --secure-boot is on or off\n");
				return 2;
			}
			c.secure_boot = strcmp(optarg, "on") == 0;
			break;
		case 'k': kernel = optarg; break;
		case 'c': ca = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "attest-sim create: usage: create DIR --vm [--tpm tis|crb|none] "
		                "[--secure-boot on|off] [--kernel VERSION] [--ek-ca CADIR]\n");
		return 2;
	}
	if (kernel && !kernel_ok(kernel)) {
		fprintf(stderr,
		        "attest-sim create: \"%s\" is not a kernel version like "
		        "6.1.0-56-amd64\n",
		        kernel);
		return 2;
	}
	const char *dir_arg = argv[1];
	char buf[PATH_MAX], p[SIM_PATH_MAX];
	if (mkdir(dir_arg, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "attest-sim create: cannot create %s: %s\n", dir_arg,
		        strerror(errno));
		return 1;
	}
	if (!realpath(dir_arg, buf) || strlen(buf) >= SIM_PATH_MAX || strchr(buf, ',')) {
		fprintf(stderr, "attest-sim create: %s: unusable path for QEMU (no commas)\n",
		        dir_arg);
		return 1;
	}
	memcpy(c.dir, buf, strlen(buf) + 1);
	if (sim_path(p, c.dir, "sim.conf") || access(p, F_OK) == 0) {
		fprintf(stderr, "attest-sim create: %s already holds a simulated host\n", c.dir);
		return 1;
	}
	if (access(OVMF_CODE, R_OK) != 0 || access(OVMF_VARS_KEYS, R_OK) != 0) {
		fprintf(stderr, "attest-sim create: %s not found (install ovmf)\n", OVMF_CODE);
		return 3;
	}
	char cadef[SIM_PATH_MAX];
	if (!ca) {
		if (sim_path(cadef, c.dir, "ca"))
			return 1;
		ca = cadef;
	}
	if ((mkdir(ca, 0755) != 0 && errno != EEXIST) || !realpath(ca, buf) ||
	    strlen(buf) >= SIM_PATH_MAX) {
		fprintf(stderr, "attest-sim create: cannot use CA directory %s\n", ca);
		return 1;
	}
	memcpy(c.ca_dir, buf, strlen(buf) + 1);
	if (sim_ca_ensure(c.ca_dir) != 0)
		return 1;
	if (kernel) {
		snprintf(c.kernel, sizeof c.kernel, "%s", kernel);
	} else {
		int rc = latest_kernel(c.dir, c.kernel);
		if (rc)
			return rc;
	}
	/* The TPM exists from the start even with --tpm none: it is what
	 * `boot --tpm tis` fits later. */
	if (sim_tpm_state_create(&c) != 0)
		return 1;
	char vars[SIM_PATH_MAX];
	if (sim_path(vars, c.dir, "OVMF_VARS.fd") ||
	    copy_file(c.secure_boot ? OVMF_VARS_KEYS : OVMF_VARS_EMPTY, vars) != 0) {
		fprintf(stderr, "attest-sim create: cannot copy the OVMF variables\n");
		return 1;
	}
	char h[SIM_PATH_MAX], a[SIM_PATH_MAX];
	if (helper_paths(h, a) != 0)
		return 1;
	char *data[] = {h, "data", c.dir, NULL};
	int rc = esp_build(&c);
	if (!rc)
		rc = helper(c.dir, data);
	if (rc)
		return rc;
	if (sim_conf_write(&c) != 0) {
		fprintf(stderr, "attest-sim create: cannot write %s/sim.conf\n", c.dir);
		return 1;
	}
	return 0;
}
