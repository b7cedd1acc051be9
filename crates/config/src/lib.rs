//! wsgid-config: reads an Apache httpd 2.4 configuration with mod_wsgi
//! directives and builds the typed [`model`] the rest of wsgid runs from.
//!
//! The pipeline, one file per stage:
//!
//! 1. [`lexer`]: text → logical lines → words (`ap_cfg_getline`,
//!    `ap_getword_conf` rules);
//! 2. `reader`: lines → [`syntax`] tree, executing what Apache executes
//!    while reading: `${VAR}`, `Define`, `Include` (`include`),
//!    `<IfModule>`/`<IfDefine>` (`conditional`);
//! 3. `builder`: tree → model, directive by directive through the table in
//!    `registry` (rows and handlers in `directives/*`), with Apache's
//!    override, arity and context checks and messages;
//! 4. `finish`: log formats, virtual-host inheritance, MPM limits.
//!
//! Per-directory merging for the request walk is in `merge`
//! ([`model::PerDir::merge`]).  Nothing here starts threads, touches Python
//! or the network; the only I/O is reading configuration files (and the
//! process environment for `${VAR}`, as Apache does).
#![forbid(unsafe_code)]

pub mod error;
pub mod error_documents;
pub mod file_etag;
pub mod header_rules;
pub mod htaccess;
pub mod lexer;
pub mod merge;
pub mod method_set;
pub mod model;
pub mod syntax;
pub mod template;

mod builder;
mod conditional;
mod directives;
mod finish;
mod include;
mod reader;
mod registry;
mod suggest;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use merge::{combine_requires, default_options, effective_options};
pub use model::ServerConfig;

/// Loads the configuration file at `path`, following its includes.
/// `defines` are the `-D NAME` arguments.
///
/// ServerRoot defaults to the current directory when the file does not set
/// it (Apache falls back to its compiled-in root, which means nothing for
/// wsgid).
pub fn load(path: &Path, defines: &[String]) -> Result<ServerConfig, ConfigError> {
    let mut reader = reader::Reader::new(default_root(), defines);
    let nodes = reader.read_file(path)?;
    build(reader.finish(nodes), path)
}

/// Like [`load`], from text; `origin` is the file name used in messages.
pub fn parse_str(
    text: &str,
    origin: &Path,
    defines: &[String],
) -> Result<ServerConfig, ConfigError> {
    let mut reader = reader::Reader::new(default_root(), defines);
    let nodes = reader.read_text(text, origin)?;
    build(reader.finish(nodes), origin)
}

/// The syntax tree only (includes and conditionals resolved), e.g. for a
/// `-t -D DUMP_CONFIG` style listing via [`syntax::Dump`].
pub fn parse_tree(
    text: &str,
    origin: &Path,
    defines: &[String],
) -> Result<Vec<syntax::Node>, ConfigError> {
    let mut reader = reader::Reader::new(default_root(), defines);
    reader.read_text(text, origin)
}

/// Why a directive listed in [`ServerConfig::ignored`] has no effect.
pub fn why_ignored(name: &str) -> Option<&'static str> {
    match registry::lookup(name)?.action {
        registry::Action::Ignored(why) => Some(why),
        _ => None,
    }
}

fn default_root() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

fn build(read: reader::ReadOutput, config_file: &Path) -> Result<ServerConfig, ConfigError> {
    let mut b = builder::Builder::new(
        config_file.to_path_buf(),
        read.server_root,
        read.state.defines.clone(),
    );
    b.cfg.warnings.extend(read.warnings);
    b.cfg.loaded_modules = read
        .state
        .loaded
        .iter()
        .map(|(sym, _)| sym.clone())
        .collect();
    b.walk(&read.nodes)?;
    finish::finish(b)
}
