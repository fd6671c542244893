/*
 * contract.c: test fixture. Two steps that break the run-time contract the
 * host checks (ABI 1.3):
 *   drop_all      returns PIPELINE_OK and no output for every batch, without
 *                 PIPELINE_STEP_FILTERS (the host warns and counts it);
 *   lying_output  declares an output column "score" and never produces it
 *                 (the host fails the batch, naming the plugin and column).
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status none_create(pipeline_call *call, const pipeline_step_desc *step, const char *params_json,
                                   void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL;
  return PIPELINE_OK;
}

static void none_destroy(void *state) { (void)state; }

static pipeline_status drop_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                    const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                    struct ArrowArray *out) {
  (void)call;
  (void)state;
  (void)in_schema;
  (void)in;
  (void)out_schema;
  (void)out;
  return PIPELINE_OK; /* the output stays released: every row is gone */
}

static pipeline_status copy_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                    const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                    struct ArrowArray *out) {
  pipeline_arrow_builder builder;
  pipeline_arrow_column *columns;
  int64_t c, row, n = in_schema->n_children;
  pipeline_status st;
  (void)state;
  columns = calloc(n > 0 ? (size_t)n : 1, sizeof *columns);
  if (columns == NULL) return PIPELINE_OUT_OF_MEMORY;
  pipeline_arrow_builder_init(&builder);
  st = pipeline_arrow_builder_add_columns_like(&builder, in_schema, NULL);
  for (c = 0; st == PIPELINE_OK && c < n; c++) st = pipeline_arrow_column_get(in_schema, in, c, &columns[c]);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++)
    for (c = 0; st == PIPELINE_OK && c < n; c++) st = pipeline_arrow_append_from(&builder, c, &columns[c], row);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&builder, out_schema, out);
  pipeline_arrow_builder_free(&builder);
  free(columns);
  if (st != PIPELINE_OK) g_host->set_error(call, st, "copy failed", 11);
  return st;
}

#define ALL "{\"name\": \"*\", \"type\": \"any\"}"

static const pipeline_step_desc drop_all = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.contract.drop_all",
    .name = "drop_all",
    .version = "1.0.0",
    .description = "Returns nothing for every batch, without PIPELINE_STEP_FILTERS.",
    .inputs_json = "[" ALL "]",
    .outputs_json = "[" ALL "]",
    .params_schema_json = "{\"type\": \"object\", \"properties\": {}}",
    .create = none_create,
    .process = drop_process,
    .destroy = none_destroy,
};

static const pipeline_step_desc lying_output = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.contract.lying_output",
    .name = "lying_output",
    .version = "1.0.0",
    .description = "Declares a `score` column it never produces.",
    .inputs_json = "[" ALL "]",
    .outputs_json = "[{\"name\": \"score\", \"type\": \"float64\"}, " ALL "]",
    .params_schema_json = "{\"type\": \"object\", \"properties\": {}}",
    .create = none_create,
    .process = copy_process,
    .destroy = none_destroy,
};

static const pipeline_step_desc *const steps[] = {&drop_all, &lying_output};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.contract",
    .version = "1.0.0",
    .description = "Test fixture: steps that break the run-time contract.",
    .step_count = 2,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
