/* info.h - qflash -info and -list-parts (info.c). */
#ifndef QF_CLI_INFO_H
#define QF_CLI_INFO_H

#include "qflash.h"

void cli_info_json(struct qf_image *img);
void cli_info_text(struct qf_image *img);
void cli_parts(struct qf_image *img, const struct qf_ptable *pt, bool json);

#endif
