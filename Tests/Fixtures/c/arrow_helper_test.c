/*
 * arrow_helper_test.c: standalone test of pipeline_arrow.h.
 *
 *   cc -std=c11 -Wall -Wextra -pedantic -g -fsanitize=address,undefined \
 *      -I Sources/CPipelineABI/include Tests/Fixtures/c/arrow_helper_test.c -o arrow_helper_test
 *   ./arrow_helper_test
 *
 * Prints each failed check and exits non-zero if there was any. It builds a
 * batch with every supported type (nulls, empty strings, non-ASCII UTF-8),
 * reads it back, reads sliced views and a hand-made batch in a layout the
 * builder never produces (offsets everywhere, a struct bitmap, NULL
 * buffers), copies rows with append_from, checks the error paths, and
 * repeats the build failing each allocation in turn.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A counting allocator: fail_at == k makes the k-th allocation from now
   fail once. Installed before the header so every helper uses it. */
static long fail_at = -1;
static int injected;

static int should_fail(void) {
  if (fail_at < 0) return 0;
  if (fail_at-- == 0) {
    injected++;
    return 1;
  }
  return 0;
}
static void *test_malloc(size_t n) { return should_fail() ? NULL : malloc(n); }
static void *test_aligned_alloc(size_t a, size_t n) {
  return should_fail() ? NULL : aligned_alloc(a, n);
}
#define PIPELINE_ARROW_MALLOC(n) test_malloc(n)
#define PIPELINE_ARROW_ALIGNED_ALLOC(a, n) test_aligned_alloc((a), (n))
#define PIPELINE_ARROW_FREE(p) free(p)
#include "pipeline_arrow.h"

static int failures;

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      failures++;                                                                      \
      if (failures <= 60) fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                                  \
  } while (0)

#define CHECK_ROW(cond, label, row)                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      failures++;                                                                      \
      if (failures <= 60)                                                              \
        fprintf(stderr, "%s:%d: FAILED (%s, row %d): %s\n", __FILE__, __LINE__, (label), \
                (int)(row), #cond);                                                    \
    }                                                                                  \
  } while (0)

/* ------------------------------------------------------------------------ */
/* The expected contents of the built batch, row by row                      */
/* ------------------------------------------------------------------------ */

#define NROWS 21

static const char *const WORDS[8] = {"hello", "", "h\xc3\xa9llo w\xc3\xb6rld",
                                     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* 日本語 */
                                     "\xf0\x9f\x99\x82 emoji",              /* 🙂 emoji */
                                     "a", "na\xc3\xafve caf\xc3\xa9", "x y z"};

static uint64_t exp_row_id(int i) { return i == 0 ? UINT64_MAX : 1000u + (uint64_t)i; }
static const char *exp_text(int i) { return i % 5 == 2 ? NULL : WORDS[i % 8]; }
static const char *exp_big(int i) { return i % 6 == 1 ? NULL : WORDS[(i + 3) % 8]; }
static int exp_n(int i, int64_t *v) {
  *v = i == 1 ? INT64_MIN : (int64_t)i * i - 50;
  return i % 7 != 3;
}
static int exp_x(int i, double *v) {
  *v = i * 0.5 - 1.25;
  return i % 5 != 4;
}
static int exp_flag(int i, bool *v) {
  *v = i % 3 == 0;
  return i % 6 != 5;
}
/* Items of the list<utf8> row, -1 for a null row; items[j] NULL is null. */
static int exp_tags(int i, const char **items) {
  int j, n = i % 4;
  if (n == 2) return -1;
  for (j = 0; j < n; j++) items[j] = (i + j) % 5 == 0 ? NULL : WORDS[(i + 2 * j) % 8];
  return n;
}
static int exp_scores(int i, double *v) {
  int j, n = i % 3;
  if (i % 9 == 8) return -1;
  for (j = 0; j < n; j++) v[j] = i + j / 10.0;
  return n;
}
static int exp_emb(int i, float *v) {
  v[0] = (float)i;
  v[1] = (float)-i;
  v[2] = (float)i * 0.25f;
  return i % 8 != 7;
}

enum { C_ROW_ID, C_TEXT, C_BIG, C_N, C_X, C_FLAG, C_TAGS, C_SCORES, C_EMB, NCOLS };
static const char *const NAMES[NCOLS] = {"_row_id", "text", "big", "n", "x",
                                         "flag", "tags", "scores", "emb"};

/* Retries an operation that failed because of an injected allocation
   failure: it must have left the builder as it was. */
#define DO(expr)                                                         \
  do {                                                                   \
    int before_ = injected;                                              \
    pipeline_status st_ = (expr);                                        \
    if (st_ != PIPELINE_OK && injected != before_) {                     \
      CHECK(st_ == PIPELINE_OUT_OF_MEMORY);                                   \
      st_ = (expr);                                                      \
    }                                                                    \
    if (st_ != PIPELINE_OK) {                                            \
      failures++;                                                        \
      fprintf(stderr, "%s:%d: FAILED: %s returned %d\n", __FILE__, __LINE__, #expr, (int)st_); \
      return st_;                                                        \
    }                                                                    \
  } while (0)

static pipeline_status declare_columns(pipeline_arrow_builder *b) {
  DO(pipeline_arrow_builder_add_column(b, "_row_id", "L", false));
  DO(pipeline_arrow_builder_add_column(b, "text", "u", true));
  DO(pipeline_arrow_builder_add_column(b, "big", "U", true));
  DO(pipeline_arrow_builder_add_column(b, "n", "l", true));
  DO(pipeline_arrow_builder_add_column(b, "x", "g", true));
  DO(pipeline_arrow_builder_add_column(b, "flag", "b", true));
  DO(pipeline_arrow_builder_add_list_column(b, "tags", "u", true));
  DO(pipeline_arrow_builder_add_list_column(b, "scores", "g", true));
  DO(pipeline_arrow_builder_add_column(b, "emb", "+w:3", true));
  return PIPELINE_OK;
}

static pipeline_status append_row(pipeline_arrow_builder *b, int i) {
  const char *items[4];
  double scores[4];
  float emb[3];
  int64_t n;
  double x;
  bool flag;
  int k;
  DO(pipeline_arrow_append_uint64(b, C_ROW_ID, exp_row_id(i)));
  if (exp_text(i) != NULL) DO(pipeline_arrow_append_utf8(b, C_TEXT, exp_text(i), strlen(exp_text(i))));
  else DO(pipeline_arrow_append_null(b, C_TEXT));
  if (exp_big(i) != NULL) DO(pipeline_arrow_append_cstr(b, C_BIG, exp_big(i)));
  else DO(pipeline_arrow_append_null(b, C_BIG));
  if (exp_n(i, &n)) DO(pipeline_arrow_append_int64(b, C_N, n));
  else DO(pipeline_arrow_append_null(b, C_N));
  if (exp_x(i, &x)) DO(pipeline_arrow_append_float64(b, C_X, x));
  else DO(pipeline_arrow_append_null(b, C_X));
  if (exp_flag(i, &flag)) DO(pipeline_arrow_append_bool(b, C_FLAG, flag));
  else DO(pipeline_arrow_append_null(b, C_FLAG));
  k = exp_tags(i, items);
  if (k >= 0) DO(pipeline_arrow_append_utf8_list(b, C_TAGS, items, NULL, (size_t)k));
  else DO(pipeline_arrow_append_null(b, C_TAGS));
  k = exp_scores(i, scores);
  if (k >= 0) DO(pipeline_arrow_append_float64_list(b, C_SCORES, scores, (size_t)k));
  else DO(pipeline_arrow_append_null(b, C_SCORES));
  if (exp_emb(i, emb)) DO(pipeline_arrow_append_float32s(b, C_EMB, emb, 3));
  else DO(pipeline_arrow_append_null(b, C_EMB));
  return PIPELINE_OK;
}

static pipeline_status build(pipeline_arrow_builder *b, int nrows, struct ArrowSchema *s,
                             struct ArrowArray *a) {
  int i;
  pipeline_status st = declare_columns(b);
  for (i = 0; st == PIPELINE_OK && i < nrows; i++) st = append_row(b, i);
  if (st != PIPELINE_OK) return st;
  DO(pipeline_arrow_builder_finish(b, s, a));
  return PIPELINE_OK;
}

static int same_text(const char *got, size_t len, const char *want) {
  return got != NULL && len == strlen(want) && memcmp(got, want, len) == 0;
}

/* Checks rows [0, n) of a batch against expected rows first ... first+n-1. */
static void check_batch(const struct ArrowSchema *s, const struct ArrowArray *a, int first, int n,
                        const char *label) {
  pipeline_arrow_column col[NCOLS], items;
  int c, r;
  CHECK(a->length == n);
  for (c = 0; c < NCOLS; c++) {
    int64_t index = pipeline_arrow_find_column(s, NAMES[c]);
    CHECK_ROW(index >= 0, label, c);
    if (index < 0) return;
    CHECK_ROW(pipeline_arrow_column_get(s, a, index, &col[c]) == PIPELINE_OK, label, c);
    CHECK_ROW(col[c].length == n, label, c);
  }
  CHECK(col[C_ROW_ID].type == PIPELINE_ARROW_UINT64);
  CHECK(col[C_TEXT].type == PIPELINE_ARROW_UTF8);
  CHECK(col[C_BIG].type == PIPELINE_ARROW_LARGE_UTF8);
  CHECK(col[C_N].type == PIPELINE_ARROW_INT64);
  CHECK(col[C_X].type == PIPELINE_ARROW_FLOAT64);
  CHECK(col[C_FLAG].type == PIPELINE_ARROW_BOOL);
  CHECK(col[C_TAGS].type == PIPELINE_ARROW_LIST_UTF8);
  CHECK(col[C_SCORES].type == PIPELINE_ARROW_LIST_FLOAT64);
  CHECK(col[C_EMB].type == PIPELINE_ARROW_FIXED_FLOAT32 && col[C_EMB].width == 3);
  for (r = 0; r < n; r++) {
    int i = first + r, k, j;
    const char *want, *got, *items_want[4];
    double scores[4], x;
    float emb[3];
    int64_t nv, start, end;
    bool flag;
    size_t len;
    int32_t width;
    const float *f;

    CHECK_ROW(pipeline_arrow_is_valid(&col[C_ROW_ID], r), label, i);
    CHECK_ROW(pipeline_arrow_read_uint64(&col[C_ROW_ID], r) == exp_row_id(i), label, i);

    want = exp_text(i);
    CHECK_ROW(pipeline_arrow_is_valid(&col[C_TEXT], r) == (want != NULL), label, i);
    got = pipeline_arrow_read_utf8(&col[C_TEXT], r, &len);
    if (want != NULL) CHECK_ROW(same_text(got, len, want), label, i);
    else CHECK_ROW(len == 0, label, i);

    want = exp_big(i);
    CHECK_ROW(pipeline_arrow_is_valid(&col[C_BIG], r) == (want != NULL), label, i);
    got = pipeline_arrow_read_utf8(&col[C_BIG], r, &len);
    if (want != NULL) CHECK_ROW(same_text(got, len, want), label, i);

    CHECK_ROW(pipeline_arrow_is_valid(&col[C_N], r) == (exp_n(i, &nv) != 0), label, i);
    if (exp_n(i, &nv)) CHECK_ROW(pipeline_arrow_read_int64(&col[C_N], r) == nv, label, i);

    CHECK_ROW(pipeline_arrow_is_valid(&col[C_X], r) == (exp_x(i, &x) != 0), label, i);
    if (exp_x(i, &x)) CHECK_ROW(pipeline_arrow_read_float64(&col[C_X], r) == x, label, i);

    CHECK_ROW(pipeline_arrow_is_valid(&col[C_FLAG], r) == (exp_flag(i, &flag) != 0), label, i);
    if (exp_flag(i, &flag)) CHECK_ROW(pipeline_arrow_read_bool(&col[C_FLAG], r) == flag, label, i);

    k = exp_tags(i, items_want);
    CHECK_ROW(pipeline_arrow_is_valid(&col[C_TAGS], r) == (k >= 0), label, i);
    pipeline_arrow_read_list_range(&col[C_TAGS], r, &start, &end);
    CHECK_ROW(pipeline_arrow_list_items(&col[C_TAGS], &items) == PIPELINE_OK, label, i);
    CHECK_ROW(items.type == PIPELINE_ARROW_UTF8, label, i);
    CHECK_ROW(end - start == (k < 0 ? 0 : k), label, i);
    for (j = 0; j < k && j < end - start; j++) {
      bool valid = pipeline_arrow_is_valid(&items, start + j);
      CHECK_ROW(valid == (items_want[j] != NULL), label, i);
      got = pipeline_arrow_read_utf8(&items, start + j, &len);
      if (items_want[j] != NULL) CHECK_ROW(same_text(got, len, items_want[j]), label, i);
    }

    k = exp_scores(i, scores);
    CHECK_ROW(pipeline_arrow_is_valid(&col[C_SCORES], r) == (k >= 0), label, i);
    pipeline_arrow_read_list_range(&col[C_SCORES], r, &start, &end);
    CHECK_ROW(pipeline_arrow_list_items(&col[C_SCORES], &items) == PIPELINE_OK, label, i);
    CHECK_ROW(end - start == (k < 0 ? 0 : k), label, i);
    for (j = 0; j < k && j < end - start; j++) {
      CHECK_ROW(pipeline_arrow_is_valid(&items, start + j), label, i);
      CHECK_ROW(pipeline_arrow_read_float64(&items, start + j) == scores[j], label, i);
    }

    k = exp_emb(i, emb);
    CHECK_ROW(pipeline_arrow_is_valid(&col[C_EMB], r) == (k != 0), label, i);
    f = pipeline_arrow_read_float32s(&col[C_EMB], r, &width);
    CHECK_ROW(f != NULL && width == 3, label, i);
    if (k && f != NULL) CHECK_ROW(memcmp(f, emb, sizeof emb) == 0, label, i);
  }
}

/* Every buffer 64-byte aligned, and only validity bitmaps may be NULL. */
static void check_layout(const struct ArrowArray *a, int depth) {
  int64_t i;
  for (i = 0; i < a->n_buffers; i++) {
    if (a->buffers[i] != NULL) CHECK((uintptr_t)a->buffers[i] % 64 == 0);
    else CHECK(i == 0);
    if (i == 0 && a->null_count > 0) CHECK(a->buffers[0] != NULL);
  }
  CHECK(a->offset == 0);
  CHECK(a->release != NULL);
  CHECK(depth < 3);
  for (i = 0; i < a->n_children; i++) check_layout(a->children[i], depth + 1);
}

static void check_schema(const struct ArrowSchema *s) {
  static const char *const formats[NCOLS] = {"L", "u", "U", "l", "g", "b", "+l", "+l", "+w:3"};
  int c;
  CHECK(strcmp(s->format, "+s") == 0);
  CHECK(s->n_children == NCOLS);
  for (c = 0; c < NCOLS && c < s->n_children; c++) {
    const struct ArrowSchema *f = s->children[c];
    CHECK(strcmp(f->name, NAMES[c]) == 0);
    CHECK(strcmp(f->format, formats[c]) == 0);
    CHECK(pipeline_arrow_column_has_format(s, c, formats[c]));
    CHECK(((f->flags & ARROW_FLAG_NULLABLE) != 0) == (c != C_ROW_ID));
    CHECK(f->release != NULL);
  }
  CHECK(strcmp(s->children[C_TAGS]->children[0]->format, "u") == 0);
  CHECK(strcmp(s->children[C_SCORES]->children[0]->format, "g") == 0);
  CHECK(strcmp(s->children[C_EMB]->children[0]->format, "f") == 0);
}

static void noop_array_release(struct ArrowArray *a) { a->release = NULL; }

/* A view of `a` starting at row `shift` made by offsetting either the
   struct itself or each of its children. `kids`/`kid_ptrs` hold NCOLS. */
static struct ArrowArray slice(const struct ArrowArray *a, int64_t shift, int on_children,
                               struct ArrowArray *kids, struct ArrowArray **kid_ptrs) {
  struct ArrowArray v = *a;
  int64_t i;
  v.release = noop_array_release;
  v.length = a->length - shift;
  if (!on_children) {
    v.offset = a->offset + shift;
    return v;
  }
  for (i = 0; i < a->n_children; i++) {
    kids[i] = *a->children[i];
    kids[i].offset += shift;
    kids[i].length -= shift;
    kids[i].release = noop_array_release;
    kid_ptrs[i] = &kids[i];
  }
  v.children = kid_ptrs;
  return v;
}

/* Copies rows (every `step`-th from `from`) of a batch with append_from. */
static pipeline_status copy_rows(const struct ArrowSchema *s, const struct ArrowArray *a, int from,
                                 int step, struct ArrowSchema *out_s, struct ArrowArray *out_a) {
  pipeline_arrow_builder b;
  pipeline_arrow_column cols[16];
  int64_t c, row, failed = -1;
  pipeline_status st = PIPELINE_OK;
  pipeline_arrow_builder_init(&b);
  for (c = 0; c < s->n_children; c++) CHECK(pipeline_arrow_column_get(s, a, c, &cols[c]) == PIPELINE_OK);
  st = pipeline_arrow_builder_add_columns_like(&b, s, &failed);
  CHECK(st == PIPELINE_OK);
  for (row = from; st == PIPELINE_OK && row < a->length; row += step)
    for (c = 0; st == PIPELINE_OK && c < s->n_children; c++) {
      st = pipeline_arrow_append_from(&b, c, &cols[c], row);
      CHECK_ROW(st == PIPELINE_OK, "append_from", row);
    }
  if (st == PIPELINE_OK) st = pipeline_arrow_builder_finish(&b, out_s, out_a);
  CHECK(st == PIPELINE_OK);
  pipeline_arrow_builder_free(&b);
  return st;
}

static void test_build_read_copy(void) {
  pipeline_arrow_builder b;
  struct ArrowSchema s, cs;
  struct ArrowArray a, ca, v, kids[NCOLS], *kid_ptrs[NCOLS];
  pipeline_arrow_builder_init(&b);
  if (build(&b, NROWS, &s, &a) != PIPELINE_OK) {
    pipeline_arrow_builder_free(&b);
    return;
  }
  CHECK(pipeline_arrow_builder_length(&b) == 0); /* rows moved out, columns kept */
  check_schema(&s);
  check_layout(&a, 0);
  check_batch(&s, &a, 0, NROWS, "built");
  CHECK(a.children[C_TEXT]->null_count == 4);
  CHECK(a.children[C_ROW_ID]->buffers[0] == NULL);

  /* Sliced views: struct offset, child offsets, both. */
  v = slice(&a, 5, 0, kids, kid_ptrs);
  check_batch(&s, &v, 5, NROWS - 5, "struct offset 5");
  v = slice(&a, 3, 1, kids, kid_ptrs);
  check_batch(&s, &v, 3, NROWS - 3, "child offsets 3");
  v.offset = 2;
  v.length -= 2;
  check_batch(&s, &v, 5, NROWS - 5, "struct offset 2 + child offsets 3");

  /* append_from: a full copy of a sliced view, then every third row. */
  v = slice(&a, 3, 1, kids, kid_ptrs);
  v.offset = 2;
  v.length -= 2;
  if (copy_rows(&s, &v, 0, 1, &cs, &ca) == PIPELINE_OK) {
    check_schema(&cs);
    check_layout(&ca, 0);
    check_batch(&cs, &ca, 5, NROWS - 5, "copy of slice");
    cs.release(&cs);
    ca.release(&ca);
    CHECK(cs.release == NULL && ca.release == NULL);
  }
  if (copy_rows(&s, &a, 0, 3, &cs, &ca) == PIPELINE_OK) {
    int r;
    CHECK(ca.length == (NROWS + 2) / 3);
    for (r = 0; r < ca.length; r++) {
      struct ArrowArray one = slice(&ca, r, 0, kids, kid_ptrs);
      one.length = 1;
      check_batch(&cs, &one, r * 3, 1, "every third row");
    }
    cs.release(&cs);
    ca.release(&ca);
  }

  /* The builder is reusable after finish. */
  if (append_row(&b, 0) == PIPELINE_OK && append_row(&b, 1) == PIPELINE_OK &&
      pipeline_arrow_builder_finish(&b, &cs, &ca) == PIPELINE_OK) {
    check_batch(&cs, &ca, 0, 2, "reused builder");
    cs.release(&cs);
    ca.release(&ca);
  }
  pipeline_arrow_builder_free(&b);
  pipeline_arrow_builder_free(&b); /* twice is fine */

  /* A consumer may move a child out and release it after the parent. */
  {
    struct ArrowArray moved = *a.children[C_TEXT];
    struct ArrowSchema moved_s = *s.children[C_TAGS];
    const int32_t *offsets;
    a.children[C_TEXT]->release = NULL;
    s.children[C_TAGS]->release = NULL;
    a.release(&a);
    s.release(&s);
    CHECK(a.release == NULL && s.release == NULL);
    offsets = (const int32_t *)moved.buffers[1];
    CHECK(moved.length == NROWS && offsets[1] == 5 && memcmp(moved.buffers[2], "hello", 5) == 0);
    CHECK(strcmp(moved_s.name, "tags") == 0 && strcmp(moved_s.children[0]->format, "u") == 0);
    moved.release(&moved);
    moved_s.release(&moved_s);
    CHECK(moved.release == NULL && moved_s.release == NULL);
  }
}

static void test_empty(void) {
  pipeline_arrow_builder b;
  struct ArrowSchema s;
  struct ArrowArray a;
  pipeline_arrow_builder_init(&b);
  if (build(&b, 0, &s, &a) == PIPELINE_OK) {
    struct ArrowSchema cs;
    struct ArrowArray ca;
    CHECK(a.length == 0);
    check_schema(&s);
    check_layout(&a, 0);
    check_batch(&s, &a, 0, 0, "empty");
    CHECK(((const int32_t *)a.children[C_TEXT]->buffers[1])[0] == 0);
    if (copy_rows(&s, &a, 0, 1, &cs, &ca) == PIPELINE_OK) {
      CHECK(ca.length == 0 && ca.n_children == NCOLS);
      cs.release(&cs);
      ca.release(&ca);
    }
    s.release(&s);
    a.release(&a);
  }
  pipeline_arrow_builder_free(&b);

  /* No columns at all. */
  pipeline_arrow_builder_init(&b);
  CHECK(pipeline_arrow_builder_finish(&b, &s, &a) == PIPELINE_OK);
  CHECK(a.length == 0 && a.n_children == 0 && s.n_children == 0 && a.n_buffers == 1);
  s.release(&s);
  a.release(&a);
  pipeline_arrow_builder_free(&b);
}

/* ------------------------------------------------------------------------ */
/* A hand-made batch in layouts the builder never produces                   */
/* ------------------------------------------------------------------------ */

static void noop_schema_release(struct ArrowSchema *s) { s->release = NULL; }

enum { H_S, H_L, H_TAGS, H_F, H_EMB, H_B, H_ID, H_N, H_G, H_BAD, HCOLS };

typedef struct hand_batch {
  struct ArrowSchema schema, fields[HCOLS], items[3], *field_ptrs[HCOLS], *item_ptrs[3];
  struct ArrowArray array, cols[HCOLS], kids[3], *col_ptrs[HCOLS], *kid_ptrs[3];
  const void *bufs[HCOLS + 4][3];
} hand_batch;

static const char *const HNAMES[HCOLS] = {"s", "L", "tags", "f", "emb", "b", "id", "n", "g", "bad"};
static const char *const HFORMATS[HCOLS] = {"u", "U", "+l", "+l", "+w:2", "b", "L", "l", "g", "i"};

/* Struct: offset 1, 4 rows, row 2 null. Column details in the comments. */
static const uint8_t h_struct_valid[1] = {0x17};
/* s: utf8, offset 1, slots JUNK j0 ab "" ñ null -> rows "ab" "" (ñ) null */
static const int32_t h_s_off[7] = {0, 4, 6, 8, 8, 10, 10};
static const char h_s_data[] = "JUNKj0ab\xc3\xb1";
static const uint8_t h_s_valid[1] = {0x1f};
/* L: large utf8, all empty, data buffer NULL */
static const int64_t h_l_off[6] = {0, 0, 0, 0, 0, 0};
/* tags: list<utf8>, items child offset 2: X Y | p q null 日本 */
static const int32_t h_tags_off[6] = {0, 0, 2, 2, 3, 4};
static const int32_t h_item_off[7] = {0, 1, 2, 3, 4, 4, 10};
static const char h_item_data[] = "XYpq\xe6\x97\xa5\xe6\x9c\xac";
static const uint8_t h_item_valid[1] = {0x2f};
/* f: list<float64>, list offset 1; items 9 1.5 null -2; slot 5 null */
static const int32_t h_f_off[7] = {0, 1, 1, 3, 4, 4, 4};
static const uint8_t h_f_valid[1] = {0x1f};
static const double h_f_items[4] = {9.0, 1.5, 0.0, -2.0};
static const uint8_t h_f_item_valid[1] = {0x0b};
/* emb: fixed_size_list<float32>[2], child offset 2, floats[k] = k */
static float h_emb_items[12];
/* b: bool, offset 3: physical 4..7 = 1 0 1 1 */
static const uint8_t h_b_bits[1] = {0xd0};
/* id: uint64, offset 1 -> rows 10 11 12 13 (not nullable) */
static const uint64_t h_id[6] = {7, 7, 10, 11, 12, 13};
/* n: int64, null_count -1 (unknown), slot 4 null -> rows 1 2 (x) null */
static const int64_t h_n[5] = {0, 1, 2, 3, 4};
static const uint8_t h_n_valid[1] = {0x0f};
/* g: float64 without bitmap -> rows 1.5 2.5 (x) 4.5 */
static const double h_g[5] = {0.5, 1.5, 2.5, 3.5, 4.5};
static const int32_t h_bad[5] = {0, 0, 0, 0, 0};

static void set_array(struct ArrowArray *a, int64_t length, int64_t null_count, int64_t offset,
                      int64_t n_buffers, const void **bufs, const void *b0, const void *b1,
                      const void *b2) {
  memset(a, 0, sizeof *a);
  a->length = length;
  a->null_count = null_count;
  a->offset = offset;
  a->n_buffers = n_buffers;
  bufs[0] = b0;
  bufs[1] = b1;
  bufs[2] = b2;
  a->buffers = bufs;
  a->release = noop_array_release;
}

static void make_hand_batch(hand_batch *h) {
  int c, k;
  memset(h, 0, sizeof *h);
  for (k = 0; k < 12; k++) h_emb_items[k] = (float)k;
  for (c = 0; c < HCOLS; c++) {
    h->fields[c].format = HFORMATS[c];
    h->fields[c].name = HNAMES[c];
    h->fields[c].flags = c == H_ID ? 0 : ARROW_FLAG_NULLABLE;
    h->fields[c].release = noop_schema_release;
    h->field_ptrs[c] = &h->fields[c];
    h->col_ptrs[c] = &h->cols[c];
  }
  for (k = 0; k < 3; k++) {
    h->items[k].format = k == 0 ? "u" : k == 1 ? "g" : "f";
    h->items[k].name = "item";
    h->items[k].flags = ARROW_FLAG_NULLABLE;
    h->items[k].release = noop_schema_release;
    h->item_ptrs[k] = &h->items[k];
    h->kid_ptrs[k] = &h->kids[k];
  }
  h->fields[H_TAGS].n_children = h->fields[H_F].n_children = h->fields[H_EMB].n_children = 1;
  h->fields[H_TAGS].children = &h->item_ptrs[0];
  h->fields[H_F].children = &h->item_ptrs[1];
  h->fields[H_EMB].children = &h->item_ptrs[2];
  h->schema.format = "+s";
  h->schema.name = "";
  h->schema.n_children = HCOLS;
  h->schema.children = h->field_ptrs;
  h->schema.release = noop_schema_release;

  set_array(&h->cols[H_S], 5, 1, 1, 3, h->bufs[H_S], h_s_valid, h_s_off, h_s_data);
  set_array(&h->cols[H_L], 5, 0, 0, 3, h->bufs[H_L], NULL, h_l_off, NULL);
  set_array(&h->cols[H_TAGS], 5, 0, 0, 2, h->bufs[H_TAGS], NULL, h_tags_off, NULL);
  set_array(&h->kids[0], 4, 1, 2, 3, h->bufs[HCOLS], h_item_valid, h_item_off, h_item_data);
  set_array(&h->cols[H_F], 5, 1, 1, 2, h->bufs[H_F], h_f_valid, h_f_off, NULL);
  set_array(&h->kids[1], 4, 1, 0, 2, h->bufs[HCOLS + 1], h_f_item_valid, h_f_items, NULL);
  set_array(&h->cols[H_EMB], 5, 0, 0, 1, h->bufs[H_EMB], NULL, NULL, NULL);
  set_array(&h->kids[2], 10, 0, 2, 2, h->bufs[HCOLS + 2], NULL, h_emb_items, NULL);
  set_array(&h->cols[H_B], 5, 0, 3, 2, h->bufs[H_B], NULL, h_b_bits, NULL);
  set_array(&h->cols[H_ID], 5, 0, 1, 2, h->bufs[H_ID], NULL, h_id, NULL);
  set_array(&h->cols[H_N], 5, -1, 0, 2, h->bufs[H_N], h_n_valid, h_n, NULL);
  set_array(&h->cols[H_G], 5, 0, 0, 2, h->bufs[H_G], NULL, h_g, NULL);
  set_array(&h->cols[H_BAD], 5, 0, 0, 2, h->bufs[H_BAD], NULL, h_bad, NULL);
  for (k = 0; k < 3; k++) {
    struct ArrowArray *parent = &h->cols[k == 0 ? H_TAGS : k == 1 ? H_F : H_EMB];
    parent->n_children = 1;
    parent->children = &h->kid_ptrs[k];
  }
  set_array(&h->array, 4, 1, 1, 1, h->bufs[HCOLS + 3], h_struct_valid, NULL, NULL);
  h->array.n_children = HCOLS;
  h->array.children = h->col_ptrs;
}

/* Output row k of (s, a) holds input row rows[k] of the hand-made batch. */
static void check_hand(const struct ArrowSchema *s, const struct ArrowArray *a, const int *rows,
                       int n, int ncols, const char *label) {
  pipeline_arrow_column col[HCOLS], items;
  int c, k;
  CHECK(a->length == n);
  for (c = 0; c < ncols; c++) {
    int64_t index = pipeline_arrow_find_column(s, HNAMES[c]);
    CHECK_ROW(index == c, label, c);
    CHECK_ROW(pipeline_arrow_column_get(s, a, c, &col[c]) == PIPELINE_OK, label, c);
  }
  CHECK(pipeline_arrow_is_string(&col[H_S]) && pipeline_arrow_is_string(&col[H_L]));
  CHECK(col[H_TAGS].type == PIPELINE_ARROW_LIST_UTF8 && col[H_F].type == PIPELINE_ARROW_LIST_FLOAT64);
  CHECK(col[H_EMB].type == PIPELINE_ARROW_FIXED_FLOAT32 && col[H_EMB].width == 2);
  for (k = 0; k < n; k++) {
    int r = rows[k];
    size_t len;
    const char *t;
    int64_t start, end;
    int32_t width;
    const float *f;
    if (r == 2) { /* the struct's null row: null in every column */
      for (c = 0; c < ncols; c++)
        if (c != H_ID) CHECK_ROW(!pipeline_arrow_is_valid(&col[c], k), label, c);
      continue;
    }
    /* s */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_S], k) == (r != 3), label, r);
    t = pipeline_arrow_read_utf8(&col[H_S], k, &len);
    if (r == 0) CHECK_ROW(same_text(t, len, "ab"), label, r);
    if (r == 1) CHECK_ROW(same_text(t, len, ""), label, r);
    /* L */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_L], k), label, r);
    t = pipeline_arrow_read_utf8(&col[H_L], k, &len);
    CHECK_ROW(t != NULL && len == 0, label, r);
    /* tags */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_TAGS], k), label, r);
    CHECK_ROW(pipeline_arrow_list_items(&col[H_TAGS], &items) == PIPELINE_OK, label, r);
    pipeline_arrow_read_list_range(&col[H_TAGS], k, &start, &end);
    if (r == 0) {
      CHECK_ROW(end - start == 2, label, r);
      t = pipeline_arrow_read_utf8(&items, start, &len);
      CHECK_ROW(same_text(t, len, "p"), label, r);
      t = pipeline_arrow_read_utf8(&items, start + 1, &len);
      CHECK_ROW(same_text(t, len, "q"), label, r);
    } else if (r == 1) {
      CHECK_ROW(end == start, label, r);
    } else {
      CHECK_ROW(end - start == 1, label, r);
      t = pipeline_arrow_read_utf8(&items, start, &len);
      CHECK_ROW(same_text(t, len, "\xe6\x97\xa5\xe6\x9c\xac"), label, r);
    }
    /* f */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_F], k) == (r != 3), label, r);
    CHECK_ROW(pipeline_arrow_list_items(&col[H_F], &items) == PIPELINE_OK, label, r);
    pipeline_arrow_read_list_range(&col[H_F], k, &start, &end);
    if (r == 0) {
      CHECK_ROW(end - start == 2, label, r);
      CHECK_ROW(pipeline_arrow_is_valid(&items, start), label, r);
      CHECK_ROW(pipeline_arrow_read_float64(&items, start) == 1.5, label, r);
      CHECK_ROW(!pipeline_arrow_is_valid(&items, start + 1), label, r);
    } else if (r == 1) {
      CHECK_ROW(end - start == 1, label, r);
      CHECK_ROW(pipeline_arrow_read_float64(&items, start) == -2.0, label, r);
    } else {
      CHECK_ROW(end == start, label, r);
    }
    /* emb: row r is slot 1+r, child index 2 + 2*(1+r) */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_EMB], k), label, r);
    f = pipeline_arrow_read_float32s(&col[H_EMB], k, &width);
    CHECK_ROW(width == 2 && f != NULL && f[0] == (float)(4 + 2 * r) && f[1] == (float)(5 + 2 * r),
              label, r);
    /* b: 1 0 (1) 1 */
    CHECK_ROW(pipeline_arrow_read_bool(&col[H_B], k) == (r != 1), label, r);
    /* id */
    CHECK_ROW(pipeline_arrow_read_uint64(&col[H_ID], k) == (uint64_t)(10 + r), label, r);
    /* n */
    CHECK_ROW(pipeline_arrow_is_valid(&col[H_N], k) == (r != 3), label, r);
    if (r != 3) CHECK_ROW(pipeline_arrow_read_int64(&col[H_N], k) == 1 + r, label, r);
    /* g */
    CHECK_ROW(pipeline_arrow_read_float64(&col[H_G], k) == 1.5 + r, label, r);
  }
}

static void test_hand_made(void) {
  static hand_batch h;
  static const int all[4] = {0, 1, 2, 3};
  static const int kept[3] = {0, 1, 3};
  pipeline_arrow_column col[HCOLS];
  pipeline_arrow_builder b;
  struct ArrowSchema cs;
  struct ArrowArray ca;
  int64_t c, failed = -1;
  int k;
  pipeline_status st = PIPELINE_OK;

  make_hand_batch(&h);
  check_hand(&h.schema, &h.array, all, 4, H_BAD, "hand-made");
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_BAD, &col[H_BAD]) == PIPELINE_OK);
  CHECK(col[H_BAD].type == PIPELINE_ARROW_UNSUPPORTED);
  CHECK(pipeline_arrow_read_int64(&col[H_BAD], 0) == 0);
  CHECK(strcmp(pipeline_arrow_type_name(col[H_BAD].type), "unsupported") == 0);

  /* A pass-through builder refuses the int32 column and names it. */
  pipeline_arrow_builder_init(&b);
  CHECK(pipeline_arrow_builder_add_columns_like(&b, &h.schema, &failed) == PIPELINE_INVALID_DATA);
  CHECK(failed == H_BAD);
  pipeline_arrow_builder_free(&b);

  /* Copy rows 0, 1, 3 of every column but the last. */
  h.schema.n_children = h.array.n_children = H_BAD;
  for (c = 0; c < H_BAD; c++) CHECK(pipeline_arrow_column_get(&h.schema, &h.array, c, &col[c]) == PIPELINE_OK);
  pipeline_arrow_builder_init(&b);
  CHECK(pipeline_arrow_builder_add_columns_like(&b, &h.schema, NULL) == PIPELINE_OK);
  for (k = 0; st == PIPELINE_OK && k < 3; k++)
    for (c = 0; st == PIPELINE_OK && c < H_BAD; c++) {
      st = pipeline_arrow_append_from(&b, c, &col[c], kept[k]);
      CHECK_ROW(st == PIPELINE_OK, "hand append_from", k);
    }
  /* Row 2 is null through the struct, and "id" is not nullable. */
  CHECK(pipeline_arrow_append_from(&b, H_ID, &col[H_ID], 2) == PIPELINE_INVALID_DATA);
  CHECK(pipeline_arrow_builder_finish(&b, &cs, &ca) == PIPELINE_OK);
  pipeline_arrow_builder_free(&b);
  CHECK(strcmp(cs.children[H_L]->format, "U") == 0);
  CHECK(strcmp(cs.children[H_TAGS]->children[0]->format, "u") == 0);
  CHECK((cs.children[H_ID]->flags & ARROW_FLAG_NULLABLE) == 0);
  check_layout(&ca, 0);
  check_hand(&cs, &ca, kept, 3, H_BAD, "hand-made copy");
  /* The null item of the "f" list survived the copy. */
  CHECK(ca.children[H_F]->children[0]->null_count == 1);
  cs.release(&cs);
  ca.release(&ca);

  /* Malformed input is reported, not read. */
  h.cols[H_S].n_buffers = 2;
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_S, &col[H_S]) == PIPELINE_INVALID_DATA);
  h.cols[H_S].n_buffers = 3;
  h.cols[H_S].length = 1; /* shorter than struct offset + length */
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_S, &col[H_S]) == PIPELINE_INVALID_DATA);
  h.cols[H_S].length = 5;
  h.kids[2].length = 9; /* fixed-size list child too short */
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_EMB, &col[H_EMB]) == PIPELINE_INVALID_DATA);
  h.kids[2].length = 10;
  h.cols[H_TAGS].offset = 1; /* last offset 4 > 4 items of the child */
  h.cols[H_TAGS].length = 4;
  h.kids[0].length = 3;
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_TAGS, &col[H_TAGS]) == PIPELINE_INVALID_DATA);
  h.cols[H_TAGS].offset = 0;
  h.cols[H_TAGS].length = 5;
  h.kids[0].length = 4;
  h.cols[H_N].release = NULL; /* released */
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, H_N, &col[H_N]) == PIPELINE_INVALID_DATA);
  h.cols[H_N].release = noop_array_release;
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, HCOLS + 5, &col[0]) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, -1, &col[0]) == PIPELINE_INVALID_ARGUMENT);
  h.schema.format = "+l";
  CHECK(pipeline_arrow_column_get(&h.schema, &h.array, 0, &col[0]) == PIPELINE_INVALID_DATA);
  h.schema.format = "+s";
  check_hand(&h.schema, &h.array, all, 4, H_BAD, "hand-made restored");
  CHECK(pipeline_arrow_find_column(&h.schema, "nope") == -1);
  CHECK(pipeline_arrow_find_column(&h.schema, "g") == H_G);
  CHECK(pipeline_arrow_column_has_format(&h.schema, H_L, "U"));
  CHECK(!pipeline_arrow_column_has_format(&h.schema, H_L, "u"));
  CHECK(!pipeline_arrow_column_has_format(&h.schema, 99, "u"));
}

static void test_errors(void) {
  pipeline_arrow_builder b;
  struct ArrowSchema s;
  struct ArrowArray a;
  const float three[3] = {1, 2, 3};
  const char *one_item[1] = {"x"};
  pipeline_arrow_builder_init(&b);
  CHECK(pipeline_arrow_builder_add_column(&b, "l", "+l", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_add_column(&b, "x", "x", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_add_column(&b, "w", "+w:0", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_add_column(&b, "w", "+w:99999999999", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_add_column(&b, NULL, "u", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_add_list_column(&b, "l", "l", true) == PIPELINE_INVALID_ARGUMENT);
  CHECK(b.n_columns == 0);
  CHECK(pipeline_arrow_builder_add_column(&b, "id", "L", false) == PIPELINE_OK);
  CHECK(pipeline_arrow_builder_add_column(&b, "t", "u", true) == PIPELINE_OK);
  CHECK(pipeline_arrow_builder_add_column(&b, "e", "+w:0003", false) == PIPELINE_OK);
  CHECK(strcmp(b.columns[2].format, "+w:3") == 0);
  CHECK(pipeline_arrow_append_null(&b, 0) == PIPELINE_INVALID_ARGUMENT);  /* not nullable */
  CHECK(pipeline_arrow_append_int64(&b, 0, 1) == PIPELINE_INVALID_ARGUMENT); /* wrong type */
  CHECK(pipeline_arrow_append_utf8(&b, 0, "x", 1) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_append_utf8(&b, 1, NULL, 3) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_append_uint64(&b, 3, 1) == PIPELINE_INVALID_ARGUMENT); /* no column 3 */
  CHECK(pipeline_arrow_append_uint64(&b, -1, 1) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_append_float32s(&b, 2, three, 2) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_append_utf8_list(&b, 1, one_item, NULL, 1) == PIPELINE_INVALID_ARGUMENT);
  CHECK(pipeline_arrow_builder_length(&b) == 0);
  CHECK(pipeline_arrow_append_uint64(&b, 0, 1) == PIPELINE_OK);
  CHECK(pipeline_arrow_append_utf8(&b, 1, NULL, 0) == PIPELINE_OK); /* empty string */
  /* Column 2 is one row short. */
  memset(&s, 0, sizeof s);
  memset(&a, 0, sizeof a);
  CHECK(pipeline_arrow_builder_finish(&b, &s, &a) == PIPELINE_INVALID_ARGUMENT);
  CHECK(s.release == NULL && a.release == NULL);
  CHECK(pipeline_arrow_append_float32s(&b, 2, three, 3) == PIPELINE_OK);
  CHECK(pipeline_arrow_builder_finish(&b, &s, &a) == PIPELINE_OK);
  CHECK(a.length == 1 && a.children[1]->null_count == 0);
  CHECK(strcmp(s.children[2]->format, "+w:3") == 0);
  s.release(&s);
  a.release(&a);
  /* Abandon a builder that holds rows. */
  CHECK(pipeline_arrow_append_uint64(&b, 0, 2) == PIPELINE_OK);
  CHECK(pipeline_arrow_append_null(&b, 1) == PIPELINE_OK);
  pipeline_arrow_builder_free(&b);
  CHECK(b.n_columns == 0 && b.columns == NULL);
}

/* Fails the k-th allocation of a full build for every k; each failed call
   must report PIPELINE_OUT_OF_MEMORY and leave the builder usable (DO retries). */
static void test_allocation_failures(void) {
  long k;
  for (k = 0;; k++) {
    pipeline_arrow_builder b;
    struct ArrowSchema s;
    struct ArrowArray a;
    pipeline_status st;
    injected = 0;
    fail_at = k;
    pipeline_arrow_builder_init(&b);
    st = build(&b, NROWS, &s, &a);
    fail_at = -1;
    pipeline_arrow_builder_free(&b);
    CHECK_ROW(st == PIPELINE_OK, "allocation failure", k);
    if (st == PIPELINE_OK) {
      check_batch(&s, &a, 0, NROWS, "after an allocation failure");
      s.release(&s);
      a.release(&a);
    }
    if (injected == 0) break; /* k is past the last allocation */
    if (k > 10000) {
      CHECK(!"too many allocations");
      break;
    }
  }
  CHECK(k > 20);
}

int main(void) {
  test_build_read_copy();
  test_empty();
  test_hand_made();
  test_errors();
  test_allocation_failures();
  if (failures != 0) {
    fprintf(stderr, "arrow_helper_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("arrow_helper_test: all checks passed\n");
  return 0;
}
