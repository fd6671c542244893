#!/usr/bin/env bash
# Builds the libFuzzer harnesses of Tests/fuzz/<target>/ into .build/fuzz/bin
# (libFuzzer + AddressSanitizer), or with --coverage into .build/fuzz-cov/bin
# (libFuzzer + llvm source-based coverage, no ASan), with swiftc directly:
# SwiftPM has no fuzzer mode. Each library module the harnesses need
# (swift-log, PipelineArrow, the engine modules the yaml and llm targets reach, PluginKit,
# PluginJSONLines, PipelineRetry, the data, llm and hub
# plugins) is compiled once, instrumented, as a static library with
# -enable-testing, so a harness reaches internal parsers with @testable import.
#
#   Tests/fuzz/build.sh [--coverage] [target...]     (default: every target)
#
# Swift has no UndefinedBehaviorSanitizer; Swift's own overflow, bounds and
# unwrap checks trap (and libFuzzer reports the trap as a crash) in every
# build mode we use here (-O keeps them).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

MODE=fuzz
if [ "${1:-}" = --coverage ]; then MODE=cov; shift; fi
ALL_TARGETS="yaml jsonl csv npy score llm hub arrow template parquet"
TARGETS=${*:-$ALL_TARGETS}

SWIFTC=${SWIFTC:-swiftc}
if [ "$MODE" = fuzz ]; then
  OUT=$ROOT/.build/fuzz
  SAN=(-sanitize=fuzzer,address)
else
  OUT=$ROOT/.build/fuzz-cov
  SAN=(-sanitize=fuzzer -profile-generate -profile-coverage-mapping)
fi
LIB=$OUT/lib
BIN=$OUT/bin
mkdir -p "$LIB" "$BIN"

# The swift-log sources: SwiftPM's checkout (resolved on a clean clone).
LOGGING_SRC=$ROOT/.build/checkouts/swift-log/Sources/Logging
if [ ! -d "$LOGGING_SRC" ]; then
  swift package resolve
fi

# The toolchain's clang (the C modules get the same sanitizers as Swift).
FUZZ_CC=${FUZZ_CC:-$(dirname "$(command -v "$SWIFTC")")/clang}
if [ "$MODE" = fuzz ]; then CSAN=(-fsanitize=address,fuzzer-no-link); else CSAN=(); fi

# The C modules of Sources/, found as SwiftPM finds them: a system library
# (Sources/X/module.modulemap), or a C target (Sources/X/include, with its
# own module.modulemap or an umbrella one made here, and its .c files in
# libX.a).
CMODULES=()
CLIBS=()
mkdir -p "$OUT/modules"
for dir in "$ROOT"/Sources/*/; do
  dir=${dir%/}; name=$(basename "$dir")
  if [ -f "$dir/module.modulemap" ]; then
    CMODULES+=(-I "$dir")
  elif [ -d "$dir/include" ]; then
    if [ -f "$dir/include/module.modulemap" ]; then
      CMODULES+=(-I "$dir/include")
    else
      mkdir -p "$OUT/modules/$name"
      printf 'module %s {\n  umbrella "%s"\n  export *\n}\n' "$name" "$dir/include" > "$OUT/modules/$name/module.modulemap"
      CMODULES+=(-I "$OUT/modules/$name" -Xcc -I"$dir/include")
    fi
    sources=("$dir"/*.c)
    if [ -e "${sources[0]}" ]; then
      objects=()
      for c in "${sources[@]}"; do
        o=$LIB/$name-$(basename "$c" .c).o
        "$FUZZ_CC" -c -std=c11 -O1 -g -fPIC "${CSAN[@]}" -I "$dir/include" -o "$o" "$c"
        objects+=("$o")
      done
      rm -f "$LIB/lib$name.a"
      llvm-ar rcs "$LIB/lib$name.a" "${objects[@]}" 2>/dev/null || ar rcs "$LIB/lib$name.a" "${objects[@]}"
      CLIBS+=(-l"$name")
    fi
  fi
done
COMMON=(-swift-version 6 -O -g -parse-as-library -enable-testing
        -enable-upcoming-feature ExistentialAny
        "${SAN[@]}" "${CMODULES[@]}" -I "$LIB" -L "$LIB")

# module NAME SOURCES...: a static library libNAME.a plus NAME.swiftmodule,
# rebuilt when a source is newer than the library, or when a module built
# before it (which it may import) was rebuilt.
REBUILT=0
module() {
  local name=$1; shift
  local lib=$LIB/lib$name.a stale=$REBUILT f
  if [ -f "$lib" ]; then
    for f in "$@"; do [ "$f" -nt "$lib" ] && stale=1 && break; done
  else
    stale=1
  fi
  [ "$stale" = 0 ] && return 0
  echo "swiftc $name ($# files)"
  # Others may be editing the tree: swiftc refuses a file that changed
  # while it compiled, so try again (three times) before giving up.
  local attempt
  for attempt in 1 2 3; do
    if (cd "$LIB" && "$SWIFTC" "${COMMON[@]}" ${MODULE_FLAGS:-} -module-name "$name" -emit-library -static \
          -emit-module -emit-module-path "$LIB/$name.swiftmodule" -o "$lib" "$@" 2>"$LIB/$name.log"); then
      grep -v warning "$LIB/$name.log" | grep -A3 'error:' >&2 || true
      REBUILT=1   # the modules built after this one may depend on it
      return 0
    fi
    rm -f "$lib"
    grep -q 'was modified during the build' "$LIB/$name.log" || break
    echo "  (a source changed during the build; again)"
  done
  cat "$LIB/$name.log" >&2
  exit 1
}

need_core=0 need_data=0 need_llm=0 need_arrow=0 need_hub=0 need_template=0 need_parquet=0
for t in $TARGETS; do
  case $t in
    yaml|llm) need_core=1 ;;
    jsonl|csv|npy) need_data=1 ;;
    hub) need_hub=1 ;;
    score) need_llm=1 ;;
    arrow) need_arrow=1 ;;
    template) need_template=1 ;;
    parquet) need_parquet=1 ;;
    *) echo "unknown fuzz target: $t (known: $ALL_TARGETS)" >&2; exit 2 ;;
  esac
done

# The data plugin reads Parquet and the Hub (PluginParquet, PipelineRetry),
# the Hub plugin pushes Parquet and hashes files (PipelineHashing).
if [ $need_data = 1 ] || [ $need_hub = 1 ]; then need_parquet=1; fi
need_retry=0 need_hashing=0
if [ $need_data = 1 ] || [ $need_hub = 1 ] || [ $need_core = 1 ]; then need_retry=1; fi
if [ $need_hub = 1 ] || [ $need_core = 1 ]; then need_hashing=1; fi

# The C side of CPipelineABI (only its layout asserts; no symbols needed).
module PipelineArrow "$ROOT"/Sources/PipelineArrow/*.swift
[ $need_retry = 1 ] && module PipelineRetry "$ROOT"/Sources/PipelineRetry/*.swift
[ $need_hashing = 1 ] && module PipelineHashing "$ROOT"/Sources/PipelineHashing/*.swift
if [ $need_core = 1 ]; then
  MODULE_FLAGS="-package-name swift_log -suppress-warnings" module Logging $(find "$LOGGING_SRC" -name '*.swift' | sort)
  # The layers the yaml and llm targets reach (package symbols need one package name).
  for m in PipelineJSON PipelineBase PipelineSQLite PipelineLLMClient PipelineDefinition; do
    MODULE_FLAGS="-package-name pipeline" module $m $(find "$ROOT/Sources/$m" -name '*.swift' | sort)
  done
fi
# The template language (PluginKit's prompts import it, and PipelineJSON).
need_kit=0
if [ $need_data = 1 ] || [ $need_llm = 1 ] || [ $need_hub = 1 ] || [ $need_parquet = 1 ]; then need_kit=1; fi
if [ $need_kit = 1 ] || [ $need_template = 1 ]; then
  [ $need_core = 1 ] || MODULE_FLAGS="-package-name pipeline" module PipelineJSON $(find "$ROOT/Sources/PipelineJSON" -name '*.swift' | sort)
  MODULE_FLAGS="-package-name pipeline" module PipelineTemplate "$ROOT"/Sources/PipelineTemplate/*.swift
fi
if [ $need_kit = 1 ]; then
  module PluginKit "$ROOT"/Sources/PluginKit/*.swift
fi
if [ $need_data = 1 ] || [ $need_hub = 1 ]; then
  module PluginJSONLines "$ROOT"/Sources/PluginJSONLines/*.swift
fi
if [ $need_parquet = 1 ]; then
  module ParquetFormat "$ROOT"/Sources/ParquetFormat/*.swift
  module PluginParquet "$ROOT"/Sources/PluginParquet/*.swift
fi
[ $need_data = 1 ] && module PipelineData "$ROOT"/Plugins/data/*.swift
[ $need_hub = 1 ] && module PipelineHub "$ROOT"/Plugins/hub/*.swift
[ $need_llm = 1 ] && module PipelineLLM "$ROOT"/Plugins/llm/*.swift

for t in $TARGETS; do
  case $t in
    yaml|llm) libs=(-lPipelineDefinition -lPipelineLLMClient -lPipelineSQLite -lPipelineBase -lPipelineJSON -lPipelineRetry
                    -lPipelineHashing -lLogging -lPipelineArrow "${CLIBS[@]}" -lyaml -lsqlite3 -lcurl) ;;
    jsonl|csv|npy) libs=(-lPipelineData -lPluginJSONLines -lPluginParquet -lParquetFormat -lPipelineRetry -lPluginKit
                         -lPipelineTemplate -lPipelineJSON -lPipelineArrow "${CLIBS[@]}" -lsnappy -lzstd) ;;
    hub) libs=(-lPipelineHub -lPipelineRetry -lPipelineHashing -lPluginJSONLines -lPluginParquet -lParquetFormat -lPluginKit
               -lPipelineTemplate -lPipelineJSON -lPipelineArrow "${CLIBS[@]}" -lsnappy -lzstd) ;;
    score) libs=(-lPipelineLLM -lPluginKit -lPipelineTemplate -lPipelineJSON -lPipelineArrow "${CLIBS[@]}") ;;
    arrow) libs=(-lPipelineArrow "${CLIBS[@]}") ;;
    template) libs=(-lPipelineTemplate -lPipelineJSON) ;;
    parquet) libs=(-lPluginParquet -lParquetFormat -lPluginKit -lPipelineTemplate -lPipelineJSON -lPipelineArrow "${CLIBS[@]}" -lsnappy -lzstd) ;;
  esac
  sources=("$ROOT"/Tests/fuzz/$t/*.swift "$ROOT"/Tests/fuzz/common/*.swift)
  case $t in jsonl|csv|npy|hub|score|parquet) sources+=("$ROOT"/Tests/fuzz/common/plugin/*.swift) ;; esac
  case $t in jsonl|csv|npy|hub|score|arrow|parquet) sources+=("$ROOT"/Tests/fuzz/common/arrow/*.swift) ;; esac
  echo "swiftc $BIN/$t"
  # (gold's "Cannot export local symbol '__asan_…'" warnings are noise)
  (cd "$LIB" && "$SWIFTC" "${COMMON[@]}" -module-name "Fuzz_$t" -o "$BIN/$t" "${sources[@]}" "${libs[@]}" 2>&1) \
    | { grep -v "Cannot export local symbol '__asan" || true; }
  [ -x "$BIN/$t" ] || exit 1
done
