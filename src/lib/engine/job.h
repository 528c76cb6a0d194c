/* job.h - a flash job as the engine's modules see it.
 *
 * Data flow: workers (worker.c) take the next task from the planner
 * (plan.c, under plan_mu), fill a buffer from the bounded pool (pool.c) and
 * hand an op to every target of the task's feed.  An op is refcounted
 * across targets; its buffer returns to the pool when the last target is
 * done with it.  Each target's writer thread (writer.c) writes, zeroes or,
 * for verify-only, compares (compare.c) its ops in order, reads the
 * target back (writing again what it did not keep, heal.c) and writes
 * the partition-table region last.  Targets are checked and opened
 * before any of that (targets.c); every state change goes through
 * status.c, which keeps the progress snapshot; job.c ties the lifecycle
 * together and record.c writes the flash log.  Memory is bounded by the
 * pool, not by the size of the disk. */
#ifndef QF_JOB_H
#define QF_JOB_H

#include "engine/engine.h"
#include "image/extent.h"
#include "image/layout.h"
#include "report/progress.h"
#include "target/devices.h"
#include "target/sink.h"

#include <pthread.h>
#include <stdatomic.h>

/* Adjacent compressed clusters closer than this are read together. */
#define SPAN_GAP 4096
/* Zero runs are zeroed and checked in slices so progress and cancel stay
 * live on huge empty disks. */
#define ZERO_SLICE ((uint64_t)256 << 20)
/* Verify-only compares targets in reads of this size. */
#define CMP_LEN ((size_t)1 << 20)
/* Offsets of healed ranges kept per target for the flash log (all of
 * them are counted). */
#define HEALED_LOGGED 16
/* Image files whose network counters progress reports. */
#define MAX_SRCS 16

struct buf {
	struct buf *next;
	unsigned char *data;             /* QF_CHUNK bytes, aligned */
};

struct feed;
struct heal;

struct op {
	struct feed *fe;
	uint64_t off, len;               /* target offsets */
	struct buf *buf;                 /* NULL: the range is zeros */
	atomic_int refs;
};

struct qnode {
	struct qnode *next;
	struct op *op;
};

/* A range of a feed held back (table.c): zeros are written there with the
 * rest, its final content once everything else is on the target. */
struct defer {
	uint64_t off, len;               /* 4 KiB-aligned but at the feed's end */
	unsigned char *img;              /* the image's bytes there */
};

/* The bytes one group of targets receives: the whole virtual disk, or one
 * partition's range of it. */
struct feed {
	uint64_t vbase;                  /* virtual offset of target byte 0 */
	uint64_t len;
	int partition;
	struct target **t;
	int nt;
	struct defer *dr;                /* sorted, disjoint; none for
					    verify-only */
	int ndr;
	/* Hashes of data chunks (under job->hash_mu until production ends). */
	struct qf_chunk_hash *h;
	size_t nh, caph;
	bool complete;                   /* every chunk was produced */
};

struct target {
	struct qf_job *job;
	char *path;
	int partition;
	struct feed *fe;
	struct qf_sink sink;
	bool opened;
	struct qf_reader rd;             /* verify-only */
	bool rd_open;
	unsigned char *cmpbuf;
	unsigned char *expbuf;           /* verify-only: bytes with fix-ups */
	struct qf_device dev;
	uint64_t tsize;                  /* bytes of the opened target */
	struct qf_layout lay;            /* fix-ups for this target */
	struct qf_target_plan plan;
	/* Hashes of the final bytes of chunks that hold back bytes, and the
	 * checksum of the final bytes (under job->hash_mu until production
	 * ends). */
	struct qf_chunk_hash *fin;
	size_t nfin, capfin;
	uint64_t checksum;
	bool exists;
	dev_t id_dev;
	ino_t id_ino;
	pthread_t thread;
	bool thread_started;
	/* queue of ops, under qmu */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct qnode *qhead, *qtail;
	bool qeof;
	atomic_bool failed;
	/* writer thread only */
	bool mismatch_found;
	uint64_t mismatch;
	struct heal *heal;               /* heal.c, once a block needs it */
	/* progress, under job->pmu */
	enum qf_target_state state;
	uint64_t done, total, written, zeroed;
	int err;
	char message[QF_ERR_MSG_MAX];
	char message_en[QF_ERR_MSG_MAX]; /* the same in English: the log's */
	uint64_t mismatch_off;
	bool bad_media;                  /* the mismatch stayed (verify.c) */
	uint32_t nhealed;                /* blocks rewritten until right */
	uint64_t healed_at[HEALED_LOGGED]; /* their first wrong bytes */
	bool table_written;
	unsigned adjusted;               /* enum qf_adjustment bits done */
	double t_wipe, t_table;          /* seconds, for -debug and benchmarks */
	bool verified;
	double t_end;
};

struct qf_job {
	struct qf_image *img;
	struct qf_job_opts opts;
	char *log_path;
	struct qf_ptable *pt;            /* partition mode */
	struct target **t;
	int nt;
	struct feed **fe;
	int nfe;
	bool prepared, started, dead, joined;
	bool log_failed;                 /* a result line could not be written */

	/* The image file's SHA-256 (digest.c), under digest_mu */
	pthread_mutex_t digest_mu;
	pthread_cond_t digest_cv;
	bool hashing_file;               /* a thread reads the file for it */
	pthread_t hasher;
	int digest_state;                /* 0 pending, 1 known, -1 failed */
	char src_hex[65];
	struct qf_err digest_err;
	int checksum_ok;                 /* as in struct qf_progress */
	/* The disk image's SHA-256, the same way: a qcow2 image's virtual
	 * disk read once more in order by a thread of its own. */
	bool hashing_disk;
	pthread_t disk_hasher;
	int disk_state;
	char disk_hex[65];
	struct qf_err disk_err;
	int disk_ok;
	bool hashing;
	bool in_order;                   /* the image must be read in order */
	int nworkers;
	pthread_t *workers;
	int workers_started;

	/* planner, under plan_mu */
	pthread_mutex_t plan_mu;
	int plan_idx;
	uint64_t plan_pos;
	uint64_t pf_pos;                 /* announced to sources up to here */
	atomic_bool remote;              /* some data comes from an http source */
	int workers_left;
	_Atomic(struct qf_source *) srcs[MAX_SRCS];
	atomic_int nsrcs;
	/* Their counters when first seen: an image stays open across jobs
	 * (Flash again) and its sources count for all of them. */
	uint64_t src_base_bytes[MAX_SRCS];
	uint32_t src_base_retries[MAX_SRCS];

	pthread_mutex_t hash_mu;

	/* buffer pool and in-flight ops, under pool_mu */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct buf *free_bufs;
	struct buf **all_bufs;
	int nbufs, maxbufs;
	int inflight, max_inflight;

	atomic_bool stop;                /* stop producing and writing */
	atomic_bool cancelled;
	atomic_uint_fast64_t bytes_read, bytes_decomp, bytes_written,
			     bytes_zeroed;

	/* progress and lifecycle, under pmu */
	pthread_mutex_t pmu;
	pthread_cond_t pcv;
	int gate;                        /* 0 wait, 1 go, -1 start failed */
	enum qf_phase phase;
	struct qf_rate rate, net_rate;
	double t_start, t_end, last_wake;
	int64_t wall_start;
	struct qf_err fatal;             /* image error: fails every target */
	int writers_left;
	int wipes_left;                  /* writers still wiping their ends */
	bool finished;
	int efd;
};

struct worker {
	struct qf_job *job;
	struct qf_decomp *d;
	struct qf_extent *ext;
	size_t next, cap;
	unsigned char *span;
	unsigned char *tmp;              /* QF_CHUNK bytes: final-byte hashes */
};

struct task {
	struct feed *fe;
	uint64_t off, len;
	bool zero;
};

/* ------------------------------------------------------------ status.c
 * Every change of a target's state or progress, under job->pmu. */

void job_wake_locked(struct qf_job *job, bool force);
/* Recompute the job phase from the targets; a new phase restarts the rate
 * window since its bytes are counted from zero. */
void job_update_locked(struct qf_job *job, bool force);
void target_set_state(struct target *t, enum qf_target_state s);
void target_add_done(struct target *t, uint64_t done, uint64_t written,
		     uint64_t zeroed);
void target_set_done(struct target *t, uint64_t done);
/* @m (may be NULL: no message) says why, its code is the target's. */
void target_set_final(struct target *t, enum qf_target_state s,
		      const struct qf_err *m);
/* A target failed: drop it, keep the others going.  When none is left
 * there is nothing to produce for. */
void target_fail(struct target *t, const struct qf_err *m);
/* A block that read back wrong was rewritten and now reads right; @off
 * was its first wrong byte. */
void target_healed(struct target *t, uint64_t off);
/* Verification found the target differs from what was written (@r says
 * where, and whether rewriting it was tried). */
void target_readback_failed(struct target *t,
			    const struct qf_readback_result *r);
/* The image cannot be read: every target is incomplete. */
void job_fail(struct qf_job *job, const struct qf_err *e);
/* Settle a target whose job stopped (cancel, image error) or that failed
 * already; returns false when it is to be finished normally. */
bool target_stopped_early(struct target *t);
/* Threads start before the job is checked and wait here: true once it
 * may run, false when starting failed. */
bool job_wait_gate(struct qf_job *job);
/* Workers wait until every writer has wiped its target's ends (short
 * work on the drive's critical path, given the CPUs to itself); writers
 * say when theirs is done, whatever its outcome. */
void job_wait_wiped(struct qf_job *job);
void job_wiped(struct qf_job *job);
/* The last writer out closes the job. */
void job_finalize(struct qf_job *job);

/* -------------------------------------------------------------- pool.c */

/* Chunk buffers, in huge pages when large. */
void *buf_memalign(size_t len);
void pool_kick(struct qf_job *job);
/* Take an in-flight slot and, when @want_buf, a buffer.  Returns false
 * when the job is stopping. */
bool pool_take(struct qf_job *job, bool want_buf, struct buf **out);
/* A buffer for a writer's read-back; waits for one to come back. */
struct buf *pool_get_buf(struct qf_job *job);
void pool_put(struct qf_job *job, struct buf *b, bool slot);
void op_release(struct qf_job *job, struct op *op);
/* Hand the task's bytes (@b, or NULL for zeros) to every target of its
 * feed. */
void op_emit(struct qf_job *job, const struct task *tk, struct buf *b);
void queue_close(struct target *t);
/* Next op, or NULL once the queue is closed and empty. */
struct op *queue_pop(struct target *t);

/* -------------------------------------------------------------- plan.c */

/* Next task, under plan_mu: 1, 0 when done, or an error. */
int plan_next(struct worker *w, struct task *tk, struct qf_err *e);

/* ------------------------------------------------------------ digest.c */

/* Start what computes the image file's SHA-256 when it is published or
 * asked for and the image does not compute it itself (qcow2, raw). */
int digest_start(struct qf_job *job, struct qf_err *e);
/* Before a target gets its table: 0 when the image file is the one
 * published (or nothing was published), else an error.  Waits for the
 * digest. */
int digest_check(struct qf_job *job, struct qf_err *e);
/* A compressed image decoded to the end of its data, where the engine
 * skipped its unmapped tail or a checksum needs it; done by digest_check
 * (0, or the stream's error). */
int digest_stream_end(struct qf_job *job, struct qf_err *e);
void digest_stop(struct qf_job *job);

/* -------------------------------------------------------------- grow.c */

/* Grow the filesystem of the partition the target's layout grew (or of a
 * partition target larger than the image's partition), with e2fsprogs.
 * 0 with what was done or left said in @note, or an error. */
int grow_filesystem(struct target *t, struct qf_err *note, struct qf_err *e);

/* ------------------------------------------------------------- table.c */

/* Which ranges of each feed are held back: both ends of every feed (the
 * table region and first superblocks of a disk) and every target's
 * fix-ups inside the image.  After the targets' layouts are planned. */
void table_plan(struct qf_job *job);
bool table_overlaps(const struct feed *fe, uint64_t off, uint64_t len);
/* Keep the image's held-back bytes of [off, off + len) from @buf. */
void table_capture(struct feed *fe, uint64_t off, uint64_t len,
		   const unsigned char *buf);
/* Zeros in @buf where [off, off + len) is held back. */
void table_mask(const struct feed *fe, uint64_t off, uint64_t len,
		unsigned char *buf);
/* Lay target @t's fix-ups over @buf, holding [off, off + len). */
void table_patch(const struct target *t, uint64_t off, uint64_t len,
		 unsigned char *buf);
/* Zero the target's head and tail before any data reaches it. */
int table_wipe(struct target *t, struct qf_err *e);
/* Write the held-back ranges' final content and sync: everything but
 * sector 0, then sector 0.  With @check each part is read back before
 * the next is written, what reads back wrong is written again as
 * verify.c does for the data (QF_HEAL_TRIES times) and, if anything had
 * to be, the whole is checked once more: 1 with @bad filled when a
 * difference stays. */
int table_write(struct target *t, bool check, struct qf_readback_result *bad,
		struct qf_err *e);
/* Zero them again, sector 0 first (a table that failed its check). */
int table_unwrite(struct target *t, struct qf_err *e);
/* Read them back: 0 when right, 1 with *mismatch, or an error; with
 * @patches_only just the fix-ups past the feed (verify-only). */
int table_verify(struct target *t, bool patches_only, uint64_t *mismatch,
		 struct qf_err *e);

/* -------------------------------------------------------------- heal.c
 * The callbacks of a flash's read-back (struct qf_readback, @ctx the
 * target): the bytes of a block produced again, and written again. */

int heal_expected(void *ctx, void *buf, size_t len, uint64_t off);
int heal_rewrite(void *ctx, uint64_t off, uint64_t len, bool zeros,
		 struct qf_err *e);
void heal_healed(void *ctx, uint64_t mismatch);
/* Let go of what healing the target took (a decoder, a buffer). */
void heal_end(struct target *t);

/* ------------------------------------------------ worker.c, writer.c */

void *worker_main(void *arg);
void *writer_main(void *arg);

/* ----------------------------------------------------------- compare.c */

/* Verify-only: compare one op's range of the target with the image. */
int compare_op(struct target *t, const struct op *op, struct qf_err *e);
void finish_compare(struct target *t);
/* Read the target back after the flash.  Returns true if the target's
 * final state was set here. */
bool verify_written(struct target *t);

/* ----------------------------------------------------------- targets.c */

/* Safety checks on one target before anything is opened for writing. */
int target_check(struct qf_job *job, struct target *t, struct qf_err *e);
/* What the job will adjust on target @t (its layout and plan). */
int target_plan(struct qf_job *job, struct target *t, struct qf_err *e);
int targets_check_duplicates(struct qf_job *job, struct qf_err *e);
/* Open every target; only once all are open does any of them change. */
int targets_open(struct qf_job *job, struct qf_err *e);
void targets_discard(struct qf_job *job);

/* ------------------------------------------------------------ record.c */

/* One "started" flash-log line per target. */
int record_started(struct qf_job *job, struct qf_err *e);
/* One result line per target; errors go into @errs (one per target). */
void record_results(struct qf_job *job, struct qf_err *errs);

#endif
