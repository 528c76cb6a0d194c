/* fuzz_qcow2.c - a qcow2 image from the fuzzer's bytes: header,
 * extensions, snapshots, tables and L2 entries are validated at open; an
 * image that opens is mapped and read whole (up to FUZZ_READ_MAX), its
 * first internal snapshot too. */
#include "fuzz.h"

#include <string.h>

static void open_read(const uint8_t *data, size_t size, const char *snap)
{
	struct qf_image *img;

	if (fuzz_image_open(data, size, "fuzz.qcow2", QF_FORMAT_QCOW2, snap,
			    &img) < 0)
		return;
	fuzz_image_read_all(img);
	/* What -info shows of the image. */
	for (int i = 0; i < qf_image_layer_count(img); i++)
		(void)strlen(qf_image_layer(img, i)->name);
	if (!snap && qf_image_snapshot_count(img) > 0) {
		char id[64];

		snprintf(id, sizeof(id), "%s", qf_image_snapshot(img, 0)->id);
		qf_image_close(img);
		open_read(data, size, id);
		return;
	}
	qf_image_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	open_read(data, size, NULL);
	return 0;
}
