/* One diagnostic for every parser and decoder in lib/: why an input was
 * refused, as a sentence naming the field and the bad value, and where.
 * Functions take a struct diag * that may be NULL (no sentence wanted) and
 * fill it only on failure; the int they return is the ATTEST_E_* code. It
 * replaces the per-module error structs (eventlog, policy, bundle, tpm) and
 * their copies of the same "format into err->message" helper. */
#ifndef ATTEST_DIAG_H
#define ATTEST_DIAG_H

#include <stdarg.h>
#include <stddef.h>

#define DIAG_MESSAGE_MAX 256u

struct diag {
	char message[DIAG_MESSAGE_MAX]; /* "" until a failure is described */
	size_t offset;                  /* byte offset in the input, where known */
	size_t event;                   /* event logs: the event being parsed (0-based) */
};

/* Write the sentence into d->message (cut to fit); nothing if d is NULL.
 * offset and event are left as they are. */
void diag_set(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_vset(struct diag *d, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The names the modules used before, for code not yet moved over (the
 * verifier's call sites); each is struct diag. */
#define eventlog_error diag
#define policy_error   diag
#define bundle_error   diag
#define tpm_error      diag

#endif
