//! mod_reqtimeout's `RequestReadTimeout [handshake=…] [header=…] [body=…]`:
//! each stage `timeout[-maxtimeout][,MinRate=rate]` (seconds, bytes per
//! second), parsed with mod_reqtimeout's rules and messages.  The stages
//! take effect when mod_reqtimeout is in use — the directive given, or
//! `LoadModule reqtimeout_module` (then its defaults, as Apache applies
//! them: `header=20-40,MinRate=500 body=20,MinRate=500`).

use crate::builder::Builder;
use crate::model::{ReqTimeoutStage, RequestReadTimeout};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("RequestReadTimeout", Raw, RSRC_CONF, 0, "Set various timeout parameters for TLS handshake and/or reading request headers and body", Set(request_read_timeout)),
];

/// mod_reqtimeout's defaults (`MRT_DEFAULT_*`).
pub const DEFAULT: RequestReadTimeout = RequestReadTimeout {
    header: ReqTimeoutStage {
        timeout: 20,
        max_timeout: 40,
        min_rate: 500,
    },
    body: ReqTimeoutStage {
        timeout: 20,
        max_timeout: 0,
        min_rate: 500,
    },
};

/// `parse_int`: a whole non-negative decimal number.
fn parse_int(s: &str) -> Result<u32, String> {
    let digits_end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    let (num, rest) = s.split_at(digits_end);
    if num.is_empty() || num == "-" || num == "+" {
        return Err(format!("Value '{s}' not numerical"));
    }
    if !rest.is_empty() {
        return Err(format!("Cannot parse '{rest}'"));
    }
    let n: i64 = num.parse().map_err(|_| format!("Cannot parse '{s}'"))?;
    if n < 0 {
        return Err("Value must be non-negative".to_owned());
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One stage's value, `set_reqtimeout_param`.
fn stage(value: &str) -> Result<ReqTimeoutStage, String> {
    let mut st = ReqTimeoutStage::default();
    let lower = value.to_ascii_lowercase();
    if let Some(at) = lower.find(",minrate=") {
        st.min_rate = parse_int(&value[at + ",minrate=".len()..])?;
        if st.min_rate == 0 {
            return Err("Minimum data rate must be larger than 0".to_owned());
        }
        let initial = &value[..at];
        match initial.split_once('-') {
            Some((t, max)) => {
                st.max_timeout = parse_int(max)?;
                st.timeout = parse_int(t)?;
            }
            None => st.timeout = parse_int(initial)?,
        }
    } else {
        if value.contains('-') {
            return Err("Must set MinRate option if using timeout range".to_owned());
        }
        st.timeout = parse_int(value)?;
    }
    if st.max_timeout != 0 && st.timeout >= st.max_timeout {
        return Err("Maximum timeout must be larger than initial timeout".to_owned());
    }
    Ok(st)
}

fn request_read_timeout(b: &mut Builder, a: &Args) -> Result<(), String> {
    if b.in_vhost() {
        return Err(
            "RequestReadTimeout in a <VirtualHost> is not implemented yet in wsgid (it applies server-wide)"
                .to_owned(),
        );
    }
    let mut rest = a.raw.as_str();
    let set = b.cfg.request_read_timeout.get_or_insert(DEFAULT);
    loop {
        let word = crate::lexer::next_word(&mut rest);
        if word.is_empty() {
            break;
        }
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'"
                    .to_owned(),
            );
        };
        let err = |e: String| format!("RequestReadTimeout: {key}={value}: {e}");
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "header" | "body" | "handshake") {
            return Err(err("Unknown RequestReadTimeout parameter".to_owned()));
        }
        let parsed = stage(value).map_err(err)?;
        match key.as_str() {
            "header" => set.header = parsed,
            "body" => set.body = parsed,
            // The TLS handshake stage is off by default.
            _ if parsed.timeout == 0 => {}
            _ => {
                return Err(
                    "RequestReadTimeout: handshake= is not implemented yet in wsgid".to_owned(),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_mod_reqtimeout() {
        assert_eq!(
            stage("15-30,MinRate=500"),
            Ok(ReqTimeoutStage {
                timeout: 15,
                max_timeout: 30,
                min_rate: 500
            })
        );
        assert_eq!(
            stage("20,minrate=100"),
            Ok(ReqTimeoutStage {
                timeout: 20,
                max_timeout: 0,
                min_rate: 100
            })
        );
        assert_eq!(stage("0").map(|s| s.timeout), Ok(0));
        assert_eq!(
            stage("10-20"),
            Err("Must set MinRate option if using timeout range".to_owned())
        );
        assert_eq!(
            stage("20-10,MinRate=1"),
            Err("Maximum timeout must be larger than initial timeout".to_owned())
        );
        assert_eq!(
            stage("5,MinRate=0"),
            Err("Minimum data rate must be larger than 0".to_owned())
        );
        assert_eq!(stage("x"), Err("Value 'x' not numerical".to_owned()));
        assert_eq!(stage("5s"), Err("Cannot parse 's'".to_owned()));
        assert_eq!(
            stage("5,MinRate=-1"),
            Err("Value must be non-negative".to_owned())
        );
    }
}
