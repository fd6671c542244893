/*
 * schema_steps.c: test fixture for pipeline validation. Plugin
 * "org.test.schema" with steps whose descriptors exercise what the
 * validator checks: parameter schemas (required, enum, const, minimum,
 * maximum, exclusive bounds, string and list lengths, pattern, nested
 * objects with defaults, additionalProperties, "format": "input-path"),
 * column declarations ("*", optional columns, "name_param") and the step
 * kinds. Only the descriptors matter: no step processes rows.
 *
 *   load_rows         generator: outputs id, prompt
 *   load_any          generator: declares no outputs (columns unknown)
 *   make_instruction  step: needs prompt, adds instruction, passes all on
 *   generate          step (uses an LLM): needs instruction, emits only
 *                     instruction and response
 *   score             global: reads the column named by `column`, adds score
 *   write_rows        step: any columns, writes them; no output
 */
#include <string.h>

#include "pipeline_plugin.h"

static const pipeline_host *g_host;

static pipeline_status not_implemented(pipeline_call *call) {
  static const char msg[] = "schema_steps: a validation fixture; it processes nothing";
  g_host->set_error(call, PIPELINE_NOT_IMPLEMENTED, msg, strlen(msg));
  return PIPELINE_NOT_IMPLEMENTED;
}

static pipeline_status fixture_create(pipeline_call *call, const pipeline_step_desc *step,
                                      const char *params_json, void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL;
  return PIPELINE_OK;
}

static pipeline_status fixture_process(pipeline_call *call, void *state,
                                       const struct ArrowSchema *in_schema,
                                       const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                       struct ArrowArray *out) {
  (void)state;
  (void)in_schema;
  (void)in;
  (void)out_schema;
  (void)out;
  return not_implemented(call);
}

static void fixture_destroy(void *state) { (void)state; }

#define FIXTURE_FUNCTIONS                                                   \
  .create = fixture_create, .process = fixture_process, .finish = NULL,     \
  .interrupt = NULL, .destroy = fixture_destroy

static const pipeline_step_desc load_rows_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GENERATOR,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.load_rows",
    .name = "load_rows",
    .version = "1.0.0",
    .description = "Reads rows with an id and a prompt from `path`.",
    .inputs_json = "[]",
    .outputs_json = "[{\"name\": \"id\", \"type\": \"int64\"}, {\"name\": \"prompt\", \"type\": \"utf8\"}]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"path\"],"
        " \"properties\": {"
        "  \"path\": {\"type\": \"string\", \"minLength\": 1, \"format\": \"input-path\"},"
        "  \"batch_size\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100000, \"default\": 100},"
        "  \"limit\": {\"type\": \"integer\", \"minimum\": 0}"
        " }}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc load_any_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GENERATOR,
    .flags = 0,
    .id = "org.test.load_any",
    .name = "load_any",
    .version = "1.0.0",
    .description = "Reads rows whose columns are only known once the file is read.",
    .inputs_json = "[]",
    .outputs_json = "[]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {\"path\": {\"type\": \"string\", \"format\": \"input-path\"}}}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc make_instruction_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.make_instruction",
    .name = "make_instruction",
    .version = "1.0.0",
    .description = "Fills `template` with each row's prompt into a new column, instruction.",
    .inputs_json = "[{\"name\": \"prompt\", \"type\": \"utf8\"}, {\"name\": \"*\", \"type\": \"any\"}]",
    .outputs_json = "[{\"name\": \"instruction\", \"type\": \"utf8\"}, {\"name\": \"*\", \"type\": \"any\"}]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {\"template\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"{prompt}\"}}}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc generate_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_USES_LLM,
    .id = "org.test.generate",
    .name = "generate",
    .version = "1.0.0",
    .description = "Asks an LLM to answer each instruction; emits instruction and response only.",
    .inputs_json =
        "[{\"name\": \"instruction\", \"type\": \"utf8\"},"
        " {\"name\": \"system\", \"type\": \"utf8\", \"optional\": true}]",
    .outputs_json =
        "[{\"name\": \"instruction\", \"type\": \"utf8\"}, {\"name\": \"response\", \"type\": \"utf8\"}]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"mode\"],"
        " \"properties\": {"
        "  \"mode\": {\"type\": \"string\", \"enum\": [\"chat\", \"completion\"]},"
        "  \"temperature\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 2, \"default\": 0.7},"
        "  \"top_p\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1},"
        "  \"max_tokens\": {\"type\": [\"integer\", \"null\"], \"exclusiveMinimum\": 0},"
        "  \"stop\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 4,"
        "   \"items\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 16}},"
        "  \"label\": {\"type\": \"string\", \"pattern\": \"^[a-z_]+$\"},"
        "  \"format\": {\"const\": \"text\", \"default\": \"text\"},"
        "  \"options\": {\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"seed\"],"
        "   \"properties\": {"
        "    \"seed\": {\"type\": \"integer\"},"
        "    \"retries\": {\"type\": \"integer\", \"minimum\": 0, \"default\": 3}"
        "   }},"
        "  \"headers\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}"
        " }}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc score_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GLOBAL,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.score",
    .name = "score",
    .version = "1.0.0",
    .description = "Scores the text in the column named by `column` against the whole pool.",
    .inputs_json =
        "[{\"name\": \"response\", \"type\": \"utf8\", \"name_param\": \"column\"},"
        " {\"name\": \"*\", \"type\": \"any\"}]",
    .outputs_json = "[{\"name\": \"score\", \"type\": \"float64\"}, {\"name\": \"*\", \"type\": \"any\"}]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {\"column\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"response\"}}}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc write_rows_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = 0,
    .id = "org.test.write_rows",
    .name = "write_rows",
    .version = "1.0.0",
    .description = "Writes every row to `path`; `extra` files are read first.",
    .inputs_json = "[{\"name\": \"*\", \"type\": \"any\"}]",
    .outputs_json = "[]",
    .params_schema_json =
        "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"path\"],"
        " \"properties\": {"
        "  \"path\": {\"type\": \"string\", \"minLength\": 1, \"format\": \"output-path\"},"
        "  \"extra\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"format\": \"input-path\"}}"
        " }}",
    FIXTURE_FUNCTIONS,
};

static const pipeline_step_desc *const steps[] = {&load_rows_step, &load_any_step, &make_instruction_step,
                                                  &generate_step, &score_step, &write_rows_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.schema",
    .version = "1.0.0",
    .description = "Test fixture: descriptors for pipeline validation.",
    .step_count = sizeof steps / sizeof steps[0],
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
