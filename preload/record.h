/* One upstream response as authtap records it.  A record is built from views
 * into libcurl's header store by the capture code, written to the log, and
 * copied into the table; nothing here owns memory. */
#ifndef AUTHTAP_RECORD_H
#define AUTHTAP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum record_flag {
	RECORD_NO_CHALLENGE = 1u << 0,    /* a 401/407 of a successful transfer without one */
	RECORD_INCOMPLETE = 1u << 1,      /* the transfer failed: headers may be missing */
	RECORD_TRUNCATED = 1u << 2,       /* a cap cut values or the record */
	RECORD_STATUS_INFERRED = 1u << 3, /* libcurl kept no status for this response */
	RECORD_CONNECT = 1u << 4,         /* the response to a proxy CONNECT */
	RECORD_AT_EXIT = 1u << 5,         /* logged at exit: the program never read the
	                                   * transfer's message nor let go of its handle */
	RECORD_HTTP2 = 1u << 6,           /* the socket source: an HTTP/2 connection,
	                                   * recorded once and not read */
};

/* Where a record comes from: libcurl's easy or multi interface, or the
 * socket source (clear text on a socket the program connected). */
enum record_api {
	RECORD_API_EASY,
	RECORD_API_MULTI,
	RECORD_API_SOCKET,
	RECORD_API_OPENSSL, /* the socket source, through OpenSSL */
	RECORD_API_GNUTLS,  /* the socket source, through GnuTLS */
};

static inline const char *record_api_name(enum record_api api)
{
	switch (api) {
	case RECORD_API_MULTI:
		return "multi";
	case RECORD_API_SOCKET:
		return "socket";
	case RECORD_API_OPENSSL:
		return "openssl";
	case RECORD_API_GNUTLS:
		return "gnutls";
	default:
		return "easy";
	}
}

#define RECORD_RESULT_UNKNOWN (-1)

struct record_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What all responses of one transfer share. */
struct record_transfer {
	const void *handle;
	enum record_api api;
	const char *method; /* NULL when libcurl cannot tell */
	const char *url;    /* already redacted as configured; NULL when unknown */
	int result;         /* the transfer's CURLcode; RECORD_RESULT_UNKNOWN when
	                     * a multi handle was removed before its message was read */
};

struct record {
	const struct record_transfer *transfer;
	long status; /* 0 when unknown */
	bool final;
	int request; /* index in the transfer's chain, from 0 */
	unsigned flags;
	bool headers_known; /* false when libcurl has no header API */
	/* The transfer's URL is its last request's: an earlier response that
	 * was followed by a redirect came from a URL libcurl no longer has. */
	bool url_unknown;
	size_t nheaders;
	const struct record_header *headers;
};

#endif
