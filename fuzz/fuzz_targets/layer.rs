//! Image layers: no byte string panics the layer reader or the inventory's parsers, whatever
//! compression, tar headers or package files it claims to hold.
#![no_main]

use berth::trust::layers::{ImageFiles, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut files = ImageFiles::new(Limits::new(std::time::Duration::from_secs(5)));
    let _ = files.add_layer(data, "application/vnd.oci.image.layer.v1.tar");
    let _ = files.inventory();
});
