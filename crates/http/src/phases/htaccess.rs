//! Reading `.htaccess` files during the directory walk (Apache's
//! `ap_parse_htaccess`): at each directory level whose merged
//! `AllowOverride`/`AllowOverrideList` let any directive in, the first
//! existing `AccessFileName` is parsed (`wsgid_config::htaccess`) and merged
//! after that level's `<Directory>` sections.
//!
//! Parsed files are cached by path and override set, and re-read when the
//! file's modification time, size or inode changes (Apache re-reads them on
//! every request; a `stat` per level is what remains of that here).  A file
//! with a refused or unknown directive answers 500 with Apache's
//! `[core:alert]` line; an unreadable one 403 (AH00529).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use wsgid_config::htaccess::{self, Htaccess};
use wsgid_config::model::PerDir;
use wsgid_log::Level;

use crate::frontend::Site;

/// Why a directory level's `.htaccess` stops the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtError {
    pub status: u16,
    pub level: Level,
    pub line: String,
}

type Stamp = (i64, i64, u64, u64);
type Entry = (Stamp, Arc<Result<Htaccess, String>>);

static CACHE: LazyLock<Mutex<HashMap<(PathBuf, String), Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `merged` (the configuration so far) lets `.htaccess` files in.
pub fn enabled(merged: &PerDir) -> bool {
    htaccess::enabled(
        merged.allow_override.as_ref(),
        merged.allow_override_list.as_deref(),
    )
}

/// The `.htaccess` of directory `dir` under the overrides of `merged`,
/// merged into it.  Warnings (`Nonfatal=`) go to `warnings`.
pub fn apply(
    site: &Site,
    dir: &[u8],
    merged: &mut PerDir,
    warnings: &mut Vec<String>,
) -> Result<(), HtError> {
    use std::os::unix::ffi::OsStrExt;
    let dir_path = std::path::Path::new(std::ffi::OsStr::from_bytes(dir));
    for name in site.access_file_names.iter() {
        let path = dir_path.join(name);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(e) => {
                let code = e.raw_os_error().unwrap_or(0);
                let text = e.to_string();
                let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
                let mut d = dir_path.display().to_string();
                if !d.ends_with('/') {
                    d.push('/');
                }
                return Err(HtError {
                    status: 403,
                    level: Level::Crit,
                    line: format!(
                        "({code}){text}: AH00529: {} pcfg_openfile: unable to check htaccess file, ensure it is \
                         readable and that '{d}' is executable",
                        path.display()
                    ),
                });
            }
        };
        let stamp = (meta.mtime(), meta.mtime_nsec(), meta.ino(), meta.len());
        let key = (
            path.clone(),
            format!(
                "{:?}{:?}",
                merged.allow_override, merged.allow_override_list
            ),
        );
        let cached = CACHE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, e)| Arc::clone(e));
        let parsed = match cached {
            Some(p) => p,
            None => {
                let parsed = match std::fs::read(&path) {
                    Ok(bytes) => {
                        let text = crate::uri::latin1(&bytes);
                        htaccess::parse(
                            &text,
                            &path,
                            &dir_path.to_string_lossy(),
                            &site.server_root,
                            merged.allow_override.as_ref(),
                            merged.allow_override_list.as_deref(),
                        )
                    }
                    Err(e) => Err(e.to_string()),
                };
                let parsed = Arc::new(parsed);
                CACHE
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, (stamp, Arc::clone(&parsed)));
                parsed
            }
        };
        return match &*parsed {
            Ok(h) => {
                warnings.extend(
                    h.warnings
                        .iter()
                        .map(|w| format!("{}: {w}", path.display())),
                );
                *merged = merged.merge(&h.per_dir);
                Ok(())
            }
            Err(msg) => Err(HtError {
                status: 500,
                level: Level::Alert,
                line: format!("{}: {msg}", path.display()),
            }),
        };
    }
    Ok(())
}
