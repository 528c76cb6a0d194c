/* fuzz_sums.c - checksum lists (sha256sum's text and binary lines, the
 * BSD "SHA256 (NAME) = HEX" style, CR-LF ends) from the fuzzer's bytes:
 * the first line is the image's name, the rest the list, in a buffer of
 * exactly its length (lists are not NUL-terminated for the lookup). */
#include "fuzz.h"
#include "source/digest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t nlen = nl ? (size_t)(nl - data) : size;
	size_t tlen = nl ? size - nlen - 1 : 0;
	char *name = qf_xstrndup((const char *)data, nlen);
	char *text = qf_xmalloc(tlen ? tlen : 1);
	uint8_t bin[32];
	char hex[65];

	fuzz_init();
	memcpy(text, nl ? (const char *)nl + 1 : "", tlen);
	memset(hex, 'x', sizeof(hex));
	if (qf_sums_lookup(text, tlen, name, hex) == 1) {
		/* What is found is a digest: 64 lower-case hex digits. */
		if (hex[64] || qf_hex_parse(hex, bin, sizeof(bin)) < 0)
			abort();
		for (int i = 0; i < 64; i++)
			if (isupper((unsigned char)hex[i]))
				abort();
	}
	free(text);
	free(name);
	return 0;
}
