/* Operator API: the software catalog (api_catalog.c; docs/api.md):
 *   GET    /api/v1/catalog[?package=PATTERN&kind=KIND]  {"entries": [...]}
 *   POST   /api/v1/catalog           one entry (lib/catalog.h JSON) -> 201
 *   GET    /api/v1/catalog/{id|sha256}  {"entries": [...]}
 *   DELETE /api/v1/catalog/{id} */
#ifndef ATTEST_VERIFIER_API_CATALOG_H
#define ATTEST_VERIFIER_API_CATALOG_H

#include "api_routes.h"

#define API_CATALOG_BODY_MAX (8u * 1024) /* one entry */

void api_catalog_list(struct api_call *c);
void api_catalog_add(struct api_call *c);
void api_catalog_show(struct api_call *c);
void api_catalog_remove(struct api_call *c);

#endif
