/*
 * pipeline_arrow.h: read and build the Arrow batches of the plugin ABI from
 * C, without computing offsets or validity bits by hand.
 *
 * Header-only: every function is `static inline`, nothing is exported and
 * there is no global state. Include it in as many files as you like.
 *
 * Reading a borrowed input batch (the top-level struct "+s"):
 *
 *     int64_t i = pipeline_arrow_find_column(in_schema, "text");
 *     pipeline_arrow_column text;
 *     if (i < 0 || pipeline_arrow_column_get(in_schema, in, i, &text) != PIPELINE_OK ||
 *         !pipeline_arrow_is_string(&text)) { ...error... }
 *     for (int64_t row = 0; row < text.length; row++) {
 *       if (!pipeline_arrow_is_valid(&text, row)) continue;        // null
 *       size_t len;
 *       const char *s = pipeline_arrow_read_utf8(&text, row, &len); // not NUL-terminated
 *     }
 *
 * Building an output batch:
 *
 *     pipeline_arrow_builder b;
 *     pipeline_arrow_builder_init(&b);                        // cannot fail
 *     st = pipeline_arrow_builder_add_column(&b, "n", "l", false);
 *     st = pipeline_arrow_append_int64(&b, 0, 42);           // column 0
 *     st = pipeline_arrow_builder_finish(&b, out_schema, out); // moves the rows out
 *     pipeline_arrow_builder_free(&b);                        // always, even after errors
 *
 * Types: "u" utf8, "U" large utf8, "l" int64, "L" uint64, "g" float64,
 * "b" bool, "+l" list of "u"/"g" (add_list_column), "+w:N" fixed-size list
 * of N float32 ("f"). Other formats are reported as PIPELINE_ARROW_UNSUPPORTED.
 *
 * Status codes: PIPELINE_INVALID_ARGUMENT for misuse (wrong column index or
 * type, a null in a non-nullable column, a utf8/list column past 2^31-1
 * bytes or items), PIPELINE_INVALID_DATA for a malformed input batch, and
 * PIPELINE_OUT_OF_MEMORY when memory runs out (and when a size would overflow). A failed append leaves the builder
 * as it was. Buffers are 64-byte aligned. Define PIPELINE_ARROW_MALLOC,
 * PIPELINE_ARROW_ALIGNED_ALLOC(alignment, size) and PIPELINE_ARROW_FREE
 * before including this header to use another allocator (all three at once).
 * A builder is not thread-safe; use one per thread.
 */
#ifndef PIPELINE_ARROW_H
#define PIPELINE_ARROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_plugin.h"

#if defined(PIPELINE_ARROW_MALLOC) != defined(PIPELINE_ARROW_FREE) || \
    defined(PIPELINE_ARROW_MALLOC) != defined(PIPELINE_ARROW_ALIGNED_ALLOC)
#error "define PIPELINE_ARROW_MALLOC, PIPELINE_ARROW_ALIGNED_ALLOC and PIPELINE_ARROW_FREE together"
#endif
#ifndef PIPELINE_ARROW_MALLOC
#define PIPELINE_ARROW_MALLOC(size) malloc(size)
#define PIPELINE_ARROW_ALIGNED_ALLOC(alignment, size) aligned_alloc((alignment), (size))
#define PIPELINE_ARROW_FREE(ptr) free(ptr)
#endif

#define PIPELINE_ARROW_ALIGNMENT 64

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pipeline_arrow_type {
  PIPELINE_ARROW_UNSUPPORTED = 0,
  PIPELINE_ARROW_UTF8,         /* "u" */
  PIPELINE_ARROW_LARGE_UTF8,   /* "U" */
  PIPELINE_ARROW_INT64,        /* "l" */
  PIPELINE_ARROW_UINT64,       /* "L" */
  PIPELINE_ARROW_FLOAT64,      /* "g" */
  PIPELINE_ARROW_BOOL,         /* "b" */
  PIPELINE_ARROW_LIST_UTF8,    /* "+l" of "u" (or "U" when reading) */
  PIPELINE_ARROW_LIST_FLOAT64, /* "+l" of "g" */
  PIPELINE_ARROW_FIXED_FLOAT32 /* "+w:N" of "f" */
} pipeline_arrow_type;

/* The type names of the column declarations (inputs_json), for messages. */
static inline const char *pipeline_arrow_type_name(pipeline_arrow_type type) {
  switch (type) {
  case PIPELINE_ARROW_UTF8: return "utf8";
  case PIPELINE_ARROW_LARGE_UTF8: return "large_utf8";
  case PIPELINE_ARROW_INT64: return "int64";
  case PIPELINE_ARROW_UINT64: return "uint64";
  case PIPELINE_ARROW_FLOAT64: return "float64";
  case PIPELINE_ARROW_BOOL: return "bool";
  case PIPELINE_ARROW_LIST_UTF8: return "list<utf8>";
  case PIPELINE_ARROW_LIST_FLOAT64: return "list<float64>";
  case PIPELINE_ARROW_FIXED_FLOAT32: return "fixed_size_list<float32>";
  case PIPELINE_ARROW_UNSUPPORTED: break;
  }
  return "unsupported";
}

static inline pipeline_arrow_type pipeline_arrow_impl_leaf_type(const char *f) {
  if (f == NULL || f[0] == '\0' || f[1] != '\0') return PIPELINE_ARROW_UNSUPPORTED;
  switch (f[0]) {
  case 'u': return PIPELINE_ARROW_UTF8;
  case 'U': return PIPELINE_ARROW_LARGE_UTF8;
  case 'l': return PIPELINE_ARROW_INT64;
  case 'L': return PIPELINE_ARROW_UINT64;
  case 'g': return PIPELINE_ARROW_FLOAT64;
  case 'b': return PIPELINE_ARROW_BOOL;
  default: return PIPELINE_ARROW_UNSUPPORTED;
  }
}

/* N of "+w:N" (1 ... INT32_MAX), or 0 if `f` is not such a format. */
static inline int32_t pipeline_arrow_impl_fixed_width(const char *f) {
  int64_t n = 0;
  if (f == NULL || strncmp(f, "+w:", 3) != 0 || f[3] == '\0') return 0;
  for (f += 3; *f != '\0'; f++) {
    if (*f < '0' || *f > '9') return 0;
    n = n * 10 + (*f - '0');
    if (n > INT32_MAX) return 0;
  }
  return (int32_t)n;
}

/* The type of one field (a child of the batch schema); *width gets N of a
   fixed-size list and 0 otherwise. `width` may be NULL. */
static inline pipeline_arrow_type pipeline_arrow_field_type(const struct ArrowSchema *field,
                                                            int32_t *width) {
  pipeline_arrow_type item;
  int32_t w;
  if (width != NULL) *width = 0;
  if (field == NULL || field->format == NULL || field->dictionary != NULL)
    return PIPELINE_ARROW_UNSUPPORTED;
  if (field->format[0] != '+') return pipeline_arrow_impl_leaf_type(field->format);
  if (field->n_children != 1 || field->children == NULL || field->children[0] == NULL)
    return PIPELINE_ARROW_UNSUPPORTED;
  if (strcmp(field->format, "+l") == 0) {
    item = pipeline_arrow_impl_leaf_type(field->children[0]->format);
    if (item == PIPELINE_ARROW_UTF8 || item == PIPELINE_ARROW_LARGE_UTF8)
      return PIPELINE_ARROW_LIST_UTF8;
    return item == PIPELINE_ARROW_FLOAT64 ? PIPELINE_ARROW_LIST_FLOAT64 : PIPELINE_ARROW_UNSUPPORTED;
  }
  w = pipeline_arrow_impl_fixed_width(field->format);
  if (w > 0 && field->children[0]->format != NULL && strcmp(field->children[0]->format, "f") == 0) {
    if (width != NULL) *width = w;
    return PIPELINE_ARROW_FIXED_FLOAT32;
  }
  return PIPELINE_ARROW_UNSUPPORTED;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

/* The index of the column called `name` in a batch schema, or -1. */
static inline int64_t pipeline_arrow_find_column(const struct ArrowSchema *batch_schema,
                                                 const char *name) {
  int64_t i;
  if (batch_schema == NULL || batch_schema->children == NULL || name == NULL) return -1;
  for (i = 0; i < batch_schema->n_children; i++) {
    const struct ArrowSchema *field = batch_schema->children[i];
    if (field != NULL && field->name != NULL && strcmp(field->name, name) == 0) return i;
  }
  return -1;
}

/* True if column `index` of a batch schema has exactly this format string. */
static inline bool pipeline_arrow_column_has_format(const struct ArrowSchema *batch_schema,
                                                    int64_t index, const char *format) {
  const struct ArrowSchema *field;
  if (batch_schema == NULL || batch_schema->children == NULL || index < 0 ||
      index >= batch_schema->n_children || format == NULL)
    return false;
  field = batch_schema->children[index];
  return field != NULL && field->format != NULL && strcmp(field->format, format) == 0;
}

/*
 * A checked view of one column of a borrowed batch. Rows are numbered
 * 0 ... length-1; all offsets (the batch's and the column's) are applied.
 * The view borrows the batch: it is valid while the batch is. The reading
 * functions do not check `row`; keep it within 0 ... length-1.
 */
typedef struct pipeline_arrow_column {
  const struct ArrowSchema *schema;  /* the column's field */
  const struct ArrowArray *array;
  pipeline_arrow_type type;
  int32_t width;                     /* values per row of a fixed-size list */
  int64_t length;                    /* rows */
  /* Internal: physical slot of row 0, bitmaps, buffers. */
  int64_t base;
  const uint8_t *validity;
  const uint8_t *outer_validity;     /* the struct's own bitmap, rarely set */
  int64_t outer_base;
  const void *values;                /* offsets of utf8 and lists, else values */
  const char *data;                  /* bytes of utf8 */
  const float *floats;               /* items of a fixed-size list, at index 0 */
} pipeline_arrow_column;

static inline pipeline_status pipeline_arrow_impl_view(const struct ArrowSchema *field,
                                                       const struct ArrowArray *a,
                                                       int64_t outer_offset, int64_t rows,
                                                       pipeline_arrow_column *out) {
  int64_t expected = 2, first, last;
  memset(out, 0, sizeof *out);
  if (field == NULL || a == NULL || a->release == NULL || a->offset < 0 || a->length < 0 ||
      rows < 0 || outer_offset < 0 || a->length - rows < outer_offset ||
      a->offset > INT64_MAX - a->length)
    return PIPELINE_INVALID_DATA;
  out->schema = field;
  out->array = a;
  out->type = pipeline_arrow_field_type(field, &out->width);
  out->length = rows;
  out->base = outer_offset + a->offset;
  if (out->type == PIPELINE_ARROW_UNSUPPORTED) return PIPELINE_OK; /* not readable, not wrong */
  if (out->type == PIPELINE_ARROW_UTF8 || out->type == PIPELINE_ARROW_LARGE_UTF8) expected = 3;
  if (out->type == PIPELINE_ARROW_FIXED_FLOAT32) expected = 1;
  if (a->n_buffers != expected || a->buffers == NULL) return PIPELINE_INVALID_DATA;
  if (a->null_count != 0) out->validity = (const uint8_t *)a->buffers[0];
  if (expected > 1) out->values = a->buffers[1];
  if (expected == 3) out->data = a->buffers[2] != NULL ? (const char *)a->buffers[2] : "";

  if (out->type == PIPELINE_ARROW_LIST_UTF8 || out->type == PIPELINE_ARROW_LIST_FLOAT64 ||
      out->type == PIPELINE_ARROW_FIXED_FLOAT32) {
    pipeline_arrow_column item;
    const struct ArrowArray *child;
    if (a->n_children != 1 || a->children == NULL || a->children[0] == NULL)
      return PIPELINE_INVALID_DATA;
    child = a->children[0];
    if (out->type == PIPELINE_ARROW_FIXED_FLOAT32) {
      if (child->release == NULL || child->n_buffers != 2 || child->buffers == NULL ||
          child->offset < 0 || out->base > (INT64_MAX / out->width) - rows ||
          child->length < (out->base + rows) * out->width)
        return PIPELINE_INVALID_DATA;
      if (child->length > 0 && child->buffers[1] == NULL) return PIPELINE_INVALID_DATA;
      if (child->buffers[1] != NULL) out->floats = (const float *)child->buffers[1] + child->offset;
      return PIPELINE_OK;
    }
    if (pipeline_arrow_impl_view(field->children[0], child, 0, child->length, &item) != PIPELINE_OK)
      return PIPELINE_INVALID_DATA;
  }
  if (rows == 0) return PIPELINE_OK;
  if (out->values == NULL) return PIPELINE_INVALID_DATA;
  if (expected == 2 && out->type != PIPELINE_ARROW_LIST_UTF8 &&
      out->type != PIPELINE_ARROW_LIST_FLOAT64)
    return PIPELINE_OK;
  /* Offsets: check the first and the last (checking all would cost a pass). */
  if (out->type == PIPELINE_ARROW_LARGE_UTF8) {
    first = ((const int64_t *)out->values)[out->base];
    last = ((const int64_t *)out->values)[out->base + rows];
  } else {
    first = ((const int32_t *)out->values)[out->base];
    last = ((const int32_t *)out->values)[out->base + rows];
  }
  if (first < 0 || last < first) return PIPELINE_INVALID_DATA;
  if (expected == 2 && last > a->children[0]->length) return PIPELINE_INVALID_DATA;
  if (expected == 3 && a->buffers[2] == NULL && last != first) return PIPELINE_INVALID_DATA;
  return PIPELINE_OK;
}

/*
 * Fills *out with a view of column `index` of a batch. PIPELINE_INVALID_DATA
 * if the batch or column is malformed, PIPELINE_INVALID_ARGUMENT if `index`
 * is out of range. A column of another type gives PIPELINE_OK with
 * out->type == PIPELINE_ARROW_UNSUPPORTED: check the type before reading.
 */
static inline pipeline_status pipeline_arrow_column_get(const struct ArrowSchema *batch_schema,
                                                        const struct ArrowArray *batch,
                                                        int64_t index, pipeline_arrow_column *out) {
  pipeline_status st;
  if (out == NULL) return PIPELINE_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (batch_schema == NULL || batch == NULL || batch_schema->format == NULL ||
      strcmp(batch_schema->format, "+s") != 0 || batch->release == NULL ||
      batch_schema->n_children != batch->n_children || batch->length < 0 || batch->offset < 0)
    return PIPELINE_INVALID_DATA;
  if (index < 0 || index >= batch->n_children) return PIPELINE_INVALID_ARGUMENT;
  if (batch_schema->children == NULL || batch->children == NULL) return PIPELINE_INVALID_DATA;
  st = pipeline_arrow_impl_view(batch_schema->children[index], batch->children[index],
                                batch->offset, batch->length, out);
  if (st != PIPELINE_OK) return st;
  if (batch->null_count != 0 && batch->n_buffers >= 1 && batch->buffers != NULL &&
      batch->buffers[0] != NULL) {
    out->outer_validity = (const uint8_t *)batch->buffers[0];
    out->outer_base = batch->offset;
  }
  return PIPELINE_OK;
}

/* The items of a list column as a column of their own: the rows of
   pipeline_arrow_read_list_range index into it. */
static inline pipeline_status pipeline_arrow_list_items(const pipeline_arrow_column *list,
                                                        pipeline_arrow_column *items) {
  const struct ArrowArray *child;
  if (list == NULL || items == NULL ||
      (list->type != PIPELINE_ARROW_LIST_UTF8 && list->type != PIPELINE_ARROW_LIST_FLOAT64))
    return PIPELINE_INVALID_ARGUMENT;
  child = list->array->children[0];
  return pipeline_arrow_impl_view(list->schema->children[0], child, 0, child->length, items);
}

static inline bool pipeline_arrow_impl_bit(const uint8_t *bits, int64_t i) {
  return ((bits[i >> 3] >> (i & 7)) & 1) != 0;
}

/* False if the row is null. */
static inline bool pipeline_arrow_is_valid(const pipeline_arrow_column *c, int64_t row) {
  if (c->validity != NULL && !pipeline_arrow_impl_bit(c->validity, c->base + row)) return false;
  if (c->outer_validity != NULL && !pipeline_arrow_impl_bit(c->outer_validity, c->outer_base + row))
    return false;
  return true;
}

static inline bool pipeline_arrow_is_string(const pipeline_arrow_column *c) {
  return c->type == PIPELINE_ARROW_UTF8 || c->type == PIPELINE_ARROW_LARGE_UTF8;
}

/* The bytes of a utf8/large utf8 row (not NUL-terminated); "" for a null
   row, NULL if the column is not text. */
static inline const char *pipeline_arrow_read_utf8(const pipeline_arrow_column *c, int64_t row,
                                                   size_t *len) {
  int64_t i = c->base + row, start, end;
  if (c->type == PIPELINE_ARROW_LARGE_UTF8) {
    start = ((const int64_t *)c->values)[i];
    end = ((const int64_t *)c->values)[i + 1];
  } else if (c->type == PIPELINE_ARROW_UTF8) {
    start = ((const int32_t *)c->values)[i];
    end = ((const int32_t *)c->values)[i + 1];
  } else {
    if (len != NULL) *len = 0;
    return NULL;
  }
  if (len != NULL) *len = (size_t)(end - start);
  return c->data + start;
}

/* Fixed-width values; 0 for a column of another type. A null row reads as
   whatever its slot holds (usually 0): check pipeline_arrow_is_valid. */
static inline int64_t pipeline_arrow_read_int64(const pipeline_arrow_column *c, int64_t row) {
  return c->type == PIPELINE_ARROW_INT64 ? ((const int64_t *)c->values)[c->base + row] : 0;
}
static inline uint64_t pipeline_arrow_read_uint64(const pipeline_arrow_column *c, int64_t row) {
  return c->type == PIPELINE_ARROW_UINT64 ? ((const uint64_t *)c->values)[c->base + row] : 0;
}
static inline double pipeline_arrow_read_float64(const pipeline_arrow_column *c, int64_t row) {
  return c->type == PIPELINE_ARROW_FLOAT64 ? ((const double *)c->values)[c->base + row] : 0.0;
}
static inline bool pipeline_arrow_read_bool(const pipeline_arrow_column *c, int64_t row) {
  return c->type == PIPELINE_ARROW_BOOL &&
         pipeline_arrow_impl_bit((const uint8_t *)c->values, c->base + row);
}

/* The items of list row `row` are rows [*start, *end) of
   pipeline_arrow_list_items. Empty for a null row. */
static inline void pipeline_arrow_read_list_range(const pipeline_arrow_column *c, int64_t row,
                                                  int64_t *start, int64_t *end) {
  const int32_t *o = (const int32_t *)c->values;
  if ((c->type != PIPELINE_ARROW_LIST_UTF8 && c->type != PIPELINE_ARROW_LIST_FLOAT64) || o == NULL) {
    *start = *end = 0;
    return;
  }
  *start = o[c->base + row];
  *end = o[c->base + row + 1];
}

/* The `*width` float32 values of a fixed-size list row; NULL if the column
   has another type. A null row points at placeholder values; nulls inside
   the float32 items are not reported (embeddings have none). */
static inline const float *pipeline_arrow_read_float32s(const pipeline_arrow_column *c, int64_t row,
                                                        int32_t *width) {
  if (width != NULL) *width = c->width;
  if (c->type != PIPELINE_ARROW_FIXED_FLOAT32 || c->floats == NULL) return NULL;
  return c->floats + (c->base + row) * c->width;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

/* Internal. Bytes past `len` are always zero. */
typedef struct pipeline_arrow_impl_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} pipeline_arrow_impl_buf;

/* Internal: one column under construction. */
typedef struct pipeline_arrow_impl_col {
  char *name;
  char format[16];
  pipeline_arrow_type type;
  int32_t width;
  bool nullable;
  int64_t length, null_count;
  pipeline_arrow_impl_buf validity; /* empty until the first null */
  pipeline_arrow_impl_buf offsets;  /* utf8 and lists */
  pipeline_arrow_impl_buf values;   /* bytes, values, bool bits, float32 items */
  int64_t item_length, item_null_count; /* items of a "+l" column */
  pipeline_arrow_impl_buf item_validity, item_offsets, item_values;
} pipeline_arrow_impl_col;

/* Set up with pipeline_arrow_builder_init; fields are internal. */
typedef struct pipeline_arrow_builder {
  pipeline_arrow_impl_col *columns;
  int64_t n_columns;
  int64_t capacity;
} pipeline_arrow_builder;

static inline pipeline_status pipeline_arrow_impl_reserve(pipeline_arrow_impl_buf *b, size_t extra) {
  size_t need, cap;
  uint8_t *p;
  if (extra <= b->cap - b->len) return PIPELINE_OK;
  if (extra > SIZE_MAX / 2 - b->len) return PIPELINE_OUT_OF_MEMORY;
  need = b->len + extra;
  cap = b->cap != 0 ? b->cap : PIPELINE_ARROW_ALIGNMENT;
  while (cap < need) cap *= 2;
  p = (uint8_t *)PIPELINE_ARROW_ALIGNED_ALLOC(PIPELINE_ARROW_ALIGNMENT, cap);
  if (p == NULL) return PIPELINE_OUT_OF_MEMORY;
  if (b->len != 0) memcpy(p, b->data, b->len);
  memset(p + b->len, 0, cap - b->len);
  PIPELINE_ARROW_FREE(b->data);
  b->data = p;
  b->cap = cap;
  return PIPELINE_OK;
}

/* Room for bits [0, nbits). */
static inline pipeline_status pipeline_arrow_impl_reserve_bits(pipeline_arrow_impl_buf *b,
                                                               int64_t nbits) {
  size_t need = (size_t)((nbits + 7) / 8);
  return need > b->len ? pipeline_arrow_impl_reserve(b, need - b->len) : PIPELINE_OK;
}

static inline void pipeline_arrow_impl_put_bit(pipeline_arrow_impl_buf *b, int64_t i, bool v) {
  size_t byte = (size_t)(i >> 3);
  if (byte >= b->len) b->len = byte + 1;
  if (v) b->data[byte] = (uint8_t)(b->data[byte] | (1u << (i & 7)));
}

/* Room for `extra` more validity bits after `length`; makes the bitmap (all
   earlier rows valid) when `need_bitmap` and there is none yet. */
static inline pipeline_status pipeline_arrow_impl_validity_reserve(pipeline_arrow_impl_buf *v,
                                                                   int64_t length, int64_t extra,
                                                                   bool need_bitmap) {
  bool make = v->data == NULL;
  int64_t i;
  pipeline_status st;
  if (make && !need_bitmap) return PIPELINE_OK;
  st = pipeline_arrow_impl_reserve_bits(v, length + extra);
  if (st != PIPELINE_OK || !make) return st;
  memset(v->data, 0xff, (size_t)(length / 8));
  v->len = (size_t)(length / 8);
  for (i = length / 8 * 8; i < length; i++) pipeline_arrow_impl_put_bit(v, i, true);
  return PIPELINE_OK;
}

static inline void pipeline_arrow_impl_validity_put(pipeline_arrow_impl_buf *v, int64_t i, bool valid) {
  if (v->data != NULL) pipeline_arrow_impl_put_bit(v, i, valid);
}

/* Offsets: `n` more entries, plus the leading 0 of an empty buffer. */
static inline pipeline_status pipeline_arrow_impl_reserve_offsets(pipeline_arrow_impl_buf *b,
                                                                  bool large, size_t n) {
  return pipeline_arrow_impl_reserve(b, (n + (b->len == 0 ? 1 : 0)) * (large ? 8 : 4));
}

static inline void pipeline_arrow_impl_put_offset(pipeline_arrow_impl_buf *b, bool large, int64_t v) {
  if (large) {
    memcpy(b->data + b->len, &v, 8);
    b->len += 8;
  } else {
    int32_t w = (int32_t)v;
    memcpy(b->data + b->len, &w, 4);
    b->len += 4;
  }
}

/* Writes the leading 0 if needed (room reserved); returns the last offset. */
static inline int64_t pipeline_arrow_impl_offsets_start(pipeline_arrow_impl_buf *b, bool large) {
  int64_t v64;
  int32_t v32;
  if (b->len == 0) {
    pipeline_arrow_impl_put_offset(b, large, 0);
    return 0;
  }
  if (large) {
    memcpy(&v64, b->data + b->len - 8, 8);
    return v64;
  }
  memcpy(&v32, b->data + b->len - 4, 4);
  return v32;
}

static inline pipeline_arrow_impl_col *pipeline_arrow_impl_col_at(pipeline_arrow_builder *b,
                                                                 int64_t column) {
  return (b != NULL && column >= 0 && column < b->n_columns) ? &b->columns[column] : NULL;
}

static inline pipeline_status pipeline_arrow_impl_begin_row(pipeline_arrow_impl_col *c, bool valid) {
  if (!valid && !c->nullable) return PIPELINE_INVALID_ARGUMENT;
  return pipeline_arrow_impl_validity_reserve(&c->validity, c->length, 1, !valid);
}

static inline pipeline_status pipeline_arrow_impl_end_row(pipeline_arrow_impl_col *c, bool valid) {
  pipeline_arrow_impl_validity_put(&c->validity, c->length, valid);
  if (!valid) c->null_count++;
  c->length++;
  return PIPELINE_OK;
}

static inline void pipeline_arrow_impl_buf_free(pipeline_arrow_impl_buf *b) {
  PIPELINE_ARROW_FREE(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Drops the rows of a column, keeping its declaration. */
static inline void pipeline_arrow_impl_col_clear(pipeline_arrow_impl_col *c) {
  pipeline_arrow_impl_buf_free(&c->validity);
  pipeline_arrow_impl_buf_free(&c->offsets);
  pipeline_arrow_impl_buf_free(&c->values);
  pipeline_arrow_impl_buf_free(&c->item_validity);
  pipeline_arrow_impl_buf_free(&c->item_offsets);
  pipeline_arrow_impl_buf_free(&c->item_values);
  c->length = c->null_count = c->item_length = c->item_null_count = 0;
}

/* An empty builder with no columns. Cannot fail. */
static inline void pipeline_arrow_builder_init(pipeline_arrow_builder *b) {
  memset(b, 0, sizeof *b);
}

/* Frees everything the builder holds (rows and columns); it is then empty,
   as after init. Safe to call twice. Does not touch finished batches. */
static inline void pipeline_arrow_builder_free(pipeline_arrow_builder *b) {
  int64_t i;
  if (b == NULL) return;
  for (i = 0; i < b->n_columns; i++) {
    pipeline_arrow_impl_col_clear(&b->columns[i]);
    PIPELINE_ARROW_FREE(b->columns[i].name);
  }
  PIPELINE_ARROW_FREE(b->columns);
  memset(b, 0, sizeof *b);
}

static inline pipeline_status pipeline_arrow_impl_add(pipeline_arrow_builder *b, const char *name,
                                                      pipeline_arrow_type type, int32_t width,
                                                      bool nullable) {
  pipeline_arrow_impl_col *c;
  size_t name_len;
  if (b == NULL || name == NULL) return PIPELINE_INVALID_ARGUMENT;
  if (b->n_columns == b->capacity) {
    int64_t cap = b->capacity != 0 ? b->capacity * 2 : 8;
    pipeline_arrow_impl_col *cols =
        (pipeline_arrow_impl_col *)PIPELINE_ARROW_MALLOC((size_t)cap * sizeof *cols);
    if (cols == NULL) return PIPELINE_OUT_OF_MEMORY;
    if (b->n_columns != 0) memcpy(cols, b->columns, (size_t)b->n_columns * sizeof *cols);
    PIPELINE_ARROW_FREE(b->columns);
    b->columns = cols;
    b->capacity = cap;
  }
  c = &b->columns[b->n_columns];
  memset(c, 0, sizeof *c);
  name_len = strlen(name) + 1;
  c->name = (char *)PIPELINE_ARROW_MALLOC(name_len);
  if (c->name == NULL) return PIPELINE_OUT_OF_MEMORY;
  memcpy(c->name, name, name_len);
  c->type = type;
  c->width = width;
  c->nullable = nullable;
  if (type == PIPELINE_ARROW_FIXED_FLOAT32) {
    /* "+w:" and the decimal digits of width */
    char digits[12];
    int n = 0;
    int32_t w = width;
    do { digits[n++] = (char)('0' + w % 10); w /= 10; } while (w != 0);
    memcpy(c->format, "+w:", 3);
    for (w = 0; w < n; w++) c->format[3 + w] = digits[n - 1 - w];
    c->format[3 + n] = '\0';
  } else if (type == PIPELINE_ARROW_LIST_UTF8 || type == PIPELINE_ARROW_LIST_FLOAT64) {
    memcpy(c->format, "+l", 3);
  } else {
    const char *f = "uUlLgb";
    c->format[0] = f[type - PIPELINE_ARROW_UTF8];
    c->format[1] = '\0';
  }
  b->n_columns++;
  return PIPELINE_OK;
}

/* Declares the next column: format "u", "U", "l", "L", "g", "b" or "+w:N".
   Columns are numbered from 0 in the order they are added. */
static inline pipeline_status pipeline_arrow_builder_add_column(pipeline_arrow_builder *b,
                                                                const char *name,
                                                                const char *format, bool nullable) {
  pipeline_arrow_type type = pipeline_arrow_impl_leaf_type(format);
  int32_t width = pipeline_arrow_impl_fixed_width(format);
  if (type == PIPELINE_ARROW_UNSUPPORTED && width == 0) return PIPELINE_INVALID_ARGUMENT;
  return pipeline_arrow_impl_add(b, name, width > 0 ? PIPELINE_ARROW_FIXED_FLOAT32 : type, width,
                                 nullable);
}

/* Declares the next column as a list ("+l") of `item_format` "u" or "g".
   Items may be null; the list rows are null only if `nullable`. */
static inline pipeline_status pipeline_arrow_builder_add_list_column(pipeline_arrow_builder *b,
                                                                     const char *name,
                                                                     const char *item_format,
                                                                     bool nullable) {
  pipeline_arrow_type item = pipeline_arrow_impl_leaf_type(item_format);
  if (item == PIPELINE_ARROW_UTF8)
    return pipeline_arrow_impl_add(b, name, PIPELINE_ARROW_LIST_UTF8, 0, nullable);
  if (item == PIPELINE_ARROW_FLOAT64)
    return pipeline_arrow_impl_add(b, name, PIPELINE_ARROW_LIST_FLOAT64, 0, nullable);
  return PIPELINE_INVALID_ARGUMENT;
}

/* Declares one column per column of `batch_schema`, same names, types and
   nullability (lists of "U" become lists of "u"), to pass rows through with
   pipeline_arrow_append_from. PIPELINE_INVALID_DATA if a column has an
   unsupported type; its index then goes to *failed (which may be NULL). */
static inline pipeline_status pipeline_arrow_builder_add_columns_like(
    pipeline_arrow_builder *b, const struct ArrowSchema *batch_schema, int64_t *failed) {
  int64_t i;
  if (batch_schema == NULL || (batch_schema->n_children > 0 && batch_schema->children == NULL))
    return PIPELINE_INVALID_DATA;
  for (i = 0; i < batch_schema->n_children; i++) {
    const struct ArrowSchema *field = batch_schema->children[i];
    int32_t width;
    pipeline_arrow_type type = pipeline_arrow_field_type(field, &width);
    pipeline_status st = PIPELINE_INVALID_DATA;
    if (type != PIPELINE_ARROW_UNSUPPORTED) {
      bool nullable = (field->flags & ARROW_FLAG_NULLABLE) != 0;
      st = pipeline_arrow_impl_add(b, field->name != NULL ? field->name : "", type, width, nullable);
    }
    if (st != PIPELINE_OK) {
      if (failed != NULL) *failed = i;
      return st;
    }
  }
  return PIPELINE_OK;
}

/* Rows in the builder (of column 0; finish checks that all agree). */
static inline int64_t pipeline_arrow_builder_length(const pipeline_arrow_builder *b) {
  return (b != NULL && b->n_columns > 0) ? b->columns[0].length : 0;
}

/* Appends a null; PIPELINE_INVALID_ARGUMENT if the column is not nullable. */
static inline pipeline_status pipeline_arrow_append_null(pipeline_arrow_builder *b, int64_t column) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_status st;
  bool large;
  if (c == NULL) return PIPELINE_INVALID_ARGUMENT;
  if ((st = pipeline_arrow_impl_begin_row(c, false)) != PIPELINE_OK) return st;
  switch (c->type) {
  case PIPELINE_ARROW_UTF8:
  case PIPELINE_ARROW_LARGE_UTF8:
  case PIPELINE_ARROW_LIST_UTF8:
  case PIPELINE_ARROW_LIST_FLOAT64:
    large = c->type == PIPELINE_ARROW_LARGE_UTF8;
    if ((st = pipeline_arrow_impl_reserve_offsets(&c->offsets, large, 1)) != PIPELINE_OK) return st;
    pipeline_arrow_impl_put_offset(&c->offsets, large,
                                   pipeline_arrow_impl_offsets_start(&c->offsets, large));
    break;
  case PIPELINE_ARROW_BOOL:
    if ((st = pipeline_arrow_impl_reserve_bits(&c->values, c->length + 1)) != PIPELINE_OK) return st;
    pipeline_arrow_impl_put_bit(&c->values, c->length, false);
    break;
  case PIPELINE_ARROW_FIXED_FLOAT32:
    if ((st = pipeline_arrow_impl_reserve(&c->values, (size_t)c->width * 4)) != PIPELINE_OK) return st;
    c->values.len += (size_t)c->width * 4; /* zeros */
    break;
  default: /* 8-byte values */
    if ((st = pipeline_arrow_impl_reserve(&c->values, 8)) != PIPELINE_OK) return st;
    c->values.len += 8;
    break;
  }
  return pipeline_arrow_impl_end_row(c, false);
}

/* Appends `len` bytes of UTF-8 text (`s` may be NULL when len is 0). */
static inline pipeline_status pipeline_arrow_append_utf8(pipeline_arrow_builder *b, int64_t column,
                                                         const char *s, size_t len) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_status st;
  bool large;
  if (c == NULL || (c->type != PIPELINE_ARROW_UTF8 && c->type != PIPELINE_ARROW_LARGE_UTF8) ||
      (s == NULL && len > 0))
    return PIPELINE_INVALID_ARGUMENT;
  large = c->type == PIPELINE_ARROW_LARGE_UTF8;
  if (len > (size_t)(large ? INT64_MAX : INT32_MAX) - c->values.len) return PIPELINE_INVALID_ARGUMENT;
  if ((st = pipeline_arrow_impl_begin_row(c, true)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve_offsets(&c->offsets, large, 1)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve(&c->values, len)) != PIPELINE_OK)
    return st;
  (void)pipeline_arrow_impl_offsets_start(&c->offsets, large);
  if (len != 0) memcpy(c->values.data + c->values.len, s, len);
  c->values.len += len;
  pipeline_arrow_impl_put_offset(&c->offsets, large, (int64_t)c->values.len);
  return pipeline_arrow_impl_end_row(c, true);
}

/* Appends a NUL-terminated string. */
static inline pipeline_status pipeline_arrow_append_cstr(pipeline_arrow_builder *b, int64_t column,
                                                         const char *s) {
  if (s == NULL) return PIPELINE_INVALID_ARGUMENT;
  return pipeline_arrow_append_utf8(b, column, s, strlen(s));
}

static inline pipeline_status pipeline_arrow_impl_append8(pipeline_arrow_builder *b, int64_t column,
                                                          pipeline_arrow_type type, const void *v) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_status st;
  if (c == NULL || c->type != type) return PIPELINE_INVALID_ARGUMENT;
  if ((st = pipeline_arrow_impl_begin_row(c, true)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve(&c->values, 8)) != PIPELINE_OK)
    return st;
  memcpy(c->values.data + c->values.len, v, 8);
  c->values.len += 8;
  return pipeline_arrow_impl_end_row(c, true);
}

static inline pipeline_status pipeline_arrow_append_int64(pipeline_arrow_builder *b, int64_t column,
                                                          int64_t v) {
  return pipeline_arrow_impl_append8(b, column, PIPELINE_ARROW_INT64, &v);
}
static inline pipeline_status pipeline_arrow_append_uint64(pipeline_arrow_builder *b, int64_t column,
                                                           uint64_t v) {
  return pipeline_arrow_impl_append8(b, column, PIPELINE_ARROW_UINT64, &v);
}
static inline pipeline_status pipeline_arrow_append_float64(pipeline_arrow_builder *b,
                                                            int64_t column, double v) {
  return pipeline_arrow_impl_append8(b, column, PIPELINE_ARROW_FLOAT64, &v);
}

static inline pipeline_status pipeline_arrow_append_bool(pipeline_arrow_builder *b, int64_t column,
                                                         bool v) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_status st;
  if (c == NULL || c->type != PIPELINE_ARROW_BOOL) return PIPELINE_INVALID_ARGUMENT;
  if ((st = pipeline_arrow_impl_begin_row(c, true)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve_bits(&c->values, c->length + 1)) != PIPELINE_OK)
    return st;
  pipeline_arrow_impl_put_bit(&c->values, c->length, v);
  return pipeline_arrow_impl_end_row(c, true);
}

/* Appends one row of a fixed-size list: `n` must equal the column's N. */
static inline pipeline_status pipeline_arrow_append_float32s(pipeline_arrow_builder *b,
                                                             int64_t column, const float *v,
                                                             size_t n) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_status st;
  if (c == NULL || c->type != PIPELINE_ARROW_FIXED_FLOAT32 || v == NULL || n != (size_t)c->width)
    return PIPELINE_INVALID_ARGUMENT;
  if ((st = pipeline_arrow_impl_begin_row(c, true)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve(&c->values, n * 4)) != PIPELINE_OK)
    return st;
  memcpy(c->values.data + c->values.len, v, n * 4);
  c->values.len += n * 4;
  return pipeline_arrow_impl_end_row(c, true);
}

/* Internal: where the items of a list row come from. */
typedef struct pipeline_arrow_impl_src {
  const char *const *strs;           /* append_utf8_list: NULL is a null item */
  const size_t *lens;                /* NULL: items are NUL-terminated */
  const double *f64;                 /* append_float64_list */
  const pipeline_arrow_column *view; /* append_from: items view, first row */
  int64_t start;
} pipeline_arrow_impl_src;

/* Item i of a list row; false for a null item. */
static inline bool pipeline_arrow_impl_item(const pipeline_arrow_impl_src *src, bool text, size_t i,
                                            const char **s, size_t *len, double *v) {
  if (src->view != NULL) {
    int64_t row = src->start + (int64_t)i;
    if (!pipeline_arrow_is_valid(src->view, row)) return false;
    if (text) *s = pipeline_arrow_read_utf8(src->view, row, len);
    else *v = pipeline_arrow_read_float64(src->view, row);
    return true;
  }
  if (!text) {
    *v = src->f64[i];
    return true;
  }
  *s = src->strs[i];
  if (*s == NULL) return false;
  *len = src->lens != NULL ? src->lens[i] : strlen(*s);
  return true;
}

static inline pipeline_status pipeline_arrow_impl_append_list(pipeline_arrow_impl_col *c, size_t n,
                                                              const pipeline_arrow_impl_src *src) {
  bool text = c->type == PIPELINE_ARROW_LIST_UTF8, valid;
  size_t i, total = 0, nulls = 0, len = 0;
  const char *s = NULL;
  double v = 0.0;
  pipeline_status st;
  if (n > (size_t)INT32_MAX - (size_t)c->item_length) return PIPELINE_INVALID_ARGUMENT;
  for (i = 0; i < n; i++) {
    if (!pipeline_arrow_impl_item(src, text, i, &s, &len, &v)) nulls++;
    else if (text && len > (size_t)INT32_MAX - c->item_values.len - total)
      return PIPELINE_INVALID_ARGUMENT;
    else if (text) total += len;
  }
  if ((st = pipeline_arrow_impl_begin_row(c, true)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_reserve_offsets(&c->offsets, false, 1)) != PIPELINE_OK ||
      (text && (st = pipeline_arrow_impl_reserve_offsets(&c->item_offsets, false, n)) != PIPELINE_OK) ||
      (st = pipeline_arrow_impl_reserve(&c->item_values, text ? total : n * 8)) != PIPELINE_OK ||
      (st = pipeline_arrow_impl_validity_reserve(&c->item_validity, c->item_length, (int64_t)n,
                                                 nulls > 0)) != PIPELINE_OK)
    return st;
  (void)pipeline_arrow_impl_offsets_start(&c->offsets, false);
  if (text) (void)pipeline_arrow_impl_offsets_start(&c->item_offsets, false);
  for (i = 0; i < n; i++) {
    valid = pipeline_arrow_impl_item(src, text, i, &s, &len, &v);
    if (text) {
      if (valid && len != 0) memcpy(c->item_values.data + c->item_values.len, s, len);
      c->item_values.len += valid ? len : 0;
      pipeline_arrow_impl_put_offset(&c->item_offsets, false, (int64_t)c->item_values.len);
    } else {
      if (!valid) v = 0.0;
      memcpy(c->item_values.data + c->item_values.len, &v, 8);
      c->item_values.len += 8;
    }
    pipeline_arrow_impl_validity_put(&c->item_validity, c->item_length, valid);
    if (!valid) c->item_null_count++;
    c->item_length++;
  }
  pipeline_arrow_impl_put_offset(&c->offsets, false, c->item_length);
  return pipeline_arrow_impl_end_row(c, true);
}

/* Appends a list<utf8> row of `n` items. items[i] == NULL is a null item;
   `lens` may be NULL for NUL-terminated items. */
static inline pipeline_status pipeline_arrow_append_utf8_list(pipeline_arrow_builder *b,
                                                              int64_t column,
                                                              const char *const *items,
                                                              const size_t *lens, size_t n) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_arrow_impl_src src;
  if (c == NULL || c->type != PIPELINE_ARROW_LIST_UTF8 || (items == NULL && n > 0))
    return PIPELINE_INVALID_ARGUMENT;
  memset(&src, 0, sizeof src);
  src.strs = items;
  src.lens = lens;
  return pipeline_arrow_impl_append_list(c, n, &src);
}

/* Appends a list<float64> row of `n` values. */
static inline pipeline_status pipeline_arrow_append_float64_list(pipeline_arrow_builder *b,
                                                                 int64_t column,
                                                                 const double *values, size_t n) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_arrow_impl_src src;
  if (c == NULL || c->type != PIPELINE_ARROW_LIST_FLOAT64 || (values == NULL && n > 0))
    return PIPELINE_INVALID_ARGUMENT;
  memset(&src, 0, sizeof src);
  src.f64 = values;
  return pipeline_arrow_impl_append_list(c, n, &src);
}

/*
 * Appends row `row` of the input column `src` to builder column `column`.
 * The types must match (utf8 and large utf8 count as one; fixed-size lists
 * need the same N), else PIPELINE_INVALID_ARGUMENT. A null row goes in as
 * a null; PIPELINE_INVALID_DATA if the column is not nullable.
 */
static inline pipeline_status pipeline_arrow_append_from(pipeline_arrow_builder *b, int64_t column,
                                                         const pipeline_arrow_column *src,
                                                         int64_t row) {
  pipeline_arrow_impl_col *c = pipeline_arrow_impl_col_at(b, column);
  pipeline_arrow_column items;
  pipeline_arrow_impl_src from;
  const char *s;
  size_t len;
  int32_t width;
  const float *f;
  int64_t end;
  pipeline_status st;
  if (c == NULL || src == NULL || row < 0 || row >= src->length) return PIPELINE_INVALID_ARGUMENT;
  if (pipeline_arrow_is_string(src) ? (c->type != PIPELINE_ARROW_UTF8 &&
                                       c->type != PIPELINE_ARROW_LARGE_UTF8)
                                    : (c->type != src->type || c->width != src->width))
    return PIPELINE_INVALID_ARGUMENT;
  if (!pipeline_arrow_is_valid(src, row))
    return c->nullable ? pipeline_arrow_append_null(b, column) : PIPELINE_INVALID_DATA;
  switch (c->type) {
  case PIPELINE_ARROW_UTF8:
  case PIPELINE_ARROW_LARGE_UTF8:
    s = pipeline_arrow_read_utf8(src, row, &len);
    return pipeline_arrow_append_utf8(b, column, s, len);
  case PIPELINE_ARROW_INT64: return pipeline_arrow_append_int64(b, column, pipeline_arrow_read_int64(src, row));
  case PIPELINE_ARROW_UINT64: return pipeline_arrow_append_uint64(b, column, pipeline_arrow_read_uint64(src, row));
  case PIPELINE_ARROW_FLOAT64: return pipeline_arrow_append_float64(b, column, pipeline_arrow_read_float64(src, row));
  case PIPELINE_ARROW_BOOL: return pipeline_arrow_append_bool(b, column, pipeline_arrow_read_bool(src, row));
  case PIPELINE_ARROW_FIXED_FLOAT32:
    f = pipeline_arrow_read_float32s(src, row, &width);
    return pipeline_arrow_append_float32s(b, column, f, (size_t)width);
  case PIPELINE_ARROW_LIST_UTF8:
  case PIPELINE_ARROW_LIST_FLOAT64:
    if ((st = pipeline_arrow_list_items(src, &items)) != PIPELINE_OK) return st;
    memset(&from, 0, sizeof from);
    from.view = &items;
    pipeline_arrow_read_list_range(src, row, &from.start, &end);
    return pipeline_arrow_impl_append_list(c, (size_t)(end - from.start), &from);
  case PIPELINE_ARROW_UNSUPPORTED: break;
  }
  return PIPELINE_INVALID_ARGUMENT;
}

/* ---- Export: each node owns one block and is released on its own. ---- */

typedef struct pipeline_arrow_impl_array_priv {
  void *owned[3];
  const void *buffers[3];
} pipeline_arrow_impl_array_priv;

static inline void pipeline_arrow_impl_schema_release(struct ArrowSchema *s) {
  int64_t i;
  if (s == NULL || s->release == NULL) return;
  for (i = 0; i < s->n_children; i++)
    if (s->children[i]->release != NULL) s->children[i]->release(s->children[i]);
  PIPELINE_ARROW_FREE(s->private_data);
  s->release = NULL;
  s->private_data = NULL;
}

static inline void pipeline_arrow_impl_array_release(struct ArrowArray *a) {
  int64_t i;
  pipeline_arrow_impl_array_priv *p;
  if (a == NULL || a->release == NULL) return;
  for (i = 0; i < a->n_children; i++)
    if (a->children[i]->release != NULL) a->children[i]->release(a->children[i]);
  p = (pipeline_arrow_impl_array_priv *)a->private_data;
  for (i = 0; i < 3; i++) PIPELINE_ARROW_FREE(p->owned[i]);
  PIPELINE_ARROW_FREE(p);
  a->release = NULL;
  a->private_data = NULL;
}

/* Block: child pointers, child structs, format, name. */
static inline pipeline_status pipeline_arrow_impl_schema_node(struct ArrowSchema *out,
                                                              const char *format, const char *name,
                                                              int64_t flags, int64_t n) {
  size_t fl = strlen(format) + 1, nl = strlen(name) + 1;
  size_t head = (size_t)n * (sizeof(struct ArrowSchema *) + sizeof(struct ArrowSchema));
  char *block = (char *)PIPELINE_ARROW_MALLOC(head + fl + nl);
  struct ArrowSchema **ptrs = (struct ArrowSchema **)(void *)block;
  int64_t i;
  if (block == NULL) return PIPELINE_OUT_OF_MEMORY;
  memset(block, 0, head);
  for (i = 0; i < n; i++)
    ptrs[i] = (struct ArrowSchema *)(void *)(block + (size_t)n * sizeof *ptrs) + i;
  memcpy(block + head, format, fl);
  memcpy(block + head + fl, name, nl);
  memset(out, 0, sizeof *out);
  out->format = block + head;
  out->name = block + head + fl;
  out->flags = flags;
  out->n_children = n;
  out->children = n > 0 ? ptrs : NULL;
  out->release = pipeline_arrow_impl_schema_release;
  out->private_data = block;
  return PIPELINE_OK;
}

/* Block: priv, child pointers, child structs. Buffers are set later. */
static inline pipeline_status pipeline_arrow_impl_array_node(struct ArrowArray *out, int64_t length,
                                                             int64_t null_count, int64_t n_buffers,
                                                             int64_t n) {
  size_t head = sizeof(pipeline_arrow_impl_array_priv);
  size_t size = head + (size_t)n * (sizeof(struct ArrowArray *) + sizeof(struct ArrowArray));
  char *block = (char *)PIPELINE_ARROW_MALLOC(size);
  pipeline_arrow_impl_array_priv *p = (pipeline_arrow_impl_array_priv *)(void *)block;
  struct ArrowArray **ptrs = (struct ArrowArray **)(void *)(block + head);
  int64_t i;
  if (block == NULL) return PIPELINE_OUT_OF_MEMORY;
  memset(block, 0, size);
  for (i = 0; i < n; i++)
    ptrs[i] = (struct ArrowArray *)(void *)(block + head + (size_t)n * sizeof *ptrs) + i;
  memset(out, 0, sizeof *out);
  out->length = length;
  out->null_count = null_count;
  out->n_buffers = n_buffers;
  out->n_children = n;
  out->buffers = p->buffers;
  out->children = n > 0 ? ptrs : NULL;
  out->release = pipeline_arrow_impl_array_release;
  out->private_data = p;
  return PIPELINE_OK;
}

/* Makes sure a data buffer exists (importers expect non-NULL pointers). */
static inline pipeline_status pipeline_arrow_impl_nonempty(pipeline_arrow_impl_buf *b) {
  return b->data == NULL ? pipeline_arrow_impl_reserve(b, 1) : PIPELINE_OK;
}

static inline pipeline_status pipeline_arrow_impl_offsets_init(pipeline_arrow_impl_buf *b, bool large) {
  pipeline_status st = pipeline_arrow_impl_reserve_offsets(b, large, 0);
  if (st == PIPELINE_OK) (void)pipeline_arrow_impl_offsets_start(b, large);
  return st;
}

/* Phase 1 of finish for one column: every allocation that can fail. */
static inline pipeline_status pipeline_arrow_impl_export_prepare(pipeline_arrow_impl_col *c,
                                                                 struct ArrowSchema *s,
                                                                 struct ArrowArray *a) {
  bool list = c->type == PIPELINE_ARROW_LIST_UTF8 || c->type == PIPELINE_ARROW_LIST_FLOAT64;
  bool fixed = c->type == PIPELINE_ARROW_FIXED_FLOAT32;
  bool large = c->type == PIPELINE_ARROW_LARGE_UTF8;
  int64_t n_buffers = 2;
  pipeline_status st = PIPELINE_OK;
  if (c->type == PIPELINE_ARROW_UTF8 || large) {
    n_buffers = 3;
    st = pipeline_arrow_impl_offsets_init(&c->offsets, large);
  } else if (list) {
    st = pipeline_arrow_impl_offsets_init(&c->offsets, false);
    if (st == PIPELINE_OK && c->type == PIPELINE_ARROW_LIST_UTF8)
      st = pipeline_arrow_impl_offsets_init(&c->item_offsets, false);
  } else if (fixed) {
    n_buffers = 1;
  }
  if (st == PIPELINE_OK) st = pipeline_arrow_impl_nonempty(list ? &c->item_values : &c->values);
  if (st == PIPELINE_OK)
    st = pipeline_arrow_impl_schema_node(s, c->format, c->name,
                                         c->nullable ? ARROW_FLAG_NULLABLE : 0, list || fixed);
  if (st == PIPELINE_OK && (list || fixed))
    st = pipeline_arrow_impl_schema_node(s->children[0],
                                         fixed ? "f" : c->type == PIPELINE_ARROW_LIST_UTF8 ? "u" : "g",
                                         "item", fixed ? 0 : ARROW_FLAG_NULLABLE, 0);
  if (st == PIPELINE_OK)
    st = pipeline_arrow_impl_array_node(a, c->length, c->null_count, n_buffers, list || fixed);
  if (st == PIPELINE_OK && list)
    st = pipeline_arrow_impl_array_node(a->children[0], c->item_length, c->item_null_count,
                                        c->type == PIPELINE_ARROW_LIST_UTF8 ? 3 : 2, 0);
  if (st == PIPELINE_OK && fixed)
    st = pipeline_arrow_impl_array_node(a->children[0], c->length * c->width, 0, 2, 0);
  return st;
}

static inline void pipeline_arrow_impl_give(struct ArrowArray *a, int k, pipeline_arrow_impl_buf *b) {
  pipeline_arrow_impl_array_priv *p = (pipeline_arrow_impl_array_priv *)a->private_data;
  p->owned[k] = b->data;
  p->buffers[k] = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Phase 2: moves the buffers into the nodes. Cannot fail. */
static inline void pipeline_arrow_impl_export_move(pipeline_arrow_impl_col *c, struct ArrowArray *a) {
  pipeline_arrow_impl_give(a, 0, &c->validity);
  switch (c->type) {
  case PIPELINE_ARROW_UTF8:
  case PIPELINE_ARROW_LARGE_UTF8:
    pipeline_arrow_impl_give(a, 1, &c->offsets);
    pipeline_arrow_impl_give(a, 2, &c->values);
    break;
  case PIPELINE_ARROW_LIST_UTF8:
  case PIPELINE_ARROW_LIST_FLOAT64:
    pipeline_arrow_impl_give(a, 1, &c->offsets);
    pipeline_arrow_impl_give(a->children[0], 0, &c->item_validity);
    if (c->type == PIPELINE_ARROW_LIST_UTF8) {
      pipeline_arrow_impl_give(a->children[0], 1, &c->item_offsets);
      pipeline_arrow_impl_give(a->children[0], 2, &c->item_values);
    } else {
      pipeline_arrow_impl_give(a->children[0], 1, &c->item_values);
    }
    break;
  case PIPELINE_ARROW_FIXED_FLOAT32:
    pipeline_arrow_impl_give(a->children[0], 1, &c->values);
    break;
  default:
    pipeline_arrow_impl_give(a, 1, &c->values);
    break;
  }
  pipeline_arrow_impl_col_clear(c);
}

/*
 * Moves the rows into a new batch: a "+s" struct array with one child per
 * column, and its schema. The caller owns both and releases each once (for
 * a plugin: the host does, after `process` returns them). The builder keeps
 * its columns, with zero rows, ready for the next batch. On error nothing is
 * written to the outputs and the builder is unchanged: PIPELINE_INVALID_ARGUMENT
 * if the columns have different lengths, PIPELINE_OUT_OF_MEMORY if out of memory.
 */
static inline pipeline_status pipeline_arrow_builder_finish(pipeline_arrow_builder *b,
                                                            struct ArrowSchema *out_schema,
                                                            struct ArrowArray *out) {
  struct ArrowSchema s;
  struct ArrowArray a;
  int64_t i, length;
  pipeline_status st;
  if (b == NULL || out_schema == NULL || out == NULL) return PIPELINE_INVALID_ARGUMENT;
  length = pipeline_arrow_builder_length(b);
  for (i = 0; i < b->n_columns; i++)
    if (b->columns[i].length != length) return PIPELINE_INVALID_ARGUMENT;
  memset(&s, 0, sizeof s);
  memset(&a, 0, sizeof a);
  st = pipeline_arrow_impl_schema_node(&s, "+s", "", 0, b->n_columns);
  if (st == PIPELINE_OK) st = pipeline_arrow_impl_array_node(&a, length, 0, 1, b->n_columns);
  for (i = 0; st == PIPELINE_OK && i < b->n_columns; i++)
    st = pipeline_arrow_impl_export_prepare(&b->columns[i], s.children[i], a.children[i]);
  if (st != PIPELINE_OK) {
    pipeline_arrow_impl_schema_release(&s); /* both skip a node never made */
    pipeline_arrow_impl_array_release(&a);
    return st;
  }
  for (i = 0; i < b->n_columns; i++) pipeline_arrow_impl_export_move(&b->columns[i], a.children[i]);
  *out_schema = s;
  *out = a;
  return PIPELINE_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* PIPELINE_ARROW_H */
