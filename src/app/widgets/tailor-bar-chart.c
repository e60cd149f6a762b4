/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorBarChart: bars are plain colour nodes under rounded clips; the histogram highlights the
 * buckets that reach past its marker (e.g. records longer than the sequence length). */

#include "config.h"

#include <math.h>
#include <string.h>

#include <adwaita.h>
#include <glib/gi18n-lib.h>

#include "tailor-bar-chart-private.h"
#include "tailor-chart-paint-private.h"

#define BAR_RADIUS    3.0
#define BAR_GAP       2.0
#define MAX_BAR_WIDTH 56.0
/* Share of a category's width taken by its bars; the rest separates the groups. */
#define GROUP_FILL   0.72
#define MARKER_WIDTH 2.0
/* Pulls the read-out in from its 12 px pointer offset to sit 4 px beside the hovered slot. */
#define BUBBLE_GAP 8.0

struct _TailorBarChart
{
  GtkWidget parent_instance;

  TailorBarChartMode mode;
  GListStore *series;
  GStrv categories;
  GArray *edges;
  GArray *counts;
  TailorChartColor bar_color;
  TailorChartColor past_color;
  double marker;
  char *marker_label;
  char *value_title;
  char *x_title;
  char *empty_text;
  char *description;
  gboolean show_values;

  gboolean layout_valid;
  gboolean have_data;
  TailorChartTicks y_ticks;
  TailorChartTicks x_ticks;
  graphene_rect_t plot;
  guint n_groups;

  double hover_x;
};

G_DEFINE_FINAL_TYPE (TailorBarChart, tailor_bar_chart, GTK_TYPE_WIDGET)

enum
{
  PROP_0,
  PROP_SERIES,
  PROP_VALUE_TITLE,
  PROP_X_TITLE,
  PROP_EMPTY_TEXT,
  PROP_SHOW_VALUES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update_description (TailorBarChart *self);

/**
 * tailor_chart_bucket_index:
 * @edges: (array length=n_buckets+1): increasing bucket edges
 * @x: a value
 *
 * Buckets are half-open [lo, hi) except the last, which also holds its upper edge.
 *
 * Returns: the bucket holding @x, or -1 outside the edges
 */
int
tailor_chart_bucket_index (const double *edges, guint n_buckets, double x)
{
  guint lo = 0;
  guint hi = n_buckets;

  if (n_buckets == 0 || !(x >= edges[0]) || x > edges[n_buckets])
    return -1;
  if (x == edges[n_buckets])
    return (int) n_buckets - 1;

  /* Largest i with edges[i] <= x. */
  while (hi - lo > 1)
    {
      guint mid = lo + (hi - lo) / 2;

      if (edges[mid] <= x)
        lo = mid;
      else
        hi = mid;
    }
  return (int) lo;
}

/* A bucket [lo, hi) is past the marker when it can hold values above it. */
gboolean
tailor_chart_bucket_past_marker (double lo, double hi, double marker)
{
  return isfinite (marker) && hi > marker;
}

/**
 * tailor_chart_histogram_bin:
 * @edges: (out) (transfer full): nice 1-2-5 edges covering the values
 * @counts: (out) (transfer full): values per bucket
 *
 * Non-finite values are left out. Both arrays are empty when no value remains.
 */
void
tailor_chart_histogram_bin (
  const double *values, gsize n_values, guint max_buckets, GArray **edges, GArray **counts)
{
  TailorChartTicks ticks;
  double lo = INFINITY;
  double hi = -INFINITY;
  guint n_buckets;

  *edges = g_array_new (FALSE, TRUE, sizeof (double));
  *counts = g_array_new (FALSE, TRUE, sizeof (double));

  for (gsize i = 0; i < n_values; i++)
    {
      if (!isfinite (values[i]))
        continue;
      lo = MIN (lo, values[i]);
      hi = MAX (hi, values[i]);
    }
  if (lo > hi)
    return;

  tailor_chart_ticks_compute (&ticks, lo, hi, max_buckets + 1, FALSE);
  n_buckets = ticks.n_ticks - 1;
  g_array_append_vals (*edges, ticks.ticks, ticks.n_ticks);
  g_array_set_size (*counts, n_buckets);

  for (gsize i = 0; i < n_values; i++)
    {
      int b;

      if (!isfinite (values[i]))
        continue;
      b = tailor_chart_bucket_index (ticks.ticks, n_buckets, values[i]);
      g_assert (b >= 0);
      g_array_index (*counts, double, b) += 1.0;
    }
}

static guint
n_buckets (TailorBarChart *self)
{
  return self->counts->len;
}

static guint
n_series (TailorBarChart *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->series));
}

static TailorChartSeries *
nth_series (TailorBarChart *self, guint i)
{
  TailorChartSeries *series = g_list_model_get_item (G_LIST_MODEL (self->series), i);

  /* The store keeps its own reference for as long as the chart uses the series. */
  g_object_unref (series);
  return series;
}

/* The i-th point of a series is its value for the i-th category. */
static gboolean
series_value (TailorChartSeries *series, guint category, double *value)
{
  if (category >= tailor_chart_series_get_n_points (series))
    return FALSE;
  *value = tailor_chart_series_get_points (series)[category].y;
  return TRUE;
}

static void
invalidate_layout (TailorBarChart *self)
{
  self->layout_valid = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
data_changed (TailorBarChart *self)
{
  update_description (self);
  invalidate_layout (self);
}

static guint
legend_items (TailorBarChart *self, TailorChartLegendItem *items)
{
  GtkWidget *widget = GTK_WIDGET (self);
  guint n = 0;

  if (self->mode == TAILOR_BAR_CHART_GROUPED)
    {
      for (guint i = 0; i < n_series (self); i++)
        {
          TailorChartSeries *series = nth_series (self, i);

          tailor_chart_color_resolve (tailor_chart_series_get_color (series), widget,
                                      &items[n].color);
          items[n++].label = tailor_chart_series_get_name (series);
        }
      return n;
    }

  if (self->value_title != NULL && *self->value_title != '\0')
    {
      tailor_chart_color_resolve (self->bar_color, widget, &items[n].color);
      items[n++].label = self->value_title;
    }
  if (isfinite (self->marker) && self->marker_label != NULL && *self->marker_label != '\0')
    {
      tailor_chart_color_resolve (self->past_color, widget, &items[n].color);
      items[n++].label = self->marker_label;
    }
  return n;
}

static guint
max_legend_items (TailorBarChart *self)
{
  return MAX (n_series (self), 2);
}

static double
widest_label (GtkWidget *widget, const TailorChartTicks *ticks)
{
  double widest = 0.0;

  for (guint i = 0; i < ticks->n_ticks; i++)
    {
      g_autofree char *text = tailor_chart_format_tick (ticks->ticks[i], ticks->step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double w;

      tailor_chart_layout_size (layout, &w, NULL);
      widest = MAX (widest, w);
    }
  return widest;
}

static gboolean
value_range (TailorBarChart *self, double *lo, double *hi)
{
  gboolean have = FALSE;

  /* Bars grow from zero, so zero is always on the axis. */
  *lo = 0.0;
  *hi = 0.0;

  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM)
    {
      for (guint i = 0; i < n_buckets (self); i++)
        *hi = MAX (*hi, g_array_index (self->counts, double, i));
      self->n_groups = n_buckets (self);
      return n_buckets (self) > 0;
    }

  self->n_groups = self->categories != NULL ? g_strv_length (self->categories) : 0;
  for (guint i = 0; i < n_series (self); i++)
    {
      TailorChartSeries *series = nth_series (self, i);
      double y0, y1;

      if (!tailor_chart_series_get_bounds (series, NULL, NULL, &y0, &y1))
        continue;
      have = TRUE;
      *lo = MIN (*lo, y0);
      *hi = MAX (*hi, y1);
      self->n_groups = MAX (self->n_groups, tailor_chart_series_get_n_points (series));
    }
  return have;
}

static void
ensure_layout (TailorBarChart *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double width = gtk_widget_get_width (widget);
  double height = gtk_widget_get_height (widget);
  g_autofree TailorChartLegendItem *items = g_new0 (TailorChartLegendItem, max_legend_items (self));
  double line;
  double lo;
  double hi;
  double legend;
  double top;
  double bottom;
  double left;
  double right = TAILOR_CHART_SPACING;
  double plot_height;
  double plot_width;

  if (self->layout_valid)
    return;
  self->layout_valid = TRUE;
  self->have_data = value_range (self, &lo, &hi);

  line = tailor_chart_line_height (widget);
  legend = tailor_chart_legend_height (widget, items, legend_items (self, items), width);
  top = (legend > 0.0 ? legend + line * 0.75 : 0.0) + (self->show_values ? line + 4.0 : line / 2.0);
  bottom = line + TAILOR_CHART_SPACING;
  if (self->x_title != NULL && *self->x_title != '\0')
    bottom += line + 2.0;
  plot_height = MAX (height - top - bottom, 1.0);

  tailor_chart_ticks_compute (&self->y_ticks, lo, hi, (guint) (plot_height / (line * 2.5)) + 1,
                              FALSE);
  left = widest_label (widget, &self->y_ticks) + 2 * TAILOR_CHART_SPACING;

  memset (&self->x_ticks, 0, sizeof self->x_ticks);
  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM && n_buckets (self) > 0)
    {
      double first = g_array_index (self->edges, double, 0);
      double last = g_array_index (self->edges, double, n_buckets (self));
      double label_width = 4 * line;
      TailorChartTicks all;

      for (guint pass = 0; pass < 2; pass++)
        {
          plot_width = MAX (width - left - label_width / 2.0 - 2.0, 1.0);
          tailor_chart_ticks_compute (&all, first, last,
                                      (guint) (plot_width / (label_width + 3 * line)) + 1, FALSE);
          label_width = widest_label (widget, &all);
        }
      right = label_width / 2.0 + 2.0;

      /* The axis spans exactly the bucket edges; keep the nice ticks that fall on it. */
      self->x_ticks = all;
      self->x_ticks.n_ticks = 0;
      self->x_ticks.min = first;
      self->x_ticks.max = last;
      for (guint i = 0; i < all.n_ticks; i++)
        if (all.ticks[i] >= first - all.step * 1e-9 && all.ticks[i] <= last + all.step * 1e-9)
          self->x_ticks.ticks[self->x_ticks.n_ticks++] = all.ticks[i];
    }

  plot_width = MAX (width - left - right, 1.0);
  self->plot = GRAPHENE_RECT_INIT (left, top, plot_width, plot_height);
}

static double
y_to_px (TailorBarChart *self, double y)
{
  return self->plot.origin.y + self->plot.size.height -
         tailor_chart_ticks_fraction (&self->y_ticks, y) * self->plot.size.height;
}

static double
hist_x_to_px (TailorBarChart *self, double x)
{
  double first = g_array_index (self->edges, double, 0);
  double last = g_array_index (self->edges, double, n_buckets (self));

  return self->plot.origin.x + (x - first) / (last - first) * self->plot.size.width;
}

static double
group_width (TailorBarChart *self)
{
  return self->plot.size.width / MAX (self->n_groups, 1);
}

/* Horizontal extent of bucket or category @i. */
static void
slot_extent (TailorBarChart *self, guint i, double *x0, double *x1)
{
  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM)
    {
      *x0 = hist_x_to_px (self, g_array_index (self->edges, double, i));
      *x1 = hist_x_to_px (self, g_array_index (self->edges, double, i + 1));
    }
  else
    {
      *x0 = self->plot.origin.x + i * group_width (self);
      *x1 = *x0 + group_width (self);
    }
}

/* A bar from zero to @value, rounded at its far end, with its label above (or below) it;
 * histograms leave empty buckets unlabelled, where a "0" would only add clutter. */
static void
snapshot_bar (TailorBarChart *self,
              GtkSnapshot *snapshot,
              const TailorChartStyle *style,
              const GdkRGBA *color,
              double x,
              double bar_width,
              double value,
              double label_room,
              gboolean label_zero)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double zero = y_to_px (self, 0.0);
  double end = y_to_px (self, value);
  double radius = MIN (BAR_RADIUS, bar_width / 3.0);
  graphene_rect_t rect = GRAPHENE_RECT_INIT (x, MIN (zero, end), bar_width, fabs (end - zero));

  if (rect.size.height > 0.0)
    tailor_chart_append_rounded (snapshot, color, &rect, value >= 0 ? radius : 0.0,
                                 value >= 0 ? 0.0 : radius);

  if (self->show_values && (label_zero || value != 0.0))
    {
      g_autofree char *text = tailor_chart_format_value (value);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double tw;
      double th;

      tailor_chart_layout_size (layout, &tw, &th);
      if (tw <= label_room)
        tailor_chart_append_layout (snapshot, layout, x + (bar_width - tw) / 2.0,
                                    value >= 0 ? end - th - 2.0 : end + 2.0, &style->dim);
    }
}

static void
snapshot_y_axis (TailorBarChart *self, GtkSnapshot *snapshot, const TailorChartStyle *style)
{
  GtkWidget *widget = GTK_WIDGET (self);

  for (guint i = 0; i < self->y_ticks.n_ticks; i++)
    {
      double v = self->y_ticks.ticks[i];
      double py = round (y_to_px (self, v));
      g_autofree char *text = tailor_chart_format_tick (v, self->y_ticks.step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double tw;
      double th;

      tailor_chart_append_rect (snapshot, v == 0.0 ? &style->baseline : &style->grid,
                                self->plot.origin.x, py - (v == 0.0 ? 0.0 : 1.0),
                                self->plot.size.width, 1.0);
      tailor_chart_layout_size (layout, &tw, &th);
      tailor_chart_append_layout (snapshot, layout, self->plot.origin.x - TAILOR_CHART_SPACING - tw,
                                  py - th / 2.0, &style->dim);
    }

  if (self->x_title != NULL && *self->x_title != '\0')
    {
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, self->x_title, TRUE);
      double tw;
      double th;

      tailor_chart_layout_size (layout, &tw, &th);
      tailor_chart_append_layout (snapshot, layout,
                                  self->plot.origin.x + (self->plot.size.width - tw) / 2.0,
                                  gtk_widget_get_height (widget) - th, &style->dim);
    }
}

static void
snapshot_grouped (TailorBarChart *self, GtkSnapshot *snapshot, const TailorChartStyle *style)
{
  GtkWidget *widget = GTK_WIDGET (self);
  guint ns = MAX (n_series (self), 1);
  double group = group_width (self);
  double inner = group * GROUP_FILL;
  double bar_width = (inner - BAR_GAP * (ns - 1)) / ns;
  double label_y = self->plot.origin.y + self->plot.size.height + TAILOR_CHART_SPACING;

  if (bar_width > MAX_BAR_WIDTH)
    {
      bar_width = MAX_BAR_WIDTH;
      inner = bar_width * ns + BAR_GAP * (ns - 1);
    }
  bar_width = MAX (bar_width, 1.0);

  for (guint c = 0; c < self->n_groups; c++)
    {
      double gx = self->plot.origin.x + c * group;
      const char *name =
        self->categories != NULL && c < g_strv_length (self->categories) ? self->categories[c] : "";
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, name, FALSE);

      for (guint s = 0; s < n_series (self); s++)
        {
          TailorChartSeries *series = nth_series (self, s);
          GdkRGBA color;
          double value;

          if (!series_value (series, c, &value))
            continue;
          tailor_chart_color_resolve (tailor_chart_series_get_color (series), widget, &color);
          snapshot_bar (self, snapshot, style, &color,
                        round (gx + (group - inner) / 2.0 + s * (bar_width + BAR_GAP)), bar_width,
                        value, MIN (group / ns, bar_width + 2 * TAILOR_CHART_SPACING), TRUE);
        }

      /* Long category names are cut to their slot rather than run into the neighbours. */
      pango_layout_set_width (layout, (int) MAX (group - 4.0, 1.0) * PANGO_SCALE);
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
      pango_layout_set_alignment (layout, PANGO_ALIGN_CENTER);
      tailor_chart_append_layout (snapshot, layout, gx + 2.0, label_y, &style->dim);
    }
}

static void
snapshot_histogram (TailorBarChart *self, GtkSnapshot *snapshot, const TailorChartStyle *style)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double width = gtk_widget_get_width (widget);
  GdkRGBA bar;
  GdkRGBA past;

  tailor_chart_color_resolve (self->bar_color, widget, &bar);
  tailor_chart_color_resolve (self->past_color, widget, &past);

  for (guint i = 0; i < n_buckets (self); i++)
    {
      double lo = g_array_index (self->edges, double, i);
      double hi = g_array_index (self->edges, double, i + 1);
      double x0;
      double x1;
      double gap;

      slot_extent (self, i, &x0, &x1);
      /* Adjacent buckets touch; a hairline gap keeps them apart while there is room. */
      gap = x1 - x0 >= 4.0 ? 1.0 : 0.0;
      snapshot_bar (self, snapshot, style,
                    tailor_chart_bucket_past_marker (lo, hi, self->marker) ? &past : &bar,
                    x0 + gap / 2.0, x1 - x0 - gap, g_array_index (self->counts, double, i),
                    x1 - x0 + 2.0, FALSE);
    }

  for (guint i = 0; i < self->x_ticks.n_ticks; i++)
    {
      double v = self->x_ticks.ticks[i];
      double px = round (hist_x_to_px (self, v));
      g_autofree char *text = tailor_chart_format_tick (v, self->x_ticks.step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double tw;

      tailor_chart_append_rect (snapshot, &style->baseline, px - 0.5,
                                self->plot.origin.y + self->plot.size.height, 1.0, 4.0);
      tailor_chart_layout_size (layout, &tw, NULL);
      tailor_chart_append_layout (
        snapshot, layout, CLAMP (px - tw / 2.0, 0.0, width - tw),
        self->plot.origin.y + self->plot.size.height + TAILOR_CHART_SPACING, &style->dim);
    }

  if (isfinite (self->marker))
    {
      double px = tailor_bar_chart_get_marker_px (self);

      if (px >= self->plot.origin.x && px <= self->plot.origin.x + self->plot.size.width)
        tailor_chart_append_rect (snapshot, &past, round (px - MARKER_WIDTH / 2.0),
                                  self->plot.origin.y - TAILOR_CHART_SPACING, MARKER_WIDTH,
                                  self->plot.size.height + TAILOR_CHART_SPACING);
    }
}

static void
snapshot_hover (TailorBarChart *self,
                GtkSnapshot *snapshot,
                const TailorChartStyle *style,
                gboolean band)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int index = isnan (self->hover_x) ? -1 : tailor_bar_chart_lookup (self, self->hover_x);
  g_autofree TailorChartLegendItem *rows = NULL;
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *title = NULL;
  double x0;
  double x1;

  if (index < 0)
    return;

  slot_extent (self, (guint) index, &x0, &x1);
  if (band)
    {
      tailor_chart_append_rect (snapshot, &style->hover, x0, self->plot.origin.y, x1 - x0,
                                self->plot.size.height);
      return;
    }

  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM)
    {
      double lo = g_array_index (self->edges, double, index);
      double hi = g_array_index (self->edges, double, index + 1);
      g_autofree char *lo_text = tailor_chart_format_tick (lo, hi - lo);
      g_autofree char *hi_text = tailor_chart_format_tick (hi, hi - lo);

      rows = g_new0 (TailorChartLegendItem, 1);
      tailor_chart_color_resolve (
        tailor_chart_bucket_past_marker (lo, hi, self->marker) ? self->past_color : self->bar_color,
        widget, &rows[0].color);
      rows[0].label =
        self->value_title != NULL && *self->value_title != '\0' ? self->value_title : _ ("Count");
      g_ptr_array_add (values,
                       tailor_chart_format_value (g_array_index (self->counts, double, index)));
      /* Translators: a histogram bucket's range, e.g. "384–512" */
      title = g_strdup_printf (_ ("%s–%s"), lo_text, hi_text);
    }
  else
    {
      rows = g_new0 (TailorChartLegendItem, MAX (n_series (self), 1));
      for (guint s = 0; s < n_series (self); s++)
        {
          TailorChartSeries *series = nth_series (self, s);
          double value;

          tailor_chart_color_resolve (tailor_chart_series_get_color (series), widget,
                                      &rows[s].color);
          rows[s].label = tailor_chart_series_get_name (series);
          g_ptr_array_add (values, series_value (series, (guint) index, &value)
                                     ? tailor_chart_format_value (value)
                                     : g_strdup ("—"));
        }
      title = g_strdup (self->categories != NULL && (guint) index < g_strv_length (self->categories)
                          ? self->categories[index]
                          : "");
    }

  tailor_chart_readout_snapshot (
    widget, snapshot, style, title, rows, (const char *const *) values->pdata, values->len,
    x0 + BUBBLE_GAP, x1 - BUBBLE_GAP, self->plot.origin.y + TAILOR_CHART_SPACING,
    &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget), gtk_widget_get_height (widget)));
}

static void
tailor_bar_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  TailorBarChart *self = TAILOR_BAR_CHART (widget);
  g_autofree TailorChartLegendItem *items = g_new0 (TailorChartLegendItem, max_legend_items (self));
  TailorChartStyle style;
  guint n_items;

  ensure_layout (self);
  tailor_chart_style_init (&style, widget);

  if (!self->have_data)
    {
      tailor_chart_empty_snapshot (widget, snapshot, &style, self->empty_text);
      return;
    }

  snapshot_hover (self, snapshot, &style, TRUE);
  snapshot_y_axis (self, snapshot, &style);
  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM)
    snapshot_histogram (self, snapshot, &style);
  else
    snapshot_grouped (self, snapshot, &style);

  n_items = legend_items (self, items);
  tailor_chart_legend_snapshot (widget, snapshot, &style, items, n_items, 0.0, 0.0,
                                gtk_widget_get_width (widget));
  snapshot_hover (self, snapshot, &style, FALSE);
}

static void
tailor_bar_chart_measure (GtkWidget *widget,
                          GtkOrientation orientation,
                          int for_size,
                          int *minimum,
                          int *natural,
                          int *minimum_baseline,
                          int *natural_baseline)
{
  double line = tailor_chart_line_height (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = (int) ceil (line * 12);
      *natural = (int) ceil (line * 30);
    }
  else
    {
      *minimum = (int) ceil (line * 8);
      *natural = (int) ceil (line * 16);
    }
}

static void
tailor_bar_chart_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  TAILOR_BAR_CHART (widget)->layout_valid = FALSE;
}

static void
tailor_bar_chart_system_setting_changed (GtkWidget *widget, GtkSystemSetting setting)
{
  GTK_WIDGET_CLASS (tailor_bar_chart_parent_class)->system_setting_changed (widget, setting);
  invalidate_layout (TAILOR_BAR_CHART (widget));
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, TailorBarChart *self)
{
  tailor_bar_chart_set_hover (self, x, y);
}

static void
on_leave (GtkEventControllerMotion *controller, TailorBarChart *self)
{
  tailor_bar_chart_set_hover (self, NAN, NAN);
}

static void
on_points_changed (TailorBarChart *self)
{
  data_changed (self);
}

static void
on_dark_changed (TailorBarChart *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
disconnect_all_series (TailorBarChart *self)
{
  for (guint i = 0; i < n_series (self); i++)
    g_signal_handlers_disconnect_by_data (nth_series (self, i), self);
  g_list_store_remove_all (self->series);
}

static void
tailor_bar_chart_dispose (GObject *object)
{
  TailorBarChart *self = (TailorBarChart *) object;

  if (self->series != NULL)
    disconnect_all_series (self);

  G_OBJECT_CLASS (tailor_bar_chart_parent_class)->dispose (object);
}

static void
tailor_bar_chart_finalize (GObject *object)
{
  TailorBarChart *self = (TailorBarChart *) object;

  g_clear_object (&self->series);
  g_clear_pointer (&self->categories, g_strfreev);
  g_clear_pointer (&self->edges, g_array_unref);
  g_clear_pointer (&self->counts, g_array_unref);
  g_clear_pointer (&self->marker_label, g_free);
  g_clear_pointer (&self->value_title, g_free);
  g_clear_pointer (&self->x_title, g_free);
  g_clear_pointer (&self->empty_text, g_free);
  g_clear_pointer (&self->description, g_free);

  G_OBJECT_CLASS (tailor_bar_chart_parent_class)->finalize (object);
}

static void
tailor_bar_chart_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorBarChart *self = TAILOR_BAR_CHART (object);

  switch (prop_id)
    {
      case PROP_SERIES:
        g_value_set_object (value, self->series);
        break;

      case PROP_VALUE_TITLE:
        g_value_set_string (value, self->value_title);
        break;

      case PROP_X_TITLE:
        g_value_set_string (value, self->x_title);
        break;

      case PROP_EMPTY_TEXT:
        g_value_set_string (value, self->empty_text);
        break;

      case PROP_SHOW_VALUES:
        g_value_set_boolean (value, self->show_values);
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_bar_chart_set_property (GObject *object,
                               guint prop_id,
                               const GValue *value,
                               GParamSpec *pspec)
{
  TailorBarChart *self = TAILOR_BAR_CHART (object);

  switch (prop_id)
    {
      case PROP_VALUE_TITLE:
        tailor_bar_chart_set_value_title (self, g_value_get_string (value));
        break;

      case PROP_X_TITLE:
        tailor_bar_chart_set_x_title (self, g_value_get_string (value));
        break;

      case PROP_EMPTY_TEXT:
        tailor_bar_chart_set_empty_text (self, g_value_get_string (value));
        break;

      case PROP_SHOW_VALUES:
        tailor_bar_chart_set_show_values (self, g_value_get_boolean (value));
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_bar_chart_class_init (TailorBarChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tailor_bar_chart_dispose;
  object_class->finalize = tailor_bar_chart_finalize;
  object_class->get_property = tailor_bar_chart_get_property;
  object_class->set_property = tailor_bar_chart_set_property;

  widget_class->snapshot = tailor_bar_chart_snapshot;
  widget_class->measure = tailor_bar_chart_measure;
  widget_class->size_allocate = tailor_bar_chart_size_allocate;
  widget_class->system_setting_changed = tailor_bar_chart_system_setting_changed;

  properties[PROP_SERIES] = g_param_spec_object ("series", NULL, NULL, G_TYPE_LIST_MODEL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_VALUE_TITLE] =
    g_param_spec_string ("value-title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_X_TITLE] =
    g_param_spec_string ("x-title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMPTY_TEXT] =
    g_param_spec_string ("empty-text", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_VALUES] =
    g_param_spec_boolean ("show-values", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "barchart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
tailor_bar_chart_init (TailorBarChart *self)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();

  self->series = g_list_store_new (TAILOR_TYPE_CHART_SERIES);
  self->edges = g_array_new (FALSE, TRUE, sizeof (double));
  self->counts = g_array_new (FALSE, TRUE, sizeof (double));
  self->bar_color = TAILOR_CHART_COLOR_BLUE;
  self->past_color = TAILOR_CHART_COLOR_ORANGE;
  self->marker = NAN;
  self->show_values = TRUE;
  self->empty_text = g_strdup (_ ("No data yet"));
  self->hover_x = NAN;

  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  g_signal_connect_object (adw_style_manager_get_default (), "notify::dark",
                           G_CALLBACK (on_dark_changed), self, G_CONNECT_SWAPPED);

  update_description (self);
}

GtkWidget *
tailor_bar_chart_new (void)
{
  return g_object_new (TAILOR_TYPE_BAR_CHART, NULL);
}

TailorBarChartMode
tailor_bar_chart_get_mode (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), TAILOR_BAR_CHART_GROUPED);

  return self->mode;
}

/**
 * tailor_bar_chart_set_categories:
 * @categories: (array zero-terminated=1) (nullable): the label under each group of bars
 *
 * Switches the chart to grouped bars.
 */
void
tailor_bar_chart_set_categories (TailorBarChart *self, const char *const *categories)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  g_clear_pointer (&self->categories, g_strfreev);
  self->categories = g_strdupv ((char **) categories);
  self->mode = TAILOR_BAR_CHART_GROUPED;
  data_changed (self);
}

/**
 * tailor_bar_chart_add_series:
 * @series: its i-th point's y is the bar for the i-th category (x is not used)
 *
 * Switches the chart to grouped bars; bars of one category sit side by side in series order.
 */
void
tailor_bar_chart_add_series (TailorBarChart *self, TailorChartSeries *series)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));
  g_return_if_fail (TAILOR_IS_CHART_SERIES (series));
  g_return_if_fail (!g_list_store_find (self->series, series, NULL));

  g_list_store_append (self->series, series);
  g_signal_connect_swapped (series, "points-changed", G_CALLBACK (on_points_changed), self);
  g_signal_connect_swapped (series, "notify::name", G_CALLBACK (on_points_changed), self);
  g_signal_connect_swapped (series, "notify::color", G_CALLBACK (on_points_changed), self);
  self->mode = TAILOR_BAR_CHART_GROUPED;
  data_changed (self);
}

void
tailor_bar_chart_remove_series (TailorBarChart *self, TailorChartSeries *series)
{
  guint position;

  g_return_if_fail (TAILOR_IS_BAR_CHART (self));
  g_return_if_fail (TAILOR_IS_CHART_SERIES (series));

  if (!g_list_store_find (self->series, series, &position))
    return;

  g_signal_handlers_disconnect_by_data (series, self);
  g_list_store_remove (self->series, position);
  data_changed (self);
}

/**
 * tailor_bar_chart_get_series:
 *
 * Returns: (transfer none): the grouped-bar series, in the order their bars are drawn
 */
GListModel *
tailor_bar_chart_get_series (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  return G_LIST_MODEL (self->series);
}

/**
 * tailor_bar_chart_set_histogram:
 * @edges: (array length=n_buckets+1): increasing bucket edges
 * @counts: (array length=n_buckets): how many values fell in each bucket
 *
 * Switches the chart to a histogram.
 */
void
tailor_bar_chart_set_histogram (TailorBarChart *self,
                                const double *edges,
                                const double *counts,
                                guint n_buckets)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));
  g_return_if_fail (n_buckets == 0 || (edges != NULL && counts != NULL));

  for (guint i = 0; i < n_buckets; i++)
    g_return_if_fail (edges[i] < edges[i + 1] && counts[i] >= 0.0);

  g_array_set_size (self->edges, 0);
  g_array_set_size (self->counts, 0);
  if (n_buckets > 0)
    {
      g_array_append_vals (self->edges, edges, n_buckets + 1);
      g_array_append_vals (self->counts, counts, n_buckets);
    }
  self->mode = TAILOR_BAR_CHART_HISTOGRAM;
  data_changed (self);
}

/**
 * tailor_bar_chart_set_histogram_from_values:
 * @values: (array length=n_values): raw values, e.g. each record's token count
 * @max_buckets: the most buckets wanted; edges fall on a nice 1-2-5 step
 */
void
tailor_bar_chart_set_histogram_from_values (TailorBarChart *self,
                                            const double *values,
                                            gsize n_values,
                                            guint max_buckets)
{
  g_autoptr (GArray) edges = NULL;
  g_autoptr (GArray) counts = NULL;

  g_return_if_fail (TAILOR_IS_BAR_CHART (self));
  g_return_if_fail (n_values == 0 || values != NULL);

  tailor_chart_histogram_bin (values, n_values, max_buckets, &edges, &counts);
  tailor_bar_chart_set_histogram (self, (const double *) (gpointer) edges->data,
                                  (const double *) (gpointer) counts->data, counts->len);
}

void
tailor_bar_chart_set_histogram_colors (TailorBarChart *self,
                                       TailorChartColor bars,
                                       TailorChartColor past_marker)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  self->bar_color = bars;
  self->past_color = past_marker;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/**
 * tailor_bar_chart_set_marker:
 * @x: where the vertical marker goes on the histogram's axis, or NAN for none
 * @label: (nullable): its legend entry, e.g. "Longer than the sequence length"
 *
 * Buckets that can hold values above @x are drawn in the highlight colour.
 */
void
tailor_bar_chart_set_marker (TailorBarChart *self, double x, const char *label)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  self->marker = x;
  g_free (self->marker_label);
  self->marker_label = g_strdup (label);
  data_changed (self);
}

static gboolean
replace_string (char **field, const char *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  g_free (*field);
  *field = g_strdup (value);
  return TRUE;
}

const char *
tailor_bar_chart_get_value_title (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  return self->value_title;
}

/* What a histogram counts, e.g. "Records": its legend entry and read-out row. */
void
tailor_bar_chart_set_value_title (TailorBarChart *self, const char *title)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  if (!replace_string (&self->value_title, title))
    return;
  data_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VALUE_TITLE]);
}

const char *
tailor_bar_chart_get_x_title (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  return self->x_title;
}

void
tailor_bar_chart_set_x_title (TailorBarChart *self, const char *title)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  if (!replace_string (&self->x_title, title))
    return;
  data_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_X_TITLE]);
}

const char *
tailor_bar_chart_get_empty_text (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  return self->empty_text;
}

void
tailor_bar_chart_set_empty_text (TailorBarChart *self, const char *text)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  if (!replace_string (&self->empty_text, text != NULL ? text : ""))
    return;
  update_description (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EMPTY_TEXT]);
}

gboolean
tailor_bar_chart_get_show_values (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), FALSE);

  return self->show_values;
}

/* Value labels above the bars, drawn only where they fit. */
void
tailor_bar_chart_set_show_values (TailorBarChart *self, gboolean show_values)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  show_values = !!show_values;
  if (self->show_values == show_values)
    return;
  self->show_values = show_values;
  invalidate_layout (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_VALUES]);
}

/* Internal API for the tests and the chart itself. */

/* Sum of the counts in buckets past the marker; 0 without a marker. */
double
tailor_bar_chart_count_past_marker (TailorBarChart *self)
{
  double total = 0.0;

  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), 0.0);

  for (guint i = 0; i < n_buckets (self); i++)
    if (tailor_chart_bucket_past_marker (g_array_index (self->edges, double, i),
                                         g_array_index (self->edges, double, i + 1), self->marker))
      total += g_array_index (self->counts, double, i);
  return total;
}

/**
 * tailor_bar_chart_dup_description:
 *
 * Returns: (transfer full): the summary given to assistive technologies
 */
char *
tailor_bar_chart_dup_description (TailorBarChart *self)
{
  g_autoptr (GString) text = g_string_new (NULL);

  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM && n_buckets (self) > 0)
    {
      double total = 0.0;
      g_autofree char *total_text = NULL;
      g_autofree char *lo = tailor_chart_format_value (g_array_index (self->edges, double, 0));
      g_autofree char *hi =
        tailor_chart_format_value (g_array_index (self->edges, double, n_buckets (self)));

      for (guint i = 0; i < n_buckets (self); i++)
        total += g_array_index (self->counts, double, i);
      total_text = tailor_chart_format_value (total);

      /* Translators: accessible summary of a histogram, e.g. "Histogram of 340 values in 8
       * buckets from 0 to 1.6k" */
      g_string_append_printf (text, _ ("Histogram of %s values in %u buckets from %s to %s"),
                              total_text, n_buckets (self), lo, hi);
      if (isfinite (self->marker))
        {
          g_autofree char *past =
            tailor_chart_format_value (tailor_bar_chart_count_past_marker (self));
          g_autofree char *at = tailor_chart_format_value (self->marker);

          /* Translators: continues the histogram summary, e.g. "; 27 in buckets past the
           * marker at 512 (Longer than the sequence length)" */
          g_string_append_printf (text, _ ("; %s in buckets past the marker at %s (%s)"), past, at,
                                  self->marker_label != NULL ? self->marker_label : "");
        }
    }
  else if (self->mode == TAILOR_BAR_CHART_GROUPED)
    {
      guint n_groups = self->categories != NULL ? g_strv_length (self->categories) : 0;

      for (guint s = 0; s < n_series (self); s++)
        n_groups = MAX (n_groups, tailor_chart_series_get_n_points (nth_series (self, s)));

      for (guint c = 0; c < n_groups && n_series (self) > 0; c++)
        {
          if (text->len > 0)
            g_string_append (text, "; ");
          g_string_append_printf (text, "%s:",
                                  self->categories != NULL && c < g_strv_length (self->categories)
                                    ? self->categories[c]
                                    : "");
          for (guint s = 0; s < n_series (self); s++)
            {
              TailorChartSeries *series = nth_series (self, s);
              g_autofree char *value_text = NULL;
              double value;

              if (!series_value (series, c, &value))
                continue;
              value_text = tailor_chart_format_value (value);
              g_string_append_printf (text, "%s %s %s", s > 0 ? "," : "",
                                      tailor_chart_series_get_name (series), value_text);
            }
        }
    }

  if (text->len == 0)
    g_string_append (text, self->empty_text);

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
update_description (TailorBarChart *self)
{
  g_autofree char *description = tailor_bar_chart_dup_description (self);

  if (g_strcmp0 (description, self->description) == 0)
    return;

  g_free (self->description);
  self->description = g_steal_pointer (&description);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  self->description, -1);
}

/**
 * tailor_bar_chart_lookup:
 * @widget_x: a horizontal position in widget coordinates
 *
 * Returns: the category or bucket under @widget_x, or -1
 */
int
tailor_bar_chart_lookup (TailorBarChart *self, double widget_x)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), -1);

  ensure_layout (self);
  if (!self->have_data || self->n_groups == 0)
    return -1;

  if (self->mode == TAILOR_BAR_CHART_HISTOGRAM)
    {
      double first = g_array_index (self->edges, double, 0);
      double last = g_array_index (self->edges, double, n_buckets (self));
      double x = first + (widget_x - self->plot.origin.x) / self->plot.size.width * (last - first);

      return tailor_chart_bucket_index ((const double *) (gpointer) self->edges->data,
                                        n_buckets (self), x);
    }

  if (widget_x < self->plot.origin.x || widget_x >= self->plot.origin.x + self->plot.size.width)
    return -1;
  return (int) MIN ((widget_x - self->plot.origin.x) / group_width (self), self->n_groups - 1);
}

/* What the motion controller calls; NAN hides the read-out. */
void
tailor_bar_chart_set_hover (TailorBarChart *self, double widget_x, double widget_y)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  if (isnan (widget_y))
    widget_x = NAN;
  if (isnan (widget_x) && isnan (self->hover_x))
    return;
  self->hover_x = widget_x;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tailor_bar_chart_get_plot_area (TailorBarChart *self, graphene_rect_t *plot)
{
  g_return_if_fail (TAILOR_IS_BAR_CHART (self));

  ensure_layout (self);
  *plot = self->plot;
}

const TailorChartTicks *
tailor_bar_chart_get_y_ticks (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NULL);

  ensure_layout (self);
  return &self->y_ticks;
}

/* Where the marker line is drawn, in widget coordinates; NAN without marker or histogram. */
double
tailor_bar_chart_get_marker_px (TailorBarChart *self)
{
  g_return_val_if_fail (TAILOR_IS_BAR_CHART (self), NAN);

  ensure_layout (self);
  if (self->mode != TAILOR_BAR_CHART_HISTOGRAM || n_buckets (self) == 0 || !isfinite (self->marker))
    return NAN;
  return hist_x_to_px (self, self->marker);
}
