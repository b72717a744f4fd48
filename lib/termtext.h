/* Text that is safe to show on a terminal.
 *
 * Every string that comes from an event log, an agent or the network goes
 * through termtext_escape() before a terminal sees it (attestctl's text
 * output; the event-log renderings the library builds). It keeps printable
 * UTF-8 as it is and writes everything that can drive a terminal or reorder
 * what the operator reads as a visible escape:
 *   - C0 controls (U+0000-U+001F: ESC, BEL, CR, LF, TAB, ...) and DEL: \xNN
 *   - C1 controls (U+0080-U+009F, two bytes in UTF-8):               \u0085
 *   - bidirectional formatting: U+061C, U+200E, U+200F, the embeddings and
 *     overrides U+202A-U+202E, the isolates U+2066-U+2069, and the line and
 *     paragraph separators U+2028, U+2029:                            \u202E
 *   - bytes that are not valid UTF-8 (stray continuation bytes, overlong
 *     forms, surrogates, truncated sequences, > U+10FFFF):            \xNN
 * The backslash itself is kept, so escaping twice changes nothing (the
 * output is made only of printable characters and backslashes): a string
 * the library escaped can go through the program's printing again.
 * Pure: no allocation in termtext_escape, no locale. */
#ifndef ATTEST_TERMTEXT_H
#define ATTEST_TERMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest escape of one input byte sequence ("\u202E"). */
#define TERMTEXT_ESCAPE_MAX 6u

/* Escape len bytes of s (NUL bytes in them are escaped too) into out (cap
 * bytes, always NUL-terminated when cap > 0). Never cuts an escape or a
 * character in two: what does not fit is left out and *ret_cut (may be
 * NULL) is set. Returns the length written (excluding the NUL). cap 4*len+1
 * always suffices. */
size_t termtext_escape(const char *s, size_t len, char *out, size_t cap, bool *ret_cut);

/* The escaped copy of the NUL-terminated s (NULL: NULL), malloc'd; the
 * caller frees it. NULL if out of memory. */
char *termtext_dup(const char *s);

/* Whether s holds anything termtext_escape would change (a control, a
 * bidirectional formatting character, invalid UTF-8). */
bool termtext_needs_escape(const char *s, size_t len);

/* Where the first thing termtext_escape would change starts in len bytes
 * of s: its byte offset (len if there is none). *ret_cp (may be NULL) gets
 * its code point, or the byte value when the bytes there are not valid
 * UTF-8 (then *ret_invalid, may be NULL, is true). For messages that name
 * the character, e.g. refusing a name. */
size_t termtext_first_unsafe(const char *s, size_t len, uint32_t *ret_cp, bool *ret_invalid);

#endif
