/* A fresh SQLite store in its own directory under /tmp, for the cmocka store
 * tests that need no PostgreSQL variant (test_store_*.c): one setup that
 * makes and opens it, one teardown that closes it and removes its files. */
#ifndef ATTEST_TEST_STORE_FIXTURE_H
#define ATTEST_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"

struct store_fixture {
	char dir[64], path[128], url[160];
	struct store *s;
};

/* A new store under /tmp/attest-store-TAG-XXXXXX; NULL on failure. */
static inline struct store_fixture *store_fixture_new(const char *tag)
{
	struct store_fixture *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->dir, sizeof c->dir, "/tmp/attest-store-%s-XXXXXX", tag);
	if (!mkdtemp(c->dir)) {
		free(c);
		return NULL;
	}
	snprintf(c->path, sizeof c->path, "%s/verifier.db", c->dir);
	snprintf(c->url, sizeof c->url, "sqlite:%s", c->path);
	if (store_open(c->url, &c->s, NULL) != 0) {
		rmdir(c->dir);
		free(c);
		return NULL;
	}
	return c;
}

/* Remove the SQLite database at path, its WAL, shared memory and journal
 * files, and then its directory dir (store_db.h uses it too). */
static inline void store_files_remove(const char *path, const char *dir)
{
	const char *suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		char p[200];
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Close the store and remove the database, its WAL and the directory. */
static inline void store_fixture_free(struct store_fixture *c)
{
	if (!c)
		return;
	store_close(c->s);
	store_files_remove(c->path, c->dir);
	free(c);
}

#endif
