//! Push and pull through clients nobody here wrote: the `oci-client` crate and Debian's skopeo.
//! They are the proof that the protocol is right, not just our reading of it.

mod oci_client;
mod skopeo;
