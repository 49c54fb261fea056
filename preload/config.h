/* Everything authtap reads from the environment, read once. */
#ifndef AUTHTAP_CONFIG_H
#define AUTHTAP_CONFIG_H

#include <stdbool.h>

#define AUTHTAP_ENV_LOG "AUTHTAP_LOG"
#define AUTHTAP_ENV_FORMAT "AUTHTAP_FORMAT"
#define AUTHTAP_ENV_STATUS "AUTHTAP_STATUS"
#define AUTHTAP_ENV_URL "AUTHTAP_URL"
#define AUTHTAP_ENV_DISABLE "AUTHTAP_DISABLE"
#define AUTHTAP_ENV_VERDICT "AUTHTAP_VERDICT"
/* The log's look: text shows the raw header lines too; an exit line on
 * stderr; colour (on a terminal only) unless NO_COLOR is set. */
#define AUTHTAP_ENV_RAW "AUTHTAP_RAW"
#define AUTHTAP_ENV_SUMMARY "AUTHTAP_SUMMARY"
#define AUTHTAP_ENV_COLOR "AUTHTAP_COLOR"
#define AUTHTAP_ENV_NO_COLOR "NO_COLOR"

/* The prefix of every line authtap itself prints. */
#define AUTHTAP_PREFIX "authtap: "

#define CONFIG_STATUS_MIN 100
#define CONFIG_STATUS_MAX 599

enum config_format {
	CONFIG_FORMAT_JSON,
	CONFIG_FORMAT_TEXT,
};

/* AUTHTAP_COLOR: auto colours text on a terminal unless NO_COLOR is set
 * (the launcher, which relays the log through a pipe, decides for it). */
enum config_color {
	CONFIG_COLOR_AUTO,
	CONFIG_COLOR_ALWAYS,
	CONFIG_COLOR_NEVER,
};

enum config_sink {
	CONFIG_SINK_NONE,
	CONFIG_SINK_STDERR,
	CONFIG_SINK_FILE,
	CONFIG_SINK_FD, /* an inherited descriptor: /dev/fd/N, /dev/stdout */
};

struct config {
	bool disabled;
	enum config_sink sink;
	char *path; /* CONFIG_SINK_FILE: the path with %p still in it */
	int fd;     /* CONFIG_SINK_FD */
	enum config_format format;
	bool status_any;
	unsigned char status[CONFIG_STATUS_MAX + 1]; /* 1 for each recorded status */
	/* 1 for each status of a final response that is surely not recorded:
	 * the table the hot path looks at, one load for all of the above. */
	unsigned char status_skip[CONFIG_STATUS_MAX + 1];
	bool url_full;
	bool verdict; /* follow accepted connections for verdicts */
	/* The log's look (AUTHTAP_RAW, AUTHTAP_SUMMARY, NO_COLOR). */
	bool raw;      /* text records repeat the raw header lines */
	bool summary;  /* one exit line on stderr from a process that logged */
	bool no_color; /* NO_COLOR: no colour in auto */
	enum config_color color;
};

typedef const char *(*config_getenv_fn)(const char *name);

/* Fills *cfg from getenv (secure_getenv inside the host).  Each bad value
 * gets one "authtap:" line through warn and its default. */
void config_parse(struct config *cfg, config_getenv_fn getenv_fn, void (*warn)(const char *msg));

/* Asked after every transfer: inline, a few instructions. */
static inline bool config_status_wanted(const struct config *cfg, long status)
{
	if (cfg->status_any)
		return true;
	return status >= CONFIG_STATUS_MIN && status <= CONFIG_STATUS_MAX && cfg->status[status];
}

/* A transfer whose one response had this status has nothing to record.
 * False for 0 (no response: a refused CONNECT may still be recorded). */
static inline bool config_status_skipped(const struct config *cfg, long status)
{
	return (unsigned long)status <= CONFIG_STATUS_MAX && cfg->status_skip[status];
}

void config_free(struct config *cfg);

#endif
