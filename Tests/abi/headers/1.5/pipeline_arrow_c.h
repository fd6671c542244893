/*
 * pipeline_arrow_c.h: the Arrow C Data Interface structures.
 *
 * Written for this project from the Apache Arrow specification
 * ("The Arrow C data interface", docs/source/format/CDataInterface.rst).
 * The specification freezes these two structures: their layout never
 * changes, which is why the plugin ABI can carry them. The include guard is
 * the one the specification prescribes, so a plugin that also includes
 * nanoarrow, arrow-glib or Arrow C++'s abi.h sees one definition only.
 *
 * Ownership in one paragraph: the consumer allocates the base structure, the
 * producer fills it and owns everything it points to. The consumer calls
 * `release` exactly once when done; `release` frees the producer's memory
 * and sets `release` to NULL. A structure whose `release` is NULL is
 * "released" and must not be read. Moving a structure is a bitwise copy
 * followed by setting the source's `release` to NULL.
 */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

/* Describes the type of an array: a format string plus children. */
struct ArrowSchema {
  const char *format;        /* e.g. "u" utf8, "l" int64, "+s" struct */
  const char *name;          /* field name, may be NULL */
  const char *metadata;      /* binary key/value encoding, may be NULL */
  int64_t flags;             /* ARROW_FLAG_* */
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

/* The data of an array: buffers, children, a logical offset and length. */
struct ArrowArray {
  int64_t length;
  int64_t null_count;        /* -1 when not computed */
  int64_t offset;            /* logical offset into every buffer, in slots */
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;      /* buffer 0 is the validity bitmap (may be NULL) */
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#ifdef __cplusplus
}
#endif

#endif /* ARROW_C_DATA_INTERFACE */
