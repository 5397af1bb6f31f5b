//! Build contexts: no byte string panics the unpacker, and an archive it refuses leaves nothing
//! behind (every entry is checked before the first is written).
#![no_main]

use berth::tasks::context::{Error, Limits, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let archive = dir.path().join("context.tar");
    let dest = dir.path().join("context");
    if std::fs::write(&archive, data).is_err() || std::fs::create_dir(&dest).is_err() {
        return;
    }
    let limits = Limits { max_bytes: 1 << 20, max_entries: 1000 };
    if let Err(e) = unpack(&archive, &dest, &limits, None)
        && !matches!(e, Error::Extract { .. })
    {
        let left = std::fs::read_dir(&dest).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "refused ({e}) but wrote into the context");
    }
});
