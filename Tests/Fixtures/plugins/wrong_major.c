/*
 * wrong_major.c: test fixture. Plugin "org.test.wrong_major" claims ABI
 * major PIPELINE_ABI_MAJOR + 1, so a host must refuse it, with a message
 * naming both versions. Its one step, "org.test.wrong_major.noop", must
 * never appear. (Apart from abi_major, the table is laid out as in 1.0.)
 */
#include <stddef.h>

#include "pipeline_plugin.h"

static pipeline_status noop_create(pipeline_call *call, const pipeline_step_desc *step,
                                   const char *params_json, void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL;
  return PIPELINE_OK;
}

static pipeline_status noop_process(pipeline_call *call, void *state,
                                    const struct ArrowSchema *in_schema, const struct ArrowArray *in,
                                    struct ArrowSchema *out_schema, struct ArrowArray *out) {
  (void)call;
  (void)state;
  (void)in_schema;
  (void)in;
  (void)out_schema;
  (void)out;
  return PIPELINE_OK; /* no output */
}

static void noop_destroy(void *state) { (void)state; }

static const pipeline_step_desc noop_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = 0,
    .id = "org.test.wrong_major.noop",
    .name = "wrong_major_noop",
    .version = "1.0.0",
    .description = "Must never be listed: its plugin has an incompatible ABI version.",
    .inputs_json = "[]",
    .outputs_json = "[]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = noop_create,
    .process = noop_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = noop_destroy,
};

static const pipeline_step_desc *const steps[] = {&noop_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR + 1,
    .abi_minor = 0,
    .name = "org.test.wrong_major",
    .version = "1.0.0",
    .description = "Test fixture: an incompatible ABI version.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  (void)host;
  return &plugin;
}
