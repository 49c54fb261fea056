/* Faults around the host (GitHub issue 6, part 5): in every case the program
 * behaves exactly as without authtap (same exit code and stdout as the
 * control run) and authtap says so at most once, on stderr, as "authtap: ".
 * The hosts are in tests/robust/. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "robust.h"

extern char **environ;

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 60);

static char *url(const char *path)
{
	return server_url(&srv, path);
}

/* stderr holds nothing but at most one warning. */
static void expect_quiet(const struct run *r, const char *what)
{
	size_t lines = count_lines(r->err, "");
	cr_expect_leq(count_lines(r->err, "authtap: "), 1, "%s: more than one warning: %s", what,
	              r->err);
	cr_expect_eq(lines, count_lines(r->err, "authtap: "), "%s: stderr: %s", what, r->err);
}

/* --- the log cannot be opened or written --- */

static void unusable_log(const char *what, const char *log, bool warns)
{
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *u = url("/401");
	struct run r;
	run_both(&r, (const char *[]){TEST_CLIENT, u, u, u, NULL},
	         (const char *[]){preload_var(), log_var, NULL}, what);
	expect_quiet(&r, what);
	if (warns)
		cr_expect_eq(count_lines(r.err, "authtap: "), 1, "%s: no warning", what);
	run_free(&r);
	free(log_var);
	free(u);
}

Test(faults, a_log_that_cannot_be_opened)
{
	char *file = temp_path("file");
	FILE *f = fopen(file, "w");
	cr_assert(f);
	fclose(f);
	char *dir = temp_path("dir");
	cr_assert(mkdir(dir, 0700) == 0);

	/* All of these fail for root too. */
	unusable_log("a path inside a regular file", fmt("%s/log", file), true);
	unusable_log("a missing directory", "/nonexistent-authtap-dir/sub/log", true);
	unusable_log("a directory", dir, true);
	unusable_log("a file nobody can write (/proc/version)", "/proc/version", true);
	unusable_log("an empty path", "", false);
}

Test(faults, a_symlink_is_refused_whatever_it_points_to)
{
	char *target = temp_path("target");
	FILE *f = fopen(target, "w");
	cr_assert(f);
	fputs("precious\n", f);
	fclose(f);
	char *to_file = temp_path("log");
	cr_assert(symlink(target, to_file) == 0);
	char *missing = temp_path("missing");
	char *dangling = temp_path("log");
	cr_assert(symlink(missing, dangling) == 0);
	char *to_null = temp_path("log");
	cr_assert(symlink("/dev/null", to_null) == 0);

	unusable_log("a symlink to a file", to_file, true);
	unusable_log("a dangling symlink", dangling, true);
	unusable_log("a symlink to /dev/null", to_null, true);
	size_t len;
	char *kept = slurp(target, &len);
	cr_expect_str_eq(kept, "precious\n", "the symlink's target was written");
	cr_expect_eq(access(missing, F_OK), -1, "the dangling symlink's target was created");
}

Test(faults, a_full_disk_warns_once)
{
	unusable_log("/dev/full", "/dev/full", true);
	/* Text records and big ones too. */
	char *big = url("/hostile?size=100000");
	struct run r;
	run_both(
	    &r, (const char *[]){TEST_CLIENT, big, big, NULL},
	    (const char *[]){preload_var(), "AUTHTAP_LOG=/dev/full", "AUTHTAP_FORMAT=text", NULL},
	    "/dev/full, text");
	cr_expect_eq(count_lines(r.err, "authtap: "), 1, "%s", r.err);
	expect_quiet(&r, "/dev/full, text");
	run_free(&r);
}

/* --- the log's descriptor closed by the program and its number reused --- */

static void reuse_closing(const char *what, const char *const args[], const char *log_var,
                          const char *log, size_t stderr_records, const char *close_how)
{
	const char *argv[8] = {TEST_FD_HOST};
	size_t k = 1;
	for (size_t i = 0; args[i]; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	char *save_c = temp_path("received"), *save_w = temp_path("received");
	char *save_c_var = fmt("FD_HOST_SAVE=%s", save_c),
	     *save_w_var = fmt("FD_HOST_SAVE=%s", save_w);

	char *close_var = fmt("FD_HOST_CLOSE=%s", close_how);
	struct run control, with;
	run(&control, argv, (const char *[]){save_c_var, close_var, NULL});
	run(&with, argv, (const char *[]){preload_var(), log_var, save_w_var, close_var, NULL});
	cr_expect_eq(control.code, 0, "%s: the control failed: %s%s", what, control.out,
	             control.err);
	cr_expect_eq(with.code, control.code, "%s: exit code %d, %d without", what, with.code,
	             control.code);
	cr_expect_str_eq(with.out, control.out, "%s", what);

	/* Nothing may reach the new descriptor, not even a warning (GitHub
	 * issue 12, item 4: a client's socket on fd 2 got one). */
	size_t len, n, warnings;
	char *got = slurp(save_w, &len);
	cr_assert(got, "%s: the host saved nothing", what);
	cr_expect_eq(len, 0, "%s: the new descriptor received: %s", what, got);
	json_t **parsed = records_in(got, len, &n, &warnings);
	log_free(parsed, n);
	cr_expect_eq(n, 0, "%s: %s", what, got);
	cr_expect_leq(warnings, 1, "%s: %s", what, got);
	cr_expect(!strstr(got, "authtap["), "%s: a text record in the new descriptor", what);

	/* The first transfer was recorded where the log was. */
	if (log) {
		json_t **recs = log_read(log, &n);
		cr_expect_eq(n, 1, "%s: %zu records in the log", what, n);
		log_free(recs, n);
	}
	json_t **recs = records_in(with.err, with.err_len, &n, &warnings);
	cr_expect_eq(n, stderr_records, "%s: %zu records on stderr", what, n);
	cr_expect_leq(warnings + (len && strstr(got, "authtap: ") ? 1 : 0), 1,
	              "%s: more than one warning", what);
	log_free(recs, n);
	run_free(&control);
	run_free(&with);
}

static void reuse(const char *what, const char *const args[], const char *log_var, const char *log,
                  size_t stderr_records)
{
	reuse_closing(what, args, log_var, log, stderr_records, "loop");
}

/* However the program closes the log's descriptor: close on every number,
 * close_range, glibc's closefrom (which closes internally, past the
 * hooks), or the raw system call past libc altogether, which authtap's
 * periodic check catches (fd-host waits 300 ms, longer than its period). */
Test(faults, the_log_descriptor_reused_by_the_program)
{
	char *u = url("/401");
	const char *kinds[] = {"pipe", "socket", NULL, NULL};
	const char *closes[] = {"loop", "range", "from", "raw", NULL};
	char *file = temp_path("newfile");
	kinds[2] = fmt("file:%s", file);

	for (size_t c = 0; closes[c]; c++) {
		for (size_t i = 0; kinds[i]; i++) {
			char *log = temp_path("log.json");
			char *log_var = fmt("AUTHTAP_LOG=%s", log);
			char *what = fmt("log file closed by %s, then a %s on its number",
			                 closes[c], kinds[i]);
			reuse_closing(what, (const char *[]){"file", log, kinds[i], u, NULL},
			              log_var, log, 0, closes[c]);
		}
	}
}

Test(faults, the_private_stderr_descriptor_reused_by_the_program)
{
	/* AUTHTAP_LOG=stderr on a pipe: authtap writes through a description
	 * of its own, which the program's close-everything takes away. */
	char *u = url("/401");
	reuse("stderr's own description, then a pipe on its number",
	      (const char *[]){"file", "-", "pipe", u, NULL}, "AUTHTAP_LOG=stderr", NULL, 1);
	reuse("stderr's own description, then a file on its number",
	      (const char *[]){"file", "-", fmt("file:%s", temp_path("newfile")), u, NULL},
	      "AUTHTAP_LOG=stderr", NULL, 1);
}

Test(faults, stderr_replaced_by_the_program)
{
	char *u = url("/401");
	reuse("stderr, then /dev/null on fd 2", (const char *[]){"stderr", "null", u, NULL},
	      "AUTHTAP_LOG=stderr", NULL, 1);
	reuse("stderr, then a new pipe on fd 2", (const char *[]){"stderr", "pipe", u, NULL},
	      "AUTHTAP_LOG=stderr", NULL, 1);
	reuse("stderr, then a client's socket on fd 2",
	      (const char *[]){"stderr", "socket", u, NULL}, "AUTHTAP_LOG=stderr", NULL, 1);
	reuse("stderr, then a file on fd 2",
	      (const char *[]){"stderr", fmt("file:%s", temp_path("newfile")), u, NULL},
	      "AUTHTAP_LOG=stderr", NULL, 1);
}

/* --- pipes: a reader that has gone, a reader that never reads --- */

/* Like run(), with err_fd as the program's stderr, and at most secs
 * seconds: r->code is -1 when the program had not finished by then. */
static void run_on(struct run *r, const char *const argv[], const char *const env[], int err_fd,
                   int secs)
{
	int out[2];

	memset(r, 0, sizeof(*r));
	cr_assert(pipe(out) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		size_t n = 0, m = 0, k = 0;
		while (environ[n])
			n++;
		while (env && env[m])
			m++;
		char **e = calloc(n + m + 1, sizeof(*e));
		for (size_t i = 0; i < n; i++)
			if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
			    strncmp(environ[i], "AUTHTAP_", 8))
				e[k++] = environ[i];
		for (size_t i = 0; i < m; i++)
			e[k++] = (char *)env[i];
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err_fd, 2);
		close(out[0]);
		/* The default disposition: SIGPIPE must kill, if it comes. */
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], (char *const *)argv, e);
		_exit(127);
	}
	close(out[1]);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	size_t cap = 4096;
	r->out = malloc(cap + 1);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = secs * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
		                            (now.tv_nsec - start.tv_nsec) / 1000000L);
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (r->out_len + 4096 > cap)
			r->out = realloc(r->out, (cap *= 2) + 1);
		ssize_t got = read(out[0], r->out + r->out_len, 4096);
		if (got <= 0)
			break;
		r->out_len += (size_t)got;
	}
	r->out[r->out_len] = '\0';
	r->err = calloc(1, 1);
	close(out[0]);
	int status;
	for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++) {
		struct timespec tick = {0, 20 * 1000 * 1000};
		nanosleep(&tick, NULL);
		if (i == 99) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			r->code = -1;
			return;
		}
	}
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(faults, a_stderr_pipe_whose_reader_has_gone)
{
	char *u = url("/401"), *big = url("/hostile?size=100000");
	const char *argv[] = {TEST_CLIENT, u, big, u, NULL};
	const char *formats[] = {"AUTHTAP_FORMAT=json", "AUTHTAP_FORMAT=text"};

	for (int f = 0; f < 2; f++) {
		int p[2];
		cr_assert(pipe(p) == 0);
		close(p[0]);
		struct run control, with;
		run_on(&control, argv, NULL, p[1], 20);
		run_on(&with, argv,
		       (const char *[]){preload_var(), "AUTHTAP_LOG=stderr", formats[f], NULL},
		       p[1], 20);
		close(p[1]);
		cr_expect_neq(with.code, 128 + SIGPIPE, "%s: killed by SIGPIPE", formats[f]);
		cr_expect_eq(with.code, control.code, "%s: exit %d, %d without", formats[f],
		             with.code, control.code);
		cr_expect_str_eq(with.out, control.out, "%s", formats[f]);
		run_free(&control);
		run_free(&with);
	}
}

/* A pipe that is full and that nobody drains: the program must not block.
 * The description is shared with the program, and must stay blocking. */
Test(faults, a_stderr_pipe_nobody_drains)
{
	char *u = url("/401");
	const char *argv[] = {TEST_CLIENT, u, u, u, NULL};
	int p[2];
	cr_assert(pipe(p) == 0);
	cr_assert(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	char fill[4096];
	memset(fill, 'x', sizeof(fill));
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	while (write(p[1], fill, 1) > 0)
		;
	cr_assert(fcntl(p[1], F_SETFL, 0) == 0);

	struct run control, with;
	run_on(&control, argv, NULL, p[1], 20);
	run_on(&with, argv, (const char *[]){preload_var(), "AUTHTAP_LOG=stderr", NULL}, p[1], 10);
	cr_expect_neq(with.code, -1, "the program blocked on a full stderr pipe");
	cr_expect_eq(with.code, control.code);
	cr_expect_str_eq(with.out, control.out);
	cr_expect_eq(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0,
	             "authtap made the program's stderr non-blocking");
	close(p[0]);
	close(p[1]);
	run_free(&control);
	run_free(&with);
}

Test(faults, a_fifo_log_nobody_drains)
{
	char *fifo = temp_path("log.fifo");
	cr_assert(mkfifo(fifo, 0600) == 0);
	/* Read-write: a reader exists (so the open succeeds), and it never
	 * reads; filled up first. */
	int fd = open(fifo, O_RDWR | O_NONBLOCK);
	cr_assert(fd >= 0);
	char fill[4096];
	memset(fill, 'x', sizeof(fill));
	while (write(fd, fill, sizeof(fill)) > 0)
		;
	while (write(fd, fill, 1) > 0)
		;
	char *log_var = fmt("AUTHTAP_LOG=%s", fifo);
	char *u = url("/401");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct run r;
	run_both(&r, (const char *[]){TEST_CLIENT, u, u, u, NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "full FIFO");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_lt(t1.tv_sec - t0.tv_sec, 10, "it took %lds", (long)(t1.tv_sec - t0.tv_sec));
	cr_expect_eq(count_lines(r.err, "authtap: "), 1, "%s", r.err);
	cr_expect(strstr(r.err, "3 records were lost"), "%s", r.err);
	expect_quiet(&r, "full FIFO");
	close(fd);
	run_free(&r);
}

/* --- GitHub issue 12, item 5: every record whole or absent, every loss
 * counted and reported --- */

/* Everything that can be read from fd now (it is non-blocking). */
static char *drain(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t got;

	cr_assert(buf);
	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (cap - n < 4096)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Reads a whole stream until its end. */
static char *read_all(int fd, size_t *len)
{
	fcntl(fd, F_SETFL, 0);
	return drain(fd, len);
}

/* The environment of a child: this one's without the preload and authtap's
 * variables, then env. */
static char **child_env(const char *const env[])
{
	size_t n = 0, m = 0, k = 0;
	while (environ[n])
		n++;
	while (env && env[m])
		m++;
	char **e = calloc(n + m + 1, sizeof(*e));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "AUTHTAP_", 8))
			e[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		e[k++] = (char *)env[i];
	return e;
}

struct pipe_run {
	int code;
	char *out;   /* the host's stdout */
	char *after; /* what the log's pipe received after it was drained */
	char *err;   /* stderr, when the log is a FIFO */
	size_t after_len;
};

/* pipe-host with its log's pipe full for N transfers, drained, then M more.
 * fifo NULL: the log is stderr, a pipe. */
static void pipe_run(struct pipe_run *pr, const char *fifo, const char *format, const char *u,
                     const char *n, const char *m, bool with)
{
	int in[2], out[2], err[2];
	cr_assert(pipe(in) == 0 && pipe(out) == 0 && pipe(err) == 0);
	int reader = fifo ? open(fifo, O_RDWR | O_NONBLOCK) : err[0];
	cr_assert(reader >= 0);
	fcntl(reader, F_SETFL, O_NONBLOCK);
	char *log_var = fifo ? fmt("AUTHTAP_LOG=%s", fifo) : "AUTHTAP_LOG=stderr";
	char **env = child_env(with ? (const char *[]){preload_var(), log_var, format, NULL}
	                            : (const char *[]){NULL});
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execve(TEST_PIPE_HOST,
		       (char *[]){TEST_PIPE_HOST, fifo ? (char *)fifo : "-", (char *)u, (char *)n,
		                  (char *)m, NULL},
		       env);
		_exit(127);
	}
	free(env);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	/* Its lines up to "filled". */
	char line[4096] = "";
	size_t got = 0;
	while (got < sizeof(line) - 1 && read(out[0], line + got, 1) == 1) {
		line[++got] = '\0';
		if (got >= 7 && strcmp(line + got - 7, "filled\n") == 0)
			break;
	}
	cr_expect(strstr(line, "filled\n"), "the host did not fill the pipe: %s", line);
	size_t len;
	free(drain(reader, &len));
	cr_assert(write(in[1], "go\n", 3) == 3);
	close(in[1]);
	char *rest = read_all(out[0], &len);
	pr->out = fmt("%s%s", line, rest);
	free(rest);
	close(out[0]);
	int status;
	waitpid(pid, &status, 0);
	pr->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	pr->after = drain(reader, &pr->after_len);
	pr->err = fifo ? read_all(err[0], &len) : calloc(1, 1);
	close(reader);
	if (fifo)
		close(err[0]);
}

static void pipe_run_free(struct pipe_run *pr)
{
	free(pr->out);
	free(pr->after);
	free(pr->err);
}

/* `curl URL... 2>&1 | slow-reader` delivered 128 of 300 records and no
 * warning: the first record that would have blocked turned the log off.
 * Now it is lost, counted, and the count is the first thing the log says
 * once it takes records again. */
static void lost_then_reported(const char *what, const char *fifo, const char *format)
{
	char *u = url("/401");
	struct pipe_run control, with;

	pipe_run(&control, fifo, format, u, "3", "2", false);
	pipe_run(&with, fifo, format, u, "3", "2", true);
	cr_expect_eq(control.code, 0, "%s: the control failed: %s", what, control.out);
	cr_expect_eq(with.code, control.code, "%s", what);
	cr_expect_str_eq(with.out, control.out, "%s", what);
	cr_expect_eq(control.after_len, 0, "%s", what);
	if (strcmp(format, "AUTHTAP_FORMAT=json") == 0) {
		size_t n, warnings;
		json_t **recs = records_in(with.after, with.after_len, &n, &warnings);
		cr_assert_eq(n, 3, "%s: %zu records after the drain: %s", what, n, with.after);
		cr_expect_str_eq(jstr(recs[0], "type"), "lost", "%s", what);
		cr_expect_eq(jint(recs[0], "count"), 3, "%s", what);
		cr_expect_eq(jint(recs[0], "lost"), 3, "%s", what);
		cr_expect_str_eq(jstr(recs[1], "type"), "response", "%s", what);
		cr_expect_str_eq(jstr(recs[2], "type"), "response", "%s", what);
		cr_expect_eq(warnings, 0, "%s: %s", what, with.after);
		log_free(recs, n);
	} else {
		cr_expect_eq(count_lines(with.after, "authtap["), 3, "%s: %s", what, with.after);
		cr_expect_eq(count_lines(with.after, "authtap[") + count_lines(with.after, "  "),
		             count_lines(with.after, ""), "%s: %s", what, with.after);
		cr_expect(strstr(with.after, "] 3 records lost"), "%s: %s", what, with.after);
		cr_expect(strstr(with.after, "(lost=3)\n"), "%s: %s", what, with.after);
	}
	cr_expect_str_eq(with.err, "", "%s", what);
	pipe_run_free(&control);
	pipe_run_free(&with);
}

Test(faults, a_full_stderr_pipe_loses_records_not_the_log)
{
	lost_then_reported("stderr, json", NULL, "AUTHTAP_FORMAT=json");
	lost_then_reported("stderr, text", NULL, "AUTHTAP_FORMAT=text");
}

Test(faults, a_full_fifo_log_loses_records_not_the_log)
{
	char *fifo = temp_path("log.fifo");
	cr_assert(mkfifo(fifo, 0600) == 0);
	lost_then_reported("FIFO, json", fifo, "AUTHTAP_FORMAT=json");
}

/* Runs argv with stdout and stderr read back, under a file size limit
 * (RLIMIT_FSIZE) and with SIGXFSZ ignored or at its default (which kills). */
static void run_limited(struct run *r, const char *const argv[], const char *const env[],
                        rlim_t fsize, bool ignore_xfsz)
{
	int out[2], err[2];
	cr_assert(pipe(out) == 0 && pipe(err) == 0);
	char **e = child_env(env);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = {fsize, fsize};
		setrlimit(RLIMIT_FSIZE, &lim);
		signal(SIGXFSZ, ignore_xfsz ? SIG_IGN : SIG_DFL);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execve(argv[0], (char *const *)argv, e);
		_exit(127);
	}
	free(e);
	close(out[1]);
	close(err[1]);
	memset(r, 0, sizeof(*r));
	r->out = read_all(out[0], &r->out_len);
	r->err = read_all(err[0], &r->err_len);
	close(out[0]);
	close(err[0]);
	int status;
	waitpid(pid, &status, 0);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A file that fills up (RLIMIT_FSIZE stands in for a full disk: the write
 * that crosses it goes out in part, the next fails) never keeps a part of
 * a record, and authtap's write never raises SIGXFSZ, which kills. */
Test(faults, a_record_cut_short_by_a_full_file_is_taken_back)
{
	char *u = url("/401");
	const char *argv[] = {TEST_CLIENT, u, u, u, u, u, u, u, u, u, u, u, u, NULL};

	for (int ignore = 0; ignore < 2; ignore++) {
		char *log = temp_path("log.json");
		char *log_var = fmt("AUTHTAP_LOG=%s", log);
		struct run control, with;
		run_limited(&control, argv, NULL, 3000, ignore);
		run_limited(&with, argv, (const char *[]){preload_var(), log_var, NULL}, 3000,
		            ignore);
		const char *what = ignore ? "SIGXFSZ ignored" : "SIGXFSZ at its default";
		cr_expect_eq(with.code, control.code, "%s: exit %d, %d without", what, with.code,
		             control.code);
		cr_expect_str_eq(with.out, control.out, "%s", what);
		cr_expect_eq(count_lines(with.err, "authtap: "), 1, "%s: %s", what, with.err);
		size_t len;
		char *got = slurp(log, &len);
		cr_assert(got, "%s: no log", what);
		cr_expect(len > 0 && got[len - 1] == '\n', "%s: the log ends in a torn record: %s",
		          what, got + (len > 200 ? len - 200 : 0));
		size_t n, warnings;
		json_t **recs = records_in(got, len, &n, &warnings);
		cr_expect(n > 0 && n < 12, "%s: %zu records", what, n);
		cr_expect_eq(warnings, 0);
		log_free(recs, n);
		free(got);
		run_free(&control);
		run_free(&with);
	}
}

/* GitHub issue 15, item 3: with AUTHTAP_SUMMARY=1 (the launcher sets it) a
 * process that logged something says at exit how much and where; through
 * the same rule as records and warnings: only into the stderr it started
 * with. */
Test(faults, the_exit_line_says_how_many_and_where)
{
	char *u = url("/401"), *ok = url("/200");
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	struct run r;

	run_both(&r, (const char *[]){TEST_CLIENT, u, ok, u, u, NULL},
	         (const char *[]){preload_var(), log_var, "AUTHTAP_SUMMARY=1", NULL}, "summary");
	char *want = fmt("] exit: 3 responses asking for authentication, log %s\n", log);
	cr_expect_eq(count_lines(r.err, "authtap["), 1, "%s", r.err);
	cr_expect_eq(count_lines(r.err, ""), 1, "%s", r.err);
	cr_expect(strstr(r.err, want), "%s lacks %s", r.err, want);
	run_free(&r);

	/* Nothing logged: no line. */
	run_both(&r, (const char *[]){TEST_CLIENT, ok, NULL},
	         (const char *[]){preload_var(), log_var, "AUTHTAP_SUMMARY=1", NULL}, "nothing");
	cr_expect_str_eq(r.err, "");
	run_free(&r);

	/* The log on stderr, as text: the exit line ends it. */
	run_both(&r, (const char *[]){TEST_CLIENT, u, NULL},
	         (const char *[]){preload_var(), "AUTHTAP_LOG=stderr", "AUTHTAP_FORMAT=text",
	                          "AUTHTAP_SUMMARY=1", NULL},
	         "stderr");
	cr_expect_eq(count_lines(r.err, "authtap["), 2, "%s", r.err);
	cr_expect(strstr(r.err, "] exit: 1 response asking for authentication\n"), "%s", r.err);
	run_free(&r);
}

/* The exit line comes after main returns: a file on fd 2 shows it (the
 * host's own copy of what arrived is taken before). */
Test(faults, the_exit_line_never_goes_into_a_reused_fd_2)
{
	char *u = url("/401");
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *file = temp_path("newfile");
	char *kind = fmt("file:%s", file);
	char *save = temp_path("received");
	char *save_var = fmt("FD_HOST_SAVE=%s", save);
	struct run r;

	run(&r, (const char *[]){TEST_FD_HOST, "stderr", kind, u, NULL},
	    (const char *[]){preload_var(), log_var, save_var, "AUTHTAP_SUMMARY=1", NULL});
	cr_expect_eq(r.code, 0, "%s", r.out);
	size_t len;
	char *got = slurp(file, &len);
	cr_assert(got);
	cr_expect_eq(len, 0, "the file on fd 2 received: %s", got);
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 2, "%zu records", n);
	log_free(recs, n);
	free(got);
	run_free(&r);
}

/* --- processes: fork in a threaded host, exec --- */

/* The files of dir, each parsed as a log: their count, and in *total the
 * records of all. */
static size_t logs_in(const char *dir, const char *prefix, size_t *total, size_t *singles)
{
	char *cmd = fmt("ls %s", dir);
	FILE *ls = popen(cmd, "r");
	char name[256];
	size_t files = 0;
	*total = 0;
	*singles = 0;
	while (fgets(name, sizeof(name), ls)) {
		name[strcspn(name, "\n")] = '\0';
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		char *path = fmt("%s/%s", dir, name);
		size_t n;
		json_t **recs = log_read(path, &n);
		long pid = atol(name + strlen(prefix));
		for (size_t i = 0; i < n; i++)
			cr_expect_eq(jint(recs[i], "pid"), pid, "%s holds a record of pid %lld",
			             name, jint(recs[i], "pid"));
		*total += n;
		*singles += n == 1;
		files++;
		log_free(recs, n);
		free(path);
	}
	pclose(ls);
	free(cmd);
	return files;
}

Test(faults, fork_in_a_threaded_host, .timeout = 60)
{
	char *dir = temp_path("");
	char *log_var = fmt("AUTHTAP_LOG=%slog-%%p.json", dir);
	char *u401 = url("/401"), *u200 = url("/200");
	struct run r;
	run_both(&r, (const char *[]){TEST_FORK_HOST, u401, u200, "100", "2", NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "fork");
	cr_expect_str_eq(r.err, "");
	cr_assert(strstr(r.out, "hung=0"), "a child hung: %s", r.out);
	size_t total, singles;
	size_t files = logs_in(dir, "log-", &total, &singles);
	/* The parent's file, and one with one record per child. */
	cr_expect_eq(files, 101, "%zu log files", files);
	cr_expect_geq(singles, 100, "%zu children with their record", singles);
	run_free(&r);
}

Test(faults, exec_of_a_child_that_inherits_the_preload)
{
	char *dir = temp_path("");
	char *log_var = fmt("AUTHTAP_LOG=%slog-%%p.json", dir);
	char *u = url("/401");
	struct run r;
	run_both(&r, (const char *[]){TEST_EXEC_HOST, u, "/usr/bin/curl", NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "exec");
	cr_expect_str_eq(r.out, "host result=0 status=401\ncurl status=401\n");
	cr_expect_str_eq(r.err, "");
	size_t total, singles;
	size_t files = logs_in(dir, "log-", &total, &singles);
	cr_expect_eq(files, 2, "%zu log files", files);
	cr_expect_eq(singles, 2, "each process with its own record");
	run_free(&r);
}

/* --- signals interrupting everything --- */

Test(faults, signals_interrupting_writes, .timeout = 60)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *u = url("/hostile?size=30000");
	struct run r;
	run_both(&r, (const char *[]){TEST_SIGNAL_HOST, u, "300", NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "signals");
	cr_expect_str_eq(r.out, "transfers=300 ok=300 signals=some\n");
	cr_expect_str_eq(r.err, "");
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 300, "%zu records", n);
	for (size_t i = 0; i < n; i++) {
		const char *v =
		    jstr(json_array_get(json_object_get(recs[i], "headers"), 0), "value");
		cr_expect(v && strlen(v) == 30000, "record %zu is not whole", i);
		cr_expect_eq(json_array_size(json_object_get(recs[i], "flags")), 0);
	}
	log_free(recs, n);
	run_free(&r);
}

/* --- libcurl called from another library's constructor --- */

Test(faults, a_transfer_from_a_constructor_that_runs_first)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *ctor_log = fmt("CTOR_LOG=%s", log);
	char *u = url("/401");
	char *ctor_url = fmt("CTOR_URL=%s", u);
	struct run r;

	/* Linked into the host: its constructor runs before authtap's. */
	run_pair(&r, (const char *[]){TEST_CTOR_HOST, u, NULL},
	         (const char *[]){ctor_log, ctor_url, NULL},
	         (const char *[]){preload_var(), log_var, ctor_log, ctor_url, NULL}, "linked");
	cr_expect(strncmp(r.out, "ctor first=1 result=0 status=401\n", 33) == 0,
	          "the constructor did not run first: %s", r.out);
	cr_expect_str_eq(r.err, "");
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 2, "%zu records: the constructor's transfer is missing?", n);
	log_free(recs, n);
	run_free(&r);
}

static void preloaded_ctor(const char *what, const char *order, const char *first)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *ctor_log = fmt("CTOR_LOG=%s", log);
	char *ctor_url = fmt("CTOR_URL=%s", url("/401"));
	char *ctor_only = fmt("LD_PRELOAD=%s", TEST_CTOR_LIB);
	struct run control, with;
	const char *argv[] = {"/bin/true", NULL};

	run(&control, argv, (const char *[]){ctor_only, ctor_log, ctor_url, NULL});
	run(&with, argv, (const char *[]){order, log_var, ctor_log, ctor_url, NULL});
	cr_expect_eq(with.code, control.code, "%s", what);
	cr_expect_str_eq(control.out, "ctor first=1 result=0 status=401\n", "%s", what);
	char *want = fmt("ctor first=%s result=0 status=401\n", first);
	cr_expect_str_eq(with.out, want, "%s", what);
	cr_expect_str_eq(with.err, "", "%s", what);
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 1, "%s: %zu records", what, n);
	log_free(recs, n);
	run_free(&control);
	run_free(&with);
}

Test(faults, a_transfer_from_a_preloaded_constructor)
{
	/* Constructors run last-loaded first: after authtap in LD_PRELOAD,
	 * the library's runs before authtap's; before it, after. */
	preloaded_ctor("authtap first in LD_PRELOAD",
	               fmt("LD_PRELOAD=%s:%s", TEST_PRELOAD, TEST_CTOR_LIB), "1");
	preloaded_ctor("authtap last in LD_PRELOAD",
	               fmt("LD_PRELOAD=%s:%s", TEST_CTOR_LIB, TEST_PRELOAD), "0");
}

/* --- processes that never use libcurl --- */

Test(faults, programs_without_libcurl_are_unaffected)
{
	char *dir = temp_path("");
	char *log_var = fmt("AUTHTAP_LOG=%slog-%%p.json", dir);
	const char *const cmds[][4] = {
	    {"/bin/true", NULL},
	    {"/bin/false", NULL},
	    {"/bin/sh", "-c", "echo a | tr a b; exit 3", NULL},
	    {"/bin/sh", "-c", "printf '%s\\n' \"$0\" >&2", NULL},
	};
	const char *const logs[] = {log_var, "AUTHTAP_LOG=stderr", NULL};

	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		for (size_t l = 0; logs[l]; l++) {
			struct run control, with;
			run(&control, cmds[c], NULL);
			run(&with, cmds[c], (const char *[]){preload_var(), logs[l], NULL});
			cr_expect_eq(with.code, control.code, "%s", cmds[c][0]);
			cr_expect_str_eq(with.out, control.out, "%s %s", cmds[c][0],
			                 cmds[c][1] ? cmds[c][2] : "");
			cr_expect_str_eq(with.err, control.err, "%s", cmds[c][0]);
			run_free(&control);
			run_free(&with);
		}
	}
	size_t total, singles;
	logs_in(dir, "log-", &total, &singles);
	cr_expect_eq(total, 0);
}
