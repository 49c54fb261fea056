/* Reading what a finished transfer received, and recording it. */
#ifndef AUTHTAP_CAPTURE_H
#define AUTHTAP_CAPTURE_H

#include "config.h"
#include "curl_lib.h"
#include "record.h"

/* Called after the real transfer returned result: logs every response of
 * the transfer that is to be recorded, and replaces (or clears) the
 * handle's table entry with its final response.  result is the CURLcode,
 * or RECORD_RESULT_UNKNOWN.  Preserves errno. */
void capture_transfer(const struct config *cfg, const struct curl_lib *lib, CURL *h,
		      int result, enum record_api api);

#endif
