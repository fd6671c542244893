//! Arrow batches across the plugin boundary, safely.
//!
//! * Reading: [`InputBatch`] is a checked view of the borrowed top-level
//!   struct array the host passes to `process`. [`Column`] gives typed views
//!   ([`Utf8Column`], [`Int64Column`], [`UInt64Column`], [`Float64Column`],
//!   [`BoolColumn`], [`Utf8ListColumn`]); each is validated once when you
//!   ask for it (buffer count, offsets in order, UTF-8), so reading a row is
//!   a bounds check and a load. Offsets (the array's and the parent's) and
//!   validity bitmaps are honoured; `null_count` is never trusted.
//! * Writing: builders ([`Utf8Builder`], [`Int64Builder`], [`UInt64Builder`],
//!   [`Float64Builder`], [`BoolBuilder`], [`Utf8ListBuilder`]) make an
//!   [`Array`], and a [`Batch`] of named arrays is what a step returns. The
//!   batch is exported with `release` callbacks of this crate: the memory
//!   belongs to Rust until the host calls `release`, which frees it exactly
//!   once (a second call, or a call on a child the host moved out, does
//!   nothing).
//! * Passing columns through: the input is borrowed for the call only, and
//!   the output outlives it, so an output never points into the input.
//!   [`Batch::passthrough`] and [`Batch::push_copy`] **copy** the column's
//!   rows into new buffers owned by the output (offsets rebased to 0, nested
//!   lists, fixed-size lists and structs included); [`Batch::take`] copies
//!   chosen rows, for a step that filters or repeats rows. Copying costs a
//!   memcpy per row and buffer, and is always safe.

use core::ffi::{c_char, c_void, CStr};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::ffi::{ArrowArray, ArrowSchema, ARROW_FLAG_NULLABLE};
use crate::Error;

// ===========================================================================
// Reading
// ===========================================================================

/// A checked, borrowed view of an input batch (a struct array, format
/// `"+s"`, one child per column). It lives no longer than the call.
pub struct InputBatch<'a> {
    length: usize,
    columns: Vec<Column<'a>>,
}

impl<'a> InputBatch<'a> {
    /// Checks the top-level structure and every column's header (format,
    /// name, lengths, child counts).
    ///
    /// # Safety
    /// `schema` and `array` must be valid Arrow C Data Interface structures
    /// (not released) whose pointers stay valid for `'a`: what the host
    /// passes to `process`.
    pub unsafe fn from_raw(schema: &'a ArrowSchema, array: &'a ArrowArray) -> Result<Self, Error> {
        if schema.release.is_none() || array.release.is_none() {
            return Err(Error::invalid_data("the input batch is released"));
        }
        let format = c_str(schema.format).unwrap_or("");
        if format != "+s" {
            return Err(Error::invalid_data(format!("the input batch is not a struct array (format \"{format}\")")));
        }
        let length = nonneg(array.length, "the input batch's length")?;
        let base = nonneg(array.offset, "the input batch's offset")?;
        if schema.n_children != array.n_children || schema.n_children < 0 {
            return Err(Error::invalid_data(format!(
                "the input batch has {} fields and {} columns",
                schema.n_children, array.n_children
            )));
        }
        let n = schema.n_children as usize;
        if n > 0 && (schema.children.is_null() || array.children.is_null()) {
            return Err(Error::invalid_data("the input batch has no children pointers"));
        }
        let mut columns = Vec::with_capacity(n);
        for i in 0..n {
            let child_schema = *schema.children.add(i);
            let child_array = *array.children.add(i);
            if child_schema.is_null() || child_array.is_null() {
                return Err(Error::invalid_data(format!("column {i} of the input batch is NULL")));
            }
            let (child_schema, child_array) = (&*child_schema, &*child_array);
            let name = c_str(child_schema.name)
                .ok_or_else(|| Error::invalid_data(format!("column {i} of the input batch has no UTF-8 name")))?;
            let node = Node::new(child_schema, child_array, base, length)
                .map_err(|e| e.prefixed(&format!("column \"{name}\"")))?;
            columns.push(Column { name, node });
        }
        Ok(InputBatch { length, columns })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Every column, in order.
    pub fn columns(&self) -> &[Column<'a>] {
        &self.columns
    }

    /// The first column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column<'a>> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The index of the first column named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// One column of an [`InputBatch`].
pub struct Column<'a> {
    name: &'a str,
    node: Node<'a>,
}

impl<'a> Column<'a> {
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The Arrow format string: `"u"`, `"l"`, `"+l"`, ...
    pub fn format(&self) -> &'a str {
        self.node.format
    }

    /// A readable name of the column's type: `utf8`, `int64`, `list<utf8>`, ...
    pub fn type_name(&self) -> String {
        self.node.type_name()
    }

    pub fn len(&self) -> usize {
        self.node.length
    }

    pub fn is_empty(&self) -> bool {
        self.node.length == 0
    }

    /// False when `row` is null. Panics if `row` is out of range.
    pub fn is_valid(&self, row: usize) -> bool {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        self.node.is_valid(row)
    }

    /// utf8 (`"u"`) or large utf8 (`"U"`).
    pub fn utf8(&self) -> Result<Utf8Column<'a>, Error> {
        Utf8Column::new(&self.node).map_err(|e| self.wrong(e, "utf8"))
    }

    /// int64 (`"l"`).
    pub fn int64(&self) -> Result<Int64Column<'a>, Error> {
        PrimitiveColumn::new(&self.node, "l").map_err(|e| self.wrong(e, "int64"))
    }

    /// uint64 (`"L"`), the type of `_row_id`.
    pub fn uint64(&self) -> Result<UInt64Column<'a>, Error> {
        PrimitiveColumn::new(&self.node, "L").map_err(|e| self.wrong(e, "uint64"))
    }

    /// float64 (`"g"`).
    pub fn float64(&self) -> Result<Float64Column<'a>, Error> {
        PrimitiveColumn::new(&self.node, "g").map_err(|e| self.wrong(e, "float64"))
    }

    /// bool (`"b"`).
    pub fn bool(&self) -> Result<BoolColumn<'a>, Error> {
        BoolColumn::new(&self.node).map_err(|e| self.wrong(e, "bool"))
    }

    /// list<utf8> (`"+l"` or `"+L"` of `"u"` or `"U"`).
    pub fn utf8_list(&self) -> Result<Utf8ListColumn<'a>, Error> {
        Utf8ListColumn::new(&self.node).map_err(|e| self.wrong(e, "list<utf8>"))
    }

    fn wrong(&self, e: Error, wanted: &str) -> Error {
        let found = self.type_name();
        if e.message().is_empty() {
            Error::invalid_data(format!("column \"{}\" is {found}, not {wanted}", self.name))
        } else {
            e.prefixed(&format!("column \"{}\" ({found})", self.name))
        }
    }
}

/// One checked array node (a column, or the child of a list or struct).
/// Element `i` of the node is slot `offset + i` of its buffers.
#[derive(Clone, Copy)]
struct Node<'a> {
    schema: &'a ArrowSchema,
    array: &'a ArrowArray,
    format: &'a str,
    /// Physical slot of logical element 0: the array's own offset plus the
    /// parent struct's.
    offset: usize,
    /// Logical elements visible through this view.
    length: usize,
}

impl<'a> Node<'a> {
    /// `parent_offset`/`length`: the view of a struct child, whose element
    /// `i` is its slot `parent_offset + i` (before its own offset).
    unsafe fn new(
        schema: &'a ArrowSchema,
        array: &'a ArrowArray,
        parent_offset: usize,
        length: usize,
    ) -> Result<Self, Error> {
        let format = c_str(schema.format).ok_or_else(|| Error::invalid_data("no format string"))?;
        if !schema.dictionary.is_null() || !array.dictionary.is_null() {
            return Err(Error::invalid_data("dictionary-encoded columns are not supported"));
        }
        let own_offset = nonneg(array.offset, "offset")?;
        let own_length = nonneg(array.length, "length")?;
        if own_length < parent_offset.saturating_add(length) {
            return Err(Error::invalid_data(format!(
                "has {own_length} elements, the batch needs {}",
                parent_offset.saturating_add(length)
            )));
        }
        if schema.n_children != array.n_children || schema.n_children < 0 {
            return Err(Error::invalid_data("child counts of schema and array differ"));
        }
        if schema.n_children > 0 && (schema.children.is_null() || array.children.is_null()) {
            return Err(Error::invalid_data("no children pointers"));
        }
        if array.n_buffers < 0 || (array.n_buffers > 0 && array.buffers.is_null()) {
            return Err(Error::invalid_data("no buffers pointer"));
        }
        let offset = own_offset
            .checked_add(parent_offset)
            .ok_or_else(|| Error::invalid_data("offset overflows"))?;
        Ok(Node { schema, array, format, offset, length })
    }

    /// The whole array of a list/struct child (every element it holds).
    unsafe fn child(&self, index: usize) -> Result<Node<'a>, Error> {
        if index >= self.array.n_children as usize {
            return Err(Error::invalid_data(format!("format \"{}\" needs a child", self.format)));
        }
        let s = *self.schema.children.add(index);
        let a = *self.array.children.add(index);
        if s.is_null() || a.is_null() {
            return Err(Error::invalid_data("a NULL child"));
        }
        let (s, a) = (&*s, &*a);
        // All `length` elements of the child (its slots offset..offset+length);
        // a parent that indexes past them is refused by its own checks.
        Node::new(s, a, 0, nonneg(a.length, "child length")?)
    }

    fn n_children(&self) -> usize {
        self.array.n_children as usize
    }

    fn child_name(&self, index: usize) -> Option<&'a str> {
        unsafe { c_str((**self.schema.children.add(index)).name) }
    }

    fn buffer(&self, index: usize) -> *const u8 {
        if (index as i64) < self.array.n_buffers {
            unsafe { *self.array.buffers.add(index) as *const u8 }
        } else {
            ptr::null()
        }
    }

    fn expect_buffers(&self, n: i64) -> Result<(), Error> {
        if self.array.n_buffers != n {
            return Err(Error::invalid_data(format!(
                "format \"{}\" needs {n} buffers, found {}",
                self.format, self.array.n_buffers
            )));
        }
        Ok(())
    }

    /// Element `i` (logical) is valid.
    fn is_valid(&self, i: usize) -> bool {
        let bitmap = self.buffer(0);
        bitmap.is_null() || unsafe { bit(bitmap, self.offset + i) }
    }

    fn type_name(&self) -> String {
        let item = || unsafe { self.child(0).map(|c| c.type_name()).unwrap_or_else(|_| "?".into()) };
        match self.format {
            "u" => "utf8".into(),
            "U" => "large utf8".into(),
            "l" => "int64".into(),
            "L" => "uint64".into(),
            "g" => "float64".into(),
            "f" => "float32".into(),
            "b" => "bool".into(),
            "+l" | "+L" => format!("list<{}>", item()),
            "+s" => "struct".into(),
            f if f.starts_with("+w:") => format!("fixed_size_list<{}>[{}]", item(), &f[3..]),
            f => format!("Arrow format \"{f}\""),
        }
    }
}

unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

fn nonneg(v: i64, what: &str) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| Error::invalid_data(format!("{what} is negative ({v})")))
}

unsafe fn bit(bitmap: *const u8, i: usize) -> bool {
    (*bitmap.add(i >> 3) >> (i & 7)) & 1 == 1
}

/// The offsets buffer of a utf8 or list array: 32 or 64 bits.
#[derive(Clone, Copy)]
enum Offsets {
    Small(*const i32),
    Large(*const i64),
}

impl Offsets {
    /// Offset at slot `i`; slots are checked when the view is made.
    unsafe fn at(self, i: usize) -> usize {
        match self {
            Offsets::Small(p) => p.add(i).read_unaligned() as usize,
            Offsets::Large(p) => p.add(i).read_unaligned() as usize,
        }
    }

    unsafe fn raw(self, i: usize) -> i64 {
        match self {
            Offsets::Small(p) => p.add(i).read_unaligned() as i64,
            Offsets::Large(p) => p.add(i).read_unaligned(),
        }
    }

    /// Checks slots `first..=first+count`: not negative, never decreasing,
    /// the last at most `limit`. Returns (start, end).
    unsafe fn check(self, first: usize, count: usize, limit: Option<usize>) -> Result<(usize, usize), Error> {
        let mut previous = self.raw(first);
        if previous < 0 {
            return Err(Error::invalid_data("a negative offset"));
        }
        for i in first + 1..=first + count {
            let current = self.raw(i);
            if current < previous {
                return Err(Error::invalid_data("offsets decrease"));
            }
            previous = current;
        }
        let (start, end) = (self.at(first), previous as usize);
        if let Some(limit) = limit {
            if end > limit {
                return Err(Error::invalid_data(format!("an offset ({end}) beyond the child's {limit} elements")));
            }
        }
        Ok((start, end))
    }
}

/// A utf8 or large utf8 column.
#[derive(Clone, Copy)]
pub struct Utf8Column<'a> {
    node: Node<'a>,
    offsets: Offsets,
    data: *const u8,
}

impl<'a> Utf8Column<'a> {
    fn new(node: &Node<'a>) -> Result<Self, Error> {
        let offsets = match node.format {
            "u" => Offsets::Small(node.buffer(1) as *const i32),
            "U" => Offsets::Large(node.buffer(1) as *const i64),
            _ => return Err(Error::invalid_data("")),
        };
        node.expect_buffers(3)?;
        if node.buffer(1).is_null() {
            if node.length == 0 {
                // An empty array may omit its buffers.
                return Ok(Utf8Column { node: *node, offsets: Offsets::Large(&0), data: ptr::null() });
            }
            return Err(Error::invalid_data("no offsets buffer"));
        }
        let data = node.buffer(2);
        unsafe {
            let (start, end) = offsets.check(node.offset, node.length, None)?;
            if end > start && data.is_null() {
                return Err(Error::invalid_data("no data buffer"));
            }
            // Each valid value once, here, so that `get` need not check.
            // (What the range of a null holds is undefined: not read.)
            for row in 0..node.length {
                if node.is_valid(row) {
                    let slot = node.offset + row;
                    let (a, b) = (offsets.at(slot), offsets.at(slot + 1));
                    if b > a && std::str::from_utf8(std::slice::from_raw_parts(data.add(a), b - a)).is_err() {
                        return Err(Error::invalid_data(format!("row {row} is not valid UTF-8")));
                    }
                }
            }
        }
        Ok(Utf8Column { node: *node, offsets, data })
    }

    pub fn len(&self) -> usize {
        self.node.length
    }

    pub fn is_empty(&self) -> bool {
        self.node.length == 0
    }

    /// The value of `row`, or `None` if it is null. Panics if `row` is out
    /// of range.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        if !self.node.is_valid(row) {
            return None;
        }
        Some(self.value(row))
    }

    /// Row `row`, which is valid (checked by `get`).
    fn value(&self, row: usize) -> &'a str {
        unsafe {
            let slot = self.node.offset + row;
            let (start, end) = (self.offsets.at(slot), self.offsets.at(slot + 1));
            if start == end {
                return "";
            }
            // Checked in `new`: every valid value is UTF-8.
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.data.add(start), end - start))
        }
    }

    /// Every row, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.node.length).map(move |row| self.get(row))
    }
}

/// A column of fixed-width numbers.
#[derive(Clone, Copy)]
pub struct PrimitiveColumn<'a, T> {
    node: Node<'a>,
    values: *const T,
}

pub type Int64Column<'a> = PrimitiveColumn<'a, i64>;
pub type UInt64Column<'a> = PrimitiveColumn<'a, u64>;
pub type Float64Column<'a> = PrimitiveColumn<'a, f64>;

impl<'a, T: Copy> PrimitiveColumn<'a, T> {
    fn new(node: &Node<'a>, format: &str) -> Result<Self, Error> {
        if node.format != format {
            return Err(Error::invalid_data(""));
        }
        node.expect_buffers(2)?;
        let values = node.buffer(1) as *const T;
        if values.is_null() && node.length > 0 {
            return Err(Error::invalid_data("no values buffer"));
        }
        Ok(PrimitiveColumn { node: *node, values })
    }

    pub fn len(&self) -> usize {
        self.node.length
    }

    pub fn is_empty(&self) -> bool {
        self.node.length == 0
    }

    /// The value of `row`, or `None` if it is null. Panics if out of range.
    pub fn get(&self, row: usize) -> Option<T> {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        if self.node.is_valid(row) {
            Some(self.value(row))
        } else {
            None
        }
    }

    /// The value stored at `row` whether or not it is null.
    pub fn value(&self, row: usize) -> T {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        unsafe { self.values.add(self.node.offset + row).read_unaligned() }
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + '_ {
        (0..self.node.length).map(move |row| self.get(row))
    }
}

/// A bool column (bit-packed).
#[derive(Clone, Copy)]
pub struct BoolColumn<'a> {
    node: Node<'a>,
    values: *const u8,
}

impl<'a> BoolColumn<'a> {
    fn new(node: &Node<'a>) -> Result<Self, Error> {
        if node.format != "b" {
            return Err(Error::invalid_data(""));
        }
        node.expect_buffers(2)?;
        let values = node.buffer(1);
        if values.is_null() && node.length > 0 {
            return Err(Error::invalid_data("no values buffer"));
        }
        Ok(BoolColumn { node: *node, values })
    }

    pub fn len(&self) -> usize {
        self.node.length
    }

    pub fn is_empty(&self) -> bool {
        self.node.length == 0
    }

    pub fn get(&self, row: usize) -> Option<bool> {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        if self.node.is_valid(row) {
            Some(unsafe { bit(self.values, self.node.offset + row) })
        } else {
            None
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<bool>> + '_ {
        (0..self.node.length).map(move |row| self.get(row))
    }
}

/// A list<utf8> column.
#[derive(Clone, Copy)]
pub struct Utf8ListColumn<'a> {
    node: Node<'a>,
    offsets: Offsets,
    items: Utf8Column<'a>,
}

impl<'a> Utf8ListColumn<'a> {
    fn new(node: &Node<'a>) -> Result<Self, Error> {
        let offsets = match node.format {
            "+l" => Offsets::Small(node.buffer(1) as *const i32),
            "+L" => Offsets::Large(node.buffer(1) as *const i64),
            _ => return Err(Error::invalid_data("")),
        };
        node.expect_buffers(2)?;
        if node.n_children() != 1 {
            return Err(Error::invalid_data("a list needs one child"));
        }
        let child = unsafe { node.child(0)? };
        let items = Utf8Column::new(&child).map_err(|e| {
            if e.message().is_empty() {
                Error::invalid_data(format!("list items are {}, not utf8", child.type_name()))
            } else {
                e.prefixed("list items")
            }
        })?;
        if node.buffer(1).is_null() {
            if node.length == 0 {
                return Ok(Utf8ListColumn { node: *node, offsets: Offsets::Large(&0), items });
            }
            return Err(Error::invalid_data("no offsets buffer"));
        }
        unsafe { offsets.check(node.offset, node.length, Some(child.length))? };
        Ok(Utf8ListColumn { node: *node, offsets, items })
    }

    pub fn len(&self) -> usize {
        self.node.length
    }

    pub fn is_empty(&self) -> bool {
        self.node.length == 0
    }

    /// The items of `row`, or `None` if the row is null.
    pub fn get(&self, row: usize) -> Option<Utf8List<'a>> {
        assert!(row < self.node.length, "row {row} out of range ({} rows)", self.node.length);
        if !self.node.is_valid(row) {
            return None;
        }
        let slot = self.node.offset + row;
        let (start, end) = unsafe { (self.offsets.at(slot), self.offsets.at(slot + 1)) };
        Some(Utf8List { items: self.items, start, end })
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<Utf8List<'a>>> + '_ {
        (0..self.node.length).map(move |row| self.get(row))
    }
}

/// The items of one list<utf8> row; each item may be null.
#[derive(Clone, Copy)]
pub struct Utf8List<'a> {
    items: Utf8Column<'a>,
    start: usize,
    end: usize,
}

impl<'a> Utf8List<'a> {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Item `index`, `None` if it is null. Panics if out of range.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        assert!(index < self.len(), "item {index} out of range ({} items)", self.len());
        self.items.get(self.start + index)
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (self.start..self.end).map(move |i| self.items.get(i))
    }
}

// ===========================================================================
// Writing
// ===========================================================================

/// A buffer an exported array points to. Typed vectors keep the alignment
/// of their type (the host reads int64 and offsets as aligned values).
enum Buffer {
    Null,
    Bytes(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F64(Vec<f64>),
}

impl Buffer {
    fn as_ptr(&self) -> *const c_void {
        match self {
            Buffer::Null => ptr::null(),
            Buffer::Bytes(v) => v.as_ptr() as *const c_void,
            Buffer::I32(v) => v.as_ptr() as *const c_void,
            Buffer::I64(v) => v.as_ptr() as *const c_void,
            Buffer::U64(v) => v.as_ptr() as *const c_void,
            Buffer::F64(v) => v.as_ptr() as *const c_void,
        }
    }
}

/// A finished column owned by Rust: what builders make and a [`Batch`]
/// holds. Offset 0; exported with this crate's `release` callbacks.
pub struct Array {
    format: CString,
    length: usize,
    null_count: usize,
    buffers: Vec<Buffer>,
    children: Vec<Field>,
}

/// A named array with its schema flags and metadata.
struct Field {
    name: CString,
    flags: i64,
    metadata: Option<Vec<u8>>,
    array: Array,
}

impl Array {
    /// Elements in the array.
    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Null elements.
    pub fn null_count(&self) -> usize {
        self.null_count
    }

    /// The Arrow format string.
    pub fn format(&self) -> &str {
        self.format.to_str().unwrap_or("")
    }
}

/// Validity bits, materialized at the first null.
#[derive(Default)]
struct Validity {
    bits: Option<Vec<u8>>,
    len: usize,
    nulls: usize,
}

impl Validity {
    fn push(&mut self, valid: bool) {
        if !valid && self.bits.is_none() {
            let mut bits = vec![0u8; self.len.div_ceil(8).max(1)];
            for i in 0..self.len {
                bits[i >> 3] |= 1 << (i & 7);
            }
            self.bits = Some(bits);
        }
        if let Some(bits) = &mut self.bits {
            if bits.len() * 8 <= self.len {
                bits.push(0);
            }
            if valid {
                bits[self.len >> 3] |= 1 << (self.len & 7);
            }
        }
        if !valid {
            self.nulls += 1;
        }
        self.len += 1;
    }

    fn finish(self) -> (Buffer, usize) {
        match self.bits {
            Some(bits) if self.nulls > 0 => (Buffer::Bytes(bits), self.nulls),
            _ => (Buffer::Null, 0),
        }
    }
}

/// Builds a utf8 column (format `"u"`, or `"U"` past 2 GiB of text).
#[derive(Default)]
pub struct Utf8Builder {
    offsets: Vec<i64>,
    data: Vec<u8>,
    validity: Validity,
}

impl Utf8Builder {
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// Room for `rows` values of `bytes` bytes in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Builder { offsets, data: Vec::with_capacity(bytes), validity: Validity::default() }
    }

    pub fn append(&mut self, value: &str) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.data.extend_from_slice(value.as_bytes());
        self.offsets.push(self.data.len() as i64);
        self.validity.push(true);
    }

    pub fn append_null(&mut self) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.offsets.push(self.data.len() as i64);
        self.validity.push(false);
    }

    pub fn append_option(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.append(v),
            None => self.append_null(),
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.validity.len
    }

    pub fn is_empty(&self) -> bool {
        self.validity.len == 0
    }

    pub fn finish(mut self) -> Array {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let length = self.validity.len;
        let (validity, null_count) = self.validity.finish();
        let (format, offsets) = if self.data.len() <= i32::MAX as usize {
            (c"u", Buffer::I32(self.offsets.iter().map(|&o| o as i32).collect()))
        } else {
            (c"U", Buffer::I64(self.offsets))
        };
        Array {
            format: format.into(),
            length,
            null_count,
            buffers: vec![validity, offsets, Buffer::Bytes(self.data)],
            children: Vec::new(),
        }
    }
}

/// A number type a [`PrimitiveBuilder`] can hold: `i64`, `u64`, `f64`.
pub trait Primitive: sealed::Sealed + Copy + Default + 'static {}

impl Primitive for i64 {}
impl Primitive for u64 {}
impl Primitive for f64 {}

mod sealed {
    use super::Buffer;
    use core::ffi::CStr;

    /// Not implementable outside this crate (and so `Buffer` stays private).
    #[allow(private_interfaces)]
    pub trait Sealed: Sized {
        const FORMAT: &'static CStr;
        fn buffer(values: Vec<Self>) -> Buffer;
    }

    #[allow(private_interfaces)]
    impl Sealed for i64 {
        const FORMAT: &'static CStr = c"l";
        fn buffer(values: Vec<Self>) -> Buffer {
            Buffer::I64(values)
        }
    }

    #[allow(private_interfaces)]
    impl Sealed for u64 {
        const FORMAT: &'static CStr = c"L";
        fn buffer(values: Vec<Self>) -> Buffer {
            Buffer::U64(values)
        }
    }

    #[allow(private_interfaces)]
    impl Sealed for f64 {
        const FORMAT: &'static CStr = c"g";
        fn buffer(values: Vec<Self>) -> Buffer {
            Buffer::F64(values)
        }
    }
}

/// Builds an int64, uint64 or float64 column.
pub struct PrimitiveBuilder<T: Primitive> {
    values: Vec<T>,
    validity: Validity,
}

pub type Int64Builder = PrimitiveBuilder<i64>;
pub type UInt64Builder = PrimitiveBuilder<u64>;
pub type Float64Builder = PrimitiveBuilder<f64>;

impl<T: Primitive> Default for PrimitiveBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Primitive> PrimitiveBuilder<T> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(rows: usize) -> Self {
        PrimitiveBuilder { values: Vec::with_capacity(rows), validity: Validity::default() }
    }

    pub fn append(&mut self, value: T) {
        self.values.push(value);
        self.validity.push(true);
    }

    pub fn append_null(&mut self) {
        self.values.push(T::default());
        self.validity.push(false);
    }

    pub fn append_option(&mut self, value: Option<T>) {
        match value {
            Some(v) => self.append(v),
            None => self.append_null(),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn finish(self) -> Array {
        let length = self.values.len();
        let (validity, null_count) = self.validity.finish();
        Array {
            format: T::FORMAT.into(),
            length,
            null_count,
            buffers: vec![validity, T::buffer(self.values)],
            children: Vec::new(),
        }
    }
}

/// Builds a bool column (`"b"`).
#[derive(Default)]
pub struct BoolBuilder {
    bits: Vec<u8>,
    validity: Validity,
}

impl BoolBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn append(&mut self, value: bool) {
        let i = self.validity.len;
        if i % 8 == 0 {
            self.bits.push(0);
        }
        if value {
            self.bits[i >> 3] |= 1 << (i & 7);
        }
        self.validity.push(true);
    }

    pub fn append_null(&mut self) {
        if self.validity.len % 8 == 0 {
            self.bits.push(0);
        }
        self.validity.push(false);
    }

    pub fn append_option(&mut self, value: Option<bool>) {
        match value {
            Some(v) => self.append(v),
            None => self.append_null(),
        }
    }

    pub fn len(&self) -> usize {
        self.validity.len
    }

    pub fn is_empty(&self) -> bool {
        self.validity.len == 0
    }

    pub fn finish(self) -> Array {
        let length = self.validity.len;
        let (validity, null_count) = self.validity.finish();
        Array { format: c"b".into(), length, null_count, buffers: vec![validity, Buffer::Bytes(self.bits)], children: Vec::new() }
    }
}

/// Builds a list<utf8> column (`"+l"` of `"u"`, the child named "item").
pub struct Utf8ListBuilder {
    offsets: Vec<i64>,
    items: Utf8Builder,
    validity: Validity,
}

impl Default for Utf8ListBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl Utf8ListBuilder {
    pub fn new() -> Self {
        Utf8ListBuilder { offsets: vec![0], items: Utf8Builder::new(), validity: Validity::default() }
    }

    /// Appends a row made of `items` (none of them null).
    pub fn append<I, S>(&mut self, items: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for item in items {
            self.items.append(item.as_ref());
        }
        self.end_row(true);
    }

    /// Appends a row whose items may be null.
    pub fn append_options<'s, I>(&mut self, items: I)
    where
        I: IntoIterator<Item = Option<&'s str>>,
    {
        for item in items {
            self.items.append_option(item);
        }
        self.end_row(true);
    }

    /// Appends a null row.
    pub fn append_null(&mut self) {
        self.end_row(false);
    }

    fn end_row(&mut self, valid: bool) {
        self.offsets.push(self.items.len() as i64);
        self.validity.push(valid);
    }

    pub fn len(&self) -> usize {
        self.validity.len
    }

    pub fn is_empty(&self) -> bool {
        self.validity.len == 0
    }

    /// `"+l"`; `"+L"` (which the host refuses) past 2^31-1 items.
    pub fn finish(self) -> Array {
        let length = self.validity.len;
        let (validity, null_count) = self.validity.finish();
        let items = self.items.finish();
        let (format, offsets) = if items.length <= i32::MAX as usize {
            (c"+l", Buffer::I32(self.offsets.iter().map(|&o| o as i32).collect()))
        } else {
            (c"+L", Buffer::I64(self.offsets))
        };
        Array {
            format: format.into(),
            length,
            null_count,
            buffers: vec![validity, offsets],
            children: vec![Field { name: c"item".into(), flags: ARROW_FLAG_NULLABLE, metadata: None, array: items }],
        }
    }
}

// ---------------------------------------------------------------------------
// Copying input columns (passthrough)
// ---------------------------------------------------------------------------

/// Copies elements of any supported input array into owned buffers.
/// Supported formats: b, c C s S e i I f l L g (fixed width), u U, +l +L,
/// +w:N, +s, nested in any way.
enum Copier<'a> {
    Bool { node: Node<'a>, values: *const u8, out: BoolBuilder },
    Fixed { node: Node<'a>, width: usize, values: *const u8, out: Vec<u64>, bytes: usize, validity: Validity },
    Utf8 { column: Utf8Column<'a>, out: Utf8Builder },
    List { node: Node<'a>, offsets: Offsets, child: Box<Copier<'a>>, child_field: FieldHeader, out_offsets: Vec<i64>, validity: Validity },
    FixedList { node: Node<'a>, width: usize, child: Box<Copier<'a>>, child_field: FieldHeader, validity: Validity },
    Struct { node: Node<'a>, children: Vec<(FieldHeader, Copier<'a>)>, validity: Validity },
}

/// A field's name, flags and metadata, copied.
struct FieldHeader {
    name: CString,
    flags: i64,
    metadata: Option<Vec<u8>>,
}

impl FieldHeader {
    unsafe fn of(schema: &ArrowSchema) -> Result<Self, Error> {
        let name = if schema.name.is_null() { CString::default() } else { CStr::from_ptr(schema.name).to_owned() };
        Ok(FieldHeader { name, flags: schema.flags, metadata: copy_metadata(schema.metadata)? })
    }
}

/// The metadata encoding: int32 count, then per pair an int32 length and
/// bytes for the key and for the value (native byte order).
unsafe fn copy_metadata(p: *const c_char) -> Result<Option<Vec<u8>>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    let p = p as *const u8;
    let read = |at: usize| -> Result<usize, Error> {
        let v = (p.add(at) as *const i32).read_unaligned();
        usize::try_from(v).map_err(|_| Error::invalid_data("field metadata with a negative length"))
    };
    let pairs = read(0)?;
    let mut at = 4;
    for _ in 0..pairs * 2 {
        let len = read(at)?;
        at = at
            .checked_add(4 + len)
            .ok_or_else(|| Error::invalid_data("field metadata too long"))?;
    }
    Ok(Some(std::slice::from_raw_parts(p, at).to_vec()))
}

impl<'a> Copier<'a> {
    fn new(node: Node<'a>) -> Result<Self, Error> {
        let fixed = |width: usize| -> Result<Copier<'a>, Error> {
            node.expect_buffers(2)?;
            let values = node.buffer(1);
            if values.is_null() && node.length > 0 {
                return Err(Error::invalid_data("no values buffer"));
            }
            Ok(Copier::Fixed { node, width, values, out: Vec::new(), bytes: 0, validity: Validity::default() })
        };
        match node.format {
            "b" => {
                let column = BoolColumn::new(&node)?;
                Ok(Copier::Bool { node, values: column.values, out: BoolBuilder::new() })
            }
            "c" | "C" => fixed(1),
            "s" | "S" | "e" => fixed(2),
            "i" | "I" | "f" => fixed(4),
            "l" | "L" | "g" => fixed(8),
            "u" | "U" => Ok(Copier::Utf8 { column: Utf8Column::new(&node)?, out: Utf8Builder::new() }),
            "+l" | "+L" => {
                node.expect_buffers(2)?;
                let child = unsafe { node.child(0)? };
                let offsets = if node.format == "+l" {
                    Offsets::Small(node.buffer(1) as *const i32)
                } else {
                    Offsets::Large(node.buffer(1) as *const i64)
                };
                if node.buffer(1).is_null() {
                    if node.length > 0 {
                        return Err(Error::invalid_data("no offsets buffer"));
                    }
                } else {
                    unsafe { offsets.check(node.offset, node.length, Some(child.length))? };
                }
                Ok(Copier::List {
                    node,
                    offsets,
                    child_field: unsafe { FieldHeader::of(child.schema)? },
                    child: Box::new(Copier::new(child)?),
                    out_offsets: vec![0],
                    validity: Validity::default(),
                })
            }
            "+s" => {
                node.expect_buffers(1)?;
                let mut children = Vec::with_capacity(node.n_children());
                for i in 0..node.n_children() {
                    let child = unsafe { node.child(i)? };
                    if child.length < node.offset + node.length {
                        return Err(Error::invalid_data("a struct child shorter than the struct"));
                    }
                    let name = node.child_name(i).unwrap_or("?");
                    let header = unsafe { FieldHeader::of(child.schema)? };
                    children.push((header, Copier::new(child).map_err(|e| e.prefixed(&format!("field \"{name}\"")))?));
                }
                Ok(Copier::Struct { node, children, validity: Validity::default() })
            }
            f if f.starts_with("+w:") => {
                let width: usize = f[3..]
                    .parse()
                    .ok()
                    .filter(|&w| w > 0)
                    .ok_or_else(|| Error::invalid_data(format!("a bad format \"{f}\"")))?;
                node.expect_buffers(1)?;
                let child = unsafe { node.child(0)? };
                let needed = (node.offset + node.length)
                    .checked_mul(width)
                    .ok_or_else(|| Error::invalid_data("fixed-size list too long"))?;
                if child.length < needed {
                    return Err(Error::invalid_data("a fixed-size list whose child is too short"));
                }
                Ok(Copier::FixedList {
                    node,
                    width,
                    child_field: unsafe { FieldHeader::of(child.schema)? },
                    child: Box::new(Copier::new(child)?),
                    validity: Validity::default(),
                })
            }
            f => Err(Error::invalid_data(format!("cannot copy Arrow format \"{f}\""))),
        }
    }

    /// Appends logical element `i` of the source. `i` is in range: every
    /// caller has checked it against the node's length.
    fn append(&mut self, i: usize) {
        match self {
            Copier::Bool { node, values, out } => {
                if node.is_valid(i) {
                    out.append(unsafe { bit(*values, node.offset + i) });
                } else {
                    out.append_null();
                }
            }
            Copier::Fixed { node, width, values, out, bytes, validity } => {
                let w = *width;
                let needed = (*bytes + w).div_ceil(8);
                if out.len() < needed {
                    out.resize(needed.max(out.len() * 2), 0);
                }
                unsafe {
                    ptr::copy_nonoverlapping(values.add((node.offset + i) * w), (out.as_mut_ptr() as *mut u8).add(*bytes), w);
                }
                *bytes += w;
                validity.push(node.is_valid(i));
            }
            Copier::Utf8 { column, out } => out.append_option(column.get(i)),
            Copier::List { node, offsets, child, out_offsets, validity, .. } => {
                if node.is_valid(i) {
                    let slot = node.offset + i;
                    let (start, end) = unsafe { (offsets.at(slot), offsets.at(slot + 1)) };
                    for j in start..end {
                        child.append(j);
                    }
                    let last = *out_offsets.last().unwrap_or(&0);
                    out_offsets.push(last + (end - start) as i64);
                    validity.push(true);
                } else {
                    let last = *out_offsets.last().unwrap_or(&0);
                    out_offsets.push(last);
                    validity.push(false);
                }
            }
            Copier::FixedList { node, width, child, validity, .. } => {
                // A null row still has its `width` items.
                let first = (node.offset + i) * *width;
                for j in first..first + *width {
                    child.append(j);
                }
                validity.push(node.is_valid(i));
            }
            Copier::Struct { node, children, validity } => {
                for (_, child) in children.iter_mut() {
                    child.append(node.offset + i);
                }
                validity.push(node.is_valid(i));
            }
        }
    }

    fn finish(self) -> Array {
        match self {
            Copier::Bool { out, .. } => out.finish(),
            Copier::Fixed { node, width, mut out, bytes, validity, .. } => {
                out.truncate(bytes.div_ceil(8));
                let length = bytes / width;
                let (validity, null_count) = validity.finish();
                Array {
                    format: CString::new(node.format).unwrap_or_default(),
                    length,
                    null_count,
                    buffers: vec![validity, Buffer::U64(out)],
                    children: Vec::new(),
                }
            }
            Copier::Utf8 { out, .. } => out.finish(),
            Copier::List { child, child_field, out_offsets, validity, .. } => {
                let items = child.finish();
                let length = validity.len;
                let (validity, null_count) = validity.finish();
                let (format, offsets) = if items.length <= i32::MAX as usize {
                    (c"+l", Buffer::I32(out_offsets.iter().map(|&o| o as i32).collect()))
                } else {
                    (c"+L", Buffer::I64(out_offsets))
                };
                Array {
                    format: format.into(),
                    length,
                    null_count,
                    buffers: vec![validity, offsets],
                    children: vec![child_field.with(items)],
                }
            }
            Copier::FixedList { node, child, child_field, validity, .. } => {
                let items = child.finish();
                let length = validity.len;
                let (validity, null_count) = validity.finish();
                Array {
                    format: CString::new(node.format).unwrap_or_default(),
                    length,
                    null_count,
                    buffers: vec![validity],
                    children: vec![child_field.with(items)],
                }
            }
            Copier::Struct { children, validity, .. } => {
                let length = validity.len;
                let (validity, null_count) = validity.finish();
                Array {
                    format: c"+s".into(),
                    length,
                    null_count,
                    buffers: vec![validity],
                    children: children.into_iter().map(|(h, c)| h.with(c.finish())).collect(),
                }
            }
        }
    }
}

impl FieldHeader {
    fn with(self, array: Array) -> Field {
        Field { name: self.name, flags: self.flags, metadata: self.metadata, array }
    }
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// An output batch: named columns of equal length, owned by Rust until it
/// is handed to the host.
pub struct Batch {
    length: usize,
    fields: Vec<Field>,
}

impl Batch {
    /// An empty batch of `length` rows; add its columns with `push`.
    pub fn new(length: usize) -> Self {
        Batch { length, fields: Vec::new() }
    }

    /// Every column of `input` except those named in `except`, copied (see
    /// the module documentation: the input is only borrowed). Columns keep
    /// their names, types, flags and metadata; `_row_id` passes through
    /// like any column unless excluded.
    pub fn passthrough(input: &InputBatch<'_>, except: &[&str]) -> Result<Batch, Error> {
        Self::take_rows(input, except, None)
    }

    /// The rows `rows` (indices into `input`, in any order, repeats allowed)
    /// of every column of `input` except those in `except`, copied. For a
    /// step that drops or multiplies rows; keep `_row_id` so each output
    /// row carries its source row's id.
    pub fn take(input: &InputBatch<'_>, rows: &[usize], except: &[&str]) -> Result<Batch, Error> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= input.len()) {
            return Err(Error::invalid_argument(format!("take: row {bad} out of range ({} rows)", input.len())));
        }
        Self::take_rows(input, except, Some(rows))
    }

    fn take_rows(input: &InputBatch<'_>, except: &[&str], rows: Option<&[usize]>) -> Result<Batch, Error> {
        let mut batch = Batch::new(rows.map_or(input.len(), <[usize]>::len));
        for column in input.columns().iter().filter(|c| !except.contains(&c.name())) {
            batch.push_copy_rows(column, rows)?;
        }
        Ok(batch)
    }

    /// Appends a copy of the input column `column` (all its rows).
    pub fn push_copy(&mut self, column: &Column<'_>) -> Result<(), Error> {
        self.push_copy_rows(column, None)
    }

    fn push_copy_rows(&mut self, column: &Column<'_>, rows: Option<&[usize]>) -> Result<(), Error> {
        let mut copier =
            Copier::new(column.node).map_err(|e| e.prefixed(&format!("cannot copy column \"{}\"", column.name())))?;
        match rows {
            Some(rows) => rows.iter().for_each(|&r| copier.append(r)),
            None => (0..column.len()).for_each(|r| copier.append(r)),
        }
        let header = unsafe { FieldHeader::of(column.node.schema)? };
        self.push_field(header.with(copier.finish()))
    }

    /// Appends a column named `name`, nullable.
    pub fn push(&mut self, name: &str, array: Array) -> Result<(), Error> {
        let name = CString::new(name)
            .map_err(|_| Error::invalid_argument(format!("column name {name:?} contains a NUL byte")))?;
        self.push_field(Field { name, flags: ARROW_FLAG_NULLABLE, metadata: None, array })
    }

    fn push_field(&mut self, field: Field) -> Result<(), Error> {
        if field.array.length != self.length {
            return Err(Error::invalid_argument(format!(
                "column \"{}\" has {} rows, the batch {}",
                field.name.to_string_lossy(),
                field.array.length,
                self.length
            )));
        }
        if self.fields.iter().any(|f| f.name == field.name) {
            return Err(Error::invalid_argument(format!(
                "the batch already has a column \"{}\"",
                field.name.to_string_lossy()
            )));
        }
        self.fields.push(field);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.to_str().unwrap_or(""))
    }

    /// Moves the batch into `schema` and `array` (released on entry), as a
    /// struct array `"+s"`. The receiver owns both and must call each
    /// `release` exactly once. Never fails once called: the structures are
    /// written last.
    ///
    /// # Safety
    /// Both pointers must be valid for writes; what they held is
    /// overwritten without being released.
    pub unsafe fn export(self, schema: *mut ArrowSchema, array: *mut ArrowArray) {
        let top = Field {
            name: CString::default(),
            flags: 0,
            metadata: None,
            array: Array {
                format: c"+s".into(),
                length: self.length,
                null_count: 0,
                buffers: vec![Buffer::Null],
                children: self.fields,
            },
        };
        let (s, a) = export_field(top);
        ptr::write(schema, s);
        ptr::write(array, a);
    }
}

// ---------------------------------------------------------------------------
// Export and release
// ---------------------------------------------------------------------------

struct SchemaPrivate {
    format: CString,
    name: CString,
    metadata: Option<Vec<u8>>,
    children: Vec<*mut ArrowSchema>,
    #[cfg(test)]
    _live: test_support::Live,
}

struct ArrayPrivate {
    _buffers: Vec<Buffer>,
    buffer_pointers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
    #[cfg(test)]
    _live: test_support::Live,
}

fn export_field(field: Field) -> (ArrowSchema, ArrowArray) {
    let Field { name, flags, metadata, array } = field;
    let Array { format, length, null_count, buffers, children } = array;
    let mut schema_children = Vec::with_capacity(children.len());
    let mut array_children = Vec::with_capacity(children.len());
    for child in children {
        let (s, a) = export_field(child);
        schema_children.push(Box::into_raw(Box::new(s)));
        array_children.push(Box::into_raw(Box::new(a)));
    }
    let n_children = schema_children.len() as i64;
    let mut schema_private = Box::new(SchemaPrivate {
        format,
        name,
        metadata,
        children: schema_children,
        #[cfg(test)]
        _live: test_support::Live::new(),
    });
    let schema = ArrowSchema {
        format: schema_private.format.as_ptr(),
        name: schema_private.name.as_ptr(),
        metadata: schema_private.metadata.as_ref().map_or(ptr::null(), |m| m.as_ptr() as *const c_char),
        flags,
        n_children,
        children: if n_children == 0 { ptr::null_mut() } else { schema_private.children.as_mut_ptr() },
        dictionary: ptr::null_mut(),
        release: Some(release_schema),
        private_data: ptr::null_mut(),
    };
    let buffer_pointers: Vec<*const c_void> = buffers.iter().map(Buffer::as_ptr).collect();
    let mut array_private = Box::new(ArrayPrivate {
        _buffers: buffers,
        buffer_pointers,
        children: array_children,
        #[cfg(test)]
        _live: test_support::Live::new(),
    });
    let array = ArrowArray {
        length: length as i64,
        null_count: null_count as i64,
        offset: 0,
        n_buffers: array_private.buffer_pointers.len() as i64,
        n_children,
        buffers: array_private.buffer_pointers.as_mut_ptr(),
        children: if n_children == 0 { ptr::null_mut() } else { array_private.children.as_mut_ptr() },
        dictionary: ptr::null_mut(),
        release: Some(release_array),
        private_data: ptr::null_mut(),
    };
    let (mut schema, mut array) = (schema, array);
    schema.private_data = Box::into_raw(schema_private) as *mut c_void;
    array.private_data = Box::into_raw(array_private) as *mut c_void;
    (schema, array)
}

/// The `release` of every schema this crate exports: releases the children
/// the host did not move out, frees them and everything this node owns,
/// and marks the node released. A released node is left alone.
unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    // Nothing in here panics; the guard is there because a panic must never
    // unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if schema.is_null() || (*schema).release.is_none() {
            return;
        }
        let private = Box::from_raw((*schema).private_data as *mut SchemaPrivate);
        for &child in &private.children {
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
        drop(private);
        (*schema).release = None;
        (*schema).private_data = ptr::null_mut();
    }));
}

/// The `release` of every array this crate exports (as `release_schema`).
unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if array.is_null() || (*array).release.is_none() {
            return;
        }
        let private = Box::from_raw((*array).private_data as *mut ArrayPrivate);
        for &child in &private.children {
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
        drop(private);
        (*array).release = None;
        (*array).private_data = ptr::null_mut();
    }));
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::Cell;

    thread_local! {
        /// Private blocks of exported structures not yet released, on this thread.
        pub static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    pub struct Live;

    impl Live {
        pub fn new() -> Self {
            LIVE.with(|l| l.set(l.get() + 1));
            Live
        }
    }

    impl Drop for Live {
        fn drop(&mut self) {
            LIVE.with(|l| l.set(l.get() - 1));
        }
    }

    pub fn live() -> isize {
        LIVE.with(|l| l.get())
    }
}
