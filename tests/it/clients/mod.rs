//! Push and pull through clients nobody here wrote: the `oci-client` crate, Debian's skopeo and
//! podman, the docker CLI and oras-py.
//! They are the proof that the protocol is right, not just our reading of it.

mod oci_client;
mod signin;
mod skopeo;
