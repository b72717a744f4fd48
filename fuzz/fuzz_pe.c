/* Fuzz PE/COFF parsing: headers, sections, the certificate table and the
 * PKCS#7 signature in it (lib/pe.c). Every input either parses or gives an
 * error with a sentence; the sanitizers check every read. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	int e = pe_parse(data, size, &info, msg);
	if (e < 0 && msg[0] == '\0' && size > 0)
		abort(); /* every failure on real input must say why */
	return 0;
}
