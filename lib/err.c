#include "err.h"

const char *attest_strerror(int code)
{
	switch (code) {
	case ATTEST_OK: return "success";
	case ATTEST_E_TRUNCATED: return "input is truncated";
	case ATTEST_E_FORMAT: return "input is malformed";
	case ATTEST_E_LIMIT: return "input exceeds a size or count limit";
	case ATTEST_E_NOMEM: return "out of memory";
	case ATTEST_E_UNSUPPORTED: return "unsupported algorithm or structure";
	case ATTEST_E_CRYPTO: return "cryptographic operation failed";
	case ATTEST_E_ARG: return "invalid argument";
	case ATTEST_E_IO: return "input/output error";
	case ATTEST_E_TPM: return "TPM command failed";
	case ATTEST_E_VERIFY: return "verification failed";
	case ATTEST_E_NOTFOUND: return "not found";
	case ATTEST_E_STATE: return "operation not valid in this state";
	case ATTEST_E_TRAILING: return "unexpected trailing bytes";
	case ATTEST_E_EXISTS: return "already exists";
	default: return "unknown error";
	}
}
