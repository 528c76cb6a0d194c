/* flashlog.c - the flash log: one JSON object per line and per target,
 * appended after every job, so what was written where can be found later. */
#include "report/flashlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *qf_flashlog_default_path(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	/* The XDG spec says relative values are to be ignored. */
	if (state && state[0] == '/')
		return qf_xasprintf("%s/qflash/flash.log", state);
	if ((!home || !*home) &&
	    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		home = res->pw_dir;
	if (!home || !*home)
		return NULL;
	return qf_xasprintf("%s/.local/state/qflash/flash.log", home);
}

/* Length of the valid UTF-8 sequence at @s (0 if invalid). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 (file names may hold anything)
 * become U+FFFD so the line stays valid JSON. */
void qf_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t n;
		switch (*p) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/* The directories @path goes in; open reports what could not be made. */
static void make_parents(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash || slash == path)
		return;
	dir = qf_xstrndup(path, (size_t)(slash - path));
	qf_make_dirs(dir, 0700);
	free(dir);
}

/* The words for enum qf_adjustment's bits, in bit order. */
static const char *const adjust_words[] = {
	"backup-gpt-moved", "pmbr-resized", "sector-size-converted",
	"partition-grown", "filesystem-grown",
};

/* ,"KEY":"2026-12-02T10:11:12Z", as the log's reader parses it back. */
static void put_time(FILE *f, const char *key, int64_t when)
{
	char buf[32];

	fprintf(f, ",\"%s\":", key);
	qf_json_string(f, qf_history_time_str(when, true, buf, sizeof(buf)));
}

/* A string field, left out when empty. */
static void put_str(FILE *f, const char *key, const char *val)
{
	if (!val || !val[0])
		return;
	fprintf(f, ",\"%s\":", key);
	qf_json_string(f, val);
}

static void put_info(FILE *f, const struct qf_record_info *in)
{
	put_str(f, "station", in->station);
	put_str(f, "operator", in->operator_name);
	put_str(f, "slot", in->slot);
	if (in->qualified)
		fprintf(f, ",\"qualify\":{\"claimed\":%llu,\"usable\":%llu,"
			"\"write_rate\":%.0f}",
			(unsigned long long)in->claimed,
			(unsigned long long)in->usable,
			isfinite(in->write_rate) ? in->write_rate : 0.0);
}

static int err_open(const char *path, int err, struct qf_err *e)
{
	return qf_err_set(e, err, N_("%s: cannot open the flash log: %m"), path);
}

int qf_flashlog_check(const char *path, struct qf_err *e)
{
	struct stat st;
	char *dir, *slash;
	int ret = 0;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return err_open(path, EISDIR, e);
		return access(path, W_OK) == 0 ? 0 : err_open(path, errno, e);
	}
	if (errno != ENOENT)
		return err_open(path, errno, e);
	/* Up to the first directory that exists: make_parents creates the
	 * rest in it. */
	dir = qf_xstrdup(path);
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash) {
			strcpy(dir, ".");
		} else if (slash == dir) {
			slash[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(dir, &st) == 0 || errno != ENOENT || !slash || slash == dir)
			break;
	}
	if (stat(dir, &st) != 0)
		ret = err_open(path, errno, e);
	else if (!S_ISDIR(st.st_mode))
		ret = err_open(path, ENOTDIR, e);
	else if (access(dir, W_OK | X_OK) != 0)
		ret = err_open(path, errno, e);
	free(dir);
	return ret;
}

int qf_flashlog_append(const char *path, const struct qf_flashlog_entry *en,
		       struct qf_err *e)
{
	char when[32] = "";
	char *line = NULL, last = '\n';
	struct stat st = { 0 };
	size_t len = 0;
	FILE *f;
	int fd, ret = 0;
	ssize_t n;

	f = open_memstream(&line, &len);
	if (!f)
		return qf_err_set(e, errno, "%s: %m", path);
	fputs("{\"time\":", f);
	qf_json_string(f, qf_history_time_str(en->time, true, when, sizeof(when)));
	fputs(",\"image\":", f);
	qf_json_string(f, en->image);
	if (en->cache) {
		fputs(",\"cache\":", f);
		qf_json_string(f, en->cache);
	}
	if (en->snapshot_id) {
		fputs(",\"snapshot\":{\"id\":", f);
		qf_json_string(f, en->snapshot_id);
		fputs(",\"name\":", f);
		qf_json_string(f, en->snapshot_name ? en->snapshot_name : "");
		fputc('}', f);
	}
	fprintf(f, ",\"virtual_size\":%llu,\"mode\":",
		(unsigned long long)en->virtual_size);
	qf_json_string(f, en->mode);
	if (en->partition > 0)
		fprintf(f, ",\"partition\":%d", en->partition);
	if (en->source_sha256 && en->source_sha256[0]) {
		fputs(",\"source_sha256\":", f);
		qf_json_string(f, en->source_sha256);
	}
	if (en->published_sha256) {
		fputs(",\"published_sha256\":", f);
		qf_json_string(f, en->published_sha256);
		fputs(",\"checksum_origin\":", f);
		qf_json_string(f, en->checksum_origin ? en->checksum_origin : "");
		fputs(",\"checksum_result\":", f);
		qf_json_string(f, en->checksum_result ? en->checksum_result : "");
	}
	if (en->disk_published) {
		fputs(",\"disk_published_sha256\":", f);
		qf_json_string(f, en->disk_published);
		if (en->disk_sha256 && en->disk_sha256[0]) {
			fputs(",\"disk_sha256\":", f);
			qf_json_string(f, en->disk_sha256);
		}
		fputs(",\"disk_checksum_result\":", f);
		qf_json_string(f, en->disk_result ? en->disk_result : "");
	}
	if (en->have_checksum)
		fprintf(f, ",\"checksum\":\"xxh3-4m:%016llx\"",
			(unsigned long long)en->checksum);
	else
		fputs(",\"checksum\":null", f);
	fputs(",\"target\":", f);
	qf_json_string(f, en->target);
	fputs(",\"model\":", f);
	qf_json_string(f, en->model);
	fputs(",\"serial\":", f);
	qf_json_string(f, en->serial);
	if (en->wwn && en->wwn[0]) {
		fputs(",\"wwn\":", f);
		qf_json_string(f, en->wwn);
	}
	if (en->target_size)
		fprintf(f, ",\"target_size\":%llu",
			(unsigned long long)en->target_size);
	if (en->info)
		put_info(f, en->info);
	fputs(",\"adjustments\":[", f);
	for (size_t i = 0, n = 0; i < sizeof(adjust_words) / sizeof(adjust_words[0]); i++)
		if (en->adjusted & (1u << i))
			fprintf(f, "%s\"%s\"", n++ ? "," : "", adjust_words[i]);
	fputc(']', f);
	fprintf(f, ",\"bytes_written\":%llu,\"bytes_zeroed\":%llu,\"duration\":%.3f,\"result\":",
		(unsigned long long)en->bytes_written,
		(unsigned long long)en->bytes_zeroed,
		isfinite(en->duration) && en->duration > 0 ? en->duration : 0.0);
	qf_json_string(f, en->result);
	if (en->finished) {
		double d = en->duration;

		put_time(f, "finished", en->finished);
		if (isfinite(d) && d > 0)
			fprintf(f, ",\"rate\":%.0f",
				(double)(en->bytes_written + en->bytes_zeroed) / d);
	}
	fputs(",\"verify\":", f);
	qf_json_string(f, en->verify);
	/* Only when something was: most records have nothing to say. */
	if (en->healed) {
		fprintf(f, ",\"healed\":%u,\"healed_at\":[", (unsigned)en->healed);
		for (size_t i = 0; i < en->nhealed_at; i++)
			fprintf(f, "%s%llu", i ? "," : "",
				(unsigned long long)en->healed_at[i]);
		fputc(']', f);
	}
	fputs(",\"error\":", f);
	qf_json_string(f, en->error);
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(line);
		return qf_err_set(e, ENOMEM, "%s: %m", path);
	}

	make_parents(path);
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = err_open(path, errno, e);
		goto out;
	}
	/* A record cut short before (a full disk) must not swallow this one:
	 * start on a line of our own. */
	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
		char *l2 = qf_xasprintf("\n%s", line);
		free(line);
		line = l2;
		len++;
	}
	/* One write per line: with O_APPEND, concurrent jobs never interleave
	 * inside a line, and a killed process leaves a line or none. */
	n = write(fd, line, len);
	if (n < 0 || (size_t)n != len) {
		int err = n < 0 ? errno : ENOSPC;
		struct stat now;

		/* Take a cut record back, unless someone appended since. */
		if (n > 0 && fstat(fd, &now) == 0 &&
		    now.st_size == st.st_size + n)
			if (ftruncate(fd, st.st_size) < 0) {
				/* left as it is: the next record starts a line */
			}
		ret = qf_err_set(e, err, N_("%s: cannot write the flash log: %m"),
				 path);
	} else if (fdatasync(fd) < 0) {
		/* A record is a certificate: it must survive a power cut. */
		ret = qf_err_set(e, errno, N_("%s: cannot write the flash log: %m"),
				 path);
	}
	if (close(fd) < 0 && ret == 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write the flash log: %m"),
				 path);
out:
	free(line);
	return ret;
}
