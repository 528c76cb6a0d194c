/* scratch.h - what the C tests that drive real tools share: running a
 * shell command, asking whether a tool is there, and a scratch directory
 * that is removed at exit and on a fatal signal, after the test's own
 * undo (loop devices, mounts) has run. */
#ifndef QF_SCRATCH_H
#define QF_SCRATCH_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char tmpdir[512];
static void (*scratch_undo)(void);

/* Run a command through the shell; its exit status, 128 if killed. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2 * PATH_MAX + 512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

static inline bool have(const char *tool)
{
	return sh("command -v %s >/dev/null 2>&1", tool) == 0;
}

static void scratch_cleanup(void)
{
	if (scratch_undo)
		scratch_undo();
	if (tmpdir[0]) {
		sh("rm -rf '%s'", tmpdir);
		tmpdir[0] = '\0';
	}
}

static void scratch_signal(int sig)
{
	scratch_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Make $TMPDIR/qf-@name.XXXXXX as tmpdir; @undo (may be NULL) runs
 * before it is removed.  False, with the TAP skip line printed, when it
 * cannot be made. */
static bool scratch_init(const char *name, void (*undo)(void))
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/qf-%s.XXXXXX",
		 t && *t ? t : "/tmp", name);
	if (!mkdtemp(tmpdir)) {
		printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
		tmpdir[0] = '\0';
		return false;
	}
	scratch_undo = undo;
	atexit(scratch_cleanup);
	signal(SIGINT, scratch_signal);
	signal(SIGTERM, scratch_signal);
	signal(SIGSEGV, scratch_signal);
	signal(SIGABRT, scratch_signal);
	return true;
}

#endif
