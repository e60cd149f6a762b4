/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internals of TailorLineChart that the widget tests drive directly. */

#pragma once

#include "tailor-chart-axis.h"
#include "tailor-line-chart.h"

G_BEGIN_DECLS

typedef struct
{
  TailorChartSeries *series;
  guint index;
  double x;
  double y;
} TailorChartHit;

GArray *tailor_line_chart_lookup (TailorLineChart *self, double widget_x);
void tailor_line_chart_set_hover (TailorLineChart *self, double widget_x, double widget_y);
void tailor_line_chart_get_plot_area (TailorLineChart *self, graphene_rect_t *plot);
const TailorChartTicks *tailor_line_chart_get_x_ticks (TailorLineChart *self);
const TailorChartTicks *tailor_line_chart_get_y_ticks (TailorLineChart *self);
char *tailor_line_chart_dup_description (TailorLineChart *self);
void tailor_line_chart_get_stats (TailorLineChart *self,
                                  guint *layouts,
                                  guint *full_paths,
                                  guint *segment_paths);

G_END_DECLS
