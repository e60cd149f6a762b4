/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the Model step shows about a GGUF file, read the way `tailor-cli inspect` reads it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *path;
  char *file_name;
  guint64 size;
  gboolean is_gguf;
  /* FALSE with a reason when the file is not GGUF or Tailor cannot train it (architecture,
   * tensor type, shape). */
  gboolean supported;
  char *unsupported_reason;
  char *name;         /* general.name, or NULL */
  char *architecture; /* general.architecture, or NULL */
  guint64 n_params;
  char *file_type;    /* "q4_k_m", or NULL when the file does not say */
  char *quantization; /* share of bytes per tensor type, largest first: "Q4_K 71 %, …" */
  gint64 context_length; /* -1 when unknown */
  char *chat_template;   /* the recognised family ("chatml", …), or NULL without a template */
  char *license;         /* general.license (and its name), or NULL when not stated */
} TailorModelFacts;

/* Never fails: a file that cannot be read as a model gives facts with supported FALSE and the
 * reason. Reads only the metadata and tensor table (the file is mapped, not read whole). */
TailorModelFacts *tailor_model_facts_read (const char *path);
void tailor_model_facts_free (TailorModelFacts *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorModelFacts, tailor_model_facts_free)

G_END_DECLS
