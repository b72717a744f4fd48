/* Debian version comparison (see debver.h). */
#include "debver.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* The order of one character in a non-digit run: '~' first, then the end
 * of the part (0), then letters, then everything else. */
static int order(int c)
{
	if (c == '~')
		return -1;
	if (c == 0 || isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	return c + 256;
}

/* Compare a[0..an) with b[0..bn) as dpkg's verrevcmp does. */
static int part_compare(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;
	while (i < an || j < bn) {
		int first_diff = 0;
		while ((i < an && !isdigit((unsigned char)a[i])) ||
		       (j < bn && !isdigit((unsigned char)b[j]))) {
			int ac = i < an ? order((unsigned char)a[i]) : 0;
			int bc = j < bn ? order((unsigned char)b[j]) : 0;
			if (ac != bc)
				return ac - bc;
			i++;
			j++;
		}
		while (i < an && a[i] == '0')
			i++;
		while (j < bn && b[j] == '0')
			j++;
		while (i < an && isdigit((unsigned char)a[i]) && j < bn &&
		       isdigit((unsigned char)b[j])) {
			if (!first_diff)
				first_diff = a[i] - b[j];
			i++;
			j++;
		}
		if (i < an && isdigit((unsigned char)a[i]))
			return 1;
		if (j < bn && isdigit((unsigned char)b[j]))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

struct parts {
	unsigned long epoch;
	const char *up;
	size_t up_n;
	const char *rev;
	size_t rev_n;
};

static bool split(const char *v, struct parts *p)
{
	size_t n = strnlen(v, DEBVER_MAX + 1);
	if (n == 0 || n > DEBVER_MAX)
		return false;
	const char *colon = strchr(v, ':');
	p->epoch = 0;
	p->up = v;
	if (colon) {
		if (colon == v)
			return false;
		for (const char *c = v; c < colon; c++) {
			if (!isdigit((unsigned char)*c) || p->epoch > 99999)
				return false;
			p->epoch = p->epoch * 10 + (unsigned long)(*c - '0');
		}
		p->up = colon + 1;
	}
	const char *dash = strrchr(p->up, '-');
	p->up_n = dash ? (size_t)(dash - p->up) : strlen(p->up);
	p->rev = dash ? dash + 1 : "";
	p->rev_n = strlen(p->rev);
	if (p->up_n == 0 || !isdigit((unsigned char)p->up[0]) || (dash && p->rev_n == 0))
		return false;
	for (const char *c = p->up; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".+~-:", *c))
			return false;
	if (strchr(p->up, ':'))
		return false; /* at most the one epoch colon */
	return true;
}

bool debver_valid(const char *v)
{
	struct parts p;
	return v && split(v, &p);
}

int debver_compare(const char *a, const char *b)
{
	struct parts pa, pb;
	bool va = a && split(a, &pa), vb = b && split(b, &pb);
	if (!va || !vb)
		return (int)va - (int)vb;
	if (pa.epoch != pb.epoch)
		return pa.epoch < pb.epoch ? -1 : 1;
	int c = part_compare(pa.up, pa.up_n, pb.up, pb.up_n);
	if (c)
		return c < 0 ? -1 : 1;
	c = part_compare(pa.rev, pa.rev_n, pb.rev, pb.rev_n);
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}
