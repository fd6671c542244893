/* An out-of-tree plugin: built by test-install.sh against the installed
   header and pkg-config only. Upper-cases the ASCII letters of "text" and
   passes every other column through. */
#include <pipeline_arrow.h>
#include <string.h>

static const pipeline_host *host;

static void fail(pipeline_call *call, pipeline_status status, const char *message) {
  host->set_error(call, status, message, strlen(message));
}

static pipeline_status create(pipeline_call *call, const pipeline_step_desc *step, const char *params,
                              void **state) {
  (void)call; (void)step; (void)params;
  *state = NULL;
  return PIPELINE_OK;
}

static pipeline_status process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                               const struct ArrowArray *in, struct ArrowSchema *out_schema,
                               struct ArrowArray *out) {
  (void)state;
  int64_t text_index = pipeline_arrow_find_column(in_schema, "text");
  if (text_index < 0) { fail(call, PIPELINE_INVALID_DATA, "shout: no \"text\" column"); return PIPELINE_INVALID_DATA; }
  pipeline_arrow_builder b;
  pipeline_arrow_builder_init(&b);
  pipeline_status st = pipeline_arrow_builder_add_columns_like(&b, in_schema, NULL);
  for (int64_t col = 0; st == PIPELINE_OK && col < in->n_children; col++) {
    pipeline_arrow_column view;
    st = pipeline_arrow_column_get(in_schema, in, col, &view);
    for (int64_t row = 0; st == PIPELINE_OK && row < view.length; row++) {
      if (col != text_index || !pipeline_arrow_is_valid(&view, row)) {
        st = pipeline_arrow_append_from(&b, col, &view, row);
        continue;
      }
      size_t len;
      const char *s = pipeline_arrow_read_utf8(&view, row, &len);
      char buffer[256];
      if (len > sizeof buffer) len = sizeof buffer;
      for (size_t i = 0; i < len; i++) buffer[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
      st = pipeline_arrow_append_utf8(&b, col, buffer, len);
    }
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&b, out_schema, out);
  pipeline_arrow_builder_free(&b);
  if (st != PIPELINE_OK) fail(call, st, "shout: could not build the output batch");
  return st;
}

static void destroy(void *state) { (void)state; }

static const pipeline_step_desc shout_step = {
  .struct_size = sizeof(pipeline_step_desc),
  .kind = PIPELINE_STEP_KIND_STEP,
  .flags = PIPELINE_STEP_DETERMINISTIC,
  .id = "org.example.shout",
  .name = "shout",
  .version = "0.1.0",
  .description = "Upper-cases ASCII letters of the text column.",
  .inputs_json = "[{\"name\":\"text\",\"type\":\"utf8\"}]",
  .outputs_json = "[{\"name\":\"text\",\"type\":\"utf8\"}]",
  .params_schema_json = "{\"type\":\"object\",\"additionalProperties\":false}",
  .create = create,
  .process = process,
  .destroy = destroy,
};

static const pipeline_step_desc *const steps[] = {&shout_step};

static const pipeline_plugin plugin = {
  .struct_size = sizeof(pipeline_plugin),
  .abi_major = PIPELINE_ABI_MAJOR,
  .abi_minor = 0,
  .name = "org.example.shout",
  .version = "0.1.0",
  .description = "Out-of-tree example",
  .step_count = 1,
  .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *h) {
  host = h;
  return &plugin;
}
