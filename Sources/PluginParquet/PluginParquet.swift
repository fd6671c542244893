// Parquet files as record batches, for the steps that read and write them
// (load_parquet, write_parquet, load_from_hub, push_to_hub). ParquetFormat
// knows the file format; this module maps its schema and its levels to the
// Arrow types of the plugin ABI and back:
//
//   Arrow (ABI)                Parquet
//   bool                       BOOLEAN
//   int64                      INT64            (INT32 and INT(8/16/32) read as int64: widened, exact)
//   uint64                     INT64, INTEGER(64, unsigned)
//   float32 / float64          FLOAT / DOUBLE
//   utf8 / large_utf8          BYTE_ARRAY, STRING (UTF8)
//   list<T>                    3-level LIST group (list / element); legacy 2-level forms read too
//   fixed_size_list<T>[n]      written as a LIST (read back as list<T>)
//   struct<...>                group
//
// Every field is written OPTIONAL (nullable), as pyarrow writes a nullable
// Arrow field. A Parquet type with no row above (INT96, decimals,
// timestamps, binary without STRING, maps) is refused by name and column.
