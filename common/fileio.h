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

/* Write len bytes to path atomically: a temporary file in the same
 * directory, fsync, rename. mode is the new file's permission bits. */
int fileio_write_atomic(const char *path, const void *buf, size_t len, unsigned mode);

#endif
