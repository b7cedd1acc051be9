//! The map-to-storage phase: find what exists at the translated file name
//! (Apache's directory walk: the first missing or non-directory component
//! ends the file name, the rest becomes PATH_INFO), then merge the
//! per-directory configuration in Apache's order:
//!
//! 1. the host's own directives (outside sections);
//! 2. `<Directory>` without regex, shortest path first (config order on ties);
//! 3. `<Directory ~>`/`<DirectoryMatch>` in config order;
//! 4. `<Files>`/`<FilesMatch>` (server level, then nested in matched
//!    directories) against the base name;
//! 5. `<Location>`/`<LocationMatch>` in config order against the URI.
//!
//! With `AllowOverride` (or `AllowOverrideList`) somewhere, step 2 goes
//! level by level, each directory's `.htaccess` after its sections
//! (`htaccess.rs`); with `AllowOverride None` everywhere (Apache 2.4's
//! default) no file is looked for and merges are memoised.

use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use wsgid_config::model::{PerDir, Section, SectionKind, SectionPattern};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::htaccess::{self, HtError};
use crate::frontend::Site;
use crate::request::{FileKind, Request, WalkMemo};
use crate::uri::no2slash;
use crate::wildcard::{fnmatch, has_wildcard};

/// A walk failure Apache answers with a status (search permission missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub PathBuf);

/// Split `r.filename` into the existing part and PATH_INFO, stat it.
/// A walk of the same path earlier in this request (or its parent) is
/// reused instead of repeating the `stat` calls.
pub fn storage(r: &mut Request) -> Result<(), Denied> {
    let Some(filename) = r.filename.take() else {
        return Ok(());
    };
    if let Some(m) = r.walk_memo.as_ref().filter(|m| m.input == filename) {
        r.filename = Some(m.filename.clone());
        r.path_info = m.path_info.clone();
        r.kind = m.kind;
        r.meta = m.meta.clone();
        return Ok(());
    }
    let split = match r.alias_target_len {
        Some(n) => split_at_target(&filename, n)?,
        None => split_existing(&filename)?,
    };
    r.walk_memo = Some(Arc::new(WalkMemo {
        input: filename,
        filename: split.filename.clone(),
        path_info: split.path_info.clone(),
        kind: split.kind,
        meta: split.meta.clone(),
    }));
    r.filename = Some(split.filename);
    r.path_info = split.path_info;
    r.kind = split.kind;
    r.meta = split.meta;
    Ok(())
}

pub struct Split {
    pub filename: PathBuf,
    pub path_info: Vec<u8>,
    pub kind: FileKind,
    pub meta: Option<std::fs::Metadata>,
}

/// [`split_existing`] for a path an alias produced from a target of `n`
/// bytes: when the target itself is a file (a WSGIScriptAlias to a script,
/// an Alias to one file) the walk would stop there, so one `stat` of the
/// target settles it; anything else takes the general walk.
fn split_at_target(path: &Path, n: usize) -> Result<Split, Denied> {
    let bytes = path.as_os_str().as_bytes();
    if n < bytes.len() && bytes[n] == b'/' {
        let target = Path::new(std::ffi::OsStr::from_bytes(&bytes[..n]));
        if let Ok(meta) = crate::meta_cache::metadata(target)
            && !meta.is_dir()
        {
            return Ok(Split {
                kind: kind_of(&meta),
                filename: target.to_path_buf(),
                path_info: bytes[n..].to_vec(),
                meta: Some(meta),
            });
        }
    }
    split_existing(path)
}

/// Split `path` into the existing file (or directory) and PATH_INFO, with
/// the result `ap_directory_walk` gives: the first component that is not a
/// directory ends the file name.
///
/// Every `stat` costs a few microseconds and this runs on every request, so
/// the common cases are answered from the end: the whole path exists (one
/// stat), or the longest existing prefix is found walking up (a stat per
/// missing trailing component).  Only when a component is not searchable
/// does it fall back to the component-by-component walk from the root,
/// which reports exactly where permission was denied.
pub fn split_existing(path: &Path) -> Result<Split, Denied> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            return Ok(Split {
                kind: kind_of(&meta),
                filename: path.to_path_buf(),
                path_info: Vec::new(),
                meta: Some(meta),
            });
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => return walk_from_root(path),
        Err(_) => {}
    }
    let bytes = path.as_os_str().as_bytes();
    let mut end = bytes.len();
    loop {
        // Step back to the end of the previous component: a trailing slash
        // ends one ("file/" → "file"), otherwise drop the last component.
        if end > 0 && bytes[end - 1] != b'/' {
            while end > 0 && bytes[end - 1] != b'/' {
                end -= 1;
            }
        }
        while end > 0 && bytes[end - 1] == b'/' {
            end -= 1;
        }
        if end == 0 {
            return walk_from_root(path);
        }
        let prefix = Path::new(std::ffi::OsStr::from_bytes(&bytes[..end]));
        match std::fs::metadata(prefix) {
            Ok(meta) if meta.is_dir() => {
                // The component after this directory does not exist.
                let mut start = end;
                while start < bytes.len() && bytes[start] == b'/' {
                    start += 1;
                }
                let mut stop = start;
                while stop < bytes.len() && bytes[stop] != b'/' {
                    stop += 1;
                }
                return Ok(Split {
                    filename: Path::new(std::ffi::OsStr::from_bytes(&bytes[..stop])).to_path_buf(),
                    path_info: bytes[stop..].to_vec(),
                    kind: FileKind::Missing,
                    meta: None,
                });
            }
            Ok(meta) => {
                return Ok(Split {
                    filename: prefix.to_path_buf(),
                    path_info: bytes[end..].to_vec(),
                    kind: kind_of(&meta),
                    meta: Some(meta),
                });
            }
            Err(e) if e.kind() == ErrorKind::PermissionDenied => return walk_from_root(path),
            Err(_) => {}
        }
    }
}

/// The plain walk from the root, one `stat` per component.
fn walk_from_root(path: &Path) -> Result<Split, Denied> {
    let bytes = path.as_os_str().as_bytes();
    let mut end = 0;
    loop {
        // Next component: skip the slash(es), then up to the next slash.
        let mut next = end;
        while next < bytes.len() && bytes[next] == b'/' {
            next += 1;
        }
        if next >= bytes.len() {
            // Every component is a directory: keep a trailing slash as given.
            let meta = std::fs::metadata(path).ok();
            let kind = meta.as_ref().map_or(FileKind::Missing, kind_of);
            return Ok(Split {
                filename: path.to_path_buf(),
                path_info: Vec::new(),
                kind,
                meta,
            });
        }
        while next < bytes.len() && bytes[next] != b'/' {
            next += 1;
        }
        let prefix = Path::new(std::ffi::OsStr::from_bytes(&bytes[..next]));
        match std::fs::metadata(prefix) {
            Ok(meta) if meta.is_dir() => end = next,
            Ok(meta) => {
                return Ok(Split {
                    filename: prefix.to_path_buf(),
                    path_info: bytes[next..].to_vec(),
                    kind: kind_of(&meta),
                    meta: Some(meta),
                });
            }
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                return Err(Denied(prefix.to_path_buf()));
            }
            Err(_) => {
                return Ok(Split {
                    filename: prefix.to_path_buf(),
                    path_info: bytes[next..].to_vec(),
                    kind: FileKind::Missing,
                    meta: None,
                });
            }
        }
    }
}

fn kind_of(meta: &std::fs::Metadata) -> FileKind {
    if meta.is_dir() {
        FileKind::Dir
    } else if meta.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

/// The directory whose `<Directory>` sections apply: the file name itself
/// when it is a directory, else the deepest existing directory above it.
fn walked_dir(r: &Request) -> Option<&[u8]> {
    let f = r.filename.as_ref()?.as_os_str().as_bytes();
    let mut dir = if r.kind == FileKind::Dir {
        f
    } else {
        let cut = f.iter().rposition(|&b| b == b'/')?;
        &f[..cut.max(1)]
    };
    while dir.len() > 1 && dir.last() == Some(&b'/') {
        dir = &dir[..dir.len() - 1];
    }
    Some(dir)
}

/// Number of components, as Apache counts slashes to order sections.
fn depth(path: &[u8]) -> usize {
    if path == b"/" {
        1
    } else {
        path.iter().filter(|&&b| b == b'/').count()
    }
}

/// [`directory_matches`] for other phases.
pub(super) fn directory_applies(pattern: &str, dir: &[u8]) -> bool {
    directory_matches(pattern, dir)
}

/// Whether a non-regex `<Directory pattern>` applies to directory `dir`.
fn directory_matches(pattern: &str, dir: &[u8]) -> bool {
    let pat = pattern.trim_end_matches('/');
    if pat.is_empty() {
        return true; // <Directory />
    }
    let n = depth(pat.as_bytes());
    if depth(dir) < n {
        return false;
    }
    // The first n components of dir.
    let mut seen = 0;
    let mut cut = dir.len();
    for (i, &b) in dir.iter().enumerate().skip(1) {
        if b == b'/' {
            seen += 1;
            if seen == n {
                cut = i;
                break;
            }
        }
    }
    let prefix = &dir[..cut];
    if has_wildcard(pat) {
        fnmatch(pat.as_bytes(), prefix, true, false)
    } else {
        prefix == pat.as_bytes()
    }
}

fn regex_matches(re: &regex::Regex, text: &[u8]) -> bool {
    re.is_match(&String::from_utf8_lossy(text))
}

fn location_matches(pattern: &SectionPattern, uri: &[u8]) -> bool {
    match pattern {
        SectionPattern::Regex(re) => regex_matches(re, uri),
        SectionPattern::Wildcard(p) if has_wildcard(p) => fnmatch(p.as_bytes(), uri, true, false),
        SectionPattern::Wildcard(p) => {
            let p = p.as_bytes();
            uri.starts_with(p)
                && (p.last() == Some(&b'/') || matches!(uri.get(p.len()), None | Some(b'/')))
        }
    }
}

fn files_matches(pattern: &SectionPattern, base: &[u8]) -> bool {
    match pattern {
        SectionPattern::Regex(re) => regex_matches(re, base),
        SectionPattern::Wildcard(p) => fnmatch(p.as_bytes(), base, true, false),
    }
}

/// The order in which Apache walks a site's `<Directory>` sections: the
/// literal (wildcard) ones by depth, config order kept among equal depths,
/// then the regex ones in config order.  Computed once per site.
pub fn directory_order(sections: &[Section]) -> Vec<usize> {
    let mut literal: Vec<usize> = (0..sections.len())
        .filter(|&i| {
            sections[i].kind == SectionKind::Directory
                && matches!(sections[i].pattern, SectionPattern::Wildcard(_))
        })
        .collect();
    // Stable sort: config order is kept among sections of equal depth.
    literal.sort_by_key(|&i| match &sections[i].pattern {
        SectionPattern::Wildcard(p) => depth(p.trim_end_matches('/').as_bytes()),
        SectionPattern::Regex(_) => usize::MAX,
    });
    literal.extend((0..sections.len()).filter(|&i| {
        sections[i].kind == SectionKind::Directory
            && matches!(sections[i].pattern, SectionPattern::Regex(_))
    }));
    literal
}

/// Which sections apply to `r`, in merge order: `<Directory>` (walk
/// order), `<Files>` (top-level, then those nested in the matching
/// directories), `<Location>`.  A nested section is `(parent, index)`.
fn matching_sections(site: &Site, r: &Request) -> Applied {
    const TOP: u32 = u32::MAX;
    let mut applied = Vec::with_capacity(8);
    if let Some(dir) = walked_dir(r) {
        // Only a regex section looks at the name with its slash.
        let mut with_slash = None;
        for &i in &site.dir_order {
            let applies = match &site.sections[i].pattern {
                SectionPattern::Wildcard(p) => directory_matches(p, dir),
                SectionPattern::Regex(re) => {
                    regex_matches(re, dir)
                        || regex_matches(re, with_slash.get_or_insert_with(|| [dir, b"/"].concat()))
                }
            };
            if applies {
                applied.push((TOP, i as u32));
            }
        }
    }
    // The directory sections are the entries so far.
    let dirs_applied = applied.len();
    if let Some(f) = &r.filename {
        let bytes = f.as_os_str().as_bytes();
        let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
        for (i, s) in site.sections.iter().enumerate() {
            if s.kind == SectionKind::Files && files_matches(&s.pattern, base) {
                applied.push((TOP, i as u32));
            }
        }
        for k in 0..dirs_applied {
            let d = applied[k].1 as usize;
            for (j, n) in site.sections[d].nested.iter().enumerate() {
                if n.kind == SectionKind::Files && files_matches(&n.pattern, base) {
                    applied.push((d as u32, j as u32));
                }
            }
        }
    }
    let uri = no2slash(&r.uri);
    for (i, s) in site.sections.iter().enumerate() {
        if s.kind == SectionKind::Location && location_matches(&s.pattern, &uri) {
            applied.push((TOP, i as u32));
        }
    }
    applied
}

/// Merge every section (and `.htaccess` file) that applies to `r` over
/// the host's own config.  Without `.htaccess` files in play the result
/// depends only on which sections apply, so it is memoised per site by
/// that list: most requests of a site share a handful of merges.
/// `Nonfatal=` warnings of `.htaccess` files go to `warnings`.
pub fn merge_sections(
    site: &Site,
    r: &Request,
    warnings: &mut Vec<String>,
) -> Result<Arc<PerDir>, HtError> {
    if site.overrides_anywhere {
        return merge_with_htaccess(site, r, warnings).map(Arc::new);
    }
    let applied = matching_sections(site, r);
    if let Some(hit) = site.merges.get(&applied) {
        return Ok(hit);
    }
    let mut merged = site.host.per_dir.clone();
    for &(parent, i) in &applied {
        let s = match parent {
            u32::MAX => &site.sections[i as usize],
            p => &site.sections[p as usize].nested[i as usize],
        };
        merged = merged.merge(&s.per_dir);
    }
    let merged = Arc::new(merged);
    site.merges.insert(applied, Arc::clone(&merged));
    Ok(merged)
}

/// The merge when `.htaccess` files may take part: level by level, each
/// directory's `.htaccess` after its sections; not memoised (the files
/// can change).  `Nonfatal=` warnings of `.htaccess` files go to
/// `warnings`.
fn merge_with_htaccess(
    site: &Site,
    r: &Request,
    warnings: &mut Vec<String>,
) -> Result<PerDir, HtError> {
    let mut merged = site.host.per_dir.clone();
    let mut files: Vec<&Section> = site
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Files)
        .collect();

    if let Some(dir) = walked_dir(r) {
        let mut literal: Vec<&Section> = site
            .sections
            .iter()
            .filter(|s| {
                s.kind == SectionKind::Directory && matches!(s.pattern, SectionPattern::Wildcard(_))
            })
            .collect();
        // Stable sort: config order is kept among sections of equal depth.
        literal.sort_by_key(|s| match &s.pattern {
            SectionPattern::Wildcard(p) => depth(p.trim_end_matches('/').as_bytes()),
            SectionPattern::Regex(_) => usize::MAX,
        });
        let regexes = site.sections.iter().filter(|s| {
            s.kind == SectionKind::Directory && matches!(s.pattern, SectionPattern::Regex(_))
        });
        let with_slash = [dir, b"/"].concat();
        if site.overrides_anywhere {
            // Level by level: a level's sections, then its .htaccess.
            let mut done = vec![false; literal.len()];
            for level in levels(dir) {
                for (s, done) in literal.iter().zip(done.iter_mut()) {
                    if let SectionPattern::Wildcard(p) = &s.pattern
                        && !*done
                        && directory_matches(p, level)
                    {
                        *done = true;
                        merged = merged.merge(&s.per_dir);
                        files.extend(s.nested.iter().filter(|n| n.kind == SectionKind::Files));
                    }
                }
                if htaccess::enabled(&merged) {
                    htaccess::apply(site, level, &mut merged, warnings)?;
                }
            }
            literal.clear();
        }
        for s in literal.into_iter().chain(regexes) {
            let applies = match &s.pattern {
                SectionPattern::Wildcard(p) => directory_matches(p, dir),
                SectionPattern::Regex(re) => {
                    regex_matches(re, dir) || regex_matches(re, &with_slash)
                }
            };
            if applies {
                merged = merged.merge(&s.per_dir);
                files.extend(s.nested.iter().filter(|n| n.kind == SectionKind::Files));
            }
        }
    }

    if let Some(f) = &r.filename {
        let bytes = f.as_os_str().as_bytes();
        let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
        for s in files {
            if files_matches(&s.pattern, base) {
                merged = merged.merge(&s.per_dir);
            }
        }
    }

    let uri = no2slash(&r.uri);
    for s in site
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Location)
    {
        if location_matches(&s.pattern, &uri) {
            merged = merged.merge(&s.per_dir);
        }
    }
    Ok(merged)
}

/// `/`, `/a`, `/a/b` for `/a/b`.
fn levels(dir: &[u8]) -> Vec<&[u8]> {
    let mut out = vec![&dir[..1.min(dir.len())]];
    for (i, &b) in dir.iter().enumerate().skip(1) {
        if b == b'/' {
            out.push(&dir[..i]);
        }
    }
    if dir.len() > 1 {
        out.push(dir);
    }
    out
}

/// The sections that applied, in merge order (`(parent, index)`; a
/// top-level section has parent `u32::MAX`).
type Applied = Vec<(u32, u32)>;

/// A bounded memo of section merges (see [`merge_sections`]).
#[derive(Debug, Default)]
pub struct MergeMemo(Mutex<HashMap<Applied, Arc<PerDir>, foldhash::fast::RandomState>>);

/// More distinct combinations than this are merged per request instead.
const MAX_MERGES: usize = 512;

impl MergeMemo {
    fn get(&self, key: &[(u32, u32)]) -> Option<Arc<PerDir>> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    fn insert(&self, key: Applied, merged: Arc<PerDir>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MAX_MERGES {
            map.insert(key, merged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_script_and_path_info() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("env.wsgi");
        std::fs::write(&script, "x").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");

        let s = split_existing(&dir.path().join("env.wsgi/x/y")).expect("split");
        assert_eq!(s.filename, script);
        assert_eq!(s.path_info, b"/x/y");
        assert_eq!(s.kind, FileKind::File);

        let s = split_existing(&dir.path().join("missing.wsgi/more")).expect("split");
        assert_eq!(s.filename, dir.path().join("missing.wsgi"));
        assert_eq!(s.path_info, b"/more");
        assert_eq!(s.kind, FileKind::Missing);

        let target_len = script.as_os_str().len();
        let s = split_at_target(&dir.path().join("env.wsgi/x/y"), target_len).expect("split");
        assert_eq!(
            (s.filename.as_path(), s.path_info.as_slice()),
            (script.as_path(), &b"/x/y"[..])
        );
        assert_eq!(s.kind, FileKind::File);
        let sub_len = dir.path().join("sub").as_os_str().len();
        let s = split_at_target(&dir.path().join("sub/env.wsgi"), sub_len).expect("split");
        assert_eq!(
            s.kind,
            FileKind::Missing,
            "a directory target takes the general walk"
        );
        assert_eq!(s.filename, dir.path().join("sub/env.wsgi"));

        let mut file_slash = script.clone().into_os_string();
        file_slash.push("/");
        let s = split_existing(Path::new(&file_slash)).expect("split");
        assert_eq!(s.filename, script);
        assert_eq!(s.path_info, b"/");
        assert_eq!(s.kind, FileKind::File);

        let s = split_existing(&dir.path().join("sub//gone/deeper/x")).expect("split");
        assert_eq!(s.filename, dir.path().join("sub//gone"));
        assert_eq!(s.path_info, b"/deeper/x");
        assert_eq!(s.kind, FileKind::Missing);

        let mut with_slash = dir.path().join("sub").into_os_string();
        with_slash.push("/");
        let s = split_existing(Path::new(&with_slash)).expect("split");
        assert_eq!(s.filename.as_os_str(), with_slash.as_os_str());
        assert!(s.path_info.is_empty());
        assert_eq!(s.kind, FileKind::Dir);
    }

    #[test]
    fn directory_patterns() {
        assert!(directory_matches("/srv/htdocs/cgi", b"/srv/htdocs/cgi"));
        assert!(directory_matches(
            "/srv/htdocs/cgi",
            b"/srv/htdocs/cgi/deeper"
        ));
        assert!(!directory_matches(
            "/srv/htdocs/cgi",
            b"/srv/htdocs/cgi-bin"
        ));
        assert!(!directory_matches("/srv/htdocs/cgi", b"/srv/htdocs"));
        assert!(directory_matches("/srv/*/cgi", b"/srv/x/cgi/y"));
        assert!(directory_matches("/", b"/anything"));
    }

    #[test]
    fn location_patterns() {
        let lit = SectionPattern::Wildcard("/custom".into());
        assert!(location_matches(&lit, b"/custom"));
        assert!(location_matches(&lit, b"/custom/x"));
        assert!(!location_matches(&lit, b"/customer"));
        let spaced = SectionPattern::Wildcard("/quoted space".into());
        assert!(location_matches(&spaced, b"/quoted space/x"));
        let re = SectionPattern::Regex(regex::Regex::new("^/a+$").expect("re"));
        assert!(location_matches(&re, b"/aaa"));
        assert!(files_matches(
            &SectionPattern::Wildcard("secret.wsgi".into()),
            b"secret.wsgi"
        ));
    }
}
