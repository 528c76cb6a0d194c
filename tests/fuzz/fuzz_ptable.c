/* fuzz_ptable.c - the fuzzer's bytes as a raw disk: its MBR (with the
 * chain of extended boot records) or GPT (primary, or the backup at the
 * end; 512- or 4096-byte sectors) decoded into partitions.  Filesystems
 * are not probed: that hands each partition to libblkid, which is not
 * what is tested here, and costs a hundred times the decoding. */
#include "fuzz.h"
#include "image/ptable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qf_image *img;
	struct qf_ptable *pt;
	struct qf_err e = { 0 };

	fuzz_init();
	if (fuzz_image_open(data, size, "fuzz.img", QF_FORMAT_RAW, NULL, &img) < 0)
		return 0;
	if (qf_ptable_read_layout(img, &pt, &e) == 0) {
		for (int i = 0; i < pt->count; i++)
			if (qf_ptable_find(pt, pt->parts[i].number) != &pt->parts[i])
				__builtin_trap();   /* numbers are unique */
		qf_ptable_free(pt);
	}
	qf_image_close(img);
	return 0;
}
