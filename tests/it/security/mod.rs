//! What an outside security review broke, each as a test that failed before the fix: tokens
//! that reached further than they claimed, roles that climbed to Owner, resources a slow or
//! idle client could hold, secrets readable at rest, and input that overflowed or leaked into
//! headers.

mod connections;
mod input;
mod roles;
mod secrets;
