/* Reading what a finished transfer received, and recording it. */
#ifndef AUTHTAP_CAPTURE_H
#define AUTHTAP_CAPTURE_H

#include "config.h"
#include "curl_lib.h"
#include "net.h"
#include "record.h"

/* Called after the real transfer returned result: logs every response of
 * the transfer that is to be recorded, and replaces (or clears) the
 * handle's table entry with its final response.  result is the CURLcode,
 * or RECORD_RESULT_UNKNOWN.  Preserves errno. */
/* conn is the client connection the transfer served (id 0: none): the
 * final response, when recorded, then waits there for its verdict. */
void capture_transfer(const struct config *cfg, const struct curl_lib *lib, CURL *h,
		      int result, enum record_api api, struct net_ref conn);

#endif
