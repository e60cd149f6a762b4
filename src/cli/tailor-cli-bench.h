/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli bench: matmul and training-step throughput of a compute backend. */
#pragma once

int tailor_cli_bench (int argc, char **argv);
