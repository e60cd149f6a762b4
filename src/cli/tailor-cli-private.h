/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the tailor-cli subcommands share: exit codes, option parsing, errors and JSON output. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The exit codes scripts and the app rely on (DESIGN.md §3a). */
enum
{
  TAILOR_CLI_EXIT_OK = 0,
  TAILOR_CLI_EXIT_ERROR = 1, /* a user-facing failure, explained on stderr */
  TAILOR_CLI_EXIT_USAGE = 2, /* bad options or arguments; usage printed on stderr */
};

/* A subcommand: argv[0] is the subcommand name; returns an exit code. */
typedef int (*TailorCliRunFunc) (int argc, char **argv);

typedef struct
{
  const char *name;
  const char *params;  /* positional parameters for the usage line */
  const char *summary; /* one line for the command list */
  TailorCliRunFunc run;
} TailorCliCommand;

/* An option context for the subcommand called name, with its parameters and summary. */
GOptionContext *tailor_cli_context_new (const char *name, const GOptionEntry *entries);
/* Parses options in place; on failure prints the problem and the usage, and returns FALSE. */
gboolean tailor_cli_parse (GOptionContext *context, int *argc, char ***argv);
/* Prints a usage problem followed by the usage; returns TAILOR_CLI_EXIT_USAGE. */
int tailor_cli_usage_error (GOptionContext *context, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Prints the error's message on stderr; returns TAILOR_CLI_EXIT_ERROR. */
int tailor_cli_fail (const GError *error);
int tailor_cli_failf (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Checks that a text argument is UTF-8 (arguments are taken as bytes, never re-encoded). */
gboolean tailor_cli_check_utf8 (GOptionContext *context, const char *what, const char *text);

/* Writes the builder's document to stdout as one JSON document; FALSE (message printed)
 * when stdout cannot be written. */
gboolean tailor_cli_print_json (JsonBuilder *builder, gboolean pretty);
/* JSON has no NaN or infinities: those become null. */
void tailor_cli_json_add_float (JsonBuilder *builder, double value);
/* Bytes that may not be UTF-8 on their own (a token piece) as a JSON string. */
void tailor_cli_json_add_bytes_as_string (JsonBuilder *builder, GBytes *bytes);

int tailor_cli_inspect (int argc, char **argv);
int tailor_cli_tokenize (int argc, char **argv);
int tailor_cli_logits (int argc, char **argv);
int tailor_cli_generate (int argc, char **argv);
int tailor_cli_make_test_model (int argc, char **argv);
int tailor_cli_devices (int argc, char **argv);

G_END_DECLS
