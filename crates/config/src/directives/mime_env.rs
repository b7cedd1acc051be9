//! mod_mime (`TypesConfig`, `AddType`, `RemoveType`, `AddHandler`, `RemoveHandler`),
//! mod_env (`SetEnv`, `UnsetEnv`, `PassEnv`).

use crate::builder::Builder;
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("TypesConfig", Take1, RSRC_CONF, 0, "the MIME types config file", Set(types_config)),
    row("AddType", Iterate2, OR_FILEINFO, 0, "a mime type followed by one or more file extensions", Set(add_type)),
    row("AddHandler", Iterate2, OR_FILEINFO, 0, "a handler name followed by one or more file extensions", Set(add_handler)),
    row("RemoveHandler", Iterate, OR_FILEINFO, 0, "one or more file extensions", Set(remove_handler)),
    row("RemoveType", Iterate, OR_FILEINFO, 0, "one or more file extensions", Set(remove_type)),
    row("AddCharset", Iterate2, OR_FILEINFO, 0, "a charset (e.g., iso-2022-jp), followed by one or more file extensions", Planned("AddCharset")),
    row("AddEncoding", Iterate2, OR_FILEINFO, 0, "an encoding (e.g., gzip), followed by one or more file extensions", Planned("AddEncoding")),
    row("AddLanguage", Iterate2, OR_FILEINFO, 0, "a language (e.g., fr), followed by one or more file extensions", Planned("AddLanguage")),
    row("DefaultLanguage", Take1, OR_FILEINFO, 0, "language to use for documents with no other language file extension", Planned("DefaultLanguage")),
    row("SetEnv", Take12, OR_FILEINFO, 0, "an environment variable name and optional value to pass to CGI.", Set(set_env)),
    row("UnsetEnv", Iterate, OR_FILEINFO, 0, "a list of variables to remove from the CGI environment.", Set(unset_env)),
    row("PassEnv", Iterate, OR_FILEINFO, 0, "a list of environment variables to pass to CGI.", Set(pass_env)),
];

fn types_config(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.types_config = Some(b.server_relative(a.get(0)));
    Ok(())
}

/// mod_mime keys extensions lower-case without the leading dot.
fn ext_key(e: &str) -> String {
    e.strip_prefix('.').unwrap_or(e).to_ascii_lowercase()
}

fn add_type(b: &mut Builder, a: &Args) -> Result<(), String> {
    let ty = a.get(0).to_ascii_lowercase();
    let pd = b.per_dir();
    for e in &a.words[1..] {
        pd.add_types.push((ext_key(e), ty.clone()));
    }
    Ok(())
}

/// An empty type: the extension then gives no type at all, not even its
/// `TypesConfig` one (Apache 2.4.71 sends no Content-Type then).
fn remove_type(b: &mut Builder, a: &Args) -> Result<(), String> {
    let pd = b.per_dir();
    for e in &a.words {
        pd.add_types.push((ext_key(e), String::new()));
    }
    Ok(())
}

fn add_handler(b: &mut Builder, a: &Args) -> Result<(), String> {
    let h = a.get(0).to_ascii_lowercase();
    let pd = b.per_dir();
    for e in &a.words[1..] {
        pd.add_handlers.push((ext_key(e), h.clone()));
    }
    Ok(())
}

fn remove_handler(b: &mut Builder, a: &Args) -> Result<(), String> {
    let pd = b.per_dir();
    pd.remove_handlers
        .extend(a.words.iter().map(|e| ext_key(e)));
    Ok(())
}

fn set_env(b: &mut Builder, a: &Args) -> Result<(), String> {
    let value = a.words.get(1).cloned().unwrap_or_default();
    b.per_dir().set_env.push((a.get(0).to_owned(), value));
    Ok(())
}

fn unset_env(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().unset_env.extend(a.words.iter().cloned());
    Ok(())
}

fn pass_env(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().pass_env.extend(a.words.iter().cloned());
    Ok(())
}
