//! `strftime(3)` for the access log's `%{format}t`, in UTC (the zone wsgid
//! writes all its log times in), C locale.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A broken-down UTC time.
struct Tm {
    year: i64,
    /// 1..=12
    month: usize,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    /// 0 = Sunday
    wday: usize,
    /// 0-based day of the year
    yday: u32,
    /// Seconds since the epoch.
    epoch: i64,
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31)
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, usize, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (
        year,
        usize::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

impl Tm {
    fn utc(t: SystemTime) -> Tm {
        let epoch = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        let days = epoch.div_euclid(86_400);
        let secs = u32::try_from(epoch.rem_euclid(86_400)).unwrap_or(0);
        let (year, month, day) = civil_from_days(days);
        const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUMULATIVE[month - 1] + day - 1 + u32::from(month > 2 && is_leap(year));
        Tm {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            wday: usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0),
            yday,
            epoch,
        }
    }
}

/// Format `t` (UTC) with a `strftime` pattern.  Unknown conversions are
/// copied as they are.
pub(crate) fn strftime(pattern: &str, t: SystemTime) -> String {
    let tm = Tm::utc(t);
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        conv(&mut out, spec, &tm);
    }
    out
}

fn conv(out: &mut String, spec: char, tm: &Tm) {
    let hour12 = if tm.hour.is_multiple_of(12) {
        12
    } else {
        tm.hour % 12
    };
    let _ = match spec {
        'a' => write!(out, "{}", &DAYS[tm.wday][..3]),
        'A' => write!(out, "{}", DAYS[tm.wday]),
        'b' | 'h' => write!(out, "{}", &MONTHS[tm.month - 1][..3]),
        'B' => write!(out, "{}", MONTHS[tm.month - 1]),
        'c' => write!(
            out,
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            &DAYS[tm.wday][..3],
            &MONTHS[tm.month - 1][..3],
            tm.day,
            tm.hour,
            tm.min,
            tm.sec,
            tm.year
        ),
        'C' => write!(out, "{:02}", tm.year.div_euclid(100)),
        'd' => write!(out, "{:02}", tm.day),
        'D' => write!(
            out,
            "{:02}/{:02}/{:02}",
            tm.month,
            tm.day,
            tm.year.rem_euclid(100)
        ),
        'e' => write!(out, "{:2}", tm.day),
        'F' => write!(out, "{}-{:02}-{:02}", tm.year, tm.month, tm.day),
        'H' => write!(out, "{:02}", tm.hour),
        'I' => write!(out, "{hour12:02}"),
        'j' => write!(out, "{:03}", tm.yday + 1),
        'k' => write!(out, "{:2}", tm.hour),
        'l' => write!(out, "{hour12:2}"),
        'm' => write!(out, "{:02}", tm.month),
        'M' => write!(out, "{:02}", tm.min),
        'n' => writeln!(out),
        'p' => write!(out, "{}", if tm.hour < 12 { "AM" } else { "PM" }),
        'r' => write!(
            out,
            "{hour12:02}:{:02}:{:02} {}",
            tm.min,
            tm.sec,
            if tm.hour < 12 { "AM" } else { "PM" }
        ),
        'R' => write!(out, "{:02}:{:02}", tm.hour, tm.min),
        's' => write!(out, "{}", tm.epoch),
        'S' => write!(out, "{:02}", tm.sec),
        't' => write!(out, "\t"),
        'T' | 'X' => write!(out, "{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
        'u' => write!(out, "{}", if tm.wday == 0 { 7 } else { tm.wday }),
        'w' => write!(out, "{}", tm.wday),
        'x' => write!(
            out,
            "{:02}/{:02}/{:02}",
            tm.month,
            tm.day,
            tm.year.rem_euclid(100)
        ),
        'y' => write!(out, "{:02}", tm.year.rem_euclid(100)),
        'Y' => write!(out, "{}", tm.year),
        'z' => write!(out, "+0000"),
        'Z' => write!(out, "GMT"),
        '%' => write!(out, "%"),
        other => write!(out, "%{other}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_a_known_instant() {
        // 2026-11-25 21:07:57 UTC, a Wednesday, day 329.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_640_877);
        assert_eq!(
            strftime("%d/%b/%Y:%H:%M:%S %z", t),
            "25/Nov/2026:21:07:57 +0000"
        );
        assert_eq!(
            strftime("%a %A %B %j %u %w %y %e", t),
            "Wed Wednesday November 329 3 3 26 25"
        );
        assert_eq!(
            strftime("%F %T %R %D %I %p %s %%", t),
            "2026-11-25 21:07:57 21:07 11/25/26 09 PM 1795640877 %"
        );
        assert_eq!(strftime("%c", t), "Wed Nov 25 21:07:57 2026");
        assert_eq!(strftime("%Q and a trailing %", t), "%Q and a trailing %");
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(strftime("%F %j", UNIX_EPOCH), "1970-01-01 001");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(strftime("%F %j %a", leap), "2000-02-29 060 Tue");
        let eoy = UNIX_EPOCH + Duration::from_secs(1_704_067_199); // 2023-12-31 23:59:59
        assert_eq!(strftime("%F %T %j", eoy), "2023-12-31 23:59:59 365");
    }
}
