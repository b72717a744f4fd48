/* Checks on JSON text made before a parser builds a tree from it. */
#ifndef ATTEST_JSONTEXT_H
#define ATTEST_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of objects and arrays in len bytes of JSON text, counted
 * without recursion (brackets inside strings are skipped), so that a
 * document nested thousands deep can be refused before jansson recurses
 * into it. The text need not be valid JSON; the parser judges that later. */
size_t jsontext_depth(const uint8_t *buf, size_t len);

#endif
