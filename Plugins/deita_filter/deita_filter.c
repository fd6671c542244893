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
 * Output (from finish, in selection order, in batches of at most 65536
 * rows): every input column, then "deita_score" (float64) and
 * "nearest_distance" (float64). nearest_distance is, for "paper", the
 * distance to the nearest already-kept row when the row was kept, and 2.0
 * (the largest cosine distance) for the first kept row; for "distilabel",
 * the whole-pool nearest-neighbour distance (2.0 for a pool of one row).
 * Input columns named "deita_score" or "nearest_distance" are replaced.
 * All input batches must have the same columns (names and formats).
 *
 * Numerics: dot products are computed in float32 (an AVX2+FMA kernel when
 * the CPU has it, a portable one otherwise); every decision whose float
 * cosine lies within 1e-4 of the threshold is re-decided from the original
 * vectors in double precision, so the selection does not depend on the
 * kernel. Reported distances are recomputed in double for the nearest row.
 *
 * Memory: the selectable rows' columns (copied, input batches are borrowed),
 * the raw embeddings (N x d float32, kept once: the output is built from
 * them) and the normalised kept rows (budget x d). Never N x N.
 *
 * Speed ("paper"): candidates go in rounds of 2 x 16; each of two threads
 * scans the kept set for 16 candidates with a 4x2 dot kernel, chunk by chunk,
 * dropping a candidate as soon as a kept row is within the threshold
 * (rejection is final). The survivors are then resolved in order against
 * the rows kept earlier in the same round. "distilabel" needs all N x N
 * dot products (two threads, same kernel): fine for tens of thousands of
 * rows, slow for hundreds of thousands.
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

#define DF_MARGIN 1e-4f     /* float cosines this close to the limit are re-decided in double */
#ifndef DF_ROUND
#define DF_ROUND 128        /* candidates per round */
#endif
#ifndef DF_CHUNK
#define DF_CHUNK 128        /* kept rows scanned between early-exit checks */
#endif
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
/* Dot kernels: out[b * 4 + a] = <A[a], B + b * stride>, length dp (a       */
/* multiple of 8, of 16 for AVX-512; rows are zero-padded), na <= 4.     */
/* ------------------------------------------------------------------------ */

typedef void (*dots_fn)(const float *const *A, int na, const float *B, size_t nb, size_t stride,
                        size_t dp, float *out);

static void dots_portable(const float *const *A, int na, const float *B, size_t nb, size_t stride,
                          size_t dp, float *out) {
  for (size_t b = 0; b < nb; b++) {
    const float *y = B + b * stride;
    for (int a = 0; a < na; a++) {
      const float *x = A[a];
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (size_t k = 0; k < dp; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[k + j] * y[k + j];
      out[b * 4 + (size_t)a] =
          ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    }
  }
}

#ifdef DF_X86
/* The four sums of c0..c3, as one vector. */
__attribute__((target("avx2,fma"))) static inline __m128 hsum4x256(__m256 c0, __m256 c1, __m256 c2, __m256 c3) {
  __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(c0, c1), _mm256_hadd_ps(c2, c3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* 4 x 3 register blocks: 12 accumulators, 7 loads per 12 FMAs. */
__attribute__((target("avx2,fma"))) static void dots_avx2(const float *const *A, int na, const float *B,
                                                         size_t nb, size_t stride, size_t dp, float *out) {
  const float *x0 = A[0], *x1 = A[na > 1 ? 1 : 0], *x2 = A[na > 2 ? 2 : 0], *x3 = A[na > 3 ? 3 : 0];
  size_t b = 0;
  for (; b + 3 <= nb; b += 3) {
    const float *y0 = B + b * stride, *y1 = y0 + stride, *y2 = y1 + stride;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00,
           c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (size_t k = 0; k < dp; k += 8) {
      __m256 v0 = _mm256_loadu_ps(y0 + k), v1 = _mm256_loadu_ps(y1 + k), v2 = _mm256_loadu_ps(y2 + k), u;
      u = _mm256_loadu_ps(x0 + k);
      c00 = _mm256_fmadd_ps(u, v0, c00);
      c01 = _mm256_fmadd_ps(u, v1, c01);
      c02 = _mm256_fmadd_ps(u, v2, c02);
      u = _mm256_loadu_ps(x1 + k);
      c10 = _mm256_fmadd_ps(u, v0, c10);
      c11 = _mm256_fmadd_ps(u, v1, c11);
      c12 = _mm256_fmadd_ps(u, v2, c12);
      u = _mm256_loadu_ps(x2 + k);
      c20 = _mm256_fmadd_ps(u, v0, c20);
      c21 = _mm256_fmadd_ps(u, v1, c21);
      c22 = _mm256_fmadd_ps(u, v2, c22);
      u = _mm256_loadu_ps(x3 + k);
      c30 = _mm256_fmadd_ps(u, v0, c30);
      c31 = _mm256_fmadd_ps(u, v1, c31);
      c32 = _mm256_fmadd_ps(u, v2, c32);
    }
    _mm_storeu_ps(out + b * 4, hsum4x256(c00, c10, c20, c30));
    _mm_storeu_ps(out + b * 4 + 4, hsum4x256(c01, c11, c21, c31));
    _mm_storeu_ps(out + b * 4 + 8, hsum4x256(c02, c12, c22, c32));
  }
  for (; b < nb; b++) {
    const float *y0 = B + b * stride;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (size_t k = 0; k < dp; k += 8) {
      __m256 v0 = _mm256_loadu_ps(y0 + k);
      c0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), v0, c0);
      c1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k), v0, c1);
      c2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k), v0, c2);
      c3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k), v0, c3);
    }
    _mm_storeu_ps(out + b * 4, hsum4x256(c0, c1, c2, c3));
  }
}
/* The same 4 x 3 blocks with 16-float vectors (dp a multiple of 16). */
__attribute__((target("avx512f,avx2,fma"))) static inline __m256 fold512(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

__attribute__((target("avx512f,avx2,fma"))) static void dots_avx512(const float *const *A, int na, const float *B,
                                                                   size_t nb, size_t stride, size_t dp, float *out) {
  const float *x0 = A[0], *x1 = A[na > 1 ? 1 : 0], *x2 = A[na > 2 ? 2 : 0], *x3 = A[na > 3 ? 3 : 0];
  size_t b = 0;
  for (; b + 3 <= nb; b += 3) {
    const float *y0 = B + b * stride, *y1 = y0 + stride, *y2 = y1 + stride;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00,
           c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (size_t k = 0; k < dp; k += 16) {
      __m512 v0 = _mm512_loadu_ps(y0 + k), v1 = _mm512_loadu_ps(y1 + k), v2 = _mm512_loadu_ps(y2 + k), u;
      u = _mm512_loadu_ps(x0 + k);
      c00 = _mm512_fmadd_ps(u, v0, c00);
      c01 = _mm512_fmadd_ps(u, v1, c01);
      c02 = _mm512_fmadd_ps(u, v2, c02);
      u = _mm512_loadu_ps(x1 + k);
      c10 = _mm512_fmadd_ps(u, v0, c10);
      c11 = _mm512_fmadd_ps(u, v1, c11);
      c12 = _mm512_fmadd_ps(u, v2, c12);
      u = _mm512_loadu_ps(x2 + k);
      c20 = _mm512_fmadd_ps(u, v0, c20);
      c21 = _mm512_fmadd_ps(u, v1, c21);
      c22 = _mm512_fmadd_ps(u, v2, c22);
      u = _mm512_loadu_ps(x3 + k);
      c30 = _mm512_fmadd_ps(u, v0, c30);
      c31 = _mm512_fmadd_ps(u, v1, c31);
      c32 = _mm512_fmadd_ps(u, v2, c32);
    }
    _mm_storeu_ps(out + b * 4, hsum4x256(fold512(c00), fold512(c10), fold512(c20), fold512(c30)));
    _mm_storeu_ps(out + b * 4 + 4, hsum4x256(fold512(c01), fold512(c11), fold512(c21), fold512(c31)));
    _mm_storeu_ps(out + b * 4 + 8, hsum4x256(fold512(c02), fold512(c12), fold512(c22), fold512(c32)));
  }
  if (b < nb) dots_avx2(A, na, B + b * stride, nb - b, stride, dp, out + b * 4);
}
#endif

static dots_fn pick_kernel(size_t dp) {
#ifdef DF_X86
  __builtin_cpu_init();
  if (dp % 16 == 0 && getenv("DEITA_FILTER_NO_AVX512") == NULL && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return dots_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dots_avx2;
#else
  (void)dp;
#endif
  return dots_portable;
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

  dots_fn dots;
  volatile int interrupted;
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

static pipeline_status deita_process(pipeline_call *call, void *state, const struct ArrowSchema *schema,
                                     const struct ArrowArray *in, struct ArrowSchema *out_schema,
                                     struct ArrowArray *out) {
  deita *s = state;
  pipeline_arrow_column cc, qc, ec;
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
                "deita_filter: the input has no column \"%s\" (expected fixed_size_list<float32>)", s->embedding);
  if (pipeline_arrow_column_get(schema, in, ei, &ec) != PIPELINE_OK || ec.type != PIPELINE_ARROW_FIXED_FLOAT32)
    return fail(call, PIPELINE_INVALID_DATA,
                "deita_filter: column \"%s\" has format \"%s\"; expected fixed_size_list<float32>", s->embedding,
                schema->children[ei]->format ? schema->children[ei]->format : "?");
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
    s->d = ec.width;
    s->dp = ((size_t)ec.width + 15) & ~(size_t)15;
    s->dots = pick_kernel(s->dp);
    s->emb_nullable = (schema->children[ei]->flags & ARROW_FLAG_NULLABLE) != 0;
    s->emb_out_pos = 0;
    for (int64_t i = 0; i < ei; i++)
      if (!is_output_name(schema->children[i]->name ? schema->children[i]->name : "")) s->emb_out_pos++;
  } else {
    bool same = strcmp(sig, s->signature) == 0;
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
    if (!pipeline_arrow_is_valid(&ec, row)) {
      s->null_embedding++;
      continue;
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
    const float *v = pipeline_arrow_read_float32s(&ec, row, NULL);
    float *dst = s->raw + (size_t)s->n * s->dp;
    double norm2 = 0;
    for (int32_t k = 0; k < s->d; k++) {
      dst[k] = v[k];
      norm2 += (double)v[k] * v[k];
    }
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

static double *g_sort_score; /* only for qsort; selection runs one at a time per instance */
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int by_score(const void *a, const void *b) {
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  double x = g_sort_score[i], y = g_sort_score[j];
  if (x > y) return -1;
  if (x < y) return 1;
  return i < j ? -1 : i > j ? 1 : 0;
}

/* One round of the paper selection: up to DF_ROUND candidates (normalised,
   contiguous) against the kept set. The kept set is cut into chunks of
   DF_CHUNK rows that the two threads take in order from a shared counter;
   a candidate found within the threshold is flagged for both threads and
   scanned no further (rejection is final, whatever kept row found it). */
typedef struct round_job {
  const deita *s;
  const float *kept;        /* n_kept x dp, normalised */
  const int64_t *kept_index;
  int64_t n_kept;
  const float *cand;        /* n_cand x dp, normalised */
  const int64_t *cand_index;
  int n_cand;
  float limit;              /* 1 - threshold */
  int64_t next_chunk;       /* shared, atomic */
  uint8_t rejected[DF_ROUND]; /* shared, atomic (relaxed) */
  float best[2][DF_ROUND];  /* per thread: largest float cosine, and where */
  int64_t best_at[2][DF_ROUND];
} round_job;

static void run_chunks(round_job *j, int tid) {
  const deita *s = j->s;
  const size_t dp = s->dp;
  float *best = j->best[tid];
  int64_t *best_at = j->best_at[tid];
  int active[DF_ROUND];
  float out[4 * DF_CHUNK];
  for (;;) {
    int64_t start = __atomic_fetch_add(&j->next_chunk, 1, __ATOMIC_RELAXED) * (int64_t)DF_CHUNK;
    if (start >= j->n_kept) break;
    int n_active = 0;
    for (int c = 0; c < j->n_cand; c++)
      if (!__atomic_load_n(&j->rejected[c], __ATOMIC_RELAXED)) active[n_active++] = c;
    if (n_active == 0) break;
    size_t nb = (size_t)(j->n_kept - start < DF_CHUNK ? j->n_kept - start : DF_CHUNK);
    const float *B = j->kept + (size_t)start * dp;
    for (int g = 0; g < n_active; g += 4) {
      int na = n_active - g < 4 ? n_active - g : 4;
      const float *A[4];
      for (int a = 0; a < na; a++) A[a] = j->cand + (size_t)active[g + a] * dp;
      s->dots(A, na, B, nb, dp, dp, out);
      for (int a = 0; a < na; a++) {
        int c = active[g + a];
        float bv = best[c];
        int64_t ba = best_at[c];
        for (size_t t = 0; t < nb; t++) {
          float v = out[t * 4 + (size_t)a];
          if (v > bv) {
            bv = v;
            ba = start + (int64_t)t;
          }
          if (v >= j->limit - DF_MARGIN &&
              (v > j->limit + DF_MARGIN ||
               !(1.0 - exact_cos(s, j->cand_index[c], j->kept_index[start + (int64_t)t]) > s->threshold))) {
            __atomic_store_n(&j->rejected[c], 1, __ATOMIC_RELAXED);
            break;
          }
        }
        best[c] = bv;
        best_at[c] = ba;
      }
    }
  }
}

typedef struct worker {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  round_job *job;
  unsigned generation, done_generation;
  bool quit;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  unsigned seen = 0;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->quit && w->generation == seen) pthread_cond_wait(&w->cond, &w->lock);
    if (w->quit) break;
    seen = w->generation;
    round_job *job = w->job;
    pthread_mutex_unlock(&w->lock);
    run_chunks(job, 1);
    pthread_mutex_lock(&w->lock);
    w->done_generation = seen;
    pthread_cond_broadcast(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static pipeline_status select_paper(pipeline_call *call, deita *s, const int64_t *order) {
  int64_t cap = s->budget < s->n ? s->budget : s->n;
  const size_t dp = s->dp;
  float *kept = aligned_alloc(64, ((size_t)cap * dp * sizeof(float) + 63) & ~(size_t)63);
  float *cand = aligned_alloc(64, ((size_t)DF_ROUND * dp * sizeof(float) + 63) & ~(size_t)63);
  float *surv = aligned_alloc(64, ((size_t)DF_ROUND * dp * sizeof(float) + 63) & ~(size_t)63);
  float *gram = malloc((size_t)DF_ROUND * DF_ROUND * sizeof(float));
  int64_t *cand_index = malloc((size_t)DF_ROUND * sizeof *cand_index);
  round_job *job = calloc(1, sizeof *job);
  worker w;
  bool threaded = false;
  pipeline_status st = PIPELINE_OK;
  if (kept == NULL || cand == NULL || surv == NULL || gram == NULL || cand_index == NULL || job == NULL ||
      (s->sel = malloc((size_t)cap * sizeof *s->sel)) == NULL ||
      (s->sel_dist = malloc((size_t)cap * sizeof *s->sel_dist)) == NULL) {
    st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
    goto done;
  }
  memset(&w, 0, sizeof w);
  const float limit = (float)(1.0 - s->threshold);
  int64_t pos = 0;
  while (pos < s->n && s->n_sel < cap) {
    if (s->interrupted || g_host->is_cancelled(call)) {
      st = fail(call, PIPELINE_CANCELLED, "deita_filter: cancelled");
      goto done;
    }
    /* The round's candidates. */
    int64_t want = DF_ROUND;
    int n_cand = 0;
    for (; n_cand < want && pos < s->n; n_cand++, pos++) {
      int64_t g = order[pos];
      float *q = cand + (size_t)n_cand * dp;
      const float *x = s->raw + (size_t)g * dp;
      float inv = s->inv_norm[g];
      for (size_t k = 0; k < dp; k++) q[k] = x[k] * inv;
      cand_index[n_cand] = g;
    }
    job->s = s;
    job->kept = kept;
    job->kept_index = s->sel;
    job->n_kept = s->n_sel;
    job->cand = cand;
    job->cand_index = cand_index;
    job->n_cand = n_cand;
    job->limit = limit;
    job->next_chunk = 0;
    for (int c = 0; c < n_cand; c++) {
      job->rejected[c] = 0;
      job->best[0][c] = job->best[1][c] = -INFINITY;
      job->best_at[0][c] = job->best_at[1][c] = -1;
    }
    /* Two threads once the kept set is worth splitting. */
    bool two = s->n_sel >= 2 * DF_CHUNK;
    if (two && !threaded) {
      if (pthread_mutex_init(&w.lock, NULL) == 0 && pthread_cond_init(&w.cond, NULL) == 0 &&
          pthread_create(&w.thread, NULL, worker_main, &w) == 0)
        threaded = true;
      else
        two = false;
    }
    if (two) {
      pthread_mutex_lock(&w.lock);
      w.job = job;
      w.generation++;
      pthread_cond_broadcast(&w.cond);
      pthread_mutex_unlock(&w.lock);
      run_chunks(job, 0);
      pthread_mutex_lock(&w.lock);
      while (w.done_generation != w.generation) pthread_cond_wait(&w.cond, &w.lock);
      pthread_mutex_unlock(&w.lock);
    } else if (job->n_kept > 0) {
      run_chunks(job, 0);
    }
    /* The survivors, contiguous, and their cosines to each other (lower triangle). */
    int surv_c[DF_ROUND], m = 0;
    for (int c = 0; c < n_cand; c++)
      if (!job->rejected[c]) {
        memcpy(surv + (size_t)m * dp, cand + (size_t)c * dp, dp * sizeof(float));
        surv_c[m++] = c;
      }
    for (int i = 0; i < m; i += 4) {
      int na = m - i < 4 ? m - i : 4;
      const float *A[4];
      float out[4 * DF_ROUND];
      for (int a = 0; a < na; a++) A[a] = surv + (size_t)(i + a) * dp;
      size_t nb = (size_t)(i + na - 1); /* rows before the last of the group */
      if (nb > 0) s->dots(A, na, surv, nb, dp, dp, out);
      for (int a = 0; a < na; a++)
        for (int b2 = 0; b2 < i + a; b2++) gram[(size_t)(i + a) * DF_ROUND + (size_t)b2] = out[(size_t)b2 * 4 + (size_t)a];
    }
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
      bool within = false;
      kept_at[i] = -1;
      for (int i2 = 0; i2 < i; i2++) {
        if (kept_at[i2] < 0) continue;
        int64_t r = kept_at[i2];
        float v = gram[(size_t)i * DF_ROUND + (size_t)i2];
        if (v > best) {
          best = v;
          best_at = r;
        }
        if (v >= limit - DF_MARGIN &&
            (v > limit + DF_MARGIN || !(1.0 - exact_cos(s, cand_index[c], s->sel[r]) > s->threshold))) {
          within = true;
          break;
        }
      }
      if (within) continue;
      int64_t k = s->n_sel;
      memcpy(kept + (size_t)k * dp, surv + (size_t)i * dp, dp * sizeof(float));
      s->sel[k] = cand_index[c];
      s->sel_dist[k] = best_at < 0 ? 2.0 : 1.0 - exact_cos(s, cand_index[c], s->sel[best_at]);
      kept_at[i] = (int)k;
      s->n_sel++;
    }
  }
done:
  if (threaded) {
    pthread_mutex_lock(&w.lock);
    w.quit = true;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(w.thread, NULL);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
  }
  free(kept);
  free(cand);
  free(surv);
  free(gram);
  free(cand_index);
  free(job);
  return st;
}
/* distilabel: nearest neighbour over the whole pool, two threads on halves of the rows. */
typedef struct nn_job {
  const deita *s;
  const float *normed; /* NULL: use raw with inverse norms */
  int64_t from, to;
  float *best;
  int64_t *best_at;
  const volatile int *stop;
} nn_job;

static void *nn_main(void *arg) {
  nn_job *j = arg;
  const deita *s = j->s;
  float out[4 * DF_CHUNK];
  for (int64_t i = j->from; i < j->to && !*j->stop; i += 4) {
    int na = j->to - i < 4 ? (int)(j->to - i) : 4;
    const float *A[4];
    for (int a = 0; a < na; a++) {
      A[a] = s->raw + (size_t)(i + a) * s->dp;
      j->best[i + a] = -INFINITY;
      j->best_at[i + a] = -1;
    }
    for (int64_t start = 0; start < s->n; start += DF_CHUNK) {
      size_t nb = (size_t)(s->n - start < DF_CHUNK ? s->n - start : DF_CHUNK);
      s->dots(A, na, s->raw + (size_t)start * s->dp, nb, s->dp, s->dp, out);
      for (int a = 0; a < na; a++) {
        float ia = s->inv_norm[i + a];
        for (size_t t = 0; t < nb; t++) {
          int64_t jj = start + (int64_t)t;
          if (jj == i + a) continue;
          float v = out[t * 4 + (size_t)a] * ia * s->inv_norm[jj];
          if (v > j->best[i + a]) {
            j->best[i + a] = v;
            j->best_at[i + a] = jj;
          }
        }
      }
    }
  }
  return NULL;
}

static pipeline_status select_distilabel(pipeline_call *call, deita *s, const int64_t *order) {
  int64_t cap = s->budget < s->n ? s->budget : s->n;
  float *best = malloc((size_t)s->n * sizeof *best);
  int64_t *best_at = malloc((size_t)s->n * sizeof *best_at);
  pipeline_status st = PIPELINE_OK;
  if (best == NULL || best_at == NULL || (s->sel = malloc((size_t)cap * sizeof *s->sel)) == NULL ||
      (s->sel_dist = malloc((size_t)cap * sizeof *s->sel_dist)) == NULL) {
    st = fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
    goto done;
  }
  {
    nn_job jobs[2] = {{s, NULL, 0, s->n / 2, best, best_at, &s->interrupted},
                      {s, NULL, s->n / 2, s->n, best, best_at, &s->interrupted}};
    pthread_t t;
    bool threaded = s->n >= 256 && pthread_create(&t, NULL, nn_main, &jobs[1]) == 0;
    if (!threaded) jobs[0].to = s->n;
    nn_main(&jobs[0]);
    if (threaded) pthread_join(t, NULL);
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
  free(best);
  free(best_at);
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

static pipeline_status deita_finish(pipeline_call *call, void *state, struct ArrowSchema *out_schema,
                                    struct ArrowArray *out) {
  deita *s = state;
  pipeline_status st = PIPELINE_OK;
  if (!s->selected_done) {
    s->selected_done = true;
    if (s->n > 0) {
      int64_t *order = malloc((size_t)s->n * sizeof *order);
      if (order == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
      for (int64_t i = 0; i < s->n; i++) order[i] = i;
      pthread_mutex_lock(&g_sort_lock);
      g_sort_score = s->score;
      qsort(order, (size_t)s->n, sizeof *order, by_score);
      pthread_mutex_unlock(&g_sort_lock);
      st = s->distilabel ? select_distilabel(call, s, order) : select_paper(call, s, order);
      free(order);
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
  if (s->emitted >= s->n_sel) return PIPELINE_OK;

  /* Output columns: the kept columns with the embedding at its place, then the two scores. */
  const struct ArrowSchema *stored = &s->batches[0].schema;
  int64_t nk = stored->n_children, n_out = nk + 3;
  pipeline_arrow_builder b;
  pipeline_arrow_builder_init(&b);
  pipeline_arrow_column *views = calloc((size_t)s->n_batches * (size_t)(nk + 1), sizeof *views);
  if (views == NULL) return fail(call, PIPELINE_OUT_OF_MEMORY, "deita_filter: out of memory");
  char format[24];
  snprintf(format, sizeof format, "+w:%d", (int)s->d);
  for (int64_t c = 0, k = 0; c < n_out - 2 && st == PIPELINE_OK; c++) {
    if (c == s->emb_out_pos) {
      st = pipeline_arrow_builder_add_column(&b, s->embedding, format, s->emb_nullable);
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
      if (c == s->emb_out_pos)
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
        " {\"name\": \"embedding\", \"type\": \"fixed_size_list<float32>\", \"optional\": false,"
        " \"name_param\": \"embedding_column\", \"description\": \"The row's embedding; null: not selectable.\"},"
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
        " }}",
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
