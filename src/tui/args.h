/* args.h - qflash-tui's command line (args.c). */
#ifndef QF_TUI_ARGS_H
#define QF_TUI_ARGS_H

#include "ui.h"

struct tui_args {
	enum ui_color_mode color;
	bool ascii;
	bool demo;
	char *image;             /* IMAGE or URL, or NULL */
};

/* Take the options into @a and the app's settings (targets, verify, log,
 * catalog): -1 to go on, or the exit status (--help, --version, a usage
 * error, said on stderr). */
int tui_parse_args(int argc, char **argv, struct tui_args *a);
/* The demo image and QF_DEMO_TARGET_COUNT target files, made in a new
 * temporary directory (*@dir, kept), the targets added to the app's:
 * the image in *@image, or -1 said on stderr. */
int tui_make_demo(char **image, char **dir);

#endif
