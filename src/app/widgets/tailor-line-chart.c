/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorLineChart: series lines are cairo render nodes cached per series; a live append only
 * strokes the new segments, and ticks are recomputed only when data leaves the current axes. */

#include "config.h"

#include <math.h>

#include <adwaita.h>
#include <glib/gi18n-lib.h>

#include "tailor-chart-paint-private.h"
#include "tailor-line-chart-private.h"

#define LINE_WIDTH      2.0
#define LAST_DOT_RADIUS 3.5
/* Past this many cached runs a series is stroked again as one node, keeping snapshots short. */
#define MAX_SEGMENT_NODES 64
#define LEGEND_TITLE_GAP  16.0

typedef struct
{
  TailorLineChart *chart;
  TailorChartSeries *series;
  GPtrArray *nodes;
  guint n_drawn;
} SeriesEntry;

struct _TailorLineChart
{
  GtkWidget parent_instance;

  GListStore *series;
  GPtrArray *entries;
  char *x_title;
  char *y_title;
  char *empty_text;
  char *description;
  double x_limits[2];
  double y_limits[2];
  gboolean log_y;
  gboolean count_points;

  gboolean layout_valid;
  gboolean have_data;
  TailorChartTicks x_ticks;
  TailorChartTicks y_ticks;
  graphene_rect_t plot;
  double legend_height;

  /* Which layout and style the cached series nodes were stroked for. */
  guint cache_layout;
  gboolean cache_dark;

  double hover_x;

  guint layouts;
  guint full_paths;
  guint segment_paths;
};

G_DEFINE_FINAL_TYPE (TailorLineChart, tailor_line_chart, GTK_TYPE_WIDGET)

enum
{
  PROP_0,
  PROP_SERIES,
  PROP_LOG_Y,
  PROP_X_TITLE,
  PROP_Y_TITLE,
  PROP_EMPTY_TEXT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update_description (TailorLineChart *self);

static void
series_entry_reset (SeriesEntry *entry)
{
  g_ptr_array_set_size (entry->nodes, 0);
  entry->n_drawn = 0;
}

static void
series_entry_free (gpointer data)
{
  SeriesEntry *entry = data;

  g_signal_handlers_disconnect_by_data (entry->series, entry->chart);
  g_clear_object (&entry->series);
  g_clear_pointer (&entry->nodes, g_ptr_array_unref);
  g_free (entry);
}

static SeriesEntry *
find_entry (TailorLineChart *self, TailorChartSeries *series, guint *position)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);

      if (entry->series == series)
        {
          if (position != NULL)
            *position = i;
          return entry;
        }
    }
  return NULL;
}

static void
invalidate_layout (TailorLineChart *self)
{
  self->layout_valid = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Whether a new point falls outside an axis side that follows the data. */
static gboolean
point_needs_new_ticks (TailorLineChart *self, double x, double y)
{
  if ((x < self->x_ticks.min && !isfinite (self->x_limits[0])) ||
      (x > self->x_ticks.max && !isfinite (self->x_limits[1])))
    return TRUE;

  if (self->log_y && y <= 0.0)
    return FALSE;
  return (y < self->y_ticks.min && !isfinite (self->y_limits[0])) ||
         (y > self->y_ticks.max && !isfinite (self->y_limits[1]));
}

static void
on_points_changed (
  TailorChartSeries *series, guint position, guint removed, guint added, TailorLineChart *self)
{
  SeriesEntry *entry = find_entry (self, series, NULL);
  const TailorChartPoint *points = tailor_chart_series_get_points (series);

  g_assert (entry != NULL);

  if (removed > 0)
    {
      series_entry_reset (entry);
      self->layout_valid = FALSE;
    }

  for (guint i = position; self->layout_valid && i < position + added; i++)
    {
      if (!self->have_data || point_needs_new_ticks (self, points[i].x, points[i].y))
        self->layout_valid = FALSE;
    }

  update_description (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_series_color_changed (TailorChartSeries *series, GParamSpec *pspec, TailorLineChart *self)
{
  series_entry_reset (find_entry (self, series, NULL));
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_series_name_changed (TailorChartSeries *series, GParamSpec *pspec, TailorLineChart *self)
{
  update_description (self);
  invalidate_layout (self);
}

static void
on_dark_changed (TailorLineChart *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Union of the series bounds with the limits applied; FALSE (and unit axes) without data. */
static gboolean
data_range (TailorLineChart *self, double *x_lo, double *x_hi, double *y_lo, double *y_hi)
{
  gboolean have = FALSE;

  *x_lo = *y_lo = INFINITY;
  *x_hi = *y_hi = -INFINITY;

  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);
      double bx0, bx1, by0, by1;

      if (!tailor_chart_series_get_bounds (entry->series, &bx0, &bx1, &by0, &by1))
        continue;
      if (self->log_y)
        {
          if (by1 <= 0.0)
            continue;
          by0 = tailor_chart_series_get_min_positive_y (entry->series);
        }
      have = TRUE;
      *x_lo = MIN (*x_lo, bx0);
      *x_hi = MAX (*x_hi, bx1);
      *y_lo = MIN (*y_lo, by0);
      *y_hi = MAX (*y_hi, by1);
    }

  if (!have)
    {
      *x_lo = 0.0;
      *x_hi = 1.0;
      *y_lo = self->log_y ? 1.0 : 0.0;
      *y_hi = self->log_y ? 10.0 : 1.0;
    }

  if (isfinite (self->x_limits[0]))
    *x_lo = self->x_limits[0];
  if (isfinite (self->x_limits[1]))
    *x_hi = self->x_limits[1];
  if (isfinite (self->y_limits[0]) && !(self->log_y && self->y_limits[0] <= 0.0))
    *y_lo = self->y_limits[0];
  if (isfinite (self->y_limits[1]))
    *y_hi = self->y_limits[1];
  *x_hi = MAX (*x_hi, *x_lo);
  *y_hi = MAX (*y_hi, *y_lo);

  return have;
}

static double
widest_label (GtkWidget *widget, const TailorChartTicks *ticks)
{
  double widest = 0.0;

  for (guint i = 0; i < ticks->n_ticks; i++)
    {
      g_autofree char *text = tailor_chart_format_tick (
        ticks->ticks[i], ticks->log_scale ? ticks->ticks[i] : ticks->step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double w;

      tailor_chart_layout_size (layout, &w, NULL);
      widest = MAX (widest, w);
    }
  return widest;
}

static guint
legend_items (TailorLineChart *self, TailorChartLegendItem *items)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);

      tailor_chart_color_resolve (tailor_chart_series_get_color (entry->series), GTK_WIDGET (self),
                                  &items[i].color);
      items[i].label = tailor_chart_series_get_name (entry->series);
    }
  return self->entries->len;
}

static double
y_title_width (TailorLineChart *self)
{
  g_autoptr (PangoLayout) layout = NULL;
  double width;

  if (self->y_title == NULL || *self->y_title == '\0')
    return 0.0;
  layout = tailor_chart_create_layout (GTK_WIDGET (self), self->y_title, TRUE);
  tailor_chart_layout_size (layout, &width, NULL);
  return width;
}

static void
ensure_layout (TailorLineChart *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double width = gtk_widget_get_width (widget);
  double height = gtk_widget_get_height (widget);
  g_autofree TailorChartLegendItem *items = NULL;
  double line;
  double x_lo, x_hi, y_lo, y_hi;
  double title_width;
  double legend;
  double top;
  double bottom;
  double plot_height;
  double left;
  double label_width;
  double plot_width = 1.0;

  if (self->layout_valid)
    return;

  self->layout_valid = TRUE;
  self->layouts++;
  self->have_data = data_range (self, &x_lo, &x_hi, &y_lo, &y_hi);

  line = tailor_chart_line_height (widget);
  items = g_new0 (TailorChartLegendItem, MAX (self->entries->len, 1));
  title_width = y_title_width (self);
  legend = tailor_chart_legend_height (widget, items, legend_items (self, items),
                                       MAX (width - title_width - LEGEND_TITLE_GAP, 1.0));
  self->legend_height = legend > 0.0 || title_width > 0.0 ? MAX (legend, line) + line * 0.75 : 0.0;

  top = self->legend_height + line / 2.0;
  bottom = line + TAILOR_CHART_SPACING;
  if (self->x_title != NULL && *self->x_title != '\0')
    bottom += line + 2.0;
  plot_height = MAX (height - top - bottom, 1.0);

  tailor_chart_ticks_compute (&self->y_ticks, y_lo, y_hi, (guint) (plot_height / (line * 2.5)) + 1,
                              self->log_y);
  left = widest_label (widget, &self->y_ticks) + 2 * TAILOR_CHART_SPACING;

  /* The x tick count depends on label width, which depends on the ticks: settle in two passes. */
  label_width = 4 * line;
  for (guint pass = 0; pass < 2; pass++)
    {
      plot_width = MAX (width - left - label_width / 2.0 - 2.0, 1.0);
      tailor_chart_ticks_compute (&self->x_ticks, x_lo, x_hi,
                                  (guint) (plot_width / (label_width + 3 * line)) + 1, FALSE);
      label_width = widest_label (widget, &self->x_ticks);
    }

  self->plot = GRAPHENE_RECT_INIT (left, top, plot_width, plot_height);
}

static double
x_to_px (TailorLineChart *self, double x)
{
  return self->plot.origin.x +
         tailor_chart_ticks_fraction (&self->x_ticks, x) * self->plot.size.width;
}

static double
y_to_px (TailorLineChart *self, double y)
{
  return self->plot.origin.y + self->plot.size.height -
         tailor_chart_ticks_fraction (&self->y_ticks, y) * self->plot.size.height;
}

static gboolean
point_drawable (TailorLineChart *self, const TailorChartPoint *point)
{
  return !self->log_y || point->y > 0.0;
}

/* Strokes points [first, last] into a cairo node sized to just those segments. */
static GskRenderNode *
stroke_points (
  TailorLineChart *self, TailorChartSeries *series, guint first, guint last, const GdkRGBA *color)
{
  const TailorChartPoint *points = tailor_chart_series_get_points (series);
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  GtkSnapshot *snapshot;
  cairo_t *cr;
  gboolean in_run = FALSE;

  for (guint i = first; i <= last; i++)
    {
      double px;
      double py;

      if (!point_drawable (self, &points[i]))
        continue;
      px = x_to_px (self, points[i].x);
      py = y_to_px (self, points[i].y);
      x0 = MIN (x0, px);
      x1 = MAX (x1, px);
      y0 = MIN (y0, py);
      y1 = MAX (y1, py);
    }
  if (x0 > x1)
    return NULL;

  snapshot = gtk_snapshot_new ();
  cr = gtk_snapshot_append_cairo (
    snapshot,
    &GRAPHENE_RECT_INIT (floor (x0 - LINE_WIDTH), floor (y0 - LINE_WIDTH),
                         ceil (x1 - x0 + 2 * LINE_WIDTH) + 1, ceil (y1 - y0 + 2 * LINE_WIDTH) + 1));
  cairo_set_line_width (cr, LINE_WIDTH);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  gdk_cairo_set_source_rgba (cr, color);

  for (guint i = first; i <= last; i++)
    {
      double px;
      double py;

      /* A log axis has no place for y <= 0: the line breaks there. */
      if (!point_drawable (self, &points[i]))
        {
          in_run = FALSE;
          continue;
        }
      px = x_to_px (self, points[i].x);
      py = y_to_px (self, points[i].y);
      if (!in_run)
        cairo_move_to (cr, px, py);
      /* Also after move_to: a lone point then shows as a round dot. */
      cairo_line_to (cr, px, py);
      in_run = TRUE;
    }
  cairo_stroke (cr);
  cairo_destroy (cr);

  return gtk_snapshot_free_to_node (snapshot);
}

static void
update_entry_nodes (TailorLineChart *self, SeriesEntry *entry, const GdkRGBA *color)
{
  guint n = tailor_chart_series_get_n_points (entry->series);
  GskRenderNode *node;
  guint first;

  if (entry->n_drawn >= n)
    return;

  if (entry->nodes->len >= MAX_SEGMENT_NODES)
    series_entry_reset (entry);

  /* Start from the last drawn point so the new run joins the cached line. */
  first = entry->n_drawn > 0 ? entry->n_drawn - 1 : 0;
  if (entry->n_drawn == 0)
    self->full_paths++;
  else
    self->segment_paths++;

  node = stroke_points (self, entry->series, first, n - 1, color);
  if (node != NULL)
    g_ptr_array_add (entry->nodes, node);
  entry->n_drawn = n;
}

static void
snapshot_axes (TailorLineChart *self, GtkSnapshot *snapshot, const TailorChartStyle *style)
{
  GtkWidget *widget = GTK_WIDGET (self);
  const graphene_rect_t *plot = &self->plot;
  double width = gtk_widget_get_width (widget);
  double height = gtk_widget_get_height (widget);

  for (guint i = 0; i < self->y_ticks.n_ticks; i++)
    {
      double v = self->y_ticks.ticks[i];
      double py = round (y_to_px (self, v));
      g_autofree char *text =
        tailor_chart_format_tick (v, self->y_ticks.log_scale ? v : self->y_ticks.step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double tw;
      double th;

      tailor_chart_append_rect (snapshot, i == 0 ? &style->baseline : &style->grid, plot->origin.x,
                                py - (i == 0 ? 0.0 : 1.0), plot->size.width, 1.0);
      tailor_chart_layout_size (layout, &tw, &th);
      tailor_chart_append_layout (snapshot, layout, plot->origin.x - TAILOR_CHART_SPACING - tw,
                                  py - th / 2.0, &style->dim);
    }

  for (guint i = 0; i < self->x_ticks.n_ticks; i++)
    {
      double v = self->x_ticks.ticks[i];
      double px = round (x_to_px (self, v));
      g_autofree char *text = tailor_chart_format_tick (v, self->x_ticks.step);
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, text, FALSE);
      double tw;

      tailor_chart_append_rect (snapshot, &style->baseline, px - 0.5,
                                plot->origin.y + plot->size.height, 1.0, 4.0);
      tailor_chart_layout_size (layout, &tw, NULL);
      tailor_chart_append_layout (snapshot, layout, CLAMP (px - tw / 2.0, 0.0, width - tw),
                                  plot->origin.y + plot->size.height + TAILOR_CHART_SPACING,
                                  &style->dim);
    }

  if (self->x_title != NULL && *self->x_title != '\0')
    {
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, self->x_title, TRUE);
      double tw;
      double th;

      tailor_chart_layout_size (layout, &tw, &th);
      tailor_chart_append_layout (snapshot, layout, plot->origin.x + (plot->size.width - tw) / 2.0,
                                  height - th, &style->dim);
    }

  if (self->y_title != NULL && *self->y_title != '\0')
    {
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, self->y_title, TRUE);

      tailor_chart_append_layout (snapshot, layout, 0.0, 0.0, &style->dim);
    }
}

static char *
format_x (double x)
{
  /* Steps and token counts are integers; show them exactly in the read-out. */
  if (x == floor (x) && fabs (x) < 1e9)
    return g_strdup_printf ("%.0f", x);
  return tailor_chart_format_value (x);
}

static void
snapshot_hover (TailorLineChart *self, GtkSnapshot *snapshot, const TailorChartStyle *style)
{
  GtkWidget *widget = GTK_WIDGET (self);
  g_autoptr (GArray) hits = NULL;
  g_autofree TailorChartLegendItem *rows = NULL;
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *x_text = NULL;
  g_autofree char *title = NULL;
  double guide_x = 0.0;
  double guide_px = INFINITY;

  if (isnan (self->hover_x))
    return;

  hits = tailor_line_chart_lookup (self, self->hover_x);
  if (hits->len == 0)
    return;

  for (guint i = 0; i < hits->len; i++)
    {
      const TailorChartHit *hit = &g_array_index (hits, TailorChartHit, i);
      double px = x_to_px (self, hit->x);

      if (fabs (px - self->hover_x) < fabs (guide_px - self->hover_x))
        {
          guide_px = px;
          guide_x = hit->x;
        }
    }

  tailor_chart_append_rect (snapshot, &style->guide, round (guide_px) - 0.5, self->plot.origin.y,
                            1.0, self->plot.size.height);

  rows = g_new0 (TailorChartLegendItem, hits->len);
  for (guint i = 0; i < hits->len; i++)
    {
      const TailorChartHit *hit = &g_array_index (hits, TailorChartHit, i);
      g_autofree char *value = tailor_chart_format_value (hit->y);

      tailor_chart_color_resolve (tailor_chart_series_get_color (hit->series), widget,
                                  &rows[i].color);
      rows[i].label = tailor_chart_series_get_name (hit->series);

      if (hit->x != guide_x)
        {
          g_autofree char *at = format_x (hit->x);

          /* Translators: a value in the chart read-out taken at another x, e.g. "1.42 (at 100)" */
          g_ptr_array_add (values, g_strdup_printf (_ ("%s (at %s)"), value, at));
        }
      else
        {
          g_ptr_array_add (values, g_steal_pointer (&value));
        }

      if (point_drawable (self, &(TailorChartPoint){ hit->x, hit->y }))
        {
          double px = x_to_px (self, hit->x);
          double py = y_to_px (self, hit->y);

          if (py >= self->plot.origin.y - 1 &&
              py <= self->plot.origin.y + self->plot.size.height + 1)
            {
              tailor_chart_append_dot (snapshot, &style->bubble_bg, px, py, LAST_DOT_RADIUS + 2.0);
              tailor_chart_append_dot (snapshot, &rows[i].color, px, py, LAST_DOT_RADIUS);
            }
        }
    }

  x_text = format_x (guide_x);
  if (self->x_title != NULL && *self->x_title != '\0')
    title = g_strdup_printf ("%s %s", self->x_title, x_text);
  else
    title = g_strdup (x_text);

  tailor_chart_readout_snapshot (
    widget, snapshot, style, title, rows, (const char *const *) values->pdata, hits->len, guide_px,
    guide_px, self->plot.origin.y + TAILOR_CHART_SPACING,
    &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget), gtk_widget_get_height (widget)));
}

static void
tailor_line_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  TailorLineChart *self = TAILOR_LINE_CHART (widget);
  TailorChartStyle style;
  g_autofree TailorChartLegendItem *items = NULL;
  guint n_items;
  double clip_pad = LAST_DOT_RADIUS;

  ensure_layout (self);
  tailor_chart_style_init (&style, widget);

  if (!self->have_data)
    {
      tailor_chart_empty_snapshot (widget, snapshot, &style, self->empty_text);
      return;
    }

  if (self->cache_layout != self->layouts || self->cache_dark != style.dark)
    {
      for (guint i = 0; i < self->entries->len; i++)
        series_entry_reset (g_ptr_array_index (self->entries, i));
      self->cache_layout = self->layouts;
      self->cache_dark = style.dark;
    }

  snapshot_axes (self, snapshot, &style);

  items = g_new0 (TailorChartLegendItem, MAX (self->entries->len, 1));
  n_items = legend_items (self, items);

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (self->plot.origin.x - clip_pad,
                                                         self->plot.origin.y - clip_pad,
                                                         self->plot.size.width + 2 * clip_pad,
                                                         self->plot.size.height + 2 * clip_pad));
  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);
      double x;
      double y;

      update_entry_nodes (self, entry, &items[i].color);
      for (guint j = 0; j < entry->nodes->len; j++)
        gtk_snapshot_append_node (snapshot, g_ptr_array_index (entry->nodes, j));

      /* Mark the newest point: during training that is where the eye goes. */
      if (tailor_chart_series_get_last (entry->series, &x, &y) &&
          point_drawable (self, &(TailorChartPoint){ x, y }))
        tailor_chart_append_dot (snapshot, &items[i].color, x_to_px (self, x), y_to_px (self, y),
                                 LAST_DOT_RADIUS);
    }
  gtk_snapshot_pop (snapshot);

  tailor_chart_legend_snapshot (
    widget, snapshot, &style, items, n_items, y_title_width (self) + LEGEND_TITLE_GAP, 0.0,
    MAX (gtk_widget_get_width (widget) - y_title_width (self) - LEGEND_TITLE_GAP, 1.0));

  snapshot_hover (self, snapshot, &style);
}

static void
tailor_line_chart_measure (GtkWidget *widget,
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
tailor_line_chart_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  TAILOR_LINE_CHART (widget)->layout_valid = FALSE;
}

static void
tailor_line_chart_system_setting_changed (GtkWidget *widget, GtkSystemSetting setting)
{
  GTK_WIDGET_CLASS (tailor_line_chart_parent_class)->system_setting_changed (widget, setting);
  invalidate_layout (TAILOR_LINE_CHART (widget));
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, TailorLineChart *self)
{
  tailor_line_chart_set_hover (self, x, y);
}

static void
on_leave (GtkEventControllerMotion *controller, TailorLineChart *self)
{
  tailor_line_chart_set_hover (self, NAN, NAN);
}

static void
tailor_line_chart_dispose (GObject *object)
{
  TailorLineChart *self = (TailorLineChart *) object;

  if (self->entries != NULL)
    g_ptr_array_set_size (self->entries, 0);
  if (self->series != NULL)
    g_list_store_remove_all (self->series);

  G_OBJECT_CLASS (tailor_line_chart_parent_class)->dispose (object);
}

static void
tailor_line_chart_finalize (GObject *object)
{
  TailorLineChart *self = (TailorLineChart *) object;

  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_clear_object (&self->series);
  g_clear_pointer (&self->x_title, g_free);
  g_clear_pointer (&self->y_title, g_free);
  g_clear_pointer (&self->empty_text, g_free);
  g_clear_pointer (&self->description, g_free);

  G_OBJECT_CLASS (tailor_line_chart_parent_class)->finalize (object);
}

static void
tailor_line_chart_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorLineChart *self = TAILOR_LINE_CHART (object);

  switch (prop_id)
    {
      case PROP_SERIES:
        g_value_set_object (value, self->series);
        break;

      case PROP_LOG_Y:
        g_value_set_boolean (value, self->log_y);
        break;

      case PROP_X_TITLE:
        g_value_set_string (value, self->x_title);
        break;

      case PROP_Y_TITLE:
        g_value_set_string (value, self->y_title);
        break;

      case PROP_EMPTY_TEXT:
        g_value_set_string (value, self->empty_text);
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_line_chart_set_property (GObject *object,
                                guint prop_id,
                                const GValue *value,
                                GParamSpec *pspec)
{
  TailorLineChart *self = TAILOR_LINE_CHART (object);

  switch (prop_id)
    {
      case PROP_LOG_Y:
        tailor_line_chart_set_log_y (self, g_value_get_boolean (value));
        break;

      case PROP_X_TITLE:
        tailor_line_chart_set_x_title (self, g_value_get_string (value));
        break;

      case PROP_Y_TITLE:
        tailor_line_chart_set_y_title (self, g_value_get_string (value));
        break;

      case PROP_EMPTY_TEXT:
        tailor_line_chart_set_empty_text (self, g_value_get_string (value));
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_line_chart_class_init (TailorLineChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tailor_line_chart_dispose;
  object_class->finalize = tailor_line_chart_finalize;
  object_class->get_property = tailor_line_chart_get_property;
  object_class->set_property = tailor_line_chart_set_property;

  widget_class->snapshot = tailor_line_chart_snapshot;
  widget_class->measure = tailor_line_chart_measure;
  widget_class->size_allocate = tailor_line_chart_size_allocate;
  widget_class->system_setting_changed = tailor_line_chart_system_setting_changed;

  properties[PROP_SERIES] = g_param_spec_object ("series", NULL, NULL, G_TYPE_LIST_MODEL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOG_Y] =
    g_param_spec_boolean ("log-y", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_X_TITLE] =
    g_param_spec_string ("x-title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_Y_TITLE] =
    g_param_spec_string ("y-title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMPTY_TEXT] =
    g_param_spec_string ("empty-text", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "linechart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
tailor_line_chart_init (TailorLineChart *self)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();

  self->series = g_list_store_new (TAILOR_TYPE_CHART_SERIES);
  self->entries = g_ptr_array_new_with_free_func (series_entry_free);
  self->empty_text = g_strdup (_ ("No data yet"));
  self->x_limits[0] = self->x_limits[1] = NAN;
  self->y_limits[0] = self->y_limits[1] = NAN;
  self->hover_x = NAN;

  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  g_signal_connect_object (adw_style_manager_get_default (), "notify::dark",
                           G_CALLBACK (on_dark_changed), self, G_CONNECT_SWAPPED);

  update_description (self);
}

GtkWidget *
tailor_line_chart_new (void)
{
  return g_object_new (TAILOR_TYPE_LINE_CHART, NULL);
}

/**
 * tailor_line_chart_add_series:
 * @self: a chart
 * @series: a series not yet in @self; its later appends are drawn as they come
 */
void
tailor_line_chart_add_series (TailorLineChart *self, TailorChartSeries *series)
{
  SeriesEntry *entry;

  g_return_if_fail (TAILOR_IS_LINE_CHART (self));
  g_return_if_fail (TAILOR_IS_CHART_SERIES (series));
  g_return_if_fail (find_entry (self, series, NULL) == NULL);

  entry = g_new0 (SeriesEntry, 1);
  entry->chart = self;
  entry->series = g_object_ref (series);
  entry->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) gsk_render_node_unref);
  g_ptr_array_add (self->entries, entry);
  g_list_store_append (self->series, series);

  g_signal_connect (series, "points-changed", G_CALLBACK (on_points_changed), self);
  g_signal_connect (series, "notify::color", G_CALLBACK (on_series_color_changed), self);
  g_signal_connect (series, "notify::name", G_CALLBACK (on_series_name_changed), self);

  update_description (self);
  invalidate_layout (self);
}

void
tailor_line_chart_remove_series (TailorLineChart *self, TailorChartSeries *series)
{
  guint position;

  g_return_if_fail (TAILOR_IS_LINE_CHART (self));
  g_return_if_fail (TAILOR_IS_CHART_SERIES (series));

  if (find_entry (self, series, &position) == NULL)
    return;

  g_ptr_array_remove_index (self->entries, position);
  g_list_store_remove (self->series, position);

  update_description (self);
  invalidate_layout (self);
}

/**
 * tailor_line_chart_get_series:
 *
 * Returns: (transfer none): the series, in drawing and legend order
 */
GListModel *
tailor_line_chart_get_series (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  return G_LIST_MODEL (self->series);
}

/**
 * tailor_line_chart_set_x_limits:
 * @min: where the x axis starts, or NAN to follow the data
 * @max: where it ends, or NAN to follow the data
 *
 * The axis starts and ends on the nice tick at or beyond each limit.
 */
void
tailor_line_chart_set_x_limits (TailorLineChart *self, double min, double max)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));
  g_return_if_fail (isnan (min) || isnan (max) || min <= max);

  self->x_limits[0] = min;
  self->x_limits[1] = max;
  invalidate_layout (self);
}

/**
 * tailor_line_chart_set_y_limits:
 * @min: where the y axis starts (0 for losses and counts), or NAN to follow the data
 * @max: where it ends, or NAN to follow the data
 */
void
tailor_line_chart_set_y_limits (TailorLineChart *self, double min, double max)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));
  g_return_if_fail (isnan (min) || isnan (max) || min <= max);

  self->y_limits[0] = min;
  self->y_limits[1] = max;
  invalidate_layout (self);
}

gboolean
tailor_line_chart_get_log_y (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), FALSE);

  return self->log_y;
}

/* Log scale for y: values at or below zero are left out and break the line. */
void
tailor_line_chart_set_log_y (TailorLineChart *self, gboolean log_y)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  log_y = !!log_y;
  if (self->log_y == log_y)
    return;
  self->log_y = log_y;
  invalidate_layout (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOG_Y]);
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
tailor_line_chart_get_x_title (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  return self->x_title;
}

void
tailor_line_chart_set_x_title (TailorLineChart *self, const char *title)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  if (!replace_string (&self->x_title, title))
    return;
  update_description (self);
  invalidate_layout (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_X_TITLE]);
}

const char *
tailor_line_chart_get_y_title (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  return self->y_title;
}

void
tailor_line_chart_set_y_title (TailorLineChart *self, const char *title)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  if (!replace_string (&self->y_title, title))
    return;
  invalidate_layout (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_Y_TITLE]);
}

const char *
tailor_line_chart_get_empty_text (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  return self->empty_text;
}

/* With counts, the summary for screen readers says how many points each series has: a listener
 * following a live chart hears it grow even when the latest value barely moves. */
void
tailor_line_chart_set_count_points (TailorLineChart *self, gboolean count_points)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  if (self->count_points == !!count_points)
    return;
  self->count_points = !!count_points;
  update_description (self);
}

/* The text shown, and read to screen readers, while no series has a point. */
void
tailor_line_chart_set_empty_text (TailorLineChart *self, const char *text)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  if (!replace_string (&self->empty_text, text != NULL ? text : ""))
    return;
  update_description (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EMPTY_TEXT]);
}

/* Internal API for the tests and the chart itself. */

/**
 * tailor_line_chart_dup_description:
 *
 * Returns: (transfer full): the summary given to assistive technologies: each series with its
 *   latest value, or the empty text
 */
char *
tailor_line_chart_dup_description (TailorLineChart *self)
{
  g_autoptr (GString) text = g_string_new (NULL);

  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);
      const char *name = tailor_chart_series_get_name (entry->series);
      double x;
      double y;

      if (text->len > 0)
        g_string_append (text, "; ");

      if (tailor_chart_series_get_last (entry->series, &x, &y))
        {
          g_autofree char *value = tailor_chart_format_value (y);
          g_autofree char *at = format_x (x);
          guint n = tailor_chart_series_get_n_points (entry->series);

          if (self->count_points && self->x_title != NULL && *self->x_title != '\0')
            {
              /* Translators: accessible summary of a chart line, e.g. "Training loss: 12
               * points, latest value 1.23 (Step 120)" */
              g_string_append_printf (text,
                                      g_dngettext (GETTEXT_PACKAGE,
                                                   "%s: %u point, latest value %s (%s %s)",
                                                   "%s: %u points, latest value %s (%s %s)", n),
                                      name, n, value, self->x_title, at);
            }
          else if (self->count_points)
            {
              /* Translators: accessible summary of a chart line, e.g. "Loss: 12 points, latest
               * value 1.23 at 120" */
              g_string_append_printf (text,
                                      g_dngettext (GETTEXT_PACKAGE,
                                                   "%s: %u point, latest value %s at %s",
                                                   "%s: %u points, latest value %s at %s", n),
                                      name, n, value, at);
            }
          else if (self->x_title != NULL && *self->x_title != '\0')
            {
              /* Translators: accessible summary of a chart line, e.g. "Training loss: latest
               * value 1.23 (Step 120)" */
              g_string_append_printf (text, _ ("%s: latest value %s (%s %s)"), name, value,
                                      self->x_title, at);
            }
          else
            {
              /* Translators: accessible summary of a chart line, e.g. "Loss: latest value 1.23
               * at 120" */
              g_string_append_printf (text, _ ("%s: latest value %s at %s"), name, value, at);
            }
        }
      else
        {
          /* Translators: accessible summary of a chart line that has no points yet */
          g_string_append_printf (text, _ ("%s: no data yet"), name);
        }
    }

  if (text->len == 0)
    g_string_append (text, self->empty_text);

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
update_description (TailorLineChart *self)
{
  g_autofree char *description = tailor_line_chart_dup_description (self);

  if (g_strcmp0 (description, self->description) == 0)
    return;

  g_free (self->description);
  self->description = g_steal_pointer (&description);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  self->description, -1);
}

/**
 * tailor_line_chart_lookup:
 * @widget_x: a horizontal position in widget coordinates
 *
 * Returns: (transfer full) (element-type TailorChartHit): for each series with points, its
 *   point nearest in x to the data x under @widget_x
 */
GArray *
tailor_line_chart_lookup (TailorLineChart *self, double widget_x)
{
  GArray *hits = g_array_new (FALSE, FALSE, sizeof (TailorChartHit));
  double data_x;

  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), hits);

  ensure_layout (self);
  if (!self->have_data)
    return hits;

  data_x = tailor_chart_ticks_value_at (&self->x_ticks,
                                        (widget_x - self->plot.origin.x) / self->plot.size.width);

  for (guint i = 0; i < self->entries->len; i++)
    {
      SeriesEntry *entry = g_ptr_array_index (self->entries, i);
      TailorChartHit hit = { entry->series, 0, 0.0, 0.0 };

      if (!tailor_chart_series_find_nearest (entry->series, data_x, &hit.index))
        continue;
      hit.x = tailor_chart_series_get_points (entry->series)[hit.index].x;
      hit.y = tailor_chart_series_get_points (entry->series)[hit.index].y;
      g_array_append_val (hits, hit);
    }

  return hits;
}

/**
 * tailor_line_chart_set_hover:
 * @widget_x: pointer position, or NAN when the pointer left
 * @widget_y: pointer position, or NAN
 *
 * What the motion controller calls: shows the guide line and read-out while over the plot.
 */
void
tailor_line_chart_set_hover (TailorLineChart *self, double widget_x, double widget_y)
{
  double hover_x = widget_x;

  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  ensure_layout (self);
  if (isnan (widget_x) || isnan (widget_y) ||
      widget_x < self->plot.origin.x - TAILOR_CHART_SPACING ||
      widget_x > self->plot.origin.x + self->plot.size.width + TAILOR_CHART_SPACING)
    hover_x = NAN;

  if (isnan (hover_x) && isnan (self->hover_x))
    return;
  self->hover_x = hover_x;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tailor_line_chart_get_plot_area (TailorLineChart *self, graphene_rect_t *plot)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  ensure_layout (self);
  *plot = self->plot;
}

const TailorChartTicks *
tailor_line_chart_get_x_ticks (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  ensure_layout (self);
  return &self->x_ticks;
}

const TailorChartTicks *
tailor_line_chart_get_y_ticks (TailorLineChart *self)
{
  g_return_val_if_fail (TAILOR_IS_LINE_CHART (self), NULL);

  ensure_layout (self);
  return &self->y_ticks;
}

/**
 * tailor_line_chart_get_stats:
 * @layouts: (out) (optional): how many times axes and ticks were computed
 * @full_paths: (out) (optional): how many times a series was stroked from its first point
 * @segment_paths: (out) (optional): how many times only newly appended segments were stroked
 */
void
tailor_line_chart_get_stats (TailorLineChart *self,
                             guint *layouts,
                             guint *full_paths,
                             guint *segment_paths)
{
  g_return_if_fail (TAILOR_IS_LINE_CHART (self));

  if (layouts != NULL)
    *layouts = self->layouts;
  if (full_paths != NULL)
    *full_paths = self->full_paths;
  if (segment_paths != NULL)
    *segment_paths = self->segment_paths;
}
