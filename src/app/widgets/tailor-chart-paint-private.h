/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Drawing pieces shared by the line and bar charts: style colours, labels, legend, read-out. */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct
{
  GdkRGBA fg;
  /* Tick labels and secondary text. */
  GdkRGBA dim;
  GdkRGBA grid;
  GdkRGBA baseline;
  GdkRGBA guide;
  GdkRGBA hover;
  GdkRGBA bubble_bg;
  GdkRGBA bubble_border;
  GdkRGBA shadow;
  gboolean dark;
} TailorChartStyle;

typedef struct
{
  GdkRGBA color;
  const char *label;
} TailorChartLegendItem;

/* Gap between a swatch and its text, between items, and the read-out's inner padding. */
#define TAILOR_CHART_SPACING 6.0

void tailor_chart_style_init (TailorChartStyle *style, GtkWidget *widget);
PangoLayout *tailor_chart_create_layout (GtkWidget *widget, const char *text, gboolean bold);
void tailor_chart_layout_size (PangoLayout *layout, double *width, double *height);
double tailor_chart_line_height (GtkWidget *widget);
void tailor_chart_append_layout (
  GtkSnapshot *snapshot, PangoLayout *layout, double x, double y, const GdkRGBA *color);
void tailor_chart_append_rect (
  GtkSnapshot *snapshot, const GdkRGBA *color, double x, double y, double width, double height);
void tailor_chart_append_rounded (GtkSnapshot *snapshot,
                                  const GdkRGBA *color,
                                  const graphene_rect_t *rect,
                                  double top_radius,
                                  double bottom_radius);
void tailor_chart_append_dot (
  GtkSnapshot *snapshot, const GdkRGBA *color, double cx, double cy, double radius);
double tailor_chart_legend_height (GtkWidget *widget,
                                   const TailorChartLegendItem *items,
                                   guint n_items,
                                   double width);
void tailor_chart_legend_snapshot (GtkWidget *widget,
                                   GtkSnapshot *snapshot,
                                   const TailorChartStyle *style,
                                   const TailorChartLegendItem *items,
                                   guint n_items,
                                   double x,
                                   double y,
                                   double width);
void tailor_chart_readout_snapshot (GtkWidget *widget,
                                    GtkSnapshot *snapshot,
                                    const TailorChartStyle *style,
                                    const char *title,
                                    const TailorChartLegendItem *rows,
                                    const char *const *values,
                                    guint n_rows,
                                    double anchor_left,
                                    double anchor_right,
                                    double top,
                                    const graphene_rect_t *bounds);
void tailor_chart_empty_snapshot (GtkWidget *widget,
                                  GtkSnapshot *snapshot,
                                  const TailorChartStyle *style,
                                  const char *text);

G_END_DECLS
