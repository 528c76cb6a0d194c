/* source_file.c - local files as byte sources (pread on one fd). */
#include "source/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_pread(struct qf_source *s, void *buf, size_t len, uint64_t off,
		      struct qf_err *e)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return qf_err_set(e, errno, N_("%s: read error at %llu: %m"),
					  s->name, (unsigned long long)off);
		}
		if (n == 0)
			return qf_err_set(e, EIO,
					  N_("%s: unexpected end of file at %llu"),
					  s->name, (unsigned long long)off);
		p += n;
		len -= n;
		off += n;
		atomic_fetch_add(&s->bytes_read, (uint64_t)n);
	}
	return 0;
}

static void file_prefetch(struct qf_source *s, uint64_t off, uint64_t len)
{
	posix_fadvise(s->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

/* What says a file was written since it was opened: its size, its
 * modification time (which a writer may set back) and its change time
 * (which it cannot). */
struct file_source {
	struct qf_source s;          /* first: qf_source_close frees it whole */
	struct stat st;
};

static int file_unchanged(struct qf_source *s, struct qf_err *e)
{
	const struct stat *a = &((struct file_source *)s)->st;
	struct stat b;

	if (fstat(s->fd, &b) < 0)
		return qf_err_set(e, errno, "%s: %m", s->name);
	if (!S_ISREG(a->st_mode))
		return 0;
	if (a->st_size != b.st_size || a->st_mtim.tv_sec != b.st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b.st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b.st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b.st_ctim.tv_nsec)
		return qf_err_set(e, ESTALE,
				  N_("%s: the file changed while it was being read (size %llu, now %llu): what was written cannot be trusted"),
				  s->name, (unsigned long long)a->st_size,
				  (unsigned long long)b.st_size);
	return 0;
}

static void file_close(struct qf_source *s)
{
	if (s->fd >= 0)
		close(s->fd);
}

static const struct qf_source_ops file_ops = {
	.pread = file_pread,
	.prefetch = file_prefetch,
	.unchanged = file_unchanged,
	.close = file_close,
};

int qf_source_file_open(const char *path, struct qf_source **out,
			struct qf_err *e)
{
	struct file_source *fs;
	struct qf_source *s;
	struct stat st;
	uint64_t size;
	char *abs;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qf_err_set(e, errno, "%s: %m", path);
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return qf_err_set(e, err, "%s: %m", path);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return qf_err_set(e, EISDIR, N_("%s: is a directory"), path);
	}
	if ((ret = qf_fd_size(fd, &st, &size)) < 0) {
		close(fd);
		return qf_err_set(e, ret, N_("%s: cannot get the device size: %m"),
				  path);
	}
	fs = qf_xcalloc(1, sizeof(*fs));
	fs->st = st;
	s = &fs->s;
	s->ops = &file_ops;
	abs = realpath(path, NULL);
	s->name = abs ? abs : qf_xstrdup(path);
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = size;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = s;
	return 0;
}
