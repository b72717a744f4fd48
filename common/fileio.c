#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

int fileio_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ATTEST_E_IO;
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap + 1);
	int rc = 0;
	if (!buf) {
		rc = ATTEST_E_NOMEM;
		goto out_close;
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				rc = ATTEST_E_LIMIT;
				goto out_free;
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *nbuf = realloc(buf, ncap + 1);
			if (!nbuf) {
				rc = ATTEST_E_NOMEM;
				goto out_free;
			}
			buf = nbuf;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ATTEST_E_IO;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			rc = ATTEST_E_LIMIT;
			goto out_free;
		}
	}
	buf[len] = 0;
	*ret = buf;
	*ret_len = len;
	close(fd);
	return 0;
out_free:
	free(buf);
out_close : {
	int saved = errno;
	close(fd);
	errno = saved;
}
	return rc;
}

int fileio_write_atomic(const char *path, const void *buf, size_t len, unsigned mode)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
		return ATTEST_E_ARG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return ATTEST_E_IO;
	const uint8_t *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail : {
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
}
	return ATTEST_E_IO;
}
