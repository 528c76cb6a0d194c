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

#endif
