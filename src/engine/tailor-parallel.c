/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A parallel-for over a persistent pool of worker threads that sleep on a condition. */
#include "config.h"

#include <stdlib.h>

#include "tailor-parallel.h"

/* More threads than this is a misconfiguration, not a machine. */
#define MAX_THREADS 512
/* Chunks per participating thread: enough for dynamic balancing, few enough to keep the
 * per-chunk cost (one atomic add) negligible. */
#define CHUNKS_PER_THREAD 4

typedef struct
{
  GMutex lock;
  GCond work_cond; /* workers wait here for a new generation */
  GCond done_cond; /* the caller waits here for pending to reach 0 */
  GMutex busy;     /* held by the thread running a job; others run serially */
  guint n_threads; /* wanted, callers included */
  guint n_workers; /* started so far; never shrinks */
  guint64 generation;

  /* The current job, written under lock before the generation changes. */
  TailorParallelFunc fn;
  gpointer user_data;
  gint64 n;
  gint64 chunk;
  gint n_chunks;
  gint next_chunk; /* atomic */
  guint n_helpers; /* workers taking part in this job */
  guint pending;   /* helpers that have not finished, under lock */
} Pool;

static Pool pool;
static GPrivate in_parallel;

static guint
threads_from_env (void)
{
  const char *s = g_getenv ("TAILOR_THREADS");
  guint64 v = 0;

  if (s != NULL && g_ascii_string_to_unsigned (s, 10, 1, MAX_THREADS, &v, NULL))
    return (guint) v;
  if (s != NULL)
    g_warning ("TAILOR_THREADS=%s is not a number from 1 to %d; using the number of cores", s,
               MAX_THREADS);
  return CLAMP (g_get_num_processors (), 1, MAX_THREADS);
}

static Pool *
get_pool (void)
{
  static gsize initialised = 0;

  if (g_once_init_enter (&initialised))
    {
      g_mutex_init (&pool.lock);
      g_cond_init (&pool.work_cond);
      g_cond_init (&pool.done_cond);
      g_mutex_init (&pool.busy);
      pool.n_threads = threads_from_env ();
      g_once_init_leave (&initialised, 1);
    }
  return &pool;
}

static void
run_chunks (Pool *p)
{
  gint c;

  while ((c = g_atomic_int_add (&p->next_chunk, 1)) < p->n_chunks)
    {
      gint64 begin = (gint64) c * p->chunk;
      gint64 end = MIN (begin + p->chunk, p->n);

      p->fn (begin, end, p->user_data);
    }
}

typedef struct
{
  guint index;
  guint64 generation; /* the last one before this worker existed */
} WorkerStart;

static gpointer
worker_main (gpointer data)
{
  Pool *p = &pool;
  g_autofree WorkerStart *start = data;
  guint index = start->index;
  guint64 seen = start->generation;

  g_private_set (&in_parallel, GINT_TO_POINTER (1));

  g_mutex_lock (&p->lock);
  for (;;)
    {
      while (p->generation == seen)
        g_cond_wait (&p->work_cond, &p->lock);
      seen = p->generation;
      if (index >= p->n_helpers)
        continue;
      g_mutex_unlock (&p->lock);

      run_chunks (p);

      g_mutex_lock (&p->lock);
      if (--p->pending == 0)
        g_cond_signal (&p->done_cond);
    }
  return NULL;
}

guint
tailor_parallel_get_n_threads (void)
{
  Pool *p = get_pool ();
  guint n;

  g_mutex_lock (&p->lock);
  n = p->n_threads;
  g_mutex_unlock (&p->lock);
  return n;
}

void
tailor_parallel_set_n_threads (guint n)
{
  Pool *p = get_pool ();

  g_return_if_fail (n >= 1);

  /* Taking busy waits for a running job, so the count never changes under one. */
  g_mutex_lock (&p->busy);
  g_mutex_lock (&p->lock);
  p->n_threads = MIN (n, MAX_THREADS);
  g_mutex_unlock (&p->lock);
  g_mutex_unlock (&p->busy);
}

/* Called with busy held, so the generation cannot move while workers are started: a new
 * worker that first runs after the next job was posted still sees that job as new. */
static void
ensure_workers (Pool *p, guint n_helpers)
{
  while (p->n_workers < n_helpers)
    {
      g_autofree char *name = g_strdup_printf ("tailor-worker-%u", p->n_workers);
      WorkerStart *start = g_new (WorkerStart, 1);
      GThread *thread;

      start->index = p->n_workers;
      start->generation = p->generation;
      thread = g_thread_new (name, worker_main, start);

      /* Workers live for the whole process; nothing ever joins them. */
      g_thread_unref (thread);
      p->n_workers++;
    }
}

void
tailor_parallel_for (gint64 n, gint64 min_chunk, TailorParallelFunc fn, gpointer user_data)
{
  Pool *p = get_pool ();
  guint n_threads;
  gint64 chunk;
  gint64 n_chunks;

  g_return_if_fail (fn != NULL);

  if (n <= 0)
    return;
  min_chunk = MAX (min_chunk, 1);

  /* Inside a worker, or while another thread's job runs: do it here, serially. */
  if (g_private_get (&in_parallel) != NULL || !g_mutex_trylock (&p->busy))
    {
      fn (0, n, user_data);
      return;
    }

  n_threads = p->n_threads;
  chunk = MAX (min_chunk, (n + (gint64) n_threads * CHUNKS_PER_THREAD - 1) /
                            ((gint64) n_threads * CHUNKS_PER_THREAD));
  n_chunks = (n + chunk - 1) / chunk;
  if (n_threads <= 1 || n_chunks <= 1)
    {
      g_mutex_unlock (&p->busy);
      fn (0, n, user_data);
      return;
    }

  ensure_workers (p, n_threads - 1);

  g_mutex_lock (&p->lock);
  p->fn = fn;
  p->user_data = user_data;
  p->n = n;
  p->chunk = chunk;
  p->n_chunks = (gint) n_chunks;
  g_atomic_int_set (&p->next_chunk, 0);
  p->n_helpers = MIN (n_threads - 1, (guint) n_chunks - 1);
  p->pending = p->n_helpers;
  p->generation++;
  g_cond_broadcast (&p->work_cond);
  g_mutex_unlock (&p->lock);

  g_private_set (&in_parallel, GINT_TO_POINTER (1));
  run_chunks (p);
  g_private_set (&in_parallel, NULL);

  g_mutex_lock (&p->lock);
  while (p->pending > 0)
    g_cond_wait (&p->done_cond, &p->lock);
  g_mutex_unlock (&p->lock);

  g_mutex_unlock (&p->busy);
}
