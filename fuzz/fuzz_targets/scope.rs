//! Token scopes (`repository:NAME:pull,push`) and scope-map actions: no input panics.
#![no_main]

use berth::auth::scope::{Scope, parse_scope_map_actions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let _ = Scope::parse_all(s);
    let actions: Vec<&str> = s.lines().collect();
    let _ = parse_scope_map_actions(&actions);
});
