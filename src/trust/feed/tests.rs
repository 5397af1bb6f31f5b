//! JSON uploads split into records within bounds (zips are exercised end to end in
//! `tests/it/vulndb.rs`, with real records).

use super::*;

fn records(text: &[u8], record: u64) -> Result<Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("upload");
    std::fs::write(&path, text).expect("write");
    let mut out = Vec::new();
    read(&path, Limits { record }, &mut |raw| {
        out.push(String::from_utf8_lossy(&raw.json).into_owned());
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

#[test]
fn an_array_is_split_into_its_elements_strings_and_nesting_included() {
    let text = br#" [ {"id": "A", "s": "a ] , \" [ {"}, {"id": "B", "x": [[1], {"y": "}"}]} ,3 ]  "#;
    let got = records(text, 1000).expect("array");
    assert_eq!(got, [r#"{"id": "A", "s": "a ] , \" [ {"}"#, r#"{"id": "B", "x": [[1], {"y": "}"}]} "#, "3 "]);
    assert_eq!(records(b"[]", 1000).expect("empty"), Vec::<String>::new());
}

#[test]
fn a_single_record_is_one_record() {
    let got = records(b"\xEF\xBB\xBF\n{\"id\": \"A\"}\n", 1000).expect("record");
    assert_eq!(got, ["{\"id\": \"A\"}\n"]);
}

#[test]
fn broken_or_oversized_uploads_are_refused() {
    assert!(matches!(records(br#"[{"id": "A"}, {"id": "#, 1000), Err(Error::Invalid(_))));
    assert!(matches!(records(br#"[{"id": "A"},, {}]"#, 1000), Err(Error::Invalid(_))));
    assert!(matches!(records(br#"[{"id": "A"}] trailing"#, 1000), Err(Error::Invalid(_))));
    assert!(matches!(records(b"hello", 1000), Err(Error::Invalid(_))));
    assert!(matches!(records(br#"[{"id": "0123456789"}]"#, 10), Err(Error::TooLarge(_))));
    assert!(matches!(records(br#"{"id": "0123456789"}"#, 10), Err(Error::TooLarge(_))));
    assert!(matches!(records(b"PK\x05\x06", 10), Err(Error::Invalid(_))), "a zip cut short");
}
