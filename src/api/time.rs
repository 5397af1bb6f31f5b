//! Timestamps as the APIs print them: stored Unix milliseconds as ISO 8601 UTC.

/// Civil date and time of day: (year, month, day, hour, minute, second, millisecond).
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::calendar::civil_from_days(days);
    (year, i64::from(month), i64::from(day), rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

/// The UTC date (year, month, day) of `ms` (Unix milliseconds).
pub(crate) fn civil_date(ms: i64) -> (i64, i64, i64) {
    let (y, m, d, ..) = civil(ms);
    (y, m, d)
}

/// `2026-11-22T10:00:00.000000+00:00`, as `az` prints management resources.
pub(crate) fn iso8601(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+00:00", milli * 1000)
}

/// `2026-11-22T10:00:00.1230000Z`, as ACR's data-plane API (`/acr/v1`) prints times.
pub(crate) fn iso8601_z(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:07}Z", milli * 10_000)
}

/// `01:02:05`: a duration as `az acr task list-runs` shows it (hours past 24 go on counting).
pub(crate) fn hms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `2026-11-22T10:00:00.123Z`: RFC 3339 in UTC to the millisecond, as log shippers read it.
pub(crate) fn rfc3339(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Unix milliseconds of an RFC 3339 time (`2026-11-22T10:00:00Z`, with optional fraction and
/// a `Z` or `±HH:MM` offset), or of a date alone (`2026-11-22`, midnight UTC).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |t: &str| -> Option<i64> { t.bytes().all(|b| b.is_ascii_digit()).then(|| t.parse().ok())? };
    let (date, rest) = match s.split_once(['T', 't', ' ']) {
        Some((date, rest)) => (date, Some(rest)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, mo, d) = (num(parts.next()?)?, num(parts.next()?)?, num(parts.next()?)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mo, d) = (u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    let mut ms = crate::calendar::days_from_civil(y, mo, d) * 86_400_000;
    let Some(rest) = rest else { return Some(ms) };
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, o) = rest.split_at(at);
        let (oh, om) = o[1..].split_once(':')?;
        let minutes = num(oh)? * 60 + num(om)?;
        (c, if o.starts_with('-') { -minutes } else { minutes })
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.splitn(3, ':');
    let (h, mi, sec) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let milli = if frac.is_empty() { 0 } else { num(&format!("{:0<3}", &frac[..frac.len().min(3)]))? };
    ms += ((h * 60 + mi) * 60 + sec) * 1000 + milli - offset * 60_000;
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(1_795_000_000_123), "2026-11-18T11:06:40.123000+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
        assert_eq!(iso8601_z(1_795_000_000_123), "2026-11-18T11:06:40.1230000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("2026-11-18T11:06:40.123Z"), Some(1_795_000_000_123));
        assert_eq!(parse_rfc3339("2026-11-18T12:06:40.1234+01:00"), Some(1_795_000_000_123));
        assert_eq!(parse_rfc3339("2026-11-18T11:06:40Z"), Some(1_795_000_000_000));
        assert_eq!(parse_rfc3339("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00-00:30"), Some(1_800_000));
        for bad in ["", "yesterday", "2026-13-01", "2026-11-18T25:00:00Z", "2026-11-18T11:06:40", "+1-01-01"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
