//! JavaScript's two date formats, for the data Node socket.io nodes exchange: `Date#toString`
//! (what a handshake's `time` holds) and `Date#toISOString` (what `JSON.stringify` makes of a
//! date, and so what a client receives for a msgpack timestamp from another node). Always in
//! UTC; nothing here needs a time zone database.

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar date and time of day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Days since 1970-01-01 (a Thursday).
    days: i64,
}

/// Howard Hinnant's `civil_from_days`, for seconds since the epoch (negative before it).
fn civil(seconds: i64) -> Civil {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        days,
    }
}

fn unix_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Milliseconds since the epoch, as JavaScript's `+new Date()`.
pub(crate) fn millis_since_epoch(time: SystemTime) -> i64 {
    unix_millis(time)
}

/// `Date#toString` in UTC: `Mon Nov 30 2026 20:40:03 GMT+0000 (Coordinated Universal Time)`.
pub(crate) fn js_date_string(time: SystemTime) -> String {
    let c = civil(unix_millis(time).div_euclid(1000));
    format!(
        "{} {} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        WEEKDAYS[c.days.rem_euclid(7) as usize],
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// `Date#toISOString`: `2026-11-30T20:40:03.123Z`, for seconds and nanoseconds since the
/// epoch (a msgpack timestamp).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn iso_string(seconds: i64, nanos: u32) -> String {
    let c = civil(seconds);
    let millis = nanos / 1_000_000;
    if (0..=9999).contains(&c.year) {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    } else {
        // JavaScript's expanded years: a sign and six digits.
        let sign = if c.year < 0 { '-' } else { '+' };
        format!(
            "{sign}{:06}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            c.year.abs(),
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second
        )
    }
}

/// The time `millis` milliseconds after the epoch.
#[cfg(test)]
pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_javascript() {
        // new Date(1796071203123): checked with node -e.
        let t = from_millis(1_796_071_203_123);
        assert_eq!(
            iso_string(1_796_071_203, 123_000_000),
            "2026-11-30T20:40:03.123Z"
        );
        assert_eq!(
            js_date_string(t),
            "Mon Nov 30 2026 20:40:03 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(iso_string(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_string(-1, 0), "1969-12-31T23:59:59.000Z");
        assert_eq!(iso_string(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            iso_string(253_402_300_800, 0),
            "+010000-01-01T00:00:00.000Z"
        );
        assert_eq!(millis_since_epoch(t), 1_796_071_203_123);
    }
}
