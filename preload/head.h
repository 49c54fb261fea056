/* An incremental reader of the HTTP/1.x response heads a server writes to
 * one connection: it is fed the written bytes in whatever pieces the host
 * wrote them, skips 1xx heads and bodies (Content-Length or chunked), and
 * hands each complete final head to a callback.  Nothing is copied but the
 * head itself, into a buffer the owner hands over: the reader never
 * allocates, so that it can run inside a signal handler. */
#ifndef AUTHTAP_HEAD_H
#define AUTHTAP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#define HEAD_MAX_BYTES (64u * 1024)

struct head_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/* A complete response head (or request head, status 0): status and the header fields, views into the
 * reader's buffer, valid during the callback only. */
struct head {
	int status;
	const char *raw;
	size_t raw_len;
};

enum head_state {
	HEAD_IN_HEAD,
	HEAD_IN_BODY,       /* body_left more bytes */
	HEAD_IN_CHUNK_SIZE, /* reading a chunk-size line */
	HEAD_IN_CHUNK_DATA, /* body_left bytes of chunk, then CRLF */
	HEAD_IN_CHUNK_CRLF, /* the CRLF after chunk data */
	HEAD_IN_TRAILERS,   /* after the last chunk, until an empty line */
	HEAD_UNTIL_CLOSE,   /* a body without framing: the rest of the stream */
	HEAD_LOST,          /* not HTTP/1.x: nothing more is read */
};

struct head_reader {
	enum head_state state;
	char *buf; /* the head being read: the owner's, of cap bytes */
	size_t len, cap;
	unsigned long long body_left;
	char line[32]; /* a chunk-size line */
	size_t line_len;
	unsigned trailer_run; /* bytes of the current trailer line */
	unsigned line_ends;   /* consecutive line ends seen in a head */
	bool head_request;    /* the request being answered was HEAD */
	bool request;         /* reads request heads (status 0) instead */
	bool oversize;
};

/* A reader at the start of a stream, keeping heads in buf (up to cap
 * bytes; the rest of a longer head is dropped). */
void head_init(struct head_reader *r, char *buf, size_t cap);

/* Feeds written bytes; calls done for each final (non-1xx) head. */
void head_feed(struct head_reader *r, const char *data, size_t len,
               void (*done)(const struct head *h, void *arg), void *arg);

/* Walks the fields of h: *pos starts at 0; returns false at the end. */
bool head_next_field(const struct head *h, size_t *pos, struct head_field *out);

#endif
