#!/usr/bin/env python3
"""Renders the template corpus (Tests/conformance/templates.json) with
Python's jinja2, set up as the pipeline's template language is documented:
StrictUndefined, keep_trailing_newline, no autoescape, plus the two tests
jinja2 lacks (`is matching(pattern)`: re.search; `is null`: is None).

Prints one JSON object: {"render": {name: {"ok": text} | {"error": why}},
"reject": {name: "rejected: why" | "accepted"}}. The Swift side
(Tests/PipelineTemplateTests/DifferentialTests.swift) compares it with its
own rendering byte for byte.
"""
import json
import re
import sys

from jinja2 import Environment, StrictUndefined


def environment():
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.tests["matching"] = lambda value, pattern: re.search(pattern, value) is not None
    env.tests["null"] = lambda value: value is None
    return env


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        corpus = json.load(f)
    env = environment()
    out = {"render": {}, "reject": {}}
    for case in corpus["render"]:
        try:
            text = env.from_string(case["template"]).render(**case.get("data", {}))
            out["render"][case["name"]] = {"ok": text}
        except Exception as e:  # noqa: BLE001 - any failure is reported
            out["render"][case["name"]] = {"error": f"{type(e).__name__}: {e}"}
    for case in corpus["reject"]:
        try:
            env.from_string(case["template"]).render(**case.get("data", {}))
            out["reject"][case["name"]] = "accepted"
        except Exception as e:  # noqa: BLE001
            out["reject"][case["name"]] = f"rejected: {type(e).__name__}: {e}"
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
