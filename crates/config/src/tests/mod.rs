//! Whole-pipeline tests: configuration text in, model fields or Apache's
//! exact error text out.  Grouped by topic; the helpers are here.

mod errors;
mod model;
mod oracle;
mod per_dir;
mod reading;

use std::path::Path;

use crate::{ConfigError, ServerConfig, parse_str};

pub const ORIGIN: &str = "/etc/wsgid/test.conf";

pub fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
    parse_str(text, Path::new(ORIGIN), &[])
}

/// Parses text that must load.
pub fn ok(text: &str) -> ServerConfig {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected to load, got:\n{e}"),
    }
}

/// The whole error text of text that must fail.
pub fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The message part of an error (without the `Syntax error on line N of
/// FILE` header, in either of Apache's two forms).
pub fn msg(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.message(),
    }
}
