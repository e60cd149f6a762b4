/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A command recorder: many dispatches in one command buffer, barriers only where data flows,
 * one submit, one fence, optional per-dispatch timestamps. */
#pragma once

#include "tailor-vk-memory.h"
#include "tailor-vk-pipeline.h"

G_BEGIN_DECLS

/* A range of a buffer bound to one binding; size 0 means "to the end". */
typedef struct
{
  TailorVkBuffer *buffer;
  gsize offset;
  gsize size;
} TailorVkBufferRange;

typedef struct
{
  const char *label; /* as given to tailor_vk_recorder_dispatch */
  double ms;         /* from the end of the work before it to the end of this dispatch */
} TailorVkTiming;

typedef struct _TailorVkRecorder TailorVkRecorder;

/* With profile, each dispatch is bracketed by timestamps (TAILOR_VK_ERROR_UNSUPPORTED when the
 * compute queue has none). */
TailorVkRecorder *tailor_vk_recorder_new (TailorVkContext *ctx, gboolean profile, GError **error);
/* Waits for work still in flight, then frees. */
void tailor_vk_recorder_free (TailorVkRecorder *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkRecorder, tailor_vk_recorder_free)

/* Records one dispatch with ranges[i] bound to the pipeline's binding i. A buffer memory
 * barrier precedes it only when it reads or writes a buffer an earlier dispatch wrote, or
 * writes one an earlier dispatch read (whole buffers are tracked). Buffers must outlive the
 * recorder. */
gboolean tailor_vk_recorder_dispatch (TailorVkRecorder *self,
                                      TailorVkPipeline *pipeline,
                                      const char *label,
                                      const TailorVkBufferRange *ranges,
                                      guint n_ranges,
                                      const void *push,
                                      gsize push_size,
                                      guint32 groups_x,
                                      guint32 groups_y,
                                      guint32 groups_z,
                                      GError **error);
/* Records vkCmdFillBuffer of range (offset and size whole 4-byte words) with value, ordered
 * against the dispatches around it as a dispatch writing range would be; it counts, and is
 * timed, as one dispatch. A memset on CPU devices, where a kernel storing zeros is not. */
gboolean tailor_vk_recorder_fill (TailorVkRecorder *self,
                                  const TailorVkBufferRange *range,
                                  guint32 value,
                                  const char *label,
                                  GError **error);
/* Ends recording (on the first call) and submits; the same recording can be submitted again
 * once the previous submission was waited for. */
gboolean tailor_vk_recorder_submit (TailorVkRecorder *self, GError **error);
/* Waits for the submission: TAILOR_VK_ERROR_TIMEOUT after timeout_ns (the work stays in flight
 * and can be waited for again), TAILOR_VK_ERROR_DEVICE_LOST with advice. */
gboolean tailor_vk_recorder_wait (TailorVkRecorder *self, guint64 timeout_ns, GError **error);
/* submit, then wait up to timeout_ns. */
gboolean tailor_vk_recorder_run (TailorVkRecorder *self, guint64 timeout_ns, GError **error);

guint tailor_vk_recorder_get_n_dispatches (TailorVkRecorder *self);
guint tailor_vk_recorder_get_n_barriers (TailorVkRecorder *self);
/* After a profiled run: one timing per dispatch, in recording order. */
const TailorVkTiming *tailor_vk_recorder_get_timings (TailorVkRecorder *self, guint *n_timings);

G_END_DECLS
