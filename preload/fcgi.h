/* An incremental reader of the FastCGI records a server (php-fpm, or any
 * FastCGI application) writes on a connection it accepted: it is fed the
 * written bytes in whatever pieces the host wrote them and hands on the
 * FCGI_STDOUT content of each request as a byte stream, and each
 * FCGI_END_REQUEST.  No allocation: the state is the caller's struct. */
#ifndef AUTHTAP_FCGI_H
#define AUTHTAP_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Record types a FastCGI application writes (FastCGI 1.0, section 8). */
#define FCGI_END_REQUEST 3
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_GET_VALUES_RESULT 10
#define FCGI_UNKNOWN_TYPE 11

enum fcgi_status {
	FCGI_UNSURE, /* nothing wrong so far, no whole record header yet */
	FCGI_IS,     /* at least one valid record header was read */
	FCGI_NOT,    /* not FastCGI written by a server: nothing more is read */
};

enum fcgi_event_type {
	FCGI_EVENT_STDOUT,      /* data, len: the next piece of request_id's stdout */
	FCGI_EVENT_STDOUT_END,  /* the empty FCGI_STDOUT record that ends the stream */
	FCGI_EVENT_END_REQUEST, /* app_status, protocol_status */
};

struct fcgi_event {
	enum fcgi_event_type type;
	unsigned request_id;
	const char *data; /* into the fed bytes, valid during the callback */
	size_t len;
	uint32_t app_status;
	uint8_t protocol_status;
};

struct fcgi_reader {
	enum fcgi_status status;
	unsigned char hdr[8];  /* the record header being read */
	unsigned char body[8]; /* an FCGI_END_REQUEST body being read */
	unsigned hdr_len, body_len;
	unsigned type, request_id;
	unsigned content_left, padding_left;
	unsigned long long records;
};

void fcgi_init(struct fcgi_reader *r);

/* Feeds bytes the server wrote; calls fn for each event, in order, and
 * returns the reader's status.  The first byte that cannot begin or
 * continue a server's record stream makes it FCGI_NOT for good: on a
 * connection's first write that is decided by its first two bytes (an
 * HTTP response begins with 'H', TLS with 0x16; a record with 0x01 and an
 * output type). */
enum fcgi_status fcgi_feed(struct fcgi_reader *r, const char *data, size_t len,
                           void (*fn)(const struct fcgi_event *ev, void *arg), void *arg);

#endif
