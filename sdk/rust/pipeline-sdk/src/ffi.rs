//! The C ABI of `pipeline_plugin.h` and `pipeline_arrow_c.h`, declared by
//! hand, field for field, with the C names.
//!
//! The header is the reference: every structure here is `#[repr(C)]` with
//! the fields of its C counterpart in the same order, and function pointers
//! are `Option<unsafe extern "C" fn ...>` (a C `NULL` is `None`). The
//! `const` assertions at the end of this file are the header's
//! `_Static_assert` lines; `tests/header_layout.rs` compiles a C program
//! generated from the header itself and compares every field's offset and
//! size, every structure's size and every constant with this file, so a
//! field appended to the header and missing here fails the crate's tests.
//!
//! Types: `size_t` is `usize`, C `bool` is Rust `bool`, `const char *` is
//! `*const c_char`.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_void, CStr};
use core::marker::{PhantomData, PhantomPinned};

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

/// Must be equal on both sides.
pub const PIPELINE_ABI_MAJOR: u16 = 1;
/// The header this crate was written from. A plugin sets its own
/// `abi_minor` to the lowest minor it needs, not to this.
pub const PIPELINE_ABI_MINOR: u16 = 6;

/// Frozen sizes (LP64): `sizeof` each structure as it was in that release.
/// The smallest of a structure is the least `struct_size` a reader accepts.
pub const PIPELINE_HOST_SIZE_1_0: usize = 48;
pub const PIPELINE_HOST_SIZE_1_3: usize = 64;
pub const PIPELINE_STEP_DESC_SIZE_1_0: usize = 112;
pub const PIPELINE_PLUGIN_SIZE_1_0: usize = 48;
pub const PIPELINE_PARAMS_EXT_SIZE_1_0: usize = 56;
pub const PIPELINE_LLM_EXT_SIZE_1_0: usize = 40;
pub const PIPELINE_LLM_EXT_SIZE_1_2: usize = 48;
pub const PIPELINE_LLM_EXT_SIZE_1_4: usize = 72;
pub const PIPELINE_LLM_EXT_SIZE_1_5: usize = 88;
pub const PIPELINE_LLM_ANSWER_SIZE_1_4: usize = 80;
pub const PIPELINE_HTTP_EXT_SIZE_1_1: usize = 24;
pub const PIPELINE_HTTP_EXT_SIZE_1_3: usize = 32;
pub const PIPELINE_RUN_EXT_SIZE_1_1: usize = 56;
pub const PIPELINE_RUN_EXT_SIZE_1_4: usize = 80;
pub const PIPELINE_RUN_EXT_SIZE_1_5: usize = 88;
/// Frozen structures: the only size they will ever have in major 1.
pub const PIPELINE_LLM_REQUEST_SIZE: usize = 48;
pub const PIPELINE_LLM_RESPONSE_SIZE: usize = 64;
pub const PIPELINE_HTTP_REQUEST_SIZE: usize = 64;
pub const PIPELINE_HTTP_RESPONSE_SIZE: usize = 56;

/// The one symbol a plugin library exports.
pub const PIPELINE_PLUGIN_ENTRY_SYMBOL: &CStr = c"pipeline_plugin_entry";

// ---------------------------------------------------------------------------
// Status codes and log levels
// ---------------------------------------------------------------------------

pub type pipeline_status = i32;

pub const PIPELINE_OK: pipeline_status = 0;
/// Parameters or call misuse.
pub const PIPELINE_INVALID_ARGUMENT: pipeline_status = 1;
/// Input batch not as the step needs.
pub const PIPELINE_INVALID_DATA: pipeline_status = 2;
/// File or network failure.
pub const PIPELINE_IO: pipeline_status = 3;
/// The host asked to stop.
pub const PIPELINE_CANCELLED: pipeline_status = 4;
pub const PIPELINE_TIMEOUT: pipeline_status = 5;
/// Transient: the host may call again.
pub const PIPELINE_RETRYABLE: pipeline_status = 6;
/// A bug in the plugin.
pub const PIPELINE_INTERNAL: pipeline_status = 7;
pub const PIPELINE_NOT_IMPLEMENTED: pipeline_status = 8;
pub const PIPELINE_OUT_OF_MEMORY: pipeline_status = 9;

pub const PIPELINE_LOG_TRACE: i32 = 0;
pub const PIPELINE_LOG_DEBUG: i32 = 1;
pub const PIPELINE_LOG_INFO: i32 = 2;
pub const PIPELINE_LOG_WARNING: i32 = 3;
pub const PIPELINE_LOG_ERROR: i32 = 4;

// ---------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------

/// Opaque context of one call into a plugin; valid only during that call.
#[repr(C)]
pub struct pipeline_call {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

#[repr(C)]
pub struct pipeline_host {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub host_version: *const c_char,
    /// `[thread-safe]` `call` may be NULL; `msg` need not be NUL-terminated.
    pub log: Option<unsafe extern "C" fn(call: *const pipeline_call, level: i32, msg: *const c_char, len: usize)>,
    /// `[thread-safe]` Records the error of the current call.
    pub set_error:
        Option<unsafe extern "C" fn(call: *mut pipeline_call, status: pipeline_status, msg: *const c_char, len: usize)>,
    /// `[thread-safe]` True once the host wants the run to stop.
    pub is_cancelled: Option<unsafe extern "C" fn(call: *const pipeline_call) -> bool>,
    /// `[thread-safe]` The table of an optional service, or NULL.
    pub get_extension: Option<unsafe extern "C" fn(host: *const pipeline_host, id: *const c_char) -> *const c_void>,
    /// `[thread-safe]` (ABI 1.3) A log line attributed to the library this
    /// table was given to. Check `has_field!(host, pipeline_host, log_plugin)`.
    pub log_plugin: Option<unsafe extern "C" fn(host: *const pipeline_host, level: i32, msg: *const c_char, len: usize)>,
    /// `[control]` (ABI 1.3) Inside `pipeline_plugin_entry` only: why the
    /// library refuses to load (then return NULL).
    pub refuse: Option<unsafe extern "C" fn(host: *const pipeline_host, msg: *const c_char, len: usize)>,
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

/// `typedef enum { ... } pipeline_step_kind;` (stored in a `uint32_t`).
pub type pipeline_step_kind = u32;
pub const PIPELINE_STEP_KIND_GENERATOR: pipeline_step_kind = 1;
pub const PIPELINE_STEP_KIND_STEP: pipeline_step_kind = 2;
pub const PIPELINE_STEP_KIND_GLOBAL: pipeline_step_kind = 3;

pub const PIPELINE_STEP_REENTRANT: u64 = 1 << 0;
pub const PIPELINE_STEP_DETERMINISTIC: u64 = 1 << 1;
pub const PIPELINE_STEP_USES_LLM: u64 = 1 << 2;
pub const PIPELINE_STEP_STATEFUL: u64 = 1 << 3;
/// (ABI 1.3) The step drops rows on purpose; without it, no output for a
/// non-empty input is reported as a warning.
pub const PIPELINE_STEP_FILTERS: u64 = 1 << 4;
/// (ABI 1.3) The step sends requests with a host-held credential
/// (`pipeline_http_ext::perform_authenticated`); the pipeline file names it.
pub const PIPELINE_STEP_USES_CREDENTIAL: u64 = 1 << 5;
/// (ABI 1.6, with `PIPELINE_STEP_USES_CREDENTIAL`) The credential is
/// optional: without one the request goes out with no Authorization header.
/// Older hosts ignore the bit and require the credential.
pub const PIPELINE_STEP_CREDENTIAL_OPTIONAL: u64 = 1 << 6;

#[repr(C)]
pub struct pipeline_step_desc {
    pub struct_size: u32,
    pub kind: u32,
    pub flags: u64,
    pub id: *const c_char,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub inputs_json: *const c_char,
    pub outputs_json: *const c_char,
    pub params_schema_json: *const c_char,
    /// `[control]`
    pub create: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            step: *const pipeline_step_desc,
            params_json: *const c_char,
            state: *mut *mut c_void,
        ) -> pipeline_status,
    >,
    /// `[worker]` The input is borrowed for the call; the output is moved to the host.
    pub process: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            state: *mut c_void,
            input_schema: *const ArrowSchema,
            input: *const ArrowArray,
            output_schema: *mut ArrowSchema,
            output: *mut ArrowArray,
        ) -> pipeline_status,
    >,
    /// `[worker]` Optional.
    pub finish: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            state: *mut c_void,
            output_schema: *mut ArrowSchema,
            output: *mut ArrowArray,
        ) -> pipeline_status,
    >,
    /// `[thread-safe]` Optional.
    pub interrupt: Option<unsafe extern "C" fn(state: *mut c_void)>,
    /// `[control]`
    pub destroy: Option<unsafe extern "C" fn(state: *mut c_void)>,
}

// ---------------------------------------------------------------------------
// The plugin
// ---------------------------------------------------------------------------

#[repr(C)]
pub struct pipeline_plugin {
    pub struct_size: u32,
    pub abi_major: u16,
    /// The lowest host minor the plugin needs.
    pub abi_minor: u16,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub step_count: u32,
    pub steps: *const *const pipeline_step_desc,
}

pub type pipeline_plugin_entry_fn = unsafe extern "C" fn(host: *const pipeline_host) -> *const pipeline_plugin;

// ---------------------------------------------------------------------------
// Service "pipeline.params/1"
// ---------------------------------------------------------------------------

pub const PIPELINE_EXT_PARAMS: &CStr = c"pipeline.params/1";

#[repr(C)]
pub struct pipeline_params_ext {
    pub struct_size: u32,
    pub get_string: Option<
        unsafe extern "C" fn(
            call: *const pipeline_call,
            key: *const c_char,
            value: *mut *const c_char,
            len: *mut usize,
        ) -> pipeline_status,
    >,
    pub get_int64:
        Option<unsafe extern "C" fn(call: *const pipeline_call, key: *const c_char, value: *mut i64) -> pipeline_status>,
    pub get_double:
        Option<unsafe extern "C" fn(call: *const pipeline_call, key: *const c_char, value: *mut f64) -> pipeline_status>,
    pub get_bool:
        Option<unsafe extern "C" fn(call: *const pipeline_call, key: *const c_char, value: *mut bool) -> pipeline_status>,
    pub get_string_count: Option<
        unsafe extern "C" fn(call: *const pipeline_call, key: *const c_char, count: *mut usize) -> pipeline_status,
    >,
    pub get_string_at: Option<
        unsafe extern "C" fn(
            call: *const pipeline_call,
            key: *const c_char,
            index: usize,
            value: *mut *const c_char,
            len: *mut usize,
        ) -> pipeline_status,
    >,
}

// ---------------------------------------------------------------------------
// Service "pipeline.llm/1"
// ---------------------------------------------------------------------------

pub const PIPELINE_EXT_LLM: &CStr = c"pipeline.llm/1";

#[repr(C)]
pub struct pipeline_llm_request {
    pub struct_size: u32,
    pub prompt: *const c_char,
    pub system: *const c_char,
    pub messages_json: *const c_char,
    pub options_json: *const c_char,
    pub generation: u32,
}

#[repr(C)]
pub struct pipeline_llm_response {
    pub struct_size: u32,
    pub status: pipeline_status,
    pub text: *const c_char,
    pub error: *const c_char,
    pub finish_reason: *const c_char,
    pub model: *const c_char,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached: u32,
}

/// `[any thread]` Called exactly once per submitted request.
pub type pipeline_llm_callback = Option<unsafe extern "C" fn(user: *mut c_void, response: *const pipeline_llm_response)>;

/// ABI 1.4: a response and what the server said besides (growable: read a
/// field only if `has_field!(answer, pipeline_llm_answer, field)`).
#[repr(C)]
pub struct pipeline_llm_answer {
    pub struct_size: u32,
    pub response: pipeline_llm_response,
    /// The model's reasoning trace; null when none.
    pub reasoning: *const c_char,
}

/// `[any thread]` ABI 1.4: called exactly once per request sent with `submit_answer`.
pub type pipeline_llm_answer_callback = Option<unsafe extern "C" fn(user: *mut c_void, answer: *const pipeline_llm_answer)>;

#[repr(C)]
pub struct pipeline_llm_ext {
    pub struct_size: u32,
    pub complete: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            requests: *const pipeline_llm_request,
            count: usize,
            responses: *mut pipeline_llm_response,
        ) -> pipeline_status,
    >,
    pub release: Option<unsafe extern "C" fn(responses: *mut pipeline_llm_response, count: usize)>,
    pub submit: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            request: *const pipeline_llm_request,
            done: pipeline_llm_callback,
            user: *mut c_void,
        ) -> pipeline_status,
    >,
    pub embed: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            texts: *const *const c_char,
            count: usize,
            vectors: *mut f32,
            dim: usize,
            statuses: *mut pipeline_status,
        ) -> pipeline_status,
    >,
    /// ABI 1.2: check `has_field!(llm, pipeline_llm_ext, embed_with_errors)`.
    pub embed_with_errors: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            texts: *const *const c_char,
            count: usize,
            vectors: *mut f32,
            dim: usize,
            statuses: *mut pipeline_status,
            errors: *mut *const c_char,
        ) -> pipeline_status,
    >,
    /// ABI 1.4: check `has_field!(llm, pipeline_llm_ext, complete_answers)`;
    /// `answer_size` is `size_of::<pipeline_llm_answer>()`.
    pub complete_answers: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            requests: *const pipeline_llm_request,
            count: usize,
            answers: *mut pipeline_llm_answer,
            answer_size: usize,
        ) -> pipeline_status,
    >,
    pub release_answers: Option<unsafe extern "C" fn(answers: *mut pipeline_llm_answer, count: usize, answer_size: usize)>,
    pub submit_answer: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            request: *const pipeline_llm_request,
            done: pipeline_llm_answer_callback,
            user: *mut c_void,
        ) -> pipeline_status,
    >,
    /// ABI 1.5: check `has_field!(llm, pipeline_llm_ext, complete_answers_for_rows)`;
    /// `complete_answers` where `rows[i]` is the `_row_id` of the input row
    /// request i is for (null: none known). Under `cache: always` a sampled
    /// answer is then the row's own.
    pub complete_answers_for_rows: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            requests: *const pipeline_llm_request,
            rows: *const u64,
            count: usize,
            answers: *mut pipeline_llm_answer,
            answer_size: usize,
        ) -> pipeline_status,
    >,
    /// ABI 1.5: `submit_answer` for the input row whose `_row_id` is `row`.
    pub submit_answer_for_row: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            request: *const pipeline_llm_request,
            row: u64,
            done: pipeline_llm_answer_callback,
            user: *mut c_void,
        ) -> pipeline_status,
    >,
}

// ---------------------------------------------------------------------------
// Service "pipeline.http/1" (ABI 1.1)
// ---------------------------------------------------------------------------

pub const PIPELINE_EXT_HTTP: &CStr = c"pipeline.http/1";

#[repr(C)]
pub struct pipeline_http_request {
    pub struct_size: u32,
    pub method: *const c_char,
    pub url: *const c_char,
    pub headers: *const *const c_char,
    pub header_count: usize,
    pub body: *const c_void,
    pub body_len: usize,
    pub timeout_seconds: f64,
}

#[repr(C)]
pub struct pipeline_http_response {
    pub struct_size: u32,
    pub status: pipeline_status,
    pub http_status: i32,
    pub reserved: u32,
    pub headers: *const c_char,
    pub body: *const u8,
    pub body_len: usize,
    pub error: *const c_char,
    pub host_private: *mut c_void,
}

#[repr(C)]
pub struct pipeline_http_ext {
    pub struct_size: u32,
    pub perform: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            request: *const pipeline_http_request,
            response: *mut pipeline_http_response,
        ) -> pipeline_status,
    >,
    pub release: Option<unsafe extern "C" fn(response: *mut pipeline_http_response)>,
    /// (ABI 1.3) `perform` with the step's credential added by the host
    /// (`Authorization: Bearer ...`); check `struct_size` before use.
    pub perform_authenticated: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            request: *const pipeline_http_request,
            response: *mut pipeline_http_response,
        ) -> pipeline_status,
    >,
}

// ---------------------------------------------------------------------------
// Service "pipeline.run/1" (ABI 1.1)
// ---------------------------------------------------------------------------

pub const PIPELINE_EXT_RUN: &CStr = c"pipeline.run/1";

#[repr(C)]
pub struct pipeline_run_ext {
    pub struct_size: u32,
    pub state_get: Option<
        unsafe extern "C" fn(
            call: *const pipeline_call,
            key: *const c_char,
            value: *mut *mut c_void,
            len: *mut usize,
        ) -> pipeline_status,
    >,
    pub state_put: Option<
        unsafe extern "C" fn(
            call: *mut pipeline_call,
            key: *const c_char,
            value: *const c_void,
            len: usize,
        ) -> pipeline_status,
    >,
    pub release_value: Option<unsafe extern "C" fn(value: *mut c_void)>,
    pub run_id: Option<unsafe extern "C" fn(call: *const pipeline_call) -> *const c_char>,
    pub pipeline_name: Option<unsafe extern "C" fn(call: *const pipeline_call) -> *const c_char>,
    pub pipeline_text: Option<unsafe extern "C" fn(call: *const pipeline_call) -> *const c_char>,
    /// ABI 1.4: which input (`input:` order) the current batch comes from; -1 for none.
    pub input_index: Option<unsafe extern "C" fn(call: *const pipeline_call) -> i32>,
    pub input_count: Option<unsafe extern "C" fn(call: *const pipeline_call) -> i32>,
    pub input_name: Option<unsafe extern "C" fn(call: *const pipeline_call, index: i32) -> *const c_char>,
    /// ABI 1.5: how many rows the step expects to emit in all (a generator's
    /// forecast for progress; the last call wins, negative withdraws it).
    pub expect_rows: Option<unsafe extern "C" fn(call: *mut pipeline_call, rows: i64)>,
}

// ---------------------------------------------------------------------------
// The Arrow C Data Interface (pipeline_arrow_c.h)
// ---------------------------------------------------------------------------

pub const ARROW_FLAG_DICTIONARY_ORDERED: i64 = 1;
pub const ARROW_FLAG_NULLABLE: i64 = 2;
pub const ARROW_FLAG_MAP_KEYS_SORTED: i64 = 4;

#[repr(C)]
pub struct ArrowSchema {
    pub format: *const c_char,
    pub name: *const c_char,
    pub metadata: *const c_char,
    pub flags: i64,
    pub n_children: i64,
    pub children: *mut *mut ArrowSchema,
    pub dictionary: *mut ArrowSchema,
    pub release: Option<unsafe extern "C" fn(schema: *mut ArrowSchema)>,
    pub private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *mut *const c_void,
    pub children: *mut *mut ArrowArray,
    pub dictionary: *mut ArrowArray,
    pub release: Option<unsafe extern "C" fn(array: *mut ArrowArray)>,
    pub private_data: *mut c_void,
}

impl ArrowSchema {
    /// A released (empty) structure: every pointer NULL, `release` None.
    pub const fn empty() -> Self {
        ArrowSchema {
            format: core::ptr::null(),
            name: core::ptr::null(),
            metadata: core::ptr::null(),
            flags: 0,
            n_children: 0,
            children: core::ptr::null_mut(),
            dictionary: core::ptr::null_mut(),
            release: None,
            private_data: core::ptr::null_mut(),
        }
    }
}

impl ArrowArray {
    /// A released (empty) structure: every pointer NULL, `release` None.
    pub const fn empty() -> Self {
        ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: core::ptr::null_mut(),
            children: core::ptr::null_mut(),
            dictionary: core::ptr::null_mut(),
            release: None,
            private_data: core::ptr::null_mut(),
        }
    }
}

// ---------------------------------------------------------------------------
// PIPELINE_HAS_FIELD
// ---------------------------------------------------------------------------

/// `PIPELINE_HAS_FIELD(ptr, type, field)`: true when `field` of the table
/// `table` (a reference or pointer to a `$ty`) lies within its
/// `struct_size`, i.e. the other side was built with a header that has it.
///
/// ```
/// use pipeline_sdk::{ffi::pipeline_llm_ext, has_field};
/// # fn check(llm: &pipeline_llm_ext) -> bool {
/// has_field!(llm, pipeline_llm_ext, embed_with_errors)
/// # }
/// ```
#[macro_export]
macro_rules! has_field {
    ($table:expr, $ty:ty, $field:ident) => {{
        let table: &$ty = &*$table;
        (table.struct_size as usize) >= ::core::mem::offset_of!($ty, $field) + $crate::ffi::__field_size(
            // No read: the address of a field of an uninitialized value.
            unsafe { ::core::ptr::addr_of!((*::core::mem::MaybeUninit::<$ty>::uninit().as_ptr()).$field) },
        )
    }};
}

#[doc(hidden)]
pub const fn __field_size<T>(_: *const T) -> usize {
    core::mem::size_of::<T>()
}

// ---------------------------------------------------------------------------
// The header's layout checks (LP64), as compile-time assertions
// ---------------------------------------------------------------------------

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ArrowSchema>() == 72, "ArrowSchema layout");
    assert!(size_of::<ArrowArray>() == 80, "ArrowArray layout");
    assert!(offset_of!(pipeline_host, abi_major) == 4, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, abi_minor) == 6, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, host_version) == 8, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, log) == 16, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, set_error) == 24, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, is_cancelled) == 32, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, get_extension) == 40, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, log_plugin) == 48, "pipeline_host layout");
    assert!(offset_of!(pipeline_host, refuse) == 56, "pipeline_host layout");
    assert!(size_of::<pipeline_host>() == 64, "pipeline_host v1.3 size");
    assert!(offset_of!(pipeline_step_desc, kind) == 4, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, flags) == 8, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, id) == 16, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, name) == 24, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, version) == 32, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, description) == 40, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, inputs_json) == 48, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, outputs_json) == 56, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, params_schema_json) == 64, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, create) == 72, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, process) == 80, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, finish) == 88, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, interrupt) == 96, "pipeline_step_desc layout");
    assert!(offset_of!(pipeline_step_desc, destroy) == 104, "pipeline_step_desc layout");
    assert!(size_of::<pipeline_step_desc>() == 112, "pipeline_step_desc v1.0 size");
    assert!(offset_of!(pipeline_plugin, abi_major) == 4, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, abi_minor) == 6, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, name) == 8, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, version) == 16, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, description) == 24, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, step_count) == 32, "pipeline_plugin layout");
    assert!(offset_of!(pipeline_plugin, steps) == 40, "pipeline_plugin layout");
    assert!(size_of::<pipeline_plugin>() == 48, "pipeline_plugin v1.0 size");
    assert!(size_of::<pipeline_params_ext>() == 56, "pipeline_params_ext v1.0 size");
    assert!(size_of::<pipeline_llm_request>() == 48, "pipeline_llm_request frozen size");
    assert!(offset_of!(pipeline_llm_response, text) == 8, "pipeline_llm_response layout");
    assert!(offset_of!(pipeline_llm_response, prompt_tokens) == 40, "pipeline_llm_response layout");
    assert!(size_of::<pipeline_llm_response>() == 64, "pipeline_llm_response frozen size");
    assert!(offset_of!(pipeline_llm_ext, embed) == 32, "pipeline_llm_ext v1.0 layout");
    assert!(offset_of!(pipeline_llm_ext, embed_with_errors) == 40, "pipeline_llm_ext layout");
    assert!(offset_of!(pipeline_llm_ext, complete_answers) == 48, "pipeline_llm_ext layout");
    assert!(offset_of!(pipeline_llm_ext, submit_answer) == 64, "pipeline_llm_ext layout");
    assert!(offset_of!(pipeline_llm_ext, complete_answers_for_rows) == 72, "pipeline_llm_ext layout");
    assert!(offset_of!(pipeline_llm_ext, submit_answer_for_row) == 80, "pipeline_llm_ext layout");
    assert!(size_of::<pipeline_llm_ext>() == 88, "pipeline_llm_ext v1.5 size");
    assert!(offset_of!(pipeline_llm_answer, response) == 8, "pipeline_llm_answer layout");
    assert!(offset_of!(pipeline_llm_answer, reasoning) == 72, "pipeline_llm_answer layout");
    assert!(size_of::<pipeline_llm_answer>() == 80, "pipeline_llm_answer v1.4 size");
    assert!(offset_of!(pipeline_http_request, method) == 8, "pipeline_http_request layout");
    assert!(offset_of!(pipeline_http_request, timeout_seconds) == 56, "pipeline_http_request layout");
    assert!(size_of::<pipeline_http_request>() == 64, "pipeline_http_request frozen size");
    assert!(offset_of!(pipeline_http_response, http_status) == 8, "pipeline_http_response layout");
    assert!(offset_of!(pipeline_http_response, headers) == 16, "pipeline_http_response layout");
    assert!(size_of::<pipeline_http_response>() == 56, "pipeline_http_response frozen size");
    assert!(offset_of!(pipeline_http_ext, perform_authenticated) == 24, "pipeline_http_ext layout");
    assert!(size_of::<pipeline_http_ext>() == 32, "pipeline_http_ext v1.3 size");
    assert!(offset_of!(pipeline_run_ext, input_index) == 56, "pipeline_run_ext layout");
    assert!(offset_of!(pipeline_run_ext, input_name) == 72, "pipeline_run_ext layout");
    assert!(offset_of!(pipeline_run_ext, expect_rows) == 80, "pipeline_run_ext layout");
    assert!(size_of::<pipeline_run_ext>() == 88, "pipeline_run_ext v1.5 size");
    assert!(PIPELINE_HOST_SIZE_1_0 == 48, "frozen size");
    assert!(PIPELINE_HOST_SIZE_1_3 == 64, "frozen size");
    assert!(PIPELINE_STEP_DESC_SIZE_1_0 == 112, "frozen size");
    assert!(PIPELINE_PLUGIN_SIZE_1_0 == 48, "frozen size");
    assert!(PIPELINE_PARAMS_EXT_SIZE_1_0 == 56, "frozen size");
    assert!(PIPELINE_LLM_EXT_SIZE_1_0 == 40, "frozen size");
    assert!(PIPELINE_LLM_EXT_SIZE_1_2 == 48, "frozen size");
    assert!(PIPELINE_LLM_EXT_SIZE_1_4 == 72, "frozen size");
    assert!(PIPELINE_LLM_EXT_SIZE_1_5 == 88, "frozen size");
    assert!(PIPELINE_LLM_ANSWER_SIZE_1_4 == 80, "frozen size");
    assert!(PIPELINE_HTTP_EXT_SIZE_1_1 == 24, "frozen size");
    assert!(PIPELINE_HTTP_EXT_SIZE_1_3 == 32, "frozen size");
    assert!(PIPELINE_RUN_EXT_SIZE_1_1 == 56, "frozen size");
    assert!(PIPELINE_RUN_EXT_SIZE_1_4 == 80, "frozen size");
    assert!(PIPELINE_RUN_EXT_SIZE_1_5 == 88, "frozen size");
    assert!(PIPELINE_LLM_REQUEST_SIZE == 48, "frozen size");
    assert!(PIPELINE_LLM_RESPONSE_SIZE == 64, "frozen size");
    assert!(PIPELINE_HTTP_REQUEST_SIZE == 64, "frozen size");
    assert!(PIPELINE_HTTP_RESPONSE_SIZE == 56, "frozen size");
};
