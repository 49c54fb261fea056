/* Nothing of the request reaches the log but its method and redacted URL
 * (GitHub issue 6, part 6): no Authorization or Proxy-Authorization value,
 * no cookie, and by default no userinfo, query or fragment.  Each secret is
 * a distinct token, searched for in the whole log, JSON and text, in a file
 * and on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "robust.h"

#define CURL_BIN "/usr/bin/curl"

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(secrets, .init = setup, .fini = teardown, .timeout = 60);

static const char *const tokens[] = {
    "Us3rTok",     /* userinfo: user */
    "Pa55Tok",     /* userinfo: password */
    "Qu3ryTok",    /* query */
    "Fr4gTok",     /* fragment */
    "B3arerTok",   /* Authorization: Bearer */
    "C00kieTok",   /* Cookie header */
    "J4rTok",      /* cookie from curl -b */
    "Pr0xyTok",    /* Proxy-Authorization */
    "QmFzaWNUb2s", /* Authorization: Basic, base64 */
    "Authorization", "Cookie",
};

/* No token appears anywhere in text. */
static void expect_no_secret(const char *text, const char *what)
{
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		cr_expect(!strstr(text, tokens[i]), "%s: %s is in the log:\n%s", what, tokens[i],
		          text);
}

/* The log of argv under the preload, in each format, to a file and to
 * stderr, with every status recorded. */
static void check(const char *what, const char *const argv[], const char *url_mode,
                  size_t min_records)
{
	const char *formats[] = {"json", "text"};
	for (int f = 0; f < 2; f++) {
		for (int to_stderr = 0; to_stderr < 2; to_stderr++) {
			char *log = temp_path("log");
			char *log_var = fmt("AUTHTAP_LOG=%s", to_stderr ? "stderr" : log);
			char *format_var = fmt("AUTHTAP_FORMAT=%s", formats[f]);
			char *desc =
			    fmt("%s, %s to %s", what, formats[f], to_stderr ? "stderr" : "a file");
			struct run r;
			run_both(&r, argv,
			         (const char *[]){preload_var(), log_var, format_var,
			                          "AUTHTAP_STATUS=any", url_mode, NULL},
			         desc);
			size_t len = r.err_len;
			char *text = to_stderr ? r.err : slurp(log, &len);
			cr_assert(text, "%s: no log", desc);
			size_t records =
			    f == 0 ? count_lines(text, "{") : count_lines(text, "authtap[");
			cr_expect_geq(records, min_records, "%s: %zu records:\n%s", desc, records,
			              text);
			expect_no_secret(text, desc);
			if (!to_stderr)
				free(text);
			run_free(&r);
			free(desc);
			free(format_var);
			free(log_var);
			free(log);
		}
	}
}

static char *secret_url(const char *path)
{
	return fmt("http://Us3rTok:Pa55Tok@127.0.0.1:%d%s?token=Qu3ryTok&x=1#Fr4gTok", srv.port,
	           path);
}

Test(secrets, the_client_with_everything_in_the_url_and_a_bearer)
{
	const char *argv[] = {TEST_CLIENT,
	                      "--bearer",
	                      "B3arerTok",
	                      secret_url("/401"),
	                      secret_url("/401-many"),
	                      secret_url("/407"),
	                      secret_url("/403-scope"),
	                      NULL};
	check("client", argv, "AUTHTAP_URL=redacted", 4);
}

Test(secrets, basic_and_digest_credentials)
{
	/* "BasicTok" is QmFzaWNUb2s in base64: the Authorization header of
	 * the second request would carry it. */
	const char *basic[] = {TEST_CLIENT, "--basic", "BasicTok", secret_url("/401"), NULL};
	check("basic sent at once", basic, "AUTHTAP_URL=redacted", 1);
	const char *any[] = {TEST_CLIENT, "--anyauth", "BasicTok", secret_url("/basic"), NULL};
	check("basic after the challenge", any, "AUTHTAP_URL=redacted", 1);
	const char *digest[] = {TEST_CLIENT, "--digest", "Us3rTok:Pa55Tok", secret_url("/digest"),
	                        NULL};
	check("digest", digest, "AUTHTAP_URL=redacted", 1);
}

Test(secrets, the_curl_command_with_headers_and_cookies)
{
	const char *argv[] = {CURL_BIN,
	                      "-s",
	                      "-o",
	                      "/dev/null",
	                      "--noproxy",
	                      "*",
	                      "-H",
	                      "Authorization: Bearer B3arerTok",
	                      "-H",
	                      "Proxy-Authorization: Basic Pr0xyTok",
	                      "-H",
	                      "Cookie: session=C00kieTok",
	                      "-b",
	                      "jar=J4rTok",
	                      secret_url("/401"),
	                      NULL};
	check("curl -H", argv, "AUTHTAP_URL=redacted", 1);
	const char *user[] = {CURL_BIN,    "-s",         "-o",
	                      "/dev/null", "--noproxy",  "*",
	                      "-L",        "-u",         "Us3rTok:Pa55Tok",
	                      "-b",        "jar=J4rTok", secret_url("/redirect-401"),
	                      NULL};
	check("curl -u -L", user, "AUTHTAP_URL=redacted", 1);
}

Test(secrets, the_default_url_is_redacted)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	struct run r;
	run_both(&r, (const char *[]){TEST_CLIENT, secret_url("/401"), NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "default");
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_assert_eq(n, 1);
	char *want = server_url(&srv, "/401");
	cr_expect_str_eq(jstr(recs[0], "url"), want);
	log_free(recs, n);
	run_free(&r);
}

/* AUTHTAP_URL=full (the launcher's --full-url, "keep query and fragment")
 * keeps what locates the resource; the password of the URL is a
 * credential, as much as the Authorization header it becomes. */
Test(secrets, a_full_url_keeps_no_password)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	struct run r;
	run_both(&r, (const char *[]){TEST_CLIENT, secret_url("/401"), NULL},
	         (const char *[]){preload_var(), log_var, "AUTHTAP_URL=full", NULL}, "full");
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_assert_eq(n, 1);
	const char *u = jstr(recs[0], "url");
	cr_expect(strstr(u, "Qu3ryTok") && strstr(u, "Fr4gTok"),
	          "the query or fragment is gone: %s", u);
	cr_expect(!strstr(u, "Pa55Tok"), "the URL's password is in the log: %s", u);
	log_free(recs, n);
	run_free(&r);
}
