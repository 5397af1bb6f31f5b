//! Prints a command's JSON result as `az` does (knack's formatters), so scripts that parse
//! `az acr` output parse Berth's: `-o json|jsonc|yaml|tsv|table|none` and `--query` (JMESPath).

use std::io::Write;

use anyhow::Context;
use clap::{Args, ValueEnum};
use jmespath::ast::Ast;
use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Indented JSON, keys sorted
    #[default]
    Json,
    /// The same JSON (az colours it on a terminal)
    Jsonc,
    /// YAML, block style
    Yaml,
    /// Tab-separated values, one line per item, no headers
    Tsv,
    /// A table with headers
    Table,
    /// Nothing
    None,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t, env = "BERTH_OUTPUT")]
    pub(crate) format: Format,
    /// JMESPath query applied to the result before it is printed
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub(crate) query: Option<String>,
}

/// A command's `-o table` layout, as `az acr`'s table transformers define it: headers and cells
/// for one item. Used unless `--query` is given (then columns come from the query's result).
pub(crate) type Columns = fn(&Value) -> Vec<(&'static str, String)>;

/// Prints `result` to stdout in the chosen format.
pub(crate) fn print(result: &Value, args: &OutputArgs, columns: Option<Columns>) -> anyhow::Result<()> {
    let text = render(result, args, columns)?;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // `berth … | head` closing the pipe early is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `result` as `berth … -o FORMAT --query QUERY` prints it.
pub fn render_text(result: &Value, format: &str, query: Option<&str>) -> anyhow::Result<String> {
    let format = Format::from_str(format, true).map_err(anyhow::Error::msg)?;
    render(result, &OutputArgs { format, query: query.map(str::to_owned) }, None)
}

pub(crate) fn render(result: &Value, args: &OutputArgs, columns: Option<Columns>) -> anyhow::Result<String> {
    let (value, order) = match &args.query {
        Some(q) => query(q, result)?,
        None => (result.clone(), Vec::new()),
    };
    Ok(match args.format {
        Format::Json | Format::Jsonc => serde_json::to_string_pretty(&value)? + "\n",
        Format::Yaml => {
            let mut s = String::new();
            yaml(&value, 0, &mut s);
            s
        }
        Format::Tsv => tsv(&value, &order),
        Format::Table => match columns.filter(|_| args.query.is_none()) {
            Some(columns) => table_from(&value, columns),
            None => auto_table(&value, &order),
        },
        Format::None => String::new(),
    })
}

/// Runs a JMESPath query. Also returns the key order of the query's final multiselect hash
/// (`{name: name, digest: digest}`), which knack keeps for tsv and table output.
fn query(expression: &str, data: &Value) -> anyhow::Result<(Value, Vec<String>)> {
    let expr = jmespath::compile(expression).map_err(|e| anyhow::anyhow!("invalid --query {expression:?}: {e}"))?;
    let var = jmespath::Variable::try_from(data.clone()).context("result is not JMESPath data")?;
    let found = expr.search(var).map_err(|e| anyhow::anyhow!("--query {expression:?} failed: {e}"))?;
    Ok((serde_json::to_value(&*found)?, hash_keys(expr.as_ast())))
}

fn hash_keys(ast: &Ast) -> Vec<String> {
    match ast {
        Ast::MultiHash { elements, .. } => elements.iter().map(|kv| kv.key.clone()).collect(),
        Ast::Projection { rhs, .. } | Ast::Subexpr { rhs, .. } => hash_keys(rhs),
        Ast::Condition { then, .. } => hash_keys(then),
        Ast::Flatten { node, .. } => hash_keys(node),
        _ => Vec::new(),
    }
}

/// An object's entries, in the query's key order first, then sorted (as `json.dumps(sort_keys)`).
fn entries<'a>(map: &'a serde_json::Map<String, Value>, order: &[String]) -> Vec<(&'a String, &'a Value)> {
    let mut out: Vec<_> = order.iter().filter_map(|k| map.get_key_value(k)).collect();
    out.extend(map.iter().filter(|(k, _)| !order.contains(k)));
    out
}

/// Python's `str()` of a JSON value, which is what az prints in tsv and table cells.
fn python_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rows(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// knack's `_TsvOutput`: one line per item; an object's values tab-separated; a nested list
/// prints its length and a nested object nothing, so columns stay aligned.
fn tsv(value: &Value, order: &[String]) -> String {
    let cell = |v: &Value| match v {
        Value::Array(a) => a.len().to_string(),
        Value::Object(_) => String::new(),
        other => python_str(other),
    };
    let mut out = String::new();
    for row in rows(value) {
        let line: Vec<String> = match row {
            Value::Object(map) => entries(map, order).into_iter().map(|(_, v)| cell(v)).collect(),
            Value::Array(items) => items.iter().map(cell).collect(),
            Value::Bool(b) => vec![b.to_string()],
            other => vec![cell(other)],
        };
        out.push_str(&line.join("\t"));
        out.push('\n');
    }
    out
}

/// az's table transformers: a result's `value` list (as `show-usage` prints) or `manifests`
/// list (`manifest list-referrers`) is the rows.
fn table_from(value: &Value, columns: Columns) -> String {
    let listed = ["value", "manifests"].iter().find_map(|field| value.get(field).filter(|v| v.is_array()));
    let value = listed.unwrap_or(value);
    let rows: Vec<Vec<(&str, String)>> = rows(value).into_iter().map(columns).collect();
    let headers: Vec<String> =
        rows.first().map(|r| r.iter().map(|(h, _)| (*h).to_owned()).collect()).unwrap_or_default();
    let cells = rows.into_iter().map(|r| r.into_iter().map(|(_, c)| c).collect()).collect::<Vec<Vec<String>>>();
    tabulate(&headers, &cells)
}

/// knack's automatic table: scalar fields of each item as columns (first letter capitalised;
/// `id`, `type` and `etag` skipped); a bare value becomes the column `Result`.
fn auto_table(value: &Value, order: &[String]) -> String {
    let mut headers: Vec<String> = Vec::new();
    let mut items: Vec<Vec<(String, String)>> = Vec::new();
    for row in rows(value) {
        let fields: Vec<(String, String)> = match row {
            Value::Object(map) => entries(map, order)
                .into_iter()
                .filter(|(k, v)| !["id", "type", "etag"].contains(&k.as_str()) && !is_structured_or_null(v))
                .map(|(k, v)| (capitalize(k), python_str(v)))
                .collect(),
            Value::Array(list) => {
                list.iter().enumerate().map(|(i, v)| (format!("Column{}", i + 1), python_str(v))).collect()
            }
            other => vec![("Result".into(), python_str(other))],
        };
        for (h, _) in &fields {
            if !headers.contains(h) {
                headers.push(h.clone());
            }
        }
        items.push(fields);
    }
    let cells: Vec<Vec<String>> = items
        .into_iter()
        .map(|fields| {
            headers
                .iter()
                .map(|h| fields.iter().find(|(k, _)| k == h).map(|(_, v)| v.clone()).unwrap_or_default())
                .collect()
        })
        .collect();
    tabulate(&headers, &cells)
}

fn is_structured_or_null(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Array(_) | Value::Object(_))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// tabulate's `simple` format as knack calls it: each column as wide as its widest cell and at
/// least its header plus two, columns two spaces apart, a dashed rule under the headers, cells
/// stripped and left-aligned, trailing blanks trimmed.
fn tabulate(headers: &[String], rows: &[Vec<String>]) -> String {
    if headers.is_empty() {
        return String::new();
    }
    let width = |s: &str| s.chars().count();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| rows.iter().map(|r| width(r[i].trim())).fold(width(h) + 2, usize::max))
        .collect();
    let line = |cells: Vec<&str>| {
        let joined = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
        joined.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.iter().map(String::as_str).collect());
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out += &line(rules.iter().map(String::as_str).collect());
    for r in rows {
        out += &line(r.iter().map(|c| c.trim()).collect());
    }
    out
}

/// PyYAML's `safe_dump(default_flow_style=False)`: block style, sorted keys, strings quoted
/// where they would otherwise read back as another type.
fn yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&format!("{pad}{}:", yaml_scalar(&Value::String(k.clone()))));
                yaml_nested(v, indent + 2, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for v in items {
                out.push_str(&format!("{pad}-"));
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key shares the dash's line.
                        let mut inner = String::new();
                        yaml(v, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => yaml_nested(v, indent + 2, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn yaml_nested(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml(v, indent, out);
        }
        // PyYAML does not indent a list under its key.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml(v, indent - 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./-@ ".contains(c))
                && !s.starts_with([' ', '-', '.', '@'])
                && !s.ends_with(' ')
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && !["true", "false", "yes", "no", "on", "off", "null", "~"].contains(&s.to_ascii_lowercase().as_str());
            if plain { s.clone() } else { format!("'{}'", s.replace('\'', "''")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(format: Format, query: Option<&str>) -> OutputArgs {
        OutputArgs { format, query: query.map(str::to_owned) }
    }

    fn render(v: &Value, format: Format, query: Option<&str>) -> String {
        super::render(v, &args(format, query), None).expect("renders")
    }

    #[test]
    fn json_is_indented_with_sorted_keys() {
        let v = json!({"b": 1, "a": [true, null]});
        assert_eq!(render(&v, Format::Json, None), "{\n  \"a\": [\n    true,\n    null\n  ],\n  \"b\": 1\n}\n");
    }

    #[test]
    fn tsv_follows_knack() {
        let v = json!([{"b": "x", "a": true, "c": null, "d": [1, 2], "e": {}}, {"a": false, "b": "y"}]);
        assert_eq!(render(&v, Format::Tsv, None), "True\tx\tNone\t2\t\nFalse\ty\n");
        assert_eq!(render(&json!(true), Format::Tsv, None), "true\n");
        assert_eq!(render(&json!(["a", "b"]), Format::Tsv, None), "a\nb\n");
    }

    #[test]
    fn query_keeps_multiselect_key_order_for_tsv() {
        let v = json!([{"digest": "sha256:1", "tags": ["v1"]}, {"digest": "sha256:2", "tags": []}]);
        assert_eq!(render(&v, Format::Tsv, Some("[?tags[0]==null].digest")), "sha256:2\n");
        assert_eq!(render(&v, Format::Tsv, Some("[].{z: digest, a: tags[0]}")), "sha256:1\tv1\nsha256:2\tNone\n");
    }

    #[test]
    fn invalid_query_is_an_error() {
        assert!(super::render(&json!({}), &args(Format::Json, Some("[?")), None).is_err());
    }

    #[test]
    fn auto_table_matches_tabulate_simple() {
        let v = json!([{"name": "a", "id": "skip", "enabled": true, "nested": {}}, {"name": "longer-name", "enabled": false}]);
        let expected = "Enabled    Name\n---------  -----------\nTrue       a\nFalse      longer-name\n";
        assert_eq!(render(&v, Format::Table, None), expected);
        assert_eq!(render(&json!(["x"]), Format::Table, None), "Result\n--------\nx\n");
    }

    #[test]
    fn transformer_columns_apply_without_query() {
        fn cols(v: &Value) -> Vec<(&'static str, String)> {
            vec![("NAME", v["name"].as_str().unwrap_or(" ").to_owned())]
        }
        let v = json!([{"name": "t1", "other": 1}]);
        assert_eq!(super::render(&v, &args(Format::Table, None), Some(cols)).expect("table"), "NAME\n------\nt1\n");
        let queried = super::render(&v, &args(Format::Table, Some("[].other")), Some(cols)).expect("table");
        assert_eq!(queried, "Result\n--------\n1\n");
    }

    #[test]
    fn yaml_is_block_style() {
        let v = json!({"passwords": [{"name": "password", "value": null}], "username": "admin", "n": "2026-01-01"});
        assert_eq!(
            render(&v, Format::Yaml, None),
            "n: '2026-01-01'\npasswords:\n- name: password\n  value: null\nusername: admin\n"
        );
    }
}
