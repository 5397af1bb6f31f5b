//! The OCI distribution API over raw HTTP: status codes, headers and error codes, endpoint by
//! endpoint, as the distribution-spec v1.1 states them.

mod blobs;
mod listings;
mod manifests;
mod uploads;
