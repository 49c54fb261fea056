/* Reading what a finished transfer received, and recording it. */
#ifndef AUTHTAP_CAPTURE_H
#define AUTHTAP_CAPTURE_H

#include "config.h"
#include "curl_lib.h"
#include "net.h"
#include "record.h"

#include <errno.h>
#include <stdbool.h>

#include "table.h"

/* The work of capture_transfer when there may be something to record:
 * status is the last response's code, as read. */
void capture_chain(const struct config *cfg, const struct curl_lib *lib, CURL *h, int result,
                   enum record_api api, const struct net_ref *conn, long status);

/* For a multi transfer known to be over whose message the program has not
 * read: what capture_transfer would log, packed into one allocation (free()
 * releases it), or NULL when there is nothing to record.  Nothing is
 * logged and the table is left alone. */
void *capture_snapshot(const struct config *cfg, const struct curl_lib *lib, CURL *h);

/* Logs what a snapshot holds, flagged RECORD_AT_EXIT, with the result
 * unknown, and frees it; calls no libcurl function.  A snapshot made by
 * another process (before a fork) is only freed. */
void capture_snapshot_log(void *snap);

/* Records what a snapshot holds as capture_transfer would have when the
 * transfer ended, with the result known now (or RECORD_RESULT_UNKNOWN):
 * logged, kept in the table, awaiting its verdict; then frees it.  Calls
 * no libcurl function: the work was done when the snapshot was made. */
void capture_snapshot_replay(const struct config *cfg, void *snap, CURL *h, int result,
                             const struct net_ref *conn);

/* Whether the transfer made a request number n: libcurl numbers every
 * response of a redirect or authentication chain from 0. */
static inline bool capture_has_request(const struct curl_lib *lib, CURL *h, int n)
{
	struct curl_header *ch;
	CURLHcode rc = lib->real_curl_easy_header(h, "WWW-Authenticate", 0, CURLH_HEADER, n, &ch);

	return rc != CURLHE_NOREQUEST && rc != CURLHE_NOHEADERS && rc != CURLHE_BAD_ARGUMENT &&
	       rc != CURLHE_NOT_BUILT_IN;
}

/* Called after the real transfer returned result: logs every response of
 * the transfer that is to be recorded, and replaces (or clears) the
 * handle's table entry with its final response.  result is the CURLcode,
 * or RECORD_RESULT_UNKNOWN.  *conn is the client connection the transfer
 * served (id 0: none): the final response, when recorded, then waits there
 * for its verdict.  Preserves errno.
 *
 * It runs after every transfer, so the common path is inline here: one
 * response, not one to record.  That path asks libcurl the two questions
 * no capture can skip, the status and whether there was a second request. */
static inline __attribute__((always_inline)) void
capture_transfer(const struct config *cfg, const struct curl_lib *lib, CURL *h, int result,
                 enum record_api api, const struct net_ref *conn)
{
	int saved = errno;
	long status = 0;

	lib->real_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (config_status_skipped(cfg, status) && lib->real_curl_easy_header &&
	    !capture_has_request(lib, h, 1)) {
		if (!table_surely_absent(h))
			table_drop(h);
	} else {
		capture_chain(cfg, lib, h, result, api, conn, status);
	}
	errno = saved;
}

#endif
