/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorChartSeries: points kept in one array with running bounds, so live appends stay O(1). */

#include "config.h"

#include <math.h>

#include <adwaita.h>

#include "tailor-chart-series.h"

struct _TailorChartSeries
{
  GObject parent_instance;

  char *name;
  TailorChartColor color;
  GArray *points;

  double x_min;
  double x_max;
  double y_min;
  double y_max;
  double y_min_positive;
  /* Appends almost always come in x order; this lets lookups bisect instead of scanning. */
  gboolean sorted;
};

G_DEFINE_FINAL_TYPE (TailorChartSeries, tailor_chart_series, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (TailorChartColor,
                    tailor_chart_color,
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_ACCENT, "accent"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_BLUE, "blue"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_GREEN, "green"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_YELLOW, "yellow"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_ORANGE, "orange"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_RED, "red"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_PURPLE, "purple"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_BROWN, "brown"),
                    G_DEFINE_ENUM_VALUE (TAILOR_CHART_COLOR_GRAY, "gray"))

enum
{
  PROP_0,
  PROP_NAME,
  PROP_COLOR,
  PROP_N_POINTS,
  N_PROPS
};

enum
{
  POINTS_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* Libadwaita palette shades: darker ones on light backgrounds, lighter ones on dark, so lines
 * keep their contrast in both styles. */
static const struct
{
  const char *light;
  const char *dark;
} palette[] = {
  [TAILOR_CHART_COLOR_ACCENT] = { "#1c71d8", "#78aeed" },
  [TAILOR_CHART_COLOR_BLUE] = { "#3584e4", "#62a0ea" },
  [TAILOR_CHART_COLOR_GREEN] = { "#26a269", "#57e389" },
  [TAILOR_CHART_COLOR_YELLOW] = { "#e5a50a", "#f6d32d" },
  [TAILOR_CHART_COLOR_ORANGE] = { "#e66100", "#ffa348" },
  [TAILOR_CHART_COLOR_RED] = { "#e01b24", "#f66151" },
  [TAILOR_CHART_COLOR_PURPLE] = { "#9141ac", "#c061cb" },
  [TAILOR_CHART_COLOR_BROWN] = { "#986a44", "#b5835a" },
  [TAILOR_CHART_COLOR_GRAY] = { "#77767b", "#9a9996" },
};

/**
 * tailor_chart_color_resolve:
 * @color: a palette entry
 * @widget: (nullable): the widget drawing it; its style supplies the accent colour
 * @rgba: (out): the colour for the current style
 *
 * The light or dark shade follows #AdwStyleManager:dark.
 */
void
tailor_chart_color_resolve (TailorChartColor color, GtkWidget *widget, GdkRGBA *rgba)
{
  gboolean dark;

  g_return_if_fail (rgba != NULL);
  g_return_if_fail ((guint) color < G_N_ELEMENTS (palette));

  if (color == TAILOR_CHART_COLOR_ACCENT && widget != NULL)
    {
      GtkStyleContext *context = gtk_widget_get_style_context (widget);

      if (gtk_style_context_lookup_color (context, "accent_color", rgba))
        return;
    }

  dark = adw_style_manager_get_dark (adw_style_manager_get_default ());
  if (!gdk_rgba_parse (rgba, dark ? palette[color].dark : palette[color].light))
    g_assert_not_reached ();
}

static void
tailor_chart_series_finalize (GObject *object)
{
  TailorChartSeries *self = (TailorChartSeries *) object;

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->points, g_array_unref);

  G_OBJECT_CLASS (tailor_chart_series_parent_class)->finalize (object);
}

static void
tailor_chart_series_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorChartSeries *self = TAILOR_CHART_SERIES (object);

  switch (prop_id)
    {
      case PROP_NAME:
        g_value_set_string (value, self->name);
        break;

      case PROP_COLOR:
        g_value_set_enum (value, self->color);
        break;

      case PROP_N_POINTS:
        g_value_set_uint (value, self->points->len);
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_chart_series_set_property (GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
  TailorChartSeries *self = TAILOR_CHART_SERIES (object);

  switch (prop_id)
    {
      case PROP_NAME:
        tailor_chart_series_set_name (self, g_value_get_string (value));
        break;

      case PROP_COLOR:
        tailor_chart_series_set_color (self, g_value_get_enum (value));
        break;

      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_chart_series_class_init (TailorChartSeriesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = tailor_chart_series_finalize;
  object_class->get_property = tailor_chart_series_get_property;
  object_class->set_property = tailor_chart_series_set_property;

  properties[PROP_NAME] = g_param_spec_string (
    "name", NULL, NULL, "", G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COLOR] =
    g_param_spec_enum ("color", NULL, NULL, TAILOR_TYPE_CHART_COLOR, TAILOR_CHART_COLOR_ACCENT,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_POINTS] = g_param_spec_uint ("n-points", NULL, NULL, 0, G_MAXUINT, 0,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * TailorChartSeries::points-changed:
   * @position: index of the first point that changed
   * @removed: how many points went away
   * @added: how many points were appended
   *
   * Emitted after appends (@removed is 0) and after a clear (@position is 0, @added is 0),
   * with the same meaning as #GListModel::items-changed.
   */
  signals[POINTS_CHANGED] =
    g_signal_new ("points-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_UINT);
}

static void
reset_bounds (TailorChartSeries *self)
{
  self->x_min = INFINITY;
  self->x_max = -INFINITY;
  self->y_min = INFINITY;
  self->y_max = -INFINITY;
  self->y_min_positive = INFINITY;
  self->sorted = TRUE;
}

static void
tailor_chart_series_init (TailorChartSeries *self)
{
  self->name = g_strdup ("");
  self->points = g_array_new (FALSE, FALSE, sizeof (TailorChartPoint));
  reset_bounds (self);
}

TailorChartSeries *
tailor_chart_series_new (const char *name, TailorChartColor color)
{
  g_return_val_if_fail (name != NULL, NULL);

  return g_object_new (TAILOR_TYPE_CHART_SERIES, "name", name, "color", color, NULL);
}

const char *
tailor_chart_series_get_name (TailorChartSeries *self)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), NULL);

  return self->name;
}

void
tailor_chart_series_set_name (TailorChartSeries *self, const char *name)
{
  g_return_if_fail (TAILOR_IS_CHART_SERIES (self));

  if (name == NULL)
    name = "";
  if (g_str_equal (self->name, name))
    return;
  g_free (self->name);
  self->name = g_strdup (name);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
}

TailorChartColor
tailor_chart_series_get_color (TailorChartSeries *self)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), TAILOR_CHART_COLOR_ACCENT);

  return self->color;
}

void
tailor_chart_series_set_color (TailorChartSeries *self, TailorChartColor color)
{
  g_return_if_fail (TAILOR_IS_CHART_SERIES (self));
  g_return_if_fail ((guint) color < G_N_ELEMENTS (palette));

  if (self->color == color)
    return;
  self->color = color;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLOR]);
}

/**
 * tailor_chart_series_append:
 * @self: a series
 * @x: the point's x, usually the training step or a category index
 * @y: its value
 *
 * Adds one point at the end. Both coordinates must be finite.
 */
void
tailor_chart_series_append (TailorChartSeries *self, double x, double y)
{
  TailorChartPoint point = { x, y };

  g_return_if_fail (TAILOR_IS_CHART_SERIES (self));
  g_return_if_fail (isfinite (x) && isfinite (y));

  if (self->points->len > 0 && x < self->x_max)
    self->sorted = FALSE;

  g_array_append_val (self->points, point);
  self->x_min = MIN (self->x_min, x);
  self->x_max = MAX (self->x_max, x);
  self->y_min = MIN (self->y_min, y);
  self->y_max = MAX (self->y_max, y);
  if (y > 0.0)
    self->y_min_positive = MIN (self->y_min_positive, y);

  g_signal_emit (self, signals[POINTS_CHANGED], 0, self->points->len - 1, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_POINTS]);
}

void
tailor_chart_series_clear (TailorChartSeries *self)
{
  guint removed;

  g_return_if_fail (TAILOR_IS_CHART_SERIES (self));

  removed = self->points->len;
  if (removed == 0)
    return;

  g_array_set_size (self->points, 0);
  reset_bounds (self);

  g_signal_emit (self, signals[POINTS_CHANGED], 0, 0, removed, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_POINTS]);
}

guint
tailor_chart_series_get_n_points (TailorChartSeries *self)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), 0);

  return self->points->len;
}

/**
 * tailor_chart_series_get_points:
 *
 * Returns: (transfer none) (array): the points, valid until the next append or clear
 */
const TailorChartPoint *
tailor_chart_series_get_points (TailorChartSeries *self)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), NULL);

  return (const TailorChartPoint *) (gpointer) self->points->data;
}

gboolean
tailor_chart_series_get_last (TailorChartSeries *self, double *x, double *y)
{
  const TailorChartPoint *last;

  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), FALSE);

  if (self->points->len == 0)
    return FALSE;

  last = &g_array_index (self->points, TailorChartPoint, self->points->len - 1);
  if (x != NULL)
    *x = last->x;
  if (y != NULL)
    *y = last->y;
  return TRUE;
}

/* Returns FALSE, leaving the outputs alone, while the series is empty. */
gboolean
tailor_chart_series_get_bounds (
  TailorChartSeries *self, double *x_min, double *x_max, double *y_min, double *y_max)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), FALSE);

  if (self->points->len == 0)
    return FALSE;

  if (x_min != NULL)
    *x_min = self->x_min;
  if (x_max != NULL)
    *x_max = self->x_max;
  if (y_min != NULL)
    *y_min = self->y_min;
  if (y_max != NULL)
    *y_max = self->y_max;
  return TRUE;
}

/* The smallest y above zero, what a log axis starts from; +∞ when there is none. */
double
tailor_chart_series_get_min_positive_y (TailorChartSeries *self)
{
  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), INFINITY);

  return self->y_min_positive;
}

/**
 * tailor_chart_series_find_nearest:
 * @self: a series
 * @x: where to look
 * @index: (out): the point whose x is closest to @x; ties go to the earlier point
 *
 * Returns: %FALSE when the series is empty
 */
gboolean
tailor_chart_series_find_nearest (TailorChartSeries *self, double x, guint *index)
{
  const TailorChartPoint *p;
  guint n;
  guint best = 0;

  g_return_val_if_fail (TAILOR_IS_CHART_SERIES (self), FALSE);
  g_return_val_if_fail (index != NULL, FALSE);

  n = self->points->len;
  if (n == 0)
    return FALSE;
  p = (const TailorChartPoint *) (gpointer) self->points->data;

  if (self->sorted)
    {
      guint lo = 0;
      guint hi = n;

      /* First point with p.x >= x, then compare with its left neighbour. */
      while (lo < hi)
        {
          guint mid = lo + (hi - lo) / 2;

          if (p[mid].x < x)
            lo = mid + 1;
          else
            hi = mid;
        }

      if (lo == n)
        best = n - 1;
      else if (lo > 0 && x - p[lo - 1].x <= p[lo].x - x)
        best = lo - 1;
      else
        best = lo;

      /* Equal x values: report the first of the run, as the scan below would. */
      while (best > 0 && p[best - 1].x == p[best].x)
        best--;
    }
  else
    {
      for (guint i = 1; i < n; i++)
        if (fabs (p[i].x - x) < fabs (p[best].x - x))
          best = i;
    }

  *index = best;
  return TRUE;
}
