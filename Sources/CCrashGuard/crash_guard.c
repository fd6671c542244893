/* crash_guard.c: see include/crash_guard.h. Everything the signal handler
   calls is async-signal-safe: loads of prepared data, write, open, close,
   rename, clock_gettime, _exit. */
#define _GNU_SOURCE
#include "crash_guard.h"

#include <errno.h>
#include <fcntl.h>
#if defined(__linux__)
#include <link.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

struct crash_guard_call {
  const crash_guard_site *site;
  int32_t function;
};

struct crash_guard_site {
  crash_guard_call calls[CRASH_GUARD_FUNCTIONS];
  char *text;
  char *json_text;
  char *json_fields;
};

static const char *const function_names[CRASH_GUARD_FUNCTIONS] = {
    "dlopen", "pipeline_plugin_entry", "create", "process", "finish", "interrupt", "destroy"};

/* The call the thread is in. Initial-exec TLS: reading it in a handler
   allocates nothing. */
static __thread _Atomic(const crash_guard_call *) current_call __attribute__((tls_model("initial-exec")));
static __thread int in_handler __attribute__((tls_model("initial-exec")));

/* ---- sites and marks (normal context) ---------------------------------- */

static char *copy(const char *text) {
  size_t n = strlen(text ? text : "") + 1;
  char *out = malloc(n);
  if (out != NULL) memcpy(out, text ? text : "", n);
  return out;
}

crash_guard_site *crash_guard_site_new(const char *text, const char *json_text, const char *json_fields) {
  crash_guard_site *site = calloc(1, sizeof *site);
  if (site == NULL) return NULL;
  site->text = copy(text);
  site->json_text = copy(json_text);
  site->json_fields = copy(json_fields);
  if (site->text == NULL || site->json_text == NULL || site->json_fields == NULL) {
    crash_guard_site_free(site);
    return NULL;
  }
  for (int32_t i = 0; i < CRASH_GUARD_FUNCTIONS; i++) {
    site->calls[i].site = site;
    site->calls[i].function = i;
  }
  return site;
}

void crash_guard_site_free(crash_guard_site *site) {
  if (site == NULL) return;
  free(site->text);
  free(site->json_text);
  free(site->json_fields);
  free(site);
}

const crash_guard_call *crash_guard_enter(const crash_guard_site *site, int32_t function) {
  const crash_guard_call *call = NULL;
  if (site != NULL && function >= 0 && function < CRASH_GUARD_FUNCTIONS) call = &site->calls[function];
  return atomic_exchange_explicit(&current_call, call, memory_order_relaxed);
}

void crash_guard_leave(const crash_guard_call *previous) {
  atomic_store_explicit(&current_call, previous, memory_order_relaxed);
}

/* ---- code ranges of plugins -------------------------------------------- */

enum { MAX_RANGES = 512 };
static struct {
  uintptr_t start, end;
  const crash_guard_site *site;
} ranges[MAX_RANGES];
static atomic_int range_count;
static pthread_mutex_t range_lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(__linux__)
struct range_search {
  uintptr_t address, start, end;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data) {
  struct range_search *search = data;
  uintptr_t start = UINTPTR_MAX, end = 0;
  int contains = 0;
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *header = &info->dlpi_phdr[i];
    if (header->p_type != PT_LOAD) continue;
    uintptr_t from = info->dlpi_addr + header->p_vaddr, to = from + header->p_memsz;
    if (search->address >= from && search->address < to) contains = 1;
    if (header->p_flags & PF_X) {
      if (from < start) start = from;
      if (to > end) end = to;
    }
  }
  if (!contains || start >= end) return 0;
  search->start = start;
  search->end = end;
  return 1;
}

/* The executable segments of the object that contains `address`. */
static int code_range(const void *address, uintptr_t *start, uintptr_t *end) {
  struct range_search search = {(uintptr_t)address, 0, 0};
  if (dl_iterate_phdr(find_object, &search) == 0) return 0;
  *start = search.start;
  *end = search.end;
  return 1;
}
#else
static int code_range(const void *address, uintptr_t *start, uintptr_t *end) {
  (void)address, (void)start, (void)end;
  return 0; /* plugins' own threads are reported as the host's */
}
#endif

bool crash_guard_register_code(const crash_guard_site *site, const void *address) {
  uintptr_t start, end;
  bool added = false;
  if (site == NULL || address == NULL || !code_range(address, &start, &end)) return false;
  pthread_mutex_lock(&range_lock);
  int n = atomic_load_explicit(&range_count, memory_order_relaxed);
  bool known = false;
  for (int i = 0; i < n; i++) known = known || (ranges[i].start == start && ranges[i].end == end);
  if (!known && n < MAX_RANGES) {
    ranges[n].start = start;
    ranges[n].end = end;
    ranges[n].site = site;
    atomic_store_explicit(&range_count, n + 1, memory_order_release);
    added = true;
  }
  pthread_mutex_unlock(&range_lock);
  return added;
}

static const crash_guard_site *site_of_code(uintptr_t pc) {
  int n = atomic_load_explicit(&range_count, memory_order_acquire);
  for (int i = 0; i < n; i++)
    if (pc >= ranges[i].start && pc < ranges[i].end) return ranges[i].site;
  return NULL;
}

static uintptr_t program_counter(const void *context) {
  const ucontext_t *uc = context;
  if (uc == NULL) return 0;
#if defined(__linux__) && defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__linux__) && defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
  return 0;
#endif
}

/* ---- configuration ------------------------------------------------------ */

struct report {
  char *path, *temporary, *prefix, *middle, *suffix;
  int fd;
};

struct crash_guard_reports {
  struct report *items;
  size_t count;
  int64_t started_ns;
};

static _Atomic(crash_guard_reports *) armed_reports;
static atomic_int log_fd = -1;
static atomic_bool console_json;
static atomic_bool console_clear_line;
static atomic_bool installed;
static atomic_int crashing;
static int32_t exit_status = 6;

int crash_guard_set_log_fd(int fd) { return atomic_exchange(&log_fd, fd); }

void crash_guard_set_console(bool json, bool clear_line) {
  atomic_store(&console_json, json);
  atomic_store(&console_clear_line, clear_line);
}

crash_guard_reports *crash_guard_reports_new(void) { return calloc(1, sizeof(crash_guard_reports)); }

void crash_guard_reports_set_start(crash_guard_reports *reports, double started_at) {
  reports->started_ns = (int64_t)(started_at * 1e9);
}

static void free_report(struct report *r) {
  free(r->path);
  free(r->temporary);
  free(r->prefix);
  free(r->middle);
  free(r->suffix);
}

bool crash_guard_reports_add(crash_guard_reports *reports, const char *path, const char *temporary, int fd,
                             const char *prefix, const char *middle, const char *suffix) {
  struct report item = {NULL, NULL, copy(prefix), copy(middle), copy(suffix), fd};
  if (path != NULL) {
    item.path = copy(path);
    item.temporary = copy(temporary);
  }
  struct report *grown = realloc(reports->items, (reports->count + 1) * sizeof *grown);
  if (grown == NULL || item.prefix == NULL || item.middle == NULL || item.suffix == NULL ||
      (path != NULL && (item.path == NULL || item.temporary == NULL))) {
    if (grown != NULL) reports->items = grown;
    free_report(&item);
    return false;
  }
  reports->items = grown;
  reports->items[reports->count++] = item;
  return true;
}

static void free_reports(crash_guard_reports *reports) {
  if (reports == NULL) return;
  for (size_t i = 0; i < reports->count; i++) free_report(&reports->items[i]);
  free(reports->items);
  free(reports);
}

/* Whoever exchanges the pointer out owns the set: the handler takes it, so
   a set is never freed while the handler reads it. */
void crash_guard_reports_publish(crash_guard_reports *reports) {
  free_reports(atomic_exchange(&armed_reports, reports));
}

/* ---- alternate signal stacks ------------------------------------------- */

static pthread_key_t stack_key;
static pthread_once_t stack_key_once = PTHREAD_ONCE_INIT;

static void release_stack(void *memory) {
  stack_t now;
  if (sigaltstack(NULL, &now) == 0 && now.ss_sp == memory) {
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
  }
  free(memory);
}

static void make_stack_key(void) { pthread_key_create(&stack_key, release_stack); }

int crash_guard_prepare_thread(void) {
  size_t size = 64 * 1024;
#ifdef _SC_SIGSTKSZ
  long minimum = sysconf(_SC_SIGSTKSZ);
  if (minimum > 0 && (size_t)minimum * 4 > size) size = (size_t)minimum * 4;
#endif
  stack_t now;
  if (sigaltstack(NULL, &now) == 0 && !(now.ss_flags & SS_DISABLE) && now.ss_size >= size) return 0;
  pthread_once(&stack_key_once, make_stack_key);
  void *memory = malloc(size);
  if (memory == NULL) return ENOMEM;
  stack_t stack = {.ss_sp = memory, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&stack, NULL) != 0) {
    int error = errno;
    free(memory);
    return error;
  }
  void *old = pthread_getspecific(stack_key);
  pthread_setspecific(stack_key, memory);
  free(old);
  return 0;
}

/* ---- the handler --------------------------------------------------------- */

/* A fixed buffer; a piece is appended whole or not at all, so JSON stays valid. */
typedef struct {
  char *data;
  size_t cap, len;
} text_buf;

static void put(text_buf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n > b->cap) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void put_uint(text_buf *b, uint64_t value, int min_digits) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0 || n < min_digits);
  char out[24];
  for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  out[n] = 0;
  put(b, out);
}

static void put_hex(text_buf *b, uintptr_t value) {
  char out[2 + 2 * sizeof value + 1];
  int n = 0;
  out[n++] = '0';
  out[n++] = 'x';
  int shift = (int)(sizeof value * 8) - 4;
  while (shift > 0 && ((value >> shift) & 0xf) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) out[n++] = "0123456789abcdef"[(value >> shift) & 0xf];
  out[n] = 0;
  put(b, out);
}

/* 2024-05-01T00:17:03.120Z, from days since 1970 (H. Hinnant's civil_from_days). */
static void put_rfc3339(text_buf *b, const struct timespec *now) {
  int64_t seconds = now->tv_sec, days = seconds / 86400, rest = seconds % 86400;
  if (rest < 0) rest += 86400, days -= 1;
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  uint64_t doe = (uint64_t)(days - era * 146097);
  uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  uint64_t mp = (5 * doy + 2) / 153;
  uint64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
  put_uint(b, (uint64_t)(year < 0 ? 0 : year), 4);
  put(b, "-");
  put_uint(b, month, 2);
  put(b, "-");
  put_uint(b, day, 2);
  put(b, "T");
  put_uint(b, (uint64_t)rest / 3600, 2);
  put(b, ":");
  put_uint(b, (uint64_t)rest / 60 % 60, 2);
  put(b, ":");
  put_uint(b, (uint64_t)rest % 60, 2);
  put(b, ".");
  put_uint(b, (uint64_t)now->tv_nsec / 1000000, 3);
  put(b, "Z");
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= (size_t)n;
  }
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGSEGV: return "SIGSEGV";
  case SIGBUS: return "SIGBUS";
  case SIGILL: return "SIGILL";
  case SIGFPE: return "SIGFPE";
  case SIGABRT: return "SIGABRT";
  case SIGTRAP: return "SIGTRAP";
  default: return "a fatal signal";
  }
}

static const char *signal_meaning(int sig) {
  switch (sig) {
  case SIGSEGV: return "invalid memory access";
  case SIGBUS: return "bus error";
  case SIGILL: return "illegal instruction";
  case SIGFPE: return "arithmetic exception";
  case SIGABRT: return "abort";
  case SIGTRAP: return "trap";
  default: return "fatal";
  }
}

static char message_text[8192], message_json[32768], line[65536];

/* The message, naming `who` (plain or JSON-escaped: everything else in it
   needs no escaping). */
static size_t compose(char *out, size_t cap, const char *who, bool host, int sig, const siginfo_t *info,
                      bool sent, int function, bool own_thread, bool run_armed) {
  text_buf b = {out, cap, 0};
  if (sent) {
    /* kill(2) from another process: whatever the thread was doing, it did not fault */
    put(&b, "pipeline was sent ");
    put(&b, signal_name(sig));
    put(&b, " by process ");
    put_uint(&b, (uint64_t)(info->si_pid > 0 ? info->si_pid : 0), 1);
  } else {
    put(&b, who);
    put(&b, host ? " crashed (host) with " : " crashed with ");
    put(&b, signal_name(sig));
    put(&b, " (");
    put(&b, signal_meaning(sig));
    if ((sig == SIGSEGV || sig == SIGBUS) && info != NULL && info->si_code > 0) { /* a fault, not a kill */
      put(&b, " at address ");
      put_hex(&b, (uintptr_t)info->si_addr);
    }
    put(&b, ")");
    if (function >= 0) {
      put(&b, function == CRASH_GUARD_DLOPEN ? " while being loaded (dlopen)" : " in ");
      if (function != CRASH_GUARD_DLOPEN) put(&b, function_names[function]);
    } else if (own_thread) {
      put(&b, " on a thread of its own");
    }
  }
  put(&b, "; exit code ");
  put_uint(&b, (uint64_t)exit_status, 1);
  if (run_armed) put(&b, "; the run's state is saved: the same command resumes");
  return b.len;
}

/* `"function":"process","signal":"SIGSEGV` (the closing quote is the caller's):
   the fields both the console record and run.log's record carry. */
static void put_function_and_signal(text_buf *b, int function, int sig) {
  if (function >= 0) {
    put(b, "\"function\":\"");
    put(b, function_names[function]);
    put(b, "\",");
  }
  put(b, "\"signal\":\"");
  put(b, signal_name(sig));
}

static void handler(int sig, siginfo_t *info, void *context) {
  if (in_handler) _exit(exit_status); /* a fault while reporting one */
  in_handler = 1;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&crashing, &expected, 1)) {
    for (;;) pause(); /* another thread is reporting; it exits the process */
  }

  /* Sent by another process (abort() and raise() send from this one). */
  bool sent = info != NULL && (info->si_code == SI_USER || info->si_code == SI_QUEUE) && info->si_pid != getpid();
  const crash_guard_call *call = sent ? NULL : atomic_load_explicit(&current_call, memory_order_relaxed);
  const crash_guard_site *site = call != NULL ? call->site : NULL;
  int function = call != NULL ? call->function : -1;
  bool own_thread = false;
  if (site == NULL && !sent) {
    site = site_of_code(program_counter(context));
    own_thread = site != NULL;
  }
  crash_guard_reports *reports = atomic_exchange(&armed_reports, NULL);
  bool host = site == NULL;
  const char *fields = host ? "" : site->json_fields;

  size_t text_len = compose(message_text, sizeof message_text - 1, host ? "pipeline" : site->text, host, sig, info,
                            sent, function, own_thread, reports != NULL);
  size_t json_len = compose(message_json, sizeof message_json - 1, host ? "pipeline" : site->json_text, host, sig,
                            info, sent, function, own_thread, reports != NULL);
  message_text[text_len] = 0;
  message_json[json_len] = 0;
  struct timespec now = {0, 0};
  clock_gettime(CLOCK_REALTIME, &now);

  /* stderr */
  text_buf b = {line, sizeof line - 1, 0};
  if (atomic_load(&console_json)) {
    put(&b, "{\"level\":\"critical\",\"message\":\"");
    put(&b, message_json);
    put(&b, "\",\"metadata\":{");
    put(&b, fields);
    put_function_and_signal(&b, function, sig);
    put(&b, "\"},\"time\":\"");
    put_rfc3339(&b, &now);
    put(&b, "\"}\n");
  } else {
    if (atomic_load(&console_clear_line)) put(&b, "\r\033[K");
    put(&b, message_text);
    put(&b, "\n");
  }
  write_all(2, line, b.len);

  /* run.log: the host's JSON line format */
  int fd = atomic_load(&log_fd);
  if (fd >= 0) {
    b.len = 0;
    put(&b, "{\"level\":\"critical\",\"logger\":\"pipeline.crash\",\"message\":\"");
    put(&b, message_json);
    put(&b, "\",");
    put(&b, fields);
    put_function_and_signal(&b, function, sig);
    put(&b, "\",\"time\":");
    put_uint(&b, (uint64_t)now.tv_sec, 1);
    put(&b, ".");
    put_uint(&b, (uint64_t)now.tv_nsec / 1000000, 3);
    put(&b, "}\n");
    write_all(fd, line, b.len);
  }

  /* the summaries, status "failed" */
  char seconds_text[32];
  text_buf seconds = {seconds_text, sizeof seconds_text - 1, 0};
  if (reports != NULL) {
    int64_t elapsed_ms = ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - reports->started_ns) / 1000000;
    if (elapsed_ms < 0) elapsed_ms = 0;
    put_uint(&seconds, (uint64_t)elapsed_ms / 1000, 1);
    put(&seconds, ".");
    put_uint(&seconds, (uint64_t)elapsed_ms % 1000, 3);
  }
  for (size_t i = 0; reports != NULL && i < reports->count; i++) {
    const struct report *r = &reports->items[i];
    int out = r->path != NULL ? open(r->temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : r->fd;
    if (out < 0) continue;
    write_all(out, r->prefix, strlen(r->prefix));
    write_all(out, message_json, json_len);
    write_all(out, r->middle, strlen(r->middle));
    write_all(out, seconds_text, seconds.len);
    write_all(out, r->suffix, strlen(r->suffix));
    write_all(out, "\n", 1);
    if (r->path != NULL) {
      close(out);
      rename(r->temporary, r->path);
    }
  }
  _exit(exit_status);
}

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};

int crash_guard_install(int32_t exit_code) {
  exit_status = exit_code;
  int error = crash_guard_prepare_thread();
  if (error != 0) return error;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = handler;
  /* No SA_RESETHAND: it would reset the disposition for the whole process,
     and a second thread faulting while the first one reports would then
     kill the process before the report is written; that thread waits in
     the handler instead. A fault inside the handler is fatal anyway: every
     signal is blocked there, and the kernel kills a thread that faults with
     its signal blocked. */
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&action.sa_mask);
  for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
    if (sigaction(fatal_signals[i], &action, NULL) != 0) return errno;
  atomic_store(&installed, true);
  return 0;
}

bool crash_guard_installed(void) { return atomic_load(&installed); }
