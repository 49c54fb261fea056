/* Unit tests for preload/url.c: what the log may say about a URL.  The
 * cases are a table; the snprintf contract is checked for every buffer
 * size, with guard bytes behind the buffer. */
#include <criterion/criterion.h>
#include <string.h>

#include "url.h"

struct redact_case {
	const char *name;
	const char *in;
	const char *want;
};

static const struct redact_case redact_cases[] = {
    {"plain", "http://example.com/a/b", "http://example.com/a/b"},
    {"userinfo", "https://user:secret@example.com/a", "https://example.com/a"},
    {"user only", "http://user@example.com/", "http://example.com/"},
    {"query", "http://example.com/a?token=x", "http://example.com/a"},
    {"fragment", "http://example.com/a#frag", "http://example.com/a"},
    {"all three", "http://user:secret@host:8080/a/b?token=x#f", "http://host:8080/a/b"},
    {"fragment before query", "http://h/p#f?x=1", "http://h/p"},
    {"ipv6", "http://[::1]:8080/p?q", "http://[::1]:8080/p"},
    {"ipv6 with userinfo", "http://u:p@[2001:db8::1]/x#y", "http://[2001:db8::1]/x"},
    {"no path", "http://example.com", "http://example.com"},
    {"no path, query", "http://example.com?q=1", "http://example.com"},
    {"no path, userinfo and fragment", "http://u:p@example.com#f", "http://example.com"},
    {"no scheme", "example.com/p?q=1", "example.com/p"},
    {"no scheme, userinfo", "user:pw@example.com/p", "example.com/p"},
    {"at in path", "http://h/a@b", "http://h/a@b"},
    {"at in query", "http://h/?x=a@b", "http://h/"},
    {"at in query, no path", "http://h?x=a@b", "http://h"},
    {"at in fragment", "http://h/p#a@b", "http://h/p"},
    {"at in password", "http://u:p@ss@host/x", "http://host/x"},
    {"url in query", "http://h/login?next=http://u:p@evil/x", "http://h/login"},
    /* Without a scheme the "://" of a URL in the query must not be taken
     * for the scheme's: the query and the userinfo stay out. */
    {"no scheme, url in query", "h/login?next=http://evil/x", "h/login"},
    {"no scheme, userinfo, url in query", "u:secret@h/p?r=http://x", "h/p"},
    {"case kept", "HTTPS://Example.COM/Path", "HTTPS://Example.COM/Path"},
    {"file", "file:///etc/hosts?x", "file:///etc/hosts"},
    {"only query", "?a=b", ""},
    {"empty", "", ""},
};

Test(url, redact)
{
	for (size_t i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]); i++) {
		const struct redact_case *c = &redact_cases[i];
		char out[256];

		memset(out, 'Z', sizeof(out));
		size_t n = url_redact(c->in, out, sizeof(out), false);
		cr_expect_str_eq(out, c->want, "%s: \"%s\" gave \"%s\", want \"%s\"", c->name,
		                 c->in, out, c->want);
		cr_expect_eq(n, strlen(c->want), "%s: returned %zu, want %zu", c->name, n,
		             strlen(c->want));
	}
}

/* Size 0 writes nothing, NULL included, and tells the length to allocate:
 * that is how the capture code sizes its buffer. */
Test(url, size_zero)
{
	for (size_t i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]); i++) {
		const struct redact_case *c = &redact_cases[i];
		char guard = 'G';

		cr_expect_eq(url_redact(c->in, NULL, 0, false), strlen(c->want), "%s: NULL, 0",
		             c->name);
		cr_expect_eq(url_redact(c->in, &guard, 0, false), strlen(c->want), "%s", c->name);
		cr_expect_eq(guard, 'G', "%s: size 0 wrote to dst", c->name);
	}
}

/* Every size from 0 to past the end: a NUL-terminated prefix, nothing
 * written past size, the full length returned. */
Test(url, every_size)
{
	static const char in[] = "https://user:secret@example.com:8443/some/path?token=x#frag";
	static const char want[] = "https://example.com:8443/some/path";
	const size_t len = sizeof(want) - 1;

	for (size_t size = 0; size <= len + 3; size++) {
		char out[sizeof(want) + 16];

		memset(out, 'Z', sizeof(out));
		cr_expect_eq(url_redact(in, out, size, false), len, "size %zu", size);
		if (size) {
			size_t n = size - 1 < len ? size - 1 : len;
			cr_expect(memcmp(out, want, n) == 0, "size %zu: prefix", size);
			cr_expect_eq(out[n], '\0', "size %zu: NUL at %zu", size, n);
			for (size_t k = size; k < sizeof(out); k++)
				cr_expect_eq(out[k], 'Z', "size %zu: byte %zu written", size, k);
		} else {
			cr_expect_eq(out[0], 'Z', "size 0: wrote");
		}
	}
}

/* The result can be written over a buffer sized by the first call. */
Test(url, two_calls)
{
	static const char in[] = "http://a:b@[::1]:1/x?y#z";
	size_t n = url_redact(in, NULL, 0, false);
	char out[64];

	cr_assert_lt(n, sizeof(out));
	cr_expect_eq(url_redact(in, out, n + 1, false), n);
	cr_expect_str_eq(out, "http://[::1]:1/x");
}

/* AUTHTAP_URL=full keeps query and fragment, never the password. */
Test(url, full_keeps_the_query_not_the_userinfo)
{
	char out[128];

	cr_expect_eq(url_redact("http://u:secret@h:1/p?q=1#f", out, sizeof(out), true),
	             strlen("http://h:1/p?q=1#f"));
	cr_expect_str_eq(out, "http://h:1/p?q=1#f");
	url_redact("http://h/p?next=a@b", out, sizeof(out), true);
	cr_expect_str_eq(out, "http://h/p?next=a@b");
}

/* capture.c logs a URL without '@', '?' or '#' as it is, without calling
 * url_redact: that must be what url_redact would give, and a URL with one
 * of them must go through it. */
Test(url, plain_is_its_own_redaction)
{
	static const char *const plain[] = {
	    "http://127.0.0.1:8080/401",
	    "https://h/a/b:c//d",
	    "h:80/x",
	    "mailto:x",
	    "",
	    "http://",
	    "file:///tmp/x",
	    "http://h:1/x://y",
	};
	static const char *const not_plain[] = {
	    "http://u@h/",
	    "http://h/?q",
	    "http://h/#f",
	    "http://u:p@h:1/x?y#z",
	};
	char out[256];

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		cr_expect_eq(plain[i][strcspn(plain[i], "@?#")], '\0');
		for (int full = 0; full < 2; full++) {
			url_redact(plain[i], out, sizeof(out), full);
			cr_expect_str_eq(out, plain[i], "\"%s\" (full %d)", plain[i], full);
		}
	}
	for (size_t i = 0; i < sizeof(not_plain) / sizeof(not_plain[0]); i++) {
		cr_expect_neq(not_plain[i][strcspn(not_plain[i], "@?#")], '\0');
		url_redact(not_plain[i], out, sizeof(out), false);
		cr_expect_str_neq(out, not_plain[i], "\"%s\"", not_plain[i]);
	}
}
