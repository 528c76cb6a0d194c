/* test_cache.c - the cache of remote files without a server: URLs without
 * their credentials (the rule in url.c), an index with lines of every
 * kind read for what it can trust, and copies used offline through the
 * API station mode uses (qf_cache_fetch, qf_cache_has): checked again
 * when their file may have changed, refused when damaged. */
#include "internal.h"
#include "source/digest.h"
#include "source/source.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[512];

/* Nothing listens there: every request fails as an outage does. */
#define URL "http://127.0.0.1:1/img/x.img"
#define BODY "hello, cache"

static bool redacts(const char *url, const char *want)
{
	char *r = qf_url_redact(url);
	bool same = strcmp(r, want) == 0;

	if (!same)
		printf("# %s gave %s\n", url, r);
	free(r);
	return same;
}

static void test_redact(void)
{
	ok(redacts("http://h/x.img", "http://h/x.img"), "a plain URL stays");
	ok(redacts("https://u:p@h:8/d/x.img#part", "https://h:8/d/x.img"),
	   "userinfo and fragment go");
	ok(redacts("https://b.s3.amazonaws.com/x.img?X-Amz-Algorithm=AWS4-HMAC-SHA256"
		   "&X-Amz-Credential=K%2F1&X-Amz-Date=1&X-Amz-Expires=60"
		   "&X-Amz-SignedHeaders=host&X-Amz-Security-Token=t&X-Amz-Signature=ff",
		   "https://b.s3.amazonaws.com/x.img"), "an S3 presigned URL");
	ok(redacts("https://h/x.img?versionId=3&AWSAccessKeyId=K&Expires=1&signature=s",
		   "https://h/x.img?versionId=3"),
	   "S3 version 2: the signature goes, the version stays");
	ok(redacts("https://a.blob.core.windows.net/c/x.img?sv=2020-08-04&st=1&se=2"
		   "&sr=b&sp=r&skoid=o&sig=abc%3D", "https://a.blob.core.windows.net/c/x.img"),
	   "an Azure shared access signature");
	ok(redacts("https://h/x.img?sp=1&st=2", "https://h/x.img?sp=1&st=2"),
	   "sp and st without sig are not credentials");
	ok(redacts("https://h/x.img?X-Goog-Signature=1&token=t&a=1&&b",
		   "https://h/x.img?a=1&b"), "GCS, a token, an empty parameter");
	ok(redacts("http://h?Signature=1", "http://h"), "no path");
	ok(redacts("/srv/x.img?Signature=1", "/srv/x.img?Signature=1"),
	   "a path is no URL");
}

struct seen {
	int warnings, checks;
};

static void on_warn(void *ctx, const char *msg)
{
	((struct seen *)ctx)->warnings++;
	printf("# warning: %s\n", msg);
}

static void on_progress(void *ctx, const char *name, enum qf_cache_phase ph,
			uint64_t done, uint64_t total)
{
	if (ph == QF_CACHE_CHECKING && done == total)
		((struct seen *)ctx)->checks++;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static int fetch(struct qf_cache *c, const char *url, struct seen *s,
		 char **path, struct qf_cache_info *info, struct qf_err *e)
{
	struct qf_open_opts o = { .warn = on_warn, .warn_ctx = s };

	*e = (struct qf_err){ 0 };
	return qf_cache_fetch(c, url, &o, path, info, NULL, on_progress, s, e);
}

static void test_offline(void)
{
	char *dir = qf_xasprintf("%s/cache", tmpdir), *obj, *index, *text, *path = NULL;
	struct qf_digest *d = qf_digest_new("sha256");
	uint8_t md[QF_DIGEST_MAX];
	struct qf_cache_info info;
	struct seen s = { 0 };
	struct qf_err e = { 0 };
	struct qf_cache *c;
	char sha[65];
	int ret;

	qf_digest_update(d, BODY, strlen(BODY));
	qf_hex(md, qf_digest_final(d, md), sha);
	qf_digest_free(d);
	c = qf_cache_open(dir, 0, &e);
	if (!ok(c, "a new cache is made: %s", e.msg))
		return;
	ok(!qf_cache_has(c, URL, NULL), "an empty cache has nothing");
	ret = fetch(c, URL, &s, &path, &info, &e);
	ok(ret == -EIO && strstr(e.msg, "holds no copy"),
	   "offline without a copy: %s", e.msg);
	ok(fetch(c, "/srv/x.img", &s, &path, &info, &e) == -EINVAL,
	   "a path is not fetched: %s", e.msg);

	/* A copy of URL whose file times were never recorded, among lines
	 * the index cannot trust. */
	obj = qf_xasprintf("%s/objects/%s", dir, sha);
	write_file(obj, BODY);
	index = qf_xasprintf("%s/index", dir);
	text = qf_xasprintf("qflash-cache-index 1\n"
			    "garbage\n"
			    "%s\t12\t1\t1\t0\t0\t0\t\"e\"\t\t%s\textra\n"
			    "%.63sX\t12\t1\t1\t0\t0\t0\t\"e\"\t\t%s\n"
			    "%s\t12\t1000000000\t2000000000\t0\t0\t0\t\"e\"\t\t%s\n"
			    "%064d\t5\t1\t1\t0\t0\t0\t\t\t%s\n"
			    "%s\t12\t1\t1\t0\t0\t0\t\"e\"\t\thttp://127.0.0.1:1/cut",
			    sha, URL, sha, URL, sha, URL, 0, URL, sha);
	write_file(index, text);
	free(text);
	ok(qf_cache_has(c, "http://u:pw@127.0.0.1:1/img/x.img?X-Amz-Signature=1", &info) &&
	   info.size == 12 && !strcmp(info.sha256, sha) && info.stored == 1 &&
	   info.last_use == 2, "the URL's line is found, whatever its credentials");
	ok(!qf_cache_has(c, "http://127.0.0.1:1/cut", NULL),
	   "a line cut short is not trusted");

	ret = fetch(c, URL, &s, &path, &info, &e);
	ok(ret == 0 && info.use == QF_CACHE_OFFLINE && path && !strcmp(path, obj) &&
	   s.warnings == 1, "offline, the copy is used with a warning: %s", e.msg);
	ok(s.checks == 1, "a copy whose file times are not known is read again");
	free(path);
	path = NULL;
	ret = fetch(c, URL, &s, &path, &info, &e);
	ok(ret == 0 && s.checks == 1, "once read, it is not read again");
	free(path);
	path = NULL;

	/* Changed in place: found, refused and dropped. */
	chmod(obj, 0644);
	write_file(obj, "hello, Cache");
	ret = fetch(c, URL, &s, &path, &info, &e);
	ok(ret == -EIO && strstr(e.msg, "is damaged") && !path,
	   "a damaged copy is refused offline: %s", e.msg);
	ok(!qf_cache_has(c, URL, NULL), "and forgotten");
	qf_cache_close(c);

	write_file(index, "qflash-cache-index 9\n");
	c = qf_cache_open(dir, 0, &e);
	ret = c ? fetch(c, URL, &s, &path, &info, &e) : -1;
	ok(ret == -EPROTO && strstr(e.msg, "not a cache index"),
	   "an index of another version is left alone: %s", e.msg);
	qf_cache_close(c);
	free(index);
	free(obj);
	free(dir);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char *rm;

	qf_init();
	test_redact();
	snprintf(tmpdir, sizeof(tmpdir), "%s/qf-cache.XXXXXX", t && *t ? t : "/tmp");
	if (!ok(mkdtemp(tmpdir), "a scratch directory"))
		return tap_done();
	test_offline();
	rm = qf_xasprintf("rm -rf '%s'", tmpdir);
	if (system(rm) != 0)
		printf("# %s failed\n", rm);
	free(rm);
	return tap_done();
}
