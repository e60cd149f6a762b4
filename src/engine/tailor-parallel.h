/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A small parallel-for over a persistent pool of worker threads. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* fn (begin, end, user_data) is called on disjoint ranges covering [0, n). */
typedef void (*TailorParallelFunc) (gint64 begin, gint64 end, gpointer user_data);

/* Number of threads used; TAILOR_THREADS overrides, default the number of cores. */
guint tailor_parallel_get_n_threads (void);
void tailor_parallel_set_n_threads (guint n);
/* Runs fn over [0, n) in chunks of at least min_chunk; returns when all are done.
 * Nested calls from inside fn run serially. */
void tailor_parallel_for (gint64 n, gint64 min_chunk, TailorParallelFunc fn, gpointer user_data);

G_END_DECLS
