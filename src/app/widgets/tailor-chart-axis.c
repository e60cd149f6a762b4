/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Nice 1-2-5 ticks, linear/log value mapping and compact number labels for the charts. */

#include "config.h"

#include <locale.h>
#include <math.h>
#include <string.h>

#include "tailor-chart-axis.h"

/* Tolerance, in tick indices, that keeps a value sitting on a tick from spilling into the next. */
#define INDEX_EPSILON 1e-9

static const guint mantissas[] = { 1, 2, 5 };

/* m × 10^e computed so that decimal ticks come out as the closest double (0.3, not
 * 0.30000000000000004). */
static double
decimal_value (double m, int e)
{
  if (e < 0)
    return m / pow (10.0, -e);
  return m * pow (10.0, e);
}

static void
compute_linear (TailorChartTicks *ticks, double lo, double hi, guint max_ticks)
{
  int e;

  if (hi - lo <= fabs (hi) * 1e-12)
    {
      /* One value: open a window of ±10 % around it so it is drawn mid-axis. */
      if (lo == 0.0)
        {
          hi = 1.0;
        }
      else
        {
          double pad = fabs (lo) * 0.1;

          lo -= pad;
          hi += pad;
        }
    }

  e = (int) floor (log10 ((hi - lo) / max_ticks)) - 1;

  for (guint attempt = 0; attempt < 64; attempt++, e++)
    {
      for (guint k = 0; k < G_N_ELEMENTS (mantissas); k++)
        {
          double step = decimal_value (mantissas[k], e);
          double first = floor (lo / step + INDEX_EPSILON);
          double last = ceil (hi / step - INDEX_EPSILON);
          double n = last - first + 1;

          if (n > max_ticks)
            continue;

          ticks->step = step;
          ticks->n_ticks = (guint) n;
          for (guint i = 0; i < ticks->n_ticks; i++)
            ticks->ticks[i] = decimal_value ((first + i) * mantissas[k], e);
          ticks->min = ticks->ticks[0];
          ticks->max = ticks->ticks[ticks->n_ticks - 1];
          return;
        }
    }

  g_assert_not_reached ();
}

static void
compute_log (TailorChartTicks *ticks, double lo, double hi, guint max_ticks)
{
  static const guint decade_steps[] = { 1, 2, 5, 10, 20, 50, 100 };
  int lo_e;
  int hi_e;
  guint k = 1;

  if (hi <= 0.0)
    {
      lo = 1.0;
      hi = 10.0;
    }
  else if (lo <= 0.0)
    {
      lo = hi / 10.0;
    }

  lo_e = (int) floor (log10 (lo) + INDEX_EPSILON);
  hi_e = (int) ceil (log10 (hi) - INDEX_EPSILON);
  if (hi_e <= lo_e)
    hi_e = lo_e + 1;

  for (guint i = 0; i < G_N_ELEMENTS (decade_steps); i++)
    {
      int first;
      int last;

      k = decade_steps[i];
      first = (int) floor ((double) lo_e / k);
      last = (int) ceil ((double) hi_e / k);
      if ((guint) (last - first + 1) <= max_ticks || i + 1 == G_N_ELEMENTS (decade_steps))
        {
          lo_e = first * (int) k;
          hi_e = last * (int) k;
          break;
        }
    }

  ticks->step = k;
  ticks->min = decimal_value (1, lo_e);
  ticks->max = decimal_value (1, hi_e);
  ticks->n_ticks = 0;

  /* Few decades leave room for the 2 and 5 in between, which keeps short log axes readable. */
  if (k == 1 && (guint) (hi_e - lo_e) * 3 + 1 <= max_ticks)
    {
      for (int d = lo_e; d <= hi_e; d++)
        for (guint m = 0; m < G_N_ELEMENTS (mantissas) && (d < hi_e || m == 0); m++)
          ticks->ticks[ticks->n_ticks++] = decimal_value (mantissas[m], d);
      return;
    }

  for (int d = lo_e; d <= hi_e && ticks->n_ticks < TAILOR_CHART_MAX_TICKS; d += (int) k)
    ticks->ticks[ticks->n_ticks++] = decimal_value (1, d);
}

/**
 * tailor_chart_ticks_compute:
 * @ticks: (out caller-allocates): the axis
 * @lo: smallest data value
 * @hi: largest data value
 * @max_ticks: how many labelled ticks fit (clamped to 3…%TAILOR_CHART_MAX_TICKS)
 * @log_scale: place ticks on decades; non-positive bounds fall back to a decade below @hi
 *
 * Chooses the smallest 1-2-5 step whose ticks cover [@lo, @hi] with at most @max_ticks ticks.
 * Three is the floor because a range straddling zero always needs −s, 0 and s.
 */
void
tailor_chart_ticks_compute (
  TailorChartTicks *ticks, double lo, double hi, guint max_ticks, gboolean log_scale)
{
  g_return_if_fail (ticks != NULL);

  memset (ticks, 0, sizeof *ticks);
  ticks->log_scale = log_scale;
  max_ticks = CLAMP (max_ticks, 3, TAILOR_CHART_MAX_TICKS);

  if (!isfinite (lo) || !isfinite (hi))
    {
      lo = log_scale ? 1.0 : 0.0;
      hi = log_scale ? 10.0 : 1.0;
    }
  if (lo > hi)
    {
      double t = lo;

      lo = hi;
      hi = t;
    }

  if (log_scale)
    compute_log (ticks, lo, hi, max_ticks);
  else
    compute_linear (ticks, lo, hi, max_ticks);
}

/* Whether @value lies on the axis, so new data there needs no new ticks. */
gboolean
tailor_chart_ticks_covers (const TailorChartTicks *ticks, double value)
{
  g_return_val_if_fail (ticks != NULL, FALSE);

  if (ticks->log_scale && value <= 0.0)
    return TRUE;
  return value >= ticks->min && value <= ticks->max;
}

/* 0 at the axis start, 1 at its end; non-positive values on a log axis map to −∞. */
double
tailor_chart_ticks_fraction (const TailorChartTicks *ticks, double value)
{
  g_return_val_if_fail (ticks != NULL, 0.0);

  if (ticks->log_scale)
    {
      if (value <= 0.0)
        return -INFINITY;
      return (log10 (value) - log10 (ticks->min)) / (log10 (ticks->max) - log10 (ticks->min));
    }
  return (value - ticks->min) / (ticks->max - ticks->min);
}

double
tailor_chart_ticks_value_at (const TailorChartTicks *ticks, double fraction)
{
  g_return_val_if_fail (ticks != NULL, 0.0);

  if (ticks->log_scale)
    return pow (10.0, log10 (ticks->min) + fraction * (log10 (ticks->max) - log10 (ticks->min)));
  return ticks->min + fraction * (ticks->max - ticks->min);
}

static int
decimals_for (double step, double unit, int max_decimals)
{
  int d = (int) -floor (log10 (step / unit) + INDEX_EPSILON);

  return CLAMP (d, 0, max_decimals);
}

/* Fixed-point text without trailing zeros, in the user's decimal separator. */
static char *
format_fixed (double value, int decimals, const char *suffix)
{
  char format[16];
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  const char *point = localeconv ()->decimal_point;
  g_autoptr (GString) out = g_string_new (NULL);
  char *dot;

  g_snprintf (format, sizeof format, "%%.%df", decimals);
  g_ascii_formatd (buf, sizeof buf, format, value);

  dot = strchr (buf, '.');
  if (dot != NULL)
    {
      char *end = buf + strlen (buf) - 1;

      while (end > dot && *end == '0')
        *end-- = '\0';
      if (end == dot)
        *end = '\0';
    }

  if (g_str_equal (buf, "-0"))
    g_strlcpy (buf, "0", sizeof buf);

  dot = strchr (buf, '.');
  if (dot != NULL && point != NULL && *point != '\0')
    {
      g_string_append_len (out, buf, dot - buf);
      g_string_append (out, point);
      g_string_append (out, dot + 1);
    }
  else
    {
      g_string_append (out, buf);
    }
  g_string_append (out, suffix);

  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Labels as people read them: 1.2k and 3M for large values, 1e-4 for tiny ones. A @step of
 * zero asks for three significant digits instead of the precision a tick step implies. */
static char *
format_compact (double value, double step)
{
  static const struct
  {
    double unit;
    const char *suffix;
  } units[] = {
    { 1e12, "T" },
    { 1e9, "G" },
    { 1e6, "M" },
    { 1e3, "k" },
  };
  double av = fabs (value);

  if (value == 0.0 || (step > 0.0 && av < step * 1e-6))
    return g_strdup ("0");

  if (av < 1e-3 || av >= 1e15)
    {
      int e = (int) floor (log10 (av) + INDEX_EPSILON);
      double mantissa = value / decimal_value (1, e);
      int decimals = step > 0.0 ? decimals_for (step, decimal_value (1, e), 3) : 2;
      g_autofree char *m = format_fixed (mantissa, decimals, "");
      char exponent[16];

      g_snprintf (exponent, sizeof exponent, "e%d", e);
      return g_strconcat (m, exponent, NULL);
    }

  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    {
      if (av >= units[i].unit)
        {
          int decimals = step > 0.0
                           ? decimals_for (step, units[i].unit, 3)
                           : MAX (0, 2 - (int) floor (log10 (av / units[i].unit) + INDEX_EPSILON));

          return format_fixed (value / units[i].unit, decimals, units[i].suffix);
        }
    }

  if (step > 0.0)
    return format_fixed (value, decimals_for (step, 1.0, 6), "");
  return format_fixed (value, MAX (0, 2 - (int) floor (log10 (av) + INDEX_EPSILON)), "");
}

/**
 * tailor_chart_format_tick:
 * @value: a tick
 * @step: the distance to the next tick; it sets how many decimals the label shows
 *
 * Returns: (transfer full): a compact label such as "0.05", "1.2k" or "1e-4"
 */
char *
tailor_chart_format_tick (double value, double step)
{
  g_return_val_if_fail (isfinite (value), g_strdup ("?"));

  if (!(step > 0.0) || !isfinite (step))
    step = 0.0;
  return format_compact (value, step);
}

/**
 * tailor_chart_format_value:
 * @value: a data value
 *
 * Returns: (transfer full): @value rounded to three significant digits, compactly ("1.23k")
 */
char *
tailor_chart_format_value (double value)
{
  double p;

  g_return_val_if_fail (isfinite (value), g_strdup ("?"));

  if (value == 0.0)
    return g_strdup ("0");

  /* Round first so 999.7 becomes "1k" rather than "1000". */
  p = decimal_value (1, 2 - (int) floor (log10 (fabs (value)) + INDEX_EPSILON));
  value = round (value * p) / p;
  return format_compact (value, 0.0);
}
