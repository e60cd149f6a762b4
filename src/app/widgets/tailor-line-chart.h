/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorLineChart: live line chart of several series with nice axes, legend and hover read-out. */

#pragma once

#include <gtk/gtk.h>

#include "tailor-chart-series.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_LINE_CHART (tailor_line_chart_get_type ())
G_DECLARE_FINAL_TYPE (TailorLineChart, tailor_line_chart, TAILOR, LINE_CHART, GtkWidget)

GtkWidget *tailor_line_chart_new (void);
void tailor_line_chart_add_series (TailorLineChart *self, TailorChartSeries *series);
void tailor_line_chart_remove_series (TailorLineChart *self, TailorChartSeries *series);
GListModel *tailor_line_chart_get_series (TailorLineChart *self);
void tailor_line_chart_set_x_limits (TailorLineChart *self, double min, double max);
void tailor_line_chart_set_y_limits (TailorLineChart *self, double min, double max);
gboolean tailor_line_chart_get_log_y (TailorLineChart *self);
void tailor_line_chart_set_log_y (TailorLineChart *self, gboolean log_y);
const char *tailor_line_chart_get_x_title (TailorLineChart *self);
void tailor_line_chart_set_x_title (TailorLineChart *self, const char *title);
const char *tailor_line_chart_get_y_title (TailorLineChart *self);
void tailor_line_chart_set_y_title (TailorLineChart *self, const char *title);
const char *tailor_line_chart_get_empty_text (TailorLineChart *self);
void tailor_line_chart_set_empty_text (TailorLineChart *self, const char *text);
void tailor_line_chart_set_count_points (TailorLineChart *self, gboolean count_points);

G_END_DECLS
