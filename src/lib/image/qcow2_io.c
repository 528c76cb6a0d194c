/* qcow2_io.c - the bottom of the qcow2 files, used by all of them and
 * using none: reporting a malformed image and reading the file. */
#include "image/qcow2_int.h"

#include <errno.h>
#include <stdarg.h>

/* The checks need not carry the open's error in every argument list. */
int qcow2_bad(struct qcow2 *q, const char *fmt, ...)
{
	struct qf_err *e = q->open_err;
	bool fresh = e && e->code == 0;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = qf_err_vset(e, EINVAL, fmt, ap);
	va_end(ap);
	if (fresh)
		qf_err_prefix(e, "%s: ", q->file->name);
	return ret;
}

int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
	       struct qf_err *e)
{
	return qf_source_pread(q->file, buf, len, off, 0, e);
}

bool qcow2_has_data_file(const struct qcow2 *q)
{
	return q->incompat & INCOMPAT_DATA_FILE;
}
