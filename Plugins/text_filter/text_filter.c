/*
 * text_filter.c: a step plugin in plain C. It keeps the rows whose text
 * passes every condition given in its parameters and passes all columns of
 * those rows through unchanged. Copy this file to start a plugin of your own.
 *
 * Build (see docs/writing-plugins.md):
 *
 *     cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden \
 *        -I Sources/CPipelineABI/include \
 *        -o libtext_filter.so Plugins/text_filter/text_filter.c
 *
 * Parameters (validated by the host against the schema below, defaults
 * filled in):
 *     column     the utf8 column to test (default "text")
 *     min_chars  keep texts of at least this many characters (default 0)
 *     max_chars  keep texts of at most this many characters (optional)
 *     contains   keep texts containing this substring (optional)
 *     invert     keep the rows that fail instead (default false)
 * Characters are Unicode code points. A null text is always dropped, also
 * with invert.
 *
 * Threads: create and destroy run on the host's control thread. process runs
 * on a worker thread and only reads the instance, so it would also be safe
 * to run concurrently (PIPELINE_STEP_REENTRANT); the only global, g_host, is
 * written once in pipeline_plugin_entry before anything else runs.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h" /* includes pipeline_plugin.h */

#if defined(__GNUC__)
#define TF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TF_PRINTF(f, a)
#endif

/* The host, kept from pipeline_plugin_entry; valid until the process exits. */
static const pipeline_host *g_host;

/* One instance of the step: its parameters, owned copies. */
typedef struct text_filter {
  char *column;
  int64_t min_chars;
  int64_t max_chars;     /* -1: no upper limit */
  char *contains;        /* NULL: no substring condition */
  size_t contains_len;
  bool invert;
} text_filter;

/* Records an error for the current call and returns its status. */
static TF_PRINTF(3, 4) pipeline_status fail(pipeline_call *call, pipeline_status status,
                                            const char *format, ...) {
  char msg[512];
  va_list args;
  int n;
  va_start(args, format);
  n = vsnprintf(msg, sizeof msg, format, args);
  va_end(args);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) {
    /* Truncated: cut before the last, maybe partial, UTF-8 sequence. */
    n = (int)sizeof msg - 1;
    while (n > 0 && ((unsigned char)msg[n - 1] & 0xC0) == 0x80) n--;
    if (n > 0 && (unsigned char)msg[n - 1] >= 0xC0) n--;
  }
  g_host->set_error(call, status, msg, (size_t)n);
  return status;
}

static char *copy_string(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    if (len != 0) memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

/* A column's name and format for messages (Arrow allows a NULL name). */
static const char *column_name(const struct ArrowSchema *schema, int64_t index) {
  const struct ArrowSchema *field = schema->children[index];
  return field != NULL && field->name != NULL ? field->name : "?";
}

static const char *column_format(const struct ArrowSchema *schema, int64_t index) {
  const struct ArrowSchema *field = schema->children[index];
  return field != NULL && field->format != NULL ? field->format : "?";
}

/* [control] Frees an instance; also used by create on its error paths. */
static void text_filter_destroy(void *state) {
  text_filter *f = state;
  if (f == NULL) return;
  free(f->column);
  free(f->contains);
  free(f);
}

/*
 * Reading parameters. The params service returns PIPELINE_OK,
 * PIPELINE_NOT_IMPLEMENTED when the key is absent (the default applies), or
 * PIPELINE_INVALID_ARGUMENT when the value has another type. Strings it
 * returns live as long as the instance; copying them keeps things simple.
 */
static pipeline_status read_string(pipeline_call *call, const pipeline_params_ext *params,
                                   const char *key, const char *fallback, char **value,
                                   size_t *value_len) {
  const char *s = fallback;
  size_t len = fallback != NULL ? strlen(fallback) : 0;
  pipeline_status st = params->get_string(call, key, &s, &len);
  if (st == PIPELINE_NOT_IMPLEMENTED) {
    if (fallback == NULL) return PIPELINE_OK; /* optional and absent */
    s = fallback;
    len = strlen(fallback);
  } else if (st != PIPELINE_OK) {
    return fail(call, PIPELINE_INVALID_ARGUMENT, "text_filter: parameter \"%s\" must be a string", key);
  }
  if ((*value = copy_string(s, len)) == NULL)
    return fail(call, PIPELINE_OUT_OF_MEMORY, "text_filter: out of memory");
  if (value_len != NULL) *value_len = len;
  return PIPELINE_OK;
}

static pipeline_status read_int(pipeline_call *call, const pipeline_params_ext *params,
                                const char *key, int64_t fallback, int64_t *value) {
  pipeline_status st = params->get_int64(call, key, value);
  if (st == PIPELINE_NOT_IMPLEMENTED) *value = fallback;
  else if (st != PIPELINE_OK)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "text_filter: parameter \"%s\" must be an integer", key);
  else if (*value < 0)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "text_filter: parameter \"%s\" must be >= 0", key);
  return PIPELINE_OK;
}

static pipeline_status read_bool(pipeline_call *call, const pipeline_params_ext *params,
                                 const char *key, bool fallback, bool *value) {
  pipeline_status st = params->get_bool(call, key, value);
  if (st == PIPELINE_NOT_IMPLEMENTED) *value = fallback;
  else if (st != PIPELINE_OK)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "text_filter: parameter \"%s\" must be a boolean", key);
  return PIPELINE_OK;
}

/* [control] Makes an instance from the parameters. */
static pipeline_status text_filter_create(pipeline_call *call, const pipeline_step_desc *step,
                                          const char *params_json, void **state) {
  const pipeline_params_ext *params;
  text_filter *f;
  pipeline_status st;
  (void)step;        /* this plugin has one step */
  (void)params_json; /* read through the params service instead of parsing JSON */

  params = (const pipeline_params_ext *)g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  if (params == NULL || !PIPELINE_HAS_FIELD(params, pipeline_params_ext, get_bool))
    return fail(call, PIPELINE_NOT_IMPLEMENTED, "text_filter needs the host service \"%s\"",
                PIPELINE_EXT_PARAMS);
  f = calloc(1, sizeof *f);
  if (f == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "text_filter: out of memory");

  if ((st = read_string(call, params, "column", "text", &f->column, NULL)) != PIPELINE_OK ||
      (st = read_int(call, params, "min_chars", 0, &f->min_chars)) != PIPELINE_OK ||
      (st = read_int(call, params, "max_chars", -1, &f->max_chars)) != PIPELINE_OK ||
      (st = read_string(call, params, "contains", NULL, &f->contains, &f->contains_len)) != PIPELINE_OK ||
      (st = read_bool(call, params, "invert", false, &f->invert)) != PIPELINE_OK) {
    text_filter_destroy(f);
    return st;
  }
  if (f->max_chars >= 0 && f->max_chars < f->min_chars) {
    st = fail(call, PIPELINE_INVALID_ARGUMENT,
              "text_filter: max_chars (%lld) is less than min_chars (%lld): no row could pass",
              (long long)f->max_chars, (long long)f->min_chars);
    text_filter_destroy(f);
    return st;
  }
  *state = f;
  return PIPELINE_OK;
}

/* Unicode code points in valid UTF-8: the bytes that are not continuation
   bytes (10xxxxxx). */
static int64_t count_chars(const char *s, size_t len) {
  int64_t chars = 0;
  size_t i;
  for (i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) chars++;
  return chars;
}

static bool has_substring(const char *hay, size_t n, const char *needle, size_t m) {
  const char *p = hay, *end = hay + n;
  if (m == 0) return true;
  while ((size_t)(end - p) >= m) {
    p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
    if (p == NULL) return false;
    if (memcmp(p, needle, m) == 0) return true;
    p++;
  }
  return false;
}

/* True if the row goes to the output. */
static bool keeps(const text_filter *f, const pipeline_arrow_column *text, int64_t row) {
  const char *s;
  size_t len;
  bool pass = true;
  if (!pipeline_arrow_is_valid(text, row)) return false; /* null: dropped, even with invert */
  s = pipeline_arrow_read_utf8(text, row, &len);
  if (f->min_chars > 0 || f->max_chars >= 0) {
    int64_t chars = count_chars(s, len);
    pass = chars >= f->min_chars && (f->max_chars < 0 || chars <= f->max_chars);
  }
  if (pass && f->contains != NULL) pass = has_substring(s, len, f->contains, f->contains_len);
  return pass != f->invert;
}

/* [worker] Filters one batch. The input is borrowed; the output is moved to
   the host, which releases it. */
static pipeline_status text_filter_process(pipeline_call *call, void *state,
                                           const struct ArrowSchema *in_schema,
                                           const struct ArrowArray *in,
                                           struct ArrowSchema *out_schema,
                                           struct ArrowArray *out) {
  const text_filter *f = state;
  pipeline_arrow_column text, *columns = NULL;
  pipeline_arrow_builder builder;
  int64_t index, c, row, n_columns, failed = -1;
  pipeline_status st = PIPELINE_OK;

  if (in_schema == NULL || in == NULL)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "text_filter: called without an input batch");

  /* The column to test: present, and text. */
  index = pipeline_arrow_find_column(in_schema, f->column);
  if (index < 0)
    return fail(call, PIPELINE_INVALID_DATA,
                "text_filter: the input has no column \"%s\" (expected type utf8 or large_utf8)",
                f->column);
  if (pipeline_arrow_column_get(in_schema, in, index, &text) != PIPELINE_OK)
    return fail(call, PIPELINE_INVALID_DATA, "text_filter: column \"%s\" is malformed", f->column);
  if (!pipeline_arrow_is_string(&text))
    return fail(call, PIPELINE_INVALID_DATA,
                "text_filter: column \"%s\" has type %s (format \"%s\"); expected utf8 or large_utf8",
                f->column, pipeline_arrow_type_name(text.type), column_format(in_schema, index));

  /* A view of every column, and an output builder with the same columns. */
  n_columns = in_schema->n_children;
  columns = calloc((size_t)n_columns, sizeof *columns);
  if (columns == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "text_filter: out of memory");
  pipeline_arrow_builder_init(&builder);
  for (c = 0; c < n_columns; c++) {
    if (pipeline_arrow_column_get(in_schema, in, c, &columns[c]) != PIPELINE_OK) {
      st = fail(call, PIPELINE_INVALID_DATA, "text_filter: column \"%s\" is malformed",
                column_name(in_schema, c));
      goto done;
    }
  }
  st = pipeline_arrow_builder_add_columns_like(&builder, in_schema, &failed);
  if (st == PIPELINE_INVALID_DATA) {
    st = fail(call, st, "text_filter: cannot pass column \"%s\" through: format \"%s\" is not supported",
              column_name(in_schema, failed), column_format(in_schema, failed));
    goto done;
  } else if (st != PIPELINE_OK) {
    st = fail(call, st, "text_filter: out of memory");
    goto done;
  }

  for (row = 0; row < text.length; row++) {
    if (row % 4096 == 0 && g_host->is_cancelled(call)) {
      st = fail(call, PIPELINE_CANCELLED, "text_filter: cancelled");
      goto done;
    }
    if (!keeps(f, &text, row)) continue;
    for (c = 0; c < n_columns; c++) {
      st = pipeline_arrow_append_from(&builder, c, &columns[c], row);
      if (st != PIPELINE_OK) {
        st = fail(call, st, "text_filter: cannot copy row %lld of column \"%s\" (status %d)",
                  (long long)row, column_name(in_schema, c), (int)st);
        goto done;
      }
    }
  }

  /* No kept rows: leave the output released, which means "no output". */
  if (pipeline_arrow_builder_length(&builder) > 0) {
    st = pipeline_arrow_builder_finish(&builder, out_schema, out);
    if (st != PIPELINE_OK) st = fail(call, st, "text_filter: cannot finish the output batch");
  }

done:
  pipeline_arrow_builder_free(&builder);
  free(columns);
  return st;
}

static const pipeline_step_desc text_filter_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC | PIPELINE_STEP_FILTERS,
    .id = "org.pipeline.text_filter",
    .name = "text_filter",
    .version = "1.0.0",
    .description =
        "Keeps the rows whose text passes every given condition: a length in Unicode code "
        "points between min_chars and max_chars, and a substring. invert keeps the rows that "
        "fail instead. Rows whose text is null are always dropped. Every column of the kept "
        "rows passes through unchanged.",
    .inputs_json =
        "[{\"name\": \"text\", \"type\": \"utf8\", \"optional\": false, \"name_param\": \"column\","
        " \"description\": \"The text to test; the column read is the one named by the"
        " `column` parameter. large_utf8 is accepted too.\"},"
        " {\"name\": \"*\", \"type\": \"any\","
        " \"description\": \"Every other column passes through.\"}]",
    .outputs_json =
        "[{\"name\": \"text\", \"type\": \"utf8\", \"optional\": false, \"name_param\": \"column\","
        " \"description\": \"The tested column, unchanged.\"},"
        " {\"name\": \"*\", \"type\": \"any\","
        " \"description\": \"Every input column, for the kept rows only.\"}]",
    .params_schema_json =
        "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
        " \"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {"
        "  \"column\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"text\","
        "   \"description\": \"The utf8 column to test.\"},"
        "  \"min_chars\": {\"type\": \"integer\", \"minimum\": 0, \"default\": 0,"
        "   \"description\": \"Keep texts of at least this many characters (Unicode code points).\"},"
        "  \"max_chars\": {\"type\": \"integer\", \"minimum\": 0,"
        "   \"description\": \"Keep texts of at most this many characters. No limit if absent.\"},"
        "  \"contains\": {\"type\": \"string\","
        "   \"description\": \"Keep texts that contain this substring (exact, case-sensitive).\"},"
        "  \"invert\": {\"type\": \"boolean\", \"default\": false,"
        "   \"description\": \"Keep the rows that fail the conditions instead. Null texts are dropped either way.\"}"
        " },"
        " \"x-plan\": {\"at_most\": true}}",
    .create = text_filter_create,
    .process = text_filter_process,
    .finish = NULL,    /* nothing buffered, nothing to flush */
    .interrupt = NULL, /* process polls host->is_cancelled instead */
    .destroy = text_filter_destroy,
};

static const pipeline_step_desc *const steps[] = {&text_filter_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0, /* the lowest host minor needed: nothing after 1.0 is used */
    .name = "org.pipeline.text_filter",
    .version = "1.0.0",
    .description = "Filters rows by the length and content of a text column.",
    .step_count = sizeof steps / sizeof steps[0],
    .steps = steps,
};


PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  /* A host too old to have the functions used here: refuse, if we can say so. */
  if (host == NULL || !PIPELINE_HAS_FIELD(host, pipeline_host, get_extension)) {
    if (host != NULL && PIPELINE_HAS_FIELD(host, pipeline_host, set_error)) {
      static const char msg[] = "text_filter: the host table is too small";
      host->set_error(NULL, PIPELINE_INVALID_ARGUMENT, msg, sizeof msg - 1);
    }
    return NULL;
  }
  g_host = host;
  return &plugin;
}
