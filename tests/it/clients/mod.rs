//! Push and pull through clients nobody here wrote: the `oci-client` crate, Debian's skopeo and
//! podman, the docker CLI, oras-py and Microsoft's ACR SDK for Python.
//! They are the proof that the protocol is right, not just our reading of it.

mod acr_sdk;
mod oci_client;
mod signin;
pub(crate) mod skopeo;
