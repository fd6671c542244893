#!/usr/bin/env python3
"""Writes the test-only "next" ABI header: today's pipeline_plugin.h with
one field appended to every growable structure (before each "APPEND ONLY"
marker) and PIPELINE_ABI_MINOR one higher. Frozen structures have no
marker and do not change. Layout assertions on the sizes that grew are
dropped; every offset assertion stays, so the old fields must not move.

    make-next-header.py SOURCE_INCLUDE_DIR OUT_DIR
"""
import re
import shutil
import sys
from pathlib import Path

source, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name in ("pipeline_arrow_c.h", "pipeline_arrow.h"):
    shutil.copy(source / name, out / name)
text = (source / "pipeline_plugin.h").read_text()

marker = "  /* APPEND ONLY below this line. */\n"
grown = text.count(marker)
if grown < 7:
    sys.exit(f"expected an APPEND ONLY marker in every growable struct, found {grown}")
text = text.replace(marker, marker + "  uint64_t next_release_field; /* test-only: what a later release appends */\n")

match = re.search(r"#define PIPELINE_ABI_MINOR (\d+)", text)
if match is None:
    sys.exit("no PIPELINE_ABI_MINOR in the header")
minor = int(match.group(1))
text = text.replace(match.group(0), f"#define PIPELINE_ABI_MINOR {minor + 1} /* test-only next release */", 1)

kept = []
for line in text.splitlines(keepends=True):
    size = re.match(r"PIPELINE_STATIC_ASSERT\(sizeof\((pipeline_\w+)\) ==", line)
    if size and size.group(1) not in ("pipeline_llm_request", "pipeline_llm_response",
                                      "pipeline_http_request", "pipeline_http_response"):
        continue
    kept.append(line)
(out / "pipeline_plugin.h").write_text("".join(kept))
print(f"next header: ABI 1.{minor + 1}, {grown} structures grown -> {out}")
