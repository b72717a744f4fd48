/* Certificates as they arrive in files and request bodies: a PEM bundle
 * (any number of certificates, text around them allowed) or one DER
 * certificate. The one splitter for the trust store (ekcert.c) and the
 * verifier's certified TPM list. */
#ifndef ATTEST_CERTBUNDLE_H
#define ATTEST_CERTBUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* Whether buf holds a PEM tag ("-----BEGIN") anywhere: PEM may follow a
 * text preamble, as in vendor bundles. */
bool certbundle_is_pem(const uint8_t *buf, size_t len);

/* The certificates in buf, in order: for PEM, each certificate block up to
 * the first that does not read; otherwise buf as one DER certificate. The
 * caller caps len. 0 and a new stack in *ret (free with
 * sk_X509_pop_free(*ret, X509_free)), empty when nothing reads;
 * ATTEST_E_ARG, ATTEST_E_NOMEM (*ret untouched). OpenSSL's error queue is
 * cleared. */
int certbundle_split(const uint8_t *buf, size_t len, STACK_OF(X509) * *ret);

#endif
