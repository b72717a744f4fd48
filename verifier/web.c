/* The dashboard's static assets (docs/dashboard.md), served from the
 * binary itself (web_assets.c is generated from verifier/web/ at build
 * time). Every path outside /api/ and /metrics is the dashboard's: "/" and
 * "/index.html" are the page; the page talks to /api/v1 with the operator's
 * token, so nothing here needs authentication and nothing here is secret.
 *
 * Headers: a strict Content-Security-Policy (only this origin's own script
 * and styles, no inline script, no framing), X-Frame-Options DENY,
 * Referrer-Policy no-referrer, nosniff (https_reply_bytes adds the last
 * three), and a strong ETag with Cache-Control: no-cache so a browser keeps
 * the files but asks each time whether they changed (a new verifier version
 * is picked up at once; unchanged files cost a 304). */
#include <string.h>

#include "verifier.h"
#include "web_assets.h"

/* Only this origin: the page's own script, styles and icons, and its API. */
#define WEB_CSP                                                                                    \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "             \
	"frame-ancestors 'none'"

static const struct web_asset *web_find(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

/* If-None-Match holds our ETag (a list, or "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	if (inm == NULL)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	size_t el = strlen(etag);
	for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += el) {
		char after = p[el];
		if (after == '\0' || after == ',' || after == ' ')
			return true;
	}
	return false;
}

static void route_web(struct https_request *req, void *arg)
{
	(void)arg;
	const char *path = https_request_path(req);
	const char *method = https_request_method(req);
	/* The API's namespace answers as the API does, in JSON. */
	if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
	    strncmp(path, "/metrics", 8) == 0) {
		https_reply_error(req, 404, "NOT_FOUND", "no such path");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		https_reply_header(req, "Allow", "GET, HEAD");
		https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET");
		return;
	}
	const struct web_asset *a = web_find(path);
	https_reply_header(req, "Content-Security-Policy", WEB_CSP);
	if (a == NULL) {
		static const char nf[] = "not found\n";
		https_reply_bytes(req, 404, "text/plain; charset=utf-8", nf, sizeof nf - 1);
		return;
	}
	https_reply_header(req, "ETag", a->etag);
	https_reply_header(req, "Cache-Control", "no-cache");
	https_reply_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	https_reply_header(req, "Cross-Origin-Resource-Policy", "same-origin");
	https_reply_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
	if (etag_matches(https_request_header(req, "If-None-Match"), a->etag)) {
		https_reply_bytes(req, 304, a->content_type, NULL, 0);
		return;
	}
	https_reply_bytes(req, 200, a->content_type, a->data, a->len);
}

int web_register(struct verifier *v)
{
	return https_server_route(v->srv, NULL, "/", route_web, v);
}
