/*
 * dup_b.c: test fixture. Plugin "org.test.dup_b" declares the step id
 * "org.test.duplicate" (name "duplicate"), and so does dup_a.c. With both
 * on the plugin path, the first one found wins and the other is refused as
 * a whole, with both paths in the message (docs/ARCHITECTURE.md, Loading).
 */
#include <stddef.h>

#include "pipeline_plugin.h"

static pipeline_status duplicate_create(pipeline_call *call, const pipeline_step_desc *step,
                                        const char *params_json, void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL;
  return PIPELINE_OK;
}

static pipeline_status duplicate_process(pipeline_call *call, void *state,
                                         const struct ArrowSchema *in_schema,
                                         const struct ArrowArray *in,
                                         struct ArrowSchema *out_schema, struct ArrowArray *out) {
  (void)call;
  (void)state;
  (void)in_schema;
  (void)in;
  (void)out_schema;
  (void)out;
  return PIPELINE_OK; /* no output */
}

static void duplicate_destroy(void *state) { (void)state; }

static const pipeline_step_desc duplicate_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.duplicate",
    .name = "duplicate",
    .version = "1.0.0",
    .description = "The copy of org.test.duplicate in org.test.dup_b; drops every batch.",
    .inputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Ignored.\"}]",
    .outputs_json = "[]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = duplicate_create,
    .process = duplicate_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = duplicate_destroy,
};

static const pipeline_step_desc *const steps[] = {&duplicate_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.dup_b",
    .version = "1.0.0",
    .description = "Test fixture: declares a step id that another fixture declares too.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  (void)host;
  return &plugin;
}
