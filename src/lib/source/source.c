/* source.c - opening sources by name and resolving names that one image
 * uses to refer to another (backing files, external data files). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool qf_name_is_url(const char *name)
{
	return strncmp(name, "http://", 7) == 0 ||
	       strncmp(name, "https://", 8) == 0;
}

void qf_url_authority(const char *url, const char **auth, const char **at,
		      const char **end)
{
	const char *a = strstr(url, "://");
	const char *p;

	a = a ? a + 3 : url;
	*auth = a;
	*end = a + strcspn(a, "/?#");
	*at = a;
	for (p = a; p < *end; p++)
		if (*p == '@')
			*at = p + 1;
}

char *qf_url_origin(const char *url)
{
	const char *auth, *at, *end;

	qf_url_authority(url, &auth, &at, &end);
	return qf_xasprintf("%.*s%.*s", (int)(auth - url), url,
			    (int)(end - at), at);
}

char *qf_resolve_name(const char *name, const char *base)
{
	const char *slash;

	if (!base || name[0] == '/' || qf_name_is_url(name))
		return qf_xstrdup(name);
	if (qf_name_is_url(base)) {
		/* Relative reference: drop query and fragment, keep the path's
		 * directory. */
		const char *host = strstr(base, "://") + 3;
		const char *path = strchr(host, '/');
		size_t cut;
		if (!path)
			return qf_xasprintf("%s/%s", base, name);
		cut = strcspn(path, "?#");
		slash = NULL;
		for (const char *p = path; p < path + cut; p++)
			if (*p == '/')
				slash = p;
		return qf_xasprintf("%.*s%s", (int)(slash - base + 1), base, name);
	}
	slash = strrchr(base, '/');
	if (!slash)
		return qf_xstrdup(name);
	return qf_xasprintf("%.*s%s", (int)(slash - base + 1), base, name);
}

int qf_source_open(const char *name, const char *base,
		   const struct qf_open_opts *opts, struct qf_source **out,
		   struct qf_err *e)
{
	char *full = qf_resolve_name(name, base);
	int ret;

	if (base && qf_name_is_url(base) && !qf_name_is_url(full)) {
		ret = qf_err_set(e, EPERM,
				 _("%s: a remote image may not refer to the local file %s"),
				 base, full);
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
					 _("%s: refers to %s on another server"),
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
				  _("%s: read of %zu bytes at %llu is past the end of the file"),
				  s->name, len, (unsigned long long)off);
	}
	return s->ops->pread(s, buf, avail, off, e);
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
