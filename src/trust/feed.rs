//! Reading an import file (spooled to disk) into OSV records' JSON, one at a time, within
//! bounds: a zip of `*.json` records (OSV's per-ecosystem `all.zip`), one JSON record, or a JSON
//! array of records. Blocking I/O: run it on the blocking pool.
//!
//! Zips are read from their central directory by a minimal reader over flate2 (stored and
//! deflated entries, ZIP64; no encryption, no other methods): smaller than the `zip` crate and
//! only what OSV's exports use. An entry is inflated through a bound of the record limit
//! whatever its header declares, and must inflate to exactly its declared size and CRC-32, so
//! a decompression bomb stops after `record` bytes. JSON arrays are split into elements by a
//! scanner that holds one element at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use super::{Error, Result};

/// What each record handed on may be at most, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub record: u64,
}

/// A record's JSON, with where it came from (a zip entry's name; empty otherwise).
pub struct Raw {
    pub name: String,
    pub json: Vec<u8>,
}

/// Hands every record of the file at `path` to `each`, in file order, until `each` breaks.
/// Fails on a file that is none of the three forms, a damaged zip, or a record over the limit.
pub fn read(path: &Path, limits: Limits, each: &mut dyn FnMut(Raw) -> ControlFlow<()>) -> Result<()> {
    let mut file = BufReader::new(File::open(path)?);
    let head = file.fill_buf()?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return zip::read(path, limits, each);
    }
    skip_whitespace(&mut file)?;
    match file.fill_buf()?.first() {
        Some(b'{') => {
            let json = read_bounded(&mut file, limits.record, "the record")?;
            let _ = each(Raw { name: String::new(), json });
            Ok(())
        }
        Some(b'[') => array(&mut file, limits, each),
        _ => {
            Err(Error::Invalid("the upload is neither a zip of OSV records nor OSV JSON (a record or an array)".into()))
        }
    }
}

/// Skips whitespace and a UTF-8 byte-order mark.
fn skip_whitespace(r: &mut impl BufRead) -> Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.starts_with(b"\xEF\xBB\xBF") {
            r.consume(3);
            continue;
        }
        let n = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if n == 0 {
            return Ok(());
        }
        r.consume(n);
    }
}

/// All of `r`, refused past `limit` bytes.
fn read_bounded(r: &mut impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge(format!("{what} is over the {limit}-byte limit of one record")));
    }
    Ok(out)
}

/// The elements of a top-level JSON array, each handed on when complete.
fn array(r: &mut impl BufRead, limits: Limits, each: &mut dyn FnMut(Raw) -> ControlFlow<()>) -> Result<()> {
    r.consume(1);
    let mut element = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let truncated = || Error::Invalid("the JSON array ends before its closing ]".into());
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(truncated());
        }
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            if in_string {
                element.push(b);
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else if depth == 0 && (b == b',' || b == b']') {
                let json = std::mem::take(&mut element);
                if !json.iter().all(u8::is_ascii_whitespace) {
                    if each(Raw { name: String::new(), json }).is_break() {
                        return Ok(());
                    }
                } else if b == b',' {
                    return Err(Error::Invalid("the JSON array has an empty element".into()));
                }
                if b == b']' {
                    done = true;
                    break;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if !(element.is_empty() && b.is_ascii_whitespace()) {
                    element.push(b);
                }
            }
            if element.len() as u64 > limits.record {
                return Err(Error::TooLarge(format!(
                    "an element of the JSON array is over the {}-byte limit of one record",
                    limits.record
                )));
            }
        }
        r.consume(used);
        if done {
            skip_whitespace(r)?;
            if !r.fill_buf()?.is_empty() {
                return Err(Error::Invalid("text follows the JSON array".into()));
            }
            return Ok(());
        }
    }
}

mod zip {
    //! The central directory and entries of a zip file (APPNOTE.TXT 6.3: 4.3.12 central
    //! directory headers, 4.3.16 end of central directory, 4.3.14/4.3.15 ZIP64 records,
    //! 4.5.3 ZIP64 extra field).

    use super::*;

    const EOCD: u32 = 0x0605_4b50;
    const ZIP64_LOCATOR: u32 = 0x0706_4b50;
    const ZIP64_EOCD: u32 = 0x0606_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    const LOCAL: u32 = 0x0403_4b50;
    /// A name longer than this is not an OSV record's (and is not kept whole).
    const MAX_NAME: usize = 1024;

    fn damaged(what: &str) -> Error {
        Error::Invalid(format!("the zip is damaged: {what}"))
    }

    fn u16_at(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 2).map_or(0, |s| u64::from(u16::from_le_bytes([s[0], s[1]])))
    }

    fn u32_at(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 4).map_or(0, |s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8).map_or(0, |s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
    }

    fn exact<const N: usize>(r: &mut impl Read) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        r.read_exact(&mut b).map_err(|_| damaged("a header is cut off"))?;
        Ok(b)
    }

    /// Where the central directory is and how many entries it holds.
    fn directory(file: &mut File) -> Result<(u64, u64, u64)> {
        let len = file.seek(SeekFrom::End(0))?;
        // The end record (22 bytes) is followed by a comment of at most 65,535 bytes.
        let tail_len = len.min(22 + 65_535);
        file.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact(&mut tail)?;
        let at = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(&tail, i) == u64::from(EOCD))
            .ok_or_else(|| damaged("no end of central directory record"))?;
        let eocd = &tail[at..];
        let (mut entries, mut size, mut offset) = (u16_at(eocd, 10), u32_at(eocd, 12), u32_at(eocd, 16));
        if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator_at = (len - tail_len + at as u64).checked_sub(20).ok_or_else(|| damaged("no ZIP64 locator"))?;
            file.seek(SeekFrom::Start(locator_at))?;
            let locator: [u8; 20] = exact(file)?;
            if u32_at(&locator, 0) != u64::from(ZIP64_LOCATOR) {
                return Err(damaged("no ZIP64 locator"));
            }
            file.seek(SeekFrom::Start(u64_at(&locator, 8)))?;
            let record: [u8; 56] = exact(file)?;
            if u32_at(&record, 0) != u64::from(ZIP64_EOCD) {
                return Err(damaged("no ZIP64 end of central directory record"));
            }
            (entries, size, offset) = (u64_at(&record, 32), u64_at(&record, 40), u64_at(&record, 48));
        }
        if offset.checked_add(size).is_none_or(|end| end > len) {
            return Err(damaged("the central directory lies outside the file"));
        }
        Ok((offset, size, entries))
    }

    /// One central directory entry: what reading its data needs.
    struct Entry {
        name: String,
        method: u64,
        flags: u64,
        crc: u32,
        compressed: u64,
        size: u64,
        local: u64,
    }

    fn next_entry(r: &mut impl Read) -> Result<Entry> {
        let h: [u8; 46] = exact(r)?;
        if u32_at(&h, 0) != u64::from(CENTRAL) {
            return Err(damaged("a central directory header is missing"));
        }
        let (name_len, extra_len, comment_len) = (u16_at(&h, 28), u16_at(&h, 30), u16_at(&h, 32));
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name).map_err(|_| damaged("a name is cut off"))?;
        let mut extra = vec![0u8; extra_len as usize];
        r.read_exact(&mut extra).map_err(|_| damaged("an extra field is cut off"))?;
        std::io::copy(&mut r.take(comment_len), &mut std::io::sink())?;
        let mut e = Entry {
            name: String::from_utf8_lossy(&name[..name.len().min(MAX_NAME)]).into_owned(),
            method: u16_at(&h, 10),
            flags: u16_at(&h, 8),
            crc: u32_at(&h, 16) as u32,
            compressed: u32_at(&h, 20),
            size: u32_at(&h, 24),
            local: u32_at(&h, 42),
        };
        // The ZIP64 extra field holds, in this order, the values their 32-bit fields mark.
        let mut at = 0;
        while at + 4 <= extra.len() {
            let (id, len) = (u16_at(&extra, at), u16_at(&extra, at + 2) as usize);
            if id == 1 {
                let mut field = at + 4;
                for value in [&mut e.size, &mut e.compressed, &mut e.local] {
                    if *value == 0xFFFF_FFFF {
                        *value = u64_at(&extra, field);
                        field += 8;
                    }
                }
            }
            at += 4 + len;
        }
        Ok(e)
    }

    pub(super) fn read(path: &Path, limits: Limits, each: &mut dyn FnMut(Raw) -> ControlFlow<()>) -> Result<()> {
        let mut index = File::open(path)?;
        let (offset, size, entries) = directory(&mut index)?;
        index.seek(SeekFrom::Start(offset))?;
        let mut index = BufReader::new(index.take(size));
        let mut data = File::open(path)?;
        for _ in 0..entries {
            let e = next_entry(&mut index)?;
            if e.name.ends_with('/') || !e.name.to_ascii_lowercase().ends_with(".json") {
                continue;
            }
            let json = entry(&mut data, &e, limits)?;
            if each(Raw { name: e.name, json }).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// An entry's data, inflated through the record bound and checked against its header.
    fn entry(file: &mut File, e: &Entry, limits: Limits) -> Result<Vec<u8>> {
        let name = &e.name;
        if e.flags & 1 != 0 {
            return Err(Error::Invalid(format!("zip entry {name} is encrypted")));
        }
        if e.size > limits.record {
            return Err(Error::TooLarge(format!(
                "zip entry {name} declares {} bytes, over the {}-byte limit of one record",
                e.size, limits.record
            )));
        }
        file.seek(SeekFrom::Start(e.local))?;
        let local: [u8; 30] = exact(file)?;
        if u32_at(&local, 0) != u64::from(LOCAL) {
            return Err(damaged(&format!("no local header for {name}")));
        }
        file.seek(SeekFrom::Current((u16_at(&local, 26) + u16_at(&local, 28)) as i64))?;
        let compressed = BufReader::new(file.take(e.compressed));
        let mut out = Vec::new();
        let bound = limits.record + 1;
        let read = match e.method {
            0 => compressed.take(bound).read_to_end(&mut out),
            8 => flate2::bufread::DeflateDecoder::new(compressed).take(bound).read_to_end(&mut out),
            m => {
                return Err(Error::Invalid(format!(
                    "zip entry {name} uses compression method {m}: only stored and deflated entries are read"
                )));
            }
        };
        read.map_err(|e| Error::Invalid(format!("zip entry {name} does not inflate: {e}")))?;
        if out.len() as u64 > limits.record {
            return Err(Error::TooLarge(format!(
                "zip entry {name} inflates past the {}-byte limit of one record (it declares {} bytes): refused as a decompression bomb",
                limits.record, e.size
            )));
        }
        if out.len() as u64 != e.size || crc32fast::hash(&out) != e.crc {
            return Err(damaged(&format!("entry {name} does not inflate to its declared size and CRC-32")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
