// SPDX-License-Identifier: GPL-2.0
/*
 * ddgen - a development tool: writes a valid dm-dedup metadata image of a
 * described shape, and optionally the data device it describes, for tests
 * and benchmarks (tests/host, tests/46-index-load-no-stall.sh, bench/,
 * scripts/check-capacity.sh).  Built with the tools and put in the test
 * VM, never installed.
 *
 * PBNs 0..unique-1 are in use, each block with its own generated content
 * (dd_fill_content()); the LBNs map to them in turn, in order or spread
 * over an LBN space and shuffled (--random-lbns), with the zero LBNs
 * evenly among them.  The image is written as dedup_restore writes one
 * (dedup/feed.c, dedup/build.c), so the same description always gives the
 * same image; the size a description needs is estimated unless -s says.
 *
 * Exit status: 0 written, 1 the device is too small, 2 usage or I/O
 * error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

struct gen {
	struct dd_image im;
	uint64_t data_blocks;
	uint32_t block_size;
	enum dd_hash_alg alg;
	uint64_t unique;
	uint64_t logical;
	uint64_t zero;
	bool random;
	uint64_t lbn_space;
	uint64_t seed;
	const char *data_path;
	const char *uuid;
	bool have_logical, have_data;	/* given */
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + !!(a % b);
}

/* Blocks an image needs for the given array entry counts, plus room. */
static uint64_t estimate_blocks(uint64_t lbn_blocks, uint64_t pbns,
				uint32_t fp_size)
{
	uint64_t arrays = lbn_blocks +
		div_up(pbns, DEDUP_REFCOUNTS_PER_BLOCK) +
		div_up(pbns, dedup_array_entries_per_block(fp_size)) +
		div_up(div_up(pbns, DEDUP_CHUNK_BLOCKS),
		       DEDUP_REFCOUNTS_PER_BLOCK);
	uint64_t nodes = div_up(arrays, 200) + 64;
	uint64_t need = 1 + arrays + nodes;

	need += div_up(need, PD_SM_ENTRIES_PER_BITMAP) + 8;
	/* a quarter more and 16 MiB, for the module to work in */
	need += need / 4 + 4096;
	return need;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* j -> (a * j + c) mod n, a bijection of [0, n) when gcd(a, n) = 1 */
struct perm {
	uint64_t n;
	uint64_t a;
	uint64_t c;
};

static void perm_init(struct perm *p, uint64_t n, bool random, uint64_t seed)
{
	p->n = n;
	p->a = 1;
	p->c = 0;
	if (!random || n < 2)
		return;
	p->a = (uint64_t)(n * 0.6180339887) | 1;
	while (gcd(p->a, n) != 1)
		p->a++;
	p->a %= n;
	if (!p->a)
		p->a = 1;
	p->c = splitmix(&seed) % n;
}

static uint64_t perm_at(const struct perm *p, uint64_t j)
{
	return (uint64_t)(((__uint128_t)p->a * j + p->c) % p->n);
}

static int gen_lbns(struct gen *g, struct dd_feed *fd)
{
	uint64_t total = g->logical + g->zero, k, j = 0, lbn = 0;
	uint64_t space = g->random ? g->lbn_space : total;
	uint64_t seed = g->seed ^ 0x1b873593ULL;
	struct perm pm;
	uint64_t v;

	perm_init(&pm, g->logical, g->random, g->seed);
	for (k = 0; k < total; k++, lbn++) {
		/* selection sampling: k of total chosen from space in order */
		if (g->random)
			while ((double)(splitmix(&seed) >> 11) / 9007199254740992.0 *
			       (double)(space - lbn) >= (double)(total - k))
				lbn++;
		if (g->zero && (k + 1) * g->zero / total > k * g->zero / total) {
			v = DEDUP_LBN_ZERO;
		} else {
			v = perm_at(&pm, j) % g->unique + DEDUP_LBN_PBN_BASE;
			j++;
		}
		if (dd_feed_lbn(fd, lbn, v))
			return -1;
	}
	return dd_feed_lbns_done(fd);
}

static int write_data(struct gen *g)
{
	struct pd_dev d;
	uint64_t p, batch = 256, i;
	uint8_t *buf;
	int r = 0;

	if (pd_dev_create(&d, g->data_path, g->data_blocks * g->block_size))
		return -1;
	buf = pd_malloc(batch * g->block_size);
	for (p = 0; p < g->unique && !r; p += batch) {
		uint64_t n = g->unique - p < batch ? g->unique - p : batch;

		for (i = 0; i < n; i++)
			dd_fill_content(buf + i * g->block_size, g->block_size,
					p + i);
		r = pd_dev_write(&d, p * g->block_size, buf,
				 n * g->block_size);
	}
	free(buf);
	if (!r)
		r = pd_dev_sync(&d);
	pd_dev_close(&d);
	return r;
}

static int gen_pbns(struct gen *g, struct dd_feed *fd)
{
	uint32_t bs = g->block_size;
	struct dd_hash_prefix pf;
	uint8_t *content = pd_malloc(bs), fp[DEDUP_MAX_FP_SIZE];
	uint64_t p, per = g->logical / (g->unique ? g->unique : 1);
	uint64_t extra = g->logical % (g->unique ? g->unique : 1);
	int r = 0;

	dd_fill_content(content, bs, 0);
	dd_hash_prefix_init(&pf, g->alg, content, bs - 128);
	for (p = 0; p < g->unique && !r; p++) {
		dd_fill_tail(content + bs - 128, p);
		dd_hash_with_prefix(&pf, content + bs - 128, 128, fp);
		r = dd_feed_pbn(fd, p, per + (p < extra), fp);
		if (!(p & 0xffff))
			pd_progress("fingerprints", p, g->unique);
	}
	pd_progress_done();
	free(content);
	return r ? r : dd_feed_pbns_done(fd);
}

static void random_uuid(uint8_t *u, uint64_t seed)
{
	uint64_t a = splitmix(&seed), b = splitmix(&seed);

	pd_put_le64(u, a);
	pd_put_le64(u + 8, b);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
}

static int generate(void *ctx)
{
	struct gen *g = ctx;
	struct dedup_sb *sb;
	uint64_t lbn_blocks, est;
	uint32_t fps = dd_hash_size(g->alg);
	struct dd_feed *fd;
	int r;

	if (g->unique > g->data_blocks) {
		fprintf(stderr, "ddgen: --unique %llu exceeds --data-blocks %llu\n",
			(unsigned long long)g->unique,
			(unsigned long long)g->data_blocks);
		return 2;
	}
	if (g->unique ? g->logical < g->unique : g->logical) {
		fprintf(stderr, "ddgen: --logical must be at least --unique (every unique block is mapped), and 0 without unique blocks\n");
		return 2;
	}
	if (!g->random)
		g->lbn_space = g->logical + g->zero;
	if (!g->lbn_space)
		g->lbn_space = 4 * (g->logical + g->zero);
	if (g->lbn_space < g->logical + g->zero) {
		fprintf(stderr, "ddgen: --lbn-space is smaller than --logical + --zero\n");
		return 2;
	}
	lbn_blocks = div_up(g->lbn_space, dedup_array_entries_per_block(8));
	if (lbn_blocks > g->logical + g->zero)
		lbn_blocks = g->logical + g->zero;
	est = estimate_blocks(lbn_blocks, g->unique, fps);
	if (dd_image_open(&g->im, est))
		return 2;
	sb = &g->im.b.sb;
	if (g->uuid)
		dd_uuid_parse(sb->uuid, g->uuid);
	else
		random_uuid(sb->uuid, g->seed);
	sb->data_block_size = g->block_size;
	sb->fp_size = fps;
	strncpy(sb->hash_name, dd_hash_name(g->alg), sizeof(sb->hash_name) - 1);
	sb->data_nr_blocks = g->data_blocks;
	sb->transaction_id = 1;
	sb->commits = 1;
	sb->alloc_cursor = g->unique < g->data_blocks ? g->unique : 0;
	sb->nr_mapped = g->logical;
	sb->nr_zero = g->zero;
	sb->nr_unique = g->unique;
	sb->dedup_hits = g->logical - g->unique;
	sb->zero_writes = g->zero;

	fd = pd_malloc(sizeof(*fd));
	dd_feed_init(fd, &g->im.b, fps);
	r = gen_lbns(g, fd);
	if (!r)
		r = gen_pbns(g, fd);
	if (!r)
		r = dd_feed_finish(fd);
	free(fd);
	if (!r)
		r = dd_builder_finish(&g->im.b);
	if (r)
		return g->im.b.full ? 1 : 2;
	if (g->data_path && write_data(g))
		return 2;
	return 0;
}

/* ------------------------------------------------------------------ */

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: ddgen -o <metadata device or image> [options]\n"
		"  -o, --output <path>         the metadata device or image file to write\n"
		"      --data-blocks <N>       data device size in data blocks (default: --unique)\n"
		"      --block-size <B>        data block size, 4096..65536 (4096)\n"
		"      --hash <name>           sha256 | blake2b-256 | xxhash64 (sha256)\n"
		"      --unique <N>            distinct data blocks in use (PBNs 0..N-1)\n"
		"      --logical <N>           LBNs mapped to them (default: --unique)\n"
		"      --zero <N>              LBNs mapped to the zero block (0)\n"
		"      --random-lbns           LBNs spread over --lbn-space, PBNs shuffled\n"
		"      --lbn-space <N>         logical blocks to spread over (4 x LBNs)\n"
		"      --seed <N>              for --random-lbns and the uuid (1)\n"
		"      --data <file>           also write the data device (sparse)\n"
		"      --uuid <uuid>           the superblock's uuid (default: from --seed)\n"
		"  -s, --metadata-size <size>  device size, a multiple of 4096 bytes: a number\n"
		"                              with b, s (512), K, M, G, T or P (powers of 1024);\n"
		"                              default: what the description needs\n"
		"      --fill <percent>        btree node fill (100)\n"
		"  -q, --quiet                 no summary line\n"
		"  -h, --help                  this text\n"
		"Exit status: 0 written, 1 device too small, 2 usage or I/O error.\n");
}

/* ddgen's own long options */
enum {
	O_DATA_BLOCKS = DD_IMAGE_OPT, O_UNIQUE, O_LOGICAL, O_ZERO, O_SPACE,
	O_SEED, O_BS, O_HASH, O_RANDOM, O_DATA, O_UUID,
};

/* Where the number of option o goes, or NULL if it takes no number. */
static uint64_t *number_of(struct gen *g, int o)
{
	uint64_t *const nums[] = {
		[O_DATA_BLOCKS - DD_IMAGE_OPT] = &g->data_blocks,
		[O_UNIQUE - DD_IMAGE_OPT] = &g->unique,
		[O_LOGICAL - DD_IMAGE_OPT] = &g->logical,
		[O_ZERO - DD_IMAGE_OPT] = &g->zero,
		[O_SPACE - DD_IMAGE_OPT] = &g->lbn_space,
		[O_SEED - DD_IMAGE_OPT] = &g->seed,
	};

	if (o < DD_IMAGE_OPT || o - DD_IMAGE_OPT >= (int)ARRAY_SIZE(nums))
		return NULL;
	return nums[o - DD_IMAGE_OPT];
}

/* In the order of the enum. */
static const char *const opts[] = {
	"data-blocks=", "unique=", "logical=", "zero=", "lbn-space=", "seed=",
	"block-size=", "hash=", "random-lbns", "data=", "uuid=", NULL,
};

static int gen_option(void *ctx, int o)
{
	struct gen *g = ctx;
	char name[32];
	uint64_t v;
	uint8_t u[16];

	snprintf(name, sizeof(name), "--%.*s",
		 (int)strcspn(opts[o - DD_IMAGE_OPT], "="),
		 opts[o - DD_IMAGE_OPT]);
	if (number_of(g, o)) {
		g->have_logical |= o == O_LOGICAL;
		g->have_data |= o == O_DATA_BLOCKS;
		return dd_parse_number(name, optarg, number_of(g, o));
	}
	switch (o) {
	case O_BS:
		if (dd_parse_number(name, optarg, &v))
			return -1;
		if (!dedup_data_block_size_ok(v)) {
			fprintf(stderr, "ddgen: --block-size must be a power of two in %u..%u\n",
				DEDUP_MIN_DATA_BLOCK_SIZE,
				DEDUP_MAX_DATA_BLOCK_SIZE);
			return -1;
		}
		g->block_size = v;
		return 0;
	case O_HASH:
		g->alg = dd_hash_lookup(optarg);
		if (g->alg != DD_HASH_NONE)
			return 0;
		fprintf(stderr, "ddgen: unknown hash %s\n", optarg);
		return -1;
	case O_UUID:
		if (dd_uuid_parse(u, optarg)) {
			fprintf(stderr, "ddgen: bad --uuid\n");
			return -1;
		}
		g->uuid = optarg;
		return 0;
	case O_RANDOM:
		g->random = true;
		return 0;
	default:
		g->data_path = optarg;	/* O_DATA */
		return 0;
	}
}

/* The defaults that depend on other options. */
static int gen_check(void *ctx)
{
	struct gen *g = ctx;

	if (!g->have_logical)
		g->logical = g->unique;
	if (!g->have_data)
		g->data_blocks = g->unique ? g->unique : 1;
	if (!g->data_blocks) {
		fprintf(stderr, "ddgen: --data-blocks must not be 0\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct dd_image_tool tool = {
		.prog = "ddgen", .longopts = opts, .help = print_help,
		.option = gen_option, .check = gen_check, .write = generate,
	};
	struct gen g = {
		.block_size = 4096,
		.alg = DD_HASH_SHA256,
		.seed = 1,
	};

	return dd_image_main(&tool, &g.im, &g, argc, argv);
}
