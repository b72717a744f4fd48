/* Helpers shared by the unit tests (test code only: may do file I/O). */
#ifndef ATTEST_TESTUTIL_H
#define ATTEST_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directory of the shared real test data, relative to the project root. */
#define TESTDATA_DIR "../shared/testdata"

/* Read a whole file; returns a malloc'd buffer (caller frees) or NULL. */
uint8_t *testutil_read_file(const char *path, size_t *ret_len);

/* True if ../shared/testdata exists; otherwise prints a skip message once. */
bool testutil_have_shared(void);

#endif
