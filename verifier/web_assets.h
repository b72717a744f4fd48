/* The dashboard's static assets, compiled into attest-verifier: the table
 * is generated at build time from verifier/web/ by web/embed.cmake, so an
 * installed verifier needs no asset directory. */
#ifndef ATTEST_WEB_ASSETS_H
#define ATTEST_WEB_ASSETS_H

#include <stddef.h>
#include <stdint.h>

struct web_asset {
	const char *path;         /* "/app.js" */
	const char *content_type; /* "text/javascript; charset=utf-8" */
	const uint8_t *data;
	size_t len;
	const char *etag; /* strong ETag: quoted prefix of the file's SHA-256 */
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
