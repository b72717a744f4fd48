/* The one diagnostic (see diag.h). */
#include "diag.h"

#include <stdio.h>

void diag_vset(struct diag *d, const char *fmt, va_list ap)
{
	if (!d)
		return;
	vsnprintf(d->message, sizeof d->message, fmt, ap);
}

void diag_set(struct diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vset(d, fmt, ap);
	va_end(ap);
}
