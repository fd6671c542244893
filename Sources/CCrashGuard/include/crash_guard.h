/*
 * crash_guard.h: what the host says when a plugin (or the host) crashes.
 *
 * Not part of the plugin ABI and not installed: only PipelineCore uses it.
 *
 * A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP) runs a
 * handler that may only use async-signal-safe calls, so everything it
 * writes is prepared beforehand:
 *   - a "site" per step instance and per plugin library holds the text
 *     naming it (plain, and JSON-escaped), made when the instance is made;
 *   - each thread marks the plugin call it is in (crash_guard_enter/leave:
 *     one thread-local pointer store each way, no allocation);
 *   - code ranges of loaded plugins name a plugin whose own thread crashed;
 *   - run.log's descriptor and the "failed" summaries of the run (a prefix
 *     and suffix around the error message) are handed over while the run
 *     goes on.
 * The handler writes one line to stderr and to run.log, rewrites the
 * summaries (temporary file, rename), and _exits with the configured code.
 */
#ifndef PIPELINE_CRASH_GUARD_H
#define PIPELINE_CRASH_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/* What is running: a step instance or a plugin library. */
typedef struct crash_guard_site crash_guard_site;
/* One function of a site (what a thread marks). */
typedef struct crash_guard_call crash_guard_call;

enum {
  CRASH_GUARD_DLOPEN = 0,
  CRASH_GUARD_ENTRY = 1,
  CRASH_GUARD_CREATE = 2,
  CRASH_GUARD_PROCESS = 3,
  CRASH_GUARD_FINISH = 4,
  CRASH_GUARD_INTERRUPT = 5,
  CRASH_GUARD_DESTROY = 6,
  CRASH_GUARD_FUNCTIONS = 7
};

/*
 * `text` names the site for people ("step \"x\" (plugin /p/libx.so, step id
 * org.x)"), `json_text` is the same JSON-escaped without quotes, and
 * `json_fields` are log fields, each followed by a comma
 * ("\"plugin\":\"/p/libx.so\",\"step\":\"x\","). Copied. NULL if out of memory.
 */
crash_guard_site *crash_guard_site_new(const char *text, const char *json_text, const char *json_fields);
/* Frees a site no thread is marked in and no code range refers to. */
void crash_guard_site_free(crash_guard_site *site);

/* Marks the calling thread as running `function` of `site`; returns the
   previous mark, to hand back to crash_guard_leave. */
const crash_guard_call *crash_guard_enter(const crash_guard_site *site, int32_t function);
void crash_guard_leave(const crash_guard_call *previous);

/* Records the code of the loaded object that contains `address` as the
   site's (a plugin's own threads are then named too). True if it did: the
   site must then live as long as the process. False if the object is
   known already (or not found, or the table is full). */
bool crash_guard_register_code(const crash_guard_site *site, const void *address);

/* Installs the handlers and prepares the calling thread's alternate stack.
   Returns 0, or an errno value. */
int crash_guard_install(int32_t exit_code);
bool crash_guard_installed(void);
/* An alternate signal stack for the calling thread (a stack overflow can
   then still be reported), freed when the thread ends. 0 or an errno. */
int crash_guard_prepare_thread(void);

/* Where the crash line goes besides stderr: an fd opened with O_APPEND
   (run.log), or -1. Returns the previous one (the caller closes it). */
int crash_guard_set_log_fd(int fd);
/* stderr format: a JSON line (the console's JSON log format) or plain text;
   `clear_line` first erases a status line drawn on a terminal. */
void crash_guard_set_console(bool json, bool clear_line);

/* The summaries to rewrite on a crash, armed as one set. */
typedef struct crash_guard_reports crash_guard_reports;
crash_guard_reports *crash_guard_reports_new(void);
/* When the run started (seconds since 1970): the reports' `seconds`. */
void crash_guard_reports_set_start(crash_guard_reports *reports, double started_at);
/* A document `prefix` + JSON-escaped message + `middle` + seconds since the
   start (a JSON number) + `suffix` + "\n": written to `temporary`, then
   renamed to `path`; or, with a NULL path, written to `fd`. Copied. False
   if out of memory (the set stays usable). */
bool crash_guard_reports_add(crash_guard_reports *reports, const char *path, const char *temporary, int fd,
                             const char *prefix, const char *middle, const char *suffix);
/* Arms `reports` (NULL: none) and frees the set armed before. */
void crash_guard_reports_publish(crash_guard_reports *reports);

#endif
