//! `word_count`: a pipeline step in Rust.
//!
//! Adds an int64 column (`words` unless the `output` parameter says
//! otherwise) with the number of whitespace-separated words of the utf8
//! column the `column` parameter names (`text` by default), and passes every
//! input column through, `_row_id` included. A row whose text is null
//! becomes a row error: its `_error` says why, and the host moves it to the
//! run's errors.jsonl instead of passing it on.
//!
//! Build: `cargo build --offline --release` makes `libword_count.so`
//! (`.dylib` on macOS), which `pipeline` loads with `--plugin-path`.

use pipeline_sdk::ffi::PIPELINE_STEP_DETERMINISTIC;
use pipeline_sdk::{export_plugin, Batch, Context, Error, InputBatch, Int64Builder, Step, StepInfo, StepKind, Utf8Builder};

struct WordCount {
    /// The utf8 column to read.
    column: String,
    /// The int64 column to add.
    output: String,
}

impl Step for WordCount {
    const INFO: StepInfo = StepInfo {
        kind: StepKind::Step,
        flags: PIPELINE_STEP_DETERMINISTIC,
        id: c"org.example.rust.word_count",
        name: c"word_count",
        version: c"0.1.0",
        description: c"Adds an int64 column with the number of whitespace-separated words of a utf8 column; \
a row whose text is null is a row error. Written in Rust.",
        inputs_json: c"[{\"name\": \"text\", \"type\": \"utf8\", \"name_param\": \"column\",
                         \"description\": \"The text whose words are counted.\"},
                        {\"name\": \"*\", \"type\": \"any\", \"description\": \"Passed through.\"}]",
        outputs_json: c"[{\"name\": \"words\", \"type\": \"int64\", \"name_param\": \"output\",
                          \"description\": \"Words in the text (null for a failed row).\"},
                         {\"name\": \"*\", \"type\": \"any\", \"description\": \"Every input column.\"}]",
        params_schema_json: c"{\"type\": \"object\", \"additionalProperties\": false,
            \"properties\": {
              \"column\": {\"type\": \"string\", \"default\": \"text\", \"minLength\": 1,
                           \"description\": \"The utf8 column to count the words of.\"},
              \"output\": {\"type\": \"string\", \"default\": \"words\", \"minLength\": 1,
                           \"description\": \"The int64 column to add (replaced if the input has it).\"}}}",
    };

    fn create(ctx: &Context<'_>, _params_json: &str) -> Result<Self, Error> {
        // Typed reads through the host's pipeline.params/1 service; the host
        // has already validated the parameters and filled in the defaults.
        let params = ctx.params();
        let column = params.string("column")?.unwrap_or_else(|| "text".into());
        let output = params.string("output")?.unwrap_or_else(|| "words".into());
        if output.starts_with('_') {
            return Err(Error::invalid_argument(format!(
                "output \"{output}\": names starting with \"_\" belong to the host"
            )));
        }
        Ok(WordCount { column, output })
    }

    fn process(&mut self, ctx: &Context<'_>, input: Option<&InputBatch<'_>>) -> Result<Option<Batch>, Error> {
        let Some(input) = input else { return Ok(None) };
        let column = input.column(&self.column).ok_or_else(|| {
            let names: Vec<&str> = input.columns().iter().map(|c| c.name()).collect();
            Error::invalid_data(format!("no column \"{}\" (utf8); the input has {}", self.column, names.join(", ")))
        })?;
        // A wrong type is an error naming the column and both types.
        let text = column.utf8()?;

        let mut words = Int64Builder::with_capacity(input.len());
        let mut errors = Utf8Builder::with_capacity(input.len(), 0);
        let mut failed = 0usize;
        for row in 0..input.len() {
            match text.get(row) {
                Some(value) => {
                    words.append(value.split_whitespace().count() as i64);
                    errors.append_null();
                }
                None => {
                    words.append_null();
                    errors.append(&format!("word_count: \"{}\" is null", self.column));
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            ctx.log(pipeline_sdk::LogLevel::Debug, &format!("{failed} rows without text"));
        }

        // Every input column, copied (the input is only borrowed for this
        // call), except the one we write and any earlier `_error`.
        let mut batch = Batch::passthrough(input, &[self.output.as_str(), "_error"])?;
        batch.push(&self.output, words.finish())?;
        batch.push("_error", errors.finish())?;
        Ok(Some(batch))
    }
}

export_plugin! {
    name: c"org.example.rust.word_count",
    version: c"0.1.0",
    description: c"Example Rust plugin: word_count.",
    // Uses nothing added after ABI 1.0, so any 1.x host loads it.
    abi_minor: 0,
    steps: [WordCount],
}
