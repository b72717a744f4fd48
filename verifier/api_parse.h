/* Operator API request bodies (docs/api.md), parsed and checked with no
 * network, database or clock: the handlers in api*.c call these before
 * touching the store, fuzz/fuzz_verifier_request.c feeds them arbitrary
 * bytes. A refusal is a struct api_refusal: the HTTP status, the API error
 * code and a sentence, which the handler sends as it is. */
#ifndef ATTEST_VERIFIER_API_PARSE_H
#define ATTEST_VERIFIER_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tlsid.h"

#define API_PARSE_NAME_MAX     255  /* = STORE_NAME_MAX */
#define API_PARSE_TEXT_MAX     4096 /* = STORE_TEXT_MAX: an address */
#define API_PARSE_DEPTH_MAX    32   /* = VERIFIER_JSON_DEPTH_MAX */
#define API_PARSE_INTERVAL_MAX (86400 * 7)

struct api_refusal {
	int status;       /* 400 or 413 */
	const char *code; /* INVALID_JSON, JSON_TOO_DEEP, BODY_TOO_LARGE, INVALID_FIELD, ... */
	char message[400];
};

/* Whether a name is acceptable for hosts, policies and tokens: 1-255
 * bytes of valid UTF-8 without spaces, '/', '?', '#' or '%', control
 * characters (C0, DEL, C1) or bidirectional formatting characters
 * (U+202A-U+202E, U+2066-U+2069, ...: lib/termtext.h). */
bool api_name_ok(const char *name);

/* The same, saying why not: NULL if the name is acceptable, else a phrase
 * to follow "host name " ("contains U+202E at offset 3: ..."), written in
 * buf (cap bytes) or static. */
const char *api_name_problem(const char *name, char *buf, size_t cap);

/* Split "host:port" or "[v6]:port" into host (cap bytes) and port 1-65535.
 * ATTEST_E_FORMAT if malformed; host untouched then. */
int verifier_split_address(const char *addr, char *host, size_t cap, uint16_t *port);

/* The body as a JSON object: at most cap bytes, nested at most
 * API_PARSE_DEPTH_MAX, duplicate keys refused; an empty body is {}. 0 and a
 * new reference in *ret, or ATTEST_E_FORMAT/ATTEST_E_LIMIT with *why. */
int api_parse_body(const uint8_t *body, size_t len, size_t cap, json_t **ret,
                   struct api_refusal *why);

/* Every key of obj is in the NULL-terminated list; else 400 UNKNOWN_FIELD. */
int api_parse_known_fields(json_t *obj, const char *const *keys, struct api_refusal *why);

/* POST /api/v1/hosts. Strings point into b (borrowed). */
struct api_host_add {
	const char *address, *name; /* name defaults to the address */
	char host[256];
	uint16_t port;
	bool have_thumbprint;
	char thumbprint[TLSID_THUMBPRINT_SIZE]; /* canonical */
	bool accept_thumbprint;
	const char *policy; /* NULL: the default */
	int64_t interval_s; /* default_interval when absent */
	bool have_ek;       /* "ek": the operator approves this EK key hash */
	bool push;          /* "mode": "push": address "", name and thumbprint given */
	char ek[72];        /* "SHA256:" + 64 lowercase hex (ekcert_key_sha256) */
};
int api_parse_host_add(json_t *b, int64_t default_interval, struct api_host_add *ret,
                       struct api_refusal *why);

/* POST /api/v1/policies (not a dry run): a valid name and exactly one of
 * body (borrowed; the policy engine checks it) or from_host (a string). */
struct api_policy_create {
	const char *name;
	json_t *body;
	const char *from_host;
};
int api_parse_policy_create(json_t *b, struct api_policy_create *ret, struct api_refusal *why);

/* POST /api/v1/policies/NAME/assign: {"host": H} or {"default": true}. */
struct api_policy_assign {
	const char *host; /* NULL: make the policy the default */
};
int api_parse_policy_assign(json_t *b, struct api_policy_assign *ret, struct api_refusal *why);

/* POST /api/v1/cas: {"pem": text} or {"der": base64}, optional "source".
 * *ret_buf (malloc'd, caller frees) holds the PEM text (NUL-terminated) or
 * the DER bytes; source defaults to "attestctl". */
int api_parse_ca_add(json_t *b, size_t der_max, uint8_t **ret_buf, size_t *ret_len,
                     const char **ret_source, struct api_refusal *why);

/* PUT /api/v1/hosts/NAME/ek-cert: {"pem": text} or {"der": base64}, the
 * EK certificate the operator supplies for a TPM without one in NV. *ret
 * (malloc'd, caller frees) is the certificate in DER (the first PEM block);
 * 400 INVALID_FIELD when it is not one readable certificate. */
int api_parse_ek_cert(json_t *b, size_t der_max, uint8_t **ret, size_t *ret_len,
                      struct api_refusal *why);

/* POST /api/v1/tokens: {"name": N, "role": "viewer"|"admin"}; role as text. */
int api_parse_token_add(json_t *b, const char **ret_name, const char **ret_role,
                        struct api_refusal *why);

/* POST /api/v1/alarms/ID/ack: the path's ID, a positive integer. */
int api_parse_id(const char *text, int64_t *ret);

#endif
