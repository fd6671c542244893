/*
 * crash.c: test fixture for the crash handler. Plugin "org.test.crash" with
 * one step, "org.test.crash", that copies every input batch to its output,
 * and crashes like a buggy third-party plugin when told to through the
 * environment (so a rerun without the variable is the same pipeline):
 *   CRASH_FIXTURE_AT=N       crashes in its Nth process call;
 *   CRASH_FIXTURE_HOW=segv   how (default): writes through a NULL pointer;
 *                    thread  the same, on a thread of its own;
 *                    stack   overflows the worker thread's stack;
 *                    abort   calls abort().
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline_arrow.h"

static const pipeline_host *g_host;

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *msg) {
  g_host->set_error(call, status, msg, strlen(msg));
  return status;
}

typedef struct {
  long crash_at, calls;
  char how[16];
} crash_state;

/* volatile: the compiler must emit the store (a literal NULL store may be
   turned into a trap instruction, SIGILL). */
static int *volatile nowhere = NULL;

static void *crash_now(void *unused) {
  (void)unused;
  *nowhere = 42;
  return NULL;
}

/* Recursion far deeper than any stack, which the compiler cannot turn into a loop. */
static volatile long depth_limit = 1L << 40;

static long overflow(volatile char *previous, long depth) {
  volatile char frame[4096];
  frame[0] = previous != NULL ? previous[0] : 1;
  if (depth >= depth_limit) return frame[0];
  return overflow(frame, depth + 1) + frame[1];
}

static void crash(const char *how) {
  if (strcmp(how, "thread") == 0) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, crash_now, NULL) == 0) pthread_join(thread, NULL);
  } else if (strcmp(how, "stack") == 0) {
    overflow(NULL, 0);
  } else if (strcmp(how, "abort") == 0) {
    abort();
  }
  crash_now(NULL);
}

static pipeline_status crash_create(pipeline_call *call, const pipeline_step_desc *step, const char *params_json,
                                    void **state) {
  const char *at = getenv("CRASH_FIXTURE_AT"), *how = getenv("CRASH_FIXTURE_HOW");
  crash_state *s = calloc(1, sizeof *s);
  (void)step;
  (void)params_json;
  if (s == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  s->crash_at = at != NULL ? strtol(at, NULL, 10) : 0;
  strncpy(s->how, how != NULL ? how : "segv", sizeof s->how - 1);
  *state = s;
  return PIPELINE_OK;
}

static pipeline_status crash_process(pipeline_call *call, void *state, const struct ArrowSchema *in_schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  pipeline_arrow_builder builder;
  pipeline_arrow_column *columns;
  int64_t c, row, n;
  pipeline_status st;
  crash_state *s = state;
  if (in_schema == NULL || in == NULL) return fail(call, PIPELINE_INVALID_ARGUMENT, "no input");
  if (++s->calls == s->crash_at) {
    /* The host commits earlier calls on a thread of its own: give it time,
       so the rerun has committed work to resume from. */
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    crash(s->how);
  }
  n = in_schema->n_children;
  columns = calloc(n > 0 ? (size_t)n : 1, sizeof *columns);
  if (columns == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "out of memory");
  pipeline_arrow_builder_init(&builder);
  st = pipeline_arrow_builder_add_columns_like(&builder, in_schema, NULL);
  for (c = 0; st == PIPELINE_OK && c < n; c++) st = pipeline_arrow_column_get(in_schema, in, c, &columns[c]);
  for (row = 0; st == PIPELINE_OK && row < in->length; row++)
    for (c = 0; st == PIPELINE_OK && c < n; c++) st = pipeline_arrow_append_from(&builder, c, &columns[c], row);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&builder, out_schema, out);
  pipeline_arrow_builder_free(&builder);
  free(columns);
  return st == PIPELINE_OK ? st : fail(call, st, "crash: cannot copy the batch");
}

static void crash_destroy(void *state) { free(state); }

static const pipeline_step_desc crash_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_STEP,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.test.crash",
    .name = "crash",
    .version = "1.0.0",
    .description = "Copies the input batch; crashes when CRASH_FIXTURE_AT says so.",
    .inputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .outputs_json = "[{\"name\": \"*\", \"type\": \"any\", \"description\": \"Every column.\"}]",
    .params_schema_json = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}",
    .create = crash_create,
    .process = crash_process,
    .finish = NULL,
    .interrupt = NULL,
    .destroy = crash_destroy,
};

static const pipeline_step_desc *const steps[] = {&crash_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.crash",
    .version = "1.0.0",
    .description = "Test fixture: a pass-through step that can be made to crash.",
    .step_count = 1,
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  g_host = host;
  return &plugin;
}
