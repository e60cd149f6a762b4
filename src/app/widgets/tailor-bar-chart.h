/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorBarChart: grouped bars (categories × series) or a histogram with a marker line. */

#pragma once

#include <gtk/gtk.h>

#include "tailor-chart-series.h"

G_BEGIN_DECLS

typedef enum
{
  TAILOR_BAR_CHART_GROUPED,
  TAILOR_BAR_CHART_HISTOGRAM,
} TailorBarChartMode;

#define TAILOR_TYPE_BAR_CHART (tailor_bar_chart_get_type ())
G_DECLARE_FINAL_TYPE (TailorBarChart, tailor_bar_chart, TAILOR, BAR_CHART, GtkWidget)

GtkWidget *tailor_bar_chart_new (void);
TailorBarChartMode tailor_bar_chart_get_mode (TailorBarChart *self);
void tailor_bar_chart_set_categories (TailorBarChart *self, const char *const *categories);
void tailor_bar_chart_add_series (TailorBarChart *self, TailorChartSeries *series);
void tailor_bar_chart_remove_series (TailorBarChart *self, TailorChartSeries *series);
GListModel *tailor_bar_chart_get_series (TailorBarChart *self);
void tailor_bar_chart_set_histogram (TailorBarChart *self,
                                     const double *edges,
                                     const double *counts,
                                     guint n_buckets);
void tailor_bar_chart_set_histogram_from_values (TailorBarChart *self,
                                                 const double *values,
                                                 gsize n_values,
                                                 guint max_buckets);
void tailor_bar_chart_set_histogram_colors (TailorBarChart *self,
                                            TailorChartColor bars,
                                            TailorChartColor past_marker);
void tailor_bar_chart_set_marker (TailorBarChart *self, double x, const char *label);
const char *tailor_bar_chart_get_value_title (TailorBarChart *self);
void tailor_bar_chart_set_value_title (TailorBarChart *self, const char *title);
const char *tailor_bar_chart_get_x_title (TailorBarChart *self);
void tailor_bar_chart_set_x_title (TailorBarChart *self, const char *title);
const char *tailor_bar_chart_get_empty_text (TailorBarChart *self);
void tailor_bar_chart_set_empty_text (TailorBarChart *self, const char *text);
gboolean tailor_bar_chart_get_show_values (TailorBarChart *self);
void tailor_bar_chart_set_show_values (TailorBarChart *self, gboolean show_values);

G_END_DECLS
