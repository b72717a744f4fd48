/* Reading boot binaries out of vendor packages and directories for
 * `attestctl catalog import|inspect` (docs/cli.md).
 *
 * A .deb is untrusted input. Its ar container and compressed data member
 * are opened by Debian's own `dpkg-deb --fsys-tarfile` (run with an
 * argument vector, never a shell, on the file's absolute path), and its
 * package fields by `dpkg-deb --field`; the tar stream that comes out is
 * parsed here with caps on every size (header checksum verified, member
 * sizes and names bounded, no member written to disk, a name with a ".."
 * component refused), and every member that starts with "MZ" is read (at
 * most PE_MAX_SIZE) and given to lib/pe.c. Only EFI images (PE subsystem
 * 10-13) become entries.
 *
 * A directory is walked without following symbolic links (depth and file
 * count capped); its entries take the package name and version the
 * operator gives. */
#ifndef ATTEST_CLI_CATALOG_SCAN_H
#define ATTEST_CLI_CATALOG_SCAN_H

#include <stddef.h>

#include "catalog.h"

#define SCAN_MAX_ENTRIES 256u         /* EFI images from one path */
#define SCAN_MAX_MEMBERS 200000u      /* tar members of one package */
#define SCAN_MAX_STREAM  (8ull << 30) /* tar bytes of one package */
#define SCAN_MAX_NAME    4096u        /* a member's name (GNU long name) */
#define SCAN_MAX_FIELDS  (64u * 1024) /* dpkg-deb --field output */
#define SCAN_MAX_DEPTH   16u          /* directory nesting */
#define SCAN_MAX_FILES   100000u      /* files in one directory tree */

/* What the operator says about the path (NULL: from the package). */
struct scan_opts {
	const char *package; /* required for directories and single files */
	const char *version;
	const char *vendor;
};

/* The entries found in one path (a .deb, a directory or one file). */
struct scan_result {
	size_t count;
	struct catalog_entry entries[SCAN_MAX_ENTRIES];
	size_t skipped;        /* files that start with MZ but are not EFI PE images */
	size_t bad_signatures; /* signed, but not over this image: recorded unsigned */
};

/* Scan path. 0 and *res filled; or a negative ATTEST_E_* with a sentence in
 * err (errlen bytes) and nothing to import. */
int scan_path(const char *path, const struct scan_opts *o, struct scan_result *res, char *err,
              size_t errlen);

#endif
