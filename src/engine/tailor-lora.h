/* SPDX-License-Identifier: GPL-3.0-or-later */
/* LoRA adapters as files: llama.cpp's adapter GGUF, written and read back. */
#pragma once

#include "tailor-train-ref.h"

G_BEGIN_DECLS

#define TAILOR_LORA_ERROR (tailor_lora_error_quark ())
GQuark tailor_lora_error_quark (void);

typedef enum {
  TAILOR_LORA_ERROR_NOT_ADAPTER, /* the GGUF is not a LoRA adapter */
  TAILOR_LORA_ERROR_MISMATCH,    /* the adapter was made for another model (message names why) */
  TAILOR_LORA_ERROR_INVALID,     /* an adapter tensor is malformed (message names it) */
} TailorLoraError;

/* What the adapter file records besides its tensors (all optional). */
typedef struct {
  const char *name;        /* general.name */
  const char *base_sha256; /* tailor.base_sha256 */
  const char *run_config;  /* tailor.run_config: the run's settings as JSON */
} TailorLoraInfo;

/* The adapter in llama.cpp's layout (FORMATS.md): general.type "adapter",
 * general.architecture of the base, adapter.type "lora", adapter.lora.alpha (F32) chosen so
 * that llama.cpp's alpha / r is the scale we trained with (alpha·√r for rsLoRA), and
 * blk.N.<tensor>.weight.lora_a (ne [in, r]) / .lora_b (ne [r, out]) in F32. Every pair must
 * share one scale (one alpha for the file). The same adapter gives the same bytes. */
GBytes *tailor_lora_to_gguf_bytes (TailorRefAdapter *adapter, TailorModel *model,
                                   const TailorLoraInfo *info, GError **error);
/* Written atomically (temporary file, fsync, rename). */
gboolean tailor_lora_write_gguf (TailorRefAdapter *adapter, TailorModel *model,
                                 const TailorLoraInfo *info, const char *path, GError **error);

/* Reads an adapter GGUF for model, checking every pair's shape against the base tensor it
 * adapts; the adapter's scale is the file's alpha / r (rslora FALSE, dropout 0). */
TailorRefAdapter *tailor_lora_read_gguf (const char *path, TailorModel *model, GError **error);

G_END_DECLS
