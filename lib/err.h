/* Error codes shared by the library and the programs.
 *
 * Every function that can fail returns int: >= 0 on success, one of the
 * negative ATTEST_E_* codes below on failure. attest_strerror() turns a code
 * into a sentence. Verification *failures* (a quote that does not match, a
 * host that is not trusted) are results, not errors: see verify.h. */
#ifndef ATTEST_ERR_H
#define ATTEST_ERR_H

enum attest_err {
	ATTEST_OK = 0,
	ATTEST_E_TRUNCATED = -1,   /* input ended before a field it announced */
	ATTEST_E_FORMAT = -2,      /* input is not well formed */
	ATTEST_E_LIMIT = -3,       /* input exceeds a named cap */
	ATTEST_E_NOMEM = -4,       /* allocation failed */
	ATTEST_E_UNSUPPORTED = -5, /* well formed but not something we handle */
	ATTEST_E_CRYPTO = -6,      /* OpenSSL failed */
	ATTEST_E_ARG = -7,         /* caller passed an invalid argument */
	ATTEST_E_IO = -8,          /* file or socket I/O failed (programs only) */
	ATTEST_E_TPM = -9,         /* the TPM returned an error (agent only) */
	ATTEST_E_VERIFY = -10,     /* a signature or MAC did not verify */
	ATTEST_E_NOTFOUND = -11,   /* the thing asked for does not exist */
	ATTEST_E_STATE = -12,      /* operation not valid in the current state */
	ATTEST_E_TRAILING = -13,   /* well formed, then unexpected extra bytes */
	ATTEST_E_EXISTS = -14,     /* a record with that unique name/key exists */
	ATTEST_E__MIN = -15
};

/* Sentence for an error code; never NULL, even for unknown codes. */
const char *attest_strerror(int code);

#endif
