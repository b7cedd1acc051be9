//! mod_mime (`TypesConfig`, `AddType`, `RemoveType`, `AddHandler`, `RemoveHandler`,
//! `AddCharset`, `AddLanguage`, `AddEncoding`, their `Remove*`, `DefaultLanguage`),
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
    row("AddCharset", Iterate2, OR_FILEINFO, 0, "a charset (e.g., iso-2022-jp), followed by one or more file extensions", Set(add_charset)),
    row("AddEncoding", Iterate2, OR_FILEINFO, 0, "an encoding (e.g., gzip), followed by one or more file extensions", Set(add_encoding)),
    row("AddLanguage", Iterate2, OR_FILEINFO, 0, "a language (e.g., fr), followed by one or more file extensions", Set(add_language)),
    row("RemoveCharset", Iterate, OR_FILEINFO, 0, "one or more file extensions", Set(remove_charset)),
    row("RemoveEncoding", Iterate, OR_FILEINFO, 0, "one or more file extensions", Set(remove_encoding)),
    row("RemoveLanguage", Iterate, OR_FILEINFO, 0, "one or more file extensions", Set(remove_language)),
    row("DefaultLanguage", Take1, OR_FILEINFO, 0, "language to use for documents with no other language file extension", Set(default_language)),
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

/// mod_mime's `add_extension_info`: the value lower-cased for each
/// extension (an empty value, from a `Remove*` line, takes it back).
fn extension_values(
    b: &mut Builder,
    value: &str,
    exts: &[String],
    list: fn(&mut crate::model::PerDir) -> &mut Vec<(String, String)>,
) {
    let value = value.to_ascii_lowercase();
    let pd = b.per_dir();
    for e in exts {
        list(pd).push((ext_key(e), value.clone()));
    }
}

fn add_charset(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, a.get(0), &a.words[1..], |d| &mut d.add_charsets);
    Ok(())
}
fn add_encoding(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, a.get(0), &a.words[1..], |d| &mut d.add_encodings);
    Ok(())
}
fn add_language(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, a.get(0), &a.words[1..], |d| &mut d.add_languages);
    Ok(())
}
fn remove_charset(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, "", &a.words, |d| &mut d.add_charsets);
    Ok(())
}
fn remove_encoding(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, "", &a.words, |d| &mut d.add_encodings);
    Ok(())
}
fn remove_language(b: &mut Builder, a: &Args) -> Result<(), String> {
    extension_values(b, "", &a.words, |d| &mut d.add_languages);
    Ok(())
}

fn default_language(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().default_language = Some(a.get(0).to_owned());
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
