/* An incremental reader of the HTTP/1.x response heads a server writes to
 * one connection: it is fed the written bytes in whatever pieces the host
 * wrote them, skips 1xx heads and bodies (Content-Length or chunked), and
 * hands each complete final head to a callback.  Nothing is copied but the
 * head itself, which is kept up to a cap. */
#ifndef AUTHTAP_HEAD_H
#define AUTHTAP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#define HEAD_MAX_BYTES (64u * 1024)

struct head_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/* A complete response head: status and the header fields, views into the
 * reader's buffer, valid during the callback only. */
struct head {
	int status;
	const char *raw;
	size_t raw_len;
	bool cgi; /* a CGI head: raw has no status line */
	/* A request head's first Host field's value, NULL when none (found
	 * while the head was read). */
	const char *host;
	size_t host_len;
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
	char *buf; /* the head being read */
	size_t len, cap;
	unsigned long long body_left;
	char line[32]; /* a chunk-size line */
	size_t line_len;
	unsigned trailer_run; /* bytes of the current trailer line */
	unsigned line_ends;   /* consecutive line ends seen in a head */
	bool head_request;    /* the request being answered was HEAD */
	bool request;         /* reads request heads (status 0) instead */
	bool fixed;           /* buf is the owner's, of cap bytes */
	bool oversize;
	bool cgi; /* CGI heads (head_init_cgi) */
	/* What the fields of the head being read said so far, noted line by
	 * line: its framing, and a request's Host (an offset in buf). */
	bool chunked, counted, has_host;
	unsigned long long length;
	size_t line_start, host_at, host_len;
	/* When set, called with each piece of a final head's body, with the
	 * chunked coding removed, and with len 0 when the body ends by its
	 * framing (a body read until the stream closes never does); arg is
	 * head_feed's. */
	void (*body)(const char *data, size_t len, void *arg);
};

/* A reader at the start of a stream, keeping heads in buf (up to cap
 * bytes; the rest of a longer head is dropped), so that it never
 * allocates and can run in a signal handler.  buf NULL: the reader grows
 * its own buffer on the heap (head_free frees it). */
void head_init(struct head_reader *r, char *buf, size_t cap);

/* A reader of one CGI response (RFC 3875 section 6), as a FastCGI
 * application writes it in FCGI_STDOUT: a head without a status line,
 *
 *   Status: 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\n\r\n
 *
 * whose status is the Status field's; without one it is 302 when there
 * is a Location field holding an absolute URI, else 200.  Everything
 * after the head is its body, to the end of the stream.  A head that is
 * not a well-formed CGI head (a line without a colon, a continuation
 * line, no field at all, a Status that is not 3 digits from 200 to 999 or
 * given twice, a local Location without Status, which the web server
 * follows itself) is given up on: no callback, nothing more read.  One
 * reader reads one response: start a new one for the next request. */
void head_init_cgi(struct head_reader *r);
void head_free(struct head_reader *r);

/* Feeds written bytes; calls done for each final (non-1xx) head. */
void head_feed(struct head_reader *r, const char *data, size_t len,
               void (*done)(const struct head *h, void *arg), void *arg);

/* Walks the fields of h: *pos starts at 0; returns false at the end. */
bool head_next_field(const struct head *h, size_t *pos, struct head_field *out);

#endif
