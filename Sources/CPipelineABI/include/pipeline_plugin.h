/*
 * pipeline_plugin.h: the whole contract between the `pipeline` host and a
 * step plugin. ABI version 1.6 (PIPELINE_ABI_MAJOR.PIPELINE_ABI_MINOR below).
 *
 * A plugin is a shared library that exports exactly one function,
 *
 *     const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host);
 *
 * and reaches the host only through the tables below. Batches of rows cross
 * the boundary as Arrow C Data Interface record batches (pipeline_arrow_c.h).
 *
 * Rules that hold for the whole file
 * ----------------------------------
 * Versioning. PIPELINE_ABI_MAJOR must be equal on both sides; the plugin's
 *   `abi_minor` (the minor it needs) must be <= the host's. Every structure
 *   that may grow starts with `struct_size` and only ever grows at its end:
 *   a reader touches a field only if the field ends within the writer's
 *   `struct_size` (use PIPELINE_HAS_FIELD). Existing fields never move,
 *   change type or change meaning. Optional host services are looked up by
 *   string id (get_extension); a changed service gets a new id, the old id
 *   keeps working.
 * Sizes. Each growable structure has a frozen minimum size, the size it had
 *   in the version that introduced it (PIPELINE_*_SIZE_1_x below): a reader
 *   refuses a struct_size below it and reads every field past the writer's
 *   struct_size as absent (zero, NULL). It never compares struct_size with
 *   its own sizeof, which grows with every release.
 * Frozen structures. pipeline_llm_request, pipeline_llm_response,
 *   pipeline_http_request and pipeline_http_response travel in arrays or are
 *   filled in by the other side, so they never grow: their size is part of
 *   ABI major 1 and arrays of them have the stride sizeof(...). A new field
 *   there means a new function (appended to its service table) with a new
 *   structure. Their `struct_size` must be exactly the frozen size.
 * Identity. Every plugin library gets a pipeline_host table of its own (the
 *   same functions; a different address). log_plugin and refuse (1.3) use
 *   it to say which library a line or a refusal comes from, from any thread.
 * Threads. Each function is tagged with where it may be called:
 *   [control]     the host's control thread, one call at a time;
 *   [worker]      a host worker thread (never a thread of Swift's cooperative
 *                 pool), so the function may block; for one step instance at
 *                 most one [worker] call runs at a time unless the step sets
 *                 PIPELINE_STEP_REENTRANT;
 *   [thread-safe] any thread, concurrently with anything.
 * Ownership. Strings and tables a plugin returns stay valid until the process
 *   exits (the host never unloads a plugin). Input batches are borrowed for
 *   the duration of the call: copy what you keep. Output batches are moved
 *   to the host, which calls their `release` exactly once. Each side frees
 *   only its own memory; the host copies error and log messages.
 * Errors. Functions return a pipeline_status. Before returning an error, call
 *   host->set_error to say what went wrong. Nothing may unwind across the
 *   boundary: C++ must catch, Rust must catch_unwind, Swift must not trap.
 *   A bad row is not a failed batch: put its message in the nullable `_error`
 *   utf8 column of the output and go on.
 * Strings are UTF-8. `const char *` without a length is NUL-terminated.
 */
#ifndef PIPELINE_PLUGIN_H
#define PIPELINE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline_arrow_c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PIPELINE_ABI_MAJOR 1
#define PIPELINE_ABI_MINOR 6 /* 1.1 added "pipeline.http/1" and "pipeline.run/1";
                                1.2 added pipeline_llm_ext.embed_with_errors;
                                1.3 added pipeline_host.log_plugin and .refuse,
                                PIPELINE_STEP_FILTERS, the frozen sizes,
                                pipeline_http_ext.perform_authenticated and
                                PIPELINE_STEP_USES_CREDENTIAL;
                                1.4 added pipeline_llm_answer and
                                pipeline_llm_ext.complete_answers,
                                .release_answers and .submit_answer,
                                pipeline_run_ext.input_index, .input_count
                                and .input_name;
                                1.5 added pipeline_llm_ext.complete_answers_for_rows
                                and .submit_answer_for_row (requests that name
                                their row) and pipeline_run_ext.expect_rows;
                                1.6 added PIPELINE_STEP_CREDENTIAL_OPTIONAL */

/* The one symbol a plugin library exports. */
#define PIPELINE_PLUGIN_ENTRY_SYMBOL "pipeline_plugin_entry"

#if defined(_WIN32)
#define PIPELINE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PIPELINE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when `field` of the structure at `ptr` lies within its struct_size. */
#define PIPELINE_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/*
 * Frozen sizes (LP64). PIPELINE_<STRUCT>_SIZE_<MAJOR>_<MINOR> is sizeof the
 * structure as it was in that release; these numbers never change. The
 * smallest one of a structure is the least struct_size a reader accepts.
 */
#define PIPELINE_HOST_SIZE_1_0 48
#define PIPELINE_HOST_SIZE_1_3 64
#define PIPELINE_STEP_DESC_SIZE_1_0 112
#define PIPELINE_PLUGIN_SIZE_1_0 48
#define PIPELINE_PARAMS_EXT_SIZE_1_0 56
#define PIPELINE_LLM_EXT_SIZE_1_0 40
#define PIPELINE_LLM_EXT_SIZE_1_2 48
#define PIPELINE_LLM_EXT_SIZE_1_4 72
#define PIPELINE_LLM_EXT_SIZE_1_5 88
#define PIPELINE_LLM_ANSWER_SIZE_1_4 80
#define PIPELINE_HTTP_EXT_SIZE_1_1 24
#define PIPELINE_HTTP_EXT_SIZE_1_3 32
#define PIPELINE_RUN_EXT_SIZE_1_1 56
#define PIPELINE_RUN_EXT_SIZE_1_4 80
#define PIPELINE_RUN_EXT_SIZE_1_5 88
/* Frozen structures: the only size they will ever have in major 1. */
#define PIPELINE_LLM_REQUEST_SIZE 48
#define PIPELINE_LLM_RESPONSE_SIZE 64
#define PIPELINE_HTTP_REQUEST_SIZE 64
#define PIPELINE_HTTP_RESPONSE_SIZE 56

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

typedef int32_t pipeline_status;

enum {
  PIPELINE_OK = 0,
  PIPELINE_INVALID_ARGUMENT = 1, /* parameters or call misuse */
  PIPELINE_INVALID_DATA = 2,     /* input batch not as the step needs */
  PIPELINE_IO = 3,               /* file or network failure */
  PIPELINE_CANCELLED = 4,        /* the host asked to stop */
  PIPELINE_TIMEOUT = 5,
  PIPELINE_RETRYABLE = 6,        /* transient: the host may call again */
  PIPELINE_INTERNAL = 7,         /* a bug in the plugin */
  PIPELINE_NOT_IMPLEMENTED = 8,
  PIPELINE_OUT_OF_MEMORY = 9
  /* A host treats a code it does not know as PIPELINE_INTERNAL. */
};

/* Log levels for pipeline_host.log. */
enum {
  PIPELINE_LOG_TRACE = 0,
  PIPELINE_LOG_DEBUG = 1,
  PIPELINE_LOG_INFO = 2,
  PIPELINE_LOG_WARNING = 3,
  PIPELINE_LOG_ERROR = 4
};

/* ------------------------------------------------------------------------ */
/* The host                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Opaque context of one call into a plugin. It tells the host which plugin,
 * step instance and batch a log line or an error belongs to. Valid only for
 * the duration of the call it was passed to; never store it.
 */
typedef struct pipeline_call pipeline_call;

typedef struct pipeline_host {
  uint32_t struct_size;      /* sizeof(pipeline_host) as the host built it */
  uint16_t abi_major;        /* PIPELINE_ABI_MAJOR of the host */
  uint16_t abi_minor;        /* PIPELINE_ABI_MINOR of the host */
  const char *host_version;  /* e.g. "0.1.0" */

  /*
   * [thread-safe] Writes a log line attributed to the call's step. `call`
   * may be NULL (inside pipeline_plugin_entry, or from a plugin's own
   * thread): the line is then attributed to the plugin library. `msg` need
   * not be NUL-terminated; the host copies it.
   */
  void (*log)(const pipeline_call *call, int32_t level, const char *msg, size_t len);

  /*
   * [thread-safe] Records the error of the current call; the function then
   * returns `status`. The last message set before the return wins. `call`
   * may be NULL inside pipeline_plugin_entry to say why the plugin refuses
   * to load. The host copies `msg`.
   */
  void (*set_error)(pipeline_call *call, pipeline_status status, const char *msg, size_t len);

  /*
   * [thread-safe] True once the host wants the run to stop (a signal, a
   * failure elsewhere). Long calls should poll it and return
   * PIPELINE_CANCELLED.
   */
  bool (*is_cancelled)(const pipeline_call *call);

  /*
   * [thread-safe] Returns the table of an optional host service, or NULL if
   * this host does not offer it. Ids are "pipeline.<name>/<revision>",
   * e.g. PIPELINE_EXT_PARAMS. The table lives until the process exits.
   */
  const void *(*get_extension)(const struct pipeline_host *host, const char *id);

  /*
   * [thread-safe] (ABI 1.3) A log line attributed to the library this table
   * was given to: for the plugin's own threads and for
   * pipeline_plugin_entry, where there is no call. `host` is the pointer
   * the entry received. Check PIPELINE_HAS_FIELD(host, pipeline_host,
   * log_plugin); an older host has only log(NULL, ...), which it cannot
   * attribute outside the entry.
   */
  void (*log_plugin)(const struct pipeline_host *host, int32_t level, const char *msg, size_t len);

  /*
   * [control] (ABI 1.3) Inside pipeline_plugin_entry only: why the library
   * refuses to load (then return NULL). The host copies `msg` and names the
   * library. Older hosts: set_error(NULL, ...) does the same.
   */
  void (*refuse)(const struct pipeline_host *host, const char *msg, size_t len);

  /* APPEND ONLY below this line. */
} pipeline_host;

/* ------------------------------------------------------------------------ */
/* Steps                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum {
  /* Makes rows from nothing (a loader). `process` gets no input. */
  PIPELINE_STEP_KIND_GENERATOR = 1,
  /* Turns each input batch into zero or one output batch, as it arrives. */
  PIPELINE_STEP_KIND_STEP = 2,
  /* Needs every row of its parents: `process` receives all batches first,
     output comes from `finish` (a filter over the whole pool). */
  PIPELINE_STEP_KIND_GLOBAL = 3
} pipeline_step_kind;

enum {
  /* `process` may run on several workers at once for one instance. */
  PIPELINE_STEP_REENTRANT = 1u << 0,
  /* Same input and parameters give the same output. */
  PIPELINE_STEP_DETERMINISTIC = 1u << 1,
  /* Calls a language model through the "pipeline.llm/1" service. */
  PIPELINE_STEP_USES_LLM = 1u << 2,
  /* Keeps state across batches (a writer, a row limit). When a run resumes,
     the host gives a fresh instance every input batch again, in the order
     the first instance got them, and drops the outputs it already has; the
     step must therefore be deterministic. Generators and global steps are
     always treated this way. Without the flag, a resumed step only gets
     the batches it had not consumed. The host keeps no state for the
     plugin: what the step needs across batches lives in its instance (or
     in "pipeline.run/1" for state that must survive a crash). */
  PIPELINE_STEP_STATEFUL = 1u << 3,
  /* (ABI 1.3) The step drops rows on purpose (a filter, a sample, a
     limit): returning no output, or fewer rows, for a non-empty input is
     normal. Without the flag, a step that returns PIPELINE_OK with no
     output (or zero rows) for a non-empty input is reported: the host logs
     a warning naming the plugin and the step and counts the batch in the
     run summary ("batches_without_output"), because that is how a bug
     loses data silently. Hosts older than 1.3 ignore the bit. */
  PIPELINE_STEP_FILTERS = 1u << 4,
  /* (ABI 1.3) The step sends requests authenticated with a credential the
     host holds (pipeline_http_ext.perform_authenticated): the pipeline file
     must name one for it (`credential:`, an entry of `credentials:`), and
     may name one only for a step with this flag. The step never sees the
     secret. Hosts older than 1.3 ignore the bit; a plugin that needs it
     declares abi_minor 3. */
  PIPELINE_STEP_USES_CREDENTIAL = 1u << 5,
  /* (with PIPELINE_STEP_USES_CREDENTIAL) The credential is optional: the
     pipeline file may name one (a token for private repositories) or not
     (public data). Without one, perform_authenticated sends the request
     as perform does, with no Authorization header. A host that does not
     know the bit (older than 1.6) requires `credential:` as for
     USES_CREDENTIAL alone, so a plugin may set it and still declare a
     lower abi_minor. */
  PIPELINE_STEP_CREDENTIAL_OPTIONAL = 1u << 6
};

/*
 * Describes one step a plugin offers. All strings are NUL-terminated and
 * live as long as the process.
 *
 * Column declarations (`inputs_json`, `outputs_json`) are JSON arrays:
 *   [{"name": "text", "type": "utf8", "optional": false,
 *     "description": "...", "name_param": "column"}]
 * Types: "utf8" (a reader also accepts large utf8, "U"), "int64", "uint64",
 * "float64", "bool", "list<utf8>", "list<float64>",
 * "fixed_size_list<float32>" (any width), "any". "name_param" (optional)
 * says the column's name is the value of that parameter (its default being
 * "name"), for steps whose users choose the column. The name "*" in both
 * lists says the step passes every input column through.
 * "optional": true on an input means the step works without the column:
 * `pipeline validate` does not require an ancestor to produce it (it is
 * read when present, e.g. because a template names it). On an output it
 * means the step may leave the column out of a batch. A declared output
 * that is not optional must be in every batch the step returns, with a
 * value or null in each row; when it is missing the host fails the batch
 * and names the plugin, the step and the column (ABI 1.3 hosts), instead
 * of letting a later step fail for it. `validate` uses the declarations to
 * check that every step's inputs are produced upstream.
 *
 * Batches: every batch is a struct array (format "+s") whose children are
 * the columns; the top-level struct has no nulls and offset 0. Buffers:
 * every data and offsets buffer is aligned to its element size (8 bytes
 * for int64/uint64/float64 and large offsets, 4 for int32 offsets and
 * float32; Arrow recommends 64 and our builders use 64); the host refuses a
 * misaligned buffer as malformed. A buffer may be NULL when it would hold
 * no bytes: the validity bitmap when the array has no nulls (null_count 0),
 * any buffer of an array of length 0, and the bytes of a utf8 array whose
 * strings are all empty. Offsets of a non-empty utf8 or list array may not
 * be NULL.
 *
 * Column names starting with "_" are reserved for the host:
 *   "_row_id" (uint64, "L"): the host's stable id of each row; every batch a
 *       step receives has it. A step that emits rows derived from input rows
 *       copies the source row's id into each of them (a step that keeps one
 *       row per input row may drop the column: the host puts the input's
 *       ids back); generators leave it out and the host assigns ids. Declare
 *       it or not: the host never checks it against outputs_json.
 *   "_error" (nullable utf8 or large utf8): a non-null value marks a failed
 *       row and says why. The host moves such rows to the run's errors.jsonl
 *       (as the step received them, plus the columns the step added, plus
 *       the reason), counts them, and strips the column from the good rows,
 *       so no step ever receives "_error" and no file the pipeline writes
 *       has it. A step may declare it as an optional output or not. A
 *       loader must not pass a data key named "_row_id" or "_error" through
 *       (the built-in loaders drop such keys with a warning): a generator's
 *       "_error" marks failed rows like any step's.
 */
typedef struct pipeline_step_desc {
  uint32_t struct_size;       /* sizeof(pipeline_step_desc) of the plugin */
  uint32_t kind;              /* pipeline_step_kind */
  uint64_t flags;             /* PIPELINE_STEP_* */
  const char *id;             /* reverse-DNS, never reused: "org.example.text_filter" */
  const char *name;           /* short name used in pipeline files: "text_filter" */
  const char *version;        /* of the step, e.g. "1.2.0" */
  const char *description;    /* one or more sentences for `plugins inspect` */
  const char *inputs_json;    /* column declarations, "[]" for generators */
  const char *outputs_json;   /* column declarations */
  /*
   * JSON Schema (an object) of the parameters. The host understands the
   * keywords listed in docs/writing-plugins.md, plus these string formats:
   *   "format": "input-path"   a file the step reads. The host resolves a
   *       relative path against the pipeline file's directory, refuses a
   *       pipeline whose outputs would overwrite it, and puts its size and
   *       modification time in the step's resume fingerprint (a changed
   *       input file means a changed pipeline: resume is refused).
   *   "format": "output-path"  a file the step writes. The host resolves a
   *       relative path against the run directory and refuses two steps
   *       writing one file or a file over an input or a run file. The step
   *       should write to a temporary file and rename it when the run
   *       succeeds; the host finishes steps without children (sinks) last.
   *   "format": "template"     (since 1.3, a hint: older hosts ignore it) a
   *       template over the row's columns: the legacy {name} form, or (1.4)
   *       the Jinja subset of docs/pipelines.md. At validation the host
   *       refuses one that does not parse and a name no ancestor can
   *       produce (when the columns are known), at its line:col.
   *   "format": "expression"   (since 1.4, a hint) an expression of that
   *       language (a filter condition), checked the same way.
   *   "format": "columns"      (since 1.3, a hint) a list of names, a list of
   *       one-entry objects, or an object: when given, the step's output
   *       columns are exactly these names (and the host's _row_id), so the
   *       host can check the columns later steps read (a loader's declared
   *       columns, keep_columns).
   *   "format": "json-schema"  (since 1.4, a hint) an object that is a JSON
   *       Schema whose top-level properties become output columns of the
   *       step beside its declared ones (structured_generation's
   *       json_schema). At validation the host reads it with the subset the
   *       built-in steps support and reports a problem at its line:col.
   *   "format": "rows"         (since 1.4, a hint) a list of objects (inline
   *       rows): their keys are the step's output columns.
   *   "format": "added-columns", "replaced-columns", "dropped-columns"
   *       (since 1.4, hints) a mapping of new column -> spec (templates and
   *       "=" expressions, checked like templates), and lists of names: the
   *       step's output is its input plus, instead of, or minus them (map).
   *       docs/writing-plugins.md has the details.
   *   "format": "renamed-columns" (since 1.6, a hint) an object of old
   *       column -> new column: the step's output has the new names in place
   *       of the old (rename_columns; a list of names renames nothing).
   */
  const char *params_schema_json;

  /*
   * [control] Creates an instance of the step `step` (this descriptor, so
   * one function can serve several steps). `params_json` is a JSON object
   * already validated against params_schema_json, with defaults filled in;
   * the "pipeline.params/1" service reads it without a JSON parser. On
   * success stores the instance in *state (may be NULL if the step keeps
   * none). Must not block on the network.
   */
  pipeline_status (*create)(pipeline_call *call, const struct pipeline_step_desc *step,
                            const char *params_json, void **state);

  /*
   * [worker] Processes one batch. `input_schema`/`input` are borrowed for
   * the call; both are NULL for generators. On entry `output_schema` and
   * `output` are released (release == NULL). To emit rows, fill both (the
   * host takes ownership). Leaving them released means no output for this
   * call; for a generator it means the generator is exhausted, as in
   * Arrow's C stream interface. A global step receives all input batches
   * here and emits from `finish`.
   */
  pipeline_status (*process)(pipeline_call *call, void *state,
                             const struct ArrowSchema *input_schema,
                             const struct ArrowArray *input,
                             struct ArrowSchema *output_schema,
                             struct ArrowArray *output);

  /*
   * [worker] Optional (NULL: nothing to flush). Called after the last input
   * batch (for a generator: once it is exhausted), again and again while it
   * fills the output; leaving the output released ends the step.
   *
   * For process and finish alike: if the function returns an error with the
   * output filled, the host still releases it. Arrays may carry
   * null_count == -1 (not computed) in both directions. List items are
   * nullable; the float32 items of an embedding are not.
   */
  pipeline_status (*finish)(pipeline_call *call, void *state,
                            struct ArrowSchema *output_schema,
                            struct ArrowArray *output);

  /*
   * [thread-safe] Optional. Asks a running process/finish on this instance
   * to return PIPELINE_CANCELLED soon. May be called while no call runs.
   */
  void (*interrupt)(void *state);

  /* [control] Frees the instance. Called once, after its last call. */
  void (*destroy)(void *state);

  /* APPEND ONLY below this line. */
} pipeline_step_desc;

/* ------------------------------------------------------------------------ */
/* The plugin                                                                */
/* ------------------------------------------------------------------------ */

/*
 * What pipeline_plugin_entry returns. The first three fields are frozen for
 * every ABI major, so any host can read a plugin's version and refuse it
 * with a clear message.
 */
typedef struct pipeline_plugin {
  uint32_t struct_size;       /* sizeof(pipeline_plugin) of the plugin */
  uint16_t abi_major;         /* PIPELINE_ABI_MAJOR the plugin was built for */
  /* The lowest host minor the plugin needs: the minor that introduced the
     newest field or service it uses. Not PIPELINE_ABI_MINOR, which would
     raise the requirement every time the plugin is rebuilt. */
  uint16_t abi_minor;
  const char *name;           /* the library's reverse-DNS id */
  const char *version;        /* the library's version */
  const char *description;
  uint32_t step_count;
  const pipeline_step_desc *const *steps;
  /* APPEND ONLY below this line. */
} pipeline_plugin;

/*
 * [control] The entry point, called once per process, right after dlopen.
 * `host` stays valid until the process exits; keep the pointer. Must be fast
 * and must not start threads or touch the network. Returns NULL to refuse
 * loading (say why with host->set_error(NULL, ...)).
 */
typedef const pipeline_plugin *(*pipeline_plugin_entry_fn)(const pipeline_host *host);

#if !defined(__swift__)
/* The prototype a C or C++ plugin defines (Swift plugins use @_cdecl). */
PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host);
#endif

/* ------------------------------------------------------------------------ */
/* Service "pipeline.params/1": typed reads of a step's parameters           */
/* ------------------------------------------------------------------------ */

#define PIPELINE_EXT_PARAMS "pipeline.params/1"

/*
 * Every function is [thread-safe] and reads the parameters of the step
 * instance `call` belongs to, as validated with defaults applied; `key` is a
 * top-level property name. They return PIPELINE_OK, PIPELINE_NOT_IMPLEMENTED
 * when the key is absent (or null), or PIPELINE_INVALID_ARGUMENT when the
 * value has another type. Strings point into host memory that stays valid
 * until the instance is destroyed.
 */
typedef struct pipeline_params_ext {
  uint32_t struct_size;
  pipeline_status (*get_string)(const pipeline_call *call, const char *key,
                                const char **value, size_t *len);
  pipeline_status (*get_int64)(const pipeline_call *call, const char *key, int64_t *value);
  pipeline_status (*get_double)(const pipeline_call *call, const char *key, double *value);
  pipeline_status (*get_bool)(const pipeline_call *call, const char *key, bool *value);
  /* A list of strings: its length, then each item. */
  pipeline_status (*get_string_count)(const pipeline_call *call, const char *key, size_t *count);
  pipeline_status (*get_string_at)(const pipeline_call *call, const char *key, size_t index,
                                   const char **value, size_t *len);
  /* APPEND ONLY below this line. */
} pipeline_params_ext;

/* ------------------------------------------------------------------------ */
/* Service "pipeline.llm/1": the language models of the pipeline file        */
/* ------------------------------------------------------------------------ */

/*
 * Every named LLM of the pipeline file (`llms:`) is one client in the host,
 * shared by every step that uses it (`llm:` on the step): connections,
 * concurrency and rate limits, retries with backoff, the response cache,
 * the teacher I/O log and token counts are the host's. A plugin never sees
 * an API key or a URL; it sends requests for the LLM its step names.
 */
#define PIPELINE_EXT_LLM "pipeline.llm/1"

/* One chat request: `prompt` (a user message, with an optional `system`
   message) or `messages_json` (an OpenAI "messages" array as JSON).
   FROZEN (see "Frozen structures"): struct_size = PIPELINE_LLM_REQUEST_SIZE. */
typedef struct pipeline_llm_request {
  uint32_t struct_size;
  const char *prompt;
  const char *system;        /* may be NULL */
  const char *messages_json; /* instead of prompt and system; NULL otherwise */
  /* Generation parameters as a JSON object ({"temperature": 0.7, ...}),
     over the step's and the LLM's defaults; may be NULL. */
  const char *options_json;
  /* Which of several generations for the same request (0, 1, ...): part of
     the cache key, so n samples are n distinct cached answers. */
  uint32_t generation;
} pipeline_llm_request;

/* The outcome of one request. Strings are NUL-terminated UTF-8 owned by the
   host: valid until `release` (complete) or the end of the callback (submit).
   FROZEN: the host writes every field, struct_size included
   (PIPELINE_LLM_RESPONSE_SIZE); the plugin need not initialise it. */
typedef struct pipeline_llm_response {
  uint32_t struct_size;
  /* PIPELINE_OK, or why the request failed after the LLM's retries
     (PIPELINE_IO, PIPELINE_TIMEOUT, PIPELINE_INVALID_DATA, PIPELINE_CANCELLED). */
  pipeline_status status;
  const char *text;          /* the answer; NULL on failure */
  const char *error;         /* on failure: what happened; NULL otherwise */
  const char *finish_reason; /* "stop", "length", ...; may be NULL */
  const char *model;         /* the model that answered */
  int64_t prompt_tokens;
  int64_t completion_tokens;
  uint32_t cached;           /* 1 when served from the response cache */
} pipeline_llm_response;

/* [any thread] Called exactly once per submitted request. */
typedef void (*pipeline_llm_callback)(void *user, const pipeline_llm_response *response);

/* (ABI 1.4) The outcome of one request with everything the server said
   besides the answer: pipeline_llm_response, then fields that grow with
   later releases. It is growable, unlike the response: the host writes the
   fields that end within the size the plugin gives (complete_answers'
   `answer_size`) and sets struct_size to the bytes it wrote, so read a
   field only if PIPELINE_HAS_FIELD(answer, pipeline_llm_answer, field).
   Strings are the host's, like the response's. */
typedef struct pipeline_llm_answer {
  uint32_t struct_size;
  pipeline_llm_response response; /* its struct_size is PIPELINE_LLM_RESPONSE_SIZE */
  /* The model's reasoning trace, as the server sent it beside the answer
     (vLLM, SGLang and llama.cpp's `reasoning_content`, newer vLLM's
     `reasoning`); NULL when there was none. */
  const char *reasoning;
  /* APPEND ONLY below this line. */
} pipeline_llm_answer;

/* [any thread] (ABI 1.4) Called exactly once per request sent with
   submit_answer; `answer` and its strings live until the callback returns. */
typedef void (*pipeline_llm_answer_callback)(void *user, const pipeline_llm_answer *answer);

typedef struct pipeline_llm_ext {
  uint32_t struct_size;
  /*
   * [worker] Sends `count` requests at once and waits for all of them. They
   * are in flight together with every other step's requests, within the
   * LLM's limits. Fills responses[0..count); a failed request is a failed
   * response, not a failed call: the function returns PIPELINE_OK unless
   * the step has no LLM (PIPELINE_INVALID_ARGUMENT) or the run is stopping
   * (PIPELINE_CANCELLED). Free the responses with `release`.
   */
  pipeline_status (*complete)(pipeline_call *call, const pipeline_llm_request *requests, size_t count,
                              pipeline_llm_response *responses);
  /* [thread-safe] Frees what `complete` put in the responses. */
  void (*release)(pipeline_llm_response *responses, size_t count);
  /*
   * [worker] Starts one request and returns at once; `done` runs exactly
   * once, on a host thread, when it completes. A process or finish call
   * must not return before every request it submitted has completed.
   */
  pipeline_status (*submit)(pipeline_call *call, const pipeline_llm_request *request,
                            pipeline_llm_callback done, void *user);
  /*
   * [worker] Embeds `count` texts with the step's LLM (an OpenAI-compatible
   * /v1/embeddings) into `vectors`, `dim` floats per text. statuses[i] says
   * whether text i got its vector (a vector of another width than `dim` is
   * PIPELINE_INVALID_DATA). Same return rule as complete.
   */
  pipeline_status (*embed)(pipeline_call *call, const char *const *texts, size_t count, float *vectors,
                           size_t dim, pipeline_status *statuses);
  /*
   * [worker] (ABI 1.2) `embed`, and for each text that got no vector,
   * errors[i] says why in words, as the teacher I/O log has it
   * ("llm teacher: HTTP 500: overloaded (after 5 attempts)"); NULL where
   * the text got its vector. The strings are the host's, valid until the
   * process or finish call that asked returns. A host older than 1.2 lacks
   * the field: check PIPELINE_HAS_FIELD(llm, pipeline_llm_ext,
   * embed_with_errors) and fall back to `embed`.
   */
  pipeline_status (*embed_with_errors)(pipeline_call *call, const char *const *texts, size_t count,
                                       float *vectors, size_t dim, pipeline_status *statuses,
                                       const char **errors);
  /*
   * [worker] (ABI 1.4) `complete`, with answers instead of responses:
   * answer i lies at (char *)answers + i * answer_size, where answer_size
   * is the plugin's sizeof(pipeline_llm_answer) (at least
   * PIPELINE_LLM_ANSWER_SIZE_1_4, or PIPELINE_INVALID_ARGUMENT). The host
   * fills the fields it has that fit in answer_size and zeroes the rest.
   * Free them with release_answers and the same answer_size. A host older
   * than 1.4 lacks these: check PIPELINE_HAS_FIELD(llm, pipeline_llm_ext,
   * complete_answers) and fall back to `complete`.
   */
  pipeline_status (*complete_answers)(pipeline_call *call, const pipeline_llm_request *requests, size_t count,
                                      pipeline_llm_answer *answers, size_t answer_size);
  /* [thread-safe] (ABI 1.4) Frees what complete_answers put in the answers. */
  void (*release_answers)(pipeline_llm_answer *answers, size_t count, size_t answer_size);
  /* [worker] (ABI 1.4) `submit`, whose callback receives an answer (its
     struct_size says which fields this host wrote). */
  pipeline_status (*submit_answer)(pipeline_call *call, const pipeline_llm_request *request,
                                   pipeline_llm_answer_callback done, void *user);
  /*
   * [worker] (ABI 1.5) `complete_answers`, saying which input row each
   * request is for: rows[i] is the `_row_id` of the row request i serves
   * (the input batch's value, which the host puts on every batch; a row
   * derived from it carries the same id). `rows` may be NULL: no row known.
   * pipeline_llm_request is frozen, so the row travels beside it.
   * What the host does with the row: the teacher I/O log names it, and
   * under `cache: always` a request that is not deterministic (neither
   * temperature 0 nor a seed) is cached per (request, generation, step,
   * row): two rows that send the same prompt keep answers of their own,
   * and a fresh run of the same pipeline gets each row's answer back. A
   * request without a row (NULL rows, or one sent with complete,
   * complete_answers, submit or submit_answer) is cached per (request,
   * generation, step) there: rows of one step with the same prompt share
   * one answer. A deterministic request's cache entry never depends on the
   * step or the row. Otherwise exactly complete_answers: same answers,
   * same answer_size rule, free them with release_answers. A host older
   * than 1.5 lacks it: check PIPELINE_HAS_FIELD(llm, pipeline_llm_ext,
   * complete_answers_for_rows) and fall back to complete_answers (then,
   * before 1.4, complete).
   */
  pipeline_status (*complete_answers_for_rows)(pipeline_call *call, const pipeline_llm_request *requests,
                                               const uint64_t *rows, size_t count,
                                               pipeline_llm_answer *answers, size_t answer_size);
  /* [worker] (ABI 1.5) `submit_answer` for the input row whose `_row_id`
     is `row` (as complete_answers_for_rows; fall back to submit_answer). */
  pipeline_status (*submit_answer_for_row)(pipeline_call *call, const pipeline_llm_request *request,
                                           uint64_t row, pipeline_llm_answer_callback done, void *user);
  /* APPEND ONLY below this line. */
} pipeline_llm_ext;

/* ------------------------------------------------------------------------ */
/* Service "pipeline.http/1": plain HTTP through the host (ABI 1.1)          */
/* ------------------------------------------------------------------------ */

/*
 * One HTTP/1.1 request over the host's libcurl: connections are kept alive
 * and shared with the host's own traffic, proxies and CA certificates are
 * the host's. The host neither retries nor logs requests: the plugin knows
 * which of its requests are safe to repeat. Headers are never logged, so a
 * plugin may put a credential in one; with perform_authenticated (ABI 1.3)
 * the host adds one from the pipeline's `credentials:` instead.
 */
#define PIPELINE_EXT_HTTP "pipeline.http/1"

/* FROZEN: struct_size = PIPELINE_HTTP_REQUEST_SIZE. */
typedef struct pipeline_http_request {
  uint32_t struct_size;
  const char *method;                /* "GET", "HEAD", "POST", "PUT", ... */
  const char *url;                   /* absolute http:// or https:// URL */
  const char *const *headers;        /* header_count "Name: value" lines */
  size_t header_count;
  const void *body;                  /* may be NULL when body_len is 0 */
  size_t body_len;
  double timeout_seconds;            /* the whole exchange; 0: 300 s */
} pipeline_http_request;

/* Filled by `perform`; host memory, valid until `release`. FROZEN: the
   host writes every field, struct_size included (PIPELINE_HTTP_RESPONSE_SIZE). */
typedef struct pipeline_http_response {
  uint32_t struct_size;
  /* PIPELINE_OK when a response arrived, whatever its status code;
     PIPELINE_IO (no connection, reset), PIPELINE_TIMEOUT or
     PIPELINE_CANCELLED when none did. */
  pipeline_status status;
  int32_t http_status;               /* 200, 404, ...; 0 without a response */
  uint32_t reserved;
  /* The response's header lines ("Name: value\r\n" each), NUL-terminated. */
  const char *headers;
  const uint8_t *body;
  size_t body_len;
  const char *error;                 /* why there is no response; else NULL */
  void *host_private;
} pipeline_http_response;

typedef struct pipeline_http_ext {
  uint32_t struct_size;
  /* [worker] Sends the request and waits for the answer. Returns the same
     code as response->status; the response must be released either way. */
  pipeline_status (*perform)(pipeline_call *call, const pipeline_http_request *request,
                             pipeline_http_response *response);
  /* [thread-safe] Frees what `perform` put in the response. */
  void (*release)(pipeline_http_response *response);
  /*
   * [worker] (ABI 1.3) `perform` with the step's credential: the host adds
   * "Authorization: Bearer <secret>" for the entry of `credentials:` the
   * step names with `credential:` in the pipeline file, so the secret
   * never enters the plugin. The step must set PIPELINE_STEP_USES_CREDENTIAL.
   * Nothing is sent, and the function returns PIPELINE_INVALID_ARGUMENT
   * with response->error saying why, when the step has no credential, when
   * the request carries an Authorization header of its own, or when the URL
   * is not one the credential may go to: another host (or port) than the
   * credential's `host:` scope, or plain http:// to anything but a loopback
   * address unless the scope itself says http://. Otherwise as `perform`
   * (the host does not follow redirects); release the response with
   * `release`. An older host lacks the field: check
   * PIPELINE_HAS_FIELD(http, pipeline_http_ext, perform_authenticated).
   */
  pipeline_status (*perform_authenticated)(pipeline_call *call, const pipeline_http_request *request,
                                           pipeline_http_response *response);
  /* APPEND ONLY below this line. */
} pipeline_http_ext;

/* ------------------------------------------------------------------------ */
/* Service "pipeline.run/1": the run a step belongs to (ABI 1.1)             */
/* ------------------------------------------------------------------------ */

/*
 * Durable key/value state per step of the run, and what the run is. The
 * state lives in the run's state store (state.db), under the step's name:
 * a resumed run sees what the interrupted one stored, `--fresh` forgets it.
 * A run without a store (`--no-checkpoint`, `plugins try`) keeps it in
 * memory for the run.
 */
#define PIPELINE_EXT_RUN "pipeline.run/1"

typedef struct pipeline_run_ext {
  uint32_t struct_size;
  /* [thread-safe] A copy of the value stored under `key` for this step, to
     free with `release_value`; PIPELINE_NOT_IMPLEMENTED if there is none. */
  pipeline_status (*state_get)(const pipeline_call *call, const char *key, void **value, size_t *len);
  /*
   * [worker, control] Stores `value` under `key` for this step, replacing
   * what was there. When it returns PIPELINE_OK the value is durable, and
   * so is everything the run committed before: every batch this step
   * consumed in earlier calls is recorded as consumed. A step therefore
   * writes down what it is about to do to the outside world (a push, an
   * upload) before doing it, and finds it again after a crash.
   */
  pipeline_status (*state_put)(pipeline_call *call, const char *key, const void *value, size_t len);
  /* [thread-safe] Frees a value from state_get. */
  void (*release_value)(void *value);
  /* [thread-safe] The strings below stay valid while the step instance
     lives; NULL for a NULL call. An id of the run: the same across resumes
     of one run directory, new after --fresh. 32 lowercase hex digits. */
  const char *(*run_id)(const pipeline_call *call);
  /* [thread-safe] The pipeline's name, and the text of its file with the
     values of secret-looking keys (api_key, token, password, ...) replaced
     by "<redacted>": safe to publish beside the data. */
  const char *(*pipeline_name)(const pipeline_call *call);
  const char *(*pipeline_text)(const pipeline_call *call);
  /* [worker] (ABI 1.4) Which of the step's inputs (its `input:` list in the
     pipeline file, from 0) the batch of the current `process` call comes
     from: a step with several inputs (a join) tells its branches apart.
     -1 in a call without an input batch (a generator, `finish`, `create`)
     and where the host has no pipeline (`plugins try`). A resumed STATEFUL
     step is given each replayed batch with its input index again. */
  int32_t (*input_index)(const pipeline_call *call);
  /* [thread-safe] (ABI 1.4) How many inputs the step has (0 where the host
     has no pipeline), and the name of input `index` (the parent step's
     name in the pipeline file; NULL past the end). Valid in `create` too;
     the strings live as long as the instance. */
  int32_t (*input_count)(const pipeline_call *call);
  const char *(*input_name)(const pipeline_call *call, int32_t index);
  /*
   * [thread-safe] (ABI 1.5) How many rows the step expects to emit in all
   * (every call together, not what is left), for progress displays and an
   * ETA. Meant for generators; `call` is any call of the step, `create`
   * included. Call it again to revise: the last value wins, and a negative
   * value withdraws it (unknown). Exactness is the step's to state in its
   * documentation, not the host's to check: the figure is a forecast the
   * host never compares with what is emitted, and a wrong one only makes a
   * display wrong. A step that knows the count (rows written in the
   * pipeline file, a first pass that read the whole file) gives it once,
   * exactly; one that can only estimate (file size over the bytes per row
   * so far) gives its estimate early, revises it as it reads, and gives the
   * exact count when its data ends. Never read input twice just for this.
   * A resumed run's fresh instance announces again. A host older than 1.5
   * lacks it: check PIPELINE_HAS_FIELD(run, pipeline_run_ext, expect_rows).
   */
  void (*expect_rows)(pipeline_call *call, int64_t rows);
  /* APPEND ONLY below this line. */
} pipeline_run_ext;

/* ------------------------------------------------------------------------ */
/* Layout checks (LP64: Linux and macOS on x86_64 and arm64)                 */
/* ------------------------------------------------------------------------ */

#if defined(__LP64__) || defined(_LP64)
#ifdef __cplusplus
#define PIPELINE_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define PIPELINE_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
PIPELINE_STATIC_ASSERT(sizeof(struct ArrowSchema) == 72, "ArrowSchema layout");
PIPELINE_STATIC_ASSERT(sizeof(struct ArrowArray) == 80, "ArrowArray layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, abi_major) == 4, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, abi_minor) == 6, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, host_version) == 8, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, log) == 16, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, set_error) == 24, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, is_cancelled) == 32, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, get_extension) == 40, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, log_plugin) == 48, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_host, refuse) == 56, "pipeline_host layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_host) == 64, "pipeline_host v1.3 size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, kind) == 4, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, flags) == 8, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, id) == 16, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, name) == 24, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, version) == 32, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, description) == 40, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, inputs_json) == 48, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, outputs_json) == 56, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, params_schema_json) == 64, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, create) == 72, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, process) == 80, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, finish) == 88, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, interrupt) == 96, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_step_desc, destroy) == 104, "pipeline_step_desc layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_step_desc) == 112, "pipeline_step_desc v1.0 size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, abi_major) == 4, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, abi_minor) == 6, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, name) == 8, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, version) == 16, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, description) == 24, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, step_count) == 32, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_plugin, steps) == 40, "pipeline_plugin layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_plugin) == 48, "pipeline_plugin v1.0 size");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_params_ext) == 56, "pipeline_params_ext v1.0 size");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_llm_request) == 48, "pipeline_llm_request frozen size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_response, text) == 8, "pipeline_llm_response layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_response, prompt_tokens) == 40, "pipeline_llm_response layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_llm_response) == 64, "pipeline_llm_response frozen size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, embed) == 32, "pipeline_llm_ext v1.0 layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, embed_with_errors) == 40, "pipeline_llm_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, complete_answers) == 48, "pipeline_llm_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, submit_answer) == 64, "pipeline_llm_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, complete_answers_for_rows) == 72, "pipeline_llm_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_ext, submit_answer_for_row) == 80, "pipeline_llm_ext layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_llm_ext) == 88, "pipeline_llm_ext v1.5 size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_answer, response) == 8, "pipeline_llm_answer layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_llm_answer, reasoning) == 72, "pipeline_llm_answer layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_llm_answer) == 80, "pipeline_llm_answer v1.4 size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_http_request, method) == 8, "pipeline_http_request layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_http_request, timeout_seconds) == 56, "pipeline_http_request layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_http_request) == 64, "pipeline_http_request frozen size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_http_response, http_status) == 8, "pipeline_http_response layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_http_response, headers) == 16, "pipeline_http_response layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_http_response) == 56, "pipeline_http_response frozen size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_http_ext, perform_authenticated) == 24, "pipeline_http_ext layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_http_ext) == 32, "pipeline_http_ext v1.3 size");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_run_ext, input_index) == 56, "pipeline_run_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_run_ext, input_name) == 72, "pipeline_run_ext layout");
PIPELINE_STATIC_ASSERT(offsetof(pipeline_run_ext, expect_rows) == 80, "pipeline_run_ext layout");
PIPELINE_STATIC_ASSERT(sizeof(pipeline_run_ext) == 88, "pipeline_run_ext v1.5 size");
PIPELINE_STATIC_ASSERT(PIPELINE_HOST_SIZE_1_0 == 48, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_HOST_SIZE_1_3 == 64, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_STEP_DESC_SIZE_1_0 == 112, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_PLUGIN_SIZE_1_0 == 48, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_PARAMS_EXT_SIZE_1_0 == 56, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_EXT_SIZE_1_0 == 40, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_EXT_SIZE_1_2 == 48, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_EXT_SIZE_1_4 == 72, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_EXT_SIZE_1_5 == 88, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_ANSWER_SIZE_1_4 == 80, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_HTTP_EXT_SIZE_1_1 == 24, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_HTTP_EXT_SIZE_1_3 == 32, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_RUN_EXT_SIZE_1_1 == 56, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_RUN_EXT_SIZE_1_4 == 80, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_RUN_EXT_SIZE_1_5 == 88, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_REQUEST_SIZE == 48, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_LLM_RESPONSE_SIZE == 64, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_HTTP_REQUEST_SIZE == 64, "frozen size");
PIPELINE_STATIC_ASSERT(PIPELINE_HTTP_RESPONSE_SIZE == 56, "frozen size");
#undef PIPELINE_STATIC_ASSERT
#endif

#ifdef __cplusplus
}
#endif

#endif /* PIPELINE_PLUGIN_H */
