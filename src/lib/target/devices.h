/* devices.h - what the library knows of block devices beyond the public
 * API (devices.c). */
#ifndef QF_DEVICES_H
#define QF_DEVICES_H

#include "internal.h"

/* qf_device_probe_sources without reading what is on the device (pttype
 * and fs_summary stay empty): every safety check, for a job about to
 * write. */
int qf_device_check(const char *path, const char *const *sources,
		    struct qf_device *out, struct qf_err *e);

/* The slot of whole disk @disk (a kernel name): udev's ID_PATH, the port
 * it is plugged into, or the kernel name when udev gives none. */
void qf_device_slot(const char *disk, char *out, size_t len);

#endif
