/* attestctl catalog inspect|import|list|show|remove: the software catalog
 * (docs/cli.md; lib/catalog.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "catalog_scan.h"
#include "cli.h"
#include "client.h"
#include "err.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl catalog COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "The software catalog: boot components (shim, boot loaders, kernels, unified\n"
	           "kernel images, systemd-boot) read from vendor packages, each with the digests\n"
	           "the firmware and boot loaders measure and the signer of its Authenticode\n"
	           "signature. Policies approve components by package name, version and signer\n"
	           "(docs/policy.md, \"Catalog rules\").\n"
	           "  inspect PATH... [--package NAME --version VERSION] [--vendor NAME]\n"
	           "      Print what 'import' would record, without a verifier.\n"
	           "  import PATH... [--package NAME --version VERSION] [--vendor NAME]\n"
	           "      Read each PATH (a .deb package, a directory of boot binaries or one\n"
	           "      binary) and record every EFI image in it: kind, package, version,\n"
	           "      vendor, path inside the package, Authenticode SHA-256 (what UEFI and\n"
	           "      shim measure), file SHA-256 (what grub measures) and signer. A .deb\n"
	           "      names its own package and version (dpkg-deb reads its fields and\n"
	           "      unpacks its data; nothing is written to disk); a directory or a file\n"
	           "      needs --package and --version. The vendor is \"Debian\" for Debian's\n"
	           "      teams, else the package's maintainer, unless --vendor says. Entries\n"
	           "      already in the catalog are reported, not duplicated.\n"
	           "  list [--package PATTERN] [--kind KIND]\n"
	           "      Every entry (PATTERN: shell wildcards, e.g. 'linux-image-*').\n"
	           "  show ID|SHA256\n"
	           "      One entry by id, or the entries with that Authenticode or file SHA-256.\n"
	           "  remove ID\n"
	           "      Remove one entry; hosts that run it are no longer approved by\n"
	           "      catalog rules at their next attestation.\n"
	           "\n"
	           "--json prints entries as JSON objects with kind, package, version, arch,\n"
	           "vendor, path, authenticode_sha256, file_sha256, signer {subject, issuer} or\n"
	           "null, and (once stored) id and added_at. Global options: see 'attestctl\n"
	           "host --help'. Exit status: 0 done, 1 unreadable input, refused by the\n"
	           "verifier or not reachable, 2 usage.\n");
}

static void print_entry_line(const json_t *e)
{
	const json_t *sg = json_object_get(e, "signer");
	client_line(stdout, "%s  %s %s  %s", client_str(e, "kind"), client_str(e, "package"),
	            client_str(e, "version"), client_str(e, "path"));
	client_line(stdout, "    authenticode %s", client_str(e, "authenticode_sha256"));
	client_line(stdout, "    file         %s", client_str(e, "file_sha256"));
	if (json_is_object(sg))
		client_line(stdout, "    signed by    %s (issuer %s)", client_str(sg, "subject"),
		            client_str(sg, "issuer"));
	else
		client_line(stdout, "    unsigned");
}

/* Scan every positional path; calls each(entry JSON) for each entry found.
 * Returns the exit status. */
static int scan_all(const char *cmd, int argc, char **argv,
                    int (*each)(const char *path, json_t *e, void *arg), void *arg)
{
	struct scan_opts so = {0};
	const char *pos[CLIENT_MAX_POSITIONAL];
	const struct client_opt opts[] = {{"--package", &so.package, NULL},
	                                  {"--version", &so.version, NULL},
	                                  {"--vendor", &so.vendor, NULL},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse(cmd, usage, argc, argv, opts, pos, 1, CLIENT_MAX_POSITIONAL, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	struct scan_result *res = malloc(sizeof *res);
	if (!res) {
		client_err("out of memory");
		return CLIENT_EXIT_FAIL;
	}
	int status = 0;
	for (int i = 0; i < npos; i++) {
		char err[512];
		int e = scan_path(pos[i], &so, res, err, sizeof err);
		if (e == ATTEST_E_ARG) {
			client_err("%s: %s", pos[i], err);
			free(res);
			return CLIENT_EXIT_USAGE;
		}
		if (e < 0) {
			client_err("%s: %s", pos[i], err);
			status = CLIENT_EXIT_FAIL;
			continue;
		}
		if (res->bad_signatures > 0)
			client_err(
			    "%s: warning: %zu image(s) carry a signature over another digest; "
			    "recorded as unsigned",
			    pos[i], res->bad_signatures);
		if (res->count == 0) {
			client_err("%s: no EFI image in it", pos[i]);
			status = CLIENT_EXIT_FAIL;
			continue;
		}
		for (size_t k = 0; k < res->count; k++) {
			json_t *j = catalog_entry_to_json(&res->entries[k]);
			if (!j) {
				client_err("out of memory");
				free(res);
				return CLIENT_EXIT_FAIL;
			}
			int r = each(pos[i], j, arg);
			json_decref(j);
			if (r > 0 && status == 0)
				status = r;
			if (r == CLIENT_EXIT_USAGE) {
				free(res);
				return r;
			}
		}
	}
	free(res);
	return status;
}

static int inspect_one(const char *path, json_t *e, void *arg)
{
	json_t *all = arg;
	if (client_g.json)
		json_array_append(all, e);
	else
		print_entry_line(e);
	return 0;
}

static int catalog_inspect(int argc, char **argv)
{
	json_t *all = json_array();
	int rc = scan_all("catalog inspect", argc, argv, inspect_one, all);
	if (client_g.json && rc != CLIENT_EXIT_USAGE)
		client_print_json(all);
	json_decref(all);
	return rc;
}

static int import_one(const char *path, json_t *e, void *arg)
{
	json_t *all = arg;
	struct client_reply r;
	int rc = client_call("POST", "/catalog", e, 0, &r);
	if (rc != 0)
		return rc;
	int status = 0;
	if (r.status == 409 && r.code && !strcmp(r.code, "EXISTS")) {
		if (!client_g.json)
			client_line(stdout, "%s: %s %s %s is already in the catalog", path,
			            client_str(e, "package"), client_str(e, "version"),
			            client_str(e, "path"));
		json_object_set_new(e, "already_present", json_true());
		json_array_append(all, e);
	} else if (r.status < 200 || r.status >= 300) {
		fprintf(stderr, "%s:\n", path);
		client_print_http_error(&r);
		status = CLIENT_EXIT_FAIL;
	} else {
		int64_t id = 0;
		client_int(r.json, "id", &id);
		if (!client_g.json)
			client_line(stdout, "%s: added %lld: %s %s %s %s", path, (long long)id,
			            client_str(e, "kind"), client_str(e, "package"),
			            client_str(e, "version"), client_str(e, "path"));
		json_array_append(all, r.json);
	}
	client_reply_clear(&r);
	return status;
}

static int catalog_import(int argc, char **argv)
{
	json_t *all = json_array();
	int rc = scan_all("catalog import", argc, argv, import_one, all);
	if (client_g.json && rc != CLIENT_EXIT_USAGE)
		client_print_json(all);
	json_decref(all);
	return rc;
}

static void print_table(const json_t *entries)
{
	static const char *const heads[] = {"ID",   "KIND",         "PACKAGE", "VERSION",
	                                    "PATH", "AUTHENTICODE", "SIGNER"};
	struct client_table *t = client_table_new(7, heads);
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e)
	{
		if (!t)
			break;
		char id[24], dig[20];
		int64_t v = 0;
		client_int(e, "id", &v);
		snprintf(id, sizeof id, "%lld", (long long)v);
		const char *a = client_str(e, "authenticode_sha256");
		snprintf(dig, sizeof dig, "%.16s", a ? a : "-");
		const json_t *sg = json_object_get(e, "signer");
		const char *cells[] = {id,
		                       client_str(e, "kind"),
		                       client_str(e, "package"),
		                       client_str(e, "version"),
		                       client_str(e, "path"),
		                       dig,
		                       json_is_object(sg) ? client_str(sg, "subject") : "unsigned"};
		client_table_add(t, cells);
	}
	if (t)
		client_table_print(t, stdout);
	client_table_free(t);
}

static int catalog_list(int argc, char **argv)
{
	const char *package = NULL, *kind = NULL, *pos[1];
	const struct client_opt opts[] = {
	    {"--package", &package, NULL}, {"--kind", &kind, NULL}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("catalog list", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char path[CLIENT_PATH_MAX], p[512] = "", k[128] = "";
	if ((package && client_escape(package, p, sizeof p) < 0) ||
	    (kind && client_escape(kind, k, sizeof k) < 0)) {
		client_err("--package or --kind is too long");
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/catalog?limit=10000%s%s%s%s", package ? "&package=" : "", p,
	         kind ? "&kind=" : "", k);
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
		return rc;
	json_t *entries = json_object_get(j, "entries");
	if (client_g.json)
		client_print_json(j);
	else if (json_array_size(entries) == 0)
		printf("The catalog is empty%s. Add packages with 'attestctl catalog import "
		       "FILE.deb...'.\n",
		       package || kind ? " for this filter" : "");
	else
		print_table(entries);
	json_decref(j);
	return 0;
}

/* An id (digits) or a SHA-256 (64 hex digits, lowercased). */
static int entry_key(const char *in, char *out, size_t cap)
{
	unsigned long id;
	if (client_parse_uint(in, 1, 0x7fffffffffffffffUL, &id) == 0) {
		snprintf(out, cap, "%lu", id);
		return 0;
	}
	size_t n = strlen(in);
	if (n != 64 || n + 1 > cap)
		return ATTEST_E_FORMAT;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return ATTEST_E_FORMAT;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

static int catalog_show(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("catalog show", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char key[80], path[128];
	if (entry_key(pos[0], key, sizeof key) < 0) {
		client_err("\"%s\" is neither an entry id nor a SHA-256 (64 hex digits)", pos[0]);
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/catalog/%s", key);
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(j, "entries"), i, e)
		{
			int64_t id = 0, at = 0;
			char when[32];
			client_int(e, "id", &id);
			client_int(e, "added_at", &at);
			client_line(stdout, "entry %lld (added %s)", (long long)id,
			            client_time(at, when));
			print_entry_line(e);
			client_line(stdout, "    vendor       %s, architecture %s",
			            client_str(e, "vendor"), client_str(e, "arch"));
		}
	}
	json_decref(j);
	return 0;
}

static int catalog_remove(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("catalog remove", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long id;
	if (client_parse_uint(pos[0], 1, 0x7fffffffffffffffUL, &id) < 0) {
		client_err("\"%s\" is not an entry id", pos[0]);
		return CLIENT_EXIT_USAGE;
	}
	char path[64], ids[24];
	snprintf(path, sizeof path, "/catalog/%lu", id);
	snprintf(ids, sizeof ids, "%lu", id);
	return client_remove(path, "catalog entry ", ids, " removed\n");
}

int cmd_catalog(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"inspect", catalog_inspect}, {"import", catalog_import}, {"list", catalog_list},
	    {"show", catalog_show},       {"remove", catalog_remove}, {NULL, NULL},
	};
	return client_dispatch("catalog", usage, subs, argc, argv);
}
