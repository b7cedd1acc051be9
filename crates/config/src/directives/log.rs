//! Logging directives: `ErrorLog`, `LogLevel` (core), and mod_log_config's
//! `LogFormat`, `CustomLog`, `TransferLog`.  Access-log formats are
//! resolved in `finish` because Apache resolves nicknames at open time.

use std::collections::BTreeMap;

use crate::builder::{Builder, RawLog};
use crate::model::{Level, LogLevel, LogTarget, PipedLog};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("ErrorLog", Take1, RSRC_CONF, 0, "The filename of the error log", Set(error_log)),
    row("LogLevel", Iterate, RSRC_CONF | ACCESS_CONF, 0, "Level of verbosity in error logging", Set(log_level)),
    row("LogFormat", Take12, RSRC_CONF, 0, "a log format string (see docs) and an optional format name", Set(log_format)),
    row("CustomLog", Take23, RSRC_CONF, 0, "a file name, a custom log format string or format name, and an optional \"env=\" or \"expr=\" clause (see docs)", Set(custom_log)),
    row("TransferLog", Take1, RSRC_CONF, 0, "the filename of the access log", Set(transfer_log)),
    row("GlobalLog", Take23, RSRC_CONF, 0, "Same as CustomLog, but forces virtualhosts to inherit the log", Planned("GlobalLog")),
    row("BufferedLogs", Flag, RSRC_CONF, 0, "Enable Buffered Logging (experimental)", Ignored("wsgid's access log writer does its own buffering")),
];

fn error_log(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let target = if let Some(piped) = PipedLog::parse(v) {
        LogTarget::Pipe(piped)
    } else if v == "syslog" || v.starts_with("syslog:") {
        return Err(format!("ErrorLog: {v} is not implemented yet in wsgid"));
    } else if v == "/dev/stderr" {
        LogTarget::Stderr
    } else {
        LogTarget::File(b.server_relative(v))
    };
    b.host().error_log = Some(target);
    Ok(())
}

const LEVELS_HELP: &str = "LogLevel requires level keyword: one of emerg/alert/crit/error/warn/notice/info/debug/trace1/.../trace8";

/// One level keyword (`warn`, `trace3`...).
pub fn parse_level(s: &str) -> Option<Level> {
    Level::parse(s)
}

/// `LogLevel [module:]level ...` (core.c `set_loglevel`).  Module names
/// may be written `wsgi`, `wsgi_module` or `mod_wsgi.c`; they are stored
/// as `wsgi`.
pub fn parse_log_level(words: &[String], base: &LogLevel) -> Result<LogLevel, String> {
    let mut out = base.clone();
    for w in words {
        match w.split_once(':') {
            None => {
                out.default = parse_level(w).ok_or_else(|| LEVELS_HELP.to_owned())?;
                // A bare level resets per-module levels set before it.
                out.modules = BTreeMap::new();
            }
            Some((module, level)) => {
                let level = parse_level(level).ok_or_else(|| LEVELS_HELP.to_owned())?;
                let m = module.strip_prefix("mod_").unwrap_or(module);
                let m = m.strip_suffix(".c").unwrap_or(m);
                let m = m.strip_suffix("_module").unwrap_or(m);
                if m.is_empty() {
                    return Err(format!("Cannot find module {module}"));
                }
                out.modules.insert(m.to_ascii_lowercase(), level);
            }
        }
    }
    Ok(out)
}

fn log_level(b: &mut Builder, a: &Args) -> Result<(), String> {
    if !b.at_host_level() {
        return Err(
            "LogLevel: per-directory log levels are not implemented yet in wsgid".to_owned(),
        );
    }
    let base = b.host().log_level.clone();
    b.host().log_level = parse_log_level(&a.words, &base)?;
    b.meta().log_level = true;
    Ok(())
}

fn log_format(b: &mut Builder, a: &Args) -> Result<(), String> {
    let fmt = a.get(0).to_owned();
    match a.words.get(1) {
        Some(nick) => {
            b.meta().formats.insert(nick.clone(), fmt);
        }
        None => b.meta().default_format = Some(fmt),
    }
    Ok(())
}

/// `env=VAR` / `env=!VAR` (mod_log_config `add_custom_log`).
fn condition(clause: Option<&String>) -> Result<Option<(bool, String)>, String> {
    let Some(c) = clause else { return Ok(None) };
    if c.len() >= 4 && c[..4].eq_ignore_ascii_case("env=") {
        let var = &c[4..];
        let (negated, name) = match var.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, var),
        };
        if name.is_empty() {
            return Err("missing environment variable name".to_owned());
        }
        Ok(Some((!negated, name.to_owned())))
    } else if c.len() >= 5 && c[..5].eq_ignore_ascii_case("expr=") {
        Err("CustomLog: expr= conditions are not implemented yet in wsgid".to_owned())
    } else {
        Err("error in condition clause".to_owned())
    }
}

fn custom_log(b: &mut Builder, a: &Args) -> Result<(), String> {
    let cond = condition(a.words.get(2))?;
    let span = b.current_span.clone();
    b.meta().logs.push(RawLog {
        target: a.get(0).to_owned(),
        format: Some(a.get(1).to_owned()),
        condition: cond,
        span,
    });
    Ok(())
}

fn transfer_log(b: &mut Builder, a: &Args) -> Result<(), String> {
    let span = b.current_span.clone();
    b.meta().logs.push(RawLog {
        target: a.get(0).to_owned(),
        format: None,
        condition: None,
        span,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_with_modules() {
        let base = LogLevel {
            default: Level::Warn,
            modules: BTreeMap::new(),
        };
        let words: Vec<String> = ["info", "mod_wsgi.c:debug", "core:trace3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = parse_log_level(&words, &base).unwrap_or(base.clone());
        assert_eq!(got.default, Level::Info);
        assert_eq!(got.modules.get("wsgi"), Some(&Level::Debug));
        assert_eq!(got.modules.get("core"), Some(&Level::Trace(3)));
        assert_eq!(
            parse_log_level(&["loud".to_owned()], &base),
            Err(LEVELS_HELP.to_owned())
        );
        assert_eq!(parse_level("trace9"), None);
    }

    #[test]
    fn log_conditions() {
        assert_eq!(
            condition(Some(&"env=X".into())),
            Ok(Some((true, "X".into())))
        );
        assert_eq!(
            condition(Some(&"env=!X".into())),
            Ok(Some((false, "X".into())))
        );
        assert_eq!(
            condition(Some(&"env=".into())),
            Err("missing environment variable name".into())
        );
        assert_eq!(
            condition(Some(&"foo".into())),
            Err("error in condition clause".into())
        );
    }
}
