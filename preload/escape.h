/* Escaping and UTF-8 for the record formatters.  Pure: no I/O, no state. */
#ifndef AUTHTAP_ESCAPE_H
#define AUTHTAP_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool escape_utf8_valid(const unsigned char *s, size_t len);

/* Where to cut s to at most cap bytes (0: no cap) without splitting a
 * UTF-8 sequence. */
size_t escape_cut_len(const unsigned char *s, size_t len, size_t cap, bool latin1);

/* Per byte: 1 when JSON escapes it (quote, backslash, C0), 2 for >= 0x80. */
extern const unsigned char escape_json_class[256];

/* A JSON string, quotes included.  latin1: every byte is one code point
 * U+0000..U+00FF (the documented encoding of values that are not UTF-8). */
void escape_json(struct buf *b, const char *p, size_t len, bool latin1);

/* Code points a terminal acts on or shows as nothing: DEL, C1 controls,
 * bidi embeddings, overrides and isolates (U+202E), line and paragraph
 * separators (U+2028), zero-width and other invisible format characters
 * (U+200B, U+FEFF, tags). */
bool escape_hidden(unsigned cp);

/* JSON for a terminal: the JSON from b->p + from on, with every code point
 * of escape_hidden written as \uXXXX (the same JSON value). */
void escape_json_terminal(struct buf *b, size_t from);

/* Bytes for a terminal: printable ASCII and valid UTF-8 as they are,
 * backslash doubled, escape_hidden code points as \uXXXX, everything else
 * (C0, DEL, C1, stray bytes) as \xHH. */
void escape_text(struct buf *b, const char *p, size_t len);

/* A parsed value for text: bare when one plain word, else quoted. */
void escape_text_value(struct buf *b, const char *v, size_t len);

/* ,"key":"s" (null when s is NULL), then ,"key_encoding":"latin1" when s
 * is not UTF-8. */
void escape_json_field(struct buf *b, const char *key, const char *s);

#endif
