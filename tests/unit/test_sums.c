/* test_sums.c - checksum lists: the line styles sha256sum writes, names
 * matched by their last part, and lists that end anywhere (each list is
 * copied to a buffer of exactly its length, so reading past it is caught
 * by the sanitizer build). */
#include "internal.h"
#include "source/digest.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define HEX_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_B "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"

static int lookup(const char *list, const char *name, char hex[65])
{
	size_t len = strlen(list);
	char *copy = qf_xmalloc(len ? len : 1);
	int r;

	memcpy(copy, list, len);
	r = qf_sums_lookup(copy, len, name, hex);
	free(copy);
	return r;
}

int main(void)
{
	char hex[65];

	qf_init();
	ok(lookup(HEX_B "  other.img\n" HEX_A "  disk.img\n", "disk.img", hex) == 1 &&
	   !strcmp(hex, HEX_A), "text line found among others");
	ok(lookup(HEX_B " *disk.img", "/srv/disk.img", hex) == 1 &&
	   !strcmp(hex, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"),
	   "binary line, no newline at the end, read in lower case");
	ok(lookup("SHA256 (x/disk.img) = " HEX_A "\r\n", "disk.img", hex) == 1 &&
	   !strcmp(hex, HEX_A), "BSD style with CR-LF, matched by the last part");
	ok(lookup(HEX_A "  disk.img.bak\n", "disk.img", hex) == 0,
	   "a longer name is another file");
	ok(lookup("SHA256 (disk.img) = " HEX_A "x\n", "disk.img", hex) == 0,
	   "BSD line with 65 digits refused");
	/* Found by fuzz_sums: a BSD line ending in ')' made the search for
	 * ") = " read past the end of the list. */
	ok(lookup("SHA256 (disk.img)", "disk.img", hex) == 0 &&
	   lookup("SHA256 (disk.img) =", "disk.img", hex) == 0 &&
	   lookup("SHA256 (disk.img) ) ", "disk.img", hex) == 0,
	   "a BSD line cut short at the end of the list is no line");
	return tap_done();
}
