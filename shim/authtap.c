/* authtap [options] [--] COMMAND [ARG...]: runs COMMAND with libauthtap.so
 * preloaded and its log configured, then gets out of the way (exec), so the
 * exit status, pid and signals are COMMAND's own. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher-config.h"

static const char usage[] =
	"usage: authtap [-o PATH] [-f json|text] [-s LIST] [--full-url] [--] COMMAND [ARG...]\n"
	"\n"
	"Runs COMMAND with libauthtap.so preloaded: every upstream response that asks for\n"
	"authentication (401, 403, 407 with WWW-Authenticate or Proxy-Authenticate) that\n"
	"COMMAND receives through libcurl is logged.\n"
	"\n"
	"  -o PATH       append records to PATH (created 0600; %p becomes the pid);\n"
	"                default: stderr\n"
	"  -f FORMAT     json or text (default: text on stderr, json to a file)\n"
	"  -s LIST       statuses to record, e.g. 401,407, or any (default 401,403,407)\n"
	"  --full-url    log URLs with query and fragment (default: redacted)\n"
	"  -h, --help    show this help\n"
	"  --version     show the version\n";

static void die(int code, const char *fmt, const char *arg)
{
	fputs("authtap: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(code);
}

/* The library this launcher goes with: the build tree's when it runs from
 * the build tree, else the installed one.  Never a path relative to the
 * current directory. */
static const char *library_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		if (strcmp(self, AUTHTAP_BUILD_LAUNCHER) == 0)
			return AUTHTAP_BUILD_LIBRARY;
	}
	return AUTHTAP_INSTALLED_LIBRARY;
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		die(2, "cannot resolve -o %s: no current directory", path);
	char *out;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		die(2, "out of memory%s", "");
	free(cwd);
	return out;
}

static void set(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0)
		die(2, "cannot set %s", name);
}

int main(int argc, char **argv)
{
	const char *out = NULL, *format = NULL, *status = NULL;
	bool full_url = false;
	int i = 1;

	/* Options end at the first word that is not one, so that
	 * `authtap curl -s URL` hands -s to curl. */
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("authtap %s\n", AUTHTAP_VERSION);
			return 0;
		} else if (strcmp(a, "--full-url") == 0) {
			full_url = true;
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "-s") == 0) {
			if (i + 1 >= argc)
				die(2, "%s needs a value (see authtap --help)", a);
			const char *v = argv[++i];
			if (a[1] == 'o')
				out = v;
			else if (a[1] == 'f')
				format = v;
			else
				status = v;
		} else if (a[0] == '-' && a[1] != '\0') {
			die(2, "unknown option %s (see authtap --help)", a);
		} else {
			break;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0)
		die(2, "-f takes json or text, not %s", format);

	const char *lib = library_path();
	if (strpbrk(lib, ": \t"))
		die(2, "refusing the library path %s: LD_PRELOAD cannot hold ':' or spaces", lib);
	if (access(lib, R_OK) != 0)
		die(2, "cannot find the library %s", lib);

	const char *old = getenv("LD_PRELOAD");
	char *preload;
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0)
		die(2, "out of memory%s", "");
	set("LD_PRELOAD", preload);

	if (out) {
		char *path = absolute(out);
		set("AUTHTAP_LOG", path);
		set("AUTHTAP_FORMAT", format ? format : "json");
	} else {
		set("AUTHTAP_LOG", "stderr");
		set("AUTHTAP_FORMAT", format ? format : "text");
	}
	if (status)
		set("AUTHTAP_STATUS", status);
	if (full_url)
		set("AUTHTAP_URL", "full");

	execvp(argv[i], argv + i);
	int err = errno;
	fprintf(stderr, "authtap: %s: %s\n", argv[i], strerror(err));
	return err == ENOENT ? 127 : 126;
}
