/* formats.c - the table of compressed formats, and finding the one a file
 * is in by its first bytes.  A new format is a file and a line here. */
#include "codec/codec.h"

static const struct qf_codec_ops *const codecs[] = {
	&qf_codec_gzip,
	&qf_codec_zstd,
	&qf_codec_zip,
	&qf_codec_xz,
	&qf_codec_lz4,
	&qf_codec_bzip2,
};

#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

const struct qf_codec_ops *qf_codec_probe(const uint8_t *head, size_t n)
{
	for (size_t i = 0; i < NCODECS; i++)
		if (codecs[i]->probe(head, n))
			return codecs[i];
	return NULL;
}

const struct qf_codec_ops *qf_codec_for(enum qf_format fmt)
{
	for (size_t i = 0; i < NCODECS; i++)
		if (codecs[i]->format == fmt)
			return codecs[i];
	return NULL;
}
