//! The `Content-Range` of a chunked upload's PATCH.

/// `<first>-<last>` as the spec writes it (`bytes ` and `/<total>` are tolerated, as clients
/// send them): the inclusive byte range, or `None` if it is not one (or its length, `last -
/// first + 1`, does not fit in 64 bits).
pub fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split_once('/').map_or(v, |(r, _)| r);
    let (a, b) = v.split_once('-')?;
    let (a, b) = (number(a.trim())?, number(b.trim())?);
    b.checked_sub(a)?.checked_add(1)?;
    Some((a, b))
}

/// Decimal digits only (`u64::from_str` would also take a sign).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range(" 5-5 "), Some((5, 5)));
        assert_eq!(parse_content_range("1-18446744073709551615"), Some((1, u64::MAX)));
        for bad in
            ["", "5", "a-b", "9-3", "-3", "1-", "+1-2", "1--2", "18446744073709551616-1", "0-18446744073709551615"]
        {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
