//! Unit tests against a host written here: its set_error/log record what
//! they get, and its pipeline.params/1 serves a fixed parameter map.

use super::arrow::test_support::live;
use super::*;
use std::cell::RefCell;
use std::collections::HashMap;

// ---------------------------------------------------------------------------
// A fake host
// ---------------------------------------------------------------------------

thread_local! {
    static ERRORS: RefCell<Vec<(pipeline_status, String)>> = const { RefCell::new(Vec::new()) };
    static LOGS: RefCell<Vec<(i32, String)>> = const { RefCell::new(Vec::new()) };
    static PARAMS: RefCell<HashMap<String, Param>> = RefCell::new(HashMap::new());
}

#[derive(Clone)]
enum Param {
    Text(CString),
    Int(i64),
    List(Vec<CString>),
}

unsafe fn text(msg: *const c_char, len: usize) -> String {
    String::from_utf8_lossy(std::slice::from_raw_parts(msg as *const u8, len)).into_owned()
}

unsafe extern "C" fn fake_log(_: *const pipeline_call, level: i32, msg: *const c_char, len: usize) {
    let line = text(msg, len);
    LOGS.with(|l| l.borrow_mut().push((level, line)));
}

unsafe extern "C" fn fake_log_plugin(_: *const pipeline_host, level: i32, msg: *const c_char, len: usize) {
    let line = format!("plugin: {}", text(msg, len));
    LOGS.with(|l| l.borrow_mut().push((level, line)));
}

unsafe extern "C" fn fake_set_error(_: *mut pipeline_call, status: pipeline_status, msg: *const c_char, len: usize) {
    let message = text(msg, len);
    ERRORS.with(|e| e.borrow_mut().push((status, message)));
}

unsafe extern "C" fn fake_is_cancelled(_: *const pipeline_call) -> bool {
    false
}

unsafe extern "C" fn fake_get_extension(_: *const pipeline_host, id: *const c_char) -> *const c_void {
    if CStr::from_ptr(id) == PIPELINE_EXT_PARAMS {
        &FAKE_PARAMS.0 as *const pipeline_params_ext as *const c_void
    } else {
        ptr::null()
    }
}

fn param(key: *const c_char) -> Option<Param> {
    let key = unsafe { CStr::from_ptr(key) }.to_str().unwrap().to_string();
    PARAMS.with(|p| p.borrow().get(&key).cloned())
}

unsafe extern "C" fn fake_get_string(
    _: *const pipeline_call,
    key: *const c_char,
    value: *mut *const c_char,
    len: *mut usize,
) -> pipeline_status {
    match param(key) {
        None => PIPELINE_NOT_IMPLEMENTED,
        Some(Param::Text(s)) => {
            // Parameters outlive the instance in the real host; leaking is
            // the simplest way to say so here.
            let s = Box::leak(Box::new(s));
            *value = s.as_ptr();
            *len = s.as_bytes().len();
            PIPELINE_OK
        }
        Some(_) => PIPELINE_INVALID_ARGUMENT,
    }
}

unsafe extern "C" fn fake_get_int64(_: *const pipeline_call, key: *const c_char, value: *mut i64) -> pipeline_status {
    match param(key) {
        None => PIPELINE_NOT_IMPLEMENTED,
        Some(Param::Int(v)) => {
            *value = v;
            PIPELINE_OK
        }
        Some(_) => PIPELINE_INVALID_ARGUMENT,
    }
}

unsafe extern "C" fn fake_get_string_count(_: *const pipeline_call, key: *const c_char, count: *mut usize) -> pipeline_status {
    match param(key) {
        None => PIPELINE_NOT_IMPLEMENTED,
        Some(Param::List(v)) => {
            *count = v.len();
            PIPELINE_OK
        }
        Some(_) => PIPELINE_INVALID_ARGUMENT,
    }
}

unsafe extern "C" fn fake_get_string_at(
    _: *const pipeline_call,
    key: *const c_char,
    index: usize,
    value: *mut *const c_char,
    len: *mut usize,
) -> pipeline_status {
    match param(key) {
        Some(Param::List(v)) if index < v.len() => {
            let s = Box::leak(Box::new(v[index].clone()));
            *value = s.as_ptr();
            *len = s.as_bytes().len();
            PIPELINE_OK
        }
        _ => PIPELINE_INVALID_ARGUMENT,
    }
}

struct SyncParams(pipeline_params_ext);
unsafe impl Sync for SyncParams {}

static FAKE_PARAMS: SyncParams = SyncParams(pipeline_params_ext {
    struct_size: core::mem::size_of::<pipeline_params_ext>() as u32,
    get_string: Some(fake_get_string),
    get_int64: Some(fake_get_int64),
    get_double: None,
    get_bool: None,
    get_string_count: Some(fake_get_string_count),
    get_string_at: Some(fake_get_string_at),
});

struct SyncHost(pipeline_host);
unsafe impl Sync for SyncHost {}

static FAKE_HOST: SyncHost = SyncHost(pipeline_host {
    struct_size: core::mem::size_of::<pipeline_host>() as u32,
    abi_major: PIPELINE_ABI_MAJOR,
    abi_minor: PIPELINE_ABI_MINOR,
    host_version: c"test".as_ptr(),
    log: Some(fake_log),
    set_error: Some(fake_set_error),
    is_cancelled: Some(fake_is_cancelled),
    get_extension: Some(fake_get_extension),
    log_plugin: Some(fake_log_plugin),
    refuse: None,
});

/// A 1.0 host: its table ends after get_extension.
static OLD_HOST: SyncHost = SyncHost(pipeline_host {
    struct_size: PIPELINE_HOST_SIZE_1_0 as u32,
    log_plugin: Some(fake_log_plugin), // past struct_size: must not be called
    ..FAKE_HOST.0
});

fn take_errors() -> Vec<(pipeline_status, String)> {
    ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

// ---------------------------------------------------------------------------
// Steps under test, exported like a real plugin
// ---------------------------------------------------------------------------

/// Appends `suffix` (a string parameter) to "text" and passes the rest through.
struct Suffix {
    suffix: String,
    tags: Vec<String>,
}

impl Step for Suffix {
    const INFO: StepInfo = StepInfo {
        kind: StepKind::Step,
        flags: PIPELINE_STEP_DETERMINISTIC,
        id: c"org.test.suffix",
        name: c"suffix",
        version: c"1.0.0",
        description: c"Test step.",
        inputs_json: c"[]",
        outputs_json: c"[]",
        params_schema_json: c"{}",
    };

    fn create(ctx: &Context<'_>, params_json: &str) -> Result<Self, Error> {
        assert_eq!(params_json, "{\"suffix\":\"!\"}");
        let params = ctx.params();
        let suffix = params.string("suffix")?.ok_or_else(|| Error::invalid_argument("no suffix"))?;
        if params.string("missing")?.is_some() {
            return Err(Error::internal("a missing parameter was found"));
        }
        let tags = params.strings("tags")?.unwrap_or_default();
        // An integer read as a string is an error that names the parameter.
        let wrong = params.string("count").unwrap_err();
        assert_eq!(wrong.status(), PIPELINE_INVALID_ARGUMENT);
        assert_eq!(wrong.message(), "parameter \"count\" is not a string");
        assert_eq!(params.int64("count")?, Some(3));
        ctx.log(LogLevel::Info, "created");
        Ok(Suffix { suffix, tags })
    }

    fn process(&mut self, _: &Context<'_>, input: Option<&InputBatch<'_>>) -> Result<Option<Batch>, Error> {
        let input = input.ok_or_else(|| Error::internal("no input"))?;
        let column = input.column("text").ok_or_else(|| Error::invalid_data("no column \"text\""))?;
        let text = column.utf8()?;
        let mut out = Utf8Builder::new();
        for row in 0..text.len() {
            if text.get(row) == Some("panic") {
                panic!("asked to panic at row {row}");
            }
            out.append_option(text.get(row).map(|t| format!("{t}{}", self.suffix)).as_deref());
        }
        let mut batch = Batch::passthrough(input, &["text", "tags"])?;
        batch.push("text", out.finish())?;
        let mut tags = Utf8ListBuilder::new();
        for _ in 0..input.len() {
            tags.append(&self.tags);
        }
        batch.push("tags", tags.finish())?;
        Ok(Some(batch))
    }
}

/// A generator that emits two batches of one row, then panics in finish.
struct Counter {
    emitted: i64,
}

impl Step for Counter {
    const INFO: StepInfo = StepInfo {
        kind: StepKind::Generator,
        flags: 0,
        id: c"org.test.counter",
        name: c"counter",
        version: c"1.0.0",
        description: c"Test generator.",
        inputs_json: c"[]",
        outputs_json: c"[]",
        params_schema_json: c"{}",
    };

    fn create(_: &Context<'_>, _: &str) -> Result<Self, Error> {
        Ok(Counter { emitted: 0 })
    }

    fn process(&mut self, _: &Context<'_>, input: Option<&InputBatch<'_>>) -> Result<Option<Batch>, Error> {
        assert!(input.is_none());
        if self.emitted == 2 {
            return Ok(None);
        }
        self.emitted += 1;
        let mut n = Int64Builder::new();
        n.append(self.emitted);
        let mut batch = Batch::new(1);
        batch.push("n", n.finish())?;
        Ok(Some(batch))
    }

    fn finish(&mut self, _: &Context<'_>) -> Result<Option<Batch>, Error> {
        Err(Error::io(format!("finish after {} batches", self.emitted)))
    }
}

crate::export_plugin! {
    name: c"org.test.plugin",
    version: c"0.0.1",
    description: c"Unit-test plugin.",
    abi_minor: 0,
    steps: [Suffix, Counter],
}

fn plugin() -> &'static pipeline_plugin {
    unsafe { pipeline_plugin_entry(&FAKE_HOST.0).as_ref().expect("the entry point returned NULL") }
}

fn step(name: &str) -> &'static pipeline_step_desc {
    let plugin = plugin();
    (0..plugin.step_count as usize)
        .map(|i| unsafe { &**plugin.steps.add(i) })
        .find(|s| unsafe { CStr::from_ptr(s.name) }.to_str().unwrap() == name)
        .unwrap()
}

fn set_params(params: &[(&str, Param)]) {
    PARAMS.with(|p| {
        let mut p = p.borrow_mut();
        p.clear();
        for (k, v) in params {
            p.insert(k.to_string(), v.clone());
        }
    });
}

/// Exports `batch` and reads it back as the host would see it.
struct Exported {
    schema: ArrowSchema,
    array: ArrowArray,
}

impl Exported {
    fn new(batch: Batch) -> Box<Exported> {
        let mut e = Box::new(Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() });
        unsafe { batch.export(&mut e.schema, &mut e.array) };
        e
    }

    fn input(&self) -> InputBatch<'_> {
        unsafe { InputBatch::from_raw(&self.schema, &self.array).unwrap() }
    }

    fn release(&mut self) {
        unsafe {
            if let Some(r) = self.schema.release {
                r(&mut self.schema);
            }
            if let Some(r) = self.array.release {
                r(&mut self.array);
            }
        }
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        self.release();
    }
}

fn sample_batch() -> Batch {
    let mut text = Utf8Builder::new();
    text.append("héllo wörld");
    text.append_null();
    text.append("");
    let mut n = Int64Builder::new();
    n.append(-7);
    n.append(i64::MAX);
    n.append_null();
    let mut id = UInt64Builder::new();
    for v in [10u64, 11, u64::MAX] {
        id.append(v);
    }
    let mut score = Float64Builder::new();
    score.append(0.5);
    score.append_null();
    score.append(f64::INFINITY);
    let mut flag = BoolBuilder::new();
    flag.append(true);
    flag.append(false);
    flag.append_null();
    let mut tags = Utf8ListBuilder::new();
    tags.append_options([Some("a"), None, Some("ç")]);
    tags.append_null();
    tags.append(Vec::<String>::new());
    let mut batch = Batch::new(3);
    batch.push("text", text.finish()).unwrap();
    batch.push("n", n.finish()).unwrap();
    batch.push("_row_id", id.finish()).unwrap();
    batch.push("score", score.finish()).unwrap();
    batch.push("flag", flag.finish()).unwrap();
    batch.push("tags", tags.finish()).unwrap();
    batch
}

fn check_sample(input: &InputBatch<'_>) {
    assert_eq!(input.len(), 3);
    let names: Vec<_> = input.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["text", "n", "_row_id", "score", "flag", "tags"]);
    let text = input.column("text").unwrap().utf8().unwrap();
    assert_eq!(text.iter().collect::<Vec<_>>(), [Some("héllo wörld"), None, Some("")]);
    let n = input.column("n").unwrap().int64().unwrap();
    assert_eq!(n.iter().collect::<Vec<_>>(), [Some(-7), Some(i64::MAX), None]);
    let id = input.column("_row_id").unwrap().uint64().unwrap();
    assert_eq!(id.iter().collect::<Vec<_>>(), [Some(10), Some(11), Some(u64::MAX)]);
    let score = input.column("score").unwrap().float64().unwrap();
    assert_eq!(score.iter().collect::<Vec<_>>(), [Some(0.5), None, Some(f64::INFINITY)]);
    let flag = input.column("flag").unwrap().bool().unwrap();
    assert_eq!(flag.iter().collect::<Vec<_>>(), [Some(true), Some(false), None]);
    let tags = input.column("tags").unwrap().utf8_list().unwrap();
    let first = tags.get(0).unwrap();
    assert_eq!(first.iter().collect::<Vec<_>>(), [Some("a"), None, Some("ç")]);
    assert!(tags.get(1).is_none());
    assert!(tags.get(2).unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Arrow
// ---------------------------------------------------------------------------

#[test]
fn builders_round_trip_through_the_c_structures() {
    let before = live();
    let mut exported = Exported::new(sample_batch());
    assert!(live() > before);
    check_sample(&exported.input());
    assert_eq!(unsafe { CStr::from_ptr(exported.schema.format) }, c"+s");
    exported.release();
    assert_eq!(live(), before, "release freed everything it owns");
    assert!(exported.schema.release.is_none() && exported.array.release.is_none());
}

#[test]
fn passthrough_copies_every_column() {
    let before = live();
    let source = Exported::new(sample_batch());
    let copy = Exported::new(Batch::passthrough(&source.input(), &[]).unwrap());
    drop(source); // the copy owns its memory: the source may go first
    check_sample(&copy.input());
    let nullable = unsafe { &**copy.schema.children.add(0) }.flags & ARROW_FLAG_NULLABLE;
    assert_eq!(nullable, ARROW_FLAG_NULLABLE, "flags are copied");
    drop(copy);
    assert_eq!(live(), before);
}

#[test]
fn take_copies_chosen_rows_in_order() {
    let source = Exported::new(sample_batch());
    let input = source.input();
    let taken = Exported::new(Batch::take(&input, &[2, 0, 0], &["score", "flag"]).unwrap());
    let out = taken.input();
    assert_eq!(out.columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["text", "n", "_row_id", "tags"]);
    let text = out.column("text").unwrap().utf8().unwrap();
    assert_eq!(text.iter().collect::<Vec<_>>(), [Some(""), Some("héllo wörld"), Some("héllo wörld")]);
    let id = out.column("_row_id").unwrap().uint64().unwrap();
    assert_eq!(id.iter().collect::<Vec<_>>(), [Some(u64::MAX), Some(10), Some(10)]);
    let tags = out.column("tags").unwrap().utf8_list().unwrap();
    assert!(tags.get(0).unwrap().is_empty());
    assert_eq!(tags.get(2).unwrap().iter().collect::<Vec<_>>(), [Some("a"), None, Some("ç")]);
    let err = Batch::take(&input, &[3], &[]).err().unwrap();
    assert_eq!(err.status(), PIPELINE_INVALID_ARGUMENT);
}

#[test]
fn a_child_the_host_moved_out_is_released_by_its_new_owner_only() {
    let before = live();
    let mut exported = Exported::new(sample_batch());
    // The host moves column 0 out: a bitwise copy, then the source marked released.
    let (moved_schema, moved_array) = unsafe {
        let s = *exported.schema.children.add(0);
        let a = *exported.array.children.add(0);
        let copies = (ptr::read(s), ptr::read(a));
        (*s).release = None;
        (*a).release = None;
        copies
    };
    let (mut moved_schema, mut moved_array) = (moved_schema, moved_array);
    exported.release();
    assert!(live() > before, "the moved column is still alive");
    // Still readable after its parent is gone.
    let values = unsafe {
        let offsets = *moved_array.buffers.add(1) as *const i32;
        let data = *moved_array.buffers.add(2) as *const u8;
        std::str::from_utf8(std::slice::from_raw_parts(data, *offsets.add(1) as usize)).unwrap().to_string()
    };
    assert_eq!(values, "héllo wörld");
    unsafe {
        moved_schema.release.unwrap()(&mut moved_schema);
        moved_array.release.unwrap()(&mut moved_array);
    }
    assert_eq!(live(), before);
    // A second release of a released structure does nothing.
    exported.release();
    unsafe { release_again(&mut moved_schema, &mut moved_array) };
    assert_eq!(live(), before);
}

unsafe fn release_again(schema: &mut ArrowSchema, array: &mut ArrowArray) {
    assert!(schema.release.is_none() && array.release.is_none());
    assert!(schema.private_data.is_null() && array.private_data.is_null());
}

/// A utf8 array written by hand: offset 1 into its buffers, inside a struct
/// with offset 1, so row 0 of the batch is slot 2 of the buffers.
#[test]
fn offsets_and_bitmaps_of_foreign_arrays_are_honoured() {
    let offsets: [i32; 6] = [0, 1, 3, 6, 6, 8];
    let data = b"abbcccdd";
    let validity: [u8; 1] = [0b0001_0111]; // slot 3 is null
    let buffers: [*const c_void; 3] = [validity.as_ptr().cast(), offsets.as_ptr().cast(), data.as_ptr().cast()];
    unsafe extern "C" fn no_release_schema(s: *mut ArrowSchema) {
        (*s).release = None;
    }
    unsafe extern "C" fn no_release_array(a: *mut ArrowArray) {
        (*a).release = None;
    }
    let mut child_schema = ArrowSchema::empty();
    child_schema.format = c"u".as_ptr();
    child_schema.name = c"s".as_ptr();
    child_schema.release = Some(no_release_schema);
    let mut child = ArrowArray::empty();
    child.length = 4;
    child.offset = 1;
    child.n_buffers = 3;
    child.buffers = buffers.as_ptr() as *mut *const c_void;
    child.null_count = -1;
    child.release = Some(no_release_array);
    let mut schema_children = [&mut child_schema as *mut ArrowSchema];
    let mut array_children = [&mut child as *mut ArrowArray];
    let top_buffers: [*const c_void; 1] = [ptr::null()];
    let mut schema = ArrowSchema::empty();
    schema.format = c"+s".as_ptr();
    schema.n_children = 1;
    schema.children = schema_children.as_mut_ptr();
    schema.release = Some(no_release_schema);
    let mut array = ArrowArray::empty();
    array.length = 3;
    array.offset = 1;
    array.n_buffers = 1;
    array.n_children = 1;
    array.buffers = top_buffers.as_ptr() as *mut *const c_void;
    array.children = array_children.as_mut_ptr();
    array.release = Some(no_release_array);

    let input = unsafe { InputBatch::from_raw(&schema, &array).unwrap() };
    let s = input.column("s").unwrap().utf8().unwrap();
    assert_eq!(s.iter().collect::<Vec<_>>(), [Some("ccc"), None, Some("dd")]);
    // And a copy rebases it to offset 0.
    let copy = Exported::new(Batch::passthrough(&input, &[]).unwrap());
    let out = copy.input();
    let column = out.column("s").unwrap();
    assert_eq!(column.utf8().unwrap().iter().collect::<Vec<_>>(), [Some("ccc"), None, Some("dd")]);
    assert_eq!(unsafe { (**copy.array.children).offset }, 0);
    assert_eq!(unsafe { (**copy.array.children).null_count }, 1);

    // A struct longer than its child is refused, not read past the end.
    array.length = 4;
    let err = unsafe { InputBatch::from_raw(&schema, &array) }.err().unwrap();
    assert_eq!(err.status(), PIPELINE_INVALID_DATA);
    assert!(err.message().contains("column \"s\""), "{}", err.message());
    // Bytes that are not UTF-8 in a valid slot are refused when the view is made.
    array.length = 3;
    let bad = b"abbc\xffcdd";
    let bad_buffers: [*const c_void; 3] = [validity.as_ptr().cast(), offsets.as_ptr().cast(), bad.as_ptr().cast()];
    unsafe { (*array_children[0]).buffers = bad_buffers.as_ptr() as *mut *const c_void };
    let input = unsafe { InputBatch::from_raw(&schema, &array).unwrap() };
    let err = input.column("s").unwrap().utf8().err().unwrap();
    assert!(err.message().contains("not valid UTF-8"), "{}", err.message());
}

#[test]
fn a_wrong_type_is_named() {
    let source = Exported::new(sample_batch());
    let input = source.input();
    let err = input.column("n").unwrap().utf8().err().unwrap();
    assert_eq!(err.status(), PIPELINE_INVALID_DATA);
    assert_eq!(err.message(), "column \"n\" is int64, not utf8");
    let err = input.column("tags").unwrap().int64().err().unwrap();
    assert_eq!(err.message(), "column \"tags\" is list<utf8>, not int64");
}

#[test]
fn a_column_of_another_length_or_a_duplicate_name_is_refused() {
    let mut batch = Batch::new(2);
    let mut n = Int64Builder::new();
    n.append(1);
    assert_eq!(batch.push("n", n.finish()).unwrap_err().message(), "column \"n\" has 1 rows, the batch 2");
    let mut a = Int64Builder::new();
    a.append(1);
    a.append(2);
    batch.push("a", a.finish()).unwrap();
    let mut b = Utf8Builder::new();
    b.append("x");
    b.append("y");
    assert!(batch.push("a", b.finish()).unwrap_err().message().contains("already has a column \"a\""));
}

#[test]
fn validity_bitmaps_past_the_first_byte() {
    let mut b = Int64Builder::new();
    for i in 0..20 {
        if i % 7 == 3 {
            b.append_null();
        } else {
            b.append(i);
        }
    }
    let mut batch = Batch::new(20);
    batch.push("x", b.finish()).unwrap();
    let exported = Exported::new(batch);
    let input = exported.input();
    let x = input.column("x").unwrap().int64().unwrap();
    for i in 0..20 {
        assert_eq!(x.get(i), if i % 7 == 3 { None } else { Some(i as i64) });
    }
    assert_eq!(exported.array.children().null_count, 3);
}

trait FirstChild {
    fn children(&self) -> &ArrowArray;
}

impl FirstChild for ArrowArray {
    fn children(&self) -> &ArrowArray {
        unsafe { &**self.children }
    }
}

// ---------------------------------------------------------------------------
// The entry point and the trampolines
// ---------------------------------------------------------------------------

#[test]
fn the_entry_point_describes_the_plugin() {
    let plugin = plugin();
    assert_eq!(plugin.struct_size as usize, core::mem::size_of::<pipeline_plugin>());
    assert_eq!(plugin.abi_major, PIPELINE_ABI_MAJOR);
    assert_eq!(plugin.abi_minor, 0);
    assert_eq!(unsafe { CStr::from_ptr(plugin.name) }, c"org.test.plugin");
    assert_eq!(plugin.step_count, 2);
    let suffix = step("suffix");
    assert_eq!(unsafe { CStr::from_ptr(suffix.id) }, c"org.test.suffix");
    assert_eq!(suffix.kind, PIPELINE_STEP_KIND_STEP);
    assert_eq!(suffix.flags, PIPELINE_STEP_DETERMINISTIC);
    assert!(suffix.create.is_some() && suffix.process.is_some() && suffix.destroy.is_some());
    assert_eq!(step("counter").kind, PIPELINE_STEP_KIND_GENERATOR);
    assert!(unsafe { pipeline_plugin_entry(ptr::null()) }.is_null());
}

unsafe fn create(desc: &pipeline_step_desc, params: &CStr) -> (pipeline_status, *mut c_void) {
    let mut state = ptr::null_mut();
    let status = desc.create.unwrap()(ptr::null_mut(), desc, params.as_ptr(), &mut state);
    (status, state)
}

#[test]
fn a_step_runs_through_its_descriptor() {
    plugin();
    take_errors();
    set_params(&[
        ("suffix", Param::Text(c"!".into())),
        ("count", Param::Int(3)),
        ("tags", Param::List(vec![c"x".into(), c"y".into()])),
    ]);
    let desc = step("suffix");
    let (status, state) = unsafe { create(desc, c"{\"suffix\":\"!\"}") };
    assert_eq!(status, PIPELINE_OK, "{:?}", take_errors());
    assert!(LOGS.with(|l| l.borrow().iter().any(|(level, m)| *level == PIPELINE_LOG_INFO && m == "created")));

    let source = Exported::new(sample_batch());
    let mut out = Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() };
    let status = unsafe {
        desc.process.unwrap()(ptr::null_mut(), state, &source.schema, &source.array, &mut out.schema, &mut out.array)
    };
    assert_eq!(status, PIPELINE_OK, "{:?}", take_errors());
    let output = out.input();
    let names: Vec<_> = output.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["n", "_row_id", "score", "flag", "text", "tags"]);
    let text = output.column("text").unwrap().utf8().unwrap();
    assert_eq!(text.iter().collect::<Vec<_>>(), [Some("héllo wörld!"), None, Some("!")]);
    let tags = output.columns().last().unwrap().utf8_list().unwrap();
    assert_eq!(tags.get(1).unwrap().iter().collect::<Vec<_>>(), [Some("x"), Some("y")]);
    drop(out);
    unsafe { desc.destroy.unwrap()(state) };
}

#[test]
fn a_panic_is_an_internal_error_and_does_not_unwind_into_the_host() {
    plugin();
    take_errors();
    set_params(&[("suffix", Param::Text(c"!".into())), ("count", Param::Int(3))]);
    let desc = step("suffix");
    let (status, state) = unsafe { create(desc, c"{\"suffix\":\"!\"}") };
    assert_eq!(status, PIPELINE_OK);
    let mut text = Utf8Builder::new();
    text.append("fine");
    text.append("panic");
    let mut batch = Batch::new(2);
    batch.push("text", text.finish()).unwrap();
    let source = Exported::new(batch);
    let mut out = Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() };
    let before = live();
    let status = unsafe {
        desc.process.unwrap()(ptr::null_mut(), state, &source.schema, &source.array, &mut out.schema, &mut out.array)
    };
    assert_eq!(status, PIPELINE_INTERNAL);
    assert_eq!(take_errors(), [(PIPELINE_INTERNAL, "the plugin panicked: asked to panic at row 1".to_string())]);
    assert!(out.schema.release.is_none() && out.array.release.is_none(), "no output after a panic");
    assert_eq!(live(), before, "nothing leaked");
    unsafe { desc.destroy.unwrap()(state) };
}

#[test]
fn errors_from_create_and_finish_reach_set_error() {
    plugin();
    take_errors();
    set_params(&[("count", Param::Int(3))]);
    let desc = step("suffix");
    // "suffix" is missing: create fails with the step's own message.
    let (status, state) = unsafe { create(desc, c"{\"suffix\":\"!\"}") };
    assert_eq!(status, PIPELINE_INVALID_ARGUMENT);
    assert!(state.is_null());
    assert_eq!(take_errors(), [(PIPELINE_INVALID_ARGUMENT, "no suffix".to_string())]);
    // A string parameter given a list is an error that names it.
    set_params(&[("suffix", Param::List(vec![]))]);
    let (status, _) = unsafe { create(desc, c"{\"suffix\":\"!\"}") };
    assert_eq!(status, PIPELINE_INVALID_ARGUMENT);
    assert_eq!(take_errors()[0].1, "parameter \"suffix\" is not a string");

    let counter = step("counter");
    let (status, state) = unsafe { create(counter, c"{}") };
    assert_eq!(status, PIPELINE_OK);
    let mut rows = Vec::new();
    loop {
        let mut out = Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() };
        let status = unsafe {
            counter.process.unwrap()(ptr::null_mut(), state, ptr::null(), ptr::null(), &mut out.schema, &mut out.array)
        };
        assert_eq!(status, PIPELINE_OK);
        if out.array.release.is_none() {
            break;
        }
        rows.push(out.input().column("n").unwrap().int64().unwrap().get(0).unwrap());
    }
    assert_eq!(rows, [1, 2]);
    let mut out = Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() };
    let status = unsafe { counter.finish.unwrap()(ptr::null_mut(), state, &mut out.schema, &mut out.array) };
    assert_eq!(status, PIPELINE_IO);
    assert_eq!(take_errors(), [(PIPELINE_IO, "finish after 2 batches".to_string())]);
    unsafe { counter.destroy.unwrap()(state) };
}

#[test]
fn has_field_reads_struct_size() {
    let mut llm: pipeline_llm_ext = unsafe { std::mem::zeroed() };
    llm.struct_size = core::mem::size_of::<pipeline_llm_ext>() as u32;
    assert!(has_field!(&llm, pipeline_llm_ext, embed_with_errors));
    // A 1.1 host's table ends after `embed`.
    llm.struct_size = (core::mem::offset_of!(pipeline_llm_ext, embed) + 8) as u32;
    assert!(has_field!(&llm, pipeline_llm_ext, embed));
    assert!(!has_field!(&llm, pipeline_llm_ext, embed_with_errors));
}

#[test]
fn plugin_log_lines_use_log_plugin_only_where_the_host_has_it() {
    LOGS.with(|l| l.borrow_mut().clear());
    plugin();
    log(LogLevel::Warning, "from my thread");
    unsafe { pipeline_plugin_entry(&OLD_HOST.0) };
    log(LogLevel::Info, "from an old host");
    plugin(); // back to the current host for the other tests
    let lines = LOGS.with(|l| l.borrow().clone());
    assert_eq!(
        lines,
        [(PIPELINE_LOG_WARNING, "plugin: from my thread".to_string()), (PIPELINE_LOG_INFO, "from an old host".to_string())]
    );
}

/// Hand-built arrays of the kinds the builders do not make: a
/// fixed_size_list<float32> (the host's embeddings) with a null row and an
/// offset, and a struct with an int64 and a utf8 field.
#[test]
fn passthrough_copies_fixed_size_lists_and_structs() {
    unsafe extern "C" fn no_release_schema(s: *mut ArrowSchema) {
        (*s).release = None;
    }
    unsafe extern "C" fn no_release_array(a: *mut ArrowArray) {
        (*a).release = None;
    }
    fn schema(format: &'static CStr, name: &'static CStr, children: &mut [*mut ArrowSchema]) -> ArrowSchema {
        let mut s = ArrowSchema::empty();
        s.format = format.as_ptr();
        s.name = name.as_ptr();
        s.flags = ARROW_FLAG_NULLABLE;
        s.n_children = children.len() as i64;
        s.children = if children.is_empty() { ptr::null_mut() } else { children.as_mut_ptr() };
        s.release = Some(no_release_schema);
        s
    }
    fn array(length: i64, offset: i64, buffers: &mut [*const c_void], children: &mut [*mut ArrowArray]) -> ArrowArray {
        let mut a = ArrowArray::empty();
        a.length = length;
        a.offset = offset;
        a.null_count = -1;
        a.n_buffers = buffers.len() as i64;
        a.buffers = buffers.as_mut_ptr();
        a.n_children = children.len() as i64;
        a.children = if children.is_empty() { ptr::null_mut() } else { children.as_mut_ptr() };
        a.release = Some(no_release_array);
        a
    }
    // Vectors of width 2; the column starts at slot 1 of 4: rows are
    // [3,4], null, [7,8].
    let floats: [f32; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let vector_validity: [u8; 1] = [0b1011];
    let mut item_schema = schema(c"f", c"item", &mut []);
    let mut item_buffers = [ptr::null(), floats.as_ptr().cast()];
    let mut item_array = array(8, 0, &mut item_buffers, &mut []);
    let mut vector_schema_children = [&mut item_schema as *mut ArrowSchema];
    let mut vector_schema = schema(c"+w:2", c"embedding", &mut vector_schema_children);
    let mut vector_buffers = [vector_validity.as_ptr().cast()];
    let mut vector_children = [&mut item_array as *mut ArrowArray];
    let mut vector_array = array(3, 1, &mut vector_buffers, &mut vector_children);
    // A struct {n: int64, s: utf8} of 3 rows, the middle one null.
    let ns: [i64; 3] = [10, 20, 30];
    let offsets: [i32; 4] = [0, 1, 1, 3];
    let bytes = b"abc";
    let struct_validity: [u8; 1] = [0b101];
    let mut n_schema = schema(c"l", c"n", &mut []);
    let mut n_buffers = [ptr::null(), ns.as_ptr().cast()];
    let mut n_array = array(3, 0, &mut n_buffers, &mut []);
    let mut s_schema = schema(c"u", c"s", &mut []);
    let mut s_buffers = [ptr::null(), offsets.as_ptr().cast(), bytes.as_ptr().cast()];
    let mut s_array = array(3, 0, &mut s_buffers, &mut []);
    let mut record_schema_children = [&mut n_schema as *mut ArrowSchema, &mut s_schema];
    let mut record_schema = schema(c"+s", c"record", &mut record_schema_children);
    let mut record_buffers = [struct_validity.as_ptr().cast()];
    let mut record_children = [&mut n_array as *mut ArrowArray, &mut s_array];
    let mut record_array = array(3, 0, &mut record_buffers, &mut record_children);
    // The batch.
    let mut top_schema_children = [&mut vector_schema as *mut ArrowSchema, &mut record_schema];
    let top_schema = schema(c"+s", c"", &mut top_schema_children);
    let mut top_buffers = [ptr::null()];
    let mut top_children = [&mut vector_array as *mut ArrowArray, &mut record_array];
    let top_array = array(3, 0, &mut top_buffers, &mut top_children);

    let before = live();
    let input = unsafe { InputBatch::from_raw(&top_schema, &top_array).unwrap() };
    assert_eq!(input.column("embedding").unwrap().type_name(), "fixed_size_list<float32>[2]");
    let copy = Exported::new(Batch::passthrough(&input, &[]).unwrap());
    unsafe {
        let vector = &**copy.array.children.add(0);
        assert_eq!((vector.length, vector.offset, vector.null_count), (3, 0, 1));
        let bits = *(*vector.buffers.add(0) as *const u8);
        assert_eq!(bits & 0b111, 0b101);
        let items = &**vector.children;
        assert_eq!(items.length, 6, "a null row keeps its width of items");
        let values = std::slice::from_raw_parts(*items.buffers.add(1) as *const f32, 6);
        assert_eq!(values, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(*items.buffers.add(1) as usize % 4, 0, "float32 values are aligned");
        let vector_schema = &**copy.schema.children.add(0);
        assert_eq!(CStr::from_ptr(vector_schema.format), c"+w:2");
        assert_eq!(CStr::from_ptr((**vector_schema.children).format), c"f");
        assert_eq!(CStr::from_ptr((**vector_schema.children).name), c"item");

        let record = &**copy.array.children.add(1);
        assert_eq!((record.length, record.null_count, record.n_children), (3, 1, 2));
        let record_schema = &**copy.schema.children.add(1);
        assert_eq!(CStr::from_ptr((**record_schema.children.add(1)).name), c"s");
        let n = &**record.children.add(0);
        assert_eq!(std::slice::from_raw_parts(*n.buffers.add(1) as *const i64, 3), [10, 20, 30]);
        let s = &**record.children.add(1);
        assert_eq!(std::slice::from_raw_parts(*s.buffers.add(1) as *const i32, 4), [0, 1, 1, 3]);
        assert_eq!(std::slice::from_raw_parts(*s.buffers.add(2) as *const u8, 3), b"abc");
    }
    // The struct's fields read back through a batch view of the copy's struct.
    let copied = copy.input();
    let record = copied.column("record").unwrap();
    assert!(record.is_valid(0) && !record.is_valid(1) && record.is_valid(2));
    drop(copy);
    assert_eq!(live(), before);
}
