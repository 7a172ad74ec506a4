// SPDX-License-Identifier: GPL-2.0
/*
 * The commit kthread: freeze, apply, flush, commit, publish, release.
 */

/**
 * DOC: commit
 *
 * One commit, with the commit mutex held throughout:
 *
 *  1. freeze: the open generation becomes the frozen one and a fresh one
 *     opens (O(1) under cow->lock; writers go on at once);
 *  2. apply the frozen changes to the metadata's working transaction, in
 *     key order so that neighbouring entries share array blocks;
 *  3. flush the data device: data before the mappings that point at it;
 *  4. commit the metadata (superblock last); in the kthread, steps 2-4
 *     run at nice -20 when a FLUSH/FUA bio waits for the generation;
 *  5. complete the FLUSH/FUA bios that waited for this generation: it is
 *     durable, and lookups still find it frozen;
 *  6. tell the RAM index the new blocks' fingerprints and forget the dead
 *     ones', then publish the commit and retire the frozen generation in
 *     one critical section (lookups see one or the other, never neither);
 *  7. retire: wait for readers of the previous commit, let the caches
 *     forget what it freed; only then may the next transaction reuse it;
 *  8. hand the dead data blocks to the release worker, which discards
 *     them (discard passdown) and returns them to the allocator, off the
 *     FLUSH path and without holding up the next commit.
 *
 * Between commits the kthread rebuilds the RAM index after a crash, in
 * steps of INDEX_STEP_MS.  A saved index is loaded by a work item of its
 * own (load_work) from the published commit, beside commits: a commit
 * never waits for it, and the committer's changes to shards not loaded
 * yet are queued by the index.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/prio.h>
#include <linux/slab.h>

#include "dm-dedup-cow-commit.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-gen.h"
#include "dm-dedup-sort.h"

#define INDEX_STEP_MS		10
/* A rebuild short of memory tries again after 100 ms, backing off to 3.2 s. */
#define INDEX_RETRY_MS		100U
#define INDEX_RETRY_MAX_MS	3200U
#define INDEX_LOAD_BUDGET	16

/*
 * Room to sort n entries: n pointers, then n more for dedup_sort_by_key().
 * NULL when short of memory.
 */
static void *alloc_array(unsigned long n)
{
	unsigned int noio;
	void *a;

	if (dedup_fault_alloc())
		return NULL;
	noio = memalloc_noio_save();
	a = kvmalloc_array(2 * max(n, 1UL), sizeof(void *),
			   GFP_KERNEL | __GFP_NOWARN);
	memalloc_noio_restore(noio);
	return a;
}

/*
 * Apply
 */
static int apply_lbns(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct gen_lbn **a, *l;
	unsigned long i, n = 0;
	int r = 0;

	a = alloc_array(g->nr_lbn);
	if (!a) {
		/* Short of memory: unsorted, slower but as correct. */
		for (l = g->lbns; l && !r; l = l->next) {
			r = dedup_meta_set_lbn(cow->md, l->lbn, l->value);
			cond_resched();
		}
		return r;
	}
	for (l = g->lbns; l; l = l->next)
		a[n++] = l;
	dedup_sort_by_key((void **)a, (void **)a + n, n,
			  offsetof(struct gen_lbn, lbn));
	for (i = 0; i < n && !r; i++) {
		r = dedup_meta_set_lbn(cow->md, a[i]->lbn, a[i]->value);
		cond_resched();
	}
	kvfree(a);
	return r;
}

static int apply_pbn(struct dedup_cow *cow, struct gen_pbn *p)
{
	bool dead = p->flags & PBN_DEAD;
	u32 count;
	int r;

	if (p->flags & PBN_NEW) {
		if (dead)
			return p->delta ? -EILSEQ : 0;
		if (p->delta <= 0 || p->delta > U32_MAX)
			return -EILSEQ;
		return dedup_meta_new_block(cow->md, p->pbn, p->delta, p->fp);
	}
	if (!p->delta)
		return dead ? -EILSEQ : 0;
	r = dedup_meta_adjust_block(cow->md, p->pbn, p->delta, &count, p->fp);
	if (!r && !count != dead)
		r = -EILSEQ;
	return r;
}

static int apply_pbns(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct gen_pbn *p;
	unsigned long i, n = 0;
	int r = 0;

	cow->sorted = alloc_array(g->nr_pbn);
	cow->nr_sorted = 0;
	for (p = g->pbns; p; p = p->next) {
		if (cow->sorted) {
			cow->sorted[n++] = p;
			continue;
		}
		/* Short of memory: unsorted. */
		r = apply_pbn(cow, p);
		if (r)
			goto out;
		cond_resched();
	}
	if (!cow->sorted)
		return 0;
	cow->nr_sorted = n;
	dedup_sort_by_key((void **)cow->sorted, (void **)cow->sorted + n, n,
			  offsetof(struct gen_pbn, pbn));
	for (i = 0; i < n && !r; i++) {
		r = apply_pbn(cow, cow->sorted[i]);
		cond_resched();
	}
out:
	if (r == -EILSEQ)
		DMERR("reference count of block %llu disagrees with metadata",
		      cow->sorted ? cow->sorted[i - 1]->pbn : p->pbn);
	return r;
}

static void free_sorted(struct dedup_cow *cow)
{
	kvfree(cow->sorted);
	cow->sorted = NULL;
	cow->nr_sorted = 0;
}

typedef void (*pbn_fn)(struct dedup_cow *cow, struct gen_pbn *p,
		       void *context);

/* Calls fn for every block entry of g, sorted when that was possible. */
static void visit_pbns(struct dedup_cow *cow, struct dedup_gen *g,
			 pbn_fn fn, void *context)
{
	struct gen_pbn *p;
	unsigned long i;

	if (cow->sorted) {
		for (i = 0; i < cow->nr_sorted; i++)
			fn(cow, cow->sorted[i], context);
		return;
	}
	for (p = g->pbns; p; p = p->next)
		fn(cow, p, context);
}

/*
 * After the commit
 */
static void index_update(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	int r;

	if ((p->flags & (PBN_NEW | PBN_DEAD | PBN_INDEXED)) ==
	    (PBN_NEW | PBN_INDEXED)) {
		r = dedup_meta_index_add(cow->md, p->fp, p->pbn);
		/* Not indexed is only a missed chance to share it. */
		if (r && r != -ERANGE)
			DMERR_LIMIT("fingerprint index: block %llu not indexed: %d",
				    p->pbn, r);
	} else if ((p->flags & (PBN_NEW | PBN_DEAD)) == PBN_DEAD) {
		dedup_meta_index_remove(cow->md, p->fp, p->pbn);
	}
}

/* Before the publish that shows it free: its release is pending. */
static void announce_dead(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	if ((p->flags & (PBN_NEW | PBN_DEAD)) == PBN_DEAD)
		dedup_meta_data_block_dying(cow->md, p->pbn);
}

static void settle_new(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	if ((p->flags & (PBN_NEW | PBN_DEAD)) == PBN_NEW)
		dedup_meta_data_block_published(cow->md, p->pbn);
}

static void collect_dead(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	struct dedup_frees *f = c;

	if (!(p->flags & PBN_DEAD))
		return;
	f->blocks[f->nr].pbn = p->pbn;
	f->blocks[f->nr].was_committed = !(p->flags & PBN_NEW);
	f->nr++;
}

static void count_dead(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	unsigned long *n = c;

	if (p->flags & PBN_DEAD)
		(*n)++;
}

static void discard_run(struct dedup_cow *cow, u64 start, u64 len)
{
	sector_t per = cow->p.data_block_size >> SECTOR_SHIFT;
	int r;

	r = blkdev_issue_discard(cow->p.data_bdev, start * per, len * per,
				 GFP_NOIO);
	if (r && r != -EOPNOTSUPP)
		DMERR_LIMIT("discard passdown of blocks %llu+%llu failed: %d",
			    start, len, r);
}

/* Discards (with passdown) and releases blocks freed by durable commits. */
static void release(struct dedup_cow *cow, const struct dedup_free *blocks,
		    unsigned long nr)
{
	bool passdown = READ_ONCE(cow->p.f.discard_passdown) &&
		bdev_max_discard_sectors(cow->p.data_bdev);
	u64 run_start = 0, run_len = 0;
	unsigned long i;

	dedup_fault_delay(DEDUP_FAULT_RELEASE);
	for (i = 0; passdown && i < nr; i++) {
		u64 pbn = blocks[i].pbn;

		if (run_len && run_start + run_len == pbn) {
			run_len++;
			continue;
		}
		if (run_len)
			discard_run(cow, run_start, run_len);
		run_start = pbn;
		run_len = 1;
	}
	if (run_len)
		discard_run(cow, run_start, run_len);

	/* Only after the discards: a reused block must not be discarded. */
	for (i = 0; i < nr; i++)
		dedup_meta_release_data_block(cow->md, blocks[i].pbn,
					      blocks[i].was_committed);
	spin_lock(&cow->lock);
	cow->pending_frees -= nr;
	cow->release_seq++;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->release_wait);
	if (nr && cow->p.space_event)
		cow->p.space_event(cow->p.context, DEDUP_DATA_SPACE_FREED);
}

static void release_work(struct work_struct *w)
{
	struct dedup_cow *cow = container_of(w, struct dedup_cow, release_work);
	struct dedup_frees *f;

	for (;;) {
		spin_lock(&cow->frees_lock);
		f = list_first_entry_or_null(&cow->frees_list,
					     struct dedup_frees, list);
		if (f)
			list_del(&f->list);
		spin_unlock(&cow->frees_lock);
		if (!f)
			return;
		release(cow, f->blocks, f->nr);
		kvfree(f);
	}
}

static void release_one(struct dedup_cow *cow, struct gen_pbn *p, void *c)
{
	struct dedup_free one = {
		.pbn = p->pbn, .was_committed = !(p->flags & PBN_NEW),
	};

	if (p->flags & PBN_DEAD)
		release(cow, &one, 1);
}

/* Hands the frozen generation's dead blocks to the release worker. */
static void queue_frees(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct dedup_frees *f;
	unsigned long n = 0;
	unsigned int noio;

	visit_pbns(cow, g, count_dead, &n);
	if (!n)
		return;
	noio = memalloc_noio_save();
	f = dedup_fault_alloc() ? NULL :
		kvmalloc(struct_size(f, blocks, n), GFP_KERNEL | __GFP_NOWARN);
	memalloc_noio_restore(noio);
	if (!f) {
		/* Short of memory: here, one at a time, after earlier ones. */
		flush_workqueue(cow->release_wq);
		visit_pbns(cow, g, release_one, NULL);
		return;
	}
	f->nr = 0;
	visit_pbns(cow, g, collect_dead, f);
	spin_lock(&cow->frees_lock);
	list_add_tail(&f->list, &cow->frees_list);
	spin_unlock(&cow->frees_lock);
	queue_work(cow->release_wq, &cow->release_work);
}

/*
 * A commit failed (data: the data device did, the metadata is intact).
 * The owner's mode machine, told here, makes the pipeline read-only
 * (dedup_cow_set_read_only()) before this returns.
 */
static void commit_failed(struct dedup_cow *cow, const char *op, int r,
			  bool data)
{
	spin_lock(&cow->lock);
	cow->commit_in_flight = false;
	spin_unlock(&cow->lock);
	if (data)
		cow->p.data_failed(cow->p.context, op, r);
	else
		cow->p.metadata_failed(cow->p.context, op, r);
}

/*
 * Apply, flush, commit: 0 when the commit is durable.  *data tells a
 * failed flush of the data device from a metadata failure.
 */
static int write_generation(struct dedup_cow *cow, struct dedup_gen *f,
			    const char **op, bool *data)
{
	int r;

	*op = "apply";
	*data = false;
	r = apply_lbns(cow, f);
	if (!r)
		r = apply_pbns(cow, f);
	if (!r) {
		dedup_fault_delay(DEDUP_FAULT_APPLY);
		/* Data before the mappings that point at it. */
		*op = "flush data device";
		r = blkdev_issue_flush(cow->p.data_bdev);
		*data = r;
	}
	if (!r) {
		*op = "commit";
		r = dedup_meta_commit(cow->md, f->hits, f->zero_writes);
	}
	return r;
}

static int commit_alone(struct dedup_cow *cow);

/**
 * dedup_cow_do_commit - one commit (noinline: bench/guest-lib.sh traces it)
 * @cow: the pipeline
 * @from_committer: run by the commit kthread, which may raise its priority
 *	for a FLUSH; not by a caller of dedup_cow_commit() or the destructor
 */
static noinline int dedup_cow_do_commit(struct dedup_cow *cow,
					bool from_committer)
{
	struct dedup_gen *f;
	struct bio_list done;
	const char *op;
	ktime_t start;
	u64 ms, blocks;
	bool data, boost;
	int r, nice;

	mutex_lock(&cow->commit_mutex);
	spin_lock(&cow->lock);
	if (cow->read_only) {
		spin_unlock(&cow->lock);
		mutex_unlock(&cow->commit_mutex);
		return -EIO;
	}
	f = cow->open;
	cow->commit_requested = false;
	cow->last_commit = jiffies;
	if (dedup_gen_empty(f) && bio_list_empty(&f->waiters)) {
		/* Only the saved index to drop: writers wait for its room. */
		r = cow->drop_requested ? 1 : 0;
		cow->drop_requested = false;
		spin_unlock(&cow->lock);
		if (r)
			r = commit_alone(cow);
		mutex_unlock(&cow->commit_mutex);
		return r;
	}
	cow->drop_requested = false;
	/* Freeze: O(1), no I/O, no allocation. */
	cow->open = (f == &cow->gens[0]) ? &cow->gens[1] : &cow->gens[0];
	cow->open->seq = f->seq + 1;
	cow->frozen = f;
	cow->commit_in_flight = true;
	blocks = f->nr_lbn;
	boost = from_committer && !bio_list_empty(&f->waiters);
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);

	/*
	 * A FLUSH or FUA bio waits for this generation: until it is durable
	 * the committer goes before the writers, which wait for nothing
	 * here.  The rest of the commit, which no bio waits for, runs at the
	 * thread's own priority.
	 */
	nice = task_nice(current);
	if (boost)
		set_user_nice(current, MIN_NICE);
	start = ktime_get();
	r = write_generation(cow, f, &op, &data);
	if (boost)
		set_user_nice(current, nice);
	if (r) {
		free_sorted(cow);
		commit_failed(cow, op, r, data);
		mutex_unlock(&cow->commit_mutex);
		return r;
	}

	/*
	 * Durable: the FLUSH/FUA bios that waited for it go now, before the
	 * index update and the publication (lookups still find f frozen).
	 */
	bio_list_init(&done);
	spin_lock(&cow->lock);
	cow->durable_seq = f->seq;
	bio_list_merge(&done, &f->waiters);
	bio_list_init(&f->waiters);
	spin_unlock(&cow->lock);
	dedup_cow_end_bios(&done, BLK_STS_OK);

	/* The index learns the commit, then the commit is published. */
	visit_pbns(cow, f, index_update, NULL);
	visit_pbns(cow, f, announce_dead, NULL);
	dedup_fault_delay(DEDUP_FAULT_PUBLISH);
	ms = ktime_ms_delta(ktime_get(), start);
	spin_lock(&cow->lock);
	dedup_meta_publish(cow->md);
	dedup_cow_take_space(cow);
	cow->publish_seq++;
	cow->frozen = NULL;
	WARN_ON_ONCE(cow->mem_lbns < f->nr_lbn);
	/* Released after the publish: see mem_has_no_lbns(). */
	smp_store_release(&cow->mem_lbns, cow->mem_lbns - f->nr_lbn);
	cow->commit_in_flight = false;
	cow->stats.commits++;
	cow->stats.last_commit_ms = ms;
	cow->stats.last_commit_blocks = blocks;
	if (ms > cow->stats.longest_commit_ms)
		cow->stats.longest_commit_ms = ms;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);
	dedup_cow_space_event(cow);

	/* Readers of the previous commit finish before anything is reused. */
	dedup_meta_retire(cow->md);
	visit_pbns(cow, f, settle_new, NULL);
	queue_frees(cow, f);
	spin_lock(&cow->lock);
	cow->release_seq++;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->release_wait);

	free_sorted(cow);
	dedup_gen_clear(cow, f);
	/* A reload changed max_open_mb: this generation follows now. */
	if (f->bits != dedup_gen_bits(cow))
		dedup_gen_init(f, dedup_gen_bits(cow), f->seq);
	wake_up_all(&cow->durable_wait);
	mutex_unlock(&cow->commit_mutex);
	return 0;
}

static int commit_alone(struct dedup_cow *cow)
{
	int r;

	lockdep_assert_held(&cow->commit_mutex);
	spin_lock(&cow->lock);
	if (cow->read_only) {
		spin_unlock(&cow->lock);
		return -EIO;
	}
	/* A writer that finds no room meanwhile waits for it, not ENOSPC. */
	cow->commit_in_flight = true;
	spin_unlock(&cow->lock);
	r = dedup_meta_commit(cow->md, 0, 0);
	if (r) {
		commit_failed(cow, "commit", r, false);
		return r;
	}
	dedup_fault_delay(DEDUP_FAULT_PUBLISH);
	spin_lock(&cow->lock);
	dedup_meta_publish(cow->md);
	/* Writes waiting for metadata room see what it freed or added. */
	dedup_cow_take_space(cow);
	cow->publish_seq++;
	cow->commit_in_flight = false;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);
	dedup_meta_retire(cow->md);
	dedup_cow_space_event(cow);
	return 0;
}

int dedup_cow_commit(struct dedup_cow *cow)
{
	return dedup_cow_do_commit(cow, false);
}

/*
 * The kthread
 */
static bool commit_due(struct dedup_cow *cow)
{
	bool due;

	spin_lock(&cow->lock);
	due = !cow->read_only &&
		(cow->commit_requested || cow->drop_requested ||
		 cow->open->bytes >= dedup_gen_cap(cow) ||
		 (!dedup_gen_empty(cow->open) && !dedup_cow_meta_room(cow)) ||
		 (!dedup_gen_empty(cow->open) &&
		  time_after_eq(jiffies, cow->last_commit +
				msecs_to_jiffies(cow->p.f.commit_period_ms))));
	spin_unlock(&cow->lock);
	return due;
}

static bool period_changed(struct dedup_cow *cow)
{
	bool changed;

	spin_lock(&cow->lock);
	changed = cow->period_changed;
	cow->period_changed = false;
	spin_unlock(&cow->lock);
	return changed;
}

/*
 * A step of the index's rebuild, excluded from commits: 1 while there is
 * more, 0 when there is none, -ENOMEM to try again after INDEX_RETRY_MS.
 */
static int index_work(struct dedup_cow *cow)
{
	int r = 0;

	mutex_lock(&cow->commit_mutex);
	if (!READ_ONCE(cow->read_only))
		r = dedup_meta_index_rebuild(cow->md, INDEX_STEP_MS);
	mutex_unlock(&cow->commit_mutex);
	return r;
}

static int committer(void *context)
{
	struct dedup_cow *cow = context;
	int more_index_work = 1;	/* index_work()'s last result */
	unsigned int retry_ms = INDEX_RETRY_MS;

	while (!kthread_should_stop()) {
		unsigned int period = READ_ONCE(cow->p.f.commit_period_ms);
		long timeout = more_index_work > 0 ? 0 :
			msecs_to_jiffies(more_index_work ?
					 min(period, retry_ms) : period);

		/* Sleeps at most one period; a new period cuts it short. */
		wait_event_interruptible_timeout(cow->commit_wait,
						 kthread_should_stop() ||
						 commit_due(cow) ||
						 period_changed(cow) ||
						 READ_ONCE(cow->index_kick),
						 timeout);
		if (kthread_should_stop())
			break;
		if (READ_ONCE(cow->index_kick)) {
			WRITE_ONCE(cow->index_kick, false);
			more_index_work = 1;
		}
		if (commit_due(cow)) {
			dedup_cow_do_commit(cow, true);
		} else if (more_index_work) {
			bool again = more_index_work < 0;

			more_index_work = index_work(cow);
			if (more_index_work >= 0)
				retry_ms = INDEX_RETRY_MS;
			else if (again)
				retry_ms = min(2 * retry_ms, INDEX_RETRY_MAX_MS);
		}
		if (more_index_work > 0)
			cond_resched();
	}
	return 0;
}

/*
 * Loads a saved index beside commits; what it lacked (an unusable shard)
 * is then rebuilt by the committer.
 */
static void index_load_work(struct work_struct *w)
{
	struct dedup_cow *cow = container_of(w, struct dedup_cow, load_work);

	while (!READ_ONCE(cow->stop_loading) && !READ_ONCE(cow->read_only) &&
	       dedup_meta_index_load(cow->md, INDEX_LOAD_BUDGET))
		cond_resched();
	WRITE_ONCE(cow->index_kick, true);
	wake_up(&cow->commit_wait);
}

static int start_committer(struct dedup_cow *cow)
{
	cow->committer = kthread_run(committer, cow, "dedup_commit");
	if (IS_ERR(cow->committer)) {
		int r = PTR_ERR(cow->committer);

		cow->committer = NULL;
		return r;
	}
	INIT_WORK(&cow->load_work, index_load_work);
	queue_work(system_long_wq, &cow->load_work);
	return 0;
}

static void stop_committer(struct dedup_cow *cow)
{
	/* What is left of a saved index is loaded by the close. */
	WRITE_ONCE(cow->stop_loading, true);
	cancel_work_sync(&cow->load_work);
	kthread_stop(cow->committer);
}

/*
 * Creation, teardown, settings, growth
 */
struct dedup_cow *dedup_cow_create(const struct dedup_cow_params *p)
{
	struct dedup_cow *cow;
	int r;

	cow = kzalloc(sizeof(*cow), GFP_KERNEL);
	if (!cow)
		return ERR_PTR(-ENOMEM);
	cow->p = *p;
	cow->md = p->md;
	cow->claim_bits = DEDUP_CLAIM_BITS;
	cow->publish_seq = dedup_meta_publish_seq(cow->md);

	spin_lock_init(&cow->lock);
	spin_lock_init(&cow->frees_lock);
	INIT_LIST_HEAD(&cow->frees_list);
	INIT_WORK(&cow->release_work, release_work);
	mutex_init(&cow->commit_mutex);
	mutex_init(&cow->spares_mutex);
	init_waitqueue_head(&cow->claim_wait);
	init_waitqueue_head(&cow->room_wait);
	init_waitqueue_head(&cow->commit_wait);
	init_waitqueue_head(&cow->durable_wait);
	init_waitqueue_head(&cow->release_wait);
	cow->last_commit = jiffies;

	r = -ENOMEM;
	cow->lbn_pool = dedup_gen_pool_create(false);
	cow->pbn_pool = dedup_gen_pool_create(true);
	cow->release_wq = alloc_ordered_workqueue("dedup_release",
						  WQ_MEM_RECLAIM);
	if (!cow->lbn_pool || !cow->pbn_pool || !cow->release_wq ||
	    dedup_gen_init(&cow->gens[0], dedup_gen_bits(cow), 1) ||
	    dedup_gen_init(&cow->gens[1], dedup_gen_bits(cow), 0))
		goto bad;
	cow->open = &cow->gens[0];
	cow->claims = kvcalloc(1UL << cow->claim_bits, sizeof(*cow->claims),
			       GFP_KERNEL);
	if (!cow->claims)
		goto bad;

	dedup_gen_init_space(cow);
	r = start_committer(cow);
	if (r)
		goto bad;
	return cow;

bad:
	kvfree(cow->claims);
	dedup_gen_free(cow, &cow->gens[1]);
	dedup_gen_free(cow, &cow->gens[0]);
	if (cow->release_wq)
		destroy_workqueue(cow->release_wq);
	mempool_destroy(cow->pbn_pool);
	mempool_destroy(cow->lbn_pool);
	kfree(cow);
	return ERR_PTR(r);
}

void dedup_cow_destroy(struct dedup_cow *cow)
{
	stop_committer(cow);
	dedup_cow_do_commit(cow, false);
	flush_workqueue(cow->release_wq);
	destroy_workqueue(cow->release_wq);
	kvfree(cow->claims);
	dedup_gen_free(cow, &cow->gens[1]);
	dedup_gen_free(cow, &cow->gens[0]);
	mempool_destroy(cow->pbn_pool);
	mempool_destroy(cow->lbn_pool);
	kfree(cow);
}

void dedup_cow_set_features(struct dedup_cow *cow,
			    const struct dedup_features *f)
{
	spin_lock(&cow->lock);
	/* Each generation's tables follow max_open_mb at its next commit. */
	cow->p.f = *f;
	cow->period_changed = true;
	spin_unlock(&cow->lock);
	wake_up(&cow->commit_wait);
	wake_up_all(&cow->room_wait);
}


int dedup_cow_grow_data(struct dedup_cow *cow, u64 data_nr_blocks)
{
	int r;

	mutex_lock(&cow->commit_mutex);
	r = dedup_meta_resize_data(cow->md, data_nr_blocks);
	mutex_unlock(&cow->commit_mutex);
	if (r)
		return r;
	spin_lock(&cow->lock);
	cow->release_seq++;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->release_wait);
	return 0;
}

int dedup_cow_grow_metadata(struct dedup_cow *cow, u64 nr_blocks)
{
	int r;

	mutex_lock(&cow->commit_mutex);
	r = dedup_meta_resize_metadata(cow->md, nr_blocks);
	/*
	 * The space maps count the new blocks free only from the next
	 * commit on; commit the growth alone now (nothing else is applied
	 * outside a commit), so that writes waiting for room can go on.
	 */
	if (!r)
		r = commit_alone(cow);
	mutex_unlock(&cow->commit_mutex);
	return r;
}
