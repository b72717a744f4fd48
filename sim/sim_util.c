/* Host directory bookkeeping for attest-sim. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "sim.h"
#include "log.h"

extern char **environ;

int sim_path(char out[SIM_PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, SIM_PATH_MAX, "%s/%s", dir, name);
	return (n < 0 || n >= SIM_PATH_MAX) ? ATTEST_E_LIMIT : 0;
}

int sim_conf_write(const struct sim_conf *c)
{
	char path[SIM_PATH_MAX], buf[SIM_CONF_MAX];
	int rc = sim_path(path, c->dir, "sim.conf");
	if (rc)
		return rc;
	int n = snprintf(buf, sizeof buf, "dir=%s\nca_dir=%s\nak=%s\nbanks=%s\n", c->dir, c->ca_dir,
	                 c->ecc_ak ? "ecc" : "rsa", c->sha1_bank ? "sha1,sha256" : "sha256");
	if (n < 0 || (size_t)n >= sizeof buf)
		return ATTEST_E_LIMIT;
	if (c->vm) {
		int m = snprintf(buf + n, sizeof buf - (size_t)n,
		                 "vm=1\ntpm=%s\nsecure_boot=%s\nkernel=%s\n", c->tpm,
		                 c->secure_boot ? "on" : "off", c->kernel);
		if (m < 0 || (size_t)m >= sizeof buf - (size_t)n)
			return ATTEST_E_LIMIT;
		n += m;
	}
	return fileio_write_atomic(path, buf, (size_t)n, 0644);
}

/* Value of key in key=value lines, copied to out; false if absent. */
static bool conf_get(const char *text, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t vn = n - kl - 1;
			if (vn >= cap)
				return false;
			memcpy(out, p + kl + 1, vn);
			out[vn] = '\0';
			return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

int sim_conf_read(const char *dir, struct sim_conf *ret)
{
	char path[SIM_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = sim_path(path, dir, "sim.conf");
	if (!rc)
		rc = fileio_read(path, SIM_CONF_MAX, &buf, &len);
	if (rc)
		return rc;
	struct sim_conf c;
	memset(&c, 0, sizeof c);
	char ak[8], banks[32];
	const char *t = (const char *)buf;
	if (!conf_get(t, "dir", c.dir, sizeof c.dir) ||
	    !conf_get(t, "ca_dir", c.ca_dir, sizeof c.ca_dir) ||
	    !conf_get(t, "ak", ak, sizeof ak) || !conf_get(t, "banks", banks, sizeof banks)) {
		free(buf);
		return ATTEST_E_FORMAT;
	}
	char vm[4], sb[4];
	if (conf_get(t, "vm", vm, sizeof vm) && strcmp(vm, "1") == 0) {
		c.vm = true;
		if (!conf_get(t, "tpm", c.tpm, sizeof c.tpm) ||
		    !conf_get(t, "secure_boot", sb, sizeof sb) ||
		    !conf_get(t, "kernel", c.kernel, sizeof c.kernel) ||
		    (strcmp(c.tpm, "tis") && strcmp(c.tpm, "crb") && strcmp(c.tpm, "none"))) {
			free(buf);
			return ATTEST_E_FORMAT;
		}
		c.secure_boot = strcmp(sb, "on") == 0;
	}
	free(buf);
	c.ecc_ak = strcmp(ak, "ecc") == 0;
	c.sha1_bank = strstr(banks, "sha1") != NULL;
	*ret = c;
	return 0;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || (*end != '\0' && *end != '\n') || v > max)
		return false;
	*ret = v;
	return true;
}

int sim_run_read(const char *dir, struct sim_run *ret)
{
	char path[SIM_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = sim_path(path, dir, "swtpm.run");
	if (!rc)
		rc = fileio_read(path, 256, &buf, &len);
	if (rc)
		return ATTEST_E_NOTFOUND;
	char pid[24], port[12];
	unsigned long p = 0, q = 0;
	const char *t = (const char *)buf;
	bool ok = conf_get(t, "pid", pid, sizeof pid) && conf_get(t, "port", port, sizeof port) &&
	          parse_uint(pid, 4194304, &p) && p > 1 && parse_uint(port, 65534, &q) && q > 0;
	free(buf);
	if (!ok)
		return ATTEST_E_FORMAT;
	ret->pid = (pid_t)p;
	ret->port = (unsigned)q;
	return 0;
}

int sim_run_write(const char *dir, const struct sim_run *r)
{
	char path[SIM_PATH_MAX], buf[64];
	int rc = sim_path(path, dir, "swtpm.run");
	if (rc)
		return rc;
	int n = snprintf(buf, sizeof buf, "pid=%ld\nport=%u\n", (long)r->pid, r->port);
	return fileio_write_atomic(path, buf, (size_t)n, 0644);
}

void sim_run_clear(const char *dir)
{
	char path[SIM_PATH_MAX];
	if (sim_path(path, dir, "swtpm.run") == 0)
		unlink(path);
}

bool sim_pid_is_ours(pid_t pid, const char *dir)
{
	char path[64], state[SIM_PATH_MAX];
	if (sim_path(state, dir, "state") != 0)
		return false;
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(path, 64 * 1024, &buf, &len) != 0)
		return false;
	/* cmdline is NUL-separated: look for "swtpm" as argv[0]'s base name
	 * and an argument naming dir=DIR/state. */
	bool is_swtpm = false, has_state = false;
	char want[SIM_PATH_MAX + 8];
	snprintf(want, sizeof want, "dir=%s", state);
	for (size_t i = 0; i < len;) {
		const char *arg = (const char *)buf + i;
		size_t n = strnlen(arg, len - i);
		if (i == 0) {
			const char *b = strrchr(arg, '/');
			is_swtpm = strcmp(b ? b + 1 : arg, "swtpm") == 0;
		}
		if (strcmp(arg, want) == 0)
			has_state = true;
		i += n + 1;
	}
	free(buf);
	/* A zombie has an empty cmdline, so it is not "ours" any more. */
	return is_swtpm && has_state;
}

int sim_run_wait(char *const argv[], const char *logpath)
{
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return ATTEST_E_NOMEM;
	int rc = ATTEST_E_IO;
	if (posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logpath,
	                                     O_WRONLY | O_CREAT | O_APPEND, 0644) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO) != 0)
		goto out;
	pid_t pid;
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		log_error("cannot run %s: %s", argv[0], strerror(errno));
		goto out;
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			goto out;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		rc = 0;
	else
		log_error("%s failed (status %d); see %s", argv[0],
		          WIFEXITED(st) ? WEXITSTATUS(st) : -1, logpath);
out:
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}
