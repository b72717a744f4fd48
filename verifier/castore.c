/* The certified TPM list: the vendor EK CA certificates an EK certificate
 * must chain to. Imported from certificate files (--ca-dir on a database's
 * first start, attestctl ca add through the API), kept in the store, and
 * held here as a parsed ekcert store reused by every enrollment. The cache
 * is checked against the store's marker (count and highest id) before each
 * use, so a CA added or removed through this instance or another one
 * sharing the database is seen at the next enrollment. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "certbundle.h"
#include "ekcert.h"
#include "err.h"
#include "fileio.h"
#include "log.h"
#include "verifier.h"

#define CA_FILE_MAX (1024u * 1024u)

struct castore {
	struct ekcert_store *es;
	int64_t count, max_id; /* the store's marker when es was loaded */
};

/* Read the whole list from the store into a new ekcert store. */
static int castore_load(struct store *st, struct ekcert_store **ret)
{
	struct ekcert_store *es = NULL;
	int rc = ekcert_store_new(&es);
	if (rc < 0)
		return rc;
	uint64_t off = 0;
	for (;;) {
		struct store_ca_list *cl = NULL;
		struct store_page pg = {.limit = STORE_PAGE_MAX, .offset = off};
		rc = store_ca_list(st, &pg, &cl);
		if (rc < 0)
			break;
		for (size_t i = 0; i < cl->n; i++)
			(void)ekcert_store_add(es, cl->v[i].der, cl->v[i].der_len, NULL);
		size_t n = cl->n;
		store_ca_list_free(cl);
		if (n < STORE_PAGE_MAX)
			break;
		off += n;
	}
	if (rc < 0) {
		ekcert_store_free(es);
		return rc;
	}
	*ret = es;
	return 0;
}

int castore_get(struct verifier *v, const struct ekcert_store **ret)
{
	int64_t count = 0, max_id = 0;
	/* The marker first, then the list: a change in between makes the next
	 * marker differ, so a stale list is never kept under a newer marker. */
	int rc = store_ca_marker(v->store, &count, &max_id);
	if (rc < 0)
		return rc;
	struct castore *c = v->castore;
	if (c != NULL && c->count == count && c->max_id == max_id) {
		*ret = c->es;
		return 0;
	}
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return ATTEST_E_NOMEM;
		v->castore = c;
	}
	struct ekcert_store *es = NULL;
	rc = castore_load(v->store, &es);
	if (rc < 0)
		return rc;
	ekcert_store_free(c->es);
	c->es = es;
	c->count = count;
	c->max_id = max_id;
	*ret = es;
	return 0;
}

void castore_free(struct verifier *v)
{
	if (v->castore == NULL)
		return;
	ekcert_store_free(v->castore->es);
	free(v->castore);
	v->castore = NULL;
}

static bool ca_file_name(const char *n)
{
	static const char *const ext[] = {".pem", ".crt", ".cer", ".der"};
	size_t l = strlen(n);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t el = strlen(ext[i]);
		if (l > el && strcasecmp(n + l - el, ext[i]) == 0)
			return true;
	}
	return false;
}

int castore_import(struct store *st, const uint8_t *buf, size_t len, const char *source,
                   json_t *added, size_t *ret_added, size_t *ret_dup)
{
	size_t n_ok = 0, n_dup = 0, n_seen = 0;
	STACK_OF(X509) *certs = NULL;
	int rc = certbundle_split(buf, len, &certs);
	if (rc < 0)
		return rc;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		n_seen++;
		unsigned char *der = NULL;
		int dl = i2d_X509(x, &der);
		char subject[STORE_TEXT_MAX];
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
		if (dl > 0) {
			int64_t id = 0;
			int r =
			    store_ca_add(st, der, (size_t)dl, subject, source, verifier_now(), &id);
			if (r == 0) {
				n_ok++;
				if (added != NULL) {
					json_array_append_new(
					    added, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id,
					                     "subject", subject, "source", source));
				}
			} else if (r == ATTEST_E_EXISTS)
				n_dup++;
			else
				rc = r;
		}
		OPENSSL_free(der);
		if (rc < 0)
			break;
	}
	sk_X509_pop_free(certs, X509_free);
	if (rc == 0 && n_seen == 0)
		rc = ATTEST_E_FORMAT;
	if (ret_added)
		*ret_added = n_ok;
	if (ret_dup)
		*ret_dup = n_dup;
	return rc;
}

/* The certified TPM list from --ca-dir, on the database's first start only
 * (and only if it holds no CA): an operator's removals stick, and an
 * instance joining a shared database does not import again. */
int castore_import_dir(struct verifier *v, bool first)
{
	struct store_ca_list *cl = NULL;
	if (!first)
		return 0;
	struct store_page pg = {.limit = 1};
	int rc = store_ca_list(v->store, &pg, &cl);
	if (rc < 0)
		return rc;
	size_t have = cl->n;
	store_ca_list_free(cl);
	const char *dir = v->cfg.ca_dir;
	bool explicit = dir != NULL;
	if (!explicit)
		dir = VERIFIER_DEFAULT_CA_DIR;
	if (have > 0)
		return 0; /* imported before; operators' removals stick */
	DIR *d = opendir(dir);
	if (d == NULL) {
		if (explicit) {
			log_error("--ca-dir %s: %s", dir, strerror(errno));
			return ATTEST_E_IO;
		}
		log_warning("the certified TPM list is empty; add vendor EK CA certificates with "
		            "attestctl ca add (docs/api.md)");
		return 0;
	}
	size_t total = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !ca_file_name(de->d_name))
			continue;
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
			continue;
		uint8_t *buf = NULL;
		size_t len = 0;
		if (fileio_read(path, CA_FILE_MAX, &buf, &len) < 0) {
			log_warning("skipping %s: cannot read it", path);
			continue;
		}
		size_t added = 0, dup = 0;
		int r = castore_import(v->store, buf, len, de->d_name, NULL, &added, &dup);
		free(buf);
		if (r < 0)
			log_warning("skipping %s: %s", path,
			            r == ATTEST_E_FORMAT ? "no certificate in it"
			                                 : attest_strerror(r));
		total += added;
	}
	closedir(d);
	log_info("imported %zu CA certificate(s) from %s", total, dir);
	if (total > 0) {
		struct store_event_new e = {.kind = "ca",
		                            .actor = "verifier",
		                            .message =
		                                "certified TPM list imported on first start"};
		(void)store_event_add(v->store, &e, verifier_now(), NULL);
	}
	return 0;
}
