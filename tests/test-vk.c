/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Vulkan layer: devices, memory, pipelines, recording and the first kernels vs CPU twins. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-vk-device.h"
#include "tailor-vk-kernels.h"
#include "tailor-vk-memory.h"
#include "tailor-vk-pipeline.h"
#include "tailor-vk-private.h"
#include "tailor-vk-recorder.h"

#define SECOND G_GUINT64_CONSTANT (1000000000)

/* Whether the loader lists any device at all; only then may a device test skip. */
static gboolean
have_device (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) infos = tailor_vk_enumerate_devices (&error);

  return infos != NULL;
}

static TailorVkContext *
open_context (void)
{
  g_autoptr (GError) error = NULL;
  TailorVkContext *ctx;

  if (!have_device ())
    {
      g_test_skip ("no Vulkan device");
      return NULL;
    }
  ctx = tailor_vk_context_new (&error);
  g_assert_no_error (error);
  g_assert_true (tailor_vk_context_get_validation (ctx));
  return ctx;
}

/* Any validation warning or error fails the test, with the messages shown. */
static void
assert_no_validation_messages (TailorVkContext *ctx)
{
  g_auto (GStrv) messages = tailor_vk_context_get_messages (ctx);

  for (guint i = 0; messages[i] != NULL; i++)
    g_test_message ("validation: %s", messages[i]);
  g_assert_cmpuint (g_strv_length (messages), ==, 0);
}

static float *
random_floats (GRand *rand, gsize n, double lo, double hi)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, lo, hi);
  return v;
}

static TailorVkBuffer *
upload_floats (TailorVkContext *ctx, const float *data, gsize n, const char *name)
{
  g_autoptr (GError) error = NULL;
  TailorVkBuffer *buffer = tailor_vk_buffer_new (ctx, n * sizeof (float), name, &error);

  g_assert_no_error (error);
  tailor_vk_buffer_upload (buffer, 0, data, n * sizeof (float), &error);
  g_assert_no_error (error);
  return buffer;
}

static TailorVkDeviceInfo *
fake_device (guint index, const char *name, TailorVkDeviceType type, gboolean usable)
{
  TailorVkDeviceInfo *info = g_new0 (TailorVkDeviceInfo, 1);

  info->index = index;
  info->name = g_strdup (name);
  info->type = type;
  info->usable = usable;
  info->unusable_reason = usable ? NULL : g_strdup ("it supports Vulkan 1.0");
  return info;
}

static GPtrArray *
fake_devices (void)
{
  GPtrArray *infos = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_vk_device_info_free);

  g_ptr_array_add (infos,
                   fake_device (0, "llvmpipe (LLVM 15.0.6, 256 bits)", TAILOR_VK_DEVICE_CPU, TRUE));
  g_ptr_array_add (infos, fake_device (1, "Virtio-GPU Venus", TAILOR_VK_DEVICE_VIRTUAL, TRUE));
  g_ptr_array_add (infos,
                   fake_device (2, "Intel(R) UHD Graphics 620", TAILOR_VK_DEVICE_INTEGRATED, TRUE));
  g_ptr_array_add (infos, fake_device (3, "AMD Radeon RX 7600", TAILOR_VK_DEVICE_DISCRETE, TRUE));
  g_ptr_array_add (infos,
                   fake_device (4, "NVIDIA GeForce GTX 680", TAILOR_VK_DEVICE_DISCRETE, FALSE));
  return infos;
}

static void
test_enumerate_finds_lavapipe (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) infos = NULL;
  g_autoptr (GDir) icds = g_dir_open ("/usr/share/vulkan/icd.d", 0, NULL);
  gboolean lavapipe_installed = FALSE, found = FALSE;
  const char *name;

  while (icds != NULL && (name = g_dir_read_name (icds)) != NULL)
    lavapipe_installed |= g_str_has_prefix (name, "lvp_icd");
  if (!have_device ())
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  infos = tailor_vk_enumerate_devices (&error);
  g_assert_no_error (error);
  g_assert_cmpuint (infos->len, >, 0);
  for (guint i = 0; i < infos->len; i++)
    {
      const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);

      g_assert_cmpuint (info->index, ==, i);
      g_assert_nonnull (info->name);
      g_assert_cmpuint (info->n_heaps, >, 0);
      if (g_strcmp0 (info->driver_name, "llvmpipe") != 0)
        continue;
      found = TRUE;
      /* What Mesa's lavapipe reports on every x86-64 build. */
      g_assert_true (info->usable);
      g_assert_cmpint (info->type, ==, TAILOR_VK_DEVICE_CPU);
      g_assert_cmpuint (info->api_version, >=, VK_API_VERSION_1_2);
      g_assert_cmpuint (info->subgroup_size, >=, 4);
      g_assert_true (info->subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
      g_assert_true (info->subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT);
      g_assert_cmpuint (info->max_workgroup_invocations, >=, 128);
      g_assert_cmpuint (info->max_workgroup_count[0], >=, 65535);
      g_assert_cmpuint (info->max_shared_memory, >=, 16384);
      g_assert_cmpuint (info->max_texel_buffer_elements, >=, 65536);
      g_assert_cmpuint (info->max_storage_buffer_range, >=, 1u << 27);
      g_assert_true (info->heaps[0].device_local);
      g_assert_cmpuint (info->heaps[0].budget, >, 0);
      g_assert_cmpuint (info->timestamp_valid_bits, >, 0);
      g_assert_true (strstr (info->driver_info, "Mesa") != NULL);
    }
  if (lavapipe_installed)
    g_assert_true (found);
}

static void
test_enumerate_without_driver_is_clear_error (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) infos = NULL;
      g_autoptr (TailorVkContext) ctx = NULL;

      g_setenv ("VK_DRIVER_FILES", "/nonexistent/tailor-no-icd.json", TRUE);
      g_setenv ("VK_ICD_FILENAMES", "/nonexistent/tailor-no-icd.json", TRUE);
      infos = tailor_vk_enumerate_devices (&error);
      g_assert_null (infos);
      g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NO_DEVICE);
      g_assert_true (
        g_str_has_prefix (error->message, "No Vulkan device found; Tailor will use the CPU"));
      g_clear_error (&error);
      ctx = tailor_vk_context_new (&error);
      g_assert_null (ctx);
      g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NO_DEVICE);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_select_prefers_discrete_then_integrated_virtual_cpu (void)
{
  g_autoptr (GPtrArray) infos = fake_devices ();
  g_autoptr (GError) error = NULL;

  /* The unusable discrete device (4) is passed over for the usable one (3). */
  g_assert_cmpint (tailor_vk_choose_device (infos, NULL, &error), ==, 3);
  g_assert_no_error (error);
  g_ptr_array_remove_index (infos, 3);
  g_assert_cmpint (tailor_vk_choose_device (infos, "", &error), ==, 2);
  g_ptr_array_remove_index (infos, 2);
  g_assert_cmpint (tailor_vk_choose_device (infos, NULL, &error), ==, 1);
  g_ptr_array_remove_index (infos, 1);
  g_assert_cmpint (tailor_vk_choose_device (infos, NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_ptr_array_remove_index (infos, 0);
  /* Only an unusable device left: the CPU fallback error, naming why. */
  g_assert_cmpint (tailor_vk_choose_device (infos, NULL, &error), ==, -1);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NO_DEVICE);
  g_assert_true (strstr (error->message, "Vulkan 1.0") != NULL);
}

static void
test_select_honours_index_and_name (void)
{
  g_autoptr (GPtrArray) infos = fake_devices ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (tailor_vk_choose_device (infos, "0", &error), ==, 0);
  g_assert_cmpint (tailor_vk_choose_device (infos, "2", &error), ==, 2);
  g_assert_cmpint (tailor_vk_choose_device (infos, "intel", &error), ==, 2);
  g_assert_cmpint (tailor_vk_choose_device (infos, "RADEON", &error), ==, 3);
  g_assert_cmpint (tailor_vk_choose_device (infos, "llvmpipe", &error), ==, 0);
  g_assert_no_error (error);

  g_assert_cmpint (tailor_vk_choose_device (infos, "7", &error), ==, -1);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NOT_FOUND);
  g_assert_true (strstr (error->message, "AMD Radeon RX 7600") != NULL);
  g_clear_error (&error);
  g_assert_cmpint (tailor_vk_choose_device (infos, "quadro", &error), ==, -1);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpint (tailor_vk_choose_device (infos, "GTX", &error), ==, -1);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED);
}

static void
test_select_reads_tailor_vk_device (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) infos = tailor_vk_enumerate_devices (&error);
      g_autoptr (TailorVkContext) ctx = NULL;
      g_autofree char *index = NULL;
      const TailorVkDeviceInfo *last;

      g_assert_no_error (error);
      last = g_ptr_array_index (infos, infos->len - 1);
      index = g_strdup_printf ("%u", last->index);
      g_setenv ("TAILOR_VK_DEVICE", index, TRUE);
      ctx = tailor_vk_context_new (&error);
      g_assert_no_error (error);
      g_assert_cmpstr (tailor_vk_context_get_info (ctx)->name, ==, last->name);
      assert_no_validation_messages (ctx);
      g_clear_pointer (&ctx, tailor_vk_context_free);

      g_setenv ("TAILOR_VK_DEVICE", "no-such-device-anywhere", TRUE);
      ctx = tailor_vk_context_new (&error);
      g_assert_null (ctx);
      g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NOT_FOUND);
      return;
    }
  if (!have_device ())
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

typedef struct
{
  TailorVkAllocation allocation;
  VkDeviceSize request;
  VkDeviceSize alignment;
} Slot;

static int
compare_slots (gconstpointer a, gconstpointer b)
{
  const Slot *x = a, *y = b;

  if (x->allocation.block != y->allocation.block)
    return x->allocation.block < y->allocation.block ? -1 : 1;
  return x->allocation.offset < y->allocation.offset ? -1
                                                     : x->allocation.offset > y->allocation.offset;
}

/* Live allocations are aligned and never overlap. */
static void
assert_disjoint (GArray *slots)
{
  g_autoptr (GArray) sorted = g_array_copy (slots);

  g_array_sort (sorted, compare_slots);
  for (guint i = 0; i < sorted->len; i++)
    {
      const Slot *s = &g_array_index (sorted, Slot, i);

      g_assert_cmpuint (s->allocation.offset % s->alignment, ==, 0);
      g_assert_cmpuint (s->allocation.size, >=, s->request);
      if (i > 0)
        {
          const Slot *p = &g_array_index (sorted, Slot, i - 1);

          if (p->allocation.block == s->allocation.block)
            g_assert_cmpuint (p->allocation.offset + p->allocation.size, <=, s->allocation.offset);
        }
    }
}

static void
test_memory_suballocates_first_fit (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autoptr (GArray) slots = g_array_new (FALSE, FALSE, sizeof (Slot));
  g_autoptr (GError) error = NULL;
  TailorVkMemoryStats stats, before;
  TailorVkAllocation whole, big, again;
  guint64 live = 0, most = 0;
  Slot first;

  if (ctx == NULL)
    return;
  tailor_vk_memory_set_block_size (ctx, 1 << 20);
  tailor_vk_memory_get_stats (ctx, &before);

  for (guint i = 0; i < 600; i++)
    {
      Slot s = { .request = g_rand_int_range (rand, 1, 6000),
                 .alignment = (VkDeviceSize) 1 << g_rand_int_range (rand, 0, 13) };

      tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, s.request, s.alignment, G_MAXUINT32,
                              "a test allocation", &s.allocation, &error);
      g_assert_no_error (error);
      g_array_append_val (slots, s);
      live += s.allocation.size;
      most = MAX (most, live);
    }
  assert_disjoint (slots);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.in_use, ==, before.in_use + live);
  g_assert_cmpuint (stats.peak, >=, before.in_use + most);
  /* ~1.8 MB of requests: a few 1 MiB blocks, not one allocation each. */
  g_assert_cmpuint (stats.n_blocks - before.n_blocks, >=, 2);
  g_assert_cmpuint (stats.n_blocks - before.n_blocks, <=, 3);

  /* Free every other one, then the same requests fit in the holes: no new block. */
  for (guint i = slots->len; i-- > 0;)
    if (i % 2 == 0)
      {
        tailor_vk_memory_free (ctx, &g_array_index (slots, Slot, i).allocation);
        live -= g_array_index (slots, Slot, i).allocation.size;
        g_array_remove_index (slots, i);
      }
  for (guint i = 0; i < 300; i++)
    {
      Slot s = { .request = g_rand_int_range (rand, 1, 1500), .alignment = 16 };

      tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, s.request, s.alignment, G_MAXUINT32,
                              "a test allocation", &s.allocation, &error);
      g_assert_no_error (error);
      g_array_append_val (slots, s);
      live += s.allocation.size;
    }
  assert_disjoint (slots);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.in_use, ==, before.in_use + live);
  g_assert_cmpuint (stats.n_blocks - before.n_blocks, <=, 3);

  /* First fit: a freed range is the first reused by a request of its size. */
  first = g_array_index (slots, Slot, 0);
  tailor_vk_memory_free (ctx, &first.allocation);
  tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, first.request, first.alignment, G_MAXUINT32,
                          "a test allocation", &again, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again.block, ==, first.allocation.block);
  g_assert_cmpuint (again.offset, <=, first.allocation.offset);
  g_array_index (slots, Slot, 0).allocation = again;

  /* After freeing everything the free ranges coalesce: a whole block fits at offset 0. */
  for (guint i = 0; i < slots->len; i++)
    tailor_vk_memory_free (ctx, &g_array_index (slots, Slot, i).allocation);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.in_use, ==, before.in_use);
  g_assert_cmpuint (stats.peak, >=, before.in_use + most);
  tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, 1 << 20, 256, G_MAXUINT32, "a whole block",
                          &whole, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (whole.offset, ==, 0);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.n_blocks - before.n_blocks, <=, 3);

  /* Larger than a block: its own allocation, released when freed. */
  tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, 3 << 20, 256, G_MAXUINT32, "a big tensor",
                          &big, &error);
  g_assert_no_error (error);
  tailor_vk_memory_get_stats (ctx, &before);
  tailor_vk_memory_free (ctx, &big);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.n_blocks, ==, before.n_blocks - 1);
  g_assert_cmpuint (stats.reserved, ==, before.reserved - big.size);
  tailor_vk_memory_free (ctx, &whole);

  tailor_vk_memory_reset_peak (ctx);
  tailor_vk_memory_get_stats (ctx, &stats);
  g_assert_cmpuint (stats.peak, ==, stats.in_use);
  assert_no_validation_messages (ctx);
}

static void
test_memory_round_trips_odd_sizes (void)
{
  /* Sizes around the 8 MiB staging slots, at unaligned offsets. */
  static const struct
  {
    gsize offset;
    gsize size;
  } cases[] = {
    { 0, 1 },
    { 1, 3 },
    { 7, 4097 },
    { 12345, (8 << 20) + 5 },
    { 3, (16 << 20) + 777 },
    { 0, (24 << 20) + 13 },
  };
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (TailorVkBuffer) buffer = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autoptr (GError) error = NULL;
  gsize size = (24 << 20) + 13;
  g_autofree guint8 *data = NULL;
  g_autofree guint8 *back = NULL;
  guint32 words[5];

  if (ctx == NULL)
    return;
  buffer = tailor_vk_buffer_new (ctx, size, "round trip", &error);
  g_assert_no_error (error);
  data = g_malloc (size);
  back = g_malloc (size);
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      for (gsize i = 0; i < cases[c].size; i++)
        data[i] = (guint8) g_rand_int (rand);
      tailor_vk_buffer_upload (buffer, cases[c].offset, data, cases[c].size, &error);
      g_assert_no_error (error);
      memset (back, 0, cases[c].size);
      tailor_vk_buffer_download (buffer, cases[c].offset, back, cases[c].size, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (back, cases[c].size, data, cases[c].size);
    }
  /* A download of a sub-range starting inside an earlier upload. */
  tailor_vk_buffer_download (buffer, 5, back, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back, 1000, data + 5, 1000);

  tailor_vk_buffer_fill (buffer, 16, sizeof words, 0xdeadbeefu, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_download (buffer, 16, words, sizeof words, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    g_assert_cmphex (words[i], ==, 0xdeadbeefu);

  g_assert_false (tailor_vk_buffer_upload (buffer, size - 2, data, 3, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  assert_no_validation_messages (ctx);
}

static void
assert_oom_with_advice (const GError *error)
{
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_OUT_OF_MEMORY);
  g_assert_true (strstr (error->message, "smaller batch") != NULL);
  g_assert_true (strstr (error->message, "gradient checkpointing") != NULL);
}

static void
test_memory_oversized_allocation_is_error_with_advice (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (TailorVkBuffer) small = NULL;
  g_autoptr (GError) error = NULL;
  const TailorVkDeviceInfo *info;
  TailorVkMemoryStats before, after;
  TailorVkAllocation allocation;
  TailorVkBuffer *buffer;
  guint64 heap = 0;
  float one = 1.0f, back = 0.0f;

  if (ctx == NULL)
    return;
  info = tailor_vk_context_get_info (ctx);
  for (guint i = 0; i < info->n_heaps; i++)
    if (info->heaps[i].device_local)
      heap = MAX (heap, info->heaps[i].budget);
  tailor_vk_memory_get_stats (ctx, &before);

  /* Beyond any buffer the device can make. */
  buffer = tailor_vk_buffer_new (ctx, G_MAXSIZE / 2, "an enormous tensor", &error);
  g_assert_null (buffer);
  assert_oom_with_advice (error);
  g_assert_true (strstr (error->message, "an enormous tensor") != NULL);
  g_clear_error (&error);

  /* A valid request the memory budget cannot hold. */
  g_assert_false (tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, heap + (1 << 20), 256,
                                          G_MAXUINT32, "the activations", &allocation, &error));
  assert_oom_with_advice (error);
  g_clear_error (&error);
  if (heap + (1 << 20) <= info->max_buffer_size)
    {
      buffer = tailor_vk_buffer_new (ctx, heap + (1 << 20), "the activations", &error);
      g_assert_null (buffer);
      assert_oom_with_advice (error);
      g_clear_error (&error);
    }

  /* Nothing leaked and the device still works. */
  tailor_vk_memory_get_stats (ctx, &after);
  g_assert_cmpuint (after.in_use, ==, before.in_use);
  g_assert_cmpuint (after.n_blocks, ==, before.n_blocks);
  small = tailor_vk_buffer_new (ctx, sizeof one, "small", &error);
  g_assert_no_error (error);
  tailor_vk_buffer_upload (small, 0, &one, sizeof one, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_download (small, 0, &back, sizeof back, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (back, ==, 1.0f);
  assert_no_validation_messages (ctx);
}

/* |swiglu_gpu − swiglu_ref| ≤ 3e-5·|ref| + 1e-30: exp is exact to 3 + 2|x| ulp in Vulkan (19 ulp
 * for |x| ≤ 8), the division to 2.5 ulp and two products to 0.5 ulp each: ~23 ulp ≈ 2.7e-6
 * relative, kept with a 10× margin. Index or layout bugs give relative errors near 1. */
static void
assert_swiglu_close (const float *got, const float *want, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (fabsf (got[i] - want[i]) > 3e-5f * fabsf (want[i]) + 1e-30f)
      g_error ("swiglu[%" G_GSIZE_FORMAT "] = %.9g, CPU twin %.9g", i, got[i], want[i]);
}

static void
test_kernels_swiglu_matches_cpu (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) gate_buf = NULL;
  g_autoptr (TailorVkBuffer) up_buf = NULL;
  g_autoptr (TailorVkBuffer) out_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  const gsize n = 100003;
  g_autofree float *gate = NULL;
  g_autofree float *up = NULL;
  g_autofree float *want = g_new (float, n);
  g_autofree float *got = g_new (float, n);
  const TailorVkTiming *timings;
  guint n_timings = 0;

  if (ctx == NULL)
    return;
  gate = random_floats (rand, n, -8, 8);
  up = random_floats (rand, n, -3, 3);
  gate_buf = upload_floats (ctx, gate, n, "gate");
  up_buf = upload_floats (ctx, up, n, "up");
  out_buf = tailor_vk_buffer_new (ctx, n * sizeof (float), "out", &error);
  g_assert_no_error (error);

  rec = tailor_vk_recorder_new (ctx, TRUE, &error);
  g_assert_no_error (error);
  tailor_vk_swiglu_forward (rec, &(TailorVkBufferRange){ out_buf, 0, 0 },
                            &(TailorVkBufferRange){ gate_buf, 0, 0 },
                            &(TailorVkBufferRange){ up_buf, 0, 0 }, n, &error);
  g_assert_no_error (error);
  tailor_vk_recorder_run (rec, 60 * SECOND, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_download (out_buf, 0, got, n * sizeof (float), &error);
  g_assert_no_error (error);

  tailor_ref_swiglu_forward (want, gate, up, 1, (int) n);
  assert_swiglu_close (got, want, n);

  timings = tailor_vk_recorder_get_timings (rec, &n_timings);
  g_assert_cmpuint (n_timings, ==, 1);
  g_assert_cmpstr (timings[0].label, ==, "swiglu_forward");
  g_assert_cmpfloat (timings[0].ms, >, 0.0);
  g_assert_cmpfloat (timings[0].ms, <, 60e3);
  assert_no_validation_messages (ctx);
}

static void
test_recorder_orders_dependent_dispatches (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) up_buf = NULL;
  g_autoptr (TailorVkRecorder) chain = NULL;
  g_autoptr (TailorVkRecorder) fan = NULL;
  TailorVkBuffer *ping[2] = { NULL, NULL };
  TailorVkBuffer *outs[4] = { NULL, NULL, NULL, NULL };
  const gsize n = 1 << 18;
  const guint steps = 8;
  g_autofree float *x = NULL;
  g_autofree float *up = NULL;
  g_autofree float *tmp = g_new (float, n);
  g_autofree float *got = g_new (float, n);

  if (ctx == NULL)
    return;
  x = random_floats (rand, n, -2, 2);
  /* Factors near 1 keep eight chained products in a well-scaled range. */
  up = random_floats (rand, n, 0.9, 1.6);
  up_buf = upload_floats (ctx, up, n, "up");
  ping[0] = upload_floats (ctx, x, n, "ping");
  ping[1] = tailor_vk_buffer_new (ctx, n * sizeof (float), "pong", &error);
  g_assert_no_error (error);

  /* x ← swiglu(x, up) eight times, ping-ponging: each step reads the previous step's output
   * (read after write) and overwrites what the step before read (write after read). */
  chain = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  for (guint s = 0; s < steps; s++)
    {
      tailor_vk_swiglu_forward (chain, &(TailorVkBufferRange){ ping[(s + 1) % 2], 0, 0 },
                                &(TailorVkBufferRange){ ping[s % 2], 0, 0 },
                                &(TailorVkBufferRange){ up_buf, 0, 0 }, n, &error);
      g_assert_no_error (error);
    }
  g_assert_cmpuint (tailor_vk_recorder_get_n_dispatches (chain), ==, steps);
  g_assert_cmpuint (tailor_vk_recorder_get_n_barriers (chain), ==, steps - 1);
  tailor_vk_recorder_run (chain, 60 * SECOND, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_download (ping[steps % 2], 0, got, n * sizeof (float), &error);
  g_assert_no_error (error);
  for (guint s = 0; s < steps; s++)
    {
      tailor_ref_swiglu_forward (tmp, x, up, 1, (int) n);
      memcpy (x, tmp, n * sizeof (float));
    }
  /* Eight steps compound the per-step bound of assert_swiglu_close. */
  for (gsize i = 0; i < n; i++)
    if (fabsf (got[i] - x[i]) > 8 * 3e-5f * fabsf (x[i]) + 1e-30f)
      g_error ("chain[%" G_GSIZE_FORMAT "] = %.9g, CPU twin %.9g", i, got[i], x[i]);

  /* Independent dispatches (shared inputs, separate outputs) need no barrier at all. */
  fan = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
    {
      outs[i] = tailor_vk_buffer_new (ctx, n * sizeof (float), "fan-out", &error);
      g_assert_no_error (error);
      tailor_vk_swiglu_forward (fan, &(TailorVkBufferRange){ outs[i], 0, 0 },
                                &(TailorVkBufferRange){ ping[0], 0, 0 },
                                &(TailorVkBufferRange){ up_buf, 0, 0 }, n, &error);
      g_assert_no_error (error);
    }
  g_assert_cmpuint (tailor_vk_recorder_get_n_barriers (fan), ==, 0);
  tailor_vk_recorder_run (fan, 60 * SECOND, &error);
  g_assert_no_error (error);
  g_clear_pointer (&fan, tailor_vk_recorder_free);
  g_clear_pointer (&chain, tailor_vk_recorder_free);
  for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
    tailor_vk_buffer_free (outs[i]);
  tailor_vk_buffer_free (ping[0]);
  tailor_vk_buffer_free (ping[1]);
  assert_no_validation_messages (ctx);
}

/* Y = X·Wᵀ in double; bound[i] = Σ_k |x_k w_k| for the error bound. */
static void
matmul_twin (double *y, double *bound, const float *x, const float *w, guint T, guint K, guint N)
{
  for (guint t = 0; t < T; t++)
    for (guint n = 0; n < N; n++)
      {
        double s = 0, a = 0;

        for (guint k = 0; k < K; k++)
          {
            double p = (double) x[(gsize) t * K + k] * w[(gsize) n * K + k];

            s += p;
            a += fabs (p);
          }
        y[(gsize) t * N + n] = s;
        bound[(gsize) t * N + n] = a;
      }
}

/* fp32 summation of K products in any order is within (K + 64)·2⁻²⁴·Σ|x_k w_k| of the exact
 * sum (the standard γ_n bound, with room for the subgroup reduction's extra additions); a
 * wrong index or tile edge is off by a whole product. */
static void
assert_matmul_close (const float *got, const double *want, const double *bound, gsize n, guint K)
{
  double eps = (K + 64) * ldexp (1.0, -24);

  for (gsize i = 0; i < n; i++)
    if (fabs (got[i] - want[i]) > eps * bound[i] + 1e-30)
      g_error ("Y[%" G_GSIZE_FORMAT "] = %.9g, CPU twin %.9g (bound %.3g)", i, got[i], want[i],
               eps * bound[i]);
}

static void
run_matmul (TailorVkContext *ctx,
            GRand *rand,
            guint T,
            guint K,
            guint N,
            const TailorVkMatmulTiles *tiles,
            gsize x_offset)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) x_buf = NULL;
  g_autoptr (TailorVkBuffer) w_buf = NULL;
  g_autoptr (TailorVkBuffer) y_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autofree float *x = random_floats (rand, (gsize) T * K, -1, 1);
  g_autofree float *w = random_floats (rand, (gsize) N * K, -1, 1);
  g_autofree float *y = g_new (float, (gsize) T *N);
  g_autofree double *want = g_new (double, (gsize) T *N);
  g_autofree double *bound = g_new (double, (gsize) T *N);

  /* X sits after x_offset bytes of other data, as a slice of a larger tensor would. */
  x_buf = tailor_vk_buffer_new (ctx, x_offset + (gsize) T * K * 4, "X", &error);
  g_assert_no_error (error);
  tailor_vk_buffer_upload (x_buf, x_offset, x, (gsize) T * K * 4, &error);
  g_assert_no_error (error);
  w_buf = upload_floats (ctx, w, (gsize) N * K, "W");
  y_buf = tailor_vk_buffer_new (ctx, (gsize) T * N * 4, "Y", &error);
  g_assert_no_error (error);

  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  tailor_vk_matmul_f32_forward (rec, &(TailorVkBufferRange){ y_buf, 0, 0 },
                                &(TailorVkBufferRange){ x_buf, x_offset, 0 },
                                &(TailorVkBufferRange){ w_buf, 0, 0 }, T, K, N, tiles, NULL, &error);
  g_assert_no_error (error);
  tailor_vk_recorder_run (rec, 60 * SECOND, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_download (y_buf, 0, y, (gsize) T * N * 4, &error);
  g_assert_no_error (error);

  matmul_twin (want, bound, x, w, T, K, N);
  assert_matmul_close (y, want, bound, (gsize) T * N, K);
}

static void
test_kernels_matmul_f32_matches_cpu (void)
{
  static const struct
  {
    guint T, K, N;
    TailorVkMatmulTiles tiles;
    gsize x_offset;
  } cases[] = {
    { 1, 4, 1, { 0, 0, 0 }, 0 },
    { 37, 52, 45, { 0, 0, 0 }, 16 }, /* ragged edges in both directions */
    { 64, 576, 96, { 0, 0, 0 }, 0 },
    { 13, 1028, 33, { 0, 0, 0 }, 4096 }, /* K/4 not a multiple of the lanes */
    { 19, 96, 70, { 16, 4, 8 }, 0 },     /* several subgroups per workgroup */
    { 9, 200, 17, { 8, 1, 4 }, 0 },      /* the smallest block */
    { 40, 64, 41, { 8, 3, 12 }, 0 },     /* BM not a power of two */
  };
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (13);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autoptr (TailorVkBuffer) buf = NULL;

  if (ctx == NULL)
    return;
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    run_matmul (ctx, rand, cases[c].T, cases[c].K, cases[c].N, &cases[c].tiles, cases[c].x_offset);
  /* Seven cases, four distinct tilings: pipelines are cached per specialization. */
  g_assert_cmpuint (tailor_vk_context_get_n_pipelines (ctx), ==, 4);

  /* K must be a multiple of 4 for the vec4 texel reads. */
  buf = tailor_vk_buffer_new (ctx, 1024, "any", &error);
  g_assert_no_error (error);
  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (tailor_vk_matmul_f32_forward (
    rec, &(TailorVkBufferRange){ buf, 0, 0 }, &(TailorVkBufferRange){ buf, 0, 0 },
    &(TailorVkBufferRange){ buf, 0, 0 }, 2, 6, 2, NULL, NULL, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  assert_no_validation_messages (ctx);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The shape LAVAPIPE.md measured: T = 512, 576 × 1536. Prints GFLOP/s (no assertion on speed:
 * machines differ); checks a sample of rows against the twin. */
static void
test_kernels_matmul_f32_throughput (void)
{
  const guint T = 512, K = 576, N = 1536, runs = 5, rows = 6;
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (17);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) x_buf = NULL;
  g_autoptr (TailorVkBuffer) w_buf = NULL;
  g_autoptr (TailorVkBuffer) y_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autofree float *x = NULL;
  g_autofree float *w = NULL;
  g_autofree float *y = g_new (float, (gsize) T *N);
  g_autofree double *want = g_new (double, (gsize) rows *N);
  g_autofree double *bound = g_new (double, (gsize) rows *N);
  double ms[5];
  const TailorVkTiming *timings;
  guint n_timings = 0;

  if (ctx == NULL)
    return;
  x = random_floats (rand, (gsize) T * K, -1, 1);
  w = random_floats (rand, (gsize) N * K, -1, 1);
  x_buf = upload_floats (ctx, x, (gsize) T * K, "X");
  w_buf = upload_floats (ctx, w, (gsize) N * K, "W");
  y_buf = tailor_vk_buffer_new (ctx, (gsize) T * N * 4, "Y", &error);
  g_assert_no_error (error);

  rec = tailor_vk_recorder_new (ctx, TRUE, &error);
  g_assert_no_error (error);
  tailor_vk_matmul_f32_forward (rec, &(TailorVkBufferRange){ y_buf, 0, 0 },
                                &(TailorVkBufferRange){ x_buf, 0, 0 },
                                &(TailorVkBufferRange){ w_buf, 0, 0 }, T, K, N, NULL, NULL, &error);
  g_assert_no_error (error);
  /* One recording, submitted again for each timed run. */
  for (guint r = 0; r < runs; r++)
    {
      tailor_vk_recorder_run (rec, 120 * SECOND, &error);
      g_assert_no_error (error);
      timings = tailor_vk_recorder_get_timings (rec, &n_timings);
      g_assert_cmpuint (n_timings, ==, 1);
      ms[r] = timings[0].ms;
    }
  qsort (ms, runs, sizeof ms[0], compare_doubles);
  g_test_message ("matmul f32 T=%u K=%u N=%u on %s: median %.2f ms = %.1f GFLOP/s (best %.1f)", T,
                  K, N, tailor_vk_context_get_info (ctx)->name, ms[runs / 2],
                  2.0 * T * K * N / (ms[runs / 2] * 1e6), 2.0 * T * K * N / (ms[0] * 1e6));

  tailor_vk_buffer_download (y_buf, 0, y, (gsize) T * N * 4, &error);
  g_assert_no_error (error);
  for (guint r = 0; r < rows; r++)
    {
      guint t = r * (T - 1) / (rows - 1);

      matmul_twin (want + (gsize) r * N, bound + (gsize) r * N, x + (gsize) t * K, w, 1, K, N);
      assert_matmul_close (y + (gsize) t * N, want + (gsize) r * N, bound + (gsize) r * N, N, K);
    }
  assert_no_validation_messages (ctx);
}

static void
test_recorder_wait_times_out (void)
{
  const guint T = 512, K = 576, N = 1536;
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) x_buf = NULL;
  g_autoptr (TailorVkBuffer) w_buf = NULL;
  g_autoptr (TailorVkBuffer) y_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;

  if (ctx == NULL)
    return;
  x_buf = tailor_vk_buffer_new (ctx, (gsize) T * K * 4, "X", &error);
  g_assert_no_error (error);
  w_buf = tailor_vk_buffer_new (ctx, (gsize) N * K * 4, "W", &error);
  g_assert_no_error (error);
  y_buf = tailor_vk_buffer_new (ctx, (gsize) T * N * 4, "Y", &error);
  g_assert_no_error (error);
  tailor_vk_buffer_fill (x_buf, 0, (gsize) T * K * 4, 0, &error);
  g_assert_no_error (error);
  tailor_vk_buffer_fill (w_buf, 0, (gsize) N * K * 4, 0, &error);
  g_assert_no_error (error);

  /* Four chained ~1 GFLOP matmuls cannot finish within a zero timeout. */
  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 4; i++)
    {
      tailor_vk_matmul_f32_forward (rec, &(TailorVkBufferRange){ y_buf, 0, 0 },
                                    &(TailorVkBufferRange){ x_buf, 0, 0 },
                                    &(TailorVkBufferRange){ w_buf, 0, 0 }, T, K, N, NULL, NULL, &error);
      g_assert_no_error (error);
    }
  g_assert_false (tailor_vk_recorder_run (rec, 0, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_TIMEOUT);
  g_clear_error (&error);
  /* Still in flight: resubmitting is refused, waiting longer completes it. */
  g_assert_false (tailor_vk_recorder_submit (rec, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  g_clear_error (&error);
  tailor_vk_recorder_wait (rec, 120 * SECOND, &error);
  g_assert_no_error (error);
  assert_no_validation_messages (ctx);
}

static const TailorVkBinding swiglu_bindings[] = {
  { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
  { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
  { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
};

static TailorVkPipeline *
swiglu_pipeline (TailorVkContext *ctx, guint32 workgroup)
{
  g_autoptr (GError) error = NULL;
  TailorVkPipelineDesc desc = {
    .shader = "swiglu-forward",
    .bindings = swiglu_bindings,
    .n_bindings = G_N_ELEMENTS (swiglu_bindings),
    .push_constant_size = 4,
    .spec_constants = &workgroup,
    .n_spec_constants = 1,
  };
  TailorVkPipeline *pipeline = tailor_vk_pipeline_get (ctx, &desc, &error);

  g_assert_no_error (error);
  return pipeline;
}

static void
test_pipeline_cache_is_written_and_reused (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expected_dir = g_build_filename (g_get_user_cache_dir (), "tailor", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0, loaded;
  TailorVkPipelineDesc missing = { .shader = "no-such-shader" };

  if (ctx == NULL)
    return;
  /* Earlier tests' contexts may have saved a cache: start from none. */
  path = g_strdup (tailor_vk_context_get_pipeline_cache_path (ctx));
  g_assert_true (g_str_has_prefix (path, expected_dir));
  g_remove (path);
  g_clear_pointer (&ctx, tailor_vk_context_free);
  ctx = open_context ();
  g_assert_cmpuint (tailor_vk_context_get_pipeline_cache_loaded (ctx), ==, 0);

  /* In memory: one pipeline per shader + specialization. */
  g_assert_true (swiglu_pipeline (ctx, 64) == swiglu_pipeline (ctx, 64));
  g_assert_true (swiglu_pipeline (ctx, 64) != swiglu_pipeline (ctx, 32));
  g_assert_cmpuint (tailor_vk_context_get_n_pipelines (ctx), ==, 2);
  g_assert_null (tailor_vk_pipeline_get (ctx, &missing, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  g_clear_error (&error);
  assert_no_validation_messages (ctx);
  g_clear_pointer (&ctx, tailor_vk_context_free);

  /* Closing the context wrote the file; the next context takes it. */
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (len, >, 32);
  ctx = open_context ();
  loaded = tailor_vk_context_get_pipeline_cache_loaded (ctx);
  g_assert_cmpuint (loaded, >=, 32);
  swiglu_pipeline (ctx, 64);
  assert_no_validation_messages (ctx);
  g_clear_pointer (&ctx, tailor_vk_context_free);

  /* A damaged file is ignored (and replaced), never handed to the driver. */
  g_free (contents);
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  contents[len - 1] ^= 0x5a;
  g_assert_true (g_file_set_contents (path, contents, len, NULL));
  ctx = open_context ();
  g_assert_cmpuint (tailor_vk_context_get_pipeline_cache_loaded (ctx), ==, 0);
  swiglu_pipeline (ctx, 64);
  tailor_vk_context_save_pipeline_cache (ctx, &error);
  g_assert_no_error (error);
  assert_no_validation_messages (ctx);
  g_clear_pointer (&ctx, tailor_vk_context_free);

  /* A file from another driver version is ignored too. */
  g_free (contents);
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  contents[8] ^= 0x01;
  g_assert_true (g_file_set_contents (path, contents, len, NULL));
  ctx = open_context ();
  g_assert_cmpuint (tailor_vk_context_get_pipeline_cache_loaded (ctx), ==, 0);
  assert_no_validation_messages (ctx);
}

static void
test_pipeline_cache_honours_tailor_cache_dir (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *dir = g_dir_make_tmp ("tailor-vk-XXXXXX", &error);
      g_autoptr (TailorVkContext) ctx = NULL;

      g_assert_no_error (error);
      g_setenv ("TAILOR_CACHE_DIR", dir, TRUE);
      ctx = tailor_vk_context_new (&error);
      g_assert_no_error (error);
      g_assert_true (g_str_has_prefix (tailor_vk_context_get_pipeline_cache_path (ctx), dir));
      swiglu_pipeline (ctx, 16);
      tailor_vk_context_save_pipeline_cache (ctx, &error);
      g_assert_no_error (error);
      g_assert_true (
        g_file_test (tailor_vk_context_get_pipeline_cache_path (ctx), G_FILE_TEST_IS_REGULAR));
      g_assert_cmpint (g_remove (tailor_vk_context_get_pipeline_cache_path (ctx)), ==, 0);
      g_assert_cmpint (g_rmdir (dir), ==, 0);
      return;
    }
  if (!have_device ())
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The zero-message checks mean something only if the layer's messages reach us: a pipeline
 * layout without the push constants its shader declares must be reported. */
static void
test_validation_messages_are_recorded (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GError) error = NULL;
  guint32 workgroup = 64;
  TailorVkPipelineDesc desc = {
    .shader = "swiglu-forward",
    .bindings = swiglu_bindings,
    .n_bindings = G_N_ELEMENTS (swiglu_bindings),
    .push_constant_size = 0,
    .spec_constants = &workgroup,
    .n_spec_constants = 1,
  };

  if (ctx == NULL)
    return;
  g_assert_cmpuint (tailor_vk_context_get_n_messages (ctx), ==, 0);
  tailor_vk_pipeline_get (ctx, &desc, &error);
  g_clear_error (&error);
  g_assert_cmpuint (tailor_vk_context_get_n_messages (ctx), >, 0);
}

/* Device loss and exhausted memory come back as errors that say what to do; after a loss the
 * context refuses work at once instead of touching the dead device. */
static void
test_errors_carry_advice (void)
{
  g_autoptr (TailorVkContext) ctx = open_context ();
  g_autoptr (GError) error = NULL;
  TailorVkBuffer *buffer;
  TailorVkRecorder *rec;

  g_assert_false (tailor_vk_check (NULL, VK_ERROR_OUT_OF_DEVICE_MEMORY, "running a step", &error));
  assert_oom_with_advice (error);
  g_clear_error (&error);
  g_assert_false (tailor_vk_check (NULL, VK_ERROR_OUT_OF_HOST_MEMORY, "running a step", &error));
  assert_oom_with_advice (error);
  g_clear_error (&error);
  g_assert_false (tailor_vk_check (NULL, VK_ERROR_UNKNOWN, "running a step", &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_FAILED);
  g_clear_error (&error);
  if (ctx == NULL)
    return;

  g_assert_false (tailor_vk_check (ctx, VK_ERROR_DEVICE_LOST, "running a step", &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_DEVICE_LOST);
  g_assert_true (strstr (error->message, "resumes from its last checkpoint") != NULL);
  g_assert_true (strstr (error->message, tailor_vk_context_get_info (ctx)->name) != NULL);
  g_clear_error (&error);

  buffer = tailor_vk_buffer_new (ctx, 64, "after the loss", &error);
  g_assert_null (buffer);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_DEVICE_LOST);
  g_clear_error (&error);
  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_null (rec);
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_DEVICE_LOST);
  assert_no_validation_messages (ctx);
}

static void
test_report_names_and_versions (void)
{
  g_auto (GStrv) ops = tailor_vk_subgroup_ops_to_strv (VK_SUBGROUP_FEATURE_BASIC_BIT |
                                                       VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  g_autofree char *version = tailor_vk_version_to_string (VK_MAKE_API_VERSION (0, 1, 3, 230));

  g_assert_cmpstr (version, ==, "1.3.230");
  g_assert_cmpuint (g_strv_length (ops), ==, 2);
  g_assert_cmpstr (ops[0], ==, "basic");
  g_assert_cmpstr (ops[1], ==, "arithmetic");
  g_assert_cmpstr (tailor_vk_device_type_to_string (TAILOR_VK_DEVICE_CPU), ==, "cpu");
  g_assert_cmpstr (tailor_vk_device_type_to_string (TAILOR_VK_DEVICE_DISCRETE), ==, "discrete");
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}

int
main (int argc, char *argv[])
{
  g_autofree char *tmp = g_dir_make_tmp ("test-vk-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename (tmp, "cache", NULL);
  int status;

  /* Not G_TEST_OPTION_ISOLATE_DIRS: the Vulkan loader finds drivers and layers through
   * XDG_DATA_DIRS. Only the cache dir (the pipeline cache's default home) is private. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_setenv ("TAILOR_VK_VALIDATION", "1", TRUE);
  g_unsetenv ("TAILOR_VK_DEVICE");
  g_unsetenv ("TAILOR_CACHE_DIR");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/vk/enumerate/finds-lavapipe", test_enumerate_finds_lavapipe);
  g_test_add_func ("/vk/enumerate/without-driver-is-clear-error",
                   test_enumerate_without_driver_is_clear_error);
  g_test_add_func ("/vk/select/prefers-discrete-then-integrated-virtual-cpu",
                   test_select_prefers_discrete_then_integrated_virtual_cpu);
  g_test_add_func ("/vk/select/honours-index-and-name", test_select_honours_index_and_name);
  g_test_add_func ("/vk/select/reads-tailor-vk-device", test_select_reads_tailor_vk_device);
  g_test_add_func ("/vk/report/names-and-versions", test_report_names_and_versions);
  g_test_add_func ("/vk/errors/carry-advice", test_errors_carry_advice);
  g_test_add_func ("/vk/validation/messages-are-recorded", test_validation_messages_are_recorded);
  g_test_add_func ("/vk/memory/suballocates-first-fit", test_memory_suballocates_first_fit);
  g_test_add_func ("/vk/memory/round-trips-odd-sizes", test_memory_round_trips_odd_sizes);
  g_test_add_func ("/vk/memory/oversized-allocation-is-error-with-advice",
                   test_memory_oversized_allocation_is_error_with_advice);
  g_test_add_func ("/vk/pipeline/cache-is-written-and-reused",
                   test_pipeline_cache_is_written_and_reused);
  g_test_add_func ("/vk/pipeline/cache-honours-tailor-cache-dir",
                   test_pipeline_cache_honours_tailor_cache_dir);
  g_test_add_func ("/vk/recorder/orders-dependent-dispatches",
                   test_recorder_orders_dependent_dispatches);
  g_test_add_func ("/vk/recorder/wait-times-out", test_recorder_wait_times_out);
  g_test_add_func ("/vk/kernels/swiglu-matches-cpu", test_kernels_swiglu_matches_cpu);
  g_test_add_func ("/vk/kernels/matmul-f32-matches-cpu", test_kernels_matmul_f32_matches_cpu);
  g_test_add_func ("/vk/kernels/matmul-f32-throughput", test_kernels_matmul_f32_throughput);
  status = g_test_run ();
  remove_tree (tmp);
  return status;
}
