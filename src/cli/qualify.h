/* qualify.h - the qflash CLI's -qualify flag (qualify.c): drives checked
 * for fake capacity, lost writes and write protection, on their own or
 * before a flash. */
#ifndef QFLASH_CLI_QUALIFY_H
#define QFLASH_CLI_QUALIFY_H

#include <stdbool.h>

/* Qualify the @n @targets at once, one thread each, and print each
 * verdict in their order: JSON lines on stdout with @json, else text (on
 * stdout, or on stderr when @flash says a flash follows).  @sources are
 * the image's files for the safety policy (NULL without an image).
 * Returns the exit status: 0 when every target qualifies, 1 when one
 * does not, 130 or 143 when SIGINT or SIGTERM stopped it. */
int qualify_targets(const char *const *targets, int n,
		    const char *const *sources, bool json, bool flash);

#endif
