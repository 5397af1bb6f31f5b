//! Source webhooks: no body panics the verifier of any git service, signed correctly (so the
//! payload is parsed) or not; a push it accepts names branches.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use berth::tasks::hooks::{github_signature, verify};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(k, v);
        }
    };
    match pick % 5 {
        0 => {
            set("x-github-event", "push");
            set("x-hub-signature-256", &github_signature(SECRET, body));
        }
        1 => {
            set("x-gitlab-event", "Push Hook");
            set("x-gitlab-token", "fuzz-secret");
        }
        2 => {
            set("x-event-key", "repo:push");
            set("x-hub-signature", &github_signature(SECRET, body));
        }
        3 => {
            set("x-event-key", "repo:refs_changed");
            set("x-hub-signature", &github_signature(SECRET, body));
        }
        _ => set("authorization", "Basic dTpmdXp6LXNlY3JldA=="),
    }
    if let Ok(Some(push)) = verify(&headers, body, SECRET) {
        assert!(!push.refs.is_empty());
        assert!(push.refs.iter().all(|r| !r.branch.is_empty()));
    }
});
