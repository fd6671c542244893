#!/usr/bin/env python3
"""Checks JSON-lines training files against TRL's dataset formats.

usage: check_trl_format.py FORMAT FILE...   (FORMAT: sft, dpo, prompt_completion)

The rules are TRL's (docs/source/dataset_formats.md, trl/data_utils.py;
../shared/research/distill.md section 2.3), checked without importing trl:

  sft                conversational language modelling: `messages` is a non-empty list of
                     {role, content} (strings; role system, user or assistant), a system turn
                     only first, at least one user turn, the last turn the assistant's; no
                     `prompt`, `completion` or `text` key (SFTTrainer sends a row with `prompt`
                     to its prompt-completion branch).
  dpo                preference with an explicit prompt, conversational: `prompt` turns ending
                     with a user turn; `chosen` and `rejected` lists of assistant turns only
                     (not the conversation again); chosen != rejected.
  prompt_completion  `prompt` and `completion` both non-empty strings, or both conversational
                     (prompt ending with a user turn, completion assistant-only); no `messages`.

Prints one line per bad row (file:line: problems) and a summary; exits 1 if any row is bad.
"""
import json
import sys

ROLES = {"system", "user", "assistant"}


def turns(row, key, problems):
    value = row.get(key)
    if not isinstance(value, list) or not value:
        problems.append(f"{key} is not a non-empty list")
        return None
    for index, turn in enumerate(value):
        if not isinstance(turn, dict) or set(turn) != {"role", "content"}:
            problems.append(f"{key}[{index}] is not exactly {{role, content}}")
            continue
        if turn["role"] not in ROLES:
            problems.append(f"{key}[{index}] has role {turn['role']!r}")
        if not isinstance(turn["content"], str) or not turn["content"]:
            problems.append(f"{key}[{index}] content is not a non-empty string")
    if any(isinstance(t, dict) and t.get("role") == "system" for t in value[1:]):
        problems.append(f"{key}: a system turn after the first")
    return [t for t in value if isinstance(t, dict)]


def check(row, fmt):
    problems = []
    if not isinstance(row, dict):
        return ["not a JSON object"]
    if fmt == "sft":
        for key in ("prompt", "completion", "text"):
            if key in row:
                problems.append(f"an SFT row with {key!r} goes down another branch of SFTTrainer")
        messages = turns(row, "messages", problems)
        if messages:
            if messages[-1].get("role") != "assistant":
                problems.append("messages does not end with an assistant turn")
            if not any(t.get("role") == "user" for t in messages):
                problems.append("messages has no user turn")
    elif fmt == "dpo":
        prompt = turns(row, "prompt", problems)
        if prompt and prompt[-1].get("role") != "user":
            problems.append("prompt does not end with a user turn")
        for key in ("chosen", "rejected"):
            answer = turns(row, key, problems)
            if answer and any(t.get("role") != "assistant" for t in answer):
                problems.append(f"{key} holds a turn that is not the assistant's")
        if row.get("chosen") == row.get("rejected"):
            problems.append("chosen equals rejected")
    elif fmt == "prompt_completion":
        if "messages" in row:
            problems.append("a messages key beside prompt/completion")
        prompt, completion = row.get("prompt"), row.get("completion")
        if isinstance(prompt, str) or isinstance(completion, str):
            if not (isinstance(prompt, str) and prompt and isinstance(completion, str) and completion):
                problems.append("prompt and completion must both be non-empty strings")
        else:
            p = turns(row, "prompt", problems)
            c = turns(row, "completion", problems)
            if p and p[-1].get("role") != "user":
                problems.append("prompt does not end with a user turn")
            if c and any(t.get("role") != "assistant" for t in c):
                problems.append("completion holds a turn that is not the assistant's")
    else:
        raise SystemExit(f"unknown format {fmt!r}: sft, dpo or prompt_completion")
    return problems


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    fmt, bad, total = argv[1], 0, 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                total += 1
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    problems = [f"not JSON: {error}"]
                else:
                    problems = check(row, fmt)
                if problems:
                    bad += 1
                    print(f"{path}:{number}: " + "; ".join(problems))
    print(f"{total} rows, {bad} bad ({fmt})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
