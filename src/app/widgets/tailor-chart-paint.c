/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shared chart drawing: colours derived from the widget's style, small tabular-figure labels,
 * the legend and the hover read-out bubble. */

#include "config.h"

#include <math.h>

#include <adwaita.h>

#include "tailor-chart-paint-private.h"

#define SWATCH_SIZE     10.0
#define LEGEND_ITEM_GAP 16.0
#define LEGEND_ROW_GAP  4.0
#define BUBBLE_RADIUS   8.0
#define BUBBLE_OFFSET   12.0

static void
with_alpha (GdkRGBA *out, const GdkRGBA *color, float alpha)
{
  *out = *color;
  out->alpha = color->alpha * alpha;
}

void
tailor_chart_style_init (TailorChartStyle *style, GtkWidget *widget)
{
  GtkStyleContext *context = gtk_widget_get_style_context (widget);

  gtk_style_context_get_color (context, &style->fg);
  style->dark = adw_style_manager_get_dark (adw_style_manager_get_default ());

  with_alpha (&style->dim, &style->fg, 0.6f);
  with_alpha (&style->grid, &style->fg, style->dark ? 0.10f : 0.08f);
  with_alpha (&style->baseline, &style->fg, 0.25f);
  with_alpha (&style->guide, &style->fg, 0.35f);
  with_alpha (&style->hover, &style->fg, 0.06f);
  with_alpha (&style->bubble_border, &style->fg, 0.12f);

  if (!gtk_style_context_lookup_color (context, "popover_bg_color", &style->bubble_bg))
    gdk_rgba_parse (&style->bubble_bg, style->dark ? "#383838" : "#ffffff");
  style->shadow = (GdkRGBA){ 0, 0, 0, style->dark ? 0.36f : 0.14f };
}

/**
 * tailor_chart_create_layout:
 *
 * Chart text: the widget's font at caption size with tabular figures, so numbers in a column
 * line up and do not jitter while values change.
 */
PangoLayout *
tailor_chart_create_layout (GtkWidget *widget, const char *text, gboolean bold)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  g_autoptr (PangoAttrList) attrs = pango_attr_list_new ();

  pango_attr_list_insert (attrs, pango_attr_scale_new (PANGO_SCALE_SMALL));
  pango_attr_list_insert (attrs, pango_attr_font_features_new ("tnum"));
  if (bold)
    pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
  pango_layout_set_attributes (layout, attrs);

  return layout;
}

void
tailor_chart_layout_size (PangoLayout *layout, double *width, double *height)
{
  int w;
  int h;

  pango_layout_get_pixel_size (layout, &w, &h);
  if (width != NULL)
    *width = w;
  if (height != NULL)
    *height = h;
}

double
tailor_chart_line_height (GtkWidget *widget)
{
  g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, "0", FALSE);
  double height;

  tailor_chart_layout_size (layout, NULL, &height);
  return height;
}

void
tailor_chart_append_layout (
  GtkSnapshot *snapshot, PangoLayout *layout, double x, double y, const GdkRGBA *color)
{
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (round (x), round (y)));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

void
tailor_chart_append_rect (
  GtkSnapshot *snapshot, const GdkRGBA *color, double x, double y, double width, double height)
{
  gtk_snapshot_append_color (snapshot, color, &GRAPHENE_RECT_INIT (x, y, width, height));
}

void
tailor_chart_append_rounded (GtkSnapshot *snapshot,
                             const GdkRGBA *color,
                             const graphene_rect_t *rect,
                             double top_radius,
                             double bottom_radius)
{
  GskRoundedRect clip;
  double limit = MIN (rect->size.width, rect->size.height) / 2.0;
  graphene_size_t top = GRAPHENE_SIZE_INIT (MIN (top_radius, limit), MIN (top_radius, limit));
  graphene_size_t bottom =
    GRAPHENE_SIZE_INIT (MIN (bottom_radius, limit), MIN (bottom_radius, limit));

  gsk_rounded_rect_init (&clip, rect, &top, &top, &bottom, &bottom);
  gtk_snapshot_push_rounded_clip (snapshot, &clip);
  gtk_snapshot_append_color (snapshot, color, rect);
  gtk_snapshot_pop (snapshot);
}

void
tailor_chart_append_dot (
  GtkSnapshot *snapshot, const GdkRGBA *color, double cx, double cy, double radius)
{
  graphene_rect_t rect = GRAPHENE_RECT_INIT (cx - radius, cy - radius, 2 * radius, 2 * radius);

  tailor_chart_append_rounded (snapshot, color, &rect, radius, radius);
}

/* Greedy rows of legend items; returns the row count and fills @row_of. */
static guint
legend_rows (GtkWidget *widget,
             const TailorChartLegendItem *items,
             guint n_items,
             double width,
             double *item_widths,
             guint *row_of)
{
  double used = 0.0;
  guint row = 0;

  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr (PangoLayout) layout = tailor_chart_create_layout (widget, items[i].label, FALSE);
      double text_width;

      tailor_chart_layout_size (layout, &text_width, NULL);
      item_widths[i] = SWATCH_SIZE + TAILOR_CHART_SPACING + text_width;

      if (used > 0.0 && used + LEGEND_ITEM_GAP + item_widths[i] > width)
        {
          row++;
          used = 0.0;
        }
      used += (used > 0.0 ? LEGEND_ITEM_GAP : 0.0) + item_widths[i];
      row_of[i] = row;
    }

  return n_items > 0 ? row + 1 : 0;
}

double
tailor_chart_legend_height (GtkWidget *widget,
                            const TailorChartLegendItem *items,
                            guint n_items,
                            double width)
{
  g_autofree double *widths = g_new0 (double, MAX (n_items, 1));
  g_autofree guint *rows = g_new0 (guint, MAX (n_items, 1));
  guint n_rows = legend_rows (widget, items, n_items, width, widths, rows);
  double row_height = MAX (tailor_chart_line_height (widget), SWATCH_SIZE);

  if (n_rows == 0)
    return 0.0;
  return n_rows * row_height + (n_rows - 1) * LEGEND_ROW_GAP;
}

/* Rows are right-aligned within [@x, @x + @width]: the legend sits top-right, out of the way
 * of the y-axis title on the left. */
void
tailor_chart_legend_snapshot (GtkWidget *widget,
                              GtkSnapshot *snapshot,
                              const TailorChartStyle *style,
                              const TailorChartLegendItem *items,
                              guint n_items,
                              double x,
                              double y,
                              double width)
{
  g_autofree double *widths = g_new0 (double, MAX (n_items, 1));
  g_autofree guint *rows = g_new0 (guint, MAX (n_items, 1));
  guint n_rows = legend_rows (widget, items, n_items, width, widths, rows);
  double row_height = MAX (tailor_chart_line_height (widget), SWATCH_SIZE);
  guint i = 0;

  for (guint row = 0; row < n_rows; row++)
    {
      double row_width = 0.0;
      double cx;
      double cy = y + row * (row_height + LEGEND_ROW_GAP);
      guint first = i;

      for (guint j = first; j < n_items && rows[j] == row; j++)
        row_width += (j > first ? LEGEND_ITEM_GAP : 0.0) + widths[j];

      cx = x + width - row_width;
      for (; i < n_items && rows[i] == row; i++)
        {
          g_autoptr (PangoLayout) layout =
            tailor_chart_create_layout (widget, items[i].label, FALSE);
          graphene_rect_t swatch = GRAPHENE_RECT_INIT (cx, cy + (row_height - SWATCH_SIZE) / 2.0,
                                                       SWATCH_SIZE, SWATCH_SIZE);
          double text_height;

          tailor_chart_layout_size (layout, NULL, &text_height);
          tailor_chart_append_rounded (snapshot, &items[i].color, &swatch, 3.0, 3.0);
          tailor_chart_append_layout (snapshot, layout, cx + SWATCH_SIZE + TAILOR_CHART_SPACING,
                                      cy + (row_height - text_height) / 2.0, &style->dim);
          cx += widths[i] + LEGEND_ITEM_GAP;
        }
    }
}

/**
 * tailor_chart_readout_snapshot:
 * @anchor_left: left edge of what is hovered; the bubble goes left of it near the right edge
 * @anchor_right: right edge of what is hovered; the bubble goes right of it when it fits
 * @top: the bubble's top edge
 * @bounds: the area the bubble must stay inside
 *
 * A popover-like bubble: a bold title, then one row per series with its swatch, name and value.
 */
void
tailor_chart_readout_snapshot (GtkWidget *widget,
                               GtkSnapshot *snapshot,
                               const TailorChartStyle *style,
                               const char *title,
                               const TailorChartLegendItem *rows,
                               const char *const *values,
                               guint n_rows,
                               double anchor_left,
                               double anchor_right,
                               double top,
                               const graphene_rect_t *bounds)
{
  g_autoptr (PangoLayout) title_layout = tailor_chart_create_layout (widget, title, TRUE);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_object_unref);
  double pad = TAILOR_CHART_SPACING + 2.0;
  double line = tailor_chart_line_height (widget);
  double row_height = MAX (line, SWATCH_SIZE) + 2.0;
  double title_width;
  double title_height;
  double name_width = 0.0;
  double value_width = 0.0;
  double width;
  double height;
  double x;
  double y;
  GskRoundedRect box;

  tailor_chart_layout_size (title_layout, &title_width, &title_height);
  for (guint i = 0; i < n_rows; i++)
    {
      PangoLayout *name = tailor_chart_create_layout (widget, rows[i].label, FALSE);
      PangoLayout *text = tailor_chart_create_layout (widget, values[i], TRUE);
      double w;

      tailor_chart_layout_size (name, &w, NULL);
      name_width = MAX (name_width, w);
      tailor_chart_layout_size (text, &w, NULL);
      value_width = MAX (value_width, w);
      g_ptr_array_add (names, name);
      g_ptr_array_add (texts, text);
    }

  width = MAX (title_width, SWATCH_SIZE + TAILOR_CHART_SPACING + name_width +
                              2 * TAILOR_CHART_SPACING + value_width) +
          2 * pad;
  height = title_height + n_rows * row_height + 2 * pad + (n_rows > 0 ? 2.0 : 0.0);

  x = anchor_right + BUBBLE_OFFSET;
  if (x + width > bounds->origin.x + bounds->size.width)
    x = anchor_left - BUBBLE_OFFSET - width;
  x = MAX (x, bounds->origin.x);
  y = CLAMP (top, bounds->origin.y,
             MAX (bounds->origin.y, bounds->origin.y + bounds->size.height - height));
  x = round (x);
  y = round (y);

  gsk_rounded_rect_init_from_rect (&box, &GRAPHENE_RECT_INIT (x, y, width, height), BUBBLE_RADIUS);
  gtk_snapshot_append_outset_shadow (snapshot, &box, &style->shadow, 0, 1, 0, 4);
  gtk_snapshot_push_rounded_clip (snapshot, &box);
  gtk_snapshot_append_color (snapshot, &style->bubble_bg, &box.bounds);
  gtk_snapshot_pop (snapshot);
  gtk_snapshot_append_border (snapshot, &box, (float[4]){ 1, 1, 1, 1 },
                              (GdkRGBA[4]){ style->bubble_border, style->bubble_border,
                                            style->bubble_border, style->bubble_border });

  tailor_chart_append_layout (snapshot, title_layout, x + pad, y + pad, &style->fg);

  for (guint i = 0; i < n_rows; i++)
    {
      double ry = y + pad + title_height + 2.0 + i * row_height;
      graphene_rect_t swatch = GRAPHENE_RECT_INIT (x + pad, ry + (row_height - SWATCH_SIZE) / 2.0,
                                                   SWATCH_SIZE, SWATCH_SIZE);
      double vw;

      tailor_chart_append_rounded (snapshot, &rows[i].color, &swatch, 3.0, 3.0);
      tailor_chart_append_layout (snapshot, g_ptr_array_index (names, i),
                                  x + pad + SWATCH_SIZE + TAILOR_CHART_SPACING,
                                  ry + (row_height - line) / 2.0, &style->dim);
      tailor_chart_layout_size (g_ptr_array_index (texts, i), &vw, NULL);
      tailor_chart_append_layout (snapshot, g_ptr_array_index (texts, i), x + width - pad - vw,
                                  ry + (row_height - line) / 2.0, &style->fg);
    }
}

/* The placeholder shown before any data arrives, centred and wrapped to the widget. */
void
tailor_chart_empty_snapshot (GtkWidget *widget,
                             GtkSnapshot *snapshot,
                             const TailorChartStyle *style,
                             const char *text)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
  double width = gtk_widget_get_width (widget);
  double height = gtk_widget_get_height (widget);
  double text_height;

  pango_layout_set_width (layout, (int) MAX (1.0, width - 24.0) * PANGO_SCALE);
  pango_layout_set_alignment (layout, PANGO_ALIGN_CENTER);
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
  tailor_chart_layout_size (layout, NULL, &text_height);
  tailor_chart_append_layout (snapshot, layout, 12.0, (height - text_height) / 2.0, &style->dim);
}
