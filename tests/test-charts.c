/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Chart widget tests: tick and label arithmetic, live appends, hover lookup, histogram logic,
 * and real renders (PNG in light and dark style) checked pixel by pixel. Needs an X server. */

#include "config.h"

#include <math.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "tailor-bar-chart-private.h"
#include "tailor-chart-axis.h"
#include "tailor-chart-series.h"
#include "tailor-line-chart-private.h"

/* Summed per-channel distance under which a pixel counts as a given colour: anti-aliased edges
 * blend, but a 2 px line always fully covers at least one pixel row. */
#define COLOR_TOLERANCE 24

/* Ticks and labels */

typedef struct
{
  double lo;
  double hi;
  guint max_ticks;
  gboolean log_scale;
  double min;
  double max;
  double step;
  guint n_ticks;
} TicksCase;

static const TicksCase ticks_cases[] = {
  { 0, 1, 6, FALSE, 0, 1, 0.2, 6 },
  { 0.0003, 0.0071, 6, FALSE, 0, 0.008, 0.002, 5 },
  { -5, 123, 6, FALSE, -50, 150, 50, 5 },
  { -5, 123, 10, FALSE, -20, 140, 20, 9 },
  { 1, 1, 6, FALSE, 0.9, 1.1, 0.05, 5 },
  { 0, 0, 6, FALSE, 0, 1, 0.2, 6 },
  { 1000, 1600, 6, FALSE, 1000, 1600, 200, 4 },
  { 123, -5, 6, FALSE, -50, 150, 50, 5 },
  { 2.31, 2.31, 8, FALSE, 2.0, 2.6, 0.1, 7 },
  { 0.02, 9.5, 8, TRUE, 0.01, 10, 1, 4 },
  { 2, 8, 8, TRUE, 1, 10, 1, 4 },
  { 1e-5, 1e5, 6, TRUE, 1e-5, 1e5, 5, 3 },
  { 0.5, 0.5, 6, TRUE, 0.1, 1, 1, 4 },
};

static void
assert_close (double actual, double expected)
{
  g_assert_cmpfloat_with_epsilon (actual, expected, fabs (expected) * 1e-9 + 1e-12);
}

static void
test_ticks_table (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (ticks_cases); i++)
    {
      const TicksCase *c = &ticks_cases[i];
      TailorChartTicks t;

      g_test_message ("case %u: [%g, %g] max %u%s", i, c->lo, c->hi, c->max_ticks,
                      c->log_scale ? " log" : "");
      tailor_chart_ticks_compute (&t, c->lo, c->hi, c->max_ticks, c->log_scale);

      assert_close (t.min, c->min);
      assert_close (t.max, c->max);
      assert_close (t.step, c->step);
      g_assert_cmpuint (t.n_ticks, ==, c->n_ticks);
      g_assert_cmpuint (t.n_ticks, <=, c->max_ticks);
      assert_close (t.ticks[0], t.min);
      assert_close (t.ticks[t.n_ticks - 1], t.max);

      /* The ticks cover the data... */
      g_assert_cmpfloat (t.min, <=, MIN (c->lo, c->hi));
      g_assert_cmpfloat (t.max, >=, MAX (c->lo, c->hi));

      /* ...and are evenly spaced, on a 1-2-5 step for linear axes. */
      for (guint k = 1; k < t.n_ticks; k++)
        {
          g_assert_cmpfloat (t.ticks[k], >, t.ticks[k - 1]);
          if (!c->log_scale)
            assert_close (t.ticks[k] - t.ticks[k - 1], t.step);
        }
      if (!c->log_scale)
        {
          double mantissa = t.step / pow (10, floor (log10 (t.step) + 1e-9));

          g_assert_true (fabs (mantissa - 1) < 1e-9 || fabs (mantissa - 2) < 1e-9 ||
                         fabs (mantissa - 5) < 1e-9);
        }
    }
}

static void
test_ticks_log_intermediate (void)
{
  TailorChartTicks t;
  const double expected[] = { 1, 2, 5, 10 };

  tailor_chart_ticks_compute (&t, 2, 8, 8, TRUE);
  g_assert_cmpuint (t.n_ticks, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < t.n_ticks; i++)
    assert_close (t.ticks[i], expected[i]);

  /* Mapping: decades are evenly spaced and the midpoint of [1, 100] is 10. */
  tailor_chart_ticks_compute (&t, 1, 100, 3, TRUE);
  assert_close (tailor_chart_ticks_fraction (&t, 10), 0.5);
  assert_close (tailor_chart_ticks_value_at (&t, 0.5), 10);
  g_assert_true (isinf (tailor_chart_ticks_fraction (&t, 0)));
}

static void
test_ticks_exact_decimals (void)
{
  TailorChartTicks t;

  /* 3 × 0.1 must come out as the double nearest 0.3, or labels and equality checks drift. */
  tailor_chart_ticks_compute (&t, 0, 1, 11, FALSE);
  g_assert_cmpuint (t.n_ticks, ==, 11);
  g_assert_true (t.ticks[3] == 0.3);
  g_assert_true (t.ticks[7] == 0.7);
}

typedef struct
{
  double value;
  double step;
  const char *expected;
} LabelCase;

static void
test_format_tick (void)
{
  static const LabelCase cases[] = {
    { 0, 0.2, "0" },
    { 0.2, 0.2, "0.2" },
    { 0.6000000000000001, 0.2, "0.6" },
    { 1e-17, 0.2, "0" },
    { 0.05, 0.05, "0.05" },
    { 0.1, 0.05, "0.1" },
    { 0.002, 0.002, "0.002" },
    { 12, 2, "12" },
    { -50, 50, "-50" },
    { 1000, 200, "1k" },
    { 1200, 200, "1.2k" },
    { 2000, 1000, "2k" },
    { 1500000, 500000, "1.5M" },
    { 3e9, 1e9, "3G" },
    { 1e-4, 1e-4, "1e-4" },
    { 3e-4, 1e-4, "3e-4" },
    { 2.5e-5, 5e-6, "2.5e-5" },
    { 1e-3, 1e-3, "0.001" },
    { 100, 100, "100" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = tailor_chart_format_tick (cases[i].value, cases[i].step);

      g_test_message ("tick %g step %g", cases[i].value, cases[i].step);
      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

static void
test_format_value (void)
{
  static const LabelCase cases[] = {
    { 0, 0, "0" },          { 1.23456, 0, "1.23" },  { 12.345, 0, "12.3" },
    { 100, 0, "100" },      { 0.0123, 0, "0.0123" }, { -0.5, 0, "-0.5" },
    { 1234.5, 0, "1.23k" }, { 999.7, 0, "1k" },      { 0.000123456, 0, "1.23e-4" },
    { 2500000, 0, "2.5M" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = tailor_chart_format_value (cases[i].value);

      g_test_message ("value %g", cases[i].value);
      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

/* Series */

static void
on_points_changed_record (
  TailorChartSeries *series, guint position, guint removed, guint added, guint *record)
{
  record[0] = position;
  record[1] = removed;
  record[2] = added;
  record[3]++;
}

static void
test_series_append_bounds_and_signal (void)
{
  g_autoptr (TailorChartSeries) series = tailor_chart_series_new ("Loss", TAILOR_CHART_COLOR_BLUE);
  guint record[4] = { 0 };
  double x0, x1, y0, y1;

  g_signal_connect (series, "points-changed", G_CALLBACK (on_points_changed_record), record);
  g_assert_false (tailor_chart_series_get_bounds (series, &x0, &x1, &y0, &y1));

  tailor_chart_series_append (series, 1, 2.5);
  tailor_chart_series_append (series, 2, -1);
  tailor_chart_series_append (series, 3, 0.25);
  g_assert_cmpuint (record[3], ==, 3);
  g_assert_cmpuint (record[0], ==, 2);
  g_assert_cmpuint (record[1], ==, 0);
  g_assert_cmpuint (record[2], ==, 1);

  g_assert_true (tailor_chart_series_get_bounds (series, &x0, &x1, &y0, &y1));
  g_assert_cmpfloat (x0, ==, 1);
  g_assert_cmpfloat (x1, ==, 3);
  g_assert_cmpfloat (y0, ==, -1);
  g_assert_cmpfloat (y1, ==, 2.5);
  g_assert_cmpfloat (tailor_chart_series_get_min_positive_y (series), ==, 0.25);

  tailor_chart_series_clear (series);
  g_assert_cmpuint (record[3], ==, 4);
  g_assert_cmpuint (record[1], ==, 3);
  g_assert_cmpuint (tailor_chart_series_get_n_points (series), ==, 0);
  g_assert_false (tailor_chart_series_get_last (series, NULL, NULL));
}

static void
test_series_find_nearest (void)
{
  static const struct
  {
    double x;
    guint index;
  } cases[] = {
    { -5, 0 }, { 4, 0 }, { 5, 0 }, { 6, 1 }, { 20, 2 }, { 29, 3 }, { 100, 3 },
  };
  g_autoptr (TailorChartSeries) sorted = tailor_chart_series_new ("a", TAILOR_CHART_COLOR_BLUE);
  g_autoptr (TailorChartSeries) shuffled = tailor_chart_series_new ("b", TAILOR_CHART_COLOR_GREEN);
  g_autoptr (TailorChartSeries) repeated = tailor_chart_series_new ("c", TAILOR_CHART_COLOR_RED);
  const double shuffled_x[] = { 20, 0, 30, 10 };
  guint index;

  g_assert_false (tailor_chart_series_find_nearest (sorted, 1, &index));

  for (guint i = 0; i < 4; i++)
    {
      tailor_chart_series_append (sorted, i * 10, i);
      tailor_chart_series_append (shuffled, shuffled_x[i], i);
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_assert_true (tailor_chart_series_find_nearest (sorted, cases[i].x, &index));
      g_assert_cmpuint (index, ==, cases[i].index);

      /* The unsorted path must find the same x. */
      g_assert_true (tailor_chart_series_find_nearest (shuffled, cases[i].x, &index));
      g_assert_cmpfloat (tailor_chart_series_get_points (shuffled)[index].x, ==,
                         cases[i].index * 10.0);
    }

  for (guint i = 0; i < 5; i++)
    tailor_chart_series_append (repeated, i < 3 ? 1 : 2, i);
  g_assert_true (tailor_chart_series_find_nearest (repeated, 1.2, &index));
  g_assert_cmpuint (index, ==, 0);
  g_assert_true (tailor_chart_series_find_nearest (repeated, 1.9, &index));
  g_assert_cmpuint (index, ==, 3);
}

/* Widgets in a window */

static void
wait_until (GtkWidget *widget, gboolean (*done) (GtkWidget *widget))
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!done (widget) && g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  g_assert_true (done (widget));
}

static gboolean
is_allocated (GtkWidget *widget)
{
  return gtk_widget_get_mapped (widget) && gtk_widget_get_width (widget) > 0;
}

static gboolean
on_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  guint *frames = user_data;

  (*frames)++;
  return G_SOURCE_CONTINUE;
}

/* Lets style changes and relayouts land: they are applied on the next frames. */
static void
wait_frames (GtkWidget *widget, guint n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint frames = 0;
  guint id = gtk_widget_add_tick_callback (widget, on_tick, &frames, NULL);

  while (frames < n && g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  gtk_widget_remove_tick_callback (widget, id);
  g_assert_cmpuint (frames, >=, n);
}

static GtkWidget *
show_in_window (GtkWidget *chart, int width, int height)
{
  GtkWidget *window = gtk_window_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);

  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_vexpand (chart, TRUE);
  gtk_widget_add_css_class (chart, "card");
  gtk_box_append (GTK_BOX (box), chart);
  gtk_window_set_child (GTK_WINDOW (window), box);
  gtk_window_set_default_size (GTK_WINDOW (window), width, height);
  gtk_window_present (GTK_WINDOW (window));

  wait_until (chart, is_allocated);
  wait_frames (chart, 2);
  return window;
}

static void
set_dark (gboolean dark, GtkWidget *widget)
{
  AdwStyleManager *manager = adw_style_manager_get_default ();

  adw_style_manager_set_color_scheme (manager, dark ? ADW_COLOR_SCHEME_FORCE_DARK
                                                    : ADW_COLOR_SCHEME_FORCE_LIGHT);
  g_assert_true (adw_style_manager_get_dark (manager) == dark);
  if (widget != NULL)
    wait_frames (widget, 2);
}

/* Renders @widget as its window last drew it (a widget paintable reuses the render node of the
 * last frame, so a frame is awaited first), over the window background. */
static GdkTexture *
render_widget (GtkWidget *widget)
{
  GtkWidget *window = GTK_WIDGET (gtk_widget_get_root (widget));
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  graphene_rect_t bounds;
  GdkRGBA window_bg;
  int width = gdk_paintable_get_intrinsic_width (paintable);
  int height = gdk_paintable_get_intrinsic_height (paintable);

  g_assert_true (width > 0 && height > 0);
  wait_frames (widget, 2);
  if (!gtk_style_context_lookup_color (gtk_widget_get_style_context (window), "window_bg_color",
                                       &window_bg))
    g_assert_not_reached ();

  bounds = GRAPHENE_RECT_INIT (0, 0, width, height);
  gtk_snapshot_append_color (snapshot, &window_bg, &bounds);
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);

  return gsk_renderer_render_texture (renderer, node, &bounds);
}

typedef struct
{
  int width;
  int height;
  gsize stride;
  guchar *data;
} Pixels;

static void
pixels_init (Pixels *pixels, GdkTexture *texture)
{
  pixels->width = gdk_texture_get_width (texture);
  pixels->height = gdk_texture_get_height (texture);
  pixels->stride = (gsize) pixels->width * 4;
  pixels->data = g_malloc (pixels->stride * pixels->height);
  gdk_texture_download (texture, pixels->data, pixels->stride);
}

static void
pixels_clear (Pixels *pixels)
{
  g_clear_pointer (&pixels->data, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Pixels, pixels_clear)

static gboolean
pixel_is (const Pixels *pixels, int x, int y, const GdkRGBA *color)
{
  /* Cairo's ARGB32 in native byte order, opaque here since we paint over the background. */
  const guchar *p = pixels->data + (gsize) y * pixels->stride + (gsize) x * 4;
  guint32 v = *(const guint32 *) (gconstpointer) p;
  int r = (v >> 16) & 0xff;
  int g = (v >> 8) & 0xff;
  int b = v & 0xff;

  return abs (r - (int) round (color->red * 255)) + abs (g - (int) round (color->green * 255)) +
           abs (b - (int) round (color->blue * 255)) <=
         COLOR_TOLERANCE;
}

static guint
count_color (const Pixels *pixels, const graphene_rect_t *area, const GdkRGBA *color)
{
  guint n = 0;
  int x0 = MAX (0, (int) floor (area->origin.x));
  int y0 = MAX (0, (int) floor (area->origin.y));
  int x1 = MIN (pixels->width, (int) ceil (area->origin.x + area->size.width));
  int y1 = MIN (pixels->height, (int) ceil (area->origin.y + area->size.height));

  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      if (pixel_is (pixels, x, y, color))
        n++;
  return n;
}

static guint
count_differences (const Pixels *a, const Pixels *b, const graphene_rect_t *area)
{
  guint n = 0;

  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  for (int y = MAX (0, (int) area->origin.y);
       y < MIN (a->height, (int) (area->origin.y + area->size.height)); y++)
    for (int x = MAX (0, (int) area->origin.x);
         x < MIN (a->width, (int) (area->origin.x + area->size.width)); x++)
      if (memcmp (a->data + y * a->stride + x * 4, b->data + y * b->stride + x * 4, 4) != 0)
        n++;
  return n;
}

/* The card's background composited over the window's, as the chart sits on it. */
static void
expected_background (GtkWidget *chart, GdkRGBA *bg)
{
  GtkStyleContext *context = gtk_widget_get_style_context (chart);
  GdkRGBA window_bg;
  GdkRGBA card_bg;

  if (!gtk_style_context_lookup_color (context, "window_bg_color", &window_bg) ||
      !gtk_style_context_lookup_color (context, "card_bg_color", &card_bg))
    g_assert_not_reached ();

  bg->red = card_bg.red * card_bg.alpha + window_bg.red * (1 - card_bg.alpha);
  bg->green = card_bg.green * card_bg.alpha + window_bg.green * (1 - card_bg.alpha);
  bg->blue = card_bg.blue * card_bg.alpha + window_bg.blue * (1 - card_bg.alpha);
  bg->alpha = 1;
}

/* The plot area in the paintable's coordinates, which start at the chart's border box. */
static void
plot_in_texture (GtkWidget *chart, const graphene_rect_t *plot, graphene_rect_t *out)
{
  GtkStyleContext *context = gtk_widget_get_style_context (chart);
  GtkBorder padding;
  GtkBorder border;

  gtk_style_context_get_padding (context, &padding);
  gtk_style_context_get_border (context, &border);
  *out = *plot;
  out->origin.x += padding.left + border.left;
  out->origin.y += padding.top + border.top;
}

static char *
output_path (const char *name)
{
  const char *dir = g_getenv ("TAILOR_CHARTS_OUTPUT_DIR");
  g_autofree char *fallback = g_build_filename (g_get_tmp_dir (), "tailor-charts", NULL);

  if (dir == NULL)
    dir = fallback;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return g_build_filename (dir, name, NULL);
}

static void
save_png (GdkTexture *texture, const char *name)
{
  g_autofree char *path = output_path (name);

  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("wrote %s", path);
}

/* Line chart behaviour */

static TailorChartSeries *
add_series (TailorLineChart *chart, const char *name, TailorChartColor color)
{
  g_autoptr (TailorChartSeries) series = tailor_chart_series_new (name, color);

  tailor_line_chart_add_series (chart, series);
  return series;
}

static void
assert_accessible_description (GtkWidget *widget, const char *expected)
{
  g_autofree char *mismatch = gtk_test_accessible_check_property (
    GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, expected);

  if (mismatch != NULL)
    g_error ("accessible description: %s", mismatch);
}

static void
test_line_append_updates_range_and_description (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  TailorLineChart *line = TAILOR_LINE_CHART (chart);
  GtkWidget *window = show_in_window (chart, 480, 300);
  TailorChartSeries *train;
  const TailorChartTicks *x;
  const TailorChartTicks *y;

  g_assert_true (gtk_accessible_get_accessible_role (GTK_ACCESSIBLE (chart)) ==
                 GTK_ACCESSIBLE_ROLE_IMG);
  assert_accessible_description (chart, "No data yet");

  tailor_line_chart_set_x_title (line, "Step");
  train = add_series (line, "Training loss", TAILOR_CHART_COLOR_BLUE);
  assert_accessible_description (chart, "Training loss: no data yet");

  tailor_chart_series_append (train, 1, 2.5);
  x = tailor_line_chart_get_x_ticks (line);
  y = tailor_line_chart_get_y_ticks (line);
  g_assert_true (tailor_chart_ticks_covers (x, 1) && tailor_chart_ticks_covers (y, 2.5));
  g_assert_cmpfloat (y->max, <, 3);
  assert_accessible_description (chart, "Training loss: latest value 2.5 (Step 1)");

  tailor_chart_series_append (train, 200, 0.8123);
  x = tailor_line_chart_get_x_ticks (line);
  y = tailor_line_chart_get_y_ticks (line);
  g_assert_cmpfloat (x->max, >=, 200);
  g_assert_cmpfloat (x->max, <, 400);
  g_assert_cmpfloat (y->min, <=, 0.8123);
  g_assert_cmpfloat (y->max, >=, 2.5);
  assert_accessible_description (chart, "Training loss: latest value 0.812 (Step 200)");

  tailor_chart_series_append (add_series (line, "Held-out loss", TAILOR_CHART_COLOR_ORANGE), 100,
                              1.5);
  assert_accessible_description (chart, "Training loss: latest value 0.812 (Step 200); "
                                        "Held-out loss: latest value 1.5 (Step 100)");

  /* y from zero: the axis starts at 0 whatever the data. */
  tailor_line_chart_set_y_limits (line, 0, NAN);
  g_assert_cmpfloat (tailor_line_chart_get_y_ticks (line)->min, ==, 0);

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
render_once (GtkWidget *chart)
{
  g_autoptr (GdkTexture) texture = render_widget (chart);

  g_assert_nonnull (texture);
}

static void
test_line_live_append_is_incremental (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  TailorLineChart *line = TAILOR_LINE_CHART (chart);
  GtkWidget *window = show_in_window (chart, 480, 300);
  TailorChartSeries *train = add_series (line, "Training loss", TAILOR_CHART_COLOR_BLUE);
  guint layouts, full, segments;
  guint layouts2, full2, segments2;

  for (guint i = 0; i <= 44; i++)
    tailor_chart_series_append (train, i, 2.0 - i * 0.01);
  render_once (chart);
  tailor_line_chart_get_stats (line, &layouts, &full, &segments);
  g_assert_cmpuint (full, >=, 1);

  /* Inside the current axes: no new ticks, and only the new segment is stroked. */
  g_assert_true (tailor_chart_ticks_covers (tailor_line_chart_get_x_ticks (line), 49));
  for (guint i = 45; i <= 49; i++)
    {
      tailor_chart_series_append (train, i, 1.5);
      render_once (chart);
    }
  tailor_line_chart_get_stats (line, &layouts2, &full2, &segments2);
  g_assert_cmpuint (layouts2, ==, layouts);
  g_assert_cmpuint (full2, ==, full);
  g_assert_cmpuint (segments2, ==, segments + 5);

  /* Leaving the axes recomputes the ticks and strokes the series again from its start. */
  tailor_chart_series_append (train, 5000, 1.0);
  render_once (chart);
  tailor_line_chart_get_stats (line, &layouts2, &full2, &segments2);
  g_assert_cmpuint (layouts2, ==, layouts + 1);
  g_assert_cmpuint (full2, ==, full + 1);
  g_assert_cmpfloat (tailor_line_chart_get_x_ticks (line)->max, >=, 5000);

  gtk_window_destroy (GTK_WINDOW (window));
}

static double
data_x_to_widget (TailorLineChart *line, double x)
{
  graphene_rect_t plot;

  tailor_line_chart_get_plot_area (line, &plot);
  return plot.origin.x +
         tailor_chart_ticks_fraction (tailor_line_chart_get_x_ticks (line), x) * plot.size.width;
}

static void
test_line_hover_finds_nearest_point (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  TailorLineChart *line = TAILOR_LINE_CHART (chart);
  GtkWidget *window = show_in_window (chart, 480, 300);
  TailorChartSeries *train = add_series (line, "Training", TAILOR_CHART_COLOR_BLUE);
  TailorChartSeries *eval = add_series (line, "Held-out", TAILOR_CHART_COLOR_ORANGE);
  g_autoptr (GArray) hits = NULL;
  const TailorChartHit *hit;

  hits = tailor_line_chart_lookup (line, 100);
  g_assert_cmpuint (hits->len, ==, 0);
  g_clear_pointer (&hits, g_array_unref);

  for (guint i = 0; i <= 100; i++)
    {
      tailor_chart_series_append (train, i, 3.0 / (1 + i));
      if (i % 25 == 0)
        tailor_chart_series_append (eval, i, 3.2 / (1 + i));
    }

  hits = tailor_line_chart_lookup (line, data_x_to_widget (line, 37.4));
  g_assert_cmpuint (hits->len, ==, 2);
  hit = &g_array_index (hits, TailorChartHit, 0);
  g_assert_true (hit->series == train);
  g_assert_cmpuint (hit->index, ==, 37);
  g_assert_cmpfloat (hit->y, ==, 3.0 / 38);
  hit = &g_array_index (hits, TailorChartHit, 1);
  g_assert_true (hit->series == eval);
  g_assert_cmpfloat (hit->x, ==, 25);
  g_clear_pointer (&hits, g_array_unref);

  hits = tailor_line_chart_lookup (line, data_x_to_widget (line, 38));
  g_assert_cmpfloat (g_array_index (hits, TailorChartHit, 1).x, ==, 50);
  g_clear_pointer (&hits, g_array_unref);

  /* Beyond the plot the nearest point is the last one. */
  hits = tailor_line_chart_lookup (line, gtk_widget_get_width (chart) + 50.0);
  g_assert_cmpuint (g_array_index (hits, TailorChartHit, 0).index, ==, 100);

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_line_measure (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  GtkWidget *bars = tailor_bar_chart_new ();
  int min;
  int nat;

  g_object_ref_sink (chart);
  g_object_ref_sink (bars);
  gtk_widget_measure (chart, GTK_ORIENTATION_HORIZONTAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, >, 80);
  g_assert_cmpint (nat, >=, 300);
  g_assert_cmpint (nat, >, min);
  gtk_widget_measure (bars, GTK_ORIENTATION_VERTICAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, >, 60);
  g_assert_cmpint (nat, >=, 180);
  g_object_unref (chart);
  g_object_unref (bars);
}

/* Histogram and bar chart behaviour */

static void
test_histogram_bucket_index (void)
{
  static const double edges[] = { 0, 128, 256, 384, 512 };
  static const struct
  {
    double x;
    int bucket;
  } cases[] = {
    { -1, -1 }, { 0, 0 },   { 127.9, 0 }, { 128, 1 },  { 300, 2 },
    { 511, 3 }, { 512, 3 }, { 513, -1 },  { NAN, -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (tailor_chart_bucket_index (edges, 4, cases[i].x), ==, cases[i].bucket);
  g_assert_cmpint (tailor_chart_bucket_index (edges, 0, 1), ==, -1);
}

static void
test_histogram_past_marker (void)
{
  g_assert_false (tailor_chart_bucket_past_marker (384, 512, 512));
  g_assert_true (tailor_chart_bucket_past_marker (500, 600, 512));
  g_assert_true (tailor_chart_bucket_past_marker (512, 640, 512));
  g_assert_false (tailor_chart_bucket_past_marker (0, 128, 512));
  g_assert_false (tailor_chart_bucket_past_marker (0, 128, NAN));
}

static void
test_histogram_bins_on_nice_edges (void)
{
  static const double values[] = { 3, 7, 12, 18, 25, 33, 41, 47, 95 };
  static const double edges_expected[] = { 0, 20, 40, 60, 80, 100 };
  static const double counts_expected[] = { 4, 2, 2, 0, 1 };
  g_autoptr (GArray) edges = NULL;
  g_autoptr (GArray) counts = NULL;
  double total;

  tailor_chart_histogram_bin (values, G_N_ELEMENTS (values), 5, &edges, &counts);
  g_assert_cmpuint (edges->len, ==, G_N_ELEMENTS (edges_expected));
  g_assert_cmpuint (counts->len, ==, G_N_ELEMENTS (counts_expected));
  for (guint i = 0; i < edges->len; i++)
    g_assert_cmpfloat (g_array_index (edges, double, i), ==, edges_expected[i]);
  for (guint i = 0; i < counts->len; i++)
    g_assert_cmpfloat (g_array_index (counts, double, i), ==, counts_expected[i]);
  g_clear_pointer (&edges, g_array_unref);
  g_clear_pointer (&counts, g_array_unref);

  tailor_chart_histogram_bin (NULL, 0, 5, &edges, &counts);
  g_assert_cmpuint (counts->len, ==, 0);
  g_clear_pointer (&edges, g_array_unref);
  g_clear_pointer (&counts, g_array_unref);

  /* Non-finite values are skipped rather than binned or crashing the lookup. */
  tailor_chart_histogram_bin ((const double[]){ NAN, 4, INFINITY, 6 }, 4, 5, &edges, &counts);
  g_assert_cmpfloat (g_array_index (edges, double, 0), <=, 4);
  g_assert_cmpfloat (g_array_index (edges, double, edges->len - 1), >=, 6);
  total = 0;
  for (guint i = 0; i < counts->len; i++)
    total += g_array_index (counts, double, i);
  g_assert_cmpfloat (total, ==, 2);
}

static void
test_histogram_marker_description (void)
{
  static const double edges[] = { 0, 128, 256, 384, 512, 640, 768 };
  static const double counts[] = { 5, 20, 30, 10, 4, 1 };
  GtkWidget *chart = tailor_bar_chart_new ();
  TailorBarChart *bars = TAILOR_BAR_CHART (chart);
  GtkWidget *window = show_in_window (chart, 480, 300);
  graphene_rect_t plot;

  assert_accessible_description (chart, "No data yet");
  tailor_bar_chart_set_histogram (bars, edges, counts, G_N_ELEMENTS (counts));
  g_assert_true (tailor_bar_chart_get_mode (bars) == TAILOR_BAR_CHART_HISTOGRAM);
  g_assert_cmpfloat (tailor_bar_chart_count_past_marker (bars), ==, 0);
  g_assert_true (isnan (tailor_bar_chart_get_marker_px (bars)));

  tailor_bar_chart_set_marker (bars, 512, "Longer than 512 tokens");
  g_assert_cmpfloat (tailor_bar_chart_count_past_marker (bars), ==, 5);
  assert_accessible_description (chart, "Histogram of 70 values in 6 buckets from 0 to 768; 5 in "
                                        "buckets past the marker at 512 (Longer than 512 tokens)");

  /* The marker sits two thirds of the way along [0, 768], and hovering finds its buckets. */
  tailor_bar_chart_get_plot_area (bars, &plot);
  g_assert_cmpfloat_with_epsilon (tailor_bar_chart_get_marker_px (bars),
                                  plot.origin.x + plot.size.width * 2.0 / 3.0, 1e-6);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x + 1), ==, 0);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x + plot.size.width * 0.7), ==, 4);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x - 5), ==, -1);
  g_assert_cmpfloat (tailor_bar_chart_get_y_ticks (bars)->min, ==, 0);
  g_assert_cmpfloat (tailor_bar_chart_get_y_ticks (bars)->max, >=, 30);

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
fill_grouped (TailorBarChart *bars)
{
  static const char *categories[] = { "Format", "Tone", "Terminology", "Refusals", NULL };
  g_autoptr (TailorChartSeries) base = tailor_chart_series_new ("Base", TAILOR_CHART_COLOR_GRAY);
  g_autoptr (TailorChartSeries) tuned =
    tailor_chart_series_new ("Tuned", TAILOR_CHART_COLOR_ACCENT);
  static const double base_values[] = { 0.42, 0.55, 0.31, 0.74 };
  static const double tuned_values[] = { 0.81, 0.68, 0.77, 0.79 };

  tailor_bar_chart_set_categories (bars, categories);
  tailor_bar_chart_add_series (bars, base);
  tailor_bar_chart_add_series (bars, tuned);
  for (guint i = 0; i < G_N_ELEMENTS (base_values); i++)
    {
      tailor_chart_series_append (base, i, base_values[i]);
      tailor_chart_series_append (tuned, i, tuned_values[i]);
    }
}

static void
test_grouped_lookup_and_description (void)
{
  GtkWidget *chart = tailor_bar_chart_new ();
  TailorBarChart *bars = TAILOR_BAR_CHART (chart);
  GtkWidget *window = show_in_window (chart, 480, 300);
  graphene_rect_t plot;

  fill_grouped (bars);
  g_assert_true (tailor_bar_chart_get_mode (bars) == TAILOR_BAR_CHART_GROUPED);
  assert_accessible_description (chart, "Format: Base 0.42, Tuned 0.81; Tone: Base 0.55, Tuned "
                                        "0.68; Terminology: Base 0.31, Tuned 0.77; Refusals: Base "
                                        "0.74, Tuned 0.79");

  tailor_bar_chart_get_plot_area (bars, &plot);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x + plot.size.width * 0.375), ==, 1);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x + plot.size.width - 1), ==, 3);
  g_assert_cmpint (tailor_bar_chart_lookup (bars, plot.origin.x - 1), ==, -1);
  g_assert_cmpfloat (tailor_bar_chart_get_y_ticks (bars)->min, ==, 0);

  gtk_window_destroy (GTK_WINDOW (window));
}

/* Renders */

static void
build_loss_chart (TailorLineChart *line)
{
  TailorChartSeries *train = add_series (line, "Training loss", TAILOR_CHART_COLOR_ACCENT);
  TailorChartSeries *eval = add_series (line, "Held-out loss", TAILOR_CHART_COLOR_ORANGE);
  guint32 seed = 7;

  tailor_line_chart_set_x_title (line, "Step");
  tailor_line_chart_set_y_title (line, "Loss");
  tailor_line_chart_set_y_limits (line, 0, NAN);

  for (guint step = 1; step <= 400; step++)
    {
      double noise;

      /* A small LCG keeps the wiggle reproducible. */
      seed = seed * 1664525u + 1013904223u;
      noise = ((seed >> 8) / 16777216.0 - 0.5) * 0.12;
      tailor_chart_series_append (train, step, 0.9 + 1.6 * exp (-(double) step / 70.0) + noise);
      if (step % 25 == 0)
        tailor_chart_series_append (eval, step, 1.05 + 1.5 * exp (-(double) step / 80.0));
    }
}

static void
test_render_line (gconstpointer data)
{
  gboolean dark = GPOINTER_TO_INT (data);
  GtkWidget *chart = tailor_line_chart_new ();
  TailorLineChart *line = TAILOR_LINE_CHART (chart);
  GtkWidget *window = show_in_window (chart, 640, 360);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GdkTexture) hovered = NULL;
  g_auto (Pixels) pixels = { 0 };
  g_auto (Pixels) hover_pixels = { 0 };
  graphene_rect_t plot;
  graphene_rect_t area;
  graphene_rect_t column;
  GdkRGBA train;
  GdkRGBA eval;
  GdkRGBA bg;
  double guide;

  set_dark (dark, chart);
  build_loss_chart (line);
  wait_frames (chart, 1);

  texture = render_widget (chart);
  save_png (texture, dark ? "charts-line-dark.png" : "charts-line-light.png");
  pixels_init (&pixels, texture);

  tailor_line_chart_get_plot_area (line, &plot);
  plot_in_texture (chart, &plot, &area);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_ACCENT, chart, &train);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_ORANGE, chart, &eval);
  expected_background (chart, &bg);

  /* Each line crosses the plot: hundreds of its pixels, and mostly background around them. */
  g_assert_cmpuint (count_color (&pixels, &area, &train), >, area.size.width);
  g_assert_cmpuint (count_color (&pixels, &area, &eval), >, area.size.width / 2);
  g_assert_cmpuint (count_color (&pixels, &area, &bg), >, area.size.width * area.size.height * 0.8);
  /* The top-left corner of the plot is above both curves: background, not a stray fill. */
  g_assert_true (pixel_is (&pixels, (int) area.origin.x + 4, (int) area.origin.y + 12, &bg));

  /* Hover: a guide line and the read-out appear; nothing else moves. */
  guide = data_x_to_widget (line, 150);
  tailor_line_chart_set_hover (line, guide, plot.origin.y + 40);
  hovered = render_widget (chart);
  save_png (hovered, dark ? "charts-line-hover-dark.png" : "charts-line-hover-light.png");
  pixels_init (&hover_pixels, hovered);

  column = GRAPHENE_RECT_INIT (area.origin.x + (guide - plot.origin.x) - 1, area.origin.y, 3,
                               area.size.height);
  g_assert_cmpuint (count_differences (&pixels, &hover_pixels, &column), >, area.size.height * 0.5);
  g_assert_cmpuint (count_differences (&pixels, &hover_pixels,
                                       &GRAPHENE_RECT_INIT (0, 0, pixels.width, pixels.height)),
                    >, 1500);

  tailor_line_chart_set_hover (line, NAN, NAN);
  gtk_window_destroy (GTK_WINDOW (window));
  set_dark (FALSE, NULL);
}

/* At the 360 px the app adapts down to, the legend wraps and the lines still get drawn. */
static void
test_render_line_narrow (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  TailorLineChart *line = TAILOR_LINE_CHART (chart);
  GtkWidget *window = show_in_window (chart, 336, 300);
  g_autoptr (GdkTexture) texture = NULL;
  g_auto (Pixels) pixels = { 0 };
  graphene_rect_t plot;
  graphene_rect_t area;
  GdkRGBA train;

  set_dark (FALSE, chart);
  build_loss_chart (line);
  texture = render_widget (chart);
  save_png (texture, "charts-line-narrow-light.png");
  pixels_init (&pixels, texture);

  tailor_line_chart_get_plot_area (line, &plot);
  plot_in_texture (chart, &plot, &area);
  g_assert_cmpfloat (area.origin.x + area.size.width, <=, pixels.width);
  g_assert_cmpfloat (area.size.width, >, pixels.width * 0.6);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_ACCENT, chart, &train);
  g_assert_cmpuint (count_color (&pixels, &area, &train), >, area.size.width);

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_render_line_empty (void)
{
  GtkWidget *chart = tailor_line_chart_new ();
  GtkWidget *window = show_in_window (chart, 480, 240);
  g_autoptr (GdkTexture) texture = NULL;
  g_auto (Pixels) pixels = { 0 };
  GdkRGBA bg;
  guint total;
  guint background;

  set_dark (FALSE, chart);
  tailor_line_chart_set_empty_text (TAILOR_LINE_CHART (chart), "Training has not started yet");
  add_series (TAILOR_LINE_CHART (chart), "Training loss", TAILOR_CHART_COLOR_ACCENT);
  wait_frames (chart, 1);
  texture = render_widget (chart);
  save_png (texture, "charts-line-empty-light.png");
  pixels_init (&pixels, texture);
  expected_background (chart, &bg);

  /* Only the centred text: mostly background, but not all of it. */
  total = pixels.width * pixels.height;
  background = count_color (&pixels, &GRAPHENE_RECT_INIT (0, 0, pixels.width, pixels.height), &bg);
  g_assert_cmpuint (background, <, total);
  g_assert_cmpuint (background, >, total * 0.8);

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_render_grouped (gconstpointer data)
{
  gboolean dark = GPOINTER_TO_INT (data);
  GtkWidget *chart = tailor_bar_chart_new ();
  TailorBarChart *bars = TAILOR_BAR_CHART (chart);
  GtkWidget *window = show_in_window (chart, 560, 320);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GdkTexture) hovered = NULL;
  g_auto (Pixels) pixels = { 0 };
  g_auto (Pixels) hover_pixels = { 0 };
  graphene_rect_t plot;
  graphene_rect_t area;
  GdkRGBA base;
  GdkRGBA tuned;
  GdkRGBA bg;

  set_dark (dark, chart);
  fill_grouped (bars);
  wait_frames (chart, 1);
  texture = render_widget (chart);
  save_png (texture, dark ? "charts-bars-dark.png" : "charts-bars-light.png");
  pixels_init (&pixels, texture);

  tailor_bar_chart_get_plot_area (bars, &plot);
  plot_in_texture (chart, &plot, &area);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_GRAY, chart, &base);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_ACCENT, chart, &tuned);
  expected_background (chart, &bg);

  /* Tuned bars are taller than base ones here, so they cover more pixels. */
  g_assert_cmpuint (count_color (&pixels, &area, &base), >, 2000);
  g_assert_cmpuint (count_color (&pixels, &area, &tuned), >, count_color (&pixels, &area, &base));
  g_assert_cmpuint (count_color (&pixels, &area, &bg), >, area.size.width * area.size.height * 0.4);
  /* Between groups there is background. */
  g_assert_true (
    pixel_is (&pixels, (int) area.origin.x + 2, (int) (area.origin.y + area.size.height - 4), &bg));

  tailor_bar_chart_set_hover (bars, plot.origin.x + plot.size.width * 0.375, plot.origin.y + 10);
  hovered = render_widget (chart);
  save_png (hovered, dark ? "charts-bars-hover-dark.png" : "charts-bars-hover-light.png");
  pixels_init (&hover_pixels, hovered);
  g_assert_cmpuint (count_differences (&pixels, &hover_pixels,
                                       &GRAPHENE_RECT_INIT (0, 0, pixels.width, pixels.height)),
                    >, 1500);

  gtk_window_destroy (GTK_WINDOW (window));
  set_dark (FALSE, NULL);
}

static void
test_render_histogram (gconstpointer data)
{
  gboolean dark = GPOINTER_TO_INT (data);
  GtkWidget *chart = tailor_bar_chart_new ();
  TailorBarChart *bars = TAILOR_BAR_CHART (chart);
  GtkWidget *window = show_in_window (chart, 560, 320);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GArray) lengths = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) edges = NULL;
  g_autoptr (GArray) counts = NULL;
  g_auto (Pixels) pixels = { 0 };
  graphene_rect_t plot;
  graphene_rect_t area;
  graphene_rect_t left;
  graphene_rect_t right;
  GdkRGBA normal;
  GdkRGBA past;
  double marker;
  double first_past;
  int straddling;
  guint32 seed = 11;

  set_dark (dark, chart);
  /* Token lengths: most records short, a tail running past the 512-token sequence length. */
  for (guint i = 0; i < 400; i++)
    {
      double u1;
      double u2;
      double length;

      seed = seed * 1664525u + 1013904223u;
      u1 = ((seed >> 8) + 1) / 16777217.0;
      seed = seed * 1664525u + 1013904223u;
      u2 = (seed >> 8) / 16777216.0;
      length = exp (5.4 + 0.45 * sqrt (-2 * log (u1)) * cos (2 * G_PI * u2));
      g_array_append_val (lengths, length);
    }
  tailor_bar_chart_set_value_title (bars, "Records");
  tailor_bar_chart_set_x_title (bars, "Tokens per record");
  tailor_bar_chart_set_histogram_from_values (bars, (const double *) (gpointer) lengths->data,
                                              lengths->len, 16);
  tailor_bar_chart_set_marker (bars, 512, "Longer than the sequence length (512)");
  wait_frames (chart, 1);

  texture = render_widget (chart);
  save_png (texture, dark ? "charts-histogram-dark.png" : "charts-histogram-light.png");
  pixels_init (&pixels, texture);

  tailor_bar_chart_get_plot_area (bars, &plot);
  plot_in_texture (chart, &plot, &area);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_BLUE, chart, &normal);
  tailor_chart_color_resolve (TAILOR_CHART_COLOR_ORANGE, chart, &past);
  marker = area.origin.x + tailor_bar_chart_get_marker_px (bars) - plot.origin.x;

  /* Left of the bucket holding the marker the bars are the normal colour; from that bucket on
   * they are highlighted, since it can hold records longer than the marker. */
  tailor_chart_histogram_bin ((const double *) (gpointer) lengths->data, lengths->len, 16, &edges,
                              &counts);
  straddling =
    tailor_chart_bucket_index ((const double *) (gpointer) edges->data, counts->len, 512);
  g_assert_cmpint (straddling, >, 0);
  first_past = area.origin.x +
               (g_array_index (edges, double, straddling) - g_array_index (edges, double, 0)) /
                 (g_array_index (edges, double, counts->len) - g_array_index (edges, double, 0)) *
                 area.size.width;
  left = GRAPHENE_RECT_INIT (area.origin.x, area.origin.y, first_past - area.origin.x - 2,
                             area.size.height);
  right = GRAPHENE_RECT_INIT (marker + 3, area.origin.y,
                              area.origin.x + area.size.width - marker - 3, area.size.height);
  g_assert_cmpuint (count_color (&pixels, &left, &normal), >, 3000);
  g_assert_cmpuint (count_color (&pixels, &left, &past), ==, 0);
  g_assert_cmpuint (count_color (&pixels, &right, &past), >, 20);
  g_assert_cmpuint (count_color (&pixels, &right, &normal), ==, 0);
  /* The marker line itself runs the height of the plot. */
  g_assert_cmpuint (
    count_color (&pixels, &GRAPHENE_RECT_INIT (marker - 1, area.origin.y, 2, area.size.height),
                 &past),
    >, area.size.height * 0.9);

  gtk_window_destroy (GTK_WINDOW (window));
  set_dark (FALSE, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr (GtkCssProvider) css = NULL;

  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_test_skip ("no display: run under xvfb-run");
      g_print ("1..0 # SKIP no display\n");
      return 77;
    }
  adw_init ();

  /* What the app's stylesheet gives charts sitting in a card. */
  css = gtk_css_provider_new ();
  gtk_css_provider_load_from_data (css, "linechart.card, barchart.card { padding: 12px 16px; }",
                                   -1);
  gtk_style_context_add_provider_for_display (gdk_display_get_default (), GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);

  g_test_add_func ("/chart-axis/nice-ticks-cover-ranges-on-1-2-5-steps", test_ticks_table);
  g_test_add_func ("/chart-axis/log-ticks-add-2-and-5-in-short-ranges",
                   test_ticks_log_intermediate);
  g_test_add_func ("/chart-axis/decimal-ticks-are-exact", test_ticks_exact_decimals);
  g_test_add_func ("/chart-axis/tick-labels-are-compact", test_format_tick);
  g_test_add_func ("/chart-axis/values-show-three-significant-digits", test_format_value);
  g_test_add_func ("/chart-series/append-tracks-bounds-and-signals",
                   test_series_append_bounds_and_signal);
  g_test_add_func ("/chart-series/find-nearest-bisects-or-scans", test_series_find_nearest);
  g_test_add_func ("/line-chart/append-updates-range-and-accessible-description",
                   test_line_append_updates_range_and_description);
  g_test_add_func ("/line-chart/live-append-strokes-only-new-segments",
                   test_line_live_append_is_incremental);
  g_test_add_func ("/line-chart/hover-finds-nearest-point-per-series",
                   test_line_hover_finds_nearest_point);
  g_test_add_func ("/charts/measure-has-sensible-sizes", test_line_measure);
  g_test_add_func ("/histogram/bucket-index-is-half-open", test_histogram_bucket_index);
  g_test_add_func ("/histogram/buckets-reaching-past-marker", test_histogram_past_marker);
  g_test_add_func ("/histogram/values-bin-on-nice-edges", test_histogram_bins_on_nice_edges);
  g_test_add_func ("/bar-chart/histogram-marker-count-and-description",
                   test_histogram_marker_description);
  g_test_add_func ("/bar-chart/grouped-lookup-and-description",
                   test_grouped_lookup_and_description);
  g_test_add_data_func ("/render/line-chart/light", GINT_TO_POINTER (FALSE), test_render_line);
  g_test_add_data_func ("/render/line-chart/dark", GINT_TO_POINTER (TRUE), test_render_line);
  g_test_add_func ("/render/line-chart/empty-state", test_render_line_empty);
  g_test_add_func ("/render/line-chart/narrow-window", test_render_line_narrow);
  g_test_add_data_func ("/render/bar-chart/light", GINT_TO_POINTER (FALSE), test_render_grouped);
  g_test_add_data_func ("/render/bar-chart/dark", GINT_TO_POINTER (TRUE), test_render_grouped);
  g_test_add_data_func ("/render/histogram/light", GINT_TO_POINTER (FALSE), test_render_histogram);
  g_test_add_data_func ("/render/histogram/dark", GINT_TO_POINTER (TRUE), test_render_histogram);

  return g_test_run ();
}
