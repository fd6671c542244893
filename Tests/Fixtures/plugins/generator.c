/*
 * generator.c: test fixture. Plugin "org.test.generator" with one
 * generator step, "org.test.count": parameters `rows` (default 10) and
 * `batch_size` (default 4). It emits batches of at most batch_size rows with
 * an int64 column "n" = 0 ... rows-1 and a utf8 column "text" = "row <n>",
 * then leaves the output released to say it is exhausted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

typedef struct count_state {
  int64_t rows, batch_size, next;
} count_state;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

/* An integer parameter; `fallback` when absent. */
static pipeline_status get_int(pipeline_call *call, const pipeline_params_ext *params,
                               const char *key, int64_t fallback, int64_t *value) {
  pipeline_status st = params->get_int64(call, key, value);
  if (st == PIPELINE_NOT_IMPLEMENTED) {
    *value = fallback;
    return PIPELINE_OK;
  }
  return st;
}

static pipeline_status count_create(pipeline_call *call, const pipeline_step_desc *step,
                                    const char *params_json, void **state) {
  const pipeline_params_ext *params;
  count_state *s;
  (void)step;
  (void)params_json;
  params = (const pipeline_params_ext *)g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  if (params == NULL || !PIPELINE_HAS_FIELD(params, pipeline_params_ext, get_int64))
    return fail(call, PIPELINE_NOT_IMPLEMENTED, "count needs the host service pipeline.params/1");
  s = calloc(1, sizeof *s);
  if (s == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "count: out of memory");
  if (get_int(call, params, "rows", 10, &s->rows) != PIPELINE_OK ||
      get_int(call, params, "batch_size", 4, &s->batch_size) != PIPELINE_OK || s->rows < 0 ||
      s->batch_size < 1) {
    free(s);
    return fail(call, PIPELINE_INVALID_ARGUMENT,
                "count: rows must be an integer >= 0 and batch_size an integer >= 1");
  }
  *state = s;
  return PIPELINE_OK;
}

static pipeline_status count_process(pipeline_call *call, void *state,
                                     const struct ArrowSchema *in_schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  count_state *s = state;
  pipeline_arrow_builder builder;
  pipeline_status st;
  int64_t end;
  char text[32];
  (void)in_schema; /* NULL: generators get no input */
  (void)in;
  if (s->next >= s->rows) return PIPELINE_OK; /* exhausted: output left released */
  end = s->rows - s->next > s->batch_size ? s->next + s->batch_size : s->rows;
  pipeline_arrow_builder_init(&builder);
  st = pipeline_arrow_builder_add_column(&builder, "n", "l", false);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&builder, "text", "u", false);
  for (; st == PIPELINE_OK && s->next < end; s->next++) {
    int len = snprintf(text, sizeof text, "row %" PRId64, s->next);
    st = pipeline_arrow_append_int64(&builder, 0, s->next);
    if (st == PIPELINE_OK) st = pipeline_arrow_append_utf8(&builder, 1, text, (size_t)len);
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&builder, out_schema, out);
  pipeline_arrow_builder_free(&builder);
  return st == PIPELINE_OK ? st : fail(call, st, "count: cannot build a batch");
}

static void count_destroy(void *state) { free(state); }

static const pipeline_step_desc count_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GENERATOR,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.count",
    .name = "count",
    .version = "1.0.0",
    .description = "Emits `rows` rows numbered from 0, `batch_size` rows per batch.",
    .inputs_json = "[]",
    .outputs_json =
        "[{\"name\": \"n\", \"type\": \"int64\", \"optional\": false, \"description\": \"0, 1, 2, ...\"},"
        " {\"name\": \"text\", \"type\": \"utf8\", \"optional\": false, \"description\": \"\\\"row <n>\\\"\"}]",
    .params_schema_json =
        "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
        " \"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {"
        "  \"rows\": {\"type\": \"integer\", \"minimum\": 0, \"default\": 10,"
        "   \"description\": \"How many rows to emit in all.\"},"
        "  \"batch_size\": {\"type\": \"integer\", \"minimum\": 1, \"default\": 4,"
        "   \"description\": \"Rows per batch (the last batch may be shorter).\"}"
        " }}",
    .create = count_create,
    .process = count_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = count_destroy,
};

static const pipeline_step_desc *const steps[] = {&count_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.generator",
    .version = "1.0.0",
    .description = "Test fixture: a generator.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
