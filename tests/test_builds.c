/* dlopen'd libcurl and several libcurl builds in one process (GitHub issue
 * 5, parts 2 and 3).  tests/programs/dlhost links the OpenSSL build and
 * dlopens plugins linked (DT_NEEDED) to the GnuTLS and NSS builds;
 * dlhost-bare links no libcurl at all, as python3 does not.  Each plugin
 * does one curl_easy_perform and one multi transfer through its own build
 * and prints which libcurl really ran it (the caller of its write
 * callback): every interposed call must reach the library its caller was
 * linked against, and each transfer be recorded once. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tracing.h"

static struct server srv;

/* meson puts the plugins' directory in LD_LIBRARY_PATH; a bare name must
 * be found through the caller's RUNPATH alone. */
static void setup(void)
{
	unsetenv("LD_LIBRARY_PATH");
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(builds, .init = setup, .fini = teardown, .timeout = 60);

#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""

struct part {
	const char *name;   /* PLUGIN_NAME: main, openssl, gnutls, nss */
	const char *so;     /* the libcurl it is linked against */
	const char *loaded; /* the dlopen argument, NULL for the host itself */
};

static const struct part host_part = {"main", "libcurl.so.4", NULL};

static void need_plugin(const char *path, const char *package)
{
	cr_assert(access(path, R_OK) == 0,
		  "%s was not built: install the Debian package %s and reconfigure", path,
		  package);
}

/* Runs argv and expects, for each part in order, its two transfers done by
 * its own libcurl and recorded once each: easy /401, then multi /403. */
static void expect_parts(const char *const argv[], const struct part *parts, size_t n)
{
	struct traced t;
	char *expected = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&expected, &len);

	for (size_t i = 0; i < n; i++) {
		if (parts[i].loaded)
			fprintf(f, "loaded %s\n", parts[i].loaded);
		fprintf(f, "%s easy result=0 status=401 ran_in=%s\n", parts[i].name, parts[i].so);
		fprintf(f, "%s multi result=0 status=403 ran_in=%s\n", parts[i].name,
			parts[i].so);
	}
	fclose(f);

	trace_run(&t, argv, NULL);
	cr_expect_eq(t.control.code, 0, "without the preload: %s%s", t.control.out,
		     t.control.err);
	cr_expect_str_eq(t.control.out, expected, "without the preload");
	cr_expect_str_eq(t.with.out, expected, "under the preload");
	expect_count(&t, 2 * n, "two transfers per build");
	/* The records come in the order of the transfers, and so do the
	 * "handle NAME-easy|NAME-multi 0x..." lines on stderr. */
	const char *p = t.with.err;
	for (size_t i = 0; i < 2 * n && t.n == 2 * n; i++) {
		const struct part *part = &parts[i / 2];
		bool easy = i % 2 == 0;
		char prefix[64], what[96];

		snprintf(prefix, sizeof(prefix), "handle %s-%s ", part->name,
			 easy ? "easy" : "multi");
		p = strstr(p, prefix);
		cr_assert(p, "no \"%s\" in order on stderr: %s", prefix, t.with.err);
		p += strlen(prefix);
		char *h = strndup(p, strcspn(p, "\n"));
		snprintf(what, sizeof(what), "%s %s", part->name, easy ? "easy" : "multi");
		expect_record(t.rec[i],
			      &(struct want){.api = easy ? "easy" : "multi",
					     .status = easy ? 401 : 403, .final = true,
					     .url = server_url(&srv, easy ? "/401" : "/403-scope"),
					     .handle = h, .nheaders = 1, .name = "WWW-Authenticate",
					     .value = easy ? bearer_401(&srv) : SCOPE_VALUE},
			      what);
		free(h);
	}
	trace_free(&t);
	free(expected);
}

/* The host on the OpenSSL build, plugins on the GnuTLS and NSS builds. */
Test(builds, three_builds_in_one_process)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	need_plugin(TEST_PLUGIN_NSS, "libcurl3-nss");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		host_part,
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
		{"nss", "libcurl-nss.so.4", TEST_PLUGIN_NSS},
	};
	expect_parts((const char *[]){TEST_DLHOST, u401, u403, TEST_PLUGIN_GNUTLS, TEST_PLUGIN_NSS,
				      NULL},
		     parts, 3);
}

/* The same with the plugins' libraries in the global scope. */
Test(builds, three_builds_rtld_global)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	need_plugin(TEST_PLUGIN_NSS, "libcurl3-nss");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		host_part,
		{"nss", "libcurl-nss.so.4", TEST_PLUGIN_NSS},
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
	};
	expect_parts((const char *[]){TEST_DLHOST, "--flags", "global", u401, u403, TEST_PLUGIN_NSS,
				      TEST_PLUGIN_GNUTLS, NULL},
		     parts, 3);
}

/* A host without libcurl (python3 and pycurl): every libcurl is loaded
 * RTLD_LOCAL, so dlsym(RTLD_NEXT) finds none of them. */
Test(builds, rtld_local_in_a_host_without_libcurl)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	need_plugin(TEST_PLUGIN_NSS, "libcurl3-nss");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
		{"openssl", "libcurl.so.4", TEST_PLUGIN_OPENSSL},
		{"nss", "libcurl-nss.so.4", TEST_PLUGIN_NSS},
	};
	expect_parts((const char *[]){TEST_DLHOST_BARE, u401, u403, TEST_PLUGIN_GNUTLS,
				      TEST_PLUGIN_OPENSSL, TEST_PLUGIN_NSS, NULL},
		     parts, 3);
}

/* RTLD_DEEPBIND (PHP's curl.so): the plugin's libcurl calls would bind to
 * its own libcurl first and pass the preload by. */
Test(builds, rtld_deepbind)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		{"openssl", "libcurl.so.4", TEST_PLUGIN_OPENSSL},
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
	};
	expect_parts((const char *[]){TEST_DLHOST_BARE, "--flags", "deepbind", u401, u403,
				      TEST_PLUGIN_OPENSSL, TEST_PLUGIN_GNUTLS, NULL},
		     parts, 2);
}

/* glibc searches the RUNPATH and $ORIGIN of the object that called dlopen,
 * found from the return address: with the dlopen hook in between, a plugin
 * named bare must still be found in $ORIGIN/plugins. */
Test(builds, origin_relative_plugin)
{
	struct run r;
	run(&r, (const char *[]){"/usr/bin/readelf", "-d", TEST_DLHOST_BARE, NULL}, NULL);
	cr_assert_eq(r.code, 0, "readelf (binutils): %s", r.err);
	cr_assert(strstr(r.out, "(RUNPATH)") && strstr(r.out, "[$ORIGIN/plugins]"),
		  "dlhost-bare should have the RUNPATH $ORIGIN/plugins (not RPATH): %s", r.out);
	run_free(&r);

	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {{"openssl", "libcurl.so.4", "libplugin.so"}};
	expect_parts((const char *[]){TEST_DLHOST_BARE, u401, u403, "libplugin.so", NULL}, parts,
		     1);
}

/* Both at once: a bare name found through $ORIGIN, with RTLD_DEEPBIND. */
Test(builds, origin_relative_plugin_with_deepbind)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		{"openssl", "libcurl.so.4", "libplugin.so"},
		{"gnutls", "libcurl-gnutls.so.4", "libplugin-gnutls.so"},
	};
	expect_parts((const char *[]){TEST_DLHOST_BARE, "--flags", "deepbind", u401, u403,
				      "libplugin.so", "libplugin-gnutls.so", NULL},
		     parts, 2);
}

/* A plugin closed, the next one loaded where it was: the libcurl its calls
 * reach is the one it is linked against, not the one of the object that
 * was there before. */
Test(builds, plugins_closed_and_loaded_again)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	need_plugin(TEST_PLUGIN_NSS, "libcurl3-nss");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	const struct part parts[] = {
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
		{"nss", "libcurl-nss.so.4", TEST_PLUGIN_NSS},
		{"openssl", "libcurl.so.4", TEST_PLUGIN_OPENSSL},
		{"gnutls", "libcurl-gnutls.so.4", TEST_PLUGIN_GNUTLS},
	};
	expect_parts((const char *[]){TEST_DLHOST_BARE, "--dlclose", u401, u403, TEST_PLUGIN_GNUTLS,
				      TEST_PLUGIN_NSS, TEST_PLUGIN_OPENSSL, TEST_PLUGIN_GNUTLS,
				      NULL},
		     parts, 4);
}

/* A bare name with RTLD_DEEPBIND found through LD_LIBRARY_PATH, by a host
 * whose own libcurl (OpenSSL) is in the global scope. */
Test(builds, deepbind_bare_name_through_ld_library_path)
{
	need_plugin(TEST_PLUGIN_GNUTLS, "libcurl3-gnutls");
	need_plugin(TEST_PLUGIN_NSS, "libcurl3-nss");
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	char *dir = strndup(TEST_PLUGIN_GNUTLS, strrchr(TEST_PLUGIN_GNUTLS, '/') - TEST_PLUGIN_GNUTLS);
	/* run() hands the programs this process's environment. */
	cr_assert_eq(setenv("LD_LIBRARY_PATH", dir, 1), 0);
	const struct part parts[] = {
		host_part,
		{"gnutls", "libcurl-gnutls.so.4", "libplugin-gnutls.so"},
		{"nss", "libcurl-nss.so.4", "libplugin-nss.so"},
	};
	expect_parts((const char *[]){TEST_DLHOST, "--flags", "deepbind", u401, u403,
				      "libplugin-gnutls.so", "libplugin-nss.so", NULL},
		     parts, 3);
	free(dir);
}
