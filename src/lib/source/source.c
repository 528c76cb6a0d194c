/* source.c - opening sources by name and resolving names that one image
 * uses to refer to another (backing files, external data files). */
#include "source/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int qf_source_open(const char *name, const char *base,
		   const struct qf_open_opts *opts, struct qf_source **out,
		   struct qf_err *e)
{
	char *full = qf_resolve_name(name, base);
	int ret;

	if (base && qf_name_is_url(base) && !qf_name_is_url(full)) {
		ret = qf_err_set(e, EPERM,
				 N_("%s: a remote image may not refer to the local file %s"),
				 base, full);
		free(full);
		return ret;
	}
	if (qf_name_is_url(full) && base && !qf_name_is_url(base)) {
		/* A local file choosing a host to talk to: only when the
		 * user said so, and without the user's headers, which were
		 * meant for the server the user named. */
		struct qf_open_opts o = opts ? *opts : (struct qf_open_opts){ 0 };
		char *fo = qf_url_origin(full);

		if (!o.allow_remote_backing) {
			ret = qf_err_set(e, EREMOTE,
					 N_("%s: refers to a file on the server %s, which it may only read when allowed"),
					 base, fo);
		} else {
			o.headers = NULL;
			ret = qf_source_http_open(full, &o, out, e);
		}
		free(fo);
		free(full);
		return ret;
	}
	if (qf_name_is_url(full)) {
		if (base && qf_name_is_url(base)) {
			/* Same scheme, host and port only; credentials in
			 * either name do not make it another server.  The
			 * message names the origin: @full may hold a password. */
			char *bo = qf_url_origin(base), *fo = qf_url_origin(full);

			ret = strcmp(bo, fo) == 0 ? 0 :
			      qf_err_set(e, EPERM,
					 N_("%s: refers to %s on another server"),
					 base, fo);
			free(bo);
			free(fo);
			if (ret < 0) {
				free(full);
				return ret;
			}
		}
		ret = qf_source_http_open(full, opts, out, e);
	} else {
		ret = qf_source_file_open(full, out, e);
	}
	free(full);
	return ret;
}

int qf_source_pread(struct qf_source *s, void *buf, size_t len, uint64_t off,
		    unsigned flags, struct qf_err *e)
{
	size_t avail = len;

	if (flags & QF_READ_ZERO_PAST_EOF) {
		if (off >= s->size)
			avail = 0;
		else if (s->size - off < len)
			avail = (size_t)(s->size - off);
		memset((char *)buf + avail, 0, len - avail);
		if (!avail)
			return 0;
	} else if (!range_inside(off, len, s->size)) {
		return qf_err_set(e, EIO,
				  N_("%s: read of %zu bytes at %llu is past the end of the file"),
				  s->name, len, (unsigned long long)off);
	}
	return s->ops->pread(s, buf, avail, off, e);
}

int qf_source_unchanged(struct qf_source *s, struct qf_err *e)
{
	return s && s->ops->unchanged ? s->ops->unchanged(s, e) : 0;
}

void qf_source_prefetch(struct qf_source *s, uint64_t off, uint64_t len)
{
	if (s && s->ops->prefetch && len)
		s->ops->prefetch(s, off, len);
}

void qf_source_interrupt(struct qf_source *s, bool on)
{
	if (s && s->ops->interrupt)
		s->ops->interrupt(s, on);
}

void qf_source_close(struct qf_source *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->close)
		s->ops->close(s);
	free(s->name);
	free(s);
}
