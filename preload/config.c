#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned short default_status[] = {401, 403, 407};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void status_defaults(struct config *cfg)
{
	cfg->status_any = false;
	memset(cfg->status, 0, sizeof(cfg->status));
	for (size_t i = 0; i < sizeof(default_status) / sizeof(default_status[0]); i++)
		cfg->status[default_status[i]] = 1;
}

/* "401, 407" or "any"; all or nothing: one bad element rejects the list. */
static bool status_parse(struct config *cfg, const char *s)
{
	unsigned char set[CONFIG_STATUS_MAX + 1] = {0};
	bool any = false, seen = false;

	while (*s) {
		while (is_blank(*s) || *s == ',')
			s++;
		if (!*s)
			break;
		const char *start = s;
		while (*s && *s != ',' && !is_blank(*s))
			s++;
		size_t len = (size_t)(s - start);
		while (is_blank(*s))
			s++;
		if (*s && *s != ',')
			return false;
		if (len == 3 && strncasecmp(start, "any", 3) == 0) {
			any = true;
		} else {
			long v = 0;
			if (len != 3)
				return false;
			for (size_t i = 0; i < len; i++) {
				if (start[i] < '0' || start[i] > '9')
					return false;
				v = v * 10 + (start[i] - '0');
			}
			if (v < CONFIG_STATUS_MIN || v > CONFIG_STATUS_MAX)
				return false;
			set[v] = 1;
		}
		seen = true;
	}
	if (!seen)
		return false;
	cfg->status_any = any;
	memcpy(cfg->status, set, sizeof(set));
	return true;
}

/* "/dev/fd/N", "/dev/stdout": a descriptor the program was started with
 * (the launcher's pipe).  -1 for anything else. */
static int log_fd_parse(const char *v)
{
	if (strcmp(v, "/dev/stdout") == 0)
		return 1;
	if (strncmp(v, "/dev/fd/", 8) != 0 || !v[8])
		return -1;
	long n = 0;
	for (const char *p = v + 8; *p; p++) {
		if (*p < '0' || *p > '9' || n > 1000000)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return (int)n;
}

/* 1 for 1/yes/true, 0 for 0/no/false, 2 when unset or empty, -1 else. */
static int parse_flag(const char *v)
{
	if (!v || !*v)
		return 2;
	if (strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		return 0;
	return -1;
}

/* At most max bytes of v as printable ASCII: a backslash and a quote are
 * escaped, every other byte outside 0x20..0x7e (controls, DEL, all of
 * UTF-8) becomes \xHH, so that a value never reaches a terminal raw. */
static void escape_value(char *out, size_t size, const char *v, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; v[i] && i < max && o + 5 < size; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void warn_value(void (*warn)(const char *), const char *name, const char *value,
                       const char *fallback)
{
	char msg[512], shown[4 * 64 + 8];

	escape_value(shown, sizeof(shown), value, 64);
	snprintf(msg, sizeof(msg), "%s=\"%s\" is not understood; using %s", name, shown, fallback);
	warn(msg);
}

void config_parse(struct config *cfg, config_getenv_fn getenv_fn, void (*warn)(const char *msg))
{
	const char *v;

	memset(cfg, 0, sizeof(*cfg));
	status_defaults(cfg);

	int flag = parse_flag(getenv_fn(AUTHTAP_ENV_DISABLE));
	if (flag == 1) {
		cfg->disabled = true;
		return;
	}
	if (flag < 0)
		warn_value(warn, AUTHTAP_ENV_DISABLE, getenv_fn(AUTHTAP_ENV_DISABLE),
		           "0 (enabled)");

	cfg->verdict = true;
	flag = parse_flag(getenv_fn(AUTHTAP_ENV_VERDICT));
	if (flag == 0)
		cfg->verdict = false;
	else if (flag < 0)
		warn_value(warn, AUTHTAP_ENV_VERDICT, getenv_fn(AUTHTAP_ENV_VERDICT), "1 (on)");

	v = getenv_fn(AUTHTAP_ENV_LOG);
	if (!v || !*v) {
		cfg->sink = CONFIG_SINK_NONE;
	} else if (strcmp(v, "stderr") == 0 || strcmp(v, "/dev/stderr") == 0) {
		cfg->sink = CONFIG_SINK_STDERR;
	} else if ((cfg->fd = log_fd_parse(v)) >= 0) {
		cfg->sink = CONFIG_SINK_FD;
	} else {
		cfg->path = strdup(v);
		cfg->sink = cfg->path ? CONFIG_SINK_FILE : CONFIG_SINK_NONE;
	}

	v = getenv_fn(AUTHTAP_ENV_FORMAT);
	if (v && *v) {
		if (strcasecmp(v, "json") == 0)
			cfg->format = CONFIG_FORMAT_JSON;
		else if (strcasecmp(v, "text") == 0)
			cfg->format = CONFIG_FORMAT_TEXT;
		else
			warn_value(warn, AUTHTAP_ENV_FORMAT, v, "json");
	}

	v = getenv_fn(AUTHTAP_ENV_STATUS);
	if (v && *v && !status_parse(cfg, v))
		warn_value(warn, AUTHTAP_ENV_STATUS, v, "401,403,407");

	v = getenv_fn(AUTHTAP_ENV_URL);
	if (v && *v) {
		if (strcasecmp(v, "full") == 0)
			cfg->url_full = true;
		else if (strcasecmp(v, "redacted") != 0)
			warn_value(warn, AUTHTAP_ENV_URL, v, "redacted");
	}

	/* The log's look. */
	flag = parse_flag(getenv_fn(AUTHTAP_ENV_RAW));
	if (flag == 1)
		cfg->raw = true;
	else if (flag < 0)
		warn_value(warn, AUTHTAP_ENV_RAW, getenv_fn(AUTHTAP_ENV_RAW), "0 (parsed only)");
	flag = parse_flag(getenv_fn(AUTHTAP_ENV_SUMMARY));
	if (flag == 1)
		cfg->summary = true;
	else if (flag < 0)
		warn_value(warn, AUTHTAP_ENV_SUMMARY, getenv_fn(AUTHTAP_ENV_SUMMARY), "0 (none)");
	/* https://no-color.org: present and not empty. */
	v = getenv_fn(AUTHTAP_ENV_NO_COLOR);
	cfg->no_color = v && *v;
	v = getenv_fn(AUTHTAP_ENV_COLOR);
	if (v && *v) {
		if (strcasecmp(v, "always") == 0)
			cfg->color = CONFIG_COLOR_ALWAYS;
		else if (strcasecmp(v, "never") == 0)
			cfg->color = CONFIG_COLOR_NEVER;
		else if (strcasecmp(v, "auto") != 0)
			warn_value(warn, AUTHTAP_ENV_COLOR, v, "auto");
	}

	for (long s = 1; s <= CONFIG_STATUS_MAX; s++)
		cfg->status_skip[s] = !config_status_wanted(cfg, s);
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	cfg->path = NULL;
}
