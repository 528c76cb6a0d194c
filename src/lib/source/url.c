/* url.c - names of images and of the files they refer to: telling URLs
 * from paths, the parts of a URL's authority, its origin, resolving a
 * relative name against the image that names it, and a URL without its
 * credentials (to show, log or key a cache by). */
#include "source/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ------------------------------------------------------------ redaction
 * A URL as it may be shown, logged or used as a cache key: without the
 * userinfo, the fragment, and the query parameters that only prove who
 * may read the file (a presigned or signed URL's signature, its expiry
 * and the key that made it, an access token).  Those change from one
 * request to the next while the file stays the same, and whoever sees
 * them can read it.  The other parameters are kept: they may choose the
 * file.  The rule, by parameter name (case-insensitive):
 *   - X-Amz-* and X-Goog-* (S3 and GCS signatures, version 4);
 *   - Signature, Expires, AWSAccessKeyId, GoogleAccessId, Key-Pair-Id,
 *     Policy (S3 and GCS version 2, CloudFront);
 *   - token, access_token, private_token, auth, api_key, apikey;
 *   - when the query has a sig parameter (an Azure shared access
 *     signature): sig and its companions sv, ss, srt, sp, se, st, spr,
 *     sr, si, sdd, ses, sip and the sk* user-delegation fields. */

static bool param_is(const char *p, size_t n, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == n && strncasecmp(p, *names, n) == 0)
			return true;
	return false;
}

static bool credential_param(const char *p, size_t n, bool sas)
{
	static const char *const always[] = {
		"Signature", "Expires", "AWSAccessKeyId", "GoogleAccessId",
		"Key-Pair-Id", "Policy", "token", "access_token",
		"private_token", "auth", "api_key", "apikey", NULL
	};
	static const char *const azure[] = {
		"sig", "sv", "ss", "srt", "sp", "se", "st", "spr", "sr", "si",
		"sdd", "ses", "sip", NULL
	};

	if ((n >= 6 && strncasecmp(p, "X-Amz-", 6) == 0) ||
	    (n >= 7 && strncasecmp(p, "X-Goog-", 7) == 0))
		return true;
	if (param_is(p, n, always))
		return true;
	return sas && (param_is(p, n, azure) ||
		       (n >= 3 && strncasecmp(p, "sk", 2) == 0));
}

/* The length of the name of the query parameter at @p (up to '=' or its
 * end at @n). */
static size_t param_name_len(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	return eq ? (size_t)(eq - p) : n;
}

char *qf_url_redact(const char *url)
{
	const char *auth, *at, *end, *q, *frag, *p;
	size_t len;
	bool sas = false, first = true;
	char *out, *o;

	if (!qf_name_is_url(url))
		return qf_xstrdup(url);
	qf_url_authority(url, &auth, &at, &end);
	frag = end + strcspn(end, "#");
	q = memchr(end, '?', (size_t)(frag - end));
	if (!q)
		q = frag;
	out = o = qf_xmalloc(strlen(url) + 1);
	o += sprintf(o, "%.*s%.*s", (int)(auth - url), url, (int)(q - at), at);
	if (q == frag)
		return out;
	for (p = q + 1; p < frag; p += len + 1) {
		len = strcspn(p, "&#");
		if (param_name_len(p, len) == 3 && strncasecmp(p, "sig", 3) == 0)
			sas = true;
	}
	for (p = q + 1; p < frag; p += len + 1) {
		len = strcspn(p, "&#");
		if (!len || credential_param(p, param_name_len(p, len), sas))
			continue;
		o += sprintf(o, "%c%.*s", first ? '?' : '&', (int)len, p);
		first = false;
	}
	return out;
}
