//! Timestamps as the APIs print them: stored Unix milliseconds as ISO 8601 UTC.

/// Civil date and time of day: (year, month, day, hour, minute, second, millisecond).
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(1_795_000_000_123), "2026-11-18T11:06:40.123000+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
        assert_eq!(iso8601_z(1_795_000_000_123), "2026-11-18T11:06:40.1230000Z");
    }
}
