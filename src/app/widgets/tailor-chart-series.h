/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A named, coloured series of (x, y) points that grows live; shared by the line and bar charts. */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Named after the libadwaita palette; each resolves to a shade that reads well on the current
 * light or dark background. */
typedef enum
{
  TAILOR_CHART_COLOR_ACCENT,
  TAILOR_CHART_COLOR_BLUE,
  TAILOR_CHART_COLOR_GREEN,
  TAILOR_CHART_COLOR_YELLOW,
  TAILOR_CHART_COLOR_ORANGE,
  TAILOR_CHART_COLOR_RED,
  TAILOR_CHART_COLOR_PURPLE,
  TAILOR_CHART_COLOR_BROWN,
  TAILOR_CHART_COLOR_GRAY,
} TailorChartColor;

GType tailor_chart_color_get_type (void) G_GNUC_CONST;
#define TAILOR_TYPE_CHART_COLOR (tailor_chart_color_get_type ())

void tailor_chart_color_resolve (TailorChartColor color, GtkWidget *widget, GdkRGBA *rgba);

typedef struct
{
  double x;
  double y;
} TailorChartPoint;

#define TAILOR_TYPE_CHART_SERIES (tailor_chart_series_get_type ())
G_DECLARE_FINAL_TYPE (TailorChartSeries, tailor_chart_series, TAILOR, CHART_SERIES, GObject)

TailorChartSeries *tailor_chart_series_new (const char *name, TailorChartColor color);
const char *tailor_chart_series_get_name (TailorChartSeries *self);
void tailor_chart_series_set_name (TailorChartSeries *self, const char *name);
TailorChartColor tailor_chart_series_get_color (TailorChartSeries *self);
void tailor_chart_series_set_color (TailorChartSeries *self, TailorChartColor color);
void tailor_chart_series_append (TailorChartSeries *self, double x, double y);
void tailor_chart_series_clear (TailorChartSeries *self);
guint tailor_chart_series_get_n_points (TailorChartSeries *self);
const TailorChartPoint *tailor_chart_series_get_points (TailorChartSeries *self);
gboolean tailor_chart_series_get_last (TailorChartSeries *self, double *x, double *y);
gboolean tailor_chart_series_get_bounds (
  TailorChartSeries *self, double *x_min, double *x_max, double *y_min, double *y_max);
double tailor_chart_series_get_min_positive_y (TailorChartSeries *self);
gboolean tailor_chart_series_find_nearest (TailorChartSeries *self, double x, guint *index);

G_END_DECLS
