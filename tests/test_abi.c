/* What the preload exports and needs: exactly the documented entry points
 * and the interposed libcurl functions, and no libcurl of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

static const char *const exported[] = {
	"authtap_v1_active", "authtap_v1_challenges", "authtap_v1_count", "authtap_v1_forget",
	"authtap_v1_last",   "authtap_v1_name",       "authtap_v1_param", "authtap_v1_scheme",
	"authtap_v1_status", "authtap_v1_value",      "curl_easy_cleanup", "curl_easy_perform",
	"curl_multi_add_handle", "curl_multi_cleanup", "curl_multi_info_read", "curl_multi_perform",
	"curl_multi_remove_handle", "curl_multi_socket_action", "dlclose", "dlopen", "dlsym",
	"dlvsym",
	/* The libc functions that follow accepted connections, for verdicts,
	 * and connected ones, for the socket source, and that close
	 * descriptors, which the log's check hears of too. */
	"accept", "accept4", "connect", "close", "close_range", "closefrom", "dup2", "dup3", "read",
	"readv", "recv", "recvfrom", "recvmsg", "send", "sendmsg", "sendto", "write", "writev",
	/* The TLS libraries' functions that carry the socket source's clear
	 * text. */
	"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex", "SSL_free", "gnutls_record_recv",
	"gnutls_record_send",
};

Test(abi, exports_exactly_the_documented_symbols)
{
	struct run r;
	run(&r, (const char *[]){"/usr/bin/nm", "-D", "--defined-only", "--format=posix",
				 TEST_PRELOAD_SO, NULL},
	    NULL);
	cr_assert_eq(r.code, 0, "%s", r.err);
	size_t n = sizeof(exported) / sizeof(exported[0]), seen = 0;
	for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[256];
		char type;
		cr_assert(sscanf(line, "%255s %c", name, &type) == 2);
		bool known = false;
		for (size_t i = 0; i < n; i++)
			known |= strcmp(name, exported[i]) == 0;
		cr_expect(known, "unexpected export %s", name);
		seen += known;
	}
	cr_expect_eq(seen, n, "%zu of %zu documented exports found", seen, n);
	run_free(&r);
}

Test(abi, needs_no_libcurl)
{
	struct run r;
	run(&r, (const char *[]){"/usr/bin/readelf", "-d", TEST_PRELOAD_SO, NULL}, NULL);
	cr_assert_eq(r.code, 0);
	cr_expect(strstr(r.out, "libc.so.6"), "%s", r.out);
	cr_expect(!strstr(r.out, "libcurl"), "the preload needs a libcurl:\n%s", r.out);
	for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, "(NEEDED)"))
			cr_expect(strstr(line, "[libc.so.6]"), "needs more than libc: %s", line);
	run_free(&r);
}

Test(abi, no_versioned_definitions)
{
	/* A named version node would make versioned libcurl references
	 * (curl_easy_perform@CURL_OPENSSL_4) skip the preload. */
	struct run r;
	run(&r, (const char *[]){"/usr/bin/readelf", "-V", TEST_PRELOAD_SO, NULL}, NULL);
	cr_assert_eq(r.code, 0);
	cr_expect(!strstr(r.out, "Version definition"), "%s", r.out);
	run_free(&r);
}
