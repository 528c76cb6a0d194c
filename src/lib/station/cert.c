/* cert.c - the certificate of one drive a station flashed: a plain-text
 * page to print or file with the drive, beside the flash log's record of
 * the same drive. */
#include "station/station_int.h"
#include "target/sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* @s with everything but [A-Za-z0-9._-] made '_', for a file name. */
static void file_word(char *out, size_t len, const char *s)
{
	size_t i = 0;

	for (; *s && i + 1 < len; s++)
		out[i++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'
			   ? *s : '_';
	out[i] = '\0';
}

/* @when as 20261202T101112Z, for a file name. */
static void file_time(char *out, size_t len, double when)
{
	time_t t = (time_t)when;
	struct tm tm;

	out[0] = '\0';
	if (gmtime_r(&t, &tm))
		strftime(out, len, "%Y%m%dT%H%M%SZ", &tm);
}

static const char *const adjust_names[] = {
	N_("backup GPT moved to the end"), N_("protective MBR resized"),
	N_("GPT converted to the drive's sector size"),
	N_("last partition grown"), N_("its filesystem grown"),
};

static void line(FILE *f, const char *label, const char *value)
{
	fprintf(f, "%-16s %s\n", label, value);
}

static void body(FILE *f, const struct slot *s, const struct qf_device *dev,
		 const struct qf_progress *p, const char *sha256, double t0,
		 double t1, bool pass, const char *reason)
{
	const struct qf_station *st = s->st;
	const struct qf_target_progress *tp = p && p->ntargets ? p->targets : NULL;
	char buf[512], a[32], b[32];

	fprintf(f, "%s\n\n", _("qflash drive certificate"));
	line(f, _("Result:"), pass ? _("PASS") : _("FAIL"));
	if (!pass)
		line(f, _("Reason:"), reason);
	line(f, _("Station:"), st->station);
	line(f, _("Operator:"), st->operator_name);
	line(f, _("Slot:"), s->status.id);
	line(f, _("Device:"), s->status.device);
	line(f, _("Model:"), dev->model[0] ? dev->model : "-");
	line(f, _("Serial:"), dev->serial[0] ? dev->serial : "-");
	line(f, _("WWN:"), dev->wwn[0] ? dev->wwn : "-");
	snprintf(buf, sizeof(buf), _("%s (%llu bytes)"),
		 qf_size_str(dev->size, a, sizeof(a)), (unsigned long long)dev->size);
	line(f, _("Size:"), buf);
	if (s->rec.qualified) {
		qf_size_pair_str(s->rec.claimed, s->rec.usable, a, b, sizeof(a));
		snprintf(buf, sizeof(buf), _("claimed %s, holds %s, writes at %.1f MB/s"),
			 a, b, s->rec.write_rate / 1e6);
		line(f, _("Qualified:"), buf);
	}
	line(f, _("Image:"), st->image);
	line(f, _("Image SHA-256:"), sha256 && sha256[0] ? sha256 : _("not computed"));
	if (p && p->checksum_ok)
		line(f, _("Published:"), p->checksum_ok > 0 ? _("matches") : _("DOES NOT MATCH"));
	if (tp) {
		snprintf(buf, sizeof(buf), _("%llu bytes of data, %llu bytes zeroed"),
			 (unsigned long long)tp->written,
			 (unsigned long long)tp->zeroed);
		line(f, _("Written:"), buf);
		if (tp->have_checksum)
			snprintf(buf, sizeof(buf), "xxh3-4m:%016llx%s",
				 (unsigned long long)tp->checksum,
				 st->o.job.verify ? (tp->state == QF_TARGET_OK ? _(", read back and verified")
						     : _(", read back: MISMATCH"))
						  : _(", not read back"));
		else
			qf_scopy(buf, sizeof(buf), "-");
		line(f, _("Checksum:"), buf);
		if (tp->healed) {
			snprintf(buf, sizeof(buf),
				 _("%u ranges read back wrong and were written again"),
				 (unsigned)tp->healed);
			line(f, _("Healed:"), buf);
		}
		buf[0] = '\0';
		for (unsigned i = 0; i < sizeof(adjust_names) / sizeof(*adjust_names); i++)
			if (tp->adjusted & (1u << i))
				qf_append(buf, sizeof(buf), "; ", _(adjust_names[i]));
		line(f, _("Adjustments:"), buf[0] ? buf : _("none"));
	}
	line(f, _("Started:"), qf_history_time_str((int64_t)t0, true, buf, sizeof(buf)));
	line(f, _("Finished:"), qf_history_time_str((int64_t)t1, true, buf, sizeof(buf)));
	if (tp && p->elapsed > 0) {
		snprintf(buf, sizeof(buf), _("%.1f s, %.1f MB/s"), p->elapsed,
			 (double)(tp->written + tp->zeroed) / p->elapsed / 1e6);
		line(f, _("Time:"), buf);
	}
}

void cert_write(struct slot *s, const struct qf_device *dev,
		const struct qf_progress *p, const char *sha256, double t0,
		double t1, bool pass, const char *reason)
{
	struct qf_station *st = s->st;
	char when[32], slot[64], who[64], *path;
	FILE *f;
	int fd;

	file_time(when, sizeof(when), t1);
	file_word(slot, sizeof(slot), s->status.id);
	file_word(who, sizeof(who), dev->serial[0] ? dev->serial : dev->name);
	path = qf_xasprintf("%s/%s-%s-%s.txt", st->cert_dir, when, slot, who);
	/* Two drives never share a certificate, even within a second. */
	for (int n = 2; (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				   0644)) < 0 && errno == EEXIST && n < 100; n++) {
		free(path);
		path = qf_xasprintf("%s/%s-%s-%s-%d.txt", st->cert_dir, when, slot,
				    who, n);
	}
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		qf_warn(&st->o.open, _("%s: cannot write the certificate: %s"), path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		pthread_mutex_lock(&st->mu);
		s->status.certificate[0] = '\0';
		pthread_mutex_unlock(&st->mu);
		return;
	}
	body(f, s, dev, p, sha256, t0, t1, pass, reason);
	fflush(f);
	fdatasync(fileno(f));
	fclose(f);
	pthread_mutex_lock(&st->mu);
	qf_scopy(s->status.certificate, sizeof(s->status.certificate), path);
	pthread_mutex_unlock(&st->mu);
	free(path);
}
