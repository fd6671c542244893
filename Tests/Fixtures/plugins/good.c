/*
 * good.c: test fixture. Plugin "org.test.good" with one step,
 * "org.test.passthrough", that copies every input batch (all columns, all
 * rows, an empty batch included) to its output with pipeline_arrow.h.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

static pipeline_status passthrough_create(pipeline_call *call, const pipeline_step_desc *step,
                                          const char *params_json, void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL; /* no state */
  return PIPELINE_OK;
}

static pipeline_status passthrough_process(pipeline_call *call, void *state,
                                           const struct ArrowSchema *in_schema,
                                           const struct ArrowArray *in,
                                           struct ArrowSchema *out_schema, struct ArrowArray *out) {
  pipeline_arrow_builder builder;
  pipeline_arrow_column *columns;
  int64_t c, row, n;
  pipeline_status st;
  (void)state;
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "no input");
  n = in_schema->n_children;
  columns = calloc(n > 0 ? (size_t)n : 1, sizeof *columns);
  if (columns == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  pipeline_arrow_builder_init(&builder);
  st = pipeline_arrow_builder_add_columns_like(&builder, in_schema, NULL);
  for (c = 0; st == PIPELINE_OK && c < n; c++)
    st = pipeline_arrow_column_get(in_schema, in, c, &columns[c]);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++)
    for (c = 0; st == PIPELINE_OK && c < n; c++)
      st = pipeline_arrow_append_from(&builder, c, &columns[c], row);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&builder, out_schema, out);
  pipeline_arrow_builder_free(&builder);
  free(columns);
  return st == PIPELINE_OK ? st : fail(call, st, "passthrough: cannot copy the batch");
}

static void passthrough_destroy(void *state) { (void)state; }

static const pipeline_step_desc passthrough_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.passthrough",
    .name = "passthrough",
    .version = "1.0.0",
    .description = "Copies every input batch to the output unchanged.",
    .inputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .outputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = passthrough_create,
    .process = passthrough_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = passthrough_destroy,
};

static const pipeline_step_desc *const steps[] = {&passthrough_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.good",
    .version = "1.0.0",
    .description = "Test fixture: a well-formed plugin with one pass-through step.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
