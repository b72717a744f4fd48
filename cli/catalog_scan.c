/* Boot binaries out of .deb packages and directories (catalog_scan.h). */
#include "catalog_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "pe.h"

extern char **environ;

#define TAR_BLOCK 512u

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int code,
                                                      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static bool is_efi(const struct pe_info *pe)
{
	return pe->subsystem >= PE_SUBSYSTEM_EFI_APPLICATION &&
	       pe->subsystem <= PE_SUBSYSTEM_EFI_ROM;
}

/* One image found at path (inside the package): an entry if it is an EFI
 * PE image, else counted as skipped. */
static int add_image(struct scan_result *res, const struct catalog_entry *base, const char *path,
                     const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct pe_info pe;
	char msg[PE_MSG_SIZE];
	if (pe_parse(buf, len, &pe, msg) < 0 || !is_efi(&pe)) {
		res->skipped++;
		return 0;
	}
	if (res->count >= SCAN_MAX_ENTRIES)
		return fail(err, errlen, ATTEST_E_LIMIT, "more than %u EFI images",
		            SCAN_MAX_ENTRIES);
	struct catalog_entry *e = &res->entries[res->count];
	*e = *base;
	if (strlen(path) >= sizeof e->path)
		return fail(err, errlen, ATTEST_E_LIMIT, "a member's path is longer than %zu bytes",
		            sizeof e->path - 1);
	snprintf(e->path, sizeof e->path, "%s", path);
	snprintf(e->kind, sizeof e->kind, "%s", catalog_kind_guess(path));
	catalog_entry_set_pe(e, &pe);
	if (pe.has_signature && !pe.signed_digest_ok)
		res->bad_signatures++;
	res->count++;
	return 0;
}

/* ---- running dpkg-deb ---- */

/* Start dpkg-deb ARG... FILE with stdout on a pipe; *ret_fd reads it. */
static int spawn_dpkg_deb(const char *const *args, pid_t *ret_pid, int *ret_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ATTEST_E_IO;
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(p[0]);
		close(p[1]);
		return ATTEST_E_NOMEM;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	int e = posix_spawnp(ret_pid, "dpkg-deb", &fa, NULL, (char *const *)args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e != 0) {
		close(p[0]);
		errno = e;
		return ATTEST_E_IO;
	}
	*ret_fd = p[0];
	return 0;
}

/* Wait for the child; kill it first if we stopped reading early. */
static int reap(pid_t pid, bool kill_first)
{
	int st = 0;
	if (kill_first)
		kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Read exactly n bytes (n may be 0). 0, or ATTEST_E_TRUNCATED at the end. */
static int read_full(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ATTEST_E_IO;
		if (r == 0)
			return ATTEST_E_TRUNCATED;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int skip_full(int fd, uint64_t n)
{
	uint8_t junk[16384];
	while (n > 0) {
		size_t k = n < sizeof junk ? (size_t)n : sizeof junk;
		int e = read_full(fd, junk, k);
		if (e < 0)
			return e;
		n -= k;
	}
	return 0;
}

/* "Field: value" lines of dpkg-deb --field into e. */
static int read_fields(const char *abs, struct catalog_entry *e, char *maint, size_t maint_cap,
                       char *err, size_t errlen)
{
	const char *args[] = {"dpkg-deb", "--field",      abs,          "Package",
	                      "Version",  "Architecture", "Maintainer", NULL};
	pid_t pid;
	int fd;
	if (spawn_dpkg_deb(args, &pid, &fd) < 0)
		return fail(err, errlen, ATTEST_E_IO, "cannot run dpkg-deb: %s", strerror(errno));
	char *buf = malloc(SCAN_MAX_FIELDS + 1);
	size_t len = 0;
	bool over = false;
	while (buf) {
		ssize_t r = read(fd, buf + len, SCAN_MAX_FIELDS - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == SCAN_MAX_FIELDS) {
			over = true;
			break;
		}
	}
	close(fd);
	int st = reap(pid, over);
	if (!buf)
		return fail(err, errlen, ATTEST_E_NOMEM, "out of memory");
	buf[len] = '\0';
	int rc = 0;
	if (st != 0 || over) {
		rc = fail(err, errlen, ATTEST_E_FORMAT,
		          "dpkg-deb cannot read the package's fields%s", over ? " (too long)" : "");
		goto out;
	}
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon || colon[1] != ' ')
			continue;
		*colon = '\0';
		const char *v = colon + 2;
		if (!strcmp(line, "Package"))
			snprintf(e->package, sizeof e->package, "%s", v);
		else if (!strcmp(line, "Version"))
			snprintf(e->version, sizeof e->version, "%s", v);
		else if (!strcmp(line, "Architecture"))
			snprintf(e->arch, sizeof e->arch, "%s", v);
		else if (!strcmp(line, "Maintainer"))
			snprintf(maint, maint_cap, "%s", v);
	}
	if (!e->package[0] || !debver_valid(e->version))
		rc = fail(err, errlen, ATTEST_E_FORMAT,
		          "the package has no Package field or no valid Version");
out:
	free(buf);
	return rc;
}

/* The vendor a Maintainer field suggests: Debian for the Debian teams
 * (addresses under debian.org or debian.net, e.g. GRUB's on
 * alioth-lists.debian.net), else the maintainer's name. */
static void vendor_from(const char *maint, char *out, size_t cap)
{
	const char *at = strrchr(maint, '@');
	if (at && (strstr(at, "debian.org>") || strstr(at, "debian.net>"))) {
		snprintf(out, cap, "Debian");
		return;
	}
	const char *lt = strchr(maint, '<');
	size_t n = lt ? (size_t)(lt - maint) : strlen(maint);
	while (n > 0 && maint[n - 1] == ' ')
		n--;
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), maint);
}

/* ---- the tar stream ---- */

/* An octal (or GNU base-256) number field. */
static int tar_number(const uint8_t *f, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	if (f[0] & 0x80) { /* base-256, big-endian, first byte's top bit set */
		if (f[0] != 0x80)
			return ATTEST_E_FORMAT; /* negative or too large */
		for (size_t i = 1; i < n; i++) {
			if (v >> 56)
				return ATTEST_E_LIMIT;
			v = (v << 8) | f[i];
		}
		*ret = v;
		return 0;
	}
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	bool digits = false;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return ATTEST_E_LIMIT;
		v = v * 8 + (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return ATTEST_E_FORMAT;
	if (!digits)
		return ATTEST_E_FORMAT;
	*ret = v;
	return 0;
}

static bool header_ok(const uint8_t h[TAR_BLOCK])
{
	uint64_t want;
	if (tar_number(h + 148, 8, &want) < 0)
		return false;
	uint64_t sum = 0;
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum == want;
}

/* A member's name as "/a/b": "./" and "/" prefixes dropped. Refused
 * (false) if empty or if a component is "..". */
static bool clean_name(const char *in, char *out, size_t cap)
{
	while (in[0] == '.' && in[1] == '/')
		in += 2;
	while (in[0] == '/')
		in++;
	if (!in[0] || strlen(in) + 2 > cap)
		return false;
	for (const char *c = in; *c;) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c = end ? end + 1 : c + n;
	}
	snprintf(out, cap, "/%s", in);
	return true;
}

/* The "path=" record of a pax extended header, if any, into name. */
static void pax_path(const char *rec, size_t n, char *name, size_t cap)
{
	size_t off = 0;
	while (off < n) {
		size_t len = 0, i = off;
		while (i < n && rec[i] >= '0' && rec[i] <= '9' && len < n)
			len = len * 10 + (size_t)(rec[i++] - '0');
		if (i >= n || rec[i] != ' ' || len == 0 || len > n - off)
			return;
		const char *kv = rec + i + 1;
		size_t kvn = off + len - (i + 1);
		if (kvn > 5 && !memcmp(kv, "path=", 5) && kv[kvn - 1] == '\n' && kvn - 6 < cap) {
			memcpy(name, kv + 5, kvn - 6);
			name[kvn - 6] = '\0';
		}
		off += len;
	}
}

static int scan_tar(int fd, const struct catalog_entry *base, struct scan_result *res, char *err,
                    size_t errlen)
{
	uint8_t h[TAR_BLOCK];
	char *longname = malloc(SCAN_MAX_NAME + 1), name[SCAN_MAX_NAME + 2];
	bool have_long = false;
	uint64_t total = 0;
	int rc = 0;
	if (!longname)
		return fail(err, errlen, ATTEST_E_NOMEM, "out of memory");
	for (size_t members = 0;; members++) {
		if (members > SCAN_MAX_MEMBERS) {
			rc = fail(err, errlen, ATTEST_E_LIMIT, "more than %u members",
			          SCAN_MAX_MEMBERS);
			break;
		}
		if ((rc = read_full(fd, h, TAR_BLOCK)) < 0) {
			rc = fail(err, errlen, ATTEST_E_TRUNCATED,
			          "the data archive ends inside a header");
			break;
		}
		bool zero = true;
		for (size_t i = 0; i < TAR_BLOCK && zero; i++)
			zero = h[i] == 0;
		if (zero) {
			/* End of archive: the writer pads the stream to its record
			 * size; read that too (capped), so dpkg-deb ends normally. */
			uint8_t junk[TAR_BLOCK];
			uint64_t more = 0;
			while (read_full(fd, junk, TAR_BLOCK) == 0 && more < (1u << 20))
				more += TAR_BLOCK;
			break;
		}
		if (!header_ok(h)) {
			rc = fail(err, errlen, ATTEST_E_FORMAT,
			          "member %zu of the data archive has a bad header checksum",
			          members);
			break;
		}
		uint64_t size;
		if (tar_number(h + 124, 12, &size) < 0 || total > SCAN_MAX_STREAM ||
		    size > SCAN_MAX_STREAM - total) {
			rc = fail(err, errlen, ATTEST_E_LIMIT,
			          "member %zu of the data archive has a bad or too large size",
			          members);
			break;
		}
		uint64_t padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		total += padded + TAR_BLOCK;
		char type = (char)h[156];
		if (type == 'L' || type == 'x') { /* GNU long name, pax header */
			if (size > SCAN_MAX_NAME) {
				rc = fail(err, errlen, ATTEST_E_LIMIT,
				          "a member name exceeds %u bytes", SCAN_MAX_NAME);
				break;
			}
			if ((rc = read_full(fd, longname, (size_t)size)) < 0 ||
			    (rc = skip_full(fd, padded - size)) < 0) {
				rc = fail(err, errlen, ATTEST_E_TRUNCATED,
				          "the data archive is truncated");
				break;
			}
			longname[size] = '\0';
			if (type == 'x') {
				char p[SCAN_MAX_NAME + 1] = "";
				pax_path(longname, (size_t)size, p, sizeof p);
				snprintf(longname, SCAN_MAX_NAME + 1, "%s", p);
			}
			have_long = longname[0] != '\0';
			continue;
		}
		char raw[SCAN_MAX_NAME + 1];
		if (have_long) {
			snprintf(raw, sizeof raw, "%s", longname);
		} else {
			char pfx[156] = "", nm[101];
			memcpy(nm, h, 100);
			nm[100] = '\0';
			if (!memcmp(h + 257, "ustar\0", 6)) { /* POSIX: prefix field */
				memcpy(pfx, h + 345, 155);
				pfx[155] = '\0';
			}
			snprintf(raw, sizeof raw, "%s%s%s", pfx, pfx[0] ? "/" : "", nm);
		}
		have_long = false;
		bool regular = type == '0' || type == '\0';
		if (regular && !clean_name(raw, name, sizeof name)) {
			rc = fail(err, errlen, ATTEST_E_FORMAT,
			          "member %zu's name is empty or has a \"..\" component", members);
			break;
		}
		if (!regular || size < TAR_BLOCK || size > PE_MAX_SIZE) {
			if ((rc = skip_full(fd, padded)) < 0) {
				rc = fail(err, errlen, ATTEST_E_TRUNCATED,
				          "the data archive is truncated");
				break;
			}
			continue;
		}
		uint8_t first[TAR_BLOCK];
		if ((rc = read_full(fd, first, TAR_BLOCK)) < 0) {
			rc = fail(err, errlen, ATTEST_E_TRUNCATED, "the data archive is truncated");
			break;
		}
		if (first[0] != 'M' || first[1] != 'Z') {
			if ((rc = skip_full(fd, padded - TAR_BLOCK)) < 0) {
				rc = fail(err, errlen, ATTEST_E_TRUNCATED,
				          "the data archive is truncated");
				break;
			}
			continue;
		}
		uint8_t *img = malloc((size_t)size);
		if (!img) {
			rc = fail(err, errlen, ATTEST_E_NOMEM, "out of memory");
			break;
		}
		memcpy(img, first, TAR_BLOCK);
		if ((rc = read_full(fd, img + TAR_BLOCK, (size_t)size - TAR_BLOCK)) < 0 ||
		    (rc = skip_full(fd, padded - size)) < 0) {
			free(img);
			rc = fail(err, errlen, ATTEST_E_TRUNCATED, "the data archive is truncated");
			break;
		}
		rc = add_image(res, base, name, img, (size_t)size, err, errlen);
		free(img);
		if (rc < 0)
			break;
	}
	free(longname);
	return rc;
}

static int scan_deb(const char *abs, const struct scan_opts *o, struct scan_result *res, char *err,
                    size_t errlen)
{
	struct catalog_entry base;
	char maint[256] = "";
	memset(&base, 0, sizeof base);
	int rc = read_fields(abs, &base, maint, sizeof maint, err, errlen);
	if (rc < 0)
		return rc;
	if (o->package)
		snprintf(base.package, sizeof base.package, "%s", o->package);
	if (o->version)
		snprintf(base.version, sizeof base.version, "%s", o->version);
	if (o->vendor)
		snprintf(base.vendor, sizeof base.vendor, "%s", o->vendor);
	else
		vendor_from(maint, base.vendor, sizeof base.vendor);
	const char *args[] = {"dpkg-deb", "--fsys-tarfile", abs, NULL};
	pid_t pid;
	int fd;
	if (spawn_dpkg_deb(args, &pid, &fd) < 0)
		return fail(err, errlen, ATTEST_E_IO, "cannot run dpkg-deb: %s", strerror(errno));
	rc = scan_tar(fd, &base, res, err, errlen);
	close(fd);
	int st = reap(pid, rc < 0);
	if (rc == 0 && st != 0)
		rc = fail(err, errlen, ATTEST_E_FORMAT,
		          "dpkg-deb cannot unpack the package (status %d)", st);
	return rc;
}

/* ---- directories and single files ---- */

static int scan_file(const char *full, const char *rel, const struct catalog_entry *base,
                     struct scan_result *res, char *err, size_t errlen)
{
	int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail(err, errlen, ATTEST_E_IO, "%s: %s", full, strerror(errno));
	uint8_t mz[2];
	bool pe = read_full(fd, mz, 2) == 0 && mz[0] == 'M' && mz[1] == 'Z';
	close(fd);
	if (!pe)
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = fileio_read(full, PE_MAX_SIZE, &buf, &len);
	if (rc < 0) {
		res->skipped++;
		return 0;
	}
	char path[CATALOG_PATH_MAX];
	snprintf(path, sizeof path, "/%s", rel);
	rc = add_image(res, base, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

static int walk(const char *dir, const char *rel, unsigned depth, size_t *files,
                const struct catalog_entry *base, struct scan_result *res, char *err, size_t errlen)
{
	if (depth > SCAN_MAX_DEPTH)
		return fail(err, errlen, ATTEST_E_LIMIT, "%s: nested deeper than %u", dir,
		            SCAN_MAX_DEPTH);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return fail(err, errlen, ATTEST_E_IO, "%s: %s", dir, strerror(errno));
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++*files > SCAN_MAX_FILES) {
			rc =
			    fail(err, errlen, ATTEST_E_LIMIT, "more than %u files", SCAN_MAX_FILES);
			break;
		}
		char full[PATH_MAX], r[CATALOG_PATH_MAX];
		if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= sizeof full ||
		    (size_t)snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		        sizeof r) {
			rc = fail(err, errlen, ATTEST_E_LIMIT, "%s/%s: path too long", dir,
			          de->d_name);
			break;
		}
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = walk(full, r, depth + 1, files, base, res, err, errlen);
		else if (S_ISREG(st.st_mode))
			rc = scan_file(full, r, base, res, err, errlen);
	}
	closedir(d);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

int scan_path(const char *path, const struct scan_opts *o, struct scan_result *res, char *err,
              size_t errlen)
{
	memset(res, 0, sizeof *res);
	struct stat st;
	if (lstat(path, &st) < 0)
		return fail(err, errlen, ATTEST_E_IO, "%s", strerror(errno));
	if (S_ISREG(st.st_mode) && ends_with(path, ".deb")) {
		char abs[PATH_MAX];
		if (!realpath(path, abs))
			return fail(err, errlen, ATTEST_E_IO, "%s", strerror(errno));
		return scan_deb(abs, o, res, err, errlen);
	}
	if (!o->package || !o->version)
		return fail(err, errlen, ATTEST_E_ARG,
		            "not a .deb: --package and --version must name what it holds");
	if (!debver_valid(o->version))
		return fail(err, errlen, ATTEST_E_ARG, "--version %s is not a Debian version",
		            o->version);
	struct catalog_entry base;
	memset(&base, 0, sizeof base);
	snprintf(base.package, sizeof base.package, "%s", o->package);
	snprintf(base.version, sizeof base.version, "%s", o->version);
	snprintf(base.vendor, sizeof base.vendor, "%s", o->vendor ? o->vendor : "");
	if (S_ISDIR(st.st_mode)) {
		size_t files = 0;
		return walk(path, "", 0, &files, &base, res, err, errlen);
	}
	if (S_ISREG(st.st_mode)) {
		const char *slash = strrchr(path, '/');
		return scan_file(path, slash ? slash + 1 : path, &base, res, err, errlen);
	}
	return fail(err, errlen, ATTEST_E_ARG, "neither a file nor a directory");
}
