//! Task files, values files and Dockerfiles: no text panics rendering, parsing or ordering a task
//! file, and a parsed file's steps wait only for earlier steps; no values file or Dockerfile
//! panics its reader.
#![no_main]

use berth::tasks::{dockerfile, taskfile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let values = taskfile::RunValues {
        id: "ca1".into(),
        registry: "127.0.0.1:5000".into(),
        registry_name: "127".into(),
        date: "20261130-000000z".into(),
        os: "linux".into(),
        architecture: "amd64".into(),
        commit: String::new(),
        branch: "main".into(),
        values: [("x".to_owned(), "1".to_owned())].into_iter().collect(),
    };
    if let Ok(rendered) = taskfile::render(text, &values)
        && let Ok(file) = taskfile::parse(&rendered)
    {
        let order = file.order();
        assert_eq!(order.len(), file.steps.len());
        for (i, step) in file.steps.iter().enumerate() {
            for id in &step.when {
                assert!(file.steps[..i].iter().any(|s| &s.id == id), "step {i} waits for {id:?}, no earlier step");
            }
        }
    }
    let _ = dockerfile::base_images(text, &[("A".into(), "b".into())]);
    let _ = taskfile::parse_build_args(text);
    let _ = taskfile::parse_values(text);
});
