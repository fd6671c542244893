//! Steps for the `pipeline` host, in Rust.
//!
//! A plugin is a `cdylib` that exports one C function,
//! `pipeline_plugin_entry`, and talks to the host only through the tables
//! of `pipeline_plugin.h` (this crate's [`ffi`] module declares all of
//! them). The safe layer on top:
//!
//! * [`Step`]: a step type with `create`, `process` and `finish`, called with
//!   a [`Context`] (log lines, cancellation, the step's parameters through
//!   the `pipeline.params/1` service) and, for `process`, a borrowed
//!   [`InputBatch`]. Returning `Err(Error)` sets the call's error message
//!   and status; returning `Ok(Some(batch))` moves the [`Batch`] to the host.
//! * [`export_plugin!`]: builds the static descriptors and the entry point.
//! * Every function the host calls (the entry point, `create`, `process`,
//!   `finish`, `destroy`, and the `release` callbacks of exported batches)
//!   runs inside `catch_unwind`: a panic becomes `PIPELINE_INTERNAL` with the
//!   panic's message, and never unwinds into the host. Keep the default
//!   `panic = "unwind"`; with `panic = "abort"` a panic ends the run.
//!
//! ```ignore
//! use pipeline_sdk::*;
//!
//! struct Shout;
//! impl Step for Shout {
//!     const INFO: StepInfo = StepInfo {
//!         kind: StepKind::Step,
//!         flags: ffi::PIPELINE_STEP_DETERMINISTIC,
//!         id: c"org.example.shout", name: c"shout", version: c"0.1.0",
//!         description: c"Upper-cases text.",
//!         inputs_json: c"[{\"name\":\"text\",\"type\":\"utf8\"},{\"name\":\"*\",\"type\":\"any\"}]",
//!         outputs_json: c"[{\"name\":\"*\",\"type\":\"any\"}]",
//!         params_schema_json: c"{\"type\":\"object\",\"properties\":{}}",
//!     };
//!     fn create(_: &Context, _: &str) -> Result<Self, Error> { Ok(Shout) }
//!     fn process(&mut self, _: &Context, input: Option<&InputBatch>) -> Result<Option<Batch>, Error> {
//!         let Some(input) = input else { return Ok(None) };
//!         let text = input.column("text").ok_or_else(|| Error::invalid_data("no column \"text\""))?.utf8()?;
//!         let mut out = Utf8Builder::new();
//!         for value in text.iter() { out.append_option(value.map(str::to_uppercase).as_deref()); }
//!         let mut batch = Batch::passthrough(input, &["text"])?;
//!         batch.push("text", out.finish())?;
//!         Ok(Some(batch))
//!     }
//! }
//!
//! export_plugin! {
//!     name: c"org.example.shout", version: c"0.1.0", description: c"Shouts.",
//!     abi_minor: 0, steps: [Shout],
//! }
//! ```

use core::ffi::{c_char, c_void, CStr};
use std::any::Any;
use std::ffi::CString;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

pub mod arrow;
pub mod ffi;

pub use arrow::{
    Array, Batch, BoolBuilder, BoolColumn, Column, Float64Builder, Float64Column, InputBatch, Int64Builder,
    Int64Column, PrimitiveBuilder, PrimitiveColumn, UInt64Builder, UInt64Column, Utf8Builder, Utf8Column, Utf8List,
    Utf8ListBuilder, Utf8ListColumn,
};

use ffi::*;

// ===========================================================================
// Errors
// ===========================================================================

/// What a step returns when a call fails: a status code and a message the
/// user reads as `step NAME: MESSAGE` (the status is not shown, so say what
/// happened in words: the column, the parameter, the type found and
/// expected).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: pipeline_status,
    message: String,
}

impl Error {
    /// An error with `status` (`PIPELINE_OK` is taken as `PIPELINE_INTERNAL`).
    pub fn new(status: pipeline_status, message: impl Into<String>) -> Self {
        let status = if status == PIPELINE_OK { PIPELINE_INTERNAL } else { status };
        Error { status, message: message.into() }
    }

    /// Bad parameters or call misuse.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(PIPELINE_INVALID_ARGUMENT, message)
    }

    /// The input batch is not as the step needs.
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(PIPELINE_INVALID_DATA, message)
    }

    /// A file or network failure.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(PIPELINE_IO, message)
    }

    /// The host asked to stop.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(PIPELINE_CANCELLED, message)
    }

    /// A bug in the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(PIPELINE_INTERNAL, message)
    }

    pub fn status(&self) -> pipeline_status {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, its message prefixed with `context: `.
    pub fn prefixed(self, context: &str) -> Self {
        let message = if self.message.is_empty() { context.to_string() } else { format!("{context}: {}", self.message) };
        Error { status: self.status, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

// ===========================================================================
// The host
// ===========================================================================

static HOST: AtomicPtr<pipeline_host> = AtomicPtr::new(ptr::null_mut());

/// The host table kept from the entry call (`None` before it).
pub fn host() -> Option<&'static pipeline_host> {
    // The host keeps the table valid until the process exits.
    unsafe { HOST.load(Ordering::Acquire).as_ref() }
}

/// Log levels of `pipeline_host.log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum LogLevel {
    Trace = PIPELINE_LOG_TRACE,
    Debug = PIPELINE_LOG_DEBUG,
    Info = PIPELINE_LOG_INFO,
    Warning = PIPELINE_LOG_WARNING,
    Error = PIPELINE_LOG_ERROR,
}

/// Logs a line attributed to the plugin library rather than to a call:
/// for threads of your own. Inside a call use [`Context::log`]. Uses the
/// host's `log_plugin` (ABI 1.3), or `log(NULL, ...)` on an older host.
pub fn log(level: LogLevel, message: &str) {
    let Some(host) = host() else { return };
    let (msg, len) = (message.as_ptr() as *const c_char, message.len());
    if has_field!(host, pipeline_host, log_plugin) {
        if let Some(log_plugin) = host.log_plugin {
            unsafe { log_plugin(host, level as i32, msg, len) };
            return;
        }
    }
    if let Some(log) = host.log {
        unsafe { log(ptr::null(), level as i32, msg, len) }
    }
}

fn set_error(call: *mut pipeline_call, status: pipeline_status, message: &str) {
    if let Some(set_error) = host().and_then(|h| h.set_error) {
        // The host copies the message.
        unsafe { set_error(call, status, message.as_ptr() as *const c_char, message.len()) }
    }
}

/// The context of one call from the host: which step instance, for log
/// lines, errors and parameters. Valid only during the call (it is neither
/// `Send` nor storable beyond the call's borrow).
pub struct Context<'call> {
    call: *mut pipeline_call,
    _call: PhantomData<&'call mut pipeline_call>,
}

impl<'call> Context<'call> {
    /// # Safety
    /// `call` must be the pointer the host passed to the current call.
    pub unsafe fn from_raw(call: *mut pipeline_call) -> Self {
        Context { call, _call: PhantomData }
    }

    /// The raw call pointer, for the services of [`ffi`].
    pub fn as_raw(&self) -> *mut pipeline_call {
        self.call
    }

    /// Writes a log line attributed to this call's step.
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = host().and_then(|h| h.log) {
            unsafe { log(self.call, level as i32, message.as_ptr() as *const c_char, message.len()) }
        }
    }

    /// True once the host wants the run to stop: a long call should return
    /// `Err(Error::cancelled(..))` soon.
    pub fn is_cancelled(&self) -> bool {
        match host().and_then(|h| h.is_cancelled) {
            Some(is_cancelled) => unsafe { is_cancelled(self.call) },
            None => false,
        }
    }

    /// The table of the host service `id` (e.g. [`ffi::PIPELINE_EXT_RUN`]),
    /// or `None` if this host does not offer it. Check fields added by
    /// later minors with [`has_field!`] before calling them.
    ///
    /// # Safety
    /// `T` must be the table type of service `id`.
    pub unsafe fn extension<T>(&self, id: &CStr) -> Option<&'static T> {
        let host = host()?;
        let get = host.get_extension?;
        (get(host, id.as_ptr()) as *const T).as_ref()
    }

    /// The step's parameters, through the `pipeline.params/1` service.
    pub fn params(&self) -> Params<'_> {
        let ext = unsafe { self.extension::<pipeline_params_ext>(PIPELINE_EXT_PARAMS) };
        Params { ext, call: self.call, _call: PhantomData }
    }
}

/// Typed reads of the step's parameters (validated against the step's
/// schema, defaults filled in). Each returns `Ok(None)` when the key is
/// absent or null, and an `INVALID_ARGUMENT` error when it has another type.
pub struct Params<'a> {
    ext: Option<&'static pipeline_params_ext>,
    call: *mut pipeline_call,
    _call: PhantomData<&'a ()>,
}

impl Params<'_> {
    fn table(&self) -> Result<&'static pipeline_params_ext, Error> {
        self.ext.ok_or_else(|| Error::new(PIPELINE_NOT_IMPLEMENTED, "this host has no pipeline.params/1 service"))
    }

    fn key(key: &str) -> Result<CString, Error> {
        CString::new(key).map_err(|_| Error::invalid_argument(format!("parameter name {key:?} contains a NUL byte")))
    }

    fn check(status: pipeline_status, key: &str, wanted: &str) -> Result<bool, Error> {
        match status {
            PIPELINE_OK => Ok(true),
            PIPELINE_NOT_IMPLEMENTED => Ok(false),
            PIPELINE_INVALID_ARGUMENT => Err(Error::invalid_argument(format!("parameter \"{key}\" is not {wanted}"))),
            other => Err(Error::new(other, format!("cannot read parameter \"{key}\""))),
        }
    }

    unsafe fn string_from(value: *const c_char, len: usize, key: &str) -> Result<String, Error> {
        if value.is_null() {
            return Ok(String::new());
        }
        let bytes = std::slice::from_raw_parts(value as *const u8, len);
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::invalid_argument(format!("parameter \"{key}\" is not valid UTF-8")))
    }

    /// A string parameter.
    pub fn string(&self, key: &str) -> Result<Option<String>, Error> {
        let get = self.table()?.get_string.ok_or_else(|| Error::internal("params: no get_string"))?;
        let c_key = Self::key(key)?;
        let (mut value, mut len) = (ptr::null(), 0usize);
        let status = unsafe { get(self.call, c_key.as_ptr(), &mut value, &mut len) };
        if !Self::check(status, key, "a string")? {
            return Ok(None);
        }
        unsafe { Self::string_from(value, len, key).map(Some) }
    }

    /// An integer parameter.
    pub fn int64(&self, key: &str) -> Result<Option<i64>, Error> {
        let get = self.table()?.get_int64.ok_or_else(|| Error::internal("params: no get_int64"))?;
        let c_key = Self::key(key)?;
        let mut value = 0i64;
        let status = unsafe { get(self.call, c_key.as_ptr(), &mut value) };
        Ok(Self::check(status, key, "an integer")?.then_some(value))
    }

    /// A number parameter.
    pub fn double(&self, key: &str) -> Result<Option<f64>, Error> {
        let get = self.table()?.get_double.ok_or_else(|| Error::internal("params: no get_double"))?;
        let c_key = Self::key(key)?;
        let mut value = 0f64;
        let status = unsafe { get(self.call, c_key.as_ptr(), &mut value) };
        Ok(Self::check(status, key, "a number")?.then_some(value))
    }

    /// A boolean parameter.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        let get = self.table()?.get_bool.ok_or_else(|| Error::internal("params: no get_bool"))?;
        let c_key = Self::key(key)?;
        let mut value = false;
        let status = unsafe { get(self.call, c_key.as_ptr(), &mut value) };
        Ok(Self::check(status, key, "a boolean")?.then_some(value))
    }

    /// A list-of-strings parameter.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, Error> {
        let table = self.table()?;
        let count = table.get_string_count.ok_or_else(|| Error::internal("params: no get_string_count"))?;
        let at = table.get_string_at.ok_or_else(|| Error::internal("params: no get_string_at"))?;
        let c_key = Self::key(key)?;
        let mut n = 0usize;
        let status = unsafe { count(self.call, c_key.as_ptr(), &mut n) };
        if !Self::check(status, key, "a list of strings")? {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let (mut value, mut len) = (ptr::null(), 0usize);
            let status = unsafe { at(self.call, c_key.as_ptr(), i, &mut value, &mut len) };
            if !Self::check(status, key, "a list of strings")? {
                return Err(Error::invalid_argument(format!("parameter \"{key}\": item {i} is missing")));
            }
            values.push(unsafe { Self::string_from(value, len, key)? });
        }
        Ok(Some(values))
    }
}

// ===========================================================================
// Steps
// ===========================================================================

/// `pipeline_step_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StepKind {
    /// Makes rows from nothing: `process` gets no input.
    Generator = PIPELINE_STEP_KIND_GENERATOR,
    /// Turns each input batch into zero or one output batch.
    Step = PIPELINE_STEP_KIND_STEP,
    /// Receives every input batch first; output comes from `finish`.
    Global = PIPELINE_STEP_KIND_GLOBAL,
}

/// What the host shows of a step and checks pipelines against. The strings
/// are C string literals (`c"..."`), so they live as long as the process.
pub struct StepInfo {
    pub kind: StepKind,
    /// `PIPELINE_STEP_DETERMINISTIC`, `_USES_LLM`, `_STATEFUL` (not
    /// `_REENTRANT`: a [`Step`] gets `&mut self`, so the host must not call
    /// one instance from two threads at once; `export_plugin!` refuses it).
    pub flags: u64,
    /// Reverse-DNS, never reused: `c"org.example.word_count"`.
    pub id: &'static CStr,
    /// The short name pipeline files use: `c"word_count"`.
    pub name: &'static CStr,
    pub version: &'static CStr,
    pub description: &'static CStr,
    /// Column declarations, a JSON array (`c"[]"` for generators).
    pub inputs_json: &'static CStr,
    pub outputs_json: &'static CStr,
    /// A JSON Schema (an object) of the parameters.
    pub params_schema_json: &'static CStr,
}

/// A step. The host makes one instance per step of a pipeline with
/// `create`, calls `process` per input batch (a generator: until it returns
/// `Ok(None)`), then `finish` until it returns `Ok(None)`, then drops it.
///
/// `create` runs on the host's control thread; `process` and `finish` on a
/// worker thread, one call at a time per instance (hence `&mut self` and
/// `Send`).
pub trait Step: Sized + Send + 'static {
    const INFO: StepInfo;

    /// Makes an instance. `params_json` is the parameters as a JSON object,
    /// already validated and with defaults; `ctx.params()` reads them
    /// without a JSON parser. Must not block on the network.
    fn create(ctx: &Context<'_>, params_json: &str) -> Result<Self, Error>;

    /// One input batch (`None` for a generator). `Ok(None)`: no output for
    /// this call (a generator: exhausted).
    fn process(&mut self, ctx: &Context<'_>, input: Option<&InputBatch<'_>>) -> Result<Option<Batch>, Error>;

    /// After the last input batch, called until it returns `Ok(None)`.
    fn finish(&mut self, _ctx: &Context<'_>) -> Result<Option<Batch>, Error> {
        Ok(None)
    }
}

/// A `pipeline_step_desc` that may live in a `static`.
#[repr(transparent)]
pub struct StepDescriptor(pub pipeline_step_desc);

// The descriptor only holds pointers to 'static C strings and functions.
unsafe impl Sync for StepDescriptor {}

impl StepDescriptor {
    /// The descriptor of step type `S`, with this crate's trampolines.
    pub const fn of<S: Step>() -> Self {
        let info = &S::INFO;
        assert!(
            info.flags & PIPELINE_STEP_REENTRANT == 0,
            "a pipeline_sdk::Step takes &mut self: PIPELINE_STEP_REENTRANT is not allowed"
        );
        StepDescriptor(pipeline_step_desc {
            struct_size: core::mem::size_of::<pipeline_step_desc>() as u32,
            kind: info.kind as u32,
            flags: info.flags,
            id: info.id.as_ptr(),
            name: info.name.as_ptr(),
            version: info.version.as_ptr(),
            description: info.description.as_ptr(),
            inputs_json: info.inputs_json.as_ptr(),
            outputs_json: info.outputs_json.as_ptr(),
            params_schema_json: info.params_schema_json.as_ptr(),
            create: Some(create_step::<S>),
            process: Some(process_step::<S>),
            finish: Some(finish_step::<S>),
            interrupt: None,
            destroy: Some(destroy_step::<S>),
        })
    }
}

/// A `pipeline_plugin` that may live in a `static`.
#[repr(transparent)]
pub struct PluginDescriptor(pub pipeline_plugin);

unsafe impl Sync for PluginDescriptor {}

impl PluginDescriptor {
    /// `abi_minor`: the lowest host minor the plugin needs (0 unless it uses
    /// a service or field a later minor added).
    pub const fn new(
        name: &'static CStr,
        version: &'static CStr,
        description: &'static CStr,
        abi_minor: u16,
        steps: &'static [&'static StepDescriptor],
    ) -> Self {
        PluginDescriptor(pipeline_plugin {
            struct_size: core::mem::size_of::<pipeline_plugin>() as u32,
            abi_major: PIPELINE_ABI_MAJOR,
            abi_minor,
            name: name.as_ptr(),
            version: version.as_ptr(),
            description: description.as_ptr(),
            step_count: steps.len() as u32,
            // &StepDescriptor has the layout of *const pipeline_step_desc.
            steps: steps.as_ptr() as *const *const pipeline_step_desc,
        })
    }
}

/// Defines the plugin's descriptor and exports `pipeline_plugin_entry`.
///
/// ```ignore
/// pipeline_sdk::export_plugin! {
///     name: c"org.example.text_tools",   // the library's reverse-DNS id
///     version: c"0.1.0",
///     description: c"Text steps.",
///     abi_minor: 0,                      // the lowest host minor it needs
///     steps: [WordCount, Shout],
/// }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        description: $description:expr,
        abi_minor: $abi_minor:expr,
        steps: [$($step:ty),+ $(,)?] $(,)?
    ) => {
        static __PIPELINE_PLUGIN: $crate::PluginDescriptor = $crate::PluginDescriptor::new(
            $name,
            $version,
            $description,
            $abi_minor,
            &[$(&$crate::StepDescriptor::of::<$step>()),+],
        );

        /// The plugin's one exported symbol.
        ///
        /// # Safety
        /// Called by the host, once, with its host table.
        #[no_mangle]
        pub unsafe extern "C" fn pipeline_plugin_entry(
            host: *const $crate::ffi::pipeline_host,
        ) -> *const $crate::ffi::pipeline_plugin {
            $crate::__entry(host, &__PIPELINE_PLUGIN)
        }
    };
}

/// The body of `pipeline_plugin_entry`: keeps the host table and returns
/// the descriptor. Not part of the API.
#[doc(hidden)]
pub unsafe fn __entry(host: *const pipeline_host, plugin: &'static PluginDescriptor) -> *const pipeline_plugin {
    catch_unwind(|| {
        if host.is_null() {
            return ptr::null();
        }
        HOST.store(host as *mut pipeline_host, Ordering::Release);
        &plugin.0 as *const pipeline_plugin
    })
    .unwrap_or(ptr::null())
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Runs `body`, turning an `Err` or a panic into the call's error.
fn guarded(call: *mut pipeline_call, body: impl FnOnce() -> Result<(), Error>) -> pipeline_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => PIPELINE_OK,
        Ok(Err(error)) => {
            set_error(call, error.status, &error.message);
            error.status
        }
        Err(payload) => {
            let message = format!("the plugin panicked: {}", panic_message(&*payload));
            // Dropping the payload runs its destructor, which may panic too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_error(call, PIPELINE_INTERNAL, &message);
            PIPELINE_INTERNAL
        }
    }
}

unsafe extern "C" fn create_step<S: Step>(
    call: *mut pipeline_call,
    _step: *const pipeline_step_desc,
    params_json: *const c_char,
    state: *mut *mut c_void,
) -> pipeline_status {
    guarded(call, || {
        if state.is_null() {
            return Err(Error::invalid_argument("create: state is NULL"));
        }
        let params = if params_json.is_null() {
            "{}"
        } else {
            CStr::from_ptr(params_json)
                .to_str()
                .map_err(|_| Error::invalid_argument("the parameters are not valid UTF-8"))?
        };
        let ctx = Context::from_raw(call);
        let instance = S::create(&ctx, params)?;
        *state = Box::into_raw(Box::new(instance)) as *mut c_void;
        Ok(())
    })
}

unsafe extern "C" fn process_step<S: Step>(
    call: *mut pipeline_call,
    state: *mut c_void,
    input_schema: *const ArrowSchema,
    input: *const ArrowArray,
    output_schema: *mut ArrowSchema,
    output: *mut ArrowArray,
) -> pipeline_status {
    guarded(call, || {
        let step = (state as *mut S).as_mut().ok_or_else(|| Error::internal("process: no instance"))?;
        if output_schema.is_null() || output.is_null() {
            return Err(Error::invalid_argument("process: no output structures"));
        }
        let ctx = Context::from_raw(call);
        let batch = match (input_schema.as_ref(), input.as_ref()) {
            (Some(schema), Some(array)) => Some(InputBatch::from_raw(schema, array)?),
            _ => None,
        };
        if let Some(out) = step.process(&ctx, batch.as_ref())? {
            out.export(output_schema, output);
        }
        Ok(())
    })
}

unsafe extern "C" fn finish_step<S: Step>(
    call: *mut pipeline_call,
    state: *mut c_void,
    output_schema: *mut ArrowSchema,
    output: *mut ArrowArray,
) -> pipeline_status {
    guarded(call, || {
        let step = (state as *mut S).as_mut().ok_or_else(|| Error::internal("finish: no instance"))?;
        if output_schema.is_null() || output.is_null() {
            return Err(Error::invalid_argument("finish: no output structures"));
        }
        let ctx = Context::from_raw(call);
        if let Some(out) = step.finish(&ctx)? {
            out.export(output_schema, output);
        }
        Ok(())
    })
}

unsafe extern "C" fn destroy_step<S: Step>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    if catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(state as *mut S)))).is_err() {
        log(LogLevel::Error, "a step's destructor panicked");
    }
}

#[cfg(test)]
mod tests;
