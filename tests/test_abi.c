/* What the preload exports and needs: exactly the documented entry points
 * and the interposed libcurl functions, and no libcurl of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../preload/hooks.h"
#include "harness.h"

/* The hooks, from the preload's own table of them: a hook added there is
 * expected here. */
#define NAME(ret, name, params, args) #name,
#define NAME_VOID(name, params, args) #name,
#define NAME_ONLY(name) #name,

static const char *const exported[] = {
    "authtap_v1_active", "authtap_v1_challenges", "authtap_v1_count", "authtap_v1_forget",
    "authtap_v1_last", "authtap_v1_name", "authtap_v1_param", "authtap_v1_scheme",
    "authtap_v1_status", "authtap_v1_value",
    /* libcurl's transfers, and the dynamic linker's functions that keep
     * them reached. */
    AUTHTAP_CURL_HOOKS(NAME, NAME_VOID) AUTHTAP_DL_HOOKS(NAME_ONLY)
    /* The libc functions that follow accepted connections, for verdicts,
     * and connected ones, for the socket source, and that close
     * descriptors, which the log's check hears of too. */
    AUTHTAP_LIBC_HOOKS(NAME, NAME_VOID)
    /* The TLS libraries' functions that carry the socket source's clear
     * text, and the end of a session. */
    AUTHTAP_TLS_HOOKS(NAME, NAME_VOID)};

Test(abi, exports_exactly_the_documented_symbols)
{
	struct run r;
	run(&r,
	    (const char *[]){"/usr/bin/nm", "-D", "--defined-only", "--format=posix",
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
