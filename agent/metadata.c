/* Host metadata the agent binds into its quotes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "fileio.h"

#define OS_RELEASE_MAX (64u * 1024)

/* PRETTY_NAME from an os-release file: the value, quotes removed. */
static char *pretty_name(const char *text)
{
	const char *p = text;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > 12 && strncmp(p, "PRETTY_NAME=", 12) == 0) {
			const char *v = p + 12;
			size_t vn = n - 12;
			if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
				v++;
				vn -= 2;
			}
			return strndup(v, vn);
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v && *v ? v : "unknown")) == 0
	           ? 0
	           : ATTEST_E_NOMEM;
}

int agent_metadata(json_t **ret)
{
	json_t *o = json_object();
	if (!o)
		return ATTEST_E_NOMEM;
	int rc = 0;
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) != 0)
		host[0] = '\0';
	rc |= set_str(o, "hostname", host);

	uint8_t *buf = NULL;
	size_t len = 0;
	char *pretty = NULL;
	if (fileio_read("/etc/os-release", OS_RELEASE_MAX, &buf, &len) == 0 ||
	    fileio_read("/usr/lib/os-release", OS_RELEASE_MAX, &buf, &len) == 0)
		pretty = pretty_name((const char *)buf);
	free(buf);
	rc |= set_str(o, "os_release", pretty);
	free(pretty);

	struct utsname u;
	rc |= set_str(o, "kernel", uname(&u) == 0 ? u.release : NULL);

	buf = NULL;
	char boot_id[64] = "";
	if (fileio_read("/proc/sys/kernel/random/boot_id", 128, &buf, &len) == 0) {
		size_t n = strcspn((const char *)buf, "\n");
		if (n < sizeof boot_id) {
			memcpy(boot_id, buf, n);
			boot_id[n] = '\0';
		}
	}
	free(buf);
	rc |= set_str(o, "boot_id", boot_id);
	rc |= set_str(o, "agent_version", ATTEST_VERSION);
	if (rc) {
		json_decref(o);
		return ATTEST_E_NOMEM;
	}
	*ret = o;
	return 0;
}
