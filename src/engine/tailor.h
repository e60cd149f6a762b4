/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libtailor: the umbrella header. */
#pragma once

#include "tailor-catalogue.h"
#include "tailor-chat.h"
#include "tailor-cpu-ref.h"
#include "tailor-data.h"
#include "tailor-data-hygiene.h"
#include "tailor-data-import.h"
#include "tailor-gguf.h"
#include "tailor-hash.h"
#include "tailor-model.h"
#include "tailor-parallel.h"
#include "tailor-quant.h"
#include "tailor-quantize-model.h"
#include "tailor-sampler.h"
#include "tailor-test-model.h"
#include "tailor-tokenizer.h"
