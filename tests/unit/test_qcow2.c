/* test_qcow2.c - header, L1/L2 decoding and the merged map, on small qcow2
 * files built byte by byte here. */
#include "qflash.h"
#include "internal.h"
#include "image/image.h"
#include "source/source.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CS 65536u

static uint8_t *img;
static size_t img_len;

/* A v3 image of 4 clusters: header, refcount table, refcount block, L1,
 * L2, then data.  Cluster 0 data, cluster 1 zero flag, cluster 2
 * unallocated, cluster 3 data (host-contiguous with cluster 0). */
static void build(void)
{
	img_len = 8 * CS;
	img = calloc(1, img_len);
	memcpy(img, "QFI\xfb", 4);
	put_be32(img + 4, 3);
	put_be32(img + 20, 16);
	put_be64(img + 24, 4 * CS);
	put_be32(img + 36, 1);            /* l1_size */
	put_be64(img + 40, 3 * CS);       /* l1 */
	put_be64(img + 48, 1 * CS);       /* refcount table */
	put_be32(img + 56, 1);
	put_be32(img + 96, 4);
	put_be32(img + 100, 112);
	put_be64(img + 1 * CS, 2 * CS);   /* refcount block */
	put_be64(img + 3 * CS, 4 * CS | 1ull << 63);   /* L2 */
	put_be64(img + 4 * CS + 0, 5 * CS | 1ull << 63);
	put_be64(img + 4 * CS + 8, 1);                  /* zero flag */
	put_be64(img + 4 * CS + 24, 6 * CS | 1ull << 63);
	memset(img + 5 * CS, 0xaa, CS);
	memset(img + 6 * CS, 0xbb, CS);
}

static struct qf_source *src;   /* of the last open_mem */

static int open_mem(struct qf_image **out, struct qf_err *e)
{
	memset(e, 0, sizeof(*e));
	qf_source_memory_open("unit.qcow2", img, img_len, &src);
	return qf_image_open_source(src, NULL, out, e);
}

int main(void)
{
	struct qf_image *im;
	struct qf_extent x;
	struct qf_err e;
	uint8_t *buf = malloc(4 * CS);

	qf_init();
	build();
	ok(open_mem(&im, &e) == 0, "valid image opens (%s)", e.msg);
	{
		/* The L2 table read and checked at open is the one the map
		 * uses: over a long link a second read of it would stall
		 * the flash behind the data in flight. */
		uint64_t opened = atomic_load(&src->bytes_read);
		int ret = qf_image_map(im, 0, 4 * CS, &x, &e);
		uint64_t more = atomic_load(&src->bytes_read) - opened;
		ok(ret == 0 && more == 0,
		   "the map reads no table again after open (%llu bytes more)",
		   (unsigned long long)more);
	}
	is_int(qf_image_size(im), 4 * CS, "virtual size");
	is_int(qf_image_layer(im, 0)->version, 3, "version 3");
	is_int(qf_image_layer(im, 0)->cluster_size, CS, "cluster size");
	ok(qf_image_map(im, 0, 4 * CS, &x, &e) == 0 && x.kind == QF_EXTENT_DATA &&
	   x.len == CS && x.host_off == 5 * CS, "cluster 0 is one data run");
	ok(qf_image_map(im, CS, 4 * CS, &x, &e) == 0 && x.kind == QF_EXTENT_ZERO &&
	   x.len == 2 * CS, "zero flag and unallocated merge into one zero run");
	ok(qf_image_map(im, 3 * CS + 100, 4 * CS, &x, &e) == 0 &&
	   x.kind == QF_EXTENT_DATA && x.host_off == 6 * CS + 100 &&
	   x.len == CS - 100, "offset inside a cluster maps inside its host cluster");
	ok(qf_image_read(im, buf, 4 * CS, 0, &e) == 0 && buf[0] == 0xaa &&
	   buf[CS] == 0 && buf[3 * CS] == 0xbb && buf[4 * CS - 1] == 0xbb,
	   "read merges data and zeros");
	qf_image_close(im);

	/* Malformed: each change is refused with a message. */
	struct { size_t off; int width; uint64_t val; const char *word; } bad[] = {
		{ 0, 4, 0x12345678, "not a qcow2 image" },
		{ 4, 4, 4, "version" },
		{ 20, 4, 8, "cluster_bits" },
		{ 20, 4, 22, "cluster_bits" },
		{ 100, 4, 100, "header length" },
		{ 100, 4, 108, "multiple of 8" },
		{ 48, 8, 0, "refcount table" },
		{ 48, 8, CS + 8, "aligned" },
		{ 40, 8, 3 * CS + 512, "aligned" },
		{ 40, 8, 100 * CS, "past the end" },
		{ 36, 4, 0, "too few" },
		{ 3 * CS, 8, 4 * CS | 1, "reserved" },
		{ 3 * CS, 8, 4 * CS + 512, "aligned" },
		{ 3 * CS, 8, 90 * CS, "past the end" },
		{ 4 * CS, 8, 5 * CS | 2, "reserved" },
		{ 4 * CS, 8, 50 * CS, "past the end" },
		{ 72, 8, 1ull << 5, "bit 5" },
		{ 72, 8, 1ull << 1, "corrupt" },
		{ 32, 4, 1, "AES" },
		{ 32, 4, 2, "LUKS" },
		{ 60, 4, 70000, "65536" },
		{ 8, 8, 7 * CS, "backing" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t save[8];
		int ret;
		memcpy(save, img + bad[i].off, 8);
		if (bad[i].width == 4)
			put_be32(img + bad[i].off, (uint32_t)bad[i].val);
		else
			put_be64(img + bad[i].off, bad[i].val);
		if (bad[i].off == 8)
			put_be32(img + 16, 100);   /* name at 7*CS is outside cluster 0 */
		ret = open_mem(&im, &e);
		ok(ret < 0 && strstr(e.msg, bad[i].word), "malformed #%zu refused: %s", i, e.msg);
		if (ret == 0)
			qf_image_close(im);
		memcpy(img + bad[i].off, save, 8);
		if (bad[i].off == 8)
			put_be32(img + 16, 0);
	}

	/* A backing file that would be fine on disk: nowhere to find it. */
	memcpy(img + 1024, "base.qcow2", 10);
	put_be64(img + 8, 1024);
	put_be32(img + 16, 10);
	ok(open_mem(&im, &e) == -ENOENT && strstr(e.msg, "base.qcow2") &&
	   strstr(e.msg, "from memory"),
	   "a memory image naming a backing file is refused: %s", e.msg);

	free(buf);
	free(img);
	return tap_done();
}
