//! `.htaccess` files (Apache's `ap_parse_htaccess`): the directives of one
//! file, parsed as the body of a `<Directory>` for that directory, with
//! only the directive classes `AllowOverride` grants (plus the names of
//! `AllowOverrideList`).  A refused or unknown directive fails the whole
//! file with Apache's message, unless `Nonfatal=` says to skip it.

use std::path::Path;
use std::sync::Arc;

use crate::builder::{Builder, OpenSection};
use crate::merge::combine_requires;
use crate::model::{Overrides, PerDir, Section, SectionKind, SectionPattern, Span};
use crate::registry::{OR_AUTHCFG, OR_FILEINFO, OR_INDEXES, OR_LIMIT, OR_OPTIONS};
use crate::{ConfigError, reader};

/// A parsed `.htaccess` file.
#[derive(Clone, Debug, Default)]
pub struct Htaccess {
    pub per_dir: PerDir,
    /// Directives skipped under `Nonfatal=`: Apache's warning texts.
    pub warnings: Vec<String>,
}

/// Whether `AllowOverride`/`AllowOverrideList` let any `.htaccess` in.
pub fn enabled(overrides: Option<&Overrides>, list: Option<&[String]>) -> bool {
    let o = overrides.copied().unwrap_or_default();
    o.auth_config
        || o.file_info
        || o.indexes
        || o.limit
        || o.options
        || list.is_some_and(|l| !l.is_empty())
}

fn mask(o: &Overrides) -> u16 {
    let mut m = 0;
    for (on, bit) in [
        (o.auth_config, OR_AUTHCFG),
        (o.file_info, OR_FILEINFO),
        (o.indexes, OR_INDEXES),
        (o.limit, OR_LIMIT),
        (o.options, OR_OPTIONS),
    ] {
        if on {
            m |= bit;
        }
    }
    m
}

/// Parse `text` (the file at `path`, in directory `dir`).  `Err` is the
/// message Apache logs after the file name (`path: message`).
pub fn parse(
    text: &str,
    path: &Path,
    dir: &str,
    server_root: &Path,
    overrides: Option<&Overrides>,
    list: Option<&[String]>,
) -> Result<Htaccess, String> {
    let o = overrides.copied().unwrap_or_default();
    let mut rd = reader::Reader::new(server_root.to_path_buf(), &[]);
    let nodes = rd.read_text(text, path).map_err(|e| message(&e))?;
    let read = rd.finish(nodes);
    let mut b = Builder::new(path.to_path_buf(), server_root.to_path_buf(), Vec::new());
    b.overrides = mask(&o);
    b.override_list = list.map(<[String]>::to_vec).unwrap_or_default();
    b.options_allowed = o.options_allowed;
    b.dirs.push(OpenSection {
        section: Section {
            kind: SectionKind::Directory,
            pattern: SectionPattern::Wildcard(dir.to_owned()),
            per_dir: PerDir::default(),
            nested: Vec::new(),
            span: Span {
                file: Arc::new(path.to_path_buf()),
                line: 0,
            },
        },
        requires: Vec::new(),
    });
    let mut warnings = Vec::new();
    for node in &read.nodes {
        if let Err(e) = b.walk(std::slice::from_ref(node)) {
            let msg = message(&e);
            let refused = msg.ends_with(" not allowed here");
            let unknown = msg.starts_with("Invalid command '");
            if refused && o.nonfatal_override {
                let name = msg.trim_end_matches(" not allowed here");
                warnings.push(format!(
                    "AH02295: {name} in .htaccess forbidden by AllowOverride"
                ));
            } else if unknown && o.nonfatal_unknown {
                warnings.push(format!("AH02296: Unknown directive in .htaccess: {msg}"));
            } else {
                return Err(msg);
            }
        }
    }
    let Some(mut done) = b.dirs.pop() else {
        return Ok(Htaccess::default());
    };
    if let Some(r) = combine_requires(std::mem::take(&mut done.requires)) {
        done.section.per_dir.require = Some(r);
    }
    Ok(Htaccess {
        per_dir: done.section.per_dir,
        warnings,
    })
}

fn message(e: &ConfigError) -> String {
    match e {
        ConfigError::Syntax { message, .. } | ConfigError::Read { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::perdir::parse_overrides;

    fn run(text: &str, allow: &str, list: &[&str]) -> Result<Htaccess, String> {
        let o = parse_overrides(allow).expect("overrides");
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        parse(
            text,
            Path::new("/srv/app/.htaccess"),
            "/srv/app",
            Path::new("/srv"),
            Some(&o),
            Some(&list),
        )
    }

    #[test]
    fn override_classes() {
        let h = run(
            "AuthType Basic\nAuthName x\nRequire valid-user\n",
            "AuthConfig",
            &[],
        )
        .expect("auth");
        assert_eq!(h.per_dir.auth_type.as_deref(), Some("Basic"));
        assert!(h.per_dir.require.is_some());
        assert_eq!(
            run("SetEnv A b\n", "AuthConfig", &[]).err().as_deref(),
            Some("SetEnv not allowed here")
        );
        assert!(run("SetEnv A b\n", "AuthConfig", &["SetEnv"]).is_ok());
        assert_eq!(
            run("WSGIApplicationGroup g\n", "All", &[]).err().as_deref(),
            Some("WSGIApplicationGroup not allowed here")
        );
        assert!(
            run("Bogus x\n", "All", &[])
                .err()
                .is_some_and(|e| e.starts_with("Invalid command 'Bogus'"))
        );
        assert!(
            run("Bogus x\nSetEnv A b\n", "All Nonfatal=Unknown", &[])
                .is_ok_and(|h| h.warnings.len() == 1)
        );
        assert_eq!(
            run("Options +ExecCGI\n", "Options=Indexes", &[])
                .err()
                .as_deref(),
            Some("Option ExecCGI not allowed here")
        );
        assert!(run("Options -Indexes\n", "Options=Indexes", &[]).is_ok());
        assert!(
            run(
                "WSGIPassAuthorization On\nWSGICallableObject app\n",
                "FileInfo",
                &[]
            )
            .is_ok()
        );
    }
}
