/* memory.c - a byte buffer as a source: images built or mutated in memory
 * (unit tests, fuzzing harnesses) read exactly like files, with no file
 * system in between. */
#include "source/source.h"

#include <stdint.h>
#include <string.h>

struct memory_source {
	struct qf_source s;          /* first: qf_source_close frees it whole */
	const uint8_t *buf;
};

static int memory_pread(struct qf_source *s, void *buf, size_t len,
			uint64_t off, struct qf_err *e)
{
	const struct memory_source *ms = (const struct memory_source *)s;

	/* qf_source_pread checked [off, off + len) against the size. */
	if (len)
		memcpy(buf, ms->buf + off, len);
	atomic_fetch_add(&s->bytes_read, (uint64_t)len);
	return 0;
}

static const struct qf_source_ops memory_ops = {
	.pread = memory_pread,
};

int qf_source_memory_open(const char *name, const void *buf, size_t len,
			  struct qf_source **out)
{
	struct memory_source *ms = qf_xcalloc(1, sizeof(*ms));
	struct qf_source *s = &ms->s;

	ms->buf = buf;
	s->ops = &memory_ops;
	s->name = qf_xstrdup(name);
	s->size = len;
	s->fd = -1;
	/* Never the same file as any other source (image.c compares these):
	 * no file has device 0, and the address is this source's own. */
	s->dev = 0;
	s->ino = (ino_t)(uintptr_t)ms;
	*out = s;
	return 0;
}
