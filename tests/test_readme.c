/* The README's examples run as shown (GitHub issue 15 item 1).
 *
 * Every ```console block is run: each "$ " line is a command (a line ending
 * in a backslash goes on), the lines after it until the next command are
 * what it prints on a terminal (a pseudo-terminal here, its colours taken
 * out), stdout and stderr together.  The commands run in a fresh
 * directory where build/ is this build, against the demo's upstream
 * (examples/upstream.c), which the README starts on port 9000 and this test
 * on an ephemeral one.  What differs from run to run is normalised on both
 * sides: pids, thread ids, timestamps, handles and the port; the directory
 * shows as /home/you/authtap.  The expected
 * output is the README's own, so that the test follows the README's text.
 *
 * Every ```sh block is checked more lightly: each program it names by a
 * path (examples/demo.sh, build/shim/authtap) exists. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "terminal.h"

TestSuite(readme, .timeout = 120);

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot read %s", path);
	char *s = NULL;
	size_t cap = 0, len = 0;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			s = realloc(s, cap);
			cr_assert(s);
		}
		memcpy(s + len, buf, n);
		len += n;
	}
	fclose(f);
	if (!s)
		s = calloc(1, 1);
	s[len] = '\0';
	return s;
}

/* s with every "from" replaced by "to"; frees s. */
static char *replace(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	for (const char *p = s; (p = strstr(p, from)); p += fl)
		n++;
	char *out = malloc(strlen(s) + n * (tl + 1) + 1), *o = out;
	cr_assert(out);
	const char *p = s, *q;
	while ((q = strstr(p, from))) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	strcpy(o, p);
	free(s);
	return out;
}

/* Replaces what follows each key up to the first byte of stop (or a
 * non-digit when stop is NULL) by "…". */
static char *blank_after(char *s, const char *key, const char *stop)
{
	size_t kl = strlen(key);
	char *out = malloc(strlen(s) + 1), *o = out;
	cr_assert(out);
	const char *p = s;
	while (*p) {
		if (strncmp(p, key, kl) != 0) {
			*o++ = *p++;
			continue;
		}
		memcpy(o, key, kl);
		o += kl;
		p += kl;
		const char *e = p;
		if (stop)
			e += strcspn(p, stop);
		else
			while (*e >= '0' && *e <= '9')
				e++;
		if (e == p) /* nothing to blank: not this pattern */
			continue;
		memcpy(o, "…", strlen("…"));
		o += strlen("…");
		p = e;
	}
	*o = '\0';
	free(s);
	return out;
}

/* Without the terminal's colours: "\x1b[...m". */
static char *uncolour(char *s)
{
	char *o = s;
	for (const char *p = s; *p;) {
		if (p[0] == '\x1b' && p[1] == '[') {
			const char *e = p + 2;
			while ((*e >= '0' && *e <= '9') || *e == ';')
				e++;
			if (*e == 'm') {
				p = e + 1;
				continue;
			}
		}
		*o++ = *p++;
	}
	*o = '\0';
	return s;
}

static char *normalise(char *s)
{
	s = uncolour(s);
	s = blank_after(s, "authtap[", NULL);
	s = blank_after(s, "\"pid\":", NULL);
	s = blank_after(s, "\"tid\":", NULL);
	s = blank_after(s, "\"ts\":\"", "\"");
	s = blank_after(s, "\"handle\":\"", "\"");
	return s;
}

struct upstream {
	pid_t pid;
	char port[8];
};

static void upstream_start(struct upstream *u)
{
	int p[2];
	cr_assert(pipe(p) == 0);
	u->pid = fork();
	cr_assert(u->pid >= 0);
	if (u->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(EXAMPLE_UPSTREAM, EXAMPLE_UPSTREAM, "0", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[256] = "";
	cr_assert(fgets(line, sizeof(line), f), "the upstream did not start");
	fclose(f);
	const char *colon = strrchr(line, ':');
	cr_assert(strncmp(line, "listening http://127.0.0.1:", 27) == 0 && colon, "%s", line);
	snprintf(u->port, sizeof(u->port), "%d", atoi(colon + 1));
}

static void upstream_stop(struct upstream *u)
{
	kill(u->pid, SIGTERM);
	waitpid(u->pid, NULL, 0);
}

/* The next line of text from *p, without its newline; NULL at the end. */
static char *next_line(const char **p)
{
	if (!**p)
		return NULL;
	const char *nl = strchr(*p, '\n');
	size_t n = nl ? (size_t)(nl - *p) : strlen(*p);
	char *line = strndup(*p, n);
	*p += n + (nl ? 1 : 0);
	return line;
}

static void run_example(const char *dir, const struct upstream *u, const char *cmd,
                        const char *want)
{
	char *c = replace(strdup(cmd), "127.0.0.1:9000", "127.0.0.1:@PORT@");
	char port[32];
	snprintf(port, sizeof(port), "127.0.0.1:%s", u->port);
	c = replace(c, "127.0.0.1:@PORT@", port);
	char *script;
	cr_assert(asprintf(&script, "cd '%s' && %s", dir, c) > 0);
	struct run r;
	run_pty(&r, (const char *[]){"/bin/sh", "-c", script, NULL}, NULL);
	char *got = replace(strdup(r.out), port, "127.0.0.1:9000");
	/* The README runs from the source tree, shown as /home/you/authtap. */
	got = replace(got, dir, "/home/you/authtap/");
	got = normalise(got);
	char *exp = normalise(strdup(want));
	cr_expect_eq(r.code, 0, "README example exits %d:\n$ %s\n%s", r.code, cmd, r.out);
	cr_expect_str_eq(got, exp, "README example:\n$ %s\nshows:\n%s\nbut prints:\n%s", cmd, exp,
	                 got);
	free(got);
	free(exp);
	free(script);
	free(c);
	run_free(&r);
}

/* Each program a ```sh line names by a path exists, in the source tree or
 * (build/...) in this build. */
static void check_sh_line(const char *line)
{
	while (*line == ' ')
		line++;
	if (!*line || *line == '#')
		return;
	size_t n = strcspn(line, " \t");
	char *word = strndup(line, n);
	if (strchr(word, '/') && word[0] != '/' && strncmp(word, "build-", 6) != 0) {
		char *path;
		if (strncmp(word, "build/", 6) == 0)
			cr_assert(asprintf(&path, "%s/%s", TEST_BUILD_ROOT, word + 6) > 0);
		else
			cr_assert(asprintf(&path, "%s/%s", TEST_SOURCE_ROOT, word) > 0);
		cr_expect(access(path, X_OK) == 0, "README names %s, which is not there (%s)", word,
		          path);
		free(path);
	}
	free(word);
}

Test(readme, every_example_runs_as_shown)
{
	char *readme_path;
	cr_assert(asprintf(&readme_path, "%s/README.md", TEST_SOURCE_ROOT) > 0);
	char *text = slurp(readme_path);
	char *dir = temp_path("");
	char *link;
	cr_assert(asprintf(&link, "%sbuild", dir) > 0);
	cr_assert(symlink(TEST_BUILD_ROOT, link) == 0, "%s", strerror(errno));

	struct upstream u;
	upstream_start(&u);

	size_t examples = 0;
	const char *p = text;
	char *line;
	enum { OUTSIDE, CONSOLE, SH, OTHER } in = OUTSIDE;
	char *cmd = NULL, *want = NULL;
	while ((line = next_line(&p))) {
		if (strncmp(line, "```", 3) == 0) {
			if (in == OUTSIDE) {
				in = strcmp(line, "```console") == 0 ? CONSOLE
				     : strcmp(line, "```sh") == 0    ? SH
				                                     : OTHER;
			} else {
				if (cmd)
					run_example(dir, &u, cmd, want);
				free(cmd);
				free(want);
				cmd = want = NULL;
				in = OUTSIDE;
			}
		} else if (in == SH) {
			check_sh_line(line);
		} else if (in == CONSOLE && strncmp(line, "$ ", 2) == 0) {
			if (cmd)
				run_example(dir, &u, cmd, want);
			free(cmd);
			free(want);
			cmd = strdup(line + 2);
			want = strdup("");
			examples++;
			/* A command goes on after a trailing backslash. */
			while (cmd[strlen(cmd) - 1] == '\\') {
				char *more = next_line(&p);
				cr_assert(more, "README: a command runs off the end");
				char *joined;
				cr_assert(asprintf(&joined, "%s\n%s", cmd, more) > 0);
				free(cmd);
				free(more);
				cmd = joined;
			}
		} else if (in == CONSOLE && cmd) {
			char *w;
			cr_assert(asprintf(&w, "%s%s\n", want, line) > 0);
			free(want);
			want = w;
		}
		free(line);
	}
	upstream_stop(&u);
	cr_expect_eq(in, OUTSIDE, "README: a code block is not closed");
	cr_expect_geq(examples, 3, "README: only %zu console examples", examples);
	free(text);
}
