/* Debian package versions: [epoch:]upstream_version[-debian_revision],
 * compared as dpkg does (Debian Policy 5.6.12): the epoch as a number,
 * then upstream and revision each as alternating runs of non-digits
 * (compared character by character, where '~' sorts before everything,
 * even the end, and letters before other characters) and digits (compared
 * as numbers). Used by catalog policy rules ("linux-image-* >= 6.1.0-50"). */
#ifndef ATTEST_DEBVER_H
#define ATTEST_DEBVER_H

#include <stdbool.h>

#define DEBVER_MAX 128u /* characters in a version we accept */

/* True if v is a version we can compare: 1..DEBVER_MAX characters, an
 * optional numeric epoch, then only alphanumerics and . + ~ - (and : after
 * an epoch), starting with a digit. */
bool debver_valid(const char *v);

/* <0, 0, >0 as a is older than, equal to, or newer than b. Both must be
 * debver_valid() (an invalid one sorts as the oldest). */
int debver_compare(const char *a, const char *b);

#endif
