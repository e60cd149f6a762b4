/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `tailor-cli data`: import, check, split, versions, export and leak-check of dataset versions. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* argv[0] is "data", argv[1] the data subcommand; returns an exit code. */
int tailor_cli_data (int argc, char **argv);

G_END_DECLS
