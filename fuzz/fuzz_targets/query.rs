//! `--query` (JMESPath) over a command's JSON, in every output format: no input panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static RESULT: LazyLock<Value> = LazyLock::new(|| {
    json!([
        {"name": "app", "tags": ["v1", "latest"], "size": 1024, "locked": false, "nested": {"a": [1, 2.5, null]}},
        {"name": "db", "tags": [], "size": 0, "locked": true, "nested": {}},
    ])
});

fuzz_target!(|s: &str| {
    for format in ["json", "yaml", "tsv", "table"] {
        let _ = berth::cli::render_text(&RESULT, format, Some(s));
    }
});
