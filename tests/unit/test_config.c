/* Unit tests for preload/config.c.  config_parse() reads the environment
 * through a getenv it is given, so every case is a small table of
 * name=value pairs, and its warnings are collected instead of printed.
 * Each table row is named so that a failure says which input broke. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define MAX_ENV 8
#define MAX_WARN 8

struct env {
	const char *name;
	const char *value;
};

static const struct env *fake_env;
static char warnings[MAX_WARN][512];
static int nwarn;

static const char *fake_getenv(const char *name)
{
	for (const struct env *e = fake_env; e && e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e->value;
	return NULL;
}

static void fake_warn(const char *msg)
{
	if (nwarn < MAX_WARN)
		snprintf(warnings[nwarn], sizeof(warnings[nwarn]), "%s", msg);
	nwarn++;
}

/* Garbage first: config_parse must not rely on what *cfg held before. */
static void parse(struct config *cfg, const struct env *env)
{
	memset(cfg, 0xa5, sizeof(*cfg));
	fake_env = env;
	nwarn = 0;
	config_parse(cfg, fake_getenv, fake_warn);
}

static bool default_status(long s)
{
	return s == 401 || s == 403 || s == 407;
}

static void expect_default_status(const struct config *cfg, const char *what)
{
	cr_expect(!cfg->status_any, "%s: status_any", what);
	for (long s = -1; s <= 1000; s++)
		cr_expect_eq(config_status_wanted(cfg, s), default_status(s),
		             "%s: config_status_wanted(%ld)", what, s);
}

Test(config, defaults)
{
	static const struct env none[] = {{NULL, NULL}};
	struct config cfg;

	parse(&cfg, none);
	cr_expect_eq(nwarn, 0);
	cr_expect(!cfg.disabled);
	cr_expect_eq(cfg.sink, CONFIG_SINK_NONE);
	cr_expect_null(cfg.path);
	cr_expect_eq(cfg.format, CONFIG_FORMAT_JSON);
	cr_expect(!cfg.url_full, "URLs are redacted by default");
	expect_default_status(&cfg, "unset");
	config_free(&cfg);
}

/* Empty values count as unset everywhere. */
Test(config, empty_values_are_unset)
{
	static const struct env empty[] = {
	    {AUTHTAP_ENV_LOG, ""}, {AUTHTAP_ENV_FORMAT, ""},  {AUTHTAP_ENV_STATUS, ""},
	    {AUTHTAP_ENV_URL, ""}, {AUTHTAP_ENV_DISABLE, ""}, {NULL, NULL},
	};
	struct config cfg;

	parse(&cfg, empty);
	cr_expect_eq(nwarn, 0, "first warning: %s", nwarn ? warnings[0] : "");
	cr_expect(!cfg.disabled);
	cr_expect_eq(cfg.sink, CONFIG_SINK_NONE);
	cr_expect_null(cfg.path);
	cr_expect_eq(cfg.format, CONFIG_FORMAT_JSON);
	cr_expect(!cfg.url_full);
	expect_default_status(&cfg, "empty");
	config_free(&cfg);
}

struct log_case {
	const char *name;
	const char *value; /* NULL: unset */
	enum config_sink sink;
	const char *path;
	int fd; /* CONFIG_SINK_FD */
};

static const struct log_case log_cases[] = {
    {"unset", NULL, CONFIG_SINK_NONE, NULL, 0},
    {"empty", "", CONFIG_SINK_NONE, NULL, 0},
    {"stderr", "stderr", CONFIG_SINK_STDERR, NULL, 0},
    {"absolute path", "/tmp/authtap.log", CONFIG_SINK_FILE, "/tmp/authtap.log", 0},
    {"path with %p kept", "/var/tmp/at-%p.jsonl", CONFIG_SINK_FILE, "/var/tmp/at-%p.jsonl", 0},
    {"relative path", "auth.log", CONFIG_SINK_FILE, "auth.log", 0},
    {"/dev/stderr", "/dev/stderr", CONFIG_SINK_STDERR, NULL, 0},
    {"/dev/stdout", "/dev/stdout", CONFIG_SINK_FD, NULL, 1},
    {"an inherited descriptor", "/dev/fd/7", CONFIG_SINK_FD, NULL, 7},
    {"/dev/fd/ without a number", "/dev/fd/x", CONFIG_SINK_FILE, "/dev/fd/x", 0},
};

Test(config, log)
{
	for (size_t i = 0; i < sizeof(log_cases) / sizeof(log_cases[0]); i++) {
		const struct log_case *c = &log_cases[i];
		struct env env[] = {{AUTHTAP_ENV_LOG, c->value}, {NULL, NULL}};
		struct config cfg;

		parse(&cfg, c->value ? env : env + 1);
		cr_expect_eq(nwarn, 0, "%s: warnings", c->name);
		cr_expect_eq(cfg.sink, c->sink, "%s: sink %d, want %d", c->name, cfg.sink, c->sink);
		if (c->sink == CONFIG_SINK_FD)
			cr_expect_eq(cfg.fd, c->fd, "%s: fd %d", c->name, cfg.fd);
		if (c->path) {
			cr_expect(cfg.path && strcmp(cfg.path, c->path) == 0, "%s: path \"%s\"",
			          c->name, cfg.path ? cfg.path : "(null)");
			cr_expect_neq((const char *)cfg.path, c->value, "%s: path is a copy",
			              c->name);
		} else {
			cr_expect_null(cfg.path, "%s: path", c->name);
		}
		config_free(&cfg);
	}
}

struct format_case {
	const char *name;
	const char *value;
	enum config_format format;
	int nwarn;
};

static const struct format_case format_cases[] = {
    {"json", "json", CONFIG_FORMAT_JSON, 0},
    {"text", "text", CONFIG_FORMAT_TEXT, 0},
    {"JSON upper case", "JSON", CONFIG_FORMAT_JSON, 0},
    {"Text mixed case", "Text", CONFIG_FORMAT_TEXT, 0},
    {"empty", "", CONFIG_FORMAT_JSON, 0},
    {"unknown", "xml", CONFIG_FORMAT_JSON, 1},
    {"leading blank", " text", CONFIG_FORMAT_JSON, 1},
    {"prefix only", "tex", CONFIG_FORMAT_JSON, 1},
    {"trailing junk", "jsonl", CONFIG_FORMAT_JSON, 1},
};

Test(config, format)
{
	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		const struct format_case *c = &format_cases[i];
		struct env env[] = {{AUTHTAP_ENV_FORMAT, c->value}, {NULL, NULL}};
		struct config cfg;

		parse(&cfg, env);
		cr_expect_eq(cfg.format, c->format, "%s: format", c->name);
		cr_expect_eq(nwarn, c->nwarn, "%s: %d warnings, want %d", c->name, nwarn, c->nwarn);
		if (c->nwarn && nwarn) {
			cr_expect(strstr(warnings[0], AUTHTAP_ENV_FORMAT), "%s: \"%s\"", c->name,
			          warnings[0]);
			cr_expect(strstr(warnings[0], c->value), "%s: value quoted: \"%s\"",
			          c->name, warnings[0]);
		}
		/* A bad format must not disturb anything else. */
		cr_expect(!cfg.disabled, "%s: disabled", c->name);
		expect_default_status(&cfg, c->name);
		config_free(&cfg);
	}
}

#define MAX_STATUS 4

struct status_case {
	const char *name;
	const char *value;
	bool any;
	long want[MAX_STATUS]; /* 0-terminated; all zero: the default set */
	int nwarn;
};

static const struct status_case status_cases[] = {
    {"one", "401", false, {401}, 0},
    {"two with blank", "401, 407", false, {401, 407}, 0},
    {"any", "any", true, {0}, 0},
    {"ANY upper case", "ANY", true, {0}, 0},
    {"blanks around", " 500 ,401 ", false, {500, 401}, 0},
    {"tabs", "\t403\t,\t407", false, {403, 407}, 0},
    {"trailing comma", "401,", false, {401}, 0},
    {"lowest", "100", false, {100}, 0},
    {"highest", "599", false, {599}, 0},
    {"empty is unset", "", false, {0}, 0},
    {"letters", "abc", false, {0}, 1},
    {"four digits", "4011", false, {0}, 1},
    {"two digits", "99", false, {0}, 1},
    {"leading zero", "099", false, {0}, 1},
    {"too high", "600", false, {0}, 1},
    {"semicolon", "401;403", false, {0}, 1},
    {"lone comma", ",", false, {0}, 1},
    {"blank only", " ", false, {0}, 1},
    {"signed", "+401", false, {0}, 1},
    {"one bad rejects all", "401,abc", false, {0}, 1},
    {"letter O for zero", "4O1", false, {0}, 1},
};

Test(config, status)
{
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];
		struct env env[] = {{AUTHTAP_ENV_STATUS, c->value}, {NULL, NULL}};
		struct config cfg;

		parse(&cfg, env);
		cr_expect_eq(nwarn, c->nwarn, "%s: %d warnings, want %d", c->name, nwarn, c->nwarn);
		if (c->nwarn && nwarn)
			cr_expect(strstr(warnings[0], AUTHTAP_ENV_STATUS), "%s: \"%s\"", c->name,
			          warnings[0]);
		if (c->any) {
			cr_expect(cfg.status_any, "%s: status_any", c->name);
			for (long s = CONFIG_STATUS_MIN; s <= CONFIG_STATUS_MAX; s++)
				cr_expect(config_status_wanted(&cfg, s), "%s: %ld wanted", c->name,
				          s);
		} else if (!c->want[0]) {
			expect_default_status(&cfg, c->name);
		} else {
			cr_expect(!cfg.status_any, "%s: status_any", c->name);
			for (long s = -1; s <= 1000; s++) {
				bool want = false;
				for (int k = 0; k < MAX_STATUS && c->want[k]; k++)
					want |= c->want[k] == s;
				cr_expect_eq(config_status_wanted(&cfg, s), want,
				             "%s: config_status_wanted(%ld)", c->name, s);
			}
		}
		config_free(&cfg);
	}
}

struct url_case {
	const char *name;
	const char *value;
	bool full;
	int nwarn;
};

static const struct url_case url_cases[] = {
    {"full", "full", true, 0},
    {"FULL", "FULL", true, 0},
    {"redacted", "redacted", false, 0},
    {"Redacted", "Redacted", false, 0},
    {"empty", "", false, 0},
    {"unknown", "all", false, 1},
    {"yes is not full", "yes", false, 1},
};

Test(config, url)
{
	for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		const struct url_case *c = &url_cases[i];
		struct env env[] = {{AUTHTAP_ENV_URL, c->value}, {NULL, NULL}};
		struct config cfg;

		parse(&cfg, env);
		cr_expect_eq(cfg.url_full, c->full, "%s: url_full", c->name);
		cr_expect_eq(nwarn, c->nwarn, "%s: %d warnings, want %d", c->name, nwarn, c->nwarn);
		if (c->nwarn && nwarn)
			cr_expect(strstr(warnings[0], AUTHTAP_ENV_URL), "%s: \"%s\"", c->name,
			          warnings[0]);
		config_free(&cfg);
	}
}

struct disable_case {
	const char *name;
	const char *value;
	bool disabled;
	int nwarn;
};

static const struct disable_case disable_cases[] = {
    {"1", "1", true, 0},
    {"yes", "yes", true, 0},
    {"YES", "YES", true, 0},
    {"true", "true", true, 0},
    {"True", "True", true, 0},
    {"0", "0", false, 0},
    {"no", "no", false, 0},
    {"false", "false", false, 0},
    {"FALSE", "FALSE", false, 0},
    {"empty", "", false, 0},
    {"2", "2", false, 1},
    {"on", "on", false, 1},
    {"yes with blank", "yes ", false, 1},
};

Test(config, disable)
{
	for (size_t i = 0; i < sizeof(disable_cases) / sizeof(disable_cases[0]); i++) {
		const struct disable_case *c = &disable_cases[i];
		struct env env[] = {
		    {AUTHTAP_ENV_DISABLE, c->value},
		    {AUTHTAP_ENV_LOG, "stderr"},
		    {NULL, NULL},
		};
		struct config cfg;

		parse(&cfg, env);
		cr_expect_eq(cfg.disabled, c->disabled, "%s: disabled", c->name);
		cr_expect_eq(nwarn, c->nwarn, "%s: %d warnings, want %d", c->name, nwarn, c->nwarn);
		if (c->nwarn && nwarn)
			cr_expect(strstr(warnings[0], AUTHTAP_ENV_DISABLE), "%s: \"%s\"", c->name,
			          warnings[0]);
		/* Still enabled after a bad value: the rest is read as usual. */
		if (!c->disabled)
			cr_expect_eq(cfg.sink, CONFIG_SINK_STDERR, "%s: sink", c->name);
		config_free(&cfg);
	}
}

Test(config, everything_set)
{
	static const struct env env[] = {
	    {AUTHTAP_ENV_LOG, "/tmp/x-%p.log"},
	    {AUTHTAP_ENV_FORMAT, "text"},
	    {AUTHTAP_ENV_STATUS, "407"},
	    {AUTHTAP_ENV_URL, "full"},
	    {AUTHTAP_ENV_DISABLE, "0"},
	    {"AUTHTAP_UNRELATED", "whatever"},
	    {NULL, NULL},
	};
	struct config cfg;

	parse(&cfg, env);
	cr_expect_eq(nwarn, 0);
	cr_expect(!cfg.disabled);
	cr_expect_eq(cfg.sink, CONFIG_SINK_FILE);
	cr_expect_str_eq(cfg.path, "/tmp/x-%p.log");
	cr_expect_eq(cfg.format, CONFIG_FORMAT_TEXT);
	cr_expect(cfg.url_full);
	cr_expect(config_status_wanted(&cfg, 407));
	cr_expect(!config_status_wanted(&cfg, 401));
	cr_expect(!config_status_wanted(&cfg, 403));
	config_free(&cfg);
}

/* One warning per bad variable, each naming its variable. */
Test(config, one_warning_each)
{
	static const struct env env[] = {
	    {AUTHTAP_ENV_FORMAT, "yaml"},
	    {AUTHTAP_ENV_STATUS, "4xx"},
	    {AUTHTAP_ENV_URL, "some"},
	    {AUTHTAP_ENV_DISABLE, "maybe"},
	    {NULL, NULL},
	};
	static const char *const names[] = {
	    AUTHTAP_ENV_FORMAT,
	    AUTHTAP_ENV_STATUS,
	    AUTHTAP_ENV_URL,
	    AUTHTAP_ENV_DISABLE,
	};
	struct config cfg;

	parse(&cfg, env);
	cr_assert_eq(nwarn, 4);
	for (size_t k = 0; k < 4; k++) {
		int hits = 0;
		for (int w = 0; w < nwarn; w++)
			hits += strstr(warnings[w], names[k]) != NULL;
		cr_expect_eq(hits, 1, "%s named by %d warnings", names[k], hits);
	}
	cr_expect(!cfg.disabled);
	cr_expect_eq(cfg.format, CONFIG_FORMAT_JSON);
	cr_expect(!cfg.url_full);
	expect_default_status(&cfg, "bad");
	config_free(&cfg);
}

/* A huge bad value still gives one bounded warning line. */
Test(config, long_bad_value)
{
	static char big[8192];
	struct env env[] = {{AUTHTAP_ENV_FORMAT, big}, {NULL, NULL}};
	struct config cfg;

	memset(big, 'x', sizeof(big) - 1);
	parse(&cfg, env);
	cr_assert_eq(nwarn, 1);
	cr_expect(strstr(warnings[0], AUTHTAP_ENV_FORMAT));
	cr_expect(strchr(warnings[0], '\n') == NULL, "the warning is one line");
	cr_expect_eq(cfg.format, CONFIG_FORMAT_JSON);
	config_free(&cfg);
}

Test(config, status_wanted_bounds)
{
	static const struct env env[] = {{AUTHTAP_ENV_STATUS, "100,599"}, {NULL, NULL}};
	struct config cfg;

	parse(&cfg, env);
	cr_expect(config_status_wanted(&cfg, 100));
	cr_expect(config_status_wanted(&cfg, 599));
	cr_expect(!config_status_wanted(&cfg, 0));
	cr_expect(!config_status_wanted(&cfg, -401));
	cr_expect(!config_status_wanted(&cfg, 600));
	cr_expect(!config_status_wanted(&cfg, 100 + 1000));
	cr_expect(!config_status_wanted(&cfg, 0x7fffffffL));
	config_free(&cfg);
}

Test(config, free)
{
	static const struct env file[] = {{AUTHTAP_ENV_LOG, "/tmp/f"}, {NULL, NULL}};
	static const struct env none[] = {{NULL, NULL}};
	struct config cfg;

	parse(&cfg, file);
	cr_assert_not_null(cfg.path);
	config_free(&cfg);
	cr_expect_null(cfg.path);
	config_free(&cfg); /* twice is harmless */
	cr_expect_null(cfg.path);

	parse(&cfg, none);
	config_free(&cfg);
	cr_expect_null(cfg.path);
}

/* The hot path's table must agree with config_status_wanted for every
 * status a response can have, and send everything else (no response,
 * codes out of range) down the full path. */
Test(config, status_skipped_agrees_with_wanted)
{
	static const struct env dflt[] = {{NULL, NULL}};
	static const struct env list[] = {{AUTHTAP_ENV_STATUS, "200, 418"}, {NULL, NULL}};
	static const struct env any[] = {{AUTHTAP_ENV_STATUS, "any"}, {NULL, NULL}};
	static const struct env off[] = {{AUTHTAP_ENV_DISABLE, "1"}, {NULL, NULL}};
	const struct env *envs[] = {dflt, list, any, off};
	struct config cfg;

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		parse(&cfg, envs[i]);
		for (long s = -2; s <= 1000; s++) {
			bool want = s >= 1 && s <= CONFIG_STATUS_MAX && !cfg.disabled &&
			            !config_status_wanted(&cfg, s);
			cr_expect_eq(config_status_skipped(&cfg, s), want,
			             "env %zu: config_status_skipped(%ld)", i, s);
		}
		cr_expect(!config_status_skipped(&cfg, 0x7fffffffL));
		cr_expect(!config_status_skipped(&cfg, -0x7fffffffL));
		config_free(&cfg);
	}
}

/* GitHub issue 12, item 4: a warning echoes the value, and the value is
 * whatever the environment held: escape sequences, DEL, C1 controls, a
 * bidi override must never reach the terminal raw. */
Test(config, warnings_escape_the_values_they_echo)
{
	static const char *const hostile[] = {
	    "\x1b]0;owned\x07",   /* OSC: sets the terminal's title */
	    "x\x1b[2Jy",          /* clears the screen */
	    "a\nauthtap: forged", /* a second, forged line */
	    "del\x7f",            /* DEL */
	    "c1\xc2\x9b"
	    "31m",              /* C1 CSI */
	    "bidi\xe2\x80\xae", /* U+202E RIGHT-TO-LEFT OVERRIDE */
	    "\xff\xfe",         /* not UTF-8 */
	};
	const char *vars[] = {AUTHTAP_ENV_FORMAT,  AUTHTAP_ENV_STATUS, AUTHTAP_ENV_URL,
	                      AUTHTAP_ENV_VERDICT, AUTHTAP_ENV_RAW,    AUTHTAP_ENV_SUMMARY};

	for (size_t v = 0; v < sizeof(vars) / sizeof(vars[0]); v++) {
		for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
			struct env env[] = {{vars[v], hostile[i]}, {NULL, NULL}};
			struct config cfg;

			parse(&cfg, env);
			cr_expect_eq(nwarn, 1, "%s case %zu: %d warnings", vars[v], i, nwarn);
			for (const char *p = warnings[0]; *p; p++) {
				unsigned char c = (unsigned char)*p;
				cr_expect(c >= 0x20 && c < 0x7f,
				          "%s case %zu: byte 0x%02x in the warning: %s", vars[v], i,
				          c, warnings[0]);
				if (!(c >= 0x20 && c < 0x7f))
					break;
			}
			config_free(&cfg);
		}
	}
}

Test(config, look_of_the_log)
{
	struct config cfg;

	parse(&cfg, (const struct env[]){{NULL, NULL}});
	cr_expect(!cfg.raw && !cfg.summary && !cfg.no_color);
	config_free(&cfg);
	parse(&cfg, (const struct env[]){{AUTHTAP_ENV_RAW, "1"},
	                                 {AUTHTAP_ENV_SUMMARY, "yes"},
	                                 {AUTHTAP_ENV_NO_COLOR, "1"},
	                                 {NULL, NULL}});
	cr_expect(cfg.raw && cfg.summary && cfg.no_color);
	cr_expect_eq(nwarn, 0);
	config_free(&cfg);
	/* NO_COLOR set but empty does not count (no-color.org). */
	parse(&cfg, (const struct env[]){{AUTHTAP_ENV_NO_COLOR, ""}, {NULL, NULL}});
	cr_expect(!cfg.no_color);
	config_free(&cfg);
}

/* AUTHTAP_COLOR: the launcher relays the log through a pipe and decides. */
Test(config, color)
{
	static const struct {
		const char *value;
		enum config_color color;
		int nwarn;
	} cases[] = {
	    {NULL, CONFIG_COLOR_AUTO, 0},       {"auto", CONFIG_COLOR_AUTO, 0},
	    {"always", CONFIG_COLOR_ALWAYS, 0}, {"NEVER", CONFIG_COLOR_NEVER, 0},
	    {"rainbow", CONFIG_COLOR_AUTO, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env env[] = {{AUTHTAP_ENV_COLOR, cases[i].value}, {NULL, NULL}};
		struct config cfg;
		parse(&cfg, env);
		cr_expect_eq(cfg.color, cases[i].color, "%s", cases[i].value);
		cr_expect_eq(nwarn, cases[i].nwarn, "%s", cases[i].value);
		config_free(&cfg);
	}
}
