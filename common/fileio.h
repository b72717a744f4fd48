/* File helpers for the programs (not the library: lib/ does no I/O). */
#ifndef ATTEST_FILEIO_H
#define ATTEST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file of at most max bytes ("-" reads standard input).
 * On success *ret is a malloc'd buffer (caller frees) with a NUL after the
 * data (not counted in *ret_len), so text files can be used as strings.
 * Returns ATTEST_E_IO (errno kept) or ATTEST_E_LIMIT if larger than max. */
int fileio_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len);

/* Write len bytes to path atomically: a new temporary "PATH.tmp.PID" in the
 * same directory (created with O_EXCL|O_NOFOLLOW, mode 0600 while written, so
 * a symlink planted at that name is never followed), fsync, the permission
 * bits set to mode, rename over path, fsync of the directory. The one way the
 * programs write files, secrets included. 0, ATTEST_E_ARG if the path is too
 * long, ATTEST_E_IO (errno kept; no temporary left behind). */
int fileio_write_atomic(const char *path, const void *buf, size_t len, unsigned mode);

#endif
