/* A host that loads libcurl plugins at run time, for authtap's tests.
 *
 *   dlhost [--flags local|global|deepbind] [--dlclose] EASY_URL MULTI_URL [PLUGIN...]
 *
 * Built twice: tests/dlhost links the OpenSSL libcurl and first does its
 * own two transfers (tests/programs/plugin.c compiled in as "main");
 * tests/dlhost-bare (DLHOST_BARE) links no libcurl at all, as python3 does
 * not, and has the RUNPATH $ORIGIN/plugins, so that a plugin given by bare
 * name is found there, by glibc, only if it sees this program as the caller
 * of dlopen.  Then each PLUGIN is dlopen'ed with the flags (RTLD_NOW plus
 * RTLD_LOCAL, RTLD_GLOBAL or RTLD_LOCAL | RTLD_DEEPBIND) and its plugin_run
 * does the same two transfers through its own libcurl build.  With
 * --dlclose each plugin is closed after its run, so the next one may be
 * mapped where it was. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"

typedef int (*plugin_fn)(const char *easy_url, const char *multi_url);

#ifndef DLHOST_BARE
int host_run(const char *easy_url, const char *multi_url);
#endif

static void usage(void)
{
	fputs("usage: dlhost [--flags local|global|deepbind] [--dlclose] EASY_URL MULTI_URL "
	      "[PLUGIN...]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	int flags = RTLD_NOW | RTLD_LOCAL;
	int i = 1, rc = 0;
	bool close_each = false;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--dlclose") == 0) {
			close_each = true;
			continue;
		}
		if (strcmp(argv[i], "--flags") != 0 || i + 1 >= argc) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(argv[i], "local") == 0)
			flags = RTLD_NOW | RTLD_LOCAL;
		else if (strcmp(argv[i], "global") == 0)
			flags = RTLD_NOW | RTLD_GLOBAL;
		else if (strcmp(argv[i], "deepbind") == 0)
			flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
		else {
			usage();
			return 2;
		}
	}
	if (argc - i < 2) {
		usage();
		return 2;
	}
	const char *easy_url = argv[i], *multi_url = argv[i + 1];

#ifndef DLHOST_BARE
	if (host_run(easy_url, multi_url))
		rc = 1;
#endif
	for (i += 2; i < argc; i++) {
		void *lib = dlopen(argv[i], flags);

		if (!lib) {
			printf("dlopen %s failed: %s\n", argv[i], dlerror());
			rc = 1;
			continue;
		}
		dlerror();
		plugin_fn run = (plugin_fn)dlsym(lib, PLUGIN_SYMBOL);
		if (!run) {
			printf("dlsym %s failed\n", argv[i]);
			rc = 1;
			continue;
		}
		printf("loaded %s\n", argv[i]);
		fflush(stdout);
		if (run(easy_url, multi_url))
			rc = 1;
		if (close_each && dlclose(lib)) {
			printf("dlclose %s failed: %s\n", argv[i], dlerror());
			rc = 1;
		}
	}
	fflush(stdout);
	return rc;
}
