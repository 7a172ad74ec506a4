// SPDX-License-Identifier: GPL-2.0
/*
 * image.c - what the tools that write an image (dedup_restore, ddgen)
 * share around the builder (struct dd_image): their common options, the
 * opening of the output, and the run with its summary line.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "pdata/log.h"

#define O_FILL	(DD_IMAGE_OPT - 1)	/* --fill */

/* The options every image writer takes, and what getopt returns for them. */
static const char *const image_opts[] = {
	"output=", "metadata-size=", "fill=", "quiet", "help", NULL,
};
static const int image_vals[] = { 'o', 's', O_FILL, 'q', 'h' };

static size_t nr_opts(const char *const *names)
{
	size_t n = 0;

	while (names[n])
		n++;
	return n;
}

/* names ("name" or "name=") as getopt_long() options, each val[i] or base + i. */
static void add_opts(struct option *o, const char *const *names,
		     const int *val, int base)
{
	size_t i;

	for (i = 0; names[i]; i++, o++) {
		size_t len = strcspn(names[i], "=");

		o->name = strndup(names[i], len);
		if (!o->name)
			pd_oom();
		o->has_arg = names[i][len] ? required_argument : no_argument;
		o->val = val ? val[i] : base + (int)i;
	}
}

/* The tool's options, then the image writers', in one table and string. */
static struct option *all_opts(const struct dd_image_tool *t,
			       char **shortopts)
{
	const char *own = t->shortopts ? t->shortopts : "";
	size_t n = nr_opts(t->longopts);
	struct option *all;

	all = pd_calloc(n + ARRAY_SIZE(image_opts), sizeof(*all));
	add_opts(all, t->longopts, NULL, DD_IMAGE_OPT);
	add_opts(all + n, image_opts, image_vals, 0);
	*shortopts = pd_malloc(strlen(own) + sizeof("o:s:qh"));
	strcpy(*shortopts, own);
	strcat(*shortopts, "o:s:qh");
	return all;
}

static void free_opts(struct option *all)
{
	struct option *o;

	for (o = all; o->name; o++)
		free((char *)o->name);
	free(all);
}

/* An image writer's option o: 0 taken, -1 a bad argument, 1 not one. */
static int image_option(struct dd_image *im, int o, const char *arg)
{
	uint64_t v;

	switch (o) {
	case 'o':
		im->output = arg;
		return 0;
	case 's':
		if (dd_parse_size(arg, &v) || v % DD_BLOCK_SIZE) {
			fprintf(stderr, "%s: --metadata-size wants a size, a multiple of 4096 bytes\n",
				pd_prog);
			return -1;
		}
		im->meta_blocks = v / DD_BLOCK_SIZE;
		return 0;
	case O_FILL:
		if (dd_parse_number("--fill", arg, &v) || v < 1 || v > 100) {
			fprintf(stderr, "%s: --fill wants 1..100\n", pd_prog);
			return -1;
		}
		im->fill = v;
		return 0;
	case 'q':
		im->quiet = true;
		return 0;
	default:
		return 1;
	}
}

/* The options: 0, or -1 reported (with the usage if it helps). */
static int parse_options(const struct dd_image_tool *t, struct dd_image *im,
			 void *ctx, int argc, char **argv)
{
	char *shortopts;
	struct option *opts = all_opts(t, &shortopts);
	int o, r = 0;

	im->fill = 100;
	while (!r && (o = getopt_long(argc, argv, shortopts, opts,
				      NULL)) != -1) {
		if (o == 'h') {
			t->help(stdout);
			exit(0);
		}
		if (o == '?') {
			t->help(stderr);
			r = -1;
			break;
		}
		r = image_option(im, o, optarg);
		if (r > 0)
			r = t->option(ctx, o);
	}
	free_opts(opts);
	free(shortopts);
	if (r)
		return r;
	if (optind != argc || !im->output) {
		t->help(stderr);
		return -1;
	}
	return t->check(ctx);
}

int dd_image_open(struct dd_image *im, uint64_t nr_blocks)
{
	if (!im->meta_blocks)
		im->meta_blocks = nr_blocks;
	if (dd_builder_open(&im->b, im->output, im->meta_blocks, im->fill))
		return -1;
	im->opened = true;
	return 0;
}

int dd_image_main(const struct dd_image_tool *t, struct dd_image *im,
		  void *ctx, int argc, char **argv)
{
	struct timespec t0, t1;
	int status;

	pd_prog = t->prog;
	if (parse_options(t, im, ctx, argc, argv))
		return 2;
	pd_log.progress = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	status = t->write(ctx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!status && !im->quiet)
		printf("%s: %llu blocks of %u bytes, %llu written (region A %llu used, bulk %llu used) in %.1f s\n",
		       im->output, (unsigned long long)im->b.nr_blocks,
		       DD_BLOCK_SIZE, (unsigned long long)im->b.w.blocks + 1,
		       (unsigned long long)im->b.a_next,
		       (unsigned long long)im->b.b_next,
		       (double)(t1.tv_sec - t0.tv_sec) +
		       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (im->opened)
		dd_builder_close(&im->b);
	return status;
}
