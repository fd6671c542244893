#!/usr/bin/env python3
"""Writes the quality_filter test sets, deterministically (no randomness):
good.jsonl, realistic good answers (code, markdown, math, short, non-English)
that the default rules must keep; junk.jsonl, answers each rule must reject,
with the rule expected in "expect". Usage: quality_answers.py OUT_DIR"""
import json
import os
import sys

TOPICS = [
    ("reverse a string", "reverse_string", "text", "text[::-1]", "the characters in reverse order"),
    ("count the vowels in a word", "count_vowels", "word", "sum(c in 'aeiou' for c in word.lower())", "how many vowels it has"),
    ("check whether a number is prime", "is_prime", "n", "n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))", "True when it has no divisor but 1 and itself"),
    ("compute the factorial of n", "factorial", "n", "1 if n < 2 else n * factorial(n - 1)", "the product 1 × 2 × … × n"),
    ("flatten a nested list", "flatten", "items", "[x for sub in items for x in sub]", "one list with every element"),
    ("remove duplicates while keeping order", "unique", "items", "list(dict.fromkeys(items))", "the first occurrence of each item"),
    ("find the largest element of a list", "largest", "values", "max(values)", "the greatest value"),
    ("sum the digits of an integer", "digit_sum", "n", "sum(int(d) for d in str(abs(n)))", "the sum of its decimal digits"),
    ("convert Celsius to Fahrenheit", "to_fahrenheit", "celsius", "celsius * 9 / 5 + 32", "the temperature in Fahrenheit"),
    ("check whether a string is a palindrome", "is_palindrome", "text", "text == text[::-1]", "True when it reads the same backwards"),
]


def python_answer(t):
    q, name, arg, expr, what = t
    return (f"Here is a short Python function to {q}:\n\n```python\ndef {name}({arg}):\n"
            f"    \"\"\"Return {what}.\"\"\"\n    return {expr}\n\n\nif __name__ == \"__main__\":\n"
            f"    print({name}(...))  # replace ... with your input\n```\n\n"
            f"The function takes `{arg}` and returns {what}. It runs in linear time in the size of the input, "
            f"and you can call it from any other module after importing it.")


def js_answer(t):
    q, name, arg, _, what = t
    camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    return (f"In JavaScript you can {q} like this:\n\n```javascript\n// Returns {what}.\nfunction {camel}({arg}) {{\n"
            f"  if ({arg} === undefined || {arg} === null) {{\n    throw new TypeError('{arg} is required');\n  }}\n"
            f"  // ...the work happens here\n  return {arg};\n}}\n\nmodule.exports = {{ {camel} }};\n```\n\n"
            f"Export the function so that tests can import it, and check the argument first so that a missing value "
            f"fails loudly instead of returning a wrong result.")


def rust_answer(t):
    q, name, arg, _, what = t
    return (f"A Rust version to {q}:\n\n```rust\n/// Returns {what}.\npub fn {name}({arg}: &str) -> String {{\n"
            f"    let mut out = String::new();\n    for c in {arg}.chars() {{\n        out.push(c);\n    }}\n    out\n}}\n\n"
            f"#[cfg(test)]\nmod tests {{\n    use super::*;\n\n    #[test]\n    fn works() {{\n"
            f"        assert_eq!({name}(\"\"), \"\");\n    }}\n}}\n```\n\n"
            f"The `#[cfg(test)]` module keeps the tests next to the code; run them with `cargo test`.")


def c_answer(t):
    q, name, arg, _, what = t
    return (f"Here is a C implementation to {q}.\n\n```c\n#include <stdio.h>\n#include <string.h>\n\n"
            f"/* Returns {what}. */\nint {name}(const char *{arg}) {{\n    int result = 0;\n"
            f"    for (size_t i = 0; i < strlen({arg}); i++) {{\n        result += 1;\n    }}\n    return result;\n}}\n\n"
            f"int main(void) {{\n    printf(\"%d\\n\", {name}(\"example\"));\n    return 0;\n}}\n```\n\n"
            f"Compile it with `cc -Wall -o {name} {name}.c` and run `./{name}`. The loop walks over each character once.")


def markdown_answer(t):
    q, name, arg, _, what = t
    return (f"## How to {q}\n\nThere are a few common approaches, each with its own trade-offs.\n\n"
            f"### 1. Use the standard library\n\nMost languages already have a helper for this. It is the shortest "
            f"and usually the fastest option, because the library version is well tested.\n\n"
            f"### 2. Write a loop\n\n- Start with an empty result.\n- Visit each element of `{arg}` in order.\n"
            f"- Update the result as you go.\n- Return the result at the end.\n\n"
            f"### 3. Use recursion\n\nRecursion is elegant for small inputs, but deep inputs can exhaust the stack.\n\n"
            f"| Approach | Speed | Readability |\n|---|---|---|\n| Library | fast | high |\n| Loop | fast | medium |\n"
            f"| Recursion | slower | high |\n\n**Recommendation:** prefer the library function, and write `{name}` "
            f"yourself only when you need {what} with a custom rule.")


def steps_answer(t):
    q, name, arg, _, what = t
    return (f"To {q}, follow these steps:\n\n1. Read the input `{arg}` and check that it is valid.\n"
            f"2. Decide how to represent the result before you start.\n3. Process the input one element at a time.\n"
            f"4. Keep track of the partial result in a variable.\n5. Return {what}.\n\n"
            f"For example, in Python:\n\n```python\nresult = {name}({arg})\nprint(result)\n```\n\n"
            f"Testing a few edge cases (an empty input, a single element, a very large input) is a good way to make "
            f"sure the function behaves as expected.")


def sql_answer(i):
    tables = ["orders", "customers", "invoices", "products", "employees", "payments", "shipments", "reviews", "tickets", "visits"]
    t = tables[i]
    return (f"You can get the ten most recent rows of `{t}` with a simple query:\n\n```sql\nSELECT *\nFROM {t}\n"
            f"WHERE created_at IS NOT NULL\nORDER BY created_at DESC\nLIMIT 10;\n```\n\n"
            f"If the table is large, add an index on `created_at` so that the database does not have to sort every "
            f"row:\n\n```sql\nCREATE INDEX idx_{t}_created_at ON {t} (created_at);\n```\n\n"
            f"With the index in place the query reads only the rows it returns.")


def bash_answer(i):
    exts = ["log", "txt", "csv", "json", "md", "py", "tmp", "bak", "yaml", "html"]
    e = exts[i]
    return (f"To find and delete every `.{e}` file older than 30 days, use `find`:\n\n```bash\n#!/usr/bin/env bash\n"
            f"set -euo pipefail\n\n# List them first, to check what will go.\nfind . -name '*.{e}' -mtime +30 -print\n\n"
            f"# Then delete them.\nfind . -name '*.{e}' -mtime +30 -delete\n```\n\n"
            f"Run the first command alone before the second one, so that you see exactly which files match.")


def math_answer(i):
    a, b = 3 + i, 4 + 2 * i
    s = a * a + b * b
    return (f"We use the Pythagorean theorem. For a right triangle with legs $a = {a}$ and $b = {b}$, the hypotenuse "
            f"$c$ satisfies\n\n$$c^2 = a^2 + b^2 = {a * a} + {b * b} = {s}.$$\n\n"
            f"Taking the square root of both sides gives $c = \\sqrt{{{s}}} \\approx {s ** 0.5:.3f}$.\n\n"
            f"So the length of the hypotenuse is $\\boxed{{{s ** 0.5:.3f}}}$.")


def short_answer(i):
    pairs = [("What is the capital of France?", "The capital of France is Paris."),
             ("What is 7 times 8?", "7 × 8 = 56."),
             ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet, probably around 1600."),
             ("How many days are in a leap year?", "A leap year has 366 days."),
             ("What is the boiling point of water at sea level?", "100 °C (212 °F)."),
             ("Translate 'thank you' into Spanish.", "\"Gracias\"."),
             ("What does CPU stand for?", "CPU stands for central processing unit."),
             ("Is 91 a prime number?", "No: 91 = 7 × 13."),
             ("What is the chemical symbol for gold?", "Au."),
             ("Name the largest planet in the solar system.", "Jupiter is the largest planet in the solar system.")]
    return pairs[i]


def json_answer(i):
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Margaret", "John", "Frances"]
    n = names[i]
    return (f"Here is the record as JSON:\n\n```json\n{{\n  \"name\": \"{n}\",\n  \"age\": {30 + i},\n"
            f"  \"skills\": [\"python\", \"sql\", \"go\"],\n  \"active\": true,\n  \"address\": {{\n"
            f"    \"city\": \"London\",\n    \"zip\": \"N1 9GU\"\n  }}\n}}\n```\n\n"
            f"Every key is a string, and nested objects keep related fields together.")


def french_answer(i):
    qs = [("Quelle est la capitale de l'Italie ?", "La capitale de l'Italie est Rome, une ville très ancienne qui est aussi le siège du Vatican."),
          ("Comment faire une omelette ?", "Il faut battre les œufs avec du sel, puis les verser dans une poêle chaude avec un peu de beurre et les cuire doucement."),
          ("Pourquoi le ciel est-il bleu ?", "Le ciel est bleu parce que la lumière bleue est plus diffusée par les molécules de l'air que la lumière rouge."),
          ("Qu'est-ce qu'un nombre premier ?", "Un nombre premier est un entier qui a exactement deux diviseurs : un et lui-même, comme 2, 3, 5 ou 7."),
          ("Combien de continents y a-t-il ?", "On compte en général sept continents, mais certains modèles en comptent cinq ou six selon les pays.")]
    return qs[i % len(qs)]


def german_answer(i):
    qs = [("Was ist die Hauptstadt von Deutschland?", "Die Hauptstadt von Deutschland ist Berlin, und sie ist auch die größte Stadt des Landes."),
          ("Wie funktioniert ein Kühlschrank?", "Ein Kühlschrank pumpt Wärme aus dem Innenraum nach außen, indem ein Kältemittel verdampft und wieder verdichtet wird."),
          ("Warum fallen die Blätter im Herbst?", "Die Bäume werfen die Blätter ab, weil sie im Winter nicht genug Wasser und Licht für die Blätter haben."),
          ("Was ist ein Algorithmus?", "Ein Algorithmus ist eine eindeutige Folge von Schritten, die ein Problem in endlich vielen Schritten löst."),
          ("Wie viele Tage hat eine Woche?", "Eine Woche hat sieben Tage, von Montag bis Sonntag.")]
    return qs[i % len(qs)]


def commented_python(i):
    lines = [f"# Step {k + 1}: handle case {k + 1} of the input" for k in range(6)]
    body = "\n".join(f"{line}\nvalue = transform(value, {k})" for k, line in enumerate(lines))
    return (f"Here is the full pipeline, commented line by line:\n\n```python\n# pipeline_{i}.py\n"
            f"# Transforms a value in six steps.\n\ndef run(value):\n{body}\n    return value\n```\n\nEach step is one call.")


def braces_c(i):
    blocks = "\n".join(f"    if (x == {k}) {{\n        return {k * i};\n    }}" for k in range(8))
    return (f"```c\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stdint.h>\n\n"
            f"int pick(int x) {{\n{blocks}\n    return -1;\n}}\n```\n\nA chain of `if` statements; a `switch` works too.")


def many_headings(i):
    notes = ["Install the tools.", "Create a project.", "Write the first test.", "Run it and watch it fail.",
             "Make it pass.", "Clean up the code."]
    parts = "\n\n".join(f"## Part {k + 1}\n\n{note}" for k, note in enumerate(notes))
    return f"# Guide {i}\n\n{parts}\n\nThat is all you need to know about it."


def translation(i):
    pairs = [("Translate into French: The weather is lovely today and we are going to the beach.",
              "Il fait très beau aujourd'hui et nous allons à la plage."),
             ("Answer in Spanish: what is the largest ocean on Earth?",
              "El océano más grande de la Tierra es el océano Pacífico, que cubre casi un tercio del planeta.")]
    return pairs[i % 2]


def good_rows():
    rows = []
    for i, t in enumerate(TOPICS):
        q = t[0]
        rows.append((f"Write a Python function to {q}.", python_answer(t)))
        rows.append((f"How do I {q} in JavaScript?", js_answer(t)))
        rows.append((f"Show me Rust code to {q}.", rust_answer(t)))
        rows.append((f"Write C code to {q}.", c_answer(t)))
        rows.append((f"What are the ways to {q}?", markdown_answer(t)))
        rows.append((f"Explain step by step how to {q}.", steps_answer(t)))
        rows.append(("How do I get the ten most recent rows of a table in SQL?", sql_answer(i)))
        rows.append(("How do I delete old files with a given extension on Linux?", bash_answer(i)))
        rows.append((f"A right triangle has legs {3 + i} and {4 + 2 * i}. How long is the hypotenuse?", math_answer(i)))
        rows.append(short_answer(i))
        rows.append(("Give me a sample person record as JSON.", json_answer(i)))
        rows.append(french_answer(i) if i % 2 == 0 else german_answer(i))
        rows.append(("Write a commented Python pipeline.", commented_python(i)))
        rows.append(("Write a C function that maps small integers.", braces_c(i)))
        rows.append(("Write a short guide with headings.", many_headings(i)))
        rows.append(translation(i))
    return rows


def junk_rows():
    base = "Write a Python function to reverse a string."
    good = python_answer(TOPICS[0])
    loop = "The answer is that we need to consider the following points carefully. " * 12
    return [
        {"prompt": base, "generation": good[:120], "finish_reason": "length", "expect": "finish_reason"},
        {"prompt": base, "generation": "I'm sorry, but I can't help with that request.", "expect": "refusal"},
        {"prompt": base, "generation": "As an AI language model, I do not write code for you.", "expect": "refusal"},
        {"prompt": "Why is the sky blue? Please explain the physics in simple words.",
         "generation": "Le ciel est bleu parce que la lumière bleue est plus diffusée par les molécules de l'air que la lumière rouge, et nous la voyons donc partout.",
         "expect": "language"},
        {"prompt": "Why is the sky blue? Please explain the physics in simple words.",
         "generation": "Небо голубое, потому что синий свет рассеивается в атмосфере сильнее, чем красный.", "expect": "language"},
        {"prompt": base, "generation": "<think>The user wants a function. Let me think about slicing and", "expect": "unclosed_think"},
        {"prompt": base, "generation": "Write a Python function to reverse a string.", "expect": "echo"},
        {"prompt": base, "generation": loop, "expect": "repeated_ngrams"},
        {"prompt": "Tell me about summer.", "generation": " ".join(["#summer #sun #beach #fun #holiday"] * 6), "expect": "symbol_word_ratio"},
        {"prompt": "List the steps.", "generation": "\n".join(["Buy the ingredients and bring them home today."] * 6 + ["Cook the dinner for the whole family tonight."] * 2),
         "expect": "duplicate_lines"},
        {"prompt": "Describe it.", "generation": " ".join(["supercalifragilisticexpialidocious antidisestablishmentarianism"] * 15), "expect": "mean_word_length"},
    ]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "good.jsonl"), "w", encoding="utf-8") as f:
        for i, (prompt, answer) in enumerate(good_rows()):
            f.write(json.dumps({"id": i, "prompt": prompt, "generation": answer, "finish_reason": "stop"}, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "junk.jsonl"), "w", encoding="utf-8") as f:
        for i, row in enumerate(junk_rows()):
            row = {"id": i, "finish_reason": "stop", **row}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
