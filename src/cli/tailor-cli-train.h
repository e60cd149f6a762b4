/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli train, and what logits needs to apply a LoRA adapter. */
#pragma once

#include "tailor-model.h"

G_BEGIN_DECLS

int tailor_cli_train (int argc, char **argv);

/* For `logits --adapter A`: logits (T, n_vocab) of ids, or only the last position's
 * n_vocab when !all, with the adapter file applied (CPU reference). */
gboolean tailor_cli_adapter_logits (TailorModel *model, const char *adapter_path, const gint32 *ids,
                                    guint n, gboolean all, float *logits, GError **error);

G_END_DECLS
