/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli train, what logits needs to apply a LoRA adapter, and the `--profile` table. */
#pragma once

#include <stdio.h>

#include "tailor-model.h"

G_BEGIN_DECLS

int tailor_cli_train (int argc, char **argv);

/* For `logits --adapter A`: logits (T, n_vocab) of ids, or only the last position's
 * n_vocab when !all, with the adapter file applied (CPU reference). */
gboolean tailor_cli_adapter_logits (TailorModel *model, const char *adapter_path, const gint32 *ids,
                                    guint n, gboolean all, float *logits, GError **error);

/* `--profile`: a profile (kind → TailorOpProfile, tailor-infer.h) as a table on out, slowest
 * kind first: milliseconds, share of wall_ms (the measured wall time of what was profiled; the
 * kernels' sum is shown beside it) and GFLOP/s of the matrix products. */
void tailor_cli_print_profile (FILE *out, GHashTable *profile, double wall_ms);

G_END_DECLS
