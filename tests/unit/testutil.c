#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

uint8_t *testutil_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
		fclose(f);
		return NULL;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n ? n : 1);
	if (buf && fread(buf, 1, n, f) != n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		*ret_len = n;
	return buf;
}

bool testutil_have_shared(void)
{
	static int warned;
	struct stat st;
	if (stat(TESTDATA_DIR "/eventlogs", &st) == 0 && S_ISDIR(st.st_mode))
		return true;
	if (!warned++)
		fprintf(stderr, "SKIP: %s not found; tests on real data are skipped\n",
		        TESTDATA_DIR);
	return false;
}
