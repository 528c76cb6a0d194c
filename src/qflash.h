/* qflash.h - the public API of libqflash.
 *
 * One library turns a virtual-disk image (qcow2 chain, raw, gz/zst stream;
 * local or http) into the exact bytes of its virtual disk and writes them to
 * targets.  Front ends (the qflash CLI and qflash-tui) only configure jobs,
 * read progress snapshots and show results; they never do image or device
 * I/O themselves.
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure, filling a struct qf_err with a message that names the
 * file and the problem.  The library never prints, never exits and never
 * calls ncurses.  Warnings go to an optional callback.
 */
#ifndef QFLASH_H
#define QFLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

#define QF_ERR_MSG_MAX 512

struct qf_err {
	int code;                   /* negative errno, 0 when no error */
	char msg[QF_ERR_MSG_MAX];   /* translated, ready to show */
	char msg_en[QF_ERR_MSG_MAX];/* the same in English, for logs */
};

/* Fill @e (may be NULL, and is left alone when it holds an error already)
 * with a printf-style message; returns -abs(code).  @fmt is the English
 * text (marked N_() for translation): msg gets it translated, msg_en as
 * it is, and %m is the text of errno @code in each. */
int qf_err_set(struct qf_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Add @sep (when the message is not empty) and @fmt's text, translated
 * and in English, to the end of both messages of @e. */
void qf_err_append(struct qf_err *e, const char *sep, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Put @fmt's text, translated and in English, before both messages. */
void qf_err_prefix(struct qf_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Called for non-fatal conditions (dirty bit, backup GPT used, ...). */
typedef void (*qf_warn_fn)(void *ctx, const char *msg);

const char *qf_version(void);

/* Write @s as a JSON string (quoted, escaped; bytes that are not UTF-8
 * become U+FFFD), as the flash log and the CLI's -json output do. */
void qf_json_string(FILE *f, const char *s);

/* Seconds on the monotonic clock, for rates and timeouts. */
double qf_now(void);

/* "1.5 GiB"-style size for people; returns @buf. */
const char *qf_size_str(uint64_t bytes, char *buf, size_t len);
/* Two sizes for one message ("needs A, has B"), in the same unit: the
 * largest in which two different sizes still print differently (bytes
 * at worst).  @abuf and @bbuf hold @len bytes each. */
void qf_size_pair_str(uint64_t a, uint64_t b, char *abuf, char *bbuf,
		      size_t len);

/* Must be called once by a program before anything else: sets up gettext
 * for the library's messages (catalogs from $QFLASH_LOCALEDIR when set,
 * for uninstalled builds) and global state of the libraries it uses. */
void qf_init(void);

/* ----------------------------------------------------------------- image */

enum qf_format {
	QF_FORMAT_AUTO = 0,   /* qcow2 or a compressed format by magic; never raw */
	QF_FORMAT_QCOW2,
	QF_FORMAT_RAW,        /* only when the user asks for it */
	QF_FORMAT_GZIP,       /* raw image compressed with gzip */
	QF_FORMAT_ZSTD,       /* raw image compressed with zstd */
	QF_FORMAT_XZ,         /* raw image compressed with xz */
	QF_FORMAT_BZIP2,      /* raw image compressed with bzip2 */
	QF_FORMAT_LZ4,        /* raw image in an lz4 frame */
	QF_FORMAT_ZIP,        /* raw image as a member of a zip archive */
};

const char *qf_format_name(enum qf_format f);

/* What a download into the cache (qf_cache_fetch, or an image opened with
 * qf_open_opts.cache_dir) is doing, for its progress callback. */
enum qf_cache_phase {
	QF_CACHE_WAITING = 0,        /* for another process downloading it;
					done: what that one has so far */
	QF_CACHE_DOWNLOADING,
	QF_CACHE_CHECKING,           /* a cached copy read back against its
					recorded SHA-256 */
};

/* Called from the thread that opens the image, @name being the URL
 * without its credentials; @total is the file's size. */
typedef void (*qf_cache_progress_fn)(void *ctx, const char *name,
				     enum qf_cache_phase phase, uint64_t done,
				     uint64_t total);

struct qf_open_opts {
	enum qf_format format;
	const char *snapshot;        /* internal snapshot name or id, or NULL */
	bool force;                  /* open images whose corrupt bit is set */
	/* A local image may name backing or data files on a server: opening
	 * them needs this (else -EREMOTE, naming the server).  Such files
	 * never get the headers below, which go only to the server of the
	 * image that was named to qf_image_open. */
	bool allow_remote_backing;
	/* The SHA-256 the image file is published with: 64 hex digits, a
	 * file in sha256sum format (path or URL) listing it, or NULL to look
	 * for IMAGE.sha256, IMAGE.sha256sum or SHA256SUMS beside it.  A
	 * compressed image is checked as it is read; a qcow2 or raw one by a
	 * job, which reads the file once more for it. */
	const char *sha256;
	/* Where a @sha256 given as hex came from, as messages and the flash
	 * log name it (a catalog, say); NULL: "-sha256".  It names
	 * @disk_sha256's origin too. */
	const char *sha256_origin;
	/* The SHA-256 of the disk image itself, decompressed (a catalog's
	 * extract_sha256): 64 hex digits, or NULL.  A job computes it as
	 * the flash runs (a compressed image as it is decoded; a qcow2 by
	 * reading the virtual disk once more) and fails every target before
	 * its partition table is written when it differs. */
	const char *disk_sha256;
	/* Compute the image file's SHA-256 in a job even when none is
	 * published (for the flash log). */
	bool hash_source;
	/* The bmap of a compressed raw image (path or URL), or NULL to look
	 * for IMAGE.bmap (and x.img.bmap for x.img.xz) beside it; no_bmap
	 * uses none. */
	const char *bmap;
	bool no_bmap;
	/* The member of a zip archive to flash; NULL: its only disk image
	 * (-EMLINK, naming them, when it holds several). */
	const char *member;
	/* http(s) sources */
	const char *cacert;          /* extra CA bundle file */
	bool insecure;               /* do not verify TLS peers */
	const char *const *headers;  /* extra request headers, NULL-terminated */
	qf_warn_fn warn;
	void *warn_ctx;
	/* Remote files (the image, its backing and data files) read from
	 * local copies in the cache at cache_dir (see qf_cache_open), which
	 * cache_max bounds (0: the default).  The progress callback (may be
	 * NULL) hears how downloads go, and a download stops with
	 * -ECANCELED once *cancel (may be NULL) is non-zero. */
	const char *cache_dir;
	uint64_t cache_max;
	qf_cache_progress_fn cache_progress;
	void *cache_ctx;
	volatile const int *cancel;
};

struct qf_image;

/* -EMEDIUMTYPE: with QF_FORMAT_AUTO, the file has no magic qflash knows
 * (it may be a raw disk image, which is never guessed).  -EUCLEAN: a
 * layer is marked corrupt and opts->force is not set.  The messages name
 * no front end's options: the caller says how to go on. */
int qf_image_open(const char *name, const struct qf_open_opts *opts,
		  struct qf_image **out, struct qf_err *e);
void qf_image_close(struct qf_image *img);

/* The published SHA-256 of the image file (lower-case hex) and where it
 * came from ("-sha256", or the file that listed it); NULL when none was
 * given or found. */
const char *qf_image_checksum(const struct qf_image *img, const char **origin);
/* The members of the archive @name that look like disk images, when it
 * is one (NULL-terminated into *@members: free each and the array):
 * their count, 0 for a file that is no archive, or a negative errno.
 * For the choice qf_image_open's -EMLINK asks for. */
int qf_image_members(const char *name, const struct qf_open_opts *opts,
		     char ***members, struct qf_err *e);
/* The bmap the image is flashed with: the file it came from, with the
 * bytes it maps and whether it has a digest per range; NULL when none. */
const char *qf_image_bmap(const struct qf_image *img, uint64_t *mapped,
			  bool *checked);
/* The SHA-256 of a compressed image's file once every byte was read
 * (lower-case hex into @hex): 1, or 0 while it is not known (qcow2 and raw
 * images: a job computes it). */
int qf_image_stream_digest(struct qf_image *img, char hex[65]);
/* The SHA-256 of a stream image's decompressed bytes, once decoded to
 * their end (asked for with qf_open_opts.disk_sha256): 1 with @hex, or 0. */
int qf_image_disk_digest(struct qf_image *img, char hex[65]);
/* Whether the image's file is its disk byte for byte (one raw layer):
 * the file's digest is the disk's. */
bool qf_image_file_is_disk(const struct qf_image *img);
/* 0 when @got (lower-case hex) is the published SHA-256 or none was
 * published; -EBADMSG saying both otherwise. */
int qf_image_digest_check(struct qf_image *img, const char *got,
			  struct qf_err *e);

/* 0 when no file of the image (any layer, any data file) has changed since
 * it was opened; -ESTALE naming the file otherwise. */
int qf_image_check_unchanged(struct qf_image *img, struct qf_err *e);

/* Virtual disk size in bytes; gz/zst streams are sized when opened, so
 * it is always known before anything is written. */
uint64_t qf_image_size(const struct qf_image *img);
const char *qf_image_name(const struct qf_image *img);
/* True for sequential-only sources (gz/zst streams). */
bool qf_image_is_stream(const struct qf_image *img);
/* The disk image's published SHA-256 (qf_open_opts.disk_sha256) and, in
 * *@origin (may be NULL), where it came from; NULL when none was given. */
const char *qf_image_disk_checksum(const struct qf_image *img,
				   const char **origin);

/* Read virtual-disk bytes.  Thread-safe.  Reads past the end of the
 * virtual disk fail with -EINVAL.  For streams, only the buffered head of
 * the stream (at least the first 4 MiB) can be read this way. */
int qf_image_read(struct qf_image *img, void *buf, size_t len, uint64_t off,
		  struct qf_err *e);

/* One layer of the chain: index 0 is the image that was opened, the last
 * one the base.  An external data file is described by its layer. */
struct qf_layer_info {
	const char *name;            /* path or URL as resolved */
	const char *format;          /* "qcow2", "raw", "gzip", "zstd" */
	uint64_t virtual_size;
	uint64_t file_size;          /* size of the file holding the layer */
	/* qcow2 only (zero otherwise) */
	uint32_t version;
	uint32_t cluster_size;
	uint32_t refcount_bits;
	const char *compression;     /* "deflate" or "zstd"; NULL when no
					cluster is compressed and the header
					names no compression type */
	uint64_t incompatible, compatible, autoclear;
	bool dirty, corrupt, extended_l2, lazy_refcounts;
	const char *backing_name;    /* as written in the header, or NULL */
	const char *backing_format;  /* from the extension, or NULL */
	const char *data_file;       /* resolved external data file, or NULL */
	bool data_file_raw;
	uint32_t nb_snapshots;
	/* A remote layer read from the cache (qf_open_opts.cache_dir): its
	 * local copy, and "downloaded" (now), "reused" (the server says it
	 * is current) or "offline" (the server could not be asked); NULL
	 * otherwise. */
	const char *cache_file;
	const char *cache_use;
};

int qf_image_layer_count(const struct qf_image *img);
const struct qf_layer_info *qf_image_layer(const struct qf_image *img, int i);
/* Every file the image reads: each layer's name (its local copy when it
 * is read from the cache), then its external data file if any, the
 * opened image first; NULL-terminated, owned by the image.  For the
 * safety checks (qf_device_probe_sources). */
const char *const *qf_image_files(const struct qf_image *img);

struct qf_snapshot_info {
	const char *id;
	const char *name;
	uint64_t vm_state_size;
	uint64_t disk_size;
	int64_t date_sec;
	uint32_t date_nsec;
	uint64_t vm_clock_nsec;
	uint32_t l1_size;
};

/* Internal snapshots of the top layer. */
int qf_image_snapshot_count(const struct qf_image *img);
const struct qf_snapshot_info *qf_image_snapshot(const struct qf_image *img,
						 int i);
/* Index of the snapshot being read, -1 for the active state. */
int qf_image_snapshot_selected(const struct qf_image *img);

/* ----------------------------------------------------------------- cache
 * Remote image files kept in a local directory, so that every flash of a
 * URL after the first reads at local speed.  Each file is stored once
 * under its SHA-256 (computed while it downloads), and an index maps the
 * URL, without its credentials (see qf_url_redact in the library's
 * url.c: userinfo, signatures and tokens in the query are left out), to
 * that object and to the ETag, Last-Modified and size the server gave.
 *
 * A copy is used only when the server still gives the same validators
 * (one small range request); when it cannot be reached, the copy is used
 * with a warning saying so.  A download goes to a temporary file and is
 * published only once complete, of the announced size and, when a
 * checksum is published for the file, matching it.  Processes sharing a
 * directory lock it: one downloads a file while the others wait for it,
 * and a copy being read is never evicted.  When a download needs room,
 * the least recently used copies go first. */

/* The default bound: 16 GiB, or half of what the cache and the free
 * space of its file system add up to, whichever is less. */
#define QF_CACHE_MAX_DEFAULT ((uint64_t)16 << 30)

struct qf_cache;

/* Where a station keeps its copies unless told otherwise:
 * $XDG_CACHE_HOME/qflash, or ~/.cache/qflash.  Caller frees; NULL when
 * neither is set. */
char *qf_cache_default_dir(void);

enum qf_cache_use {
	QF_CACHE_DOWNLOADED = 0,     /* fetched now */
	QF_CACHE_REUSED,             /* the server says the copy is current */
	QF_CACHE_OFFLINE,            /* the server could not be reached */
};

struct qf_cache_info {
	uint64_t size;
	char sha256[65];             /* lower-case hex */
	int64_t stored;              /* when it was downloaded (s since the epoch) */
	int64_t last_use;            /* when it was last read from the cache */
	enum qf_cache_use use;       /* qf_cache_fetch only */
};

/* The cache at @dir (created, mode 0700, when missing), bounded to
 * @max_bytes (0: QF_CACHE_MAX_DEFAULT).  NULL with @e set on failure. */
struct qf_cache *qf_cache_open(const char *dir, uint64_t max_bytes,
			       struct qf_err *e);
/* Make sure the cache holds the current version of @url (an http(s) URL,
 * requested with @o's headers and TLS options; its published checksum is
 * found as qf_image_open finds it) and give its local copy's path in
 * *@local_path (may be NULL; caller frees) and what is known of it in
 * @info (may be NULL).  The copy stays locked against eviction until
 * qf_cache_close.  @progress (may be NULL) is called as the download
 * goes; *@cancel (may be NULL) non-zero stops it with -ECANCELED.
 * -EFBIG or -ENOSPC when the file cannot fit. */
int qf_cache_fetch(struct qf_cache *c, const char *url,
		   const struct qf_open_opts *o, char **local_path,
		   struct qf_cache_info *info, volatile const int *cancel,
		   qf_cache_progress_fn progress, void *progress_ctx,
		   struct qf_err *e);
/* Whether the cache holds a copy of @url (without asking the server
 * whether it is current), with @info (may be NULL) filled. */
bool qf_cache_has(struct qf_cache *c, const char *url,
		  struct qf_cache_info *info);
void qf_cache_close(struct qf_cache *c);

/* --------------------------------------------------------------- catalog
 * A site's list of images, in the JSON of Raspberry Pi Imager's os_list:
 * {"os_list": [ENTRY, ...]} (or a bare array of entries), each entry an
 * object with a name and either a url (an image) or subitems (a folder
 * of entries, nested at most QF_CATALOG_DEPTH deep).  Image entries may
 * give description, extract_size, extract_sha256, image_download_size,
 * image_download_sha256, release_date (YYYY-MM-DD), bmap and signature
 * (URLs or paths); other members (icon, devices, ...) are ignored.
 * Relative names resolve against the catalog's own name, and a catalog
 * read from a server names only files on servers.
 *
 * A malformed entry is left out with a message naming it by its path
 * ("Site images/POS 2025: image_download_sha256 is not 64 hex digits");
 * a malformed folder is left out with everything in it.  The rest of the
 * catalog stays usable: only a file that cannot be read or is no JSON
 * (or too large) fails. */

#define QF_CATALOG_MAX_BYTES ((uint64_t)4 << 20)
#define QF_CATALOG_MAX_ENTRIES 10000
#define QF_CATALOG_DEPTH 8

struct qf_catalog_entry {
	const char *name;
	const char *path;            /* names from the top, '/'-separated */
	int depth;                   /* 0 at the top */
	int parent;                  /* index of its folder, -1 at the top */
	bool folder;                 /* the entries inside follow it */
	/* Strings are "" when not given; URLs and paths are resolved. */
	const char *description;     /* control characters made spaces */
	const char *url;             /* the image ("" for folders) */
	const char *url_shown;       /* the same without credentials */
	const char *bmap, *signature;
	const char *release_date;    /* YYYY-MM-DD */
	const char *extract_sha256;  /* of the disk image, lower-case hex */
	const char *image_download_sha256; /* of the file at url */
	int64_t extract_size;        /* bytes, -1 when not given */
	int64_t image_download_size;
	bool cached;                 /* see qf_catalog_mark_cached */
};

struct qf_catalog {
	char *name;                  /* as given: path or URL */
	/* Every usable entry, depth first: a folder, then its entries. */
	struct qf_catalog_entry *entries;
	size_t count;
	/* What was left out and why, translated, in the catalog's order. */
	char **messages;
	size_t nmessages;
	/* Read through a cache (qf_open_opts.cache_dir) whose copy was used
	 * because the server could not be reached; when that copy was made
	 * (s since the epoch). */
	bool offline;
	int64_t stored;
};

/* Read the catalog @name (a path or an http(s) URL, requested with @o's
 * headers and TLS options; @o may be NULL) into *@out (free with
 * qf_catalog_free).  With o->cache_dir a catalog on a server is kept in
 * that cache and read from it when the server cannot be reached (o->warn
 * hears so, and the catalog's offline flag says it); the entries' cached
 * flags then say what that cache holds.  Fails only when
 * it cannot be read, is larger than QF_CATALOG_MAX_BYTES or is no JSON
 * catalog at all. */
int qf_catalog_read(const char *name, const struct qf_open_opts *o,
		    struct qf_catalog **out, struct qf_err *e);
/* The image entry @spec names: its path ("Folder/Name"), or the name of
 * the one image entry anywhere with that name.  NULL with @e set when
 * there is none (-ENOENT), it is a folder (-EISDIR) or several entries
 * have that name (-EMLINK, naming their paths). */
const struct qf_catalog_entry *qf_catalog_find(const struct qf_catalog *c,
					       const char *spec,
					       struct qf_err *e);
/* Set each image entry's cached flag: whether @cache holds its url
 * (qf_cache_has; local paths never are). */
void qf_catalog_mark_cached(struct qf_catalog *c, struct qf_cache *cache);
void qf_catalog_free(struct qf_catalog *c);

/* ------------------------------------------------------ allocation map
 * The engine plans from this map: a stream of runs over the virtual disk.
 * No per-cluster array for the whole disk is ever built. */

enum qf_extent_kind {
	QF_EXTENT_ZERO = 0,      /* reads as zeros */
	QF_EXTENT_DATA,          /* bytes at host_off in file (contiguous) */
	QF_EXTENT_COMPRESSED,    /* one compressed cluster */
};

enum qf_compression {
	QF_COMPRESSION_DEFLATE = 0,
	QF_COMPRESSION_ZSTD = 1,
};

struct qf_source;    /* internal: a random-access byte source */

struct qf_extent {
	uint64_t off;            /* virtual offset */
	uint64_t len;            /* virtual length */
	enum qf_extent_kind kind;
	struct qf_source *src;   /* DATA/COMPRESSED: where the bytes live */
	uint64_t host_off;       /* DATA: offset of byte @off in src;
				    COMPRESSED: offset of compressed data */
	/* COMPRESSED only */
	uint32_t clen;           /* compressed bytes to read from host_off */
	uint32_t cluster_size;   /* decompressed size of the whole cluster */
	uint32_t skip;           /* @off is this far into the cluster */
	enum qf_compression ctype;
};

/* Describe the run starting at @off, at most @maxlen long (clamped to the
 * virtual size).  Never returns a zero-length extent for off < size. */
int qf_image_map(struct qf_image *img, uint64_t off, uint64_t maxlen,
		 struct qf_extent *ext, struct qf_err *e);

/* Read one extent's bytes into @buf (ext->len bytes).  Used by the engine's
 * workers: does the read and, for COMPRESSED, the decompression.  @scratch
 * is a per-thread decompression context from qf_decomp_new (may be NULL for
 * DATA/ZERO).  Errors name the virtual offset. */
struct qf_decomp;
struct qf_decomp *qf_decomp_new(void);
void qf_decomp_free(struct qf_decomp *d);
int qf_extent_read(const struct qf_extent *ext, void *buf,
		   struct qf_decomp *d, struct qf_err *e);

/* ------------------------------------------------------ partition tables */

struct qf_partition {
	int number;                  /* Linux numbering, logical from 5 */
	uint64_t start;              /* bytes */
	uint64_t size;               /* bytes */
	char type[40];               /* "0x83" or a GUID */
	char type_name[64];          /* "Linux filesystem", "EFI System" */
	char name[144];              /* GPT name (UTF-8), "" for MBR */
	char uuid[40];               /* GPT unique GUID, "" for MBR */
	bool bootable;               /* MBR active flag */
	bool logical;                /* MBR logical partition */
	char fs_type[32];            /* found by libblkid, "" if none */
	char fs_label[128];
	char fs_uuid[64];
};

struct qf_ptable {
	char kind[8];                /* "gpt", "dos" or "" (none found) */
	char disk_id[40];            /* GPT disk GUID or MBR 0xXXXXXXXX */
	uint32_t sector_size;        /* 512 or 4096 */
	bool hybrid_mbr;             /* GPT with a hybrid MBR */
	bool used_backup;            /* primary GPT damaged, backup used */
	int count;
	struct qf_partition *parts;  /* sorted by number */
	/* bytes holding partition tables: [0, head_end) and
	 * [tail_start, disk size); tail_start == size if nothing at the end */
	uint64_t head_end;
	uint64_t tail_start;
};

/* Read and check the image's partition table; probe each partition's
 * filesystem with libblkid.  A disk without a table gives kind "". */
int qf_ptable_read(struct qf_image *img, struct qf_ptable **out,
		   qf_warn_fn warn, void *warn_ctx, struct qf_err *e);
void qf_ptable_free(struct qf_ptable *pt);
const struct qf_partition *qf_ptable_find(const struct qf_ptable *pt,
					  int number);

/* --------------------------------------------------------------- devices */

enum qf_dev_kind { QF_DEV_DISK, QF_DEV_PARTITION, QF_DEV_FILE };

/* Why a target may not be written; a bit set per reason. */
enum qf_refusal {
	QF_REFUSE_MOUNTED   = 1 << 0,
	QF_REFUSE_SWAP      = 1 << 1,
	QF_REFUSE_HELD      = 1 << 2,   /* device-mapper / md holders */
	QF_REFUSE_READONLY  = 1 << 3,
	QF_REFUSE_SYSTEM    = 1 << 4,   /* holds the running root fs */
	QF_REFUSE_SOURCE    = 1 << 5,   /* holds the source image */
	QF_REFUSE_TOO_SMALL = 1 << 6,
	QF_REFUSE_BUSY      = 1 << 7,   /* O_EXCL open failed */
	QF_REFUSE_NOT_FOUND = 1 << 8,
	QF_REFUSE_NOT_BLOCK = 1 << 9,   /* neither a block device nor file */
};

struct qf_device {
	char path[256];              /* /dev/sdb, /dev/loop0p1, ./t.img */
	char name[64];               /* kernel name: sdb, loop0p1 */
	enum qf_dev_kind kind;
	bool exists;                 /* false: a file the job will create */
	char parent[64];             /* whole disk's kernel name, partitions */
	uint64_t size;               /* bytes */
	uint32_t logical_block;      /* bytes */
	char model[64], vendor[64], serial[64];
	char wwn[64];                /* world wide name, "" if none */
	char slot[128];              /* the physical place: udev's ID_PATH
					(the port), else the kernel name of
					the whole disk */
	uint64_t diskseq;            /* changes with every medium or loop
					attachment (0 if the kernel has none) */
	char transport[16];          /* usb, sata, nvme, loop, ... */
	char backing_file[256];      /* loop devices */
	bool removable, rotational, readonly;
	char pttype[16];             /* partition table on it now */
	char fs_summary[160];        /* "vfat EFI, ext4 root" */
	unsigned refusals;           /* enum qf_refusal bits (not TOO_SMALL) */
	char reason[160];            /* translated, empty if writable */
};

/* List block devices (whole disks and their partitions) found through
 * libblkid and sysfs.  @source_path (may be NULL) marks the device that
 * holds the image.  Returns the count, *out to be freed with free(). */
int qf_devices_list(const char *source_path, struct qf_device **out,
		    struct qf_err *e);
/* Describe one path given by the user (block device or regular file). */
int qf_device_probe(const char *path, const char *source_path,
		    struct qf_device *out, struct qf_err *e);
/* The same for an image of several files: a device or file holding any
 * of @sources (NULL-terminated, the image first, as qf_image_files gives
 * them; may be NULL) is refused as QF_REFUSE_SOURCE, the reason naming
 * the backing layer or data file it holds. */
int qf_devices_list_sources(const char *const *sources,
			    struct qf_device **out, struct qf_err *e);
int qf_device_probe_sources(const char *path, const char *const *sources,
			    struct qf_device *out, struct qf_err *e);
/* A cheap token that changes when devices come or go (for refreshing). */
uint64_t qf_devices_generation(void);
/* Human text for refusal bits: "mounted at /boot", ... */
void qf_refusal_text(unsigned refusals, char *buf, size_t len);

/* ------------------------------------------------------ media qualification
 * A drive checked in seconds before it is flashed, the way f3probe checks
 * one: about a hundred offset-stamped blocks (each holding its own
 * offset, a number drawn for the run and a checksum, so an earlier run's
 * data never passes) written at both ends, at every power-of-two
 * boundary, at pseudo-random offsets and in one sequential run, then
 * read back past the page cache.  A block that reads back another's stamp means two
 * addresses share storage (fake capacity); one that reads back anything
 * else means a write was acknowledged but not stored. */

struct qf_qualify_result {
	uint64_t claimed;            /* bytes the drive says it holds */
	uint64_t usable;             /* bytes found to hold distinct data:
					claimed when good, the real capacity
					estimated for a fake, the first bad
					offset for a dead drive */
	bool fake;                   /* aliasing found (fake capacity) */
	bool lost_writes;            /* writes acknowledged but not stored */
	uint64_t lost_off;           /* the first offset found losing them */
	bool write_errors;           /* writes failed (EIO, ENOSPC, ...) */
	uint64_t error_off;          /* the first offset found failing them */
	bool read_only;              /* the drive refuses writes, or the
					policy refuses it only for being
					read-only */
	double write_rate, read_rate;/* bytes/s, sustained (a sequential
					O_DIRECT run of up to 32 MiB or 2 s);
					0 when not measured */
	double seconds;              /* the whole qualification */
	/* The verdict, translated, without the path: "fake capacity:
	 * claimed 64.0 GiB, holds about 8.0 GiB", "good: ...". */
	char message[QF_ERR_MSG_MAX];
};

/* Qualify the block device or existing regular file @path.  It is judged
 * by the policy a flash target is (never a mounted, in-use or system
 * disk, nor one holding a file of @sources: NULL-terminated, the image
 * first, as qf_image_files gives them; may be NULL) and opened as one
 * (block devices O_EXCL and O_DIRECT).  It is written to: whatever the
 * outcome, its first and last MiB are zero afterwards, so it never looks
 * like a disk with a layout.  Takes seconds and about 1 MiB of memory.
 *
 * Returns 0 when the medium qualifies, or a negative errno with @e's
 * message "PATH: " and the verdict: -EMEDIUMTYPE fake capacity, -EIO lost
 * writes (or a read error), the errno of writes that failed, -EROFS
 * read-only, -EPERM refused by the policy, -ECANCELED when *@cancel (may
 * be NULL; read between every two I/Os) became non-zero.  @r (may be NULL) is filled in
 * every case.  Callable from any thread, several at once on different
 * drives. */
int qf_qualify(const char *path, const char *const *sources,
	       volatile const int *cancel, struct qf_qualify_result *r,
	       struct qf_err *e);

/* ------------------------------------------------------------------ jobs */

enum qf_job_mode {
	QF_MODE_WHOLE_DISK = 0,      /* the virtual disk to every target */
	QF_MODE_PARTITIONS,          /* partition N to its own target */
	QF_MODE_VERIFY_ONLY,         /* compare targets with the image */
};

enum qf_phase {
	QF_PHASE_PREPARING = 0,
	QF_PHASE_WRITING,
	QF_PHASE_SYNCING,
	QF_PHASE_VERIFYING,
	QF_PHASE_GROWING,            /* filesystems grown on larger targets */
	QF_PHASE_DONE,
	QF_PHASE_FAILED,
	QF_PHASE_CANCELLED,
};
const char *qf_phase_name(enum qf_phase p);      /* translated */
const char *qf_phase_id(enum qf_phase p);        /* fixed English, for JSON */

enum qf_target_state {
	QF_TARGET_PENDING = 0,
	QF_TARGET_WRITING,
	QF_TARGET_SYNCING,
	QF_TARGET_VERIFYING,
	QF_TARGET_GROWING,
	QF_TARGET_OK,
	QF_TARGET_FAILED,
	QF_TARGET_CANCELLED,
	QF_TARGET_MISMATCH,          /* verification found a difference */
};
const char *qf_target_state_name(enum qf_target_state s);  /* translated */
const char *qf_target_state_id(enum qf_target_state s);    /* fixed English */

struct qf_job_opts {
	enum qf_job_mode mode;
	int threads;                 /* 0: online CPUs */
	bool verify;
	bool direct;                 /* O_DIRECT writes */
	bool assume_zeroed;          /* target known blank: skip zero runs */
	bool force;                  /* write a drive whose sector size the
					image's table cannot be converted to
					(nothing ever writes a mounted, in-use
					or system disk) */
	bool exact;                  /* write the image unchanged: no
					partition-table fix-ups for a target
					larger than the image */
	bool grow;                   /* grow the last partition (and its
					ext2/3/4 filesystem) to the end of a
					larger target */
	bool hash_source;            /* compute the image file's SHA-256 even
					when none is published (qcow2, raw) */
	const char *log_path;        /* flash log (JSON lines), or NULL */
	/* More for the log's records (station mode), or NULL; must live as
	 * long as the job. */
	const struct qf_record_info *record;
};

/* Who flashed, where, and what the drive was found to hold, for the
 * flash log's records (every field may be NULL or 0). */
struct qf_record_info {
	const char *station;         /* the station's name */
	const char *operator_name;
	const char *slot;            /* the slot the drive sat in */
	bool qualified;              /* the medium was qualified first: */
	uint64_t claimed, usable;    /* bytes it claims, bytes found to hold */
	double write_rate;           /* bytes/s, sustained */
};

/* What a job does to a target beyond copying the image (bits). */
enum qf_adjustment {
	QF_ADJUST_BACKUP_MOVED = 1 << 0, /* backup GPT moved to the end */
	QF_ADJUST_PMBR_RESIZED = 1 << 1, /* protective MBR spans the target */
	QF_ADJUST_SECTOR_SIZE  = 1 << 2, /* GPT rewritten in the target's
					    logical sector size */
	QF_ADJUST_PART_GROWN   = 1 << 3, /* last partition grown */
	QF_ADJUST_FS_GROWN     = 1 << 4, /* its filesystem grown (after the
					    flash was verified) */
};

/* What qf_job_prepare found out about one target, to show before the
 * flash is confirmed. */
struct qf_target_plan {
	uint64_t size;               /* bytes the target holds */
	uint32_t sector_size;        /* its logical sector size */
	unsigned adjust;             /* enum qf_adjustment bits planned */
	int grown;                   /* partition number to grow, or 0 */
	uint64_t grown_old_size;     /* bytes, in the image */
	uint64_t grown_size;         /* bytes, on the target */
	char grown_fs[32];           /* its filesystem, "" if unknown */
	bool sector_mismatch;        /* the target's sector size differs from
					the image's table and it cannot be
					converted: refused unless force */
	uint64_t unused;             /* bytes of the target past what is
					written and not given to a partition */
	/* Translated sentences, "; "-separated, "" when there is nothing to
	 * say: what will be adjusted, and what is left as it is. */
	char adjust_text[512];
	char left_text[512];
};

struct qf_job;

struct qf_job *qf_job_new(struct qf_image *img, const struct qf_job_opts *o);
/* Whole disk / verify-only: @partition 0.  Partitions: the image partition
 * number whose bytes go to @path. */
int qf_job_add_target(struct qf_job *job, const char *path, int partition,
		      struct qf_err *e);
/* Checks every target (safety, size, sector size) and works out what will
 * be adjusted on each (qf_job_target_plan), without opening any for
 * writing.  qf_job_start calls it when the front end has not. */
int qf_job_prepare(struct qf_job *job, struct qf_err *e);
int qf_job_target_count(const struct qf_job *job);
/* The path of target @i, as it was added. */
const char *qf_job_target_path(const struct qf_job *job, int i);
/* Target @i's plan, once qf_job_prepare has succeeded; NULL otherwise. */
const struct qf_target_plan *qf_job_target_plan(const struct qf_job *job,
						int i);
/* Checks every target (qf_job_prepare) and opens them (O_EXCL for block
 * devices), then starts the background threads and returns at once.
 * Nothing is written if any check fails.  A target's old partition table
 * and end-of-disk signatures are wiped before any data reaches it, and
 * its new table is written only after everything else (and verified when
 * verification is on), so at every instant it is either complete or does
 * not look like a disk with a layout. */
int qf_job_start(struct qf_job *job, struct qf_err *e);
void qf_job_cancel(struct qf_job *job);
/* Readable fd that becomes readable when progress changes; read it with
 * qf_job_ack_wakeup.  Valid from qf_job_new to qf_job_free. */
int qf_job_wakeup_fd(const struct qf_job *job);
void qf_job_ack_wakeup(struct qf_job *job);

struct qf_target_progress {
	const char *path;
	int partition;
	enum qf_target_state state;
	uint64_t done;               /* bytes written (or verified) */
	uint64_t total;
	int err;                     /* negative errno when failed */
	char message[QF_ERR_MSG_MAX];
	uint64_t mismatch_off;       /* QF_TARGET_MISMATCH */
	/* QF_TARGET_MISMATCH: the bytes there were written again and still
	 * read back wrong (the drive does not keep what it is given). */
	bool bad_media;
	/* Ranges that read back wrong after the flash and were written again
	 * until they read back right (-verify). */
	uint32_t healed;
	bool table_written;          /* partition-table region written */
	unsigned adjusted;           /* enum qf_adjustment bits done */
	double wipe_seconds;         /* spent wiping its ends before the data */
	double table_seconds;        /* writing and checking what goes last */
	char model[64], serial[64];
	uint64_t written, zeroed;    /* bytes of data written, zeroed */
	/* Once the target has ended: the checksum of what it was given
	 * (verified when verification is on), as the flash log has it. */
	bool have_checksum;
	uint64_t checksum;           /* "xxh3-4m:%016llx" */
};

struct qf_progress {
	enum qf_phase phase;
	double elapsed;              /* seconds since start */
	uint64_t total;              /* bytes of virtual disk to process */
	uint64_t done;               /* bytes processed (slowest target) */
	uint64_t bytes_read;         /* from the image files */
	uint64_t bytes_decompressed;
	uint64_t bytes_written;      /* data written, all targets */
	uint64_t bytes_zeroed;       /* zeroed or skipped as zero */
	uint64_t net_bytes;          /* http: bytes received */
	uint32_t net_retries;        /* http: retries (requests meeting the
					same outage retry as one) */
	/* The image file's SHA-256 (lower-case hex, "" until known) and its
	 * check against the published one: 0 not checked (yet), 1 it
	 * matches, -1 it does not. */
	char source_sha256[65];
	int checksum_ok;
	uint32_t net_retrying;       /* http: while requests wait to be
					retried, the number of that retry
					(1 for the first); 0 while data flows */
	double net_rate;             /* http: bytes/s received, recent window */
	/* The disk image's SHA-256 checked against qf_image_disk_checksum,
	 * as checksum_ok. */
	int disk_checksum_ok;
	double rate;                 /* bytes/s over a recent window */
	double eta;                  /* seconds, <0 unknown */
	int ntargets;
	struct qf_target_progress *targets;  /* owned by the snapshot */
};

/* Take a consistent snapshot.  Free with qf_progress_free.  Byte and
 * network counts are this job's, also when the image was read before. */
int qf_job_progress(struct qf_job *job, struct qf_progress *p);
void qf_progress_free(struct qf_progress *p);

/* Wait for the job to end; fills @p with the final state (may be NULL).
 * Returns 0 if every target is OK, -EIO if any failed or mismatched,
 * -ECANCELED if cancelled. */
int qf_job_wait(struct qf_job *job, struct qf_progress *p);
void qf_job_free(struct qf_job *job);

/* Default flash log path: $XDG_STATE_HOME/qflash/flash.log or
 * ~/.local/state/qflash/flash.log. Caller frees. */
char *qf_flashlog_default_path(void);
/* Whether a job could append to the flash log @path, without writing or
 * creating anything: it is a writable file, or its nearest existing
 * directory is writable (the job makes the rest).  -errno with the
 * message a failed append would give. */
int qf_flashlog_check(const char *path, struct qf_err *e);

/* --------------------------------------------------------------- station */

/* A station flashes one image onto every drive plugged into its armed
 * slots, each slot on its own: checks, qualification, flash, verify,
 * certificate, then it waits for the drive to be removed.  A slot is a
 * physical place (qf_device.slot); only armed slots are ever written. */
enum qf_slot_state {
	QF_SLOT_EMPTY = 0,           /* waiting for a drive */
	QF_SLOT_CHECKING,            /* safety and size checks */
	QF_SLOT_QUALIFYING,          /* the medium tested (qf_qualify) */
	QF_SLOT_WRITING,
	QF_SLOT_VERIFYING,
	QF_SLOT_FINISHING,           /* sync, partition table, growing */
	QF_SLOT_PASS,                /* flashed and verified: remove it */
	QF_SLOT_FAIL,                /* see reason: remove it */
	QF_SLOT_STOPPED,             /* the station stopped */
};
const char *qf_slot_state_name(enum qf_slot_state s);  /* translated */
const char *qf_slot_state_id(enum qf_slot_state s);    /* fixed English */

struct qf_station_opts {
	const char *image;           /* path or URL */
	struct qf_open_opts open;
	struct qf_job_opts job;      /* mode is whole disk; record is set by
					the station */
	bool qualify;                /* qf_qualify every drive first */
	const char *station;         /* its name: NULL for the host name */
	const char *operator_name;   /* NULL for the login name */
	const char *cert_dir;        /* certificates: NULL for a directory
					"certificates" beside the flash log */
	const char *const *slots;    /* the armed slots' ids */
	int nslots;
	double poll;                 /* seconds between looks, 0: 0.5 */
};

struct qf_slot_status {
	char id[128];
	enum qf_slot_state state;
	enum qf_slot_state result;   /* of the last drive: PASS or FAIL, or
					EMPTY before the first */
	char device[64];             /* /dev/sdb while a drive is in it */
	char model[64], serial[64], wwn[64];
	uint64_t size;
	double fraction;             /* of the flash, 0..1 */
	double rate;                 /* bytes/s */
	double eta;                  /* seconds, <0 unknown */
	unsigned copies;             /* drives that passed */
	unsigned failures;           /* drives that failed */
	char reason[QF_ERR_MSG_MAX]; /* why the last drive failed, or what
					qualification found */
	char certificate[256];       /* the last certificate written */
	double time;                 /* wall clock of the last change */
	uint64_t seq;                /* grows with each state change */
};

struct qf_station;

/* Opens and checks the image (nothing is written if it is malformed),
 * then watches the slots on background threads. */
int qf_station_start(const struct qf_station_opts *o, struct qf_station **out,
		     struct qf_err *e);
/* Readable when a slot changes; clear it with qf_station_ack_wakeup. */
int qf_station_wakeup_fd(const struct qf_station *st);
void qf_station_ack_wakeup(struct qf_station *st);
/* Every slot now (free() *out); returns the count. */
int qf_station_status(struct qf_station *st, struct qf_slot_status **out);
/* The state changes since the last call, oldest first, each the slot's
 * status at that change (free() *out); returns the count. */
int qf_station_events(struct qf_station *st, struct qf_slot_status **out);
/* A paused station starts no new drive; running ones carry on. */
void qf_station_pause(struct qf_station *st, bool paused);
/* How many slots are between checking and their result. */
int qf_station_busy(struct qf_station *st);
/* Cancels running flashes (they leave no layout behind) and ends the
 * threads; the last events can still be read. */
void qf_station_stop(struct qf_station *st);
/* Stops the station if it runs, and frees it. */
void qf_station_free(struct qf_station *st);
/* --------------------------------------------------------------- history
 * Reading the flash log back: which drives got which image, and how each
 * flash ended.  Every flash leaves a "started" line per target and, once
 * it is over, a result line; the two make one record.  A started line
 * that no result follows is a flash that never ended (killed, power
 * lost) or that is still running: QF_HISTORY_INTERRUPTED.  Lines that are
 * not flash records (cut short, damaged, too long) are skipped and
 * counted.  The file is read line by line, never whole. */

enum qf_history_outcome {
	QF_HISTORY_PASSED = 0,       /* result "ok" */
	QF_HISTORY_FAILED,           /* "failed", "mismatch" or any other */
	QF_HISTORY_CANCELLED,        /* "cancelled": stopped by the user */
	QF_HISTORY_INTERRUPTED,      /* started, and no result followed */
};

/* One flash of one target.  Strings are never NULL ("" when the log has
 * nothing); numbers are 0 (durations and rates -1) when unknown.  Fields
 * that only some logs carry (slot, station, ...) are "" elsewhere. */
struct qf_history_record {
	int64_t time;                /* when the flash started (epoch s) */
	int64_t finished;            /* "finished", or 0 */
	enum qf_history_outcome outcome;
	const char *result;          /* the log's word, or "interrupted" */
	const char *target;          /* path as the flash was given it */
	const char *model, *serial, *wwn;
	uint64_t size;               /* the target's bytes */
	const char *image;           /* path or URL */
	const char *source_sha256;   /* of the image file, "" if not known */
	const char *snapshot_id, *snapshot_name;
	const char *mode;            /* "whole-disk", "partition", "verify" */
	int partition;               /* image partition written, or 0 */
	uint64_t bytes_written, bytes_zeroed;
	double duration;             /* seconds */
	double rate;                 /* bytes/s: the log's, else the bytes
					written and zeroed over the duration */
	const char *adjustments;     /* ", "-separated words, "" none */
	const char *verify;          /* "ok", "mismatch", "skipped", ... */
	const char *error;           /* English, "" when none */
	const char *slot, *station, *operator_name;
	bool have_qualify;           /* a media qualification was recorded */
	uint64_t qualify_claimed, qualify_usable;  /* bytes */
	double qualify_write_rate;   /* bytes/s, -1 unknown */
	const char *healed;          /* the log's value as text, "" none */
	const char *json;            /* the whole record as one JSON object:
					the result line (the started line, its
					result "interrupted", when none) */
	long line;                   /* line of the log where it begins */
};

struct qf_history_filter {
	/* A SHA-256 prefix of at least 8 hex digits (of the image file), or
	 * a part of the image's path or URL; NULL for any image. */
	const char *image;
	const char *serial;          /* exactly this serial; NULL any */
	int64_t since;               /* flashes started then or later; 0 any */
	size_t limit;                /* keep the newest @limit; 0 all */
	/* Also count the matching records from this time on (such as the
	 * start of today) in qf_history.marked; 0 none. */
	int64_t mark;
};

struct qf_history_counts {
	size_t total, passed, failed, cancelled, interrupted;
};

struct qf_history {
	struct qf_history_record *rec;   /* oldest first (by start time) */
	size_t count;
	struct qf_history_counts all;    /* every matching record, also those
					    past the limit */
	struct qf_history_counts marked; /* those from filter.mark on */
	size_t lines;                    /* lines read */
	size_t skipped;                  /* lines that are no flash record */
};

/* Read the flash log @path (NULL: qf_flashlog_default_path()) into @h,
 * the records matching @f (NULL: all).  -ENOENT and the like name the
 * file; a log that holds garbage is no error (see h->skipped). */
int qf_history_read(const char *path, const struct qf_history_filter *f,
		    struct qf_history *h, struct qf_err *e);
void qf_history_free(struct qf_history *h);
/* A time as people give it for qf_history_filter: "YYYY-MM-DD" (local
 * midnight), an ISO 8601 time ("2026-12-01T14:30", seconds, fraction and
 * a zone "Z" or "+01:00" optional; local time without a zone; a space
 * may stand for the T), or "today" / "yesterday" (local midnight of the
 * day @now, epoch seconds, falls on, or of the day before). */
int qf_history_parse_time(const char *s, int64_t now, int64_t *out,
			  struct qf_err *e);
/* @t (epoch seconds) as "2026-12-01 14:30:05" in local time, or as the
 * log writes times ("2026-12-01T13:30:05Z") when @utc; "" for 0.
 * Returns @buf. */
const char *qf_history_time_str(int64_t t, bool utc, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
