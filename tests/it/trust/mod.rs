//! Supply-chain trust: signatures made by real tools, scanning, quarantine and policies.

mod policies;
pub mod scanning;
mod signatures;
