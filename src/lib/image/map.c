/* map.c - the allocation map merged over the chain of layers: what each
 * run of the virtual disk reads as, and random reads of virtual bytes. */
#include "image/image_int.h"
#include "codec/stream.h"
#include "source/bmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One step of the map: the run at @off as the first layer that says
 * anything about it describes it. */
static int map_once(struct qf_image *img, uint64_t off, uint64_t maxlen,
		    struct qf_extent *ext, struct qf_err *e)
{
	memset(ext, 0, sizeof(*ext));
	ext->off = off;
	ext->kind = QF_EXTENT_ZERO;
	ext->len = maxlen;

	/* Walk down while the layer above leaves the range unallocated; each
	 * step can only shrink the run. */
	for (int i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		uint64_t size = l->info.virtual_size;
		struct qcow2_run run;
		int ret;

		if (off >= size)
			break;       /* shorter layer: zeros past its end */
		if (maxlen > size - off)
			maxlen = size - off;
		if (!l->q) {
			/* Streams too: the engine reads them in order. */
			ext->kind = QF_EXTENT_DATA;
			ext->len = maxlen;
			ext->src = l->stream ? l->stream : l->file;
			ext->host_off = off;
			/* Where a stream's bmap maps nothing the stream reads
			 * as zeros: the engine need not read it there. */
			if (l->stream && img->bmap &&
			    !qf_bmap_run(img->bmap, off, &ext->len)) {
				ext->kind = QF_EXTENT_ZERO;
				ext->src = NULL;
				ext->host_off = 0;
			}
			return 0;
		}
		if ((ret = qcow2_map(l->q, off, maxlen, &run, e)) < 0)
			return ret;
		ext->len = run.len;
		switch (run.kind) {
		case QCOW2_UNALLOCATED:
			maxlen = run.len;
			continue;
		case QCOW2_ZERO:
			ext->kind = QF_EXTENT_ZERO;
			return 0;
		case QCOW2_DATA:
			ext->kind = QF_EXTENT_DATA;
			ext->src = qcow2_data_source(l->q);
			ext->host_off = run.host_off;
			return 0;
		case QCOW2_COMPRESSED:
			ext->kind = QF_EXTENT_COMPRESSED;
			ext->src = l->file;
			ext->host_off = run.coff;
			ext->clen = run.clen;
			ext->skip = run.skip;
			ext->cluster_size = qcow2_cluster_size(l->q);
			ext->ctype = qcow2_compression(l->q);
			return 0;
		}
	}
	ext->kind = QF_EXTENT_ZERO;
	ext->len = maxlen;
	return 0;
}

int qf_image_map(struct qf_image *img, uint64_t off, uint64_t maxlen,
		 struct qf_extent *ext, struct qf_err *e)
{
	uint64_t size = qf_image_size(img);
	int ret;

	if (off >= size || maxlen == 0)
		return qf_err_set(e, EINVAL, "%s: map at %llu outside the disk",
				  img->name, (unsigned long long)off);
	if (maxlen > size - off)
		maxlen = size - off;
	if ((ret = map_once(img, off, maxlen, ext, e)) < 0)
		return ret;
	/* Runs from different layers (a zero cluster next to an unallocated
	 * one, data continuing in the same file) join into one extent, so the
	 * engine sees as few extents as the disk really has. */
	while (ext->len < maxlen && (ext->kind == QF_EXTENT_ZERO ||
				     ext->kind == QF_EXTENT_DATA)) {
		struct qf_extent next;
		if ((ret = map_once(img, off + ext->len, maxlen - ext->len,
				    &next, e)) < 0)
			return ret;
		if (next.kind != ext->kind)
			break;
		if (next.kind == QF_EXTENT_DATA &&
		    (next.src != ext->src ||
		     next.host_off != ext->host_off + ext->len))
			break;
		ext->len += next.len;
	}
	return 0;
}

int qf_image_read(struct qf_image *img, void *buf, size_t len, uint64_t off,
		  struct qf_err *e)
{
	struct qf_decomp *d = NULL;
	uint8_t *p = buf;
	uint64_t end;
	int ret = 0;

	if (add_overflows(off, len, &end) || end > qf_image_size(img))
		return qf_err_set(e, EINVAL,
				  N_("%s: read of %zu bytes at %llu is outside the virtual disk"),
				  img->name, len, (unsigned long long)off);
	/* A stream can only be read in order; out of the engine's pass only
	 * its head (partition tables, first superblocks) is available. */
	if (qf_image_is_stream(img))
		return qf_stream_read_head(img->layers[0].stream, buf, len, off, e);
	while (len) {
		struct qf_extent ext;
		if ((ret = qf_image_map(img, off, len, &ext, e)) < 0)
			break;
		if (ext.kind == QF_EXTENT_COMPRESSED && !d)
			d = qf_decomp_new();
		if ((ret = qf_extent_read(&ext, p, d, e)) < 0)
			break;
		p += ext.len;
		off += ext.len;
		len -= ext.len;
	}
	qf_decomp_free(d);
	return ret;
}


void qf_image_peek(struct qf_image *img, const uint64_t *offs, size_t n)
{
	struct qf_err e = { 0 };

	if (!qf_image_is_stream(img))
		return;
	if (offs)
		qf_stream_peek(img->layers[0].stream, offs, n, &e);
	else
		qf_stream_peek_done(img->layers[0].stream);
}
