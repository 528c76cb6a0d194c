/* test_holders.c - the "held by device-mapper / md" and swap refusals,
 * decided from a made-up sysfs tree: kernels without dm or md (as in some
 * CI sandboxes) cannot produce real holders.  The safety policy reads
 * sysfs through qf_sysblock, pointed at the tree here. */
#include "target/safety.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define SYSBLOCK "tests/unit/fake-sysblock"

#include "tap.h"

static void mk(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	if (system(cmd) != 0)
		abort();
}

int main(void)
{
	struct safety_member m[2] = { { "sdx", 0 }, { "sdx1", 0 } };
	struct safety_ctx c;
	struct qf_device d;
	dev_t swapdev = makedev(8, 17);

	qf_init();
	qf_sysblock = SYSBLOCK;
	if (system("rm -rf " SYSBLOCK) != 0)
		return 1;
	mk(SYSBLOCK "/sdx/holders");
	mk(SYSBLOCK "/sdx1/holders");

	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	safety_check_in_use(&c, m, 2, &d);
	is_int(d.refusals, 0, "no holders, no swap: not in use");

	mk(SYSBLOCK "/sdx1/holders/dm-3");
	memset(&d, 0, sizeof(d));
	safety_check_in_use(&c, m, 2, &d);
	ok(d.refusals & QF_REFUSE_HELD, "a partition held by dm-3 makes the disk held");
	ok(strstr(d.reason, "dm-3") != NULL, "the reason names the holder (%s)", d.reason);

	mk(SYSBLOCK "/sdx/holders/md127");
	memset(&d, 0, sizeof(d));
	safety_check_in_use(&c, m, 2, &d);
	ok(strstr(d.reason, "dm-3") && strstr(d.reason, "md127"),
	   "every holder is named (%s)", d.reason);

	if (system("rm -rf " SYSBLOCK "/sdx/holders/* " SYSBLOCK "/sdx1/holders/*") != 0)
		return 1;
	m[1].dev = swapdev;
	c.swaps = &swapdev;
	c.nswaps = 1;
	memset(&d, 0, sizeof(d));
	safety_check_in_use(&c, m, 2, &d);
	ok(d.refusals & QF_REFUSE_SWAP, "a partition used as swap refuses the disk");
	ok((d.refusals & ~(unsigned)(QF_REFUSE_SWAP | QF_REFUSE_HELD)) == 0,
	   "only the swap refusal is given (%s)", d.reason);

	if (system("rm -rf " SYSBLOCK) != 0)
		return 1;
	return tap_done();
}
