/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Axis arithmetic shared by the charts: "nice" 1-2-5 ticks, linear/log mapping, compact labels. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TAILOR_CHART_MAX_TICKS 16

/* An axis: its range always starts and ends on a tick, and the ticks cover the data. */
typedef struct
{
  double min;
  double max;
  /* Linear axes: the distance between ticks. Log axes: the distance in decades. */
  double step;
  gboolean log_scale;
  guint n_ticks;
  double ticks[TAILOR_CHART_MAX_TICKS];
} TailorChartTicks;

void tailor_chart_ticks_compute (
  TailorChartTicks *ticks, double lo, double hi, guint max_ticks, gboolean log_scale);
gboolean tailor_chart_ticks_covers (const TailorChartTicks *ticks, double value);
double tailor_chart_ticks_fraction (const TailorChartTicks *ticks, double value);
double tailor_chart_ticks_value_at (const TailorChartTicks *ticks, double fraction);
char *tailor_chart_format_tick (double value, double step);
char *tailor_chart_format_value (double value);

G_END_DECLS
