/* One text builder for lib/: printf-style appends to a string that is
 * always terminated, in one of two modes.
 *  - fixed: into the caller's buffer of cap bytes; what does not fit is cut
 *    and the cut marked with "..." (cap >= 4), after which appends do
 *    nothing (cut is set). For descriptions of untrusted data.
 *  - growable: malloc'd, doubling, up to max bytes with its NUL; a piece that
 *    would pass max is left out (later, shorter ones still go in), a failed
 *    allocation sets nomem and stops appends. The caller frees buf (or takes
 *    it with textbuf_take()).
 * No I/O, no globals: a plain struct the caller owns. */
#ifndef ATTEST_TEXTBUF_H
#define ATTEST_TEXTBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *buf;  /* the text, always NUL-terminated once cap > 0 */
	size_t len; /* bytes before the NUL */
	size_t cap; /* bytes of buf */
	size_t max; /* growable: most bytes buf may take, NUL included */
	bool grow;  /* growable mode */
	bool cut;   /* fixed: the text was cut */
	bool nomem; /* growable: an allocation failed */
};

/* Fixed mode over buf[cap] (cap > 0); buf becomes "". */
void textbuf_fixed(struct textbuf *t, char *buf, size_t cap);

/* Growable mode, empty, nothing allocated yet (buf is NULL until the first
 * append that adds text). */
void textbuf_growable(struct textbuf *t, size_t max);

void textbuf_add(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void textbuf_vadd(struct textbuf *t, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Growable mode: hand the text over (never NULL unless out of memory: an
 * empty text is ""), leaving t empty. */
char *textbuf_take(struct textbuf *t);

/* Growable mode: free the text; t is empty again. */
void textbuf_free(struct textbuf *t);

#endif
