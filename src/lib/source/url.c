/* url.c - names of images and of the files they refer to: telling URLs
 * from paths, the parts of a URL's authority, its origin, and resolving a
 * relative name against the image that names it. */
#include "source/source.h"

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
