/// PipelineTemplate: the one template and expression language of the
/// pipeline (a documented subset of Jinja2; docs/pipelines.md, "Templates
/// and expressions", says exactly which).
///
/// The API:
///
///     // An expression (a filter step's condition), parsed at validation:
///     let e = try Expression(parsing: #"rating >= 7 and finish_reason == "stop""#)
///     e.names                                    // ["rating", "finish_reason"]: the columns it reads
///     let v: Value = try e.evaluate { name in row[name] }   // nil from the lookup: undefined
///     v.isTruthy                                 // Python's truth
///
///     // A template (prompts, map):
///     let t = try Template(parsing: "{% for ex in examples %}Q: {{ ex.q }}\n{% endfor %}{{ question }}")
///     t.names                                    // ["examples", "question"]
///     t.isLegacy                                 // false; "Q: {question}" (no {{ {% {#) is the legacy form
///     let text = try t.render { name in row[name] }
///
/// Both throw `TemplateError`: `kind` (.syntax when parsing, .render when
/// evaluating: a type error, an undefined name, a null printed where
/// `NullOutput.error` is asked for), `line` and `column` (1-based, in
/// Unicode scalars, inside the template or expression text) and `message`.
/// Values are `Value` (null, bool, int, double, string, list, object with
/// ordered keys); `Value.pythonString` is what `{{ value }}` prints.
/// Nothing here evaluates host code: the language has no calls but range()
/// and a fixed set of methods, and a render has step and output limits
/// (`RenderLimits`). `Regex` is the linear-time engine behind
/// `is matching(...)`.
public enum PipelineTemplateLanguage {
    /// The filters, sorted.
    public static var filters: [String] { Filters.names.sorted() }
    /// The tests (`x is name`), sorted.
    public static var tests: [String] { Tests.names.sorted() }
    /// The callable methods, sorted.
    public static var methods: [String] { Methods.names.sorted() }
}
