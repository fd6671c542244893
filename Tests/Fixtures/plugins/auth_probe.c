/*
 * auth_probe.c: test fixture for host credentials (ABI 1.3). Plugin
 * "org.test.auth_probe" with one step, "auth_probe" (flag
 * PIPELINE_STEP_USES_CREDENTIAL), that sends one GET to its `url` through
 * pipeline_http_ext.perform_authenticated per batch and gives every input
 * row three columns: `status` (the pipeline_status of the call),
 * `http_status` and `error` (the host's reason, or null). With
 * `own_authorization` it puts an Authorization header of its own in the
 * request, which the host must refuse. The plugin never sees the secret.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

typedef struct {
  char url[1024];
  bool own_authorization;
} probe_state;

static pipeline_status probe_create(pipeline_call *call, const pipeline_step_desc *step, const char *params_json,
                                    void **state) {
  const pipeline_params_ext *p = g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  const char *url = NULL;
  size_t len = 0;
  probe_state *s;
  (void)step;
  (void)params_json;
  if (p == NULL) return fail(call, PIPELINE_NOT_IMPLEMENTED, "auth_probe: no pipeline.params/1");
  if (p->get_string(call, "url", &url, &len) != PIPELINE_OK || len >= sizeof s->url)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "auth_probe: parameter url is missing or too long");
  s = calloc(1, sizeof *s);
  if (s == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  memcpy(s->url, url, len);
  s->url[len] = 0;
  p->get_bool(call, "own_authorization", &s->own_authorization);
  *state = s;
  return PIPELINE_OK;
}

static pipeline_status probe_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  const probe_state *s = state;
  const pipeline_http_ext *http = g_host->get_extension(g_host, PIPELINE_EXT_HTTP);
  const char *own[] = {"Authorization: Bearer plugin-made"};
  pipeline_http_request request;
  pipeline_http_response response;
  pipeline_arrow_builder builder;
  pipeline_status call_status, st;
  int64_t row, http_status;
  char error[1024] = {0};
  bool has_error;
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "no input");
  if (http == NULL || !PIPELINE_HAS_FIELD(http, pipeline_http_ext, perform_authenticated))
    return fail(call, PIPELINE_NOT_IMPLEMENTED, "auth_probe: the host has no perform_authenticated");
  memset(&request, 0, sizeof request);
  memset(&response, 0, sizeof response);
  request.struct_size = sizeof request;
  request.method = "GET";
  request.url = s->url;
  request.headers = s->own_authorization ? own : NULL;
  request.header_count = s->own_authorization ? 1 : 0;
  request.timeout_seconds = 10;
  call_status = http->perform_authenticated(call, &request, &response);
  http_status = response.http_status;
  has_error = response.error != NULL;
  if (has_error) {
    strncpy(error, response.error, sizeof error - 1);
  }
  http->release(&response);

  pipeline_arrow_builder_init(&builder);
  st = pipeline_arrow_builder_add_column(&builder, "status", "l", false);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&builder, "http_status", "l", false);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&builder, "error", "u", true);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++) {
    st = pipeline_arrow_append_int64(&builder, 0, call_status);
    if (st == PIPELINE_OK) st = pipeline_arrow_append_int64(&builder, 1, http_status);
    if (st == PIPELINE_OK)
      st = has_error ? pipeline_arrow_append_cstr(&builder, 2, error) : pipeline_arrow_append_null(&builder, 2);
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&builder, out_schema, out);
  pipeline_arrow_builder_free(&builder);
  return st == PIPELINE_OK ? st : fail(call, st, "auth_probe: cannot build the batch");
}

static void probe_destroy(void *state) { free(state); }

static const pipeline_step_desc probe_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_USES_CREDENTIAL,
    .id = "org.test.auth_probe",
    .name = "auth_probe",
    .version = "1.0.0",
    .description = "GETs url with the step's credential; says how it went in every row.",
    .inputs_json = "[]",
    .outputs_json = "[{\"name\": \"status\", \"type\": \"int64\"}, {\"name\": \"http_status\", \"type\": \"int64\"}, "
                    "{\"name\": \"error\", \"type\": \"utf8\", \"optional\": true}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"url\"], "
                          "\"properties\": {\"url\": {\"type\": \"string\"}, "
                          "\"own_authorization\": {\"type\": \"boolean\", \"default\": false}}}",
    .create = probe_create,
    .process = probe_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = probe_destroy,
};

static const pipeline_step_desc *const steps[] = {&probe_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 3,
    .name = "org.test.auth_probe",
    .version = "1.0.0",
    .description = "Test fixture: requests with the host's credential.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
