/* The one text builder (see textbuf.h). */
#include "textbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void textbuf_fixed(struct textbuf *t, char *buf, size_t cap)
{
	memset(t, 0, sizeof *t);
	t->buf = buf;
	t->cap = cap;
	if (cap)
		buf[0] = '\0';
}

void textbuf_growable(struct textbuf *t, size_t max)
{
	memset(t, 0, sizeof *t);
	t->grow = true;
	t->max = max;
}

__attribute__((format(printf, 2, 0))) static void fixed_vadd(struct textbuf *t, const char *fmt,
                                                             va_list ap)
{
	if (t->cut || t->cap == 0)
		return;
	int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	if (n < 0) {
		t->buf[t->len] = '\0';
		t->cut = true;
		return;
	}
	if ((size_t)n >= t->cap - t->len) {
		t->cut = true;
		t->len = t->cap - 1;
		if (t->cap >= 4) /* mark the cut */
			memcpy(t->buf + t->cap - 4, "...", 4);
		t->buf[t->cap - 1] = '\0';
		return;
	}
	t->len += (size_t)n;
}

__attribute__((format(printf, 2, 0))) static void grow_vadd(struct textbuf *t, const char *fmt,
                                                            va_list ap)
{
	if (t->nomem)
		return;
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0 || t->len + (size_t)n + 1 > t->max) {
		va_end(again);
		return; /* a text that long is cut, not an error */
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(t->buf, cap);
		if (!s) {
			t->nomem = true;
			va_end(again);
			return;
		}
		t->buf = s;
		t->cap = cap;
	}
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, again);
	va_end(again);
	t->len += (size_t)n;
}

void textbuf_vadd(struct textbuf *t, const char *fmt, va_list ap)
{
	if (t->grow)
		grow_vadd(t, fmt, ap);
	else
		fixed_vadd(t, fmt, ap);
}

void textbuf_add(struct textbuf *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	textbuf_vadd(t, fmt, ap);
	va_end(ap);
}

char *textbuf_take(struct textbuf *t)
{
	char *s = t->buf ? t->buf : strdup("");
	size_t max = t->max;
	textbuf_growable(t, max);
	return s;
}

void textbuf_free(struct textbuf *t)
{
	free(t->buf);
	textbuf_growable(t, t->max);
}
