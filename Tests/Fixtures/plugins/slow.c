/*
 * slow.c: test fixture for kill/resume tests. Plugin "org.test.slow" with
 * one step, "org.test.slow", that copies every input batch to its output
 * after sleeping `delay_ms` (default 20), so a run lasts long enough to be
 * killed at random moments.
 *
 * A second step, "org.test.shuffle", is REENTRANT and sleeps delay_ms only
 * for a batch whose int64 column `n` starts even, so calls in flight
 * together finish out of order (the executor must put them back).
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

typedef struct { int64_t delay_ms; } slow_state;

static pipeline_status passthrough_create(pipeline_call *call, const pipeline_step_desc *step,
                                          const char *params_json, void **state) {
  const pipeline_params_ext *p = g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  slow_state *s = calloc(1, sizeof *s);
  (void)step;
  (void)params_json;
  if (s == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  s->delay_ms = 20;
  if (p != NULL) p->get_int64(call, "delay_ms", &s->delay_ms);
  *state = s;
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
  const slow_state *s = state;
  struct timespec pause = {s->delay_ms / 1000, (s->delay_ms % 1000) * 1000000L};
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "no input");
  nanosleep(&pause, NULL);
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

static void passthrough_destroy(void *state) { free(state); }

static pipeline_status shuffle_process(pipeline_call *call, void *state,
                                       const struct ArrowSchema *in_schema, const struct ArrowArray *in,
                                       struct ArrowSchema *out_schema, struct ArrowArray *out) {
  const slow_state *s = state;
  slow_state none = {0};
  pipeline_arrow_column n;
  int64_t index;
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "no input");
  index = pipeline_arrow_find_column(in_schema, "n");
  if (index < 0 || pipeline_arrow_column_get(in_schema, in, index, &n) != PIPELINE_OK || n.type != PIPELINE_ARROW_INT64)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "shuffle: needs an int64 column n");
  /* Even batches take delay_ms, odd ones none: the next call overtakes. */
  if (n.length > 0 && pipeline_arrow_read_int64(&n, 0) % 2 != 0) s = &none;
  return passthrough_process(call, (void *)s, in_schema, in, out_schema, out);
}

static const pipeline_step_desc passthrough_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.slow",
    .name = "slow",
    .version = "1.0.0",
    .description = "Sleeps delay_ms, then copies the input batch to the output unchanged.",
    .inputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .outputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
                          "{\"delay_ms\": {\"type\": \"integer\", \"minimum\": 0, \"default\": 20}}}",
    .create = passthrough_create,
    .process = passthrough_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = passthrough_destroy,
};

static const pipeline_step_desc shuffle_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC | PIPELINE_STEP_REENTRANT,
    .id = "org.test.shuffle",
    .name = "shuffle",
    .version = "1.0.0",
    .description = "Reentrant copy that sleeps delay_ms for batches whose first n is even.",
    .inputs_json = "[{\"name\": \"n\", \"type\": \"int64\", \"description\": \"Decides the delay.\"},"
                   " {\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .outputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
                          "{\"delay_ms\": {\"type\": \"integer\", \"minimum\": 0, \"default\": 20}}}",
    .create = passthrough_create,
    .process = shuffle_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = passthrough_destroy,
};

static const pipeline_step_desc *const steps[] = {&passthrough_step, &shuffle_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.slow",
    .version = "1.0.0",
    .description = "Test fixture: slow pass-through steps.",
    .step_count = 2,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
