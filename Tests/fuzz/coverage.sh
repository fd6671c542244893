#!/usr/bin/env bash
# Line coverage of each fuzz target's parser files: builds the targets with
# llvm source-based coverage (Tests/fuzz/build.sh --coverage, no ASan),
# replays the seeds, the regressions and the corpus grown by earlier runs
# (.build/fuzz/corpus/<target>) once (-runs=0), and prints lines covered per
# file with llvm-profdata/llvm-cov from the Swift toolchain.
#
#   Tests/fuzz/coverage.sh [target...]       (default: every target)
#
# A file may be narrowed to one declaration (FILE::REGEX: from the line that
# matches REGEX to the closing brace at its indentation), for files that
# hold more than the parser (LLMClient.swift holds the whole HTTP client).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGETS=${*:-yaml jsonl csv npy score llm hub arrow template parquet}
TOOLS=$(dirname "$(command -v swiftc)")
OUT=$ROOT/.build/fuzz-cov

files_of() {
  case $1 in
    yaml) printf '%s\n' Sources/PipelineDefinition/YAMLNode.swift Sources/PipelineDefinition/PipelineFile.swift \
            Sources/PipelineDefinition/SchemaValidator.swift Sources/PipelineDefinition/SourceMap.swift ;;
    jsonl) printf '%s\n' Plugins/data/JSONScanner.swift Plugins/data/JSONRows.swift Plugins/data/TextScanning.swift \
             Plugins/data/LoadJSONL.swift Plugins/data/FileInput.swift ;;
    csv) printf '%s\n' Plugins/data/LoadCSV.swift Plugins/data/TextScanning.swift ;;
    npy) printf '%s\n' Plugins/data/NPY.swift ;;
    score) printf '%s\n' Plugins/llm/ScoreParsing.swift ;;
    llm) printf '%s\n' "Sources/PipelineLLMClient/LLMClient.swift::static func parseChat" \
           "Sources/PipelineLLMClient/LLMClient.swift::static func parseEmbeddings" \
           "Sources/PipelineLLMClient/LLMClient.swift::static func errorMessage" \
           "Sources/PipelineLLMClient/LLMIOLog.swift::^struct EmbeddingsReader" \
           Sources/PipelineJSON/JSONValue.swift Sources/PipelineJSON/JSONNumber.swift ;;
    hub) printf '%s\n' Plugins/hub/HubClient.swift Sources/PipelineRetry/RetryAfter.swift Sources/PipelineRetry/RetryPolicy.swift ;;
    arrow) printf '%s\n' Sources/PipelineArrow/ArrowImport.swift "Sources/PipelineArrow/ArrowType.swift::static func parse" ;;
    template) printf '%s\n' Sources/PipelineTemplate/Lexer.swift Sources/PipelineTemplate/Parser.swift \
                Sources/PipelineTemplate/Template.swift Sources/PipelineTemplate/Evaluator.swift \
                Sources/PipelineTemplate/Operations.swift Sources/PipelineTemplate/Builtins.swift \
                Sources/PipelineTemplate/Regex.swift Sources/PipelineTemplate/Value.swift ;;
    parquet) printf '%s\n' Sources/ParquetFormat/ThriftCompactReader.swift Sources/ParquetFormat/MetadataDecoding.swift \
               Sources/ParquetFormat/RLEHybridDecoder.swift Sources/ParquetFormat/ValueDecoding.swift \
               Sources/ParquetFormat/FileReader.swift Sources/ParquetFormat/ColumnChunkReader.swift \
               Sources/ParquetFormat/PageDecoding.swift Sources/ParquetFormat/Varint.swift \
               Sources/PluginParquet/ParquetToArrow.swift Sources/PluginParquet/ParquetBatchReader.swift ;;
  esac
}

Tests/fuzz/build.sh --coverage $TARGETS || exit 1
export SWIFT_BACKTRACE=enable=no
mkdir -p "$OUT/profiles"
for t in $TARGETS; do
  rm -f "$OUT/profiles/$t".*
  inputs=("$ROOT/Tests/fuzz/$t/seeds")
  [ -d "$ROOT/Tests/fuzz/$t/regressions" ] && inputs+=("$ROOT/Tests/fuzz/$t/regressions")
  [ -d "$ROOT/.build/fuzz/corpus/$t" ] && inputs+=("$ROOT/.build/fuzz/corpus/$t")
  LLVM_PROFILE_FILE="$OUT/profiles/$t.%p.profraw" "$OUT/bin/$t" -runs=0 -max_len=1000000 \
    "${inputs[@]}" > "$OUT/profiles/$t.log" 2>&1 || echo "$t: replay failed (see $OUT/profiles/$t.log)"
  "$TOOLS/llvm-profdata" merge -sparse "$OUT/profiles/$t".*.profraw -o "$OUT/profiles/$t.profdata"
  "$TOOLS/llvm-cov" export -format=lcov "$OUT/bin/$t" -instr-profile="$OUT/profiles/$t.profdata" \
    > "$OUT/profiles/$t.lcov" 2>/dev/null
  echo "== $t ($(grep -c . <(ls "${inputs[@]}" 2>/dev/null)) inputs replayed)"
  mapfile -t specs < <(files_of "$t")
  python3 - "$ROOT" "$OUT/profiles/$t.lcov" "${specs[@]}" <<'PY'
import re, sys
root, lcov, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
hits = {}
current = None
for line in open(lcov):
    line = line.rstrip("\n")
    if line.startswith("SF:"):
        current = hits.setdefault(line[3:], {})
    elif line.startswith("DA:") and current is not None:
        n, count = line[3:].split(",")[:2]
        current[int(n)] = current.get(int(n), 0) + int(count)
total_cov = total_all = 0
for spec in specs:
    path, _, pattern = spec.partition("::")
    lines = hits.get(f"{root}/{path}", {})
    if pattern:
        text = open(f"{root}/{path}").read().split("\n")
        start = next((i for i, l in enumerate(text) if re.search(pattern, l)), None)
        if start is None:
            print(f"  {spec}: not found"); continue
        indent = len(text[start]) - len(text[start].lstrip())
        end = next(i for i in range(start + 1, len(text)) if text[i].startswith(" " * indent + "}") and len(text[i]) - len(text[i].lstrip()) == indent)
        lines = {n: c for n, c in lines.items() if start + 1 <= n <= end + 1}
    covered = sum(1 for c in lines.values() if c > 0)
    total_cov += covered; total_all += len(lines)
    pct = 100.0 * covered / len(lines) if lines else 0.0
    print(f"  {spec:72s} {covered:5d} / {len(lines):5d}  {pct:5.1f}%")
if total_all:
    print(f"  {'total':72s} {total_cov:5d} / {total_all:5d}  {100.0 * total_cov / total_all:5.1f}%")
PY
done
