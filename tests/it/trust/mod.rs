//! Supply-chain trust: signatures made by real tools, scanning, quarantine and policies.

mod policies;
mod scanning;
mod signatures;
