/* codec.h - sequential decoders for compressed raw images, one file per
 * format behind one small interface.
 *
 * A format claims a file by its first bytes (probe).  An open codec is
 * asked once, before anything is decoded, for the decompressed size when
 * the format records it (size), then read front to back (read), rewound at
 * most once after a sizing pass (rewind) and closed.  Decoders read their
 * input through struct qf_codec_in, which reads the compressed file in
 * large sequential blocks and announces the next ones to the source, so an
 * http source fetches ahead while the decoder works.  codec/stream.c turns
 * an open codec into a source of the decompressed bytes. */
#ifndef QF_CODEC_H
#define QF_CODEC_H

#include "source/source.h"

/* Bytes of a file that probes may look at. */
#define QF_CODEC_PROBE_LEN 16

struct qf_codec;

struct qf_codec_in {
	struct qf_source *src;
	uint8_t *buf;
	size_t cap;
	size_t pos, len;             /* unconsumed input: buf[pos, len) */
	uint64_t next;               /* file offset of the next read */
	/* Optional: every byte of the file goes through it once, in order
	 * (the published checksum covers the compressed file). */
	struct qf_digest *tap;
	uint64_t tapped;             /* bytes given to it so far */
};

struct qf_codec_ops {
	const char *name;            /* "gzip": in messages and -info */
	enum qf_format format;
	/* Whether the file starting with @head (@n bytes, at most
	 * QF_CODEC_PROBE_LEN) is of this format. */
	bool (*probe)(const uint8_t *head, size_t n);
	/* Set up c->priv to decode from the start of c->in.src. */
	int (*open)(struct qf_codec *c, struct qf_err *e);
	/* Optional: the decompressed size when the format records it, with
	 * *known false when it does not; called before the first read. */
	int (*size)(struct qf_codec *c, uint64_t *size, bool *known,
		    struct qf_err *e);
	/* Decompress up to @n bytes into @out; *got < n only at a clean end
	 * of the data (never inside a member, frame or block). */
	int (*read)(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e);
	/* Start over from the first byte of the file. */
	void (*rewind)(struct qf_codec *c);
	void (*close)(struct qf_codec *c);
};

struct qf_codec {
	const struct qf_codec_ops *ops;
	struct qf_codec_in in;
	/* Set by size() when the size is only that of the first frame of a
	 * file that may hold more (a remote file cannot be walked cheaply):
	 * the end of the data then has to prove it right. */
	bool size_of_first_frame;
	/* The member of an archive to decode, or NULL for its only image. */
	const char *member;
	void *priv;
};

/* The decoder for a file that starts with @head, or NULL. */
const struct qf_codec_ops *qf_codec_probe(const uint8_t *head, size_t n);
/* The decoder of @fmt, or NULL when @fmt is not a compressed format. */
const struct qf_codec_ops *qf_codec_for(enum qf_format fmt);

/* Open @ops over @src (not owned; it must outlive the codec). */
int qf_codec_open(const struct qf_codec_ops *ops, struct qf_source *src,
		  struct qf_codec **out, struct qf_err *e);
/* The same for the member @member (not copied; NULL: the only image) of
 * an archive.  -EMLINK when the archive holds several images and none is
 * named. */
int qf_codec_open_member(const struct qf_codec_ops *ops,
			 struct qf_source *src, const char *member,
			 struct qf_codec **out, struct qf_err *e);
int qf_codec_size(struct qf_codec *c, uint64_t *size, bool *known,
		  struct qf_err *e);
int qf_codec_read(struct qf_codec *c, void *out, size_t n, size_t *got,
		  struct qf_err *e);
void qf_codec_rewind(struct qf_codec *c);
void qf_codec_close(struct qf_codec *c);

/* For decoders: the next block of input into c->in (*eof when the file
 * has nothing left), and how much of the file has been consumed. */
int qf_codec_refill(struct qf_codec *c, bool *eof, struct qf_err *e);
uint64_t qf_codec_consumed(const struct qf_codec *c);
/* Give the tap the rest of the file after what decoding read: 0 or an
 * error. */
int qf_codec_tap_rest(struct qf_codec *c, struct qf_err *e);

/* The members of the zip archive in @src that look like disk images,
 * NULL-terminated into *@names (free each and the array): their count,
 * or a negative errno. */
int qf_zip_images(struct qf_source *src, char ***names, struct qf_err *e);

/* Small reads of header bytes through one buffer of QF_CODEC_PEEK_BUF
 * bytes (buf, freed by the caller), for walking frame headers without
 * decoding: { src, qf_xmalloc(QF_CODEC_PEEK_BUF), 0, 0 }. */
#define QF_CODEC_PEEK_BUF ((size_t)64 << 10)
struct qf_codec_peek {
	struct qf_source *in;
	uint8_t *buf;
	uint64_t off;                /* file offset of buf[0] */
	size_t len;
};
/* Point *p at @n (<= QF_CODEC_PEEK_BUF) bytes of the file at @off: 0,
 * 1 when the file ends first, or an error. */
int qf_codec_peek_at(struct qf_codec_peek *pk, uint64_t off, size_t n,
		     const uint8_t **p, struct qf_err *e);

/* Skippable frames, the same in zstd and lz4: magic 0x184D2A5?, a
 * 32-bit little-endian length, and that many bytes to ignore. */
#define QF_CODEC_SKIPPABLE_MAGIC 0x184d2a50u
#define QF_CODEC_SKIPPABLE_MASK 0xfffffff0u

/* A frame format's step of qf_codec_walk: the frame at *off, whose first
 * @n (>= 4) bytes are at @p and which is not a skippable frame.  Sets
 * *size to its decompressed size (UINT64_MAX when the frame does not
 * record it: the walk stops there) and, when it does, moves *off past the
 * frame.  0, 1 when the file ends inside the frame, or an error. */
typedef int (*qf_codec_frame_fn)(struct qf_codec_peek *pk, const uint8_t *p,
				 size_t n, uint64_t *off, uint64_t *size,
				 struct qf_err *e);
/* Sum the sizes of all frames of a local file by their headers, without
 * decompressing; skippable frames are passed over.  0 with *known false
 * when some frame does not record its size, 1 when the file ends inside a
 * frame, or an error.  @header_max: bytes a frame header may take. */
int qf_codec_walk(struct qf_source *in, size_t header_max,
		  qf_codec_frame_fn frame, uint64_t *total, bool *known,
		  struct qf_err *e);

extern const struct qf_codec_ops qf_codec_gzip;
extern const struct qf_codec_ops qf_codec_zstd;
extern const struct qf_codec_ops qf_codec_xz;
extern const struct qf_codec_ops qf_codec_lz4;
extern const struct qf_codec_ops qf_codec_bzip2;
extern const struct qf_codec_ops qf_codec_zip;

#endif
