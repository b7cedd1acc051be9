//! HTTP dates read as `apr_date_parse_http` reads them, which is laxer than
//! RFC 9110 and than the `httpdate` crate: the leading weekday is skipped
//! unread (a wrong one does not matter), the zone is not looked at (GMT is
//! assumed), and the three historical layouts are accepted:
//!
//! ```text
//! Sun, 06 Nov 1994 08:49:37 GMT   (also a one-digit day: 6 Nov 1994)
//! Sunday, 06-Nov-94 08:49:37 GMT  (two-digit year: < 70 is 20xx)
//! Sun Nov  6 08:49:37 1994        (asctime)
//! ```
//!
//! Written out here because a conditional request must succeed or fail
//! exactly where Apache's does, and no crate parses dates this way.

/// Seconds since the epoch, or `None` where apr answers `APR_DATE_BAD`
/// (unknown layout, impossible day or time, a year before 1970).
pub(crate) fn seconds(value: &str) -> Option<i64> {
    let s = value.trim_start().as_bytes();
    // The weekday: everything up to the first space.
    let s = &s[s.iter().position(|&b| b == b' ')? + 1..];
    let (year, mon, day, time) = if fits(s, b"## @$$ #### ##:##:##") {
        (num(&s[7..11]), &s[3..6], num(&s[0..2]), &s[12..20])
    } else if fits(s, b"##-@$$-## ##:##:##") {
        let yy = num(&s[7..9]);
        (
            if yy < 70 { 2000 + yy } else { 1900 + yy },
            &s[3..6],
            num(&s[0..2]),
            &s[10..18],
        )
    } else if fits(s, b"@$$ ~# ##:##:## ####") {
        let day = if s[4] == b' ' {
            num(&s[5..6])
        } else {
            num(&s[4..6])
        };
        (num(&s[16..20]), &s[0..3], day, &s[7..15])
    } else if fits(s, b"# @$$ #### ##:##:##") {
        (num(&s[6..10]), &s[2..5], num(&s[0..1]), &s[11..19])
    } else {
        return None;
    };
    let (hour, min, sec) = (num(&time[0..2]), num(&time[3..5]), num(&time[6..8]));
    let month = MONTHS.iter().position(|m| m.as_slice() == mon)? as i64 + 1;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || min > 59 || sec > 61 || year < 1970 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `apr_date_checkmask` up to the end of `mask` (whatever follows is not
/// looked at): `#` a digit, `@` an upper-case letter, `$` a lower-case
/// one, `~` a digit or a space, anything else itself.
fn fits(s: &[u8], mask: &[u8]) -> bool {
    s.len() >= mask.len()
        && mask.iter().zip(s).all(|(&m, &c)| match m {
            b'#' => c.is_ascii_digit(),
            b'@' => c.is_ascii_uppercase(),
            b'$' => c.is_ascii_lowercase(),
            b'~' => c == b' ' || c.is_ascii_digit(),
            _ => c == m,
        })
}

/// The number written in ASCII digits (checked by `fits`).
fn num(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0, |n, &d| n * 10 + i64::from(d.wrapping_sub(b'0')))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn the_three_layouts_agree() {
        let t = Some(784_111_777); // 1994-11-06 08:49:37 UTC
        assert_eq!(seconds("Sun, 06 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(seconds("Sunday, 06-Nov-94 08:49:37 GMT"), t);
        assert_eq!(seconds("Sun Nov  6 08:49:37 1994"), t);
        assert_eq!(seconds("Sun, 6 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(seconds("  Sun, 06 Nov 1994 08:49:37"), t);
    }

    #[test]
    fn the_weekday_and_zone_are_not_read() {
        let t = seconds("Mon, 01 Jan 1990 00:00:00 GMT");
        assert_eq!(t, Some(631_152_000));
        assert_eq!(seconds("Fri, 01 Jan 1990 00:00:00 GMT"), t);
        assert_eq!(seconds("x 01 Jan 1990 00:00:00 PST"), t);
        assert_eq!(seconds("Thu, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(seconds("Tue, 29 Feb 2000 23:59:61 GMT"), Some(951_868_801));
    }

    #[test]
    fn what_apr_refuses() {
        for bad in [
            "",
            "garbage",
            "01 Jan 1990 00:00:00 GMT",
            "Mon, 01 jan 1990 00:00:00 GMT",
            "Mon, 31 Apr 1990 00:00:00 GMT",
            "Mon, 29 Feb 1900 00:00:00 GMT",
            "Mon, 01 Jan 1990 24:00:00 GMT",
            "Mon, 01 Jan 1969 00:00:00 GMT",
            "Mon, 00 Jan 1990 00:00:00 GMT",
            "Mon, 01 Jan 199",
        ] {
            assert_eq!(seconds(bad), None, "{bad:?}");
        }
    }
}
