//! The directive table, split by family; each file holds its rows next to
//! their handlers.  `ALL` is what the registry indexes.

use std::str::FromStr;

use crate::registry::Row;

pub mod alias;
pub mod auth;
pub mod connection;
pub mod core;
pub mod daemon;
pub mod headers;
pub mod log;
pub mod mime_env;
pub mod mpm;
pub mod perdir;
pub mod reqtimeout;
pub mod rewrite;
pub mod sections;
pub mod setenvif;
pub mod wsgi;

pub const ALL: &[&[Row]] = &[
    core::ROWS,
    connection::ROWS,
    reqtimeout::ROWS,
    perdir::ROWS,
    sections::ROWS,
    alias::ROWS,
    log::ROWS,
    mime_env::ROWS,
    setenvif::ROWS,
    headers::ROWS,
    rewrite::ROWS,
    auth::ROWS,
    wsgi::ROWS,
    mpm::ROWS,
];

/// C's `atoi`: optional sign and leading digits, anything after ignored.
pub fn atoi(v: &str) -> i64 {
    let t = v.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end]
        .parse::<i64>()
        .unwrap_or(if end == 0 { 0 } else { i64::MAX });
    if neg { -n } else { n }
}

/// mod_wsgi's On/Off parsing: `"<Name> must be one of: Off | On"`.
pub fn wsgi_flag(name: &str, v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(format!("{name} must be one of: Off | On"))
    }
}

/// Core's On/Off parsing for TAKE1 directives (EnableSendfile...).
pub fn core_flag(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err("parameter must be 'on' or 'off'".to_owned())
    }
}

/// A non-negative number, or `"<Name> \"<v>\" must be a non-negative integer"`.
pub fn number<T: FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse::<T>()
        .map_err(|_| format!("{name} \"{v}\" must be a non-negative integer"))
}

/// Apache's `ap_timeout_parameter_parse`: seconds, or a number with a
/// `ms`, `s`, `mi(n)` or `h` suffix.
pub fn timeout(name: &str, v: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{name} has wrong format");
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().map_err(|_| bad())?;
    let ms = match v[digits..].to_ascii_lowercase().as_str() {
        "" | "s" => n.checked_mul(1000),
        "ms" => Some(n),
        "mi" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(std::time::Duration::from_millis(ms))
}

/// The value among `choices` that `v` names (case-insensitive), else
/// Apache's message `err`.
pub fn one_of<T: Copy>(v: &str, choices: &[(&str, T)], err: &str) -> Result<T, String> {
    choices
        .iter()
        .find(|(name, _)| v.eq_ignore_ascii_case(name))
        .map(|&(_, t)| t)
        .ok_or_else(|| err.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn value_parsers() {
        assert_eq!(wsgi_flag("WSGIX", "ON"), Ok(true));
        assert_eq!(
            wsgi_flag("WSGIX", "yes"),
            Err("WSGIX must be one of: Off | On".to_owned())
        );
        assert_eq!(
            core_flag("x"),
            Err("parameter must be 'on' or 'off'".to_owned())
        );
        assert_eq!(timeout("Timeout", "300"), Ok(Duration::from_secs(300)));
        assert_eq!(timeout("Timeout", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            timeout("Timeout", "x"),
            Err("Timeout has wrong format".to_owned())
        );
        assert_eq!(
            number::<u32>("L", "-1"),
            Err("L \"-1\" must be a non-negative integer".to_owned())
        );
    }
}
