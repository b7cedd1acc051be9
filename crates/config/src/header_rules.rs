//! mod_headers' rules (`Header`, `RequestHeader`) as the typed model holds
//! them: what each line does, to which header, with which value format and
//! under which condition.  Parsed by `directives/headers.rs`; applied by
//! the front end (`wsgid-http`'s `phases/headers.rs`).

use regex::Regex;

/// One `Header` / `RequestHeader` line.
#[derive(Clone, Debug)]
pub struct HeaderRule {
    pub action: HeaderAction,
    /// The header name as written (up to a `:`, as mod_headers cuts it);
    /// for `echo`, the pattern request header names are matched with.
    pub name: String,
    /// `echo`: the name pattern; `edit`/`edit*`: the value pattern.
    pub regex: Option<Regex>,
    /// The value (`set`, `add`, …) or, for `edit`, the substitution.
    pub value: Vec<FormatPiece>,
    /// `edit`/`edit*`: the substitution (`$0`..`$9`, `&`, `\x`).
    pub substitution: String,
    /// `env=VAR` / `env=!VAR`.
    pub condition: Option<EnvCondition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderAction {
    Set,
    SetIfEmpty,
    Add,
    Append,
    Merge,
    Unset,
    Echo,
    /// `edit`: the first match of each value.
    Edit,
    /// `edit*`: every match.
    EditAll,
}

/// A piece of a value format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatPiece {
    Text(String),
    /// `%D`: `D=` and the microseconds since the request was received.
    Duration,
    /// `%t`: `t=` and the time the request was received, microseconds
    /// since the epoch.
    Time,
    /// `%{NAME}e`: the request's environment variable (`(null)` unset).
    Env(String),
    /// `%{NAME}s`: an SSL variable; wsgid serves no TLS, so `(null)`.
    Ssl(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvCondition {
    pub var: String,
    /// `env=!VAR`: the rule applies when VAR is unset.
    pub negated: bool,
}
