/* args.c - qflash-tui's command line: its options into the app's settings
 * and a struct tui_args, the usage text, and the demo (an image and two
 * target files made in a new temporary directory). */
#include "tui.h"
#include "ui.h"
#include "args.h"
#include "lib/demo/demo.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define xstrdup tui_xstrdup
#define xcalloc tui_xcalloc

static void usage(FILE *f)
{
	fprintf(f, _("Usage: %s [options] [IMAGE|URL]\n"), "qflash-tui");
	fputs(_("Flash a disk image (qcow2, raw, or raw compressed) to drives and files,\n"
		"interactively.\n\n"), f);
	fputs(_("Options:\n"
		"  --target PATH       offer this file or device first (repeatable);\n"
		"                      a missing file is created\n"
		"  --verify            read the targets back and compare (default)\n"
		"  --no-verify         do not verify\n"
		"  --log FILE          flash log (JSON lines) to append to\n"
		"  --catalog URL|FILE  choose the image from this catalog of a site's\n"
		"                      images (Raspberry Pi Imager's os_list JSON)\n"
		"  --demo              make a demo image and two target files in a\n"
		"                      new temporary directory and open them\n"
		"  --color=WHEN        auto, always or never\n"
		"  --ascii             plain ASCII instead of line drawing\n"
		"  --version           print the version and exit\n"
		"  -h, --help          print this help and exit\n\n"), f);
	fputs(_("Exit status: 0 success (or quit), 1 a flash failed, 2 usage error,\n"
		"130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.\n"), f);
}

int tui_make_demo(char **image, char **dir)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];
	struct qf_err e = { 0 };
	char *tmpl;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&tmpl, "%s/qflash-demo-XXXXXX", tmp) < 0)
		return -1;
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "qflash-tui: %s: %s\n", tmpl, strerror(errno));
		free(tmpl);
		return -1;
	}
	*dir = tmpl;
	if (qf_demo_create(tmpl, path, sizeof(path), &e) < 0) {
		fprintf(stderr, "qflash-tui: %s\n", e.msg);
		return -1;
	}
	*image = xstrdup(path);
	for (int i = 1; i <= QF_DEMO_TARGET_COUNT; i++) {
		char *t;
		if (asprintf(&t, QF_DEMO_TARGET_FMT, tmpl, i) < 0)
			return -1;
		app.cmd_targets[app.ncmd_targets++] = t;
	}
	return 0;
}

int tui_parse_args(int argc, char **argv, struct tui_args *a)
{
	enum {
		OPT_TARGET = 256, OPT_VERIFY, OPT_NO_VERIFY, OPT_LOG, OPT_DEMO,
		OPT_COLOR, OPT_ASCII, OPT_VERSION, OPT_CATALOG,
	};
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "demo", no_argument, NULL, OPT_DEMO },
		{ "catalog", required_argument, NULL, OPT_CATALOG },
		{ "color", optional_argument, NULL, OPT_COLOR },
		{ "colour", optional_argument, NULL, OPT_COLOR },
		{ "ascii", no_argument, NULL, OPT_ASCII },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	app.verify = true;
	app.cmd_targets = xcalloc(argc + QF_DEMO_TARGET_COUNT, sizeof(char *));

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TARGET:
			app.cmd_targets[app.ncmd_targets++] = xstrdup(optarg);
			break;
		case OPT_VERIFY:
			app.verify = true;
			break;
		case OPT_NO_VERIFY:
			app.verify = false;
			break;
		case OPT_LOG:
			free(app.log_path);
			app.log_path = xstrdup(optarg);
			break;
		case OPT_DEMO:
			a->demo = true;
			break;
		case OPT_CATALOG:
			free(app.catalog_name);
			app.catalog_name = xstrdup(optarg);
			break;
		case OPT_COLOR:
			if (!optarg || strcmp(optarg, "always") == 0)
				a->color = UI_COLOR_ALWAYS;
			else if (strcmp(optarg, "auto") == 0)
				a->color = UI_COLOR_AUTO;
			else if (strcmp(optarg, "never") == 0)
				a->color = UI_COLOR_NEVER;
			else {
				fprintf(stderr, _("qflash-tui: --color must be auto, always or never\n"));
				return 2;
			}
			break;
		case OPT_ASCII:
			a->ascii = true;
			break;
		case OPT_VERSION:
			printf("qflash-tui (qflash) %s\n", qf_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, _("qflash-tui: unknown option -%c\n"), optopt);
			else
				fprintf(stderr, _("qflash-tui: unknown option or missing value: %s\n"),
					argv[optind - 1]);
			fprintf(stderr, _("Try 'qflash-tui --help'.\n"));
			return 2;
		}
	}
	if (argc - optind > 1 || (a->demo && argc - optind > 0)) {
		fprintf(stderr, a->demo ? _("qflash-tui: --demo takes no IMAGE\n")
				     : _("qflash-tui: only one IMAGE may be given\n"));
		fprintf(stderr, _("Try 'qflash-tui --help'.\n"));
		return 2;
	}
	if (argc - optind == 1)
		a->image = xstrdup(argv[optind]);
	return -1;
}
