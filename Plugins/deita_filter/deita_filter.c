/*
 * deita_filter.c: DEITA data selection (Liu et al. 2023, "What makes good
 * data for alignment?") as a global step in plain C, no dependencies.
 *
 * Build:
 *     cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -pthread \
 *        -I Sources/CPipelineABI/include \
 *        -o libdeita_filter.so Plugins/deita_filter/deita_filter.c
 * (-pthread: the selection uses one helper thread; with glibc >= 2.34 the
 * pthread functions are in libc and the flag only matters on older systems.)
 *
 * The rule, method "paper" (default):
 *   score = complexity x quality. A row whose complexity or quality is null,
 *   NaN, or whose column is absent is not selectable; so is a row whose
 *   embedding is null. Both are counted and logged at the end. 0 is a real
 *   score. Rows are sorted by score, descending, ties in input order. Walking
 *   them in that order, a row is kept iff its cosine distance (1 - cos) to
 *   its nearest neighbour among the rows ALREADY KEPT is strictly greater
 *   than `threshold`; the first row is always kept; stop at `budget` rows.
 *   A zero-norm embedding has cosine 0 (distance 1) to every row, itself
 *   and other zero vectors included.
 * Method "distilabel" (distilabel's DeitaFiltering):
 *   score = c*q if both are truthy, else c if truthy, else q if truthy, else
 *   0 (null, NaN and 0 are not truthy); every row with an embedding is
 *   selectable. The distance of a row is to its nearest neighbour in the
 *   WHOLE pool (itself excluded); walking the sorted rows, keep iff that
 *   distance >= threshold, until `budget` rows.
 *
 * Embeddings: fixed_size_list<float32> (load_jsonl's `embeddings: X.npy`),
 * list<float64> (JSON arrays) or list<float32>, converted to float32 as they
 * are copied in. A list column's first non-null row sets the dimension; a
 * later row of another length, or with a null value, fails the step (like a
 * column of another type). A null embedding makes the row not selectable.
 *
 * Output (from finish, in selection order, in batches of at most 65536
 * rows): every input column, then "deita_score" (float64) and
 * "nearest_distance" (float64). nearest_distance is, for "paper", the
 * distance to the nearest already-kept row when the row was kept, and 2.0
 * (the largest cosine distance) for the first kept row; for "distilabel",
 * the whole-pool nearest-neighbour distance (2.0 for a pool of one row).
 * Input columns named "deita_score" or "nearest_distance" are replaced.
 * The embedding goes out as the float32 values the step used: as
 * fixed_size_list<float32> for a fixed-size or list<float32> input, as
 * list<float64> (the float32 values, widened) for a list<float64> input.
 * All input batches must have the same columns (names and formats).
 *
 * Numerics: dot products are computed in float32 (an AVX-512 or AVX2+FMA
 * kernel chosen at run time, a portable one otherwise; DEITA_FILTER_KERNEL=
 * portable|avx2|avx512 forces one); every decision whose float
 * cosine lies within 1e-4 of the threshold is re-decided from the original
 * vectors in double precision, so the selection does not depend on the
 * kernel. Reported distances are recomputed in double for the nearest row.
 *
 * Memory: the selectable rows' columns (copied, input batches are borrowed),
 * the raw embeddings (N x d float32, kept once: the output is built from
 * them) and the normalised kept rows (budget x d). Never N x N ("distilabel"
 * adds a normalised copy of the pool, N x d).
 *
 * Speed ("paper"): the rows are sorted by score with a radix sort. The kept
 * set is stored normalised in panels of nr rows (k-major), the layout of a
 * register-blocked GEMM micro-kernel (12 candidates x 32 kept rows with
 * AVX-512, 6 x 16 with AVX2, 4 x 8 portable). Candidates go in rounds of up
 * to 256 (no more than the budget can still take):
 *   1. staged 512 at a time on both threads: normalised, hashed into
 *      DF_LSH_TABLES random-hyperplane tables and checked against the kept
 *      rows in their buckets; a near duplicate of a kept row is usually
 *      rejected here after a few dot products (a pool of clusters costs
 *      about what a pool of random vectors does);
 *   2. the round's candidates against the whole kept set: chunks of 256 kept
 *      rows taken by the two threads from a shared counter, each thread
 *      packing the candidates still in play into its micro-panels (again
 *      after a rejection), a candidate dropped at the first kept row within
 *      the threshold;
 *   3. the survivors' cosines to each other (lower triangle, same kernel),
 *      then resolved in order against the rows kept earlier in the round.
 * "distilabel" needs all N x N dot products (same kernel, two threads):
 * fine for tens of thousands of rows, slow for hundreds of thousands.
 * DEITA_FILTER_TIMING=1 prints the phases' times on stderr.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_arrow.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DF_X86 1
#include <immintrin.h>
#endif

static const pipeline_host *g_host;

/* DEITA_FILTER_TIMING=1: phase times on stderr. */
#include <time.h>
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static int timing_on(void) {
  static int on = -1;
  if (on < 0) {
    const char *e = getenv("DEITA_FILTER_TIMING");
    on = e != NULL && *e != '\0' && strcmp(e, "0") != 0;
  }
  return on;
}

#define DF_MARGIN 1e-4f     /* float cosines this close to the limit are re-decided in double */
#ifndef DF_ROUND
#define DF_ROUND 256        /* candidates per round */
#endif
#ifndef DF_CHUNK
#define DF_CHUNK 256        /* kept rows per unit of work (a multiple of every kernel's nr) */
#endif
#define DF_MAX_MR 12        /* the largest tile: 12 candidates x 32 kept rows */
#define DF_MAX_NR 32
#define DF_LSH_TABLES 4
#define DF_STAGE 512        /* rows normalised, hashed and probed together */
#define DF_OUT_ROWS 65536   /* rows per output batch */

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static pipeline_status fail(pipeline_call *call, pipeline_status status, const char *format, ...) {
  char msg[512];
  va_list args;
  int n;
  va_start(args, format);
  n = vsnprintf(msg, sizeof msg, format, args);
  va_end(args);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
  g_host->set_error(call, status, msg, (size_t)n);
  return status;
}

static void log_info(pipeline_call *call, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void log_info(pipeline_call *call, const char *format, ...) {
  char msg[512];
  va_list args;
  int n;
  va_start(args, format);
  n = vsnprintf(msg, sizeof msg, format, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
  g_host->log(call, PIPELINE_LOG_INFO, msg, (size_t)n);
}

/* ------------------------------------------------------------------------ */
/* Tile kernels: C = A^T B for one micro-panel of candidates (A: dp x mr,    */
/* k-major, "packed") and one panel of kept rows (B: dp x nr, k-major), so  */
/* C[i * nr + j] = <candidate i, kept row j>; rowmax[i] = max_j C[i*nr+j].  */
/* Register-blocked: mr x nr accumulators stay in registers for the whole   */
/* dot length; B is streamed once per micro-panel, A is broadcast.          */
/* ------------------------------------------------------------------------ */

typedef void (*tile_fn)(const float *A, const float *B, size_t dp, float *C, float *rowmax);
typedef float (*dot_fn)(const float *x, const float *y, size_t dp);

typedef struct kernel {
  int mr, nr;
  tile_fn tile;
  dot_fn dot;
  const char *name;
} kernel;

/* Portable: 4 x 8, plain C (compilers vectorise the j loop). */
static void tile_portable(const float *A, const float *B, size_t dp, float *C, float *rowmax) {
  float acc[4][8];
  memset(acc, 0, sizeof acc);
  for (size_t k = 0; k < dp; k++) {
    const float *a = A + k * 4, *b = B + k * 8;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
  }
  for (int i = 0; i < 4; i++) {
    float m = acc[i][0];
    for (int j = 0; j < 8; j++) {
      C[i * 8 + j] = acc[i][j];
      if (acc[i][j] > m) m = acc[i][j];
    }
    rowmax[i] = m;
  }
}

static float dot_portable(const float *x, const float *y, size_t dp) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t k = 0; k < dp; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += x[k + j] * y[k + j];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#ifdef DF_X86
/* AVX2 + FMA: 6 x 16, 12 ymm accumulators, 2 loads + 6 broadcasts per 12 FMAs. */
#define DF_AVX2_ROW(i)                                      \
  a = _mm256_broadcast_ss(A + k * 6 + (i));                 \
  c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);                \
  c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);
#define DF_AVX2_OUT(i)                                                                   \
  _mm256_storeu_ps(C + (i) * 16, c##i##0);                                              \
  _mm256_storeu_ps(C + (i) * 16 + 8, c##i##1);                                          \
  m = _mm256_max_ps(c##i##0, c##i##1);                                                   \
  m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));               \
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));                                            \
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));                                        \
  rowmax[i] = _mm_cvtss_f32(m4);

__attribute__((target("avx2,fma"))) static void tile_avx2(const float *A, const float *B, size_t dp, float *C,
                                                         float *rowmax) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00, a, b0, b1, m;
  __m128 m4;
  for (size_t k = 0; k < dp; k++) {
    b0 = _mm256_loadu_ps(B + k * 16);
    b1 = _mm256_loadu_ps(B + k * 16 + 8);
    DF_AVX2_ROW(0) DF_AVX2_ROW(1) DF_AVX2_ROW(2) DF_AVX2_ROW(3) DF_AVX2_ROW(4) DF_AVX2_ROW(5)
  }
  DF_AVX2_OUT(0) DF_AVX2_OUT(1) DF_AVX2_OUT(2) DF_AVX2_OUT(3) DF_AVX2_OUT(4) DF_AVX2_OUT(5)
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *x, const float *y, size_t dp) {
  __m256 c0 = _mm256_setzero_ps(), c1 = c0;
  size_t k = 0;
  for (; k + 16 <= dp; k += 16) {
    c0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), c0);
    c1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), c1);
  }
  for (; k < dp; k += 8) c0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), c0);
  c0 = _mm256_add_ps(c0, c1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(c0), _mm256_extractf128_ps(c0, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

/* AVX-512: 12 x 32, 24 zmm accumulators, 2 loads + 12 broadcasts per 24 FMAs. */
#define DF_512_ROW(i)                                       \
  a = _mm512_set1_ps(A[k * 12 + (i)]);                      \
  c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                \
  c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);
#define DF_512_OUT(i)                                       \
  _mm512_storeu_ps(C + (i) * 32, c##i##0);                  \
  _mm512_storeu_ps(C + (i) * 32 + 16, c##i##1);             \
  rowmax[i] = _mm512_reduce_max_ps(_mm512_max_ps(c##i##0, c##i##1));

__attribute__((target("avx512f"))) static void tile_avx512(const float *A, const float *B, size_t dp, float *C,
                                                          float *rowmax) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00,
         c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00, a, b0, b1;
  for (size_t k = 0; k < dp; k++) {
    b0 = _mm512_loadu_ps(B + k * 32);
    b1 = _mm512_loadu_ps(B + k * 32 + 16);
    DF_512_ROW(0) DF_512_ROW(1) DF_512_ROW(2) DF_512_ROW(3) DF_512_ROW(4) DF_512_ROW(5)
    DF_512_ROW(6) DF_512_ROW(7) DF_512_ROW(8) DF_512_ROW(9) DF_512_ROW(10) DF_512_ROW(11)
  }
  DF_512_OUT(0) DF_512_OUT(1) DF_512_OUT(2) DF_512_OUT(3) DF_512_OUT(4) DF_512_OUT(5)
  DF_512_OUT(6) DF_512_OUT(7) DF_512_OUT(8) DF_512_OUT(9) DF_512_OUT(10) DF_512_OUT(11)
}
#endif

static kernel pick_kernel(void) {
  kernel kp = {4, 8, tile_portable, dot_portable, "portable"};
  const char *force = getenv("DEITA_FILTER_KERNEL"); /* "portable", "avx2" or "avx512": tests and benchmarks */
#ifdef DF_X86
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (force != NULL && strcmp(force, "portable") == 0) return kp;
  if (force != NULL && strcmp(force, "avx2") == 0) avx512 = false;
  if (getenv("DEITA_FILTER_NO_AVX512") != NULL) avx512 = false;
  if (avx512) return (kernel){12, 32, tile_avx512, dot_avx2, "avx512"};
  if (avx2) return (kernel){6, 16, tile_avx2, dot_avx2, "avx2"};
#else
  (void)force;
#endif
  return kp;
}

/* Packs n <= mr rows (length dp, normalised) into one micro-panel: dst[k * mr + i]. */
static void pack_a(const float *const *rows, int n, int mr, size_t dp, float *dst) {
  for (size_t k = 0; k < dp; k++) {
    float *d = dst + k * (size_t)mr;
    int i = 0;
    for (; i < n; i++) d[i] = rows[i][k];
    for (; i < mr; i++) d[i] = 0.0f;
  }
}

/* Writes a row into column `col` of a panel (dp x nr). */
static void panel_put(float *panel, int nr, int col, const float *row, size_t dp) {
  for (size_t k = 0; k < dp; k++) panel[k * (size_t)nr + (size_t)col] = row[k];
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct stored_batch {
  struct ArrowSchema schema;
  struct ArrowArray array;
  int64_t first; /* global index of its row 0 */
} stored_batch;

typedef struct deita {
  /* parameters */
  char *complexity, *quality, *embedding;
  int64_t budget;
  double threshold;
  bool distilabel;

  /* the pool */
  bool have_schema;
  char *signature;          /* names and formats of the first batch's columns */
  int64_t emb_out_pos;      /* output position of the embedding column */
  bool emb_nullable;
  int emb_kind;             /* EMB_FIXED32, EMB_LIST64 or EMB_LIST32 */
  int32_t d;
  size_t dp;                /* d rounded up to a multiple of 16 */
  stored_batch *batches;
  size_t n_batches, cap_batches;
  float *raw;               /* n x dp, zero-padded */
  double *score;
  float *inv_norm;          /* 1/|x|, 0 for a zero vector */
  int64_t n, cap;
  int64_t rows_in, missing_score, null_embedding;

  /* the result */
  bool selected_done;
  int64_t *sel;             /* global indices, in selection order */
  double *sel_dist;
  int64_t n_sel, emitted;

  volatile int interrupted;
  double t_first, t_last, t_process, t_emit; /* timing */
} deita;

static void deita_destroy(void *state) {
  deita *s = state;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_batches; i++) {
    if (s->batches[i].array.release) s->batches[i].array.release(&s->batches[i].array);
    if (s->batches[i].schema.release) s->batches[i].schema.release(&s->batches[i].schema);
  }
  free(s->batches);
  free(s->complexity);
  free(s->quality);
  free(s->embedding);
  free(s->signature);
  free(s->raw);
  free(s->score);
  free(s->inv_norm);
  free(s->sel);
  free(s->sel_dist);
  free(s);
}

static void deita_interrupt(void *state) {
  deita *s = state;
  if (s != NULL) s->interrupted = 1;
}

static char *dup_n(const char *p, size_t n) {
  char *c = malloc(n + 1);
  if (c != NULL) {
    memcpy(c, p, n);
    c[n] = '\0';
  }
  return c;
}

static pipeline_status read_str(pipeline_call *call, const pipeline_params_ext *p, const char *key,
                                const char *fallback, char **out) {
  const char *v = NULL;
  size_t len = 0;
  pipeline_status st = p->get_string(call, key, &v, &len);
  if (st == PIPELINE_NOT_IMPLEMENTED) {
    v = fallback;
    len = strlen(fallback);
  } else if (st != PIPELINE_OK) {
    return fail(call, PIPELINE_INVALID_ARGUMENT, "deita_filter: parameter \"%s\" must be a string", key);
  }
  if ((*out = dup_n(v, len)) == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
  return PIPELINE_OK;
}

static pipeline_status deita_create(pipeline_call *call, const pipeline_step_desc *step,
                                    const char *params_json, void **state) {
  const pipeline_params_ext *p;
  deita *s;
  pipeline_status st;
  char *method = NULL;
  (void)step;
  (void)params_json;
  p = (const pipeline_params_ext *)g_host->get_extension(g_host, PIPELINE_EXT_PARAMS);
  if (p == NULL || !PIPELINE_HAS_FIELD(p, pipeline_params_ext, get_double))
    return fail(call, PIPELINE_NOT_IMPLEMENTED, "deita_filter needs the host service \"%s\"",
                PIPELINE_EXT_PARAMS);
  if ((s = calloc(1, sizeof *s)) == NULL)
    return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
  if ((st = read_str(call, p, "complexity_column", "complexity_score", &s->complexity)) != PIPELINE_OK ||
      (st = read_str(call, p, "quality_column", "quality_score", &s->quality)) != PIPELINE_OK ||
      (st = read_str(call, p, "embedding_column", "embedding", &s->embedding)) != PIPELINE_OK ||
      (st = read_str(call, p, "method", "paper", &method)) != PIPELINE_OK)
    goto fail;
  if (strcmp(method, "paper") == 0) s->distilabel = false;
  else if (strcmp(method, "distilabel") == 0) s->distilabel = true;
  else {
    st = fail(call, PIPELINE_INVALID_ARGUMENT,
              "deita_filter: method must be \"paper\" or \"distilabel\", not \"%s\"", method);
    goto fail;
  }
  st = p->get_int64(call, "budget", &s->budget);
  if (st != PIPELINE_OK || s->budget < 1) {
    st = fail(call, PIPELINE_INVALID_ARGUMENT, "deita_filter: parameter \"budget\" (an integer >= 1) is required");
    goto fail;
  }
  st = p->get_double(call, "threshold", &s->threshold);
  if (st == PIPELINE_NOT_IMPLEMENTED) s->threshold = 0.1;
  else if (st != PIPELINE_OK || !(s->threshold >= 0.0 && s->threshold <= 2.0)) {
    st = fail(call, PIPELINE_INVALID_ARGUMENT, "deita_filter: parameter \"threshold\" must be a number in [0, 2]");
    goto fail;
  }
  free(method);
  *state = s;
  return PIPELINE_OK;
fail:
  free(method);
  deita_destroy(s);
  return st;
}

/* ------------------------------------------------------------------------ */
/* process: copy the selectable rows                                         */
/* ------------------------------------------------------------------------ */

static bool is_output_name(const char *name) {
  return strcmp(name, "deita_score") == 0 || strcmp(name, "nearest_distance") == 0;
}

/* Reads a score; false if null, NaN or the column is missing. */
static bool read_score(const pipeline_arrow_column *c, int64_t row, double *v) {
  if (c == NULL || !pipeline_arrow_is_valid(c, row)) return false;
  *v = c->type == PIPELINE_ARROW_INT64 ? (double)pipeline_arrow_read_int64(c, row)
                                       : pipeline_arrow_read_float64(c, row);
  return !isnan(*v);
}

static pipeline_status score_column(pipeline_call *call, const struct ArrowSchema *schema,
                                    const struct ArrowArray *in, const char *name,
                                    pipeline_arrow_column *col, bool *present) {
  int64_t i = pipeline_arrow_find_column(schema, name);
  *present = false;
  if (i < 0) return PIPELINE_OK;
  if (pipeline_arrow_column_get(schema, in, i, col) != PIPELINE_OK)
    return fail(call, PIPELINE_INVALID_DATA, "deita_filter: column \"%s\" is malformed", name);
  if (col->type == PIPELINE_ARROW_UNSUPPORTED && schema->children[i]->format != NULL &&
      strcmp(schema->children[i]->format, "n") == 0)
    return PIPELINE_OK; /* the null type: all missing */
  if (col->type != PIPELINE_ARROW_FLOAT64 && col->type != PIPELINE_ARROW_INT64)
    return fail(call, PIPELINE_INVALID_DATA, "deita_filter: column \"%s\" has format \"%s\"; expected float64 or int64",
                name, schema->children[i]->format ? schema->children[i]->format : "?");
  *present = true;
  return PIPELINE_OK;
}

enum { EMB_FIXED32 = 1, EMB_LIST64, EMB_LIST32 };

/* A view of the embedding column, whichever of the three types it has. */
typedef struct emb_view {
  int kind;
  pipeline_arrow_column col;   /* fixed_size_list<float32> and list<float64>: the helper's view */
  pipeline_arrow_column items; /* list<float64>: its items */
  const int32_t *offsets;      /* the lists: offsets, at the column's row 0 */
  const uint8_t *validity;     /* list<float32>: bitmap, with `base` */
  const uint8_t *item_validity;
  int64_t base, item_base;
  const float *floats;         /* list<float32>: the items, at item 0 */
} emb_view;

static bool bit_at(const uint8_t *bits, int64_t i) { return ((bits[i >> 3] >> (i & 7)) & 1) != 0; }

/* Reads the embedding column of a batch; a message in `why` if it is of another type or malformed. */
static bool emb_view_get(const struct ArrowSchema *schema, const struct ArrowArray *in, int64_t ei, emb_view *v,
                         const char **why) {
  memset(v, 0, sizeof *v);
  *why = "has an unsupported format";
  if (pipeline_arrow_column_get(schema, in, ei, &v->col) != PIPELINE_OK) {
    *why = "is malformed";
    return false;
  }
  if (v->col.type == PIPELINE_ARROW_FIXED_FLOAT32) {
    v->kind = EMB_FIXED32;
    return true;
  }
  if (v->col.type == PIPELINE_ARROW_LIST_FLOAT64) {
    v->kind = EMB_LIST64;
    if (pipeline_arrow_list_items(&v->col, &v->items) != PIPELINE_OK || v->items.type != PIPELINE_ARROW_FLOAT64) {
      *why = "is malformed";
      return false;
    }
    v->offsets = (const int32_t *)v->col.values;
    v->item_validity = v->items.validity;
    v->item_base = v->items.base;
    return true;
  }
  /* list<float32>: the helper does not read it; the same checks by hand. */
  const struct ArrowSchema *f = schema->children[ei];
  const struct ArrowArray *a = in->children[ei];
  if (f->format == NULL || strcmp(f->format, "+l") != 0 || f->n_children != 1 || f->children == NULL ||
      f->children[0] == NULL || f->children[0]->format == NULL || strcmp(f->children[0]->format, "f") != 0)
    return false;
  *why = "is malformed";
  if (a == NULL || a->release == NULL || a->n_buffers != 2 || a->buffers == NULL || a->n_children != 1 ||
      a->children == NULL || a->children[0] == NULL || a->offset < 0)
    return false;
  const struct ArrowArray *c = a->children[0];
  if (c->release == NULL || c->n_buffers != 2 || c->buffers == NULL || c->offset < 0 || c->length < 0) return false;
  v->kind = EMB_LIST32;
  v->base = in->offset + a->offset;
  if (in->length > 0) {
    if (a->buffers[1] == NULL || a->length < in->offset + in->length) return false;
    v->offsets = (const int32_t *)a->buffers[1];
    int32_t first = v->offsets[v->base], last = v->offsets[v->base + in->length];
    if (first < 0 || last < first || last > c->length) return false;
    if (last > first && c->buffers[1] == NULL) return false;
  }
  if (a->null_count != 0) v->validity = (const uint8_t *)a->buffers[0];
  if (c->null_count != 0) v->item_validity = (const uint8_t *)c->buffers[0];
  v->floats = c->buffers[1] != NULL ? (const float *)c->buffers[1] + c->offset : NULL;
  v->item_base = c->offset;
  v->col.base = v->base;
  return true;
}

static bool emb_valid(const emb_view *v, int64_t row) {
  if (v->kind == EMB_LIST32) return v->validity == NULL || bit_at(v->validity, v->base + row);
  return pipeline_arrow_is_valid(&v->col, row);
}

/* Copies a (non-null) row's values into dst as float32, with their count
   in *len; false if there are more than `max` or one is null. */
static bool emb_copy(const emb_view *v, int64_t row, float *dst, int64_t max, int64_t *len) {
  if (v->kind == EMB_FIXED32) {
    *len = v->col.width;
    if (*len > max) return false;
    memcpy(dst, pipeline_arrow_read_float32s(&v->col, row, NULL), (size_t)*len * sizeof *dst);
    return true;
  }
  int64_t start = v->offsets[v->col.base + row], end = v->offsets[v->col.base + row + 1];
  *len = end - start;
  if (*len < 0 || *len > max) return false;
  if (v->item_validity != NULL)
    for (int64_t k = start; k < end; k++)
      if (!bit_at(v->item_validity, v->item_base + k)) return false;
  if (v->kind == EMB_LIST64) {
    const double *x = (const double *)v->items.values + v->items.base + start;
    for (int64_t k = 0; k < *len; k++) dst[k] = (float)x[k];
  } else {
    memcpy(dst, v->floats + start, (size_t)*len * sizeof *dst);
  }
  return true;
}

static pipeline_status grow(deita *s, int64_t need) {
  if (need <= s->cap) return PIPELINE_OK;
  int64_t cap = s->cap ? s->cap : 1024;
  while (cap < need) cap *= 2;
  float *raw = realloc(s->raw, (size_t)cap * s->dp * sizeof *raw);
  if (raw == NULL) return PIPELINE_OUT_OF_MEMORY;
  s->raw = raw;
  double *score = realloc(s->score, (size_t)cap * sizeof *score);
  if (score == NULL) return PIPELINE_OUT_OF_MEMORY;
  s->score = score;
  float *inv = realloc(s->inv_norm, (size_t)cap * sizeof *inv);
  if (inv == NULL) return PIPELINE_OUT_OF_MEMORY;
  s->inv_norm = inv;
  s->cap = cap;
  return PIPELINE_OK;
}

static pipeline_status process_batch(pipeline_call *call, void *state, const struct ArrowSchema *schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  deita *s = state;
  pipeline_arrow_column cc, qc;
  emb_view ev;
  const char *why;
  bool has_c, has_q;
  pipeline_status st;
  (void)out_schema;
  (void)out;
  if (schema == NULL || in == NULL)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "deita_filter: called without an input batch");
  if (s->selected_done)
    return fail(call, PIPELINE_INVALID_ARGUMENT, "deita_filter: a batch arrived after finish");
  if (schema->n_children != in->n_children || (schema->n_children > 0 && schema->children == NULL))
    return fail(call, PIPELINE_INVALID_DATA, "deita_filter: malformed input batch");

  /* The embedding column. */
  int64_t ei = pipeline_arrow_find_column(schema, s->embedding);
  if (ei < 0)
    return fail(call, PIPELINE_INVALID_DATA,
                "deita_filter: the input has no column \"%s\" (expected fixed_size_list<float32>, list<float64> "
                "or list<float32>)", s->embedding);
  if (!emb_view_get(schema, in, ei, &ev, &why))
    return fail(call, PIPELINE_INVALID_DATA,
                "deita_filter: column \"%s\" %s (format \"%s\"); expected fixed_size_list<float32>, list<float64> "
                "or list<float32>", s->embedding, why, schema->children[ei]->format ? schema->children[ei]->format : "?");
  if ((st = score_column(call, schema, in, s->complexity, &cc, &has_c)) != PIPELINE_OK ||
      (st = score_column(call, schema, in, s->quality, &qc, &has_q)) != PIPELINE_OK)
    return st;

  /* Same columns as the first batch. */
  size_t siglen = 1;
  for (int64_t i = 0; i < schema->n_children; i++) {
    const struct ArrowSchema *f = schema->children[i];
    siglen += strlen(f->name ? f->name : "") + strlen(f->format ? f->format : "") + 2;
  }
  char *sig = malloc(siglen), *w = sig;
  if (sig == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
  for (int64_t i = 0; i < schema->n_children; i++) {
    const struct ArrowSchema *f = schema->children[i];
    w += sprintf(w, "%s\x1f%s\x1e", f->name ? f->name : "", f->format ? f->format : "");
  }
  if (!s->have_schema) {
    s->have_schema = true;
    s->signature = sig;
    s->emb_kind = ev.kind;
    if (ev.kind == EMB_FIXED32) { /* lists: the first non-null row sets the dimension */
      s->d = ev.col.width;
      s->dp = ((size_t)ev.col.width + 15) & ~(size_t)15;
    }
    s->emb_nullable = (schema->children[ei]->flags & ARROW_FLAG_NULLABLE) != 0;
    s->emb_out_pos = 0;
    for (int64_t i = 0; i < ei; i++)
      if (!is_output_name(schema->children[i]->name ? schema->children[i]->name : "")) s->emb_out_pos++;
  } else {
    bool same = strcmp(sig, s->signature) == 0 && ev.kind == s->emb_kind;
    free(sig);
    if (!same)
      return fail(call, PIPELINE_INVALID_DATA,
                  "deita_filter: this batch's columns (names or formats) differ from the first batch's");
  }

  /* The columns kept as they are: all but the embedding and the outputs. */
  const struct ArrowSchema **kept_fields = malloc(((size_t)schema->n_children + 1) * sizeof *kept_fields);
  int64_t *kept_index = malloc(((size_t)schema->n_children + 1) * sizeof *kept_index);
  pipeline_arrow_column *views = calloc((size_t)schema->n_children + 1, sizeof *views);
  pipeline_arrow_builder b;
  pipeline_arrow_builder_init(&b);
  int64_t nk = 0, failed = -1;
  if (kept_fields == NULL || kept_index == NULL || views == NULL) {
    st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < schema->n_children; i++) {
    const char *name = schema->children[i]->name ? schema->children[i]->name : "";
    if (i == ei || is_output_name(name)) continue;
    if (pipeline_arrow_column_get(schema, in, i, &views[nk]) != PIPELINE_OK) {
      st = fail(call, PIPELINE_INVALID_DATA, "deita_filter: column \"%s\" is malformed", name);
      goto done;
    }
    kept_fields[nk] = schema->children[i];
    kept_index[nk++] = i;
  }
  struct ArrowSchema view_schema = *schema;
  view_schema.n_children = nk;
  view_schema.children = (struct ArrowSchema **)kept_fields;
  st = pipeline_arrow_builder_add_columns_like(&b, &view_schema, &failed);
  if (st != PIPELINE_OK) {
    st = fail(call, st == PIPELINE_INVALID_DATA ? PIPELINE_INVALID_DATA : PIPELINE_OUT_OF_MEMORY,
              "deita_filter: cannot pass column \"%s\" through (format \"%s\")",
              failed >= 0 && kept_fields[failed]->name ? kept_fields[failed]->name : "?",
              failed >= 0 && kept_fields[failed]->format ? kept_fields[failed]->format : "?");
    goto done;
  }

  int64_t first = s->n;
  for (int64_t row = 0; row < in->length; row++) {
    double c = 0, q = 0, score;
    bool okc, okq;
    s->rows_in++;
    if (!emb_valid(&ev, row)) {
      s->null_embedding++;
      continue;
    }
    if (s->d == 0) { /* a list column's first non-null row */
      int64_t start = ev.offsets[ev.col.base + row], end = ev.offsets[ev.col.base + row + 1];
      if (end - start < 1 || end - start > INT32_MAX / 4) {
        st = fail(call, PIPELINE_INVALID_DATA, "deita_filter: input row %lld: column \"%s\" has %lld values",
                  (long long)s->rows_in, s->embedding, (long long)(end - start));
        goto done;
      }
      s->d = (int32_t)(end - start);
      s->dp = ((size_t)s->d + 15) & ~(size_t)15;
    }
    okc = has_c && read_score(&cc, row, &c);
    okq = has_q && read_score(&qc, row, &q);
    if (!s->distilabel) {
      if (!okc || !okq || isnan(c * q)) {
        s->missing_score++;
        continue;
      }
      score = c * q;
    } else {
      okc = okc && c != 0;
      okq = okq && q != 0;
      score = okc && okq ? c * q : okc ? c : okq ? q : 0.0;
      if (isnan(score)) score = 0.0;
      if (!okc || !okq) s->missing_score++;
    }
    if ((st = grow(s, s->n + 1)) != PIPELINE_OK) {
      st = fail(call, st, "deita_filter: out of memory");
      goto done;
    }
    float *dst = s->raw + (size_t)s->n * s->dp;
    int64_t len;
    if (!emb_copy(&ev, row, dst, s->d, &len) || len != s->d) {
      st = fail(call, PIPELINE_INVALID_DATA,
                "deita_filter: input row %lld: column \"%s\" %s; every embedding must have %d values, none of them null",
                (long long)s->rows_in, s->embedding, len != s->d ? "has a different length" : "has a null value",
                (int)s->d);
      goto done;
    }
    /* Four independent sums: one chain of dependent double adds would cost
       d × the add latency per row, the copy-in's critical path. */
    double n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    int32_t k4 = s->d & ~3;
    for (int32_t k = 0; k < k4; k += 4) {
      n0 += (double)dst[k] * dst[k];
      n1 += (double)dst[k + 1] * dst[k + 1];
      n2 += (double)dst[k + 2] * dst[k + 2];
      n3 += (double)dst[k + 3] * dst[k + 3];
    }
    for (int32_t k = k4; k < s->d; k++) n0 += (double)dst[k] * dst[k];
    double norm2 = (n0 + n1) + (n2 + n3);
    for (size_t k = (size_t)s->d; k < s->dp; k++) dst[k] = 0;
    s->inv_norm[s->n] = (norm2 > 0 && isfinite(norm2)) ? (float)(1.0 / sqrt(norm2)) : 0.0f;
    s->score[s->n] = score;
    s->n++;
    for (int64_t c2 = 0; c2 < nk; c2++) {
      st = pipeline_arrow_append_from(&b, c2, &views[c2], row);
      if (st != PIPELINE_OK) {
        st = fail(call, st, "deita_filter: cannot copy row %lld of column \"%s\"", (long long)row,
                  kept_fields[c2]->name ? kept_fields[c2]->name : "?");
        goto done;
      }
    }
  }
  if (s->n > first) {
    if (s->n_batches == s->cap_batches) {
      size_t cap = s->cap_batches ? 2 * s->cap_batches : 16;
      stored_batch *nb = realloc(s->batches, cap * sizeof *nb);
      if (nb == NULL) {
        st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
        goto done;
      }
      s->batches = nb;
      s->cap_batches = cap;
    }
    stored_batch *sb = &s->batches[s->n_batches];
    memset(sb, 0, sizeof *sb);
    sb->first = first;
    if ((st = pipeline_arrow_builder_finish(&b, &sb->schema, &sb->array)) != PIPELINE_OK) {
      st = fail(call, st, "deita_filter: cannot keep the batch's rows");
      goto done;
    }
    s->n_batches++;
  }
done:
  pipeline_arrow_builder_free(&b);
  free(kept_fields);
  free(kept_index);
  free(views);
  return st;
}

/* ------------------------------------------------------------------------ */
/* Selection                                                                 */
/* ------------------------------------------------------------------------ */

/* Exact cosine of two pool rows, in double from the original values. */
static double exact_cos(const deita *s, int64_t i, int64_t j) {
  const float *x = s->raw + (size_t)i * s->dp, *y = s->raw + (size_t)j * s->dp;
  double xy = 0, xx = 0, yy = 0;
  for (int32_t k = 0; k < s->d; k++) {
    xy += (double)x[k] * y[k];
    xx += (double)x[k] * x[k];
    yy += (double)y[k] * y[k];
  }
  if (!(xx > 0) || !(yy > 0) || !isfinite(xx) || !isfinite(yy)) return 0.0;
  return xy / sqrt(xx * yy);
}

/* True iff the float cosine v of candidate g and pool row r means "within
   the threshold"; close calls are decided in double. */
static inline bool within(const deita *s, float v, float lo, float hi, int64_t g, int64_t r) {
  return v >= lo && (v > hi || !(1.0 - exact_cos(s, g, r) > s->threshold));
}

/* Pool row g, normalised (a zero or non-finite vector gives zeros: cosine 0 with everything). */
static void normalised(const deita *s, int64_t g, float *q) {
  const float *x = s->raw + (size_t)g * s->dp;
  float inv = s->inv_norm[g];
  if (inv == 0.0f) memset(q, 0, s->dp * sizeof *q);
  else
    for (size_t k = 0; k < s->dp; k++) q[k] = x[k] * inv;
}

static void *aligned_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes ? bytes : 64);
}

/* order[0..n): the pool rows by score, descending, ties in input order
   (scores are never NaN). A stable LSD radix sort on the scores' bits,
   8 bits a pass, skipping the passes where every row has the same byte. */
static bool sort_by_score(const double *score, int64_t n, int64_t *order) {
  uint64_t *key = malloc((size_t)n * sizeof *key), *key2 = malloc((size_t)n * sizeof *key2);
  int64_t *tmp = malloc((size_t)n * sizeof *tmp);
  if (key == NULL || key2 == NULL || tmp == NULL) {
    free(key);
    free(key2);
    free(tmp);
    return false;
  }
  for (int64_t i = 0; i < n; i++) {
    double x = score[i] + 0.0; /* -0 sorts with +0 */
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    u = (u >> 63) ? ~u : u | (UINT64_C(1) << 63); /* ascending as unsigned */
    key[i] = ~u;                                   /* descending */
    order[i] = i;
  }
  for (int shift = 0; shift < 64; shift += 8) {
    int64_t count[256];
    memset(count, 0, sizeof count);
    for (int64_t i = 0; i < n; i++) count[(key[i] >> shift) & 255]++;
    if (count[(key[0] >> shift) & 255] == n) continue;
    int64_t at = 0;
    for (int b = 0; b < 256; b++) {
      int64_t c = count[b];
      count[b] = at;
      at += c;
    }
    for (int64_t i = 0; i < n; i++) {
      int64_t to = count[(key[i] >> shift) & 255]++;
      key2[to] = key[i];
      tmp[to] = order[i];
    }
    uint64_t *kt = key;
    key = key2;
    key2 = kt;
    memcpy(order, tmp, (size_t)n * sizeof *order);
  }
  free(key);
  free(key2);
  free(tmp);
  return true;
}

/* A helper thread that runs job(arg, 1) when told, while the caller runs job(arg, 0). */
typedef struct worker {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  void (*job)(void *arg, int tid);
  void *arg;
  unsigned generation, done_generation;
  bool quit, started;
} worker;

static void *worker_main(void *p) {
  worker *w = p;
  unsigned seen = 0;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->quit && w->generation == seen) pthread_cond_wait(&w->cond, &w->lock);
    if (w->quit) break;
    seen = w->generation;
    void (*job)(void *, int) = w->job;
    void *arg = w->arg;
    pthread_mutex_unlock(&w->lock);
    job(arg, 1);
    pthread_mutex_lock(&w->lock);
    w->done_generation = seen;
    pthread_cond_broadcast(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Runs job on both threads (starting the helper on first use); false: run it alone. */
static void run_both(worker *w, void (*job)(void *, int), void *arg) {
  if (!w->started) {
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
      job(arg, 0);
      return;
    }
    if (pthread_cond_init(&w->cond, NULL) != 0) {
      pthread_mutex_destroy(&w->lock);
      job(arg, 0);
      return;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      pthread_cond_destroy(&w->cond);
      pthread_mutex_destroy(&w->lock);
      job(arg, 0);
      return;
    }
    w->started = true;
  }
  pthread_mutex_lock(&w->lock);
  w->job = job;
  w->arg = arg;
  w->generation++;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->lock);
  job(arg, 0);
  pthread_mutex_lock(&w->lock);
  while (w->done_generation != w->generation) pthread_cond_wait(&w->cond, &w->lock);
  pthread_mutex_unlock(&w->lock);
}

static void worker_stop(worker *w) {
  if (!w->started) return;
  pthread_mutex_lock(&w->lock);
  w->quit = true;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->cond);
  w->started = false;
}

/* ---- paper: one round of candidates against the kept set ---------------- */

/* The kept set lives in panels of nr rows (dp x nr each, k-major, zero
   columns past the last row). A round's candidates, normalised and
   contiguous, are scanned against it in chunks of DF_CHUNK kept rows that
   the two threads take from a shared counter. Each thread packs the
   candidates still in play into its own micro-panels (again when some
   were rejected), so a rejected candidate costs nothing after the chunk
   that rejected it. A rejection is final whichever thread finds it. */
typedef struct scan_job {
  const deita *s;
  const kernel *kn;
  const float *kp;          /* kept panels */
  const int64_t *kept_index;
  int64_t n_kept;
  const float *cand;        /* n_cand x dp */
  const int64_t *cand_index;
  int n_cand;
  float lo, hi;             /* limit -/+ margin */
  int64_t next_chunk;       /* shared, atomic */
  uint8_t rejected[DF_ROUND]; /* shared, atomic (relaxed) */
  float best[2][DF_ROUND];  /* per thread: largest float cosine, and where */
  int64_t best_at[2][DF_ROUND];
  float *apack[2];          /* per thread: packed candidates */
} scan_job;

static void scan_chunks(void *arg, int tid) {
  scan_job *j = arg;
  const deita *s = j->s;
  const kernel *kn = j->kn;
  const int mr = kn->mr, nr = kn->nr;
  const size_t dp = s->dp, a_size = (size_t)mr * dp, b_size = (size_t)nr * dp;
  float *best = j->best[tid];
  int64_t *best_at = j->best_at[tid];
  float *apack = j->apack[tid];
  int packed[DF_ROUND], n_packed = -1;
  uint8_t dead[DF_ROUND];
  float C[DF_MAX_MR * DF_MAX_NR], rowmax[DF_MAX_MR];
  memset(dead, 0, sizeof dead);
  for (;;) {
    int64_t start = __atomic_fetch_add(&j->next_chunk, 1, __ATOMIC_RELAXED) * (int64_t)DF_CHUNK;
    if (start >= j->n_kept) break;
    int n_active = 0, active[DF_ROUND];
    for (int c = 0; c < j->n_cand; c++) {
      if (!dead[c] && __atomic_load_n(&j->rejected[c], __ATOMIC_RELAXED)) dead[c] = 1;
      if (!dead[c]) active[n_active++] = c;
    }
    if (n_active == 0) break;
    if (n_active != n_packed) { /* (re)pack the candidates in play */
      for (int g = 0; g < n_active; g += mr) {
        const float *rows[DF_MAX_MR];
        int n = n_active - g < mr ? n_active - g : mr;
        for (int i = 0; i < n; i++) rows[i] = j->cand + (size_t)active[g + i] * dp;
        pack_a(rows, n, mr, dp, apack + (size_t)(g / mr) * a_size);
      }
      memcpy(packed, active, (size_t)n_active * sizeof *packed);
      n_packed = n_active;
    }
    int64_t end = start + DF_CHUNK < j->n_kept ? start + DF_CHUNK : j->n_kept;
    for (int g = 0; g < n_packed; g += mr) {
      const float *A = apack + (size_t)(g / mr) * a_size;
      int n = n_packed - g < mr ? n_packed - g : mr;
      for (int64_t p0 = start; p0 < end; p0 += nr) {
        int ncols = end - p0 < nr ? (int)(end - p0) : nr;
        kn->tile(A, j->kp + (size_t)(p0 / nr) * b_size, dp, C, rowmax);
        for (int i = 0; i < n; i++) {
          int c = packed[g + i];
          if (dead[c]) continue;
          if (ncols == nr && rowmax[i] < j->lo && rowmax[i] <= best[c]) continue;
          const float *row = C + (size_t)i * (size_t)nr;
          for (int t = 0; t < ncols; t++) {
            float v = row[t];
            if (v > best[c]) {
              best[c] = v;
              best_at[c] = p0 + t;
            }
            if (within(s, v, j->lo, j->hi, j->cand_index[c], j->kept_index[p0 + t])) {
              dead[c] = 1;
              __atomic_store_n(&j->rejected[c], 1, __ATOMIC_RELAXED);
              break;
            }
          }
        }
      }
    }
  }
}

/* ---- paper: locality-sensitive hashing to find rejections early --------- */

/* A candidate close to a kept row is usually in the same bucket of one of
   DF_LSH_TABLES tables of random-hyperplane signs; those rows are tried
   first, so a near duplicate is dropped after a few dot products instead of
   a scan of the kept set. Only a speed-up: a candidate not rejected here is
   still scanned against every kept row. */
typedef struct lsh {
  int bits, np;             /* bits per table; panels of hyperplanes */
  float *proj;              /* np panels of hyperplanes, like the kept panels */
  int32_t *head;            /* DF_LSH_TABLES x 2^bits: last kept row in the bucket, -1 */
  int32_t *next;            /* DF_LSH_TABLES x cap: the kept row before it in the bucket */
} lsh;

static void lsh_free(lsh *h) {
  free(h->proj);
  free(h->head);
  free(h->next);
}

static bool lsh_init(lsh *h, const kernel *kn, size_t d, size_t dp, int64_t cap) {
  int bits = 6;
  while (bits < 16 && ((int64_t)1 << (bits + 2)) < cap) bits++;
  h->bits = bits;
  int nproj = DF_LSH_TABLES * bits;
  h->np = (nproj + kn->nr - 1) / kn->nr;
  size_t buckets = (size_t)DF_LSH_TABLES << bits;
  h->proj = aligned_floats((size_t)h->np * (size_t)kn->nr * dp);
  h->head = malloc(buckets * sizeof *h->head);
  h->next = malloc((size_t)DF_LSH_TABLES * (size_t)cap * sizeof *h->next);
  if (h->proj == NULL || h->head == NULL || h->next == NULL) return false;
  memset(h->head, 0xff, buckets * sizeof *h->head);
  memset(h->proj, 0, (size_t)h->np * (size_t)kn->nr * dp * sizeof(float));
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (int p = 0; p < nproj; p++)
    for (size_t k = 0; k < d; k++) { /* Gaussian hyperplanes (Box-Muller), fixed seed */
      x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
      double u = ((double)((x * 2685821657736338717ULL) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
      x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
      double v = (double)((x * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
      h->proj[(size_t)(p / kn->nr) * (size_t)kn->nr * dp + k * (size_t)kn->nr + (size_t)(p % kn->nr)] =
          (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
    }
  return true;
}

/* Bucket numbers of candidates rows[0..n) (normalised) in every table. */
static void lsh_hash(const lsh *h, const kernel *kn, const float *cand, int n, size_t dp, float *apack,
                     uint32_t (*hash)[DF_LSH_TABLES]) {
  const int mr = kn->mr, nr = kn->nr;
  float C[DF_MAX_MR * DF_MAX_NR], rowmax[DF_MAX_MR];
  for (int g = 0; g < n; g += mr) {
    const float *rows[DF_MAX_MR];
    int m = n - g < mr ? n - g : mr;
    for (int i = 0; i < m; i++) {
      rows[i] = cand + (size_t)(g + i) * dp;
      for (int t = 0; t < DF_LSH_TABLES; t++) hash[g + i][t] = 0;
    }
    pack_a(rows, m, mr, dp, apack);
    for (int p = 0; p < h->np; p++) {
      kn->tile(apack, h->proj + (size_t)p * (size_t)nr * dp, dp, C, rowmax);
      for (int j = 0; j < nr; j++) {
        int bit = p * nr + j;
        if (bit >= DF_LSH_TABLES * h->bits) break;
        int t = bit / h->bits, b = bit % h->bits;
        for (int i = 0; i < m; i++) hash[g + i][t] |= (uint32_t)(C[i * nr + j] > 0.0f) << b;
      }
    }
  }
}

static void lsh_insert(lsh *h, int64_t cap, int32_t row, const uint32_t *hash) {
  for (int t = 0; t < DF_LSH_TABLES; t++) {
    int32_t *head = h->head + ((size_t)t << h->bits) + hash[t];
    h->next[(size_t)t * (size_t)cap + (size_t)row] = *head;
    *head = row;
  }
}

/* True if a kept row in one of the candidate's buckets is within the threshold. */
static bool lsh_probe(const lsh *h, const deita *s, const kernel *kn, int64_t cap, int64_t g, const float *q,
                      const uint32_t *hash, float lo, float hi, int64_t *dots) {
  int32_t tried[64];
  int n_tried = 0;
  for (int t = 0; t < DF_LSH_TABLES; t++) {
    for (int32_t r = h->head[((size_t)t << h->bits) + hash[t]]; r >= 0;
         r = h->next[(size_t)t * (size_t)cap + (size_t)r]) {
      bool seen = false;
      for (int i = 0; i < n_tried && !seen; i++) seen = tried[i] == r;
      if (seen) continue;
      if (n_tried < 64) tried[n_tried++] = r;
      int64_t gr = s->sel[r];
      float inv = s->inv_norm[gr];
      if (inv == 0.0f) continue;
      (*dots)++;
      float v = kn->dot(q, s->raw + (size_t)gr * s->dp, s->dp) * inv;
      if (within(s, v, lo, hi, g, gr)) return true;
    }
  }
  return false;
}

/* ---- paper: the walk ------------------------------------------------------ */

/* The next DF_STAGE rows in score order, normalised, hashed and probed
   against the kept set as it was then (a rejection stays right: the kept
   set only grows), by both threads in groups of mr rows. */
typedef struct stage_job {
  const deita *s;
  const kernel *kn;
  const lsh *h;
  int64_t cap;
  int n;
  float lo, hi;
  bool probe;
  float *rows;              /* DF_STAGE x dp */
  const int64_t *index;
  uint32_t (*hash)[DF_LSH_TABLES];
  uint8_t *rejected;
  float *apack[2];
  int64_t next_group;       /* shared, atomic */
  int64_t dots[2];
} stage_job;

static void stage_groups(void *arg, int tid) {
  stage_job *j = arg;
  const int mr = j->kn->mr;
  const size_t dp = j->s->dp;
  for (;;) {
    int g = (int)__atomic_fetch_add(&j->next_group, 1, __ATOMIC_RELAXED) * mr;
    if (g >= j->n) break;
    int n = j->n - g < mr ? j->n - g : mr;
    for (int i = g; i < g + n; i++) normalised(j->s, j->index[i], j->rows + (size_t)i * dp);
    lsh_hash(j->h, j->kn, j->rows + (size_t)g * dp, n, dp, j->apack[tid], j->hash + g);
    for (int i = g; i < g + n; i++)
      j->rejected[i] = j->probe && lsh_probe(j->h, j->s, j->kn, j->cap, j->index[i], j->rows + (size_t)i * dp,
                                             j->hash[i], j->lo, j->hi, &j->dots[tid]);
  }
}

/* The survivors' cosines to each other, lower triangle, in groups of mr rows on both threads. */
typedef struct gram_job {
  const kernel *kn;
  size_t dp;
  const float *cand;
  const int *surv;
  int m;
  const float *spack;       /* survivors as panels */
  float *gram;              /* DF_ROUND x DF_ROUND */
  float *apack[2];
  int64_t next_group;       /* shared, atomic */
} gram_job;

static void gram_groups(void *arg, int tid) {
  gram_job *j = arg;
  const int mr = j->kn->mr, nr = j->kn->nr;
  const size_t dp = j->dp, b_size = (size_t)nr * dp;
  float C[DF_MAX_MR * DF_MAX_NR], rowmax[DF_MAX_MR];
  for (;;) {
    int g = (int)__atomic_fetch_add(&j->next_group, 1, __ATOMIC_RELAXED) * mr;
    if (g >= j->m) break;
    const float *rows[DF_MAX_MR];
    int n = j->m - g < mr ? j->m - g : mr;
    for (int i = 0; i < n; i++) rows[i] = j->cand + (size_t)j->surv[g + i] * dp;
    pack_a(rows, n, mr, dp, j->apack[tid]);
    for (int p0 = 0; p0 < g + n - 1; p0 += nr) {
      j->kn->tile(j->apack[tid], j->spack + (size_t)(p0 / nr) * b_size, dp, C, rowmax);
      for (int i = 0; i < n; i++)
        for (int t = 0; t < nr && p0 + t < g + i; t++) j->gram[(size_t)(g + i) * DF_ROUND + (size_t)(p0 + t)] = C[i * nr + t];
    }
  }
}

static pipeline_status select_paper(pipeline_call *call, deita *s, const int64_t *order) {
  const kernel kn = pick_kernel();
  const int mr = kn.mr, nr = kn.nr;
  const int64_t cap = s->budget < s->n ? s->budget : s->n;
  const size_t dp = s->dp, b_size = (size_t)nr * dp;
  const int64_t n_panels = (cap + nr - 1) / nr;
  const int r_panels = (DF_ROUND + nr - 1) / nr, r_groups = (DF_ROUND + mr - 1) / mr;
  float *kp = aligned_floats((size_t)n_panels * b_size);
  float *cand = aligned_floats((size_t)DF_ROUND * dp);
  float *spack = aligned_floats((size_t)r_panels * b_size);      /* survivors as panels */
  float *apack0 = aligned_floats((size_t)r_groups * (size_t)mr * dp);
  float *apack1 = aligned_floats((size_t)r_groups * (size_t)mr * dp);
  float *gram = malloc((size_t)DF_ROUND * DF_ROUND * sizeof(float));
  int64_t *cand_index = malloc((size_t)DF_ROUND * sizeof *cand_index);
  uint32_t(*hash)[DF_LSH_TABLES] = malloc((size_t)DF_ROUND * sizeof *hash);
  float *stage = aligned_floats((size_t)DF_STAGE * dp);
  int64_t *stage_index = malloc((size_t)DF_STAGE * sizeof *stage_index);
  uint32_t(*stage_hash)[DF_LSH_TABLES] = malloc((size_t)DF_STAGE * sizeof *stage_hash);
  uint8_t *stage_rej = malloc(DF_STAGE);
  scan_job *job = calloc(1, sizeof *job);
  worker w;
  lsh h;
  pipeline_status st = PIPELINE_OK;
  int64_t probe_dots = 0, probed = 0, probe_hits = 0, scan_rejects = 0, rounds = 0;
  double t_stage = 0, t_scan = 0, t_gram = 0;
  memset(&w, 0, sizeof w);
  memset(&h, 0, sizeof h);
  if (kp == NULL || cand == NULL || spack == NULL || apack0 == NULL || apack1 == NULL || gram == NULL ||
      cand_index == NULL || hash == NULL || stage == NULL || stage_index == NULL || stage_hash == NULL ||
      stage_rej == NULL || job == NULL || !lsh_init(&h, &kn, (size_t)s->d, dp, cap) ||
      (s->sel = malloc((size_t)cap * sizeof *s->sel)) == NULL ||
      (s->sel_dist = malloc((size_t)cap * sizeof *s->sel_dist)) == NULL) {
    st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
    goto done;
  }
  const float limit = (float)(1.0 - s->threshold), lo = limit - DF_MARGIN, hi = limit + DF_MARGIN;
  int64_t pos = 0;             /* next row of `order` to stage */
  int stage_n = 0, stage_at = 0;
  while (s->n_sel < cap) {
    if (s->interrupted || g_host->is_cancelled(call)) {
      st = fail(call, PIPELINE_CANCELLED, "deita_filter: cancelled");
      goto done;
    }
    /* The round's candidates: the next rows in score order, less those a
       kept row in their buckets rejects; no more than the budget can take. */
    int want = cap - s->n_sel < DF_ROUND ? (int)(cap - s->n_sel) : DF_ROUND;
    int n_cand = 0;
    double t0 = now_s();
    while (n_cand < want) {
      if (stage_at == stage_n) {
        if (pos >= s->n) break;
        stage_n = s->n - pos < DF_STAGE ? (int)(s->n - pos) : DF_STAGE;
        stage_at = 0;
        memcpy(stage_index, order + pos, (size_t)stage_n * sizeof *stage_index);
        pos += stage_n;
        stage_job sj = {s, &kn, &h, cap, stage_n, lo, hi, s->n_sel > 0, stage, stage_index, stage_hash,
                        stage_rej, {apack0, apack1}, 0, {0, 0}};
        if (stage_n > 2 * mr) run_both(&w, stage_groups, &sj);
        else stage_groups(&sj, 0);
        probe_dots += sj.dots[0] + sj.dots[1];
        probed += s->n_sel > 0 ? stage_n : 0;
      }
      int i = stage_at++;
      if (stage_rej[i]) {
        probe_hits++;
        continue;
      }
      memcpy(cand + (size_t)n_cand * dp, stage + (size_t)i * dp, dp * sizeof(float));
      cand_index[n_cand] = stage_index[i];
      memcpy(hash[n_cand], stage_hash[i], sizeof hash[n_cand]);
      n_cand++;
    }
    if (n_cand == 0) break;
    rounds++;
    double t1 = now_s();
    t_stage += t1 - t0;

    /* Against the kept set. */
    job->s = s;
    job->kn = &kn;
    job->kp = kp;
    job->kept_index = s->sel;
    job->n_kept = s->n_sel;
    job->cand = cand;
    job->cand_index = cand_index;
    job->n_cand = n_cand;
    job->lo = lo;
    job->hi = hi;
    job->next_chunk = 0;
    job->apack[0] = apack0;
    job->apack[1] = apack1;
    for (int c = 0; c < n_cand; c++) {
      job->rejected[c] = 0;
      job->best[0][c] = job->best[1][c] = -INFINITY;
      job->best_at[0][c] = job->best_at[1][c] = -1;
    }
    if (s->n_sel >= 2 * DF_CHUNK) run_both(&w, scan_chunks, job);
    else if (s->n_sel > 0) scan_chunks(job, 0);
    double t2 = now_s();
    t_scan += t2 - t1;

    /* The survivors and their cosines to each other (lower triangle). */
    int surv_c[DF_ROUND], m = 0;
    for (int c = 0; c < n_cand; c++)
      if (!job->rejected[c]) surv_c[m++] = c;
      else scan_rejects++;
    memset(spack, 0, (size_t)((m + nr - 1) / nr) * b_size * sizeof(float));
    for (int i = 0; i < m; i++)
      panel_put(spack + (size_t)(i / nr) * b_size, nr, i % nr, cand + (size_t)surv_c[i] * dp, dp);
    gram_job gj = {&kn, dp, cand, surv_c, m, spack, gram, {apack0, apack1}, 0};
    if (m > 4 * mr) run_both(&w, gram_groups, &gj);
    else gram_groups(&gj, 0);
    double t3 = now_s();
    t_gram += t3 - t2;

    /* Resolve the survivors in order against the rows kept earlier in this round. */
    int64_t kept_at[DF_ROUND]; /* survivor -> kept position, -1 if not kept */
    for (int i = 0; i < m && s->n_sel < cap; i++) {
      int c = surv_c[i];
      float best = job->best[0][c];
      int64_t best_at = job->best_at[0][c];
      if (job->best[1][c] > best || (job->best[1][c] == best && job->best_at[1][c] >= 0 &&
                                     (best_at < 0 || job->best_at[1][c] < best_at))) {
        best = job->best[1][c];
        best_at = job->best_at[1][c];
      }
      bool close = false;
      kept_at[i] = -1;
      for (int i2 = 0; i2 < i; i2++) {
        if (kept_at[i2] < 0) continue;
        int64_t r = kept_at[i2];
        float v = gram[(size_t)i * DF_ROUND + (size_t)i2];
        if (v > best) {
          best = v;
          best_at = r;
        }
        if (within(s, v, lo, hi, cand_index[c], s->sel[r])) {
          close = true;
          break;
        }
      }
      if (close) continue;
      int64_t k = s->n_sel;
      float *panel = kp + (size_t)(k / nr) * b_size;
      if (k % nr == 0) memset(panel, 0, b_size * sizeof(float));
      panel_put(panel, nr, (int)(k % nr), cand + (size_t)c * dp, dp);
      lsh_insert(&h, cap, (int32_t)k, hash[c]);
      s->sel[k] = cand_index[c];
      s->sel_dist[k] = best_at < 0 ? 2.0 : 1.0 - exact_cos(s, cand_index[c], s->sel[best_at]);
      kept_at[i] = k;
      s->n_sel++;
    }
  }
  if (timing_on())
    fprintf(stderr,
            "deita_filter timing: kernel %s (%dx%d), %lld rounds, %lld rows probed, %lld rejected by "
            "their buckets (%lld dot products), %lld by the scan; stage %.3f s, scan %.3f s, gram %.3f s\n",
            kn.name, mr, nr, (long long)rounds, (long long)probed, (long long)probe_hits, (long long)probe_dots,
            (long long)scan_rejects, t_stage, t_scan, t_gram);
done:
  worker_stop(&w);
  lsh_free(&h);
  free(kp);
  free(cand);
  free(spack);
  free(apack0);
  free(apack1);
  free(gram);
  free(cand_index);
  free(hash);
  free(stage);
  free(stage_index);
  free(stage_hash);
  free(stage_rej);
  free(job);
  return st;
}

/* ---- distilabel: nearest neighbour over the whole pool ------------------- */

typedef struct nn_job {
  const deita *s;
  const kernel *kn;
  const float *bp;          /* the pool, normalised, in panels */
  int64_t next_group;       /* shared, atomic: micro-panels of rows */
  float *best;
  int64_t *best_at;
  float *apack[2];
  float *rows[2];           /* per thread: mr normalised rows */
} nn_job;

static void nn_groups(void *arg, int tid) {
  nn_job *j = arg;
  const deita *s = j->s;
  const int mr = j->kn->mr, nr = j->kn->nr;
  const size_t dp = s->dp, b_size = (size_t)nr * dp;
  float C[DF_MAX_MR * DF_MAX_NR], rowmax[DF_MAX_MR];
  for (;;) {
    int64_t g0 = __atomic_fetch_add(&j->next_group, 1, __ATOMIC_RELAXED) * mr;
    if (g0 >= s->n || s->interrupted) break;
    int n = s->n - g0 < mr ? (int)(s->n - g0) : mr;
    const float *rows[DF_MAX_MR];
    for (int i = 0; i < n; i++) {
      normalised(s, g0 + i, j->rows[tid] + (size_t)i * dp);
      rows[i] = j->rows[tid] + (size_t)i * dp;
      j->best[g0 + i] = -INFINITY;
      j->best_at[g0 + i] = -1;
    }
    pack_a(rows, n, mr, dp, j->apack[tid]);
    for (int64_t p0 = 0; p0 < s->n; p0 += nr) {
      int ncols = s->n - p0 < nr ? (int)(s->n - p0) : nr;
      bool self = p0 < g0 + n && g0 < p0 + nr;
      j->kn->tile(j->apack[tid], j->bp + (size_t)(p0 / nr) * b_size, dp, C, rowmax);
      for (int i = 0; i < n; i++) {
        if (ncols == nr && !self && rowmax[i] <= j->best[g0 + i]) continue;
        for (int t = 0; t < ncols; t++) {
          if (p0 + t == g0 + i) continue;
          float v = C[i * nr + t];
          if (v > j->best[g0 + i]) {
            j->best[g0 + i] = v;
            j->best_at[g0 + i] = p0 + t;
          }
        }
      }
    }
  }
}

static pipeline_status select_distilabel(pipeline_call *call, deita *s, const int64_t *order) {
  const kernel kn = pick_kernel();
  const int64_t cap = s->budget < s->n ? s->budget : s->n;
  const size_t dp = s->dp, b_size = (size_t)kn.nr * dp;
  const int64_t n_panels = (s->n + kn.nr - 1) / kn.nr;
  float *best = malloc((size_t)s->n * sizeof *best);
  int64_t *best_at = malloc((size_t)s->n * sizeof *best_at);
  float *bp = aligned_floats((size_t)n_panels * b_size);
  float *work = aligned_floats(4 * (size_t)kn.mr * dp);
  float *row = aligned_floats(dp);
  worker w;
  pipeline_status st = PIPELINE_OK;
  memset(&w, 0, sizeof w);
  if (best == NULL || best_at == NULL || bp == NULL || work == NULL || row == NULL ||
      (s->sel = malloc((size_t)cap * sizeof *s->sel)) == NULL ||
      (s->sel_dist = malloc((size_t)cap * sizeof *s->sel_dist)) == NULL) {
    st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
    goto done;
  }
  memset(bp, 0, (size_t)n_panels * b_size * sizeof(float));
  for (int64_t i = 0; i < s->n; i++) {
    normalised(s, i, row);
    panel_put(bp + (size_t)(i / kn.nr) * b_size, kn.nr, (int)(i % kn.nr), row, dp);
  }
  {
    size_t a_size = (size_t)kn.mr * dp;
    nn_job job = {s, &kn, bp, 0, best, best_at, {work, work + a_size}, {work + 2 * a_size, work + 3 * a_size}};
    if (s->n >= 256) run_both(&w, nn_groups, &job);
    else nn_groups(&job, 0);
  }
  if (s->interrupted || g_host->is_cancelled(call)) {
    st = fail(call, PIPELINE_CANCELLED, "deita_filter: cancelled");
    goto done;
  }
  for (int64_t p = 0; p < s->n && s->n_sel < cap; p++) {
    int64_t g = order[p];
    double dist = best_at[g] < 0 ? 2.0 : 1.0 - exact_cos(s, g, best_at[g]);
    if (dist >= s->threshold) {
      s->sel[s->n_sel] = g;
      s->sel_dist[s->n_sel] = dist;
      s->n_sel++;
    }
  }
done:
  worker_stop(&w);
  free(best);
  free(best_at);
  free(bp);
  free(work);
  free(row);
  return st;
}

/* ------------------------------------------------------------------------ */
/* finish: select once, then emit the rows in chunks                         */
/* ------------------------------------------------------------------------ */

static const stored_batch *batch_of(const deita *s, int64_t g) {
  size_t lo = 0, hi = s->n_batches;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (s->batches[mid].first <= g) lo = mid;
    else hi = mid;
  }
  return &s->batches[lo];
}

static pipeline_status deita_process(pipeline_call *call, void *state, const struct ArrowSchema *schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  deita *s = state;
  if (!timing_on()) return process_batch(call, state, schema, in, out_schema, out);
  double t0 = now_s();
  if (s->t_first == 0) s->t_first = t0;
  pipeline_status st = process_batch(call, state, schema, in, out_schema, out);
  s->t_last = now_s();
  s->t_process += s->t_last - t0;
  return st;
}

static pipeline_status emit_batch(pipeline_call *call, deita *s, struct ArrowSchema *out_schema,
                                  struct ArrowArray *out);

static pipeline_status deita_finish(pipeline_call *call, void *state, struct ArrowSchema *out_schema,
                                    struct ArrowArray *out) {
  deita *s = state;
  pipeline_status st = PIPELINE_OK;
  if (!s->selected_done) {
    s->selected_done = true;
    if (s->n > 0) {
      int64_t *order = malloc((size_t)s->n * sizeof *order);
      if (order == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
      double t0 = now_s();
      if (!sort_by_score(s->score, s->n, order)) {
        free(order);
        return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
      }
      double t1 = now_s();
      st = s->distilabel ? select_distilabel(call, s, order) : select_paper(call, s, order);
      free(order);
      if (timing_on())
        fprintf(stderr, "deita_filter timing: process %.3f s (first batch at +0, last done at +%.3f), "
                "finish after %.3f s idle; sort %.3f s, select %.3f s\n",
                s->t_process, s->t_last - s->t_first, t0 - s->t_last, t1 - t0, now_s() - t1);
      if (st != PIPELINE_OK) return st;
    }
    log_info(call,
             "deita_filter (%s): %lld rows in, %lld without a %s score%s, %lld with a null embedding, "
             "%lld selected (budget %lld, threshold %g)",
             s->distilabel ? "distilabel" : "paper", (long long)s->rows_in, (long long)s->missing_score,
             s->distilabel ? "usable complexity or quality" : "complexity or quality",
             s->distilabel ? " (scored by the fallback)" : " (not selectable)", (long long)s->null_embedding,
             (long long)s->n_sel, (long long)s->budget, s->threshold);
  }
  if (s->emitted >= s->n_sel) {
    if (timing_on()) fprintf(stderr, "deita_filter timing: emit %.3f s\n", s->t_emit);
    return PIPELINE_OK;
  }
  double t0 = now_s();
  st = emit_batch(call, s, out_schema, out);
  s->t_emit += now_s() - t0;
  return st;
}

static pipeline_status emit_batch(pipeline_call *call, deita *s, struct ArrowSchema *out_schema,
                                  struct ArrowArray *out) {
  pipeline_status st = PIPELINE_OK;
  /* Output columns: the kept columns with the embedding at its place, then the two scores. */
  const struct ArrowSchema *stored = &s->batches[0].schema;
  int64_t nk = stored->n_children, n_out = nk + 3;
  pipeline_arrow_builder b;
  pipeline_arrow_builder_init(&b);
  pipeline_arrow_column *views = calloc((size_t)s->n_batches * (size_t)(nk + 1), sizeof *views);
  double *wide = malloc((size_t)s->d * sizeof *wide + 1);
  if (views == NULL || wide == NULL) {
    free(views);
    free(wide);
    return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
  }
  char format[24];
  snprintf(format, sizeof format, "+w:%d", (int)s->d);
  for (int64_t c = 0, k = 0; c < n_out - 2 && st == PIPELINE_OK; c++) {
    if (c == s->emb_out_pos) {
      st = s->emb_kind == EMB_LIST64 ? pipeline_arrow_builder_add_list_column(&b, s->embedding, "g", s->emb_nullable)
                                     : pipeline_arrow_builder_add_column(&b, s->embedding, format, s->emb_nullable);
    } else {
      struct ArrowSchema one = *stored;
      one.n_children = 1;
      one.children = &stored->children[k++];
      st = pipeline_arrow_builder_add_columns_like(&b, &one, NULL);
    }
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&b, "deita_score", "g", false);
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_add_column(&b, "nearest_distance", "g", false);
  for (size_t i = 0; st == PIPELINE_OK && i < s->n_batches; i++)
    for (int64_t c = 0; st == PIPELINE_OK && c < nk; c++)
      st = pipeline_arrow_column_get(&s->batches[i].schema, &s->batches[i].array, c, &views[i * (size_t)nk + c]);
  int64_t end = s->emitted + DF_OUT_ROWS < s->n_sel ? s->emitted + DF_OUT_ROWS : s->n_sel;
  for (int64_t r = s->emitted; st == PIPELINE_OK && r < end; r++) {
    int64_t g = s->sel[r];
    const stored_batch *sb = batch_of(s, g);
    size_t bi = (size_t)(sb - s->batches);
    int64_t row = g - sb->first;
    for (int64_t c = 0, k = 0; st == PIPELINE_OK && c < n_out - 2; c++) {
      if (c == s->emb_out_pos && s->emb_kind == EMB_LIST64) {
        const float *x = s->raw + (size_t)g * s->dp;
        for (int32_t k = 0; k < s->d; k++) wide[k] = x[k];
        st = pipeline_arrow_append_float64_list(&b, c, wide, (size_t)s->d);
      } else if (c == s->emb_out_pos)
        st = pipeline_arrow_append_float32s(&b, c, s->raw + (size_t)g * s->dp, (size_t)s->d);
      else
        st = pipeline_arrow_append_from(&b, c, &views[bi * (size_t)nk + k++], row);
    }
    if (st == PIPELINE_OK) st = pipeline_arrow_append_float64(&b, n_out - 2, s->score[g]);
    if (st == PIPELINE_OK) st = pipeline_arrow_append_float64(&b, n_out - 1, s->sel_dist[r]);
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&b, out_schema, out);
  if (st == PIPELINE_OK) s->emitted = end;
  else st = fail(call, st, "deita_filter: cannot build the output batch (status %d)", (int)st);
  pipeline_arrow_builder_free(&b);
  free(views);
  free(wide);
  return st;
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                                */
/* ------------------------------------------------------------------------ */

static const pipeline_step_desc deita_step = {
    .struct_size = sizeof(pipeline_step_desc),
    .kind = PIPELINE_STEP_KIND_GLOBAL,
    .flags = PIPELINE_STEP_DETERMINISTIC,
    .id = "org.pipeline.deita_filter",
    .name = "deita_filter",
    .version = "1.0.0",
    .description =
        "DEITA selection (Liu et al. 2023): ranks rows by complexity x quality and keeps, in that "
        "order, each row whose cosine distance to the nearest row already kept is greater than "
        "`threshold`, until `budget` rows. method \"distilabel\" reproduces distilabel's variant "
        "(whole-pool nearest neighbour, distance >= threshold, score fallbacks). Rows without both "
        "scores (paper) or without an embedding are not selectable. Adds deita_score and "
        "nearest_distance (2.0 for the first kept row).",
    .inputs_json =
        "[{\"name\": \"complexity_score\", \"type\": \"any\", \"optional\": true, \"name_param\": \"complexity_column\","
        " \"description\": \"float64 or int64; null: the row is not selectable (paper).\"},"
        " {\"name\": \"quality_score\", \"type\": \"any\", \"optional\": true, \"name_param\": \"quality_column\","
        " \"description\": \"float64 or int64; null: the row is not selectable (paper).\"},"
        " {\"name\": \"embedding\", \"type\": \"any\", \"optional\": false,"
        " \"name_param\": \"embedding_column\", \"description\": \"The row's embedding: fixed_size_list<float32>,"
        " list<float64> or list<float32>, all of one length; null: not selectable.\"},"
        " {\"name\": \"*\", \"type\": \"any\", \"description\": \"Every other column passes through.\"}]",
    .outputs_json =
        "[{\"name\": \"deita_score\", \"type\": \"float64\", \"optional\": false,"
        " \"description\": \"complexity x quality (distilabel: with its fallbacks).\"},"
        " {\"name\": \"nearest_distance\", \"type\": \"float64\", \"optional\": false,"
        " \"description\": \"Cosine distance to the nearest row kept before (paper; 2.0 for the first) or to"
        " the nearest row of the whole pool (distilabel).\"},"
        " {\"name\": \"*\", \"type\": \"any\", \"description\": \"Every input column of the selected rows.\"}]",
    .params_schema_json =
        "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
        " \"type\": \"object\", \"additionalProperties\": false, \"required\": [\"budget\"],"
        " \"properties\": {"
        "  \"budget\": {\"type\": \"integer\", \"minimum\": 1, \"description\": \"Rows to select at most.\"},"
        "  \"threshold\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 2, \"default\": 0.1,"
        "   \"description\": \"Cosine-distance threshold of the diversity filter.\"},"
        "  \"method\": {\"type\": \"string\", \"enum\": [\"paper\", \"distilabel\"], \"default\": \"paper\"},"
        "  \"complexity_column\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"complexity_score\"},"
        "  \"quality_column\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"quality_score\"},"
        "  \"embedding_column\": {\"type\": \"string\", \"minLength\": 1, \"default\": \"embedding\"}"
        " },"
        " \"x-plan\": {\"at_most\": true, \"cap\": \"budget\"}}",
    .create = deita_create,
    .process = deita_process,
    .finish = deita_finish,
    .interrupt = deita_interrupt,
    .destroy = deita_destroy,
};

static const pipeline_step_desc *const steps[] = {&deita_step};

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.pipeline.deita_filter",
    .version = "1.0.0",
    .description = "DEITA score-first, diversity-aware data selection.",
    .step_count = sizeof steps / sizeof steps[0],
    .steps = steps,
};

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  if (host == NULL || !PIPELINE_HAS_FIELD(host, pipeline_host, get_extension)) {
    if (host != NULL && PIPELINE_HAS_FIELD(host, pipeline_host, set_error)) {
      static const char msg[] = "deita_filter: the host table is too small";
      host->set_error(NULL, PIPELINE_INVALID_ARGUMENT, msg, sizeof msg - 1);
    }
    return NULL;
  }
  g_host = host;
  return &plugin;
}
