/* digest.c - the image file checked against its published checksum
 * within the flash.  A compressed image computes the SHA-256 of its file
 * as it is decoded (codec/stream.c), so it costs no second read; for a
 * qcow2 or raw image, whose file is read out of order, a thread reads the
 * file once from front to back while the flash runs.  Every target waits
 * for the verdict before its partition table is written: a wrong image
 * leaves no target that looks valid. */
#include "engine/job.h"
#include "image/image.h"
#include "source/digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_LEN ((size_t)4 << 20)

/* A hashing thread's outcome (@ret, and @d's digest or @e) into @hex,
 * *@state and *@err, for digest_check; frees @d. */
static void publish(struct qf_job *job, int ret, struct qf_digest *d,
		    const struct qf_err *e, char hex[65], int *state,
		    struct qf_err *err)
{
	uint8_t md[QF_DIGEST_MAX];

	pthread_mutex_lock(&job->digest_mu);
	if (ret == 0) {
		qf_hex(md, qf_digest_final(d, md), hex);
		*state = 1;
	} else {
		*err = *e;
		*state = -1;
	}
	pthread_cond_broadcast(&job->digest_cv);
	pthread_mutex_unlock(&job->digest_mu);
	qf_digest_free(d);
}

static void *hasher_main(void *arg)
{
	struct qf_job *job = arg;
	struct qf_source *s = qf_image_file(job->img);
	struct qf_digest *d = qf_digest_new("sha256");
	unsigned char *buf = qf_xmalloc(READ_LEN);
	struct qf_err e = { 0 };
	uint64_t off = 0;
	int ret = 0;

	/* Ahead of the reads: a cold file, an http source, read ahead. */
	while (off < s->size && ret == 0) {
		size_t n = s->size - off < READ_LEN ? (size_t)(s->size - off)
						     : READ_LEN;
		if (atomic_load(&job->stop)) {
			ret = qf_err_set(&e, ECANCELED, N_("cancelled"));
			break;
		}
		qf_source_prefetch(s, off + n, 2 * READ_LEN);
		ret = qf_source_pread(s, buf, n, off, 0, &e);
		if (ret == 0)
			qf_digest_update(d, buf, n);
		off += n;
	}
	publish(job, ret, d, &e, job->src_hex, &job->digest_state,
		&job->digest_err);
	free(buf);
	return NULL;
}

/* The virtual disk of a qcow2 image read in order and hashed, for its
 * published SHA-256: the reads the flash makes are out of order and skip
 * what reads as zeros. */
static void *disk_hasher_main(void *arg)
{
	struct qf_job *job = arg;
	uint64_t size = qf_image_size(job->img), off = 0;
	struct qf_digest *d = qf_digest_new("sha256");
	unsigned char *buf = qf_xmalloc(READ_LEN);
	struct qf_err e = { 0 };
	int ret = 0;

	while (off < size && ret == 0) {
		size_t n = size - off < READ_LEN ? (size_t)(size - off) : READ_LEN;

		if (atomic_load(&job->stop)) {
			ret = qf_err_set(&e, ECANCELED, N_("cancelled"));
			break;
		}
		ret = qf_image_read(job->img, buf, n, off, &e);
		if (ret == 0)
			qf_digest_update(d, buf, n);
		off += n;
	}
	publish(job, ret, d, &e, job->disk_hex, &job->disk_state,
		&job->disk_err);
	free(buf);
	return NULL;
}

int digest_start(struct qf_job *job, struct qf_err *e)
{
	bool disk = qf_image_disk_checksum(job->img, NULL) != NULL;
	bool file_is_disk = qf_image_file_is_disk(job->img);
	int err;

	if (qf_image_is_stream(job->img))
		return 0;
	if (disk && !file_is_disk) {
		err = pthread_create(&job->disk_hasher, NULL, disk_hasher_main, job);
		if (err)
			return qf_err_set(e, err, N_("cannot start threads: %m"));
		job->hashing_disk = true;
	}
	/* A raw image's file is its disk: one digest is both. */
	if (!qf_image_checksum(job->img, NULL) && !job->opts.hash_source &&
	    !(disk && file_is_disk))
		return 0;
	err = pthread_create(&job->hasher, NULL, hasher_main, job);
	if (err)
		return qf_err_set(e, err, N_("cannot start threads: %m"));
	job->hashing_file = true;
	return 0;
}

/* The disk image's SHA-256 against the published one; with digest_mu
 * held, after the file's. */
static int disk_check(struct qf_job *job, struct qf_err *e)
{
	const char *origin, *want = qf_image_disk_checksum(job->img, &origin);
	char got[65] = "";

	if (!want)
		return 0;
	if (qf_image_is_stream(job->img)) {
		if (qf_image_disk_digest(job->img, got))
			job->disk_state = 1;
	} else if (qf_image_file_is_disk(job->img)) {
		if (job->digest_state > 0)
			memcpy(got, job->src_hex, sizeof(got));
		job->disk_state = job->digest_state;
		job->disk_err = job->digest_err;
	} else {
		while (job->disk_state == 0)
			pthread_cond_wait(&job->digest_cv, &job->digest_mu);
		memcpy(got, job->disk_hex, sizeof(got));
	}
	if (job->disk_state < 0) {
		if (e && !e->code)
			*e = job->disk_err;
		return job->disk_err.code;
	}
	if (!got[0])
		return qf_err_set(e, EIO, N_("%s: the disk image's checksum could not be computed"),
				  qf_image_name(job->img));
	memcpy(job->disk_hex, got, sizeof(got));
	if (strcmp(got, want) == 0) {
		job->disk_ok = 1;
		return 0;
	}
	job->disk_ok = -1;
	return qf_err_set(e, EBADMSG,
			  N_("%s: the SHA-256 of the disk image is %s, but %s says %s: this is not the image that was published"),
			  qf_image_name(job->img), got, origin, want);
}

int digest_stream_end(struct qf_job *job, struct qf_err *e)
{
	uint64_t size = qf_image_size(job->img);
	bool to_end = false;
	int i;

	if (!qf_image_is_stream(job->img))
		return 0;
	for (i = 0; i < job->nfe; i++)
		if (job->fe[i]->vbase + job->fe[i]->len >= size)
			to_end = true;
	if (!to_end && !qf_image_checksum(job->img, NULL) &&
	    !qf_image_disk_checksum(job->img, NULL) && !job->opts.hash_source)
		return 0;
	return qf_image_stream_finish(job->img, &job->stop, e);
}

int digest_check(struct qf_job *job, struct qf_err *e)
{
	const char *want = qf_image_checksum(job->img, NULL);
	int ret;

	pthread_mutex_lock(&job->digest_mu);
	if ((ret = digest_stream_end(job, e)) < 0) {
		pthread_mutex_unlock(&job->digest_mu);
		return ret;
	}
	if (job->digest_state == 0 && qf_image_is_stream(job->img) &&
	    qf_image_stream_digest(job->img, job->src_hex))
		job->digest_state = 1;
	if (job->hashing_file)
		while (job->digest_state == 0)
			pthread_cond_wait(&job->digest_cv, &job->digest_mu);
	if (job->digest_state < 0) {
		if (e && !e->code)
			*e = job->digest_err;
		ret = job->digest_err.code;
	} else if (want && job->digest_state == 0) {
		/* A stream read to its end computes it: not the case here. */
		ret = qf_err_set(e, EIO, N_("%s: the image file's checksum could not be computed"),
				 qf_image_name(job->img));
	} else if (want) {
		ret = qf_image_digest_check(job->img, job->src_hex, e);
		job->checksum_ok = ret == 0 ? 1 : -1;
	}
	if (ret == 0)
		ret = disk_check(job, e);
	pthread_mutex_unlock(&job->digest_mu);
	return ret;
}

void digest_stop(struct qf_job *job)
{
	if (job->hashing_file) {
		pthread_join(job->hasher, NULL);
		job->hashing_file = false;
	}
	if (job->hashing_disk) {
		pthread_join(job->disk_hasher, NULL);
		job->hashing_disk = false;
	}
}
