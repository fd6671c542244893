//! The Rust declarations against the C header itself.
//!
//! Reads `pipeline_plugin.h` and `pipeline_arrow_c.h`, generates a C
//! program that prints the offset and size of every field of every
//! structure they define, the size of each structure and the value of every
//! constant, compiles it with `cc` (or `$CC`), runs it, and compares each
//! line with what this crate declares. A field the header gained (an ABI
//! minor appending to `pipeline_host` or a service table) and this crate
//! lacks, a constant that changed, a moved field: each fails here, naming it.
//!
//! The headers are looked for in `$PIPELINE_INCLUDE_DIR`, then in the
//! source tree (`Sources/CPipelineABI/include`), then in an install prefix
//! (`<prefix>/include/pipeline`, this crate being installed in
//! `<prefix>/share/pipeline/rust/pipeline-sdk`).

use pipeline_sdk::ffi::*;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (struct, field) -> (offset, size); struct -> size; constant -> value.
#[derive(Default, Debug, PartialEq)]
struct Layout {
    fields: BTreeMap<(String, String), (usize, usize)>,
    sizes: BTreeMap<String, usize>,
    constants: BTreeMap<String, String>,
}

fn field_size<T>(_: *const T) -> usize {
    size_of::<T>()
}

macro_rules! record {
    ($layout:ident, $ty:ident { $($field:ident),* $(,)? }) => {{
        $layout.sizes.insert(stringify!($ty).to_string(), size_of::<$ty>());
        $(
            let size = field_size(unsafe {
                std::ptr::addr_of!((*std::mem::MaybeUninit::<$ty>::uninit().as_ptr()).$field)
            });
            $layout.fields.insert(
                (stringify!($ty).to_string(), stringify!($field).to_string()),
                (offset_of!($ty, $field), size),
            );
        )*
    }};
}

macro_rules! constants {
    ($layout:ident, ints: [$($int:ident),* $(,)?], strings: [$($string:ident),* $(,)?]) => {{
        $( $layout.constants.insert(stringify!($int).to_string(), ($int as i128).to_string()); )*
        $( $layout.constants.insert(stringify!($string).to_string(), str_of($string)); )*
    }};
}

fn str_of(c: &CStr) -> String {
    format!("\"{}\"", c.to_str().unwrap())
}

/// What this crate declares.
fn rust_layout() -> Layout {
    let mut l = Layout::default();
    record!(l, ArrowSchema { format, name, metadata, flags, n_children, children, dictionary, release, private_data });
    record!(l, ArrowArray {
        length, null_count, offset, n_buffers, n_children, buffers, children, dictionary, release, private_data
    });
    record!(l, pipeline_host {
        struct_size, abi_major, abi_minor, host_version, log, set_error, is_cancelled, get_extension, log_plugin, refuse
    });
    record!(l, pipeline_step_desc {
        struct_size, kind, flags, id, name, version, description, inputs_json, outputs_json, params_schema_json,
        create, process, finish, interrupt, destroy
    });
    record!(l, pipeline_plugin { struct_size, abi_major, abi_minor, name, version, description, step_count, steps });
    record!(l, pipeline_params_ext {
        struct_size, get_string, get_int64, get_double, get_bool, get_string_count, get_string_at
    });
    record!(l, pipeline_llm_request { struct_size, prompt, system, messages_json, options_json, generation });
    record!(l, pipeline_llm_response {
        struct_size, status, text, error, finish_reason, model, prompt_tokens, completion_tokens, cached
    });
    record!(l, pipeline_llm_answer { struct_size, response, reasoning });
    record!(l, pipeline_llm_ext {
        struct_size, complete, release, submit, embed, embed_with_errors, complete_answers, release_answers,
        submit_answer, complete_answers_for_rows, submit_answer_for_row
    });
    record!(l, pipeline_http_request {
        struct_size, method, url, headers, header_count, body, body_len, timeout_seconds
    });
    record!(l, pipeline_http_response {
        struct_size, status, http_status, reserved, headers, body, body_len, error, host_private
    });
    record!(l, pipeline_http_ext { struct_size, perform, release, perform_authenticated });
    record!(l, pipeline_run_ext {
        struct_size, state_get, state_put, release_value, run_id, pipeline_name, pipeline_text, input_index,
        input_count, input_name, expect_rows
    });
    constants!(l,
        ints: [
            PIPELINE_ABI_MAJOR, PIPELINE_ABI_MINOR,
            PIPELINE_OK, PIPELINE_INVALID_ARGUMENT, PIPELINE_INVALID_DATA, PIPELINE_IO, PIPELINE_CANCELLED,
            PIPELINE_TIMEOUT, PIPELINE_RETRYABLE, PIPELINE_INTERNAL, PIPELINE_NOT_IMPLEMENTED,
            PIPELINE_OUT_OF_MEMORY,
            PIPELINE_LOG_TRACE, PIPELINE_LOG_DEBUG, PIPELINE_LOG_INFO, PIPELINE_LOG_WARNING, PIPELINE_LOG_ERROR,
            PIPELINE_STEP_KIND_GENERATOR, PIPELINE_STEP_KIND_STEP, PIPELINE_STEP_KIND_GLOBAL,
            PIPELINE_STEP_REENTRANT, PIPELINE_STEP_DETERMINISTIC, PIPELINE_STEP_USES_LLM, PIPELINE_STEP_STATEFUL,
            PIPELINE_STEP_FILTERS, PIPELINE_STEP_USES_CREDENTIAL, PIPELINE_STEP_CREDENTIAL_OPTIONAL,
            PIPELINE_HOST_SIZE_1_0, PIPELINE_HOST_SIZE_1_3, PIPELINE_STEP_DESC_SIZE_1_0, PIPELINE_PLUGIN_SIZE_1_0,
            PIPELINE_PARAMS_EXT_SIZE_1_0, PIPELINE_LLM_EXT_SIZE_1_0, PIPELINE_LLM_EXT_SIZE_1_2,
            PIPELINE_LLM_EXT_SIZE_1_4, PIPELINE_LLM_ANSWER_SIZE_1_4, PIPELINE_RUN_EXT_SIZE_1_4,
            PIPELINE_LLM_EXT_SIZE_1_5, PIPELINE_RUN_EXT_SIZE_1_5,
            PIPELINE_HTTP_EXT_SIZE_1_1, PIPELINE_HTTP_EXT_SIZE_1_3, PIPELINE_RUN_EXT_SIZE_1_1, PIPELINE_LLM_REQUEST_SIZE,
            PIPELINE_LLM_RESPONSE_SIZE, PIPELINE_HTTP_REQUEST_SIZE, PIPELINE_HTTP_RESPONSE_SIZE,
            ARROW_FLAG_DICTIONARY_ORDERED, ARROW_FLAG_NULLABLE, ARROW_FLAG_MAP_KEYS_SORTED,
        ],
        strings: [
            PIPELINE_PLUGIN_ENTRY_SYMBOL, PIPELINE_EXT_PARAMS, PIPELINE_EXT_LLM, PIPELINE_EXT_HTTP, PIPELINE_EXT_RUN,
        ]
    );
    l
}

// ---------------------------------------------------------------------------
// The header, read as text
// ---------------------------------------------------------------------------

fn include_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PIPELINE_INCLUDE_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../../Sources/CPipelineABI/include"),
        manifest.join("../../../../include/pipeline"),
    ];
    for dir in &candidates {
        if dir.join("pipeline_plugin.h").is_file() {
            return dir.clone();
        }
    }
    panic!(
        "pipeline_plugin.h is in none of {candidates:?}: set PIPELINE_INCLUDE_DIR to the directory of the installed \
         headers (<prefix>/include/pipeline)"
    );
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.map_or(true, |l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b + 2..].find("*/").expect("an unterminated comment") + b + 4;
                out.push(' ');
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (None, None) => {
                out.push_str(rest);
                return out;
            }
            _ => unreachable!(),
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The name a member declaration declares: `(*name)(...)` for a function
/// pointer, else its last identifier.
fn member_name(declaration: &str) -> Option<String> {
    let d = declaration.trim();
    if d.is_empty() {
        return None;
    }
    if let Some(star) = d.find("(*") {
        let rest = &d[star + 2..];
        let end = rest.find(|c: char| !is_ident(c) && !c.is_whitespace()).unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    }
    let end = d.trim_end_matches(|c: char| !is_ident(c));
    let start = end.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
    Some(end[start..].to_string())
}

/// Every `struct NAME { ... }` of the text: (C type to use in offsetof, name, members).
fn structures(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("struct ") {
        let start = at + i;
        at = start + 7;
        if start > 0 && is_ident(text[..start].chars().last().unwrap()) {
            continue;
        }
        let after = &text[start + 7..];
        let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        let Some(brace) = after[name_len..].trim_start().strip_prefix('{') else { continue };
        let body_end = brace.find('}').expect("an unterminated struct");
        let members = brace[..body_end].split(';').filter_map(member_name).collect();
        let typedef = text[..start].trim_end().ends_with("typedef");
        let c_type = if typedef { name.to_string() } else { format!("struct {name}") };
        found.push((c_type, name.to_string(), members));
        at = start + 7 + name_len;
    }
    found
}

/// `#define NAME value` with a numeric or string value, and the members of
/// every enum: (name, is_string).
fn constants(text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("#define ") else { continue };
        let rest = rest.trim();
        let name_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if rest[name_len..].starts_with('(') {
            continue; // a function-like macro
        }
        let (name, value) = (&rest[..name_len], rest[name_len..].trim());
        if value.starts_with('"') {
            found.push((name.to_string(), true));
        } else if value.starts_with(|c: char| c.is_ascii_digit()) {
            found.push((name.to_string(), false));
        }
    }
    let mut at = 0;
    while let Some(i) = text[at..].find("enum") {
        let start = at + i;
        at = start + 4;
        if let Some(body) = text[at..].trim_start().strip_prefix('{') {
            let end = body.find('}').expect("an unterminated enum");
            for item in body[..end].split(',') {
                let name = item.split('=').next().unwrap().trim();
                if !name.is_empty() {
                    found.push((name.to_string(), false));
                }
            }
        }
    }
    found
}

fn header_layout() -> Layout {
    let dir = include_dir();
    let mut text = String::new();
    for header in ["pipeline_arrow_c.h", "pipeline_plugin.h"] {
        let path = dir.join(header);
        text += &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.push('\n');
    }
    let text = strip_comments(&text);

    let mut program = String::from("#include <stdio.h>\n#include \"pipeline_plugin.h\"\nint main(void) {\n");
    for (c_type, name, members) in structures(&text) {
        program += &format!("  printf(\"size {name} %zu\\n\", sizeof({c_type}));\n");
        for m in members {
            program += &format!(
                "  printf(\"field {name} {m} %zu %zu\\n\", offsetof({c_type}, {m}), sizeof((({c_type} *)0)->{m}));\n"
            );
        }
    }
    for (name, is_string) in constants(&text) {
        if is_string {
            program += &format!("  printf(\"const {name} \\\"%s\\\"\\n\", {name});\n");
        } else {
            program += &format!("  printf(\"const {name} %lld\\n\", (long long)({name}));\n");
        }
    }
    program += "  return 0;\n}\n";

    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("header_layout");
    std::fs::create_dir_all(&work).unwrap();
    let source = work.join("layout.c");
    let binary = work.join("layout");
    std::fs::write(&source, &program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&binary)
        .arg("-I")
        .arg(&dir)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e} (a C compiler is needed to read the header's layout)"));
    assert!(
        built.status.success(),
        "{cc} failed on the program generated from {}:\n{}\n{program}",
        dir.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    assert!(run.status.success());
    let mut l = Layout::default();
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        match parts[0] {
            "size" => {
                l.sizes.insert(parts[1].to_string(), parts[2].parse().unwrap());
            }
            "field" => {
                let v: Vec<&str> = parts[2].split(' ').collect();
                l.fields.insert((parts[1].to_string(), v[0].to_string()), (v[1].parse().unwrap(), v[2].parse().unwrap()));
            }
            "const" => {
                l.constants.insert(parts[1].to_string(), parts[2].to_string());
            }
            _ => panic!("unexpected line {line}"),
        }
    }
    l
}

fn compare<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    what: &str,
    header: &BTreeMap<K, V>,
    rust: &BTreeMap<K, V>,
    problems: &mut Vec<String>,
) {
    for (k, v) in header {
        match rust.get(k) {
            None => problems.push(format!("{what} {k:?}: in the header ({v:?}), not in the crate")),
            Some(r) if r != v => problems.push(format!("{what} {k:?}: header {v:?}, crate {r:?}")),
            _ => {}
        }
    }
    for k in rust.keys().filter(|k| !header.contains_key(k)) {
        problems.push(format!("{what} {k:?}: in the crate, not in the header"));
    }
}

#[test]
fn the_crate_matches_the_header_field_for_field() {
    let header = header_layout();
    let rust = rust_layout();
    // The parser must have found the whole header, or the comparison is empty.
    assert!(header.sizes.len() >= 13, "only {:?} structures found in the header", header.sizes.keys());
    assert!(header.constants.contains_key("PIPELINE_ABI_MINOR") && header.constants.contains_key("PIPELINE_OK"));
    let mut problems = Vec::new();
    compare("size of", &header.sizes, &rust.sizes, &mut problems);
    compare("(offset, size) of", &header.fields, &rust.fields, &mut problems);
    compare("constant", &header.constants, &rust.constants, &mut problems);
    assert!(
        problems.is_empty(),
        "pipeline-sdk's ffi.rs differs from {}:\n  {}",
        include_dir().display(),
        problems.join("\n  ")
    );
}

#[test]
fn the_member_parser_reads_every_kind_of_declaration() {
    assert_eq!(member_name(" const char *host_version"), Some("host_version".into()));
    assert_eq!(member_name("\n  const pipeline_step_desc *const *steps"), Some("steps".into()));
    assert_eq!(
        member_name("void (*log)(const pipeline_call *call, int32_t level,\n const char *msg, size_t len)"),
        Some("log".into())
    );
    assert_eq!(member_name("  struct ArrowSchema **children"), Some("children".into()));
    assert_eq!(member_name("   "), None);
    let s = structures(&strip_comments("typedef struct a { int x; /* ; */ void (*f)(int, int); } a;\nstruct B { long y; };"));
    assert_eq!(
        s,
        [
            ("a".to_string(), "a".to_string(), vec!["x".to_string(), "f".to_string()]),
            ("struct B".to_string(), "B".to_string(), vec!["y".to_string()]),
        ]
    );
}
