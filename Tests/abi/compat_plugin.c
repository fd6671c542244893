/*
 * compat_plugin.c: the ABI compatibility suite's plugin (Tests/abi/compat.sh).
 *
 * The same source is built against the header of every release
 * (Tests/abi/headers/<version>), against today's header, and against a
 * test-only "next" header that appends a field to every growable structure.
 * It uses what its header offers, the way a third party's plugin would:
 *
 *   compat_upper  (1.0) reads `text`, adds `upper` (with the `prefix`
 *                 parameter, read through pipeline.params/1) and `abi` (the
 *                 minor it was built against); every input column passes.
 *   compat_llm    (1.0) asks the step's LLM about every row in one
 *                 `complete` call (an array of requests: the stride matters)
 *                 and adds `answer`; from 1.4 through complete_answers (and
 *                 `reasoning`), from 1.5 through complete_answers_for_rows
 *                 with each row's `_row_id`.
 *   compat_http   (1.1) GETs the `url` parameter through pipeline.http/1
 *                 once per batch and adds `http_status`.
 *
 * Every failure is an error status with a message, never a crash.
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

static pipeline_status no_state(pipeline_call *call, const pipeline_step_desc *step,
                                const char *params_json, void **state) {
  (void)call;
  (void)step;
  (void)params_json;
  *state = NULL;
  return PIPELINE_OK;
}

static void no_destroy(void *state) { (void)state; }

/* The input's columns into a new builder, plus the text column's view. */
typedef struct {
  pipeline_arrow_builder builder;
  pipeline_arrow_column *columns;
  pipeline_arrow_column text;
  int64_t n;
} batch_copy;

static pipeline_status copy_begin(pipeline_call *call, const struct ArrowSchema *in_schema,
                                  const struct ArrowArray *in, batch_copy *copy) {
  int64_t c, text;
  pipeline_status st;
  memset(copy, 0, sizeof *copy);
  pipeline_arrow_builder_init(&copy->builder);
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "compat: no input");
  copy->n = in_schema->n_children;
  copy->columns = calloc(copy->n > 0 ? (size_t)copy->n : 1, sizeof *copy->columns);
  if (copy->columns == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "compat: out of memory");
  st = pipeline_arrow_builder_add_columns_like(&copy->builder, in_schema, NULL);
  for (c = 0; st == PIPELINE_OK && c < copy->n; c++)
    st = pipeline_arrow_column_get(in_schema, in, c, &copy->columns[c]);
  if (st != PIPELINE_OK) return fail(call, st, "compat: cannot read the input batch");
  text = pipeline_arrow_find_column(in_schema, "text");
  if (text < 0 || !pipeline_arrow_is_string(&copy->columns[text]))
    return fail(call, PIPELINE_INVALID_DATA, "compat: the input has no utf8 column \"text\"");
  copy->text = copy->columns[text];
  return PIPELINE_OK;
}

static pipeline_status copy_row(batch_copy *copy, int64_t row) {
  pipeline_status st = PIPELINE_OK;
  int64_t c;
  for (c = 0; st == PIPELINE_OK && c < copy->n; c++)
    st = pipeline_arrow_append_from(&copy->builder, c, &copy->columns[c], row);
  return st;
}

static void copy_end(batch_copy *copy) {
  pipeline_arrow_builder_free(&copy->builder);
  free(copy->columns);
}

/* ---- compat_upper ------------------------------------------------------ */

static pipeline_status upper_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  const pipeline_params_ext *params = g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  const char *prefix = "";
  size_t prefix_len = 0;
  batch_copy copy;
  pipeline_status st;
  int64_t row;
  char buffer[512];
  (void)state;
  if (params == NULL) return fail(call, PIPELINE_NOT_IMPLEMENTED, "compat_upper: no pipeline.params/1");
  if (params->get_string(call, "prefix", &prefix, &prefix_len) != PIPELINE_OK) prefix_len = 0;
  st = copy_begin(call, in_schema, in, &copy);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "upper", "u", true);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "abi", "l", false);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++) {
    size_t len = 0, i;
    const char *text = pipeline_arrow_read_utf8(&copy.text, row, &len);
    st = copy_row(&copy, row);
    if (st != PIPELINE_OK) break;
    if (text == NULL || prefix_len + len >= sizeof buffer) {
      st = pipeline_arrow_append_null(&copy.builder, copy.n);
    } else {
      memcpy(buffer, prefix, prefix_len);
      for (i = 0; i < len; i++)
        buffer[prefix_len + i] = (text[i] >= 'a' && text[i] <= 'z') ? (char)(text[i] - 32) : text[i];
      st = pipeline_arrow_append_utf8(&copy.builder, copy.n, buffer, prefix_len + len);
    }
    if (st == PIPELINE_OK) st = pipeline_arrow_append_int64(&copy.builder, copy.n + 1, PIPELINE_ABI_MINOR);
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&copy.builder, out_schema, out);
  copy_end(&copy);
  return st == PIPELINE_OK ? st : fail(call, st, "compat_upper: cannot build the batch");
}

/* ---- compat_llm -------------------------------------------------------- */

static pipeline_status llm_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                   const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                   struct ArrowArray *out) {
  const pipeline_llm_ext *llm = g_host->get_extension(g_host, PIPELINE_EXT_LLM);
  pipeline_llm_request *requests = NULL;
  pipeline_llm_response *responses = NULL;
  uint64_t *row_ids = NULL;
  char **prompts = NULL;
  batch_copy copy;
  pipeline_status st;
  int64_t row, rows;
  (void)state;
  if (llm == NULL) return fail(call, PIPELINE_NOT_IMPLEMENTED, "compat_llm: no pipeline.llm/1");
  st = copy_begin(call, in_schema, in, &copy);
  rows = in != NULL ? in->length : 0;
  if (st == PIPELINE_OK && rows > 0) {
    requests = calloc((size_t)rows, sizeof *requests);
    responses = calloc((size_t)rows, sizeof *responses);
    prompts = calloc((size_t)rows, sizeof *prompts);
    row_ids = calloc((size_t)rows, sizeof *row_ids);
    if (requests == NULL || responses == NULL || prompts == NULL || row_ids == NULL) st = PIPELINE_OUT_OF_MEMORY;
  }
  /* The host's row ids, which every batch carries: 1.5 requests name their rows. */
  if (st == PIPELINE_OK && rows > 0) {
    int64_t id_column = pipeline_arrow_find_column(in_schema, "_row_id");
    if (id_column < 0 || copy.columns[id_column].type != PIPELINE_ARROW_UINT64)
      st = fail(call, PIPELINE_INVALID_DATA, "compat_llm: the input has no uint64 column \"_row_id\"");
    for (row = 0; st == PIPELINE_OK && row < rows; row++)
      row_ids[row] = pipeline_arrow_read_uint64(&copy.columns[id_column], row);
  }
  for (row = 0; st == PIPELINE_OK && row < rows; row++) {
    size_t len = 0;
    const char *text = pipeline_arrow_read_utf8(&copy.text, row, &len);
    prompts[row] = malloc(len + 1);
    if (prompts[row] == NULL) { st = PIPELINE_OUT_OF_MEMORY; break; }
    if (len > 0) memcpy(prompts[row], text, len);
    prompts[row][len] = 0;
    requests[row].struct_size = sizeof(pipeline_llm_request);
    requests[row].prompt = prompts[row];
    requests[row].generation = 0;
  }
#ifdef PIPELINE_LLM_ANSWER_SIZE_1_4
  /* 1.4 and later: answers, which carry the reasoning trace. The host fills
     what it knows of our (maybe larger) struct and says how much. */
  if (PIPELINE_HAS_FIELD(llm, pipeline_llm_ext, complete_answers) && llm->complete_answers != NULL) {
    pipeline_llm_answer *answers = NULL;
    if (st == PIPELINE_OK && rows > 0) {
      answers = calloc((size_t)rows, sizeof *answers);
      if (answers == NULL) st = PIPELINE_OUT_OF_MEMORY;
    }
#ifdef PIPELINE_LLM_EXT_SIZE_1_5
    if (st == PIPELINE_OK && rows > 0 && PIPELINE_HAS_FIELD(llm, pipeline_llm_ext, complete_answers_for_rows) &&
        llm->complete_answers_for_rows != NULL)
      st = llm->complete_answers_for_rows(call, requests, row_ids, (size_t)rows, answers, sizeof *answers);
    else
#endif
    if (st == PIPELINE_OK && rows > 0) st = llm->complete_answers(call, requests, (size_t)rows, answers, sizeof *answers);
    if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "answer", "u", true);
    if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "reasoning", "u", true);
    for (row = 0; st == PIPELINE_OK && row < rows; row++) {
      const pipeline_llm_answer *a = &answers[row];
      st = copy_row(&copy, row);
      if (st != PIPELINE_OK) break;
      if (a->struct_size < PIPELINE_LLM_ANSWER_SIZE_1_4 || a->struct_size > sizeof *a) {
        st = fail(call, PIPELINE_INTERNAL, "compat_llm: the host wrote an answer of a wrong size");
        break;
      }
      if (a->response.status == PIPELINE_OK && a->response.text != NULL)
        st = pipeline_arrow_append_cstr(&copy.builder, copy.n, a->response.text);
      else
        st = pipeline_arrow_append_null(&copy.builder, copy.n);
      if (st != PIPELINE_OK) break;
      if (PIPELINE_HAS_FIELD(a, pipeline_llm_answer, reasoning) && a->reasoning != NULL)
        st = pipeline_arrow_append_cstr(&copy.builder, copy.n + 1, a->reasoning);
      else
        st = pipeline_arrow_append_null(&copy.builder, copy.n + 1);
    }
    if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&copy.builder, out_schema, out);
    if (answers != NULL && rows > 0) llm->release_answers(answers, (size_t)rows, sizeof *answers);
    free(answers);
  } else
#endif
  {
    if (st == PIPELINE_OK && rows > 0) st = llm->complete(call, requests, (size_t)rows, responses);
    if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "answer", "u", true);
    for (row = 0; st == PIPELINE_OK && row < rows; row++) {
      st = copy_row(&copy, row);
      if (st != PIPELINE_OK) break;
      if (responses[row].status == PIPELINE_OK && responses[row].text != NULL)
        st = pipeline_arrow_append_cstr(&copy.builder, copy.n, responses[row].text);
      else
        st = pipeline_arrow_append_null(&copy.builder, copy.n);
    }
    if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&copy.builder, out_schema, out);
    if (responses != NULL && rows > 0) llm->release(responses, (size_t)rows);
  }
  for (row = 0; prompts != NULL && row < rows; row++) free(prompts[row]);
  free(prompts);
  free(row_ids);
  free(requests);
  free(responses);
  copy_end(&copy);
  return st == PIPELINE_OK ? st : fail(call, st, "compat_llm: the batch failed");
}

/* ---- compat_http (1.1) ------------------------------------------------- */

#ifdef PIPELINE_EXT_HTTP
static pipeline_status http_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                    const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                    struct ArrowArray *out) {
  const pipeline_http_ext *http = g_host->get_extension(g_host, PIPELINE_EXT_HTTP);
  const pipeline_params_ext *params = g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  pipeline_http_request request;
  pipeline_http_response response;
  const char *url = NULL;
  size_t url_len = 0;
  char url_text[1024];
  batch_copy copy;
  pipeline_status st;
  int64_t row, status;
  (void)state;
  if (http == NULL || params == NULL) return fail(call, PIPELINE_NOT_IMPLEMENTED, "compat_http: no pipeline.http/1");
  if (params->get_string(call, "url", &url, &url_len) != PIPELINE_OK || url_len >= sizeof url_text)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "compat_http: parameter url is missing");
  memcpy(url_text, url, url_len);
  url_text[url_len] = 0;
  memset(&request, 0, sizeof request);
  memset(&response, 0, sizeof response);
  request.struct_size = sizeof request;
  request.method = "GET";
  request.url = url_text;
  request.timeout_seconds = 30;
  st = http->perform(call, &request, &response);
  status = st == PIPELINE_OK ? response.http_status : -1;
  http->release(&response);
  st = copy_begin(call, in_schema, in, &copy);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&copy.builder, "http_status", "l", false);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++) {
    st = copy_row(&copy, row);
    if (st == PIPELINE_OK) st = pipeline_arrow_append_int64(&copy.builder, copy.n, status);
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&copy.builder, out_schema, out);
  copy_end(&copy);
  return st == PIPELINE_OK ? st : fail(call, st, "compat_http: the batch failed");
}
#endif

/* ---- descriptors ------------------------------------------------------- */

#define PASS_ALL "{\"name\": \"*\", \"type\": \"any\"}"

static const pipeline_step_desc upper_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.compat.upper",
    .name = "compat_upper",
    .version = "1.0.0",
    .description = "Upper-cases `text` into `upper`; `abi` says which header built it.",
    .inputs_json = "[{\"name\": \"text\", \"type\": \"utf8\"}, " PASS_ALL "]",
    .outputs_json = "[{\"name\": \"upper\", \"type\": \"utf8\"}, {\"name\": \"abi\", \"type\": \"int64\"}, " PASS_ALL "]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, "
                          "\"properties\": {\"prefix\": {\"type\": \"string\", \"default\": \"\"}}}",
    .create = no_state,
    .process = upper_process,
    .destroy = no_destroy,
};

static const pipeline_step_desc llm_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_USES_LLM,
    .id = "org.compat.llm",
    .name = "compat_llm",
    .version = "1.0.0",
    .description = "Asks the step's LLM about `text`, all rows of a batch in one complete call.",
    .inputs_json = "[{\"name\": \"text\", \"type\": \"utf8\"}, " PASS_ALL "]",
    .outputs_json = "[{\"name\": \"answer\", \"type\": \"utf8\"}, " PASS_ALL "]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = no_state,
    .process = llm_process,
    .destroy = no_destroy,
};

#ifdef PIPELINE_EXT_HTTP
static const pipeline_step_desc http_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = 0,
    .id = "org.compat.http",
    .name = "compat_http",
    .version = "1.0.0",
    .description = "GETs `url` through the host once per batch; adds `http_status`.",
    .inputs_json = "[{\"name\": \"text\", \"type\": \"utf8\"}, " PASS_ALL "]",
    .outputs_json = "[{\"name\": \"http_status\", \"type\": \"int64\"}, " PASS_ALL "]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"url\"], "
                          "\"properties\": {\"url\": {\"type\": \"string\"}}}",
    .create = no_state,
    .process = http_process,
    .destroy = no_destroy,
};
static const pipeline_step_desc *const steps[] = {&upper_step, &llm_step, &http_step};
#else
static const pipeline_step_desc *const steps[] = {&upper_step, &llm_step};
#endif

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    /* Built against header 1.x, it needs a host of 1.x, unless built with
       -DCOMPAT_NEEDS_MINOR=0: a plugin from a later header that uses
       nothing new, whose structures are larger than the host's. */
#ifdef COMPAT_NEEDS_MINOR
    .abi_minor = COMPAT_NEEDS_MINOR,
#else
    .abi_minor = PIPELINE_ABI_MINOR,
#endif
    .name = "org.compat",
    .version = "1.0.0",
    .description = "ABI compatibility suite plugin.",
    .step_count = sizeof steps / sizeof steps[0],
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  char line[96];
  int len;
  g_host = host;
  len = snprintf(line, sizeof line, "compat plugin built for ABI %d.%d on a %u.%u host", PIPELINE_ABI_MAJOR,
                 PIPELINE_ABI_MINOR, (unsigned)host->abi_major, (unsigned)host->abi_minor);
#if PIPELINE_ABI_MINOR >= 3
  if (PIPELINE_HAS_FIELD(host, pipeline_host, log_plugin) && host->log_plugin != NULL)
    host->log_plugin(host, PIPELINE_LOG_DEBUG, line, (size_t)len);
  else
#endif
    host->log(NULL, PIPELINE_LOG_DEBUG, line, (size_t)len);
  return &plugin;
}
