/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internals of TailorBarChart and its histogram arithmetic, driven directly by the tests. */

#pragma once

#include "tailor-bar-chart.h"
#include "tailor-chart-axis.h"

G_BEGIN_DECLS

int tailor_chart_bucket_index (const double *edges, guint n_buckets, double x);
gboolean tailor_chart_bucket_past_marker (double lo, double hi, double marker);
void tailor_chart_histogram_bin (
  const double *values, gsize n_values, guint max_buckets, GArray **edges, GArray **counts);

int tailor_bar_chart_lookup (TailorBarChart *self, double widget_x);
void tailor_bar_chart_set_hover (TailorBarChart *self, double widget_x, double widget_y);
void tailor_bar_chart_get_plot_area (TailorBarChart *self, graphene_rect_t *plot);
const TailorChartTicks *tailor_bar_chart_get_y_ticks (TailorBarChart *self);
double tailor_bar_chart_get_marker_px (TailorBarChart *self);
double tailor_bar_chart_count_past_marker (TailorBarChart *self);
char *tailor_bar_chart_dup_description (TailorBarChart *self);

G_END_DECLS
