/* demo.h - a small self-made demo image for trying qflash without real
 * images or devices (qflash-tui --demo). */
#ifndef QF_DEMO_H
#define QF_DEMO_H

#include <stddef.h>

#include "qflash.h"

/* Write into the existing directory @dir a 48 MiB GPT disk as qcow2 v3
 * ("demo.qcow2": an EFI System partition with a FAT16 file system holding
 * README.TXT, and a Linux partition with an ext2 file system holding a few
 * files) and two empty target files, demo-target-1.img and
 * demo-target-2.img.  The image's path goes to @image_path (@len bytes).
 * No external tools are used.  Returns 0 or a negative errno. */
int qf_demo_create(const char *dir, char *image_path, size_t len,
		   struct qf_err *e);

#define QF_DEMO_TARGET_COUNT 2
#define QF_DEMO_TARGET_FMT "%s/demo-target-%d.img"

#endif
