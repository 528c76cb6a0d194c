/* test_qualify.c - media qualification (qf_qualify) on regular files: a
 * good file qualifies with its ends zeroed, on two threads at once too;
 * a cancelled, too small, missing or source-holding target is refused
 * without a byte written.  Fake and dead drives need block devices:
 * tests/cli/qualify.sh has them. */
#include "config.h"
#include "qflash.h"
#include "tap.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define FILL 0xab

/* A file of @size bytes of FILL in the scratch directory. */
static void make_file(char *path, size_t len, const char *name, uint64_t size)
{
	static unsigned char buf[MIB];
	uint64_t done = 0;
	int fd;

	snprintf(path, len, "%s/%s", tmpdir, name);
	memset(buf, FILL, sizeof(buf));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	while (fd >= 0 && done < size) {
		size_t n = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n)
			break;
		done += n;
	}
	if (fd >= 0)
		close(fd);
}

/* Whether [off, off + len) of @path holds only the byte @c. */
static bool all_bytes(const char *path, uint64_t off, uint64_t len, int c)
{
	unsigned char buf[65536];
	bool same = true;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	while (same && len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) {
			same = false;
			break;
		}
		for (size_t i = 0; i < n && same; i++)
			same = buf[i] == c;
		off += n;
		len -= n;
	}
	close(fd);
	return same;
}

static uint64_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void test_good(void)
{
	struct qf_qualify_result r;
	struct qf_err e = { 0 };
	char path[PATH_MAX];
	uint64_t size = 64 * MIB;
	int ret;

	make_file(path, sizeof(path), "good.img", size);
	ret = qf_qualify(path, NULL, NULL, &r, &e);
	is_int(ret, 0, "a good file qualifies (%s)", ret ? e.msg : r.message);
	ok(r.claimed == size && r.usable == size, "claimed and usable: its size");
	ok(!r.fake && !r.lost_writes && !r.write_errors && !r.read_only,
	   "nothing found wrong");
	ok(r.write_rate > 0 && r.read_rate > 0, "rates measured: %.0f, %.0f B/s",
	   r.write_rate, r.read_rate);
	ok(r.seconds > 0 && r.seconds < 30, "took %.2f s", r.seconds);
	ok(strncmp(r.message, "good", 4) == 0, "verdict: %s", r.message);
	ok(all_bytes(path, 0, MIB, 0), "its first MiB is zeros");
	ok(all_bytes(path, size - MIB, MIB, 0), "its last MiB is zeros");
	ok(!all_bytes(path, 2 * MIB, 4096, FILL), "it was written to");
	is_int(size_of(path), size, "its size is unchanged");

	/* Not a whole number of blocks, and no result wanted. */
	size = 8 * MIB + 1000;
	make_file(path, sizeof(path), "odd.img", size);
	is_int(qf_qualify(path, NULL, NULL, NULL, NULL), 0,
	       "an odd-sized file qualifies, without a result or error");
	ok(all_bytes(path, size - MIB, MIB, 0), "its last MiB is zeros");
	is_int(size_of(path), size, "its size is unchanged");
}

/* @path is refused with @want, its bytes and size untouched. */
static void refused(const char *path, const char *const *sources,
		    volatile const int *cancel, int want, const char *what,
		    const char *words)
{
	struct qf_qualify_result r;
	struct qf_err e = { 0 };
	uint64_t size = size_of(path);
	int ret = qf_qualify(path, sources, cancel, &r, &e);

	is_int(ret, want, "%s: refused (%d: %s)", what, ret, e.msg);
	ok(strncmp(e.msg, path, strlen(path)) == 0 && strstr(e.msg, words) &&
	   strstr(r.message, words) && !strstr(r.message, path),
	   "%s: the message names the path, the verdict says '%s': %s", what,
	   words, r.message);
	ok(size_of(path) == size && (!size || all_bytes(path, 0, size, FILL)),
	   "%s: not written", what);
}

static void test_refused(void)
{
	static volatile const int stop = 1;
	char path[PATH_MAX], img[PATH_MAX];
	const char *sources[2] = { NULL, NULL };

	make_file(path, sizeof(path), "cancel.img", 16 * MIB);
	refused(path, NULL, &stop, -ECANCELED, "cancelled before it began",
		"cancelled");
	make_file(path, sizeof(path), "tiny.img", 16384);
	refused(path, NULL, NULL, -EINVAL, "a 16 KiB file", "too small");
	make_file(img, sizeof(img), "source.img", 16 * MIB);
	sources[0] = img;
	refused(img, sources, NULL, -EPERM, "the source image", "source");

	snprintf(path, sizeof(path), "%s/missing.img", tmpdir);
	is_int(qf_qualify(path, NULL, NULL, NULL, NULL), -ENOENT,
	       "a missing file is not qualified");
	ok(access(path, F_OK) != 0, "... and not created");
	is_int(qf_qualify("", NULL, NULL, NULL, NULL), -EINVAL, "an empty path");
}

struct job {
	char path[PATH_MAX];
	int ret;
};

static void *qualify_thread(void *arg)
{
	struct job *j = arg;

	j->ret = qf_qualify(j->path, NULL, NULL, NULL, NULL);
	return NULL;
}

static void test_threads(void)
{
	struct job j[2];
	pthread_t th[2];
	bool started[2];

	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "thread%d.img", i);
		make_file(j[i].path, sizeof(j[i].path), name, 32 * MIB);
		j[i].ret = 1;
	}
	for (int i = 0; i < 2; i++)
		started[i] = pthread_create(&th[i], NULL, qualify_thread, &j[i]) == 0;
	for (int i = 0; i < 2; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			qualify_thread(&j[i]);
	}
	ok(j[0].ret == 0 && j[1].ret == 0, "two files on two threads qualify");
}

int main(void)
{
	qf_init();
	if (!scratch_init("qualify", NULL))
		return 0;
	test_good();
	test_refused();
	test_threads();
	return tap_done();
}
