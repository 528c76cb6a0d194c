/* grow.c - growing the filesystem in a partition that a larger target gave
 * room to, after the flash was verified.  Only e2fsprogs does it, the way
 * a person would: e2fsck -f -p, then resize2fs, found on the system at run
 * time.  They work on a loop device over the target's range, so the
 * target stays claimed by this job and no partition node is needed (a
 * regular file, a loop device without partition scanning). */
#include "engine/job.h"
#include "image/ptable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where the tools live when PATH leaves out the sbin directories. */
static const char *const extra_dirs = "/usr/local/sbin:/usr/sbin:/sbin";

static bool find_tool(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *dirs = qf_xasprintf("%s:%s", path ? path : "", extra_dirs);
	char *save = NULL, *d;
	bool found = false;

	for (d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, name);
		found = *d == '/' && access(out, X_OK) == 0;
	}
	free(dirs);
	return found;
}

/* Run @argv (argv[0] a full path) in the C locale; its exit status, or
 * -errno.  The last line it printed lands in @msg. */
static int run_tool(char *const argv[], char *msg, size_t len)
{
	char buf[4096];
	size_t got = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	msg[0] = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		return -err;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		setenv("LC_ALL", "C", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		if (got == sizeof(buf) - 1) {
			/* keep the tail, where the verdict is */
			memmove(buf, buf + got / 2, got - got / 2);
			got -= got / 2;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	buf[got] = 0;
	while (got && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
		buf[--got] = 0;
	{
		const char *last = strrchr(buf, '\n');
		size_t n;

		last = last ? last + 1 : buf;
		n = strlen(last) < len ? strlen(last) : len - 1;
		memcpy(msg, last, n);
		msg[n] = 0;
	}
	if (!WIFEXITED(status))
		return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* A loop device over [off, off + size) of @fd; its path in @dev. */
static int loop_over(int fd, uint64_t off, uint64_t size, char *dev,
		     size_t len, int *loopfd)
{
	struct loop_config cfg;
	int ctl, n, lfd = -1, err = 0;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	/* Another program may take the free device first: try again. */
	for (int tries = 0; tries < 8; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = errno;
			break;
		}
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			err = errno;
			continue;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)fd;
		cfg.info.lo_offset = off;
		cfg.info.lo_sizelimit = size;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			err = 0;
			break;
		}
		err = errno;
		close(lfd);
		lfd = -1;
		if (err != EBUSY)
			break;
	}
	close(ctl);
	if (lfd < 0)
		return -(err ? err : EBUSY);
	*loopfd = lfd;
	return 0;
}

static bool is_ext(const char *type)
{
	return !strcmp(type, "ext2") || !strcmp(type, "ext3") ||
	       !strcmp(type, "ext4");
}

int grow_filesystem(struct target *t, struct qf_err *note, struct qf_err *e)
{
	uint64_t off = 0, size = t->tsize;
	char e2fsck[PATH_MAX], resize[PATH_MAX], dev[64], out[512];
	struct qf_fs_info fs;
	const char *tool;
	int fd, lfd = -1, ret;

	if (t->partition == 0) {
		off = t->lay.grown_start;
		size = t->lay.grown_size;
	}
	fd = open(t->path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return qf_err_set(e, errno, N_("%s: cannot open it to grow its filesystem: %m"),
				  t->path);
	if (qf_fs_probe_fd(fd, off, size, &fs) < 0 || !is_ext(fs.type)) {
		/* The partition grew; what is in it stays as it was. */
		if (fs.type[0])
			qf_err_append(note, "; ", N_("%s: filesystem not grown"),
				      fs.type);
		else
			qf_err_append(note, "; ", N_("unknown filesystem: not grown"));
		close(fd);
		return 0;
	}
	if (!find_tool("e2fsck", e2fsck, sizeof(e2fsck)) ||
	    !find_tool("resize2fs", resize, sizeof(resize))) {
		close(fd);
		return qf_err_set(e, ENOENT,
				  N_("%s: flashed and verified, but the %s filesystem was not grown: e2fsck and resize2fs (e2fsprogs) are not installed"),
				  t->path, fs.type);
	}
	ret = loop_over(fd, off, size, dev, sizeof(dev), &lfd);
	close(fd);
	if (ret < 0)
		return qf_err_set(e, -ret,
				  N_("%s: flashed and verified, but the %s filesystem was not grown: no loop device: %m"),
				  t->path, fs.type);
	{
		char *fsck_argv[] = { e2fsck, "-f", "-p", dev, NULL };
		char *resize_argv[] = { resize, dev, NULL };

		tool = "e2fsck";
		ret = run_tool(fsck_argv, out, sizeof(out));
		/* -p fixes only what is safe unattended; 1: it fixed some. */
		if (ret == 0 || ret == 1) {
			tool = "resize2fs";
			ret = run_tool(resize_argv, out, sizeof(out));
		}
	}
	close(lfd);   /* autoclear detaches it */
	if (ret != 0)
		return qf_err_set(e, EIO,
				  N_("%s: flashed and verified, but growing the %s filesystem failed (%s: %s)"),
				  t->path, fs.type, tool,
				  ret < 0 ? strerror(-ret) : out);
	pthread_mutex_lock(&t->job->pmu);
	t->adjusted |= QF_ADJUST_FS_GROWN;
	pthread_mutex_unlock(&t->job->pmu);
	{
		char sz[32];
		qf_err_append(note, "; ", N_("%s filesystem grown to %s"), fs.type,
			      qf_size_str(size, sz, sizeof(sz)));
	}
	return 0;
}
