/*
 * collect.c: test fixture for the executor. Plugin "org.test.collect":
 *   - "org.test.collect" (global): counts every row it receives and the
 *     sum of its int64 column "n"; finish emits one row {rows, sum}.
 *   - "org.test.flaky" (step): passes rows through, marking rows whose "n"
 *     is a multiple of `every` (default 3) as failed with an "_error";
 *     with `note`, it also adds a utf8 column "note" holding that text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

typedef struct {
  int64_t rows, sum;
  int emitted;
  int64_t every;
  const char *note; /* host memory, valid until destroy */
  size_t note_len;
} state_t;

static pipeline_status create(pipeline_call *call, const pipeline_step_desc *step, const char *params,
                              void **state) {
  const pipeline_params_ext *p = g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  state_t *s = calloc(1, sizeof *s);
  (void)step;
  (void)params;
  if (s == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  s->every = 3;
  if (p != NULL) p->get_int64(call, "every", &s->every);
  if (p != NULL && p->get_string(call, "note", &s->note, &s->note_len) != PIPELINE_OK) s->note = NULL;
  if (s->every <= 0) s->every = 3;
  *state = s;
  return PIPELINE_OK;
}

static void destroy(void *state) { free(state); }

static pipeline_status n_column(pipeline_call *call, const struct ArrowSchema *schema,
                                const struct ArrowArray *in, pipeline_arrow_column *n) {
  int64_t i = pipeline_arrow_find_column(schema, "n");
  if (i < 0 || pipeline_arrow_column_get(schema, in, i, n) != PIPELINE_OK ||
      n->type != PIPELINE_ARROW_INT64)
    return fail(call, PIPELINE_INVALID_DATA, "needs an int64 column \"n\"");
  return PIPELINE_OK;
}

static pipeline_status collect_process(pipeline_call *call, void *state, const struct ArrowSchema *schema,
                                       const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                       struct ArrowArray *out) {
  state_t *s = state;
  pipeline_arrow_column n;
  (void)out_schema;
  (void)out;
  if (n_column(call, schema, in, &n) != PIPELINE_OK) return PIPELINE_INVALID_DATA;
  for (int64_t row = 0; row < n.length; row++) {
    s->rows++;
    if (pipeline_arrow_is_valid(&n, row)) s->sum += pipeline_arrow_read_int64(&n, row);
  }
  return PIPELINE_OK;
}

static pipeline_status collect_finish(pipeline_call *call, void *state, struct ArrowSchema *out_schema,
                                      struct ArrowArray *out) {
  state_t *s = state;
  pipeline_arrow_builder b;
  pipeline_status st;
  if (s->emitted) return PIPELINE_OK;
  s->emitted = 1;
  pipeline_arrow_builder_init(&b);
  if ((st = pipeline_arrow_builder_add_column(&b, "rows", "l", false)) == PIPELINE_OK &&
      (st = pipeline_arrow_builder_add_column(&b, "sum", "l", false)) == PIPELINE_OK &&
      (st = pipeline_arrow_append_int64(&b, 0, s->rows)) == PIPELINE_OK &&
      (st = pipeline_arrow_append_int64(&b, 1, s->sum)) == PIPELINE_OK)
    st = pipeline_arrow_builder_finish(&b, out_schema, out);
  pipeline_arrow_builder_free(&b);
  return st == PIPELINE_OK ? st : fail(call, st, "collect: cannot build the output");
}

static pipeline_status flaky_process(pipeline_call *call, void *state, const struct ArrowSchema *schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  state_t *s = state;
  pipeline_arrow_builder b;
  pipeline_arrow_column n;
  pipeline_status st;
  int64_t columns = schema->n_children, note_column = columns, error_column = columns + (s->note != NULL);
  if (n_column(call, schema, in, &n) != PIPELINE_OK) return PIPELINE_INVALID_DATA;
  pipeline_arrow_builder_init(&b);
  st = pipeline_arrow_builder_add_columns_like(&b, schema, NULL);
  if (st == PIPELINE_OK && s->note != NULL) st = pipeline_arrow_builder_add_column(&b, "note", "u", false);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&b, "_error", "u", true);
  for (int64_t row = 0; st == PIPELINE_OK && row < in->length; row++) {
    for (int64_t c = 0; st == PIPELINE_OK && c < columns; c++) {
      pipeline_arrow_column view;
      st = pipeline_arrow_column_get(schema, in, c, &view);
      if (st == PIPELINE_OK) st = pipeline_arrow_append_from(&b, c, &view, row);
    }
    if (st == PIPELINE_OK && s->note != NULL) st = pipeline_arrow_append_utf8(&b, note_column, s->note, s->note_len);
    if (st != PIPELINE_OK) break;
    int64_t value = pipeline_arrow_read_int64(&n, row);
    if (value % s->every == 0) {
      char message[64];
      int len = snprintf(message, sizeof message, "n=%lld is a multiple of %lld", (long long)value,
                         (long long)s->every);
      st = pipeline_arrow_append_utf8(&b, error_column, message, (size_t)len);
    } else {
      st = pipeline_arrow_append_null(&b, error_column);
    }
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&b, out_schema, out);
  pipeline_arrow_builder_free(&b);
  return st == PIPELINE_OK ? st : fail(call, st, "flaky: cannot build the output");
}

static const pipeline_step_desc collect_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GLOBAL,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.collect",
    .name = "collect",
    .version = "1.0.0",
    .description = "Counts all rows and sums n; emits one row at the end.",
    .inputs_json = "[{\"name\": \"n\", \"type\": \"int64\"}]",
    .outputs_json = "[{\"name\": \"rows\", \"type\": \"int64\"}, {\"name\": \"sum\", \"type\": \"int64\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = create,
    .process = collect_process,
    .finish = collect_finish,
    .destroy = destroy,
};

static const pipeline_step_desc flaky_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.flaky",
    .name = "flaky",
    .version = "1.0.0",
    .description = "Fails the rows whose n is a multiple of `every`.",
    .inputs_json = "[{\"name\": \"n\", \"type\": \"int64\"}, {\"name\": \"*\", \"type\": \"any\"}]",
    .outputs_json = "[{\"name\": \"*\", \"type\": \"any\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
                          "{\"every\": {\"type\": \"integer\", \"minimum\": 1, \"default\": 3}, "
                          "\"note\": {\"type\": \"string\"}}}",
    .create = create,
    .process = flaky_process,
    .destroy = destroy,
};

static const pipeline_step_desc *const steps[] = {&collect_step, &flaky_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.collect",
    .version = "1.0.0",
    .description = "Test fixture: a global step and a step with row errors.",
    .step_count = 2,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
