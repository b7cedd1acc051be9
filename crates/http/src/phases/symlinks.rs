//! `Options FollowSymLinks` / `SymLinksIfOwnerMatch` in the directory walk
//! (`ap_directory_walk` + `resolve_symlink`): a component of the mapped
//! path that is a symbolic link is refused (403, AH00037) when the options
//! of the directory holding it leave `FollowSymLinks` out — unless
//! `SymLinksIfOwnerMatch` is on and the link and its target have the same
//! owner.
//!
//! Apache's default options include `FollowSymLinks`, and nearly every
//! configuration keeps it, so the check costs nothing unless some section
//! can take it away ([`restricted_anywhere`]); then it costs an `lstat` per
//! path component.  The options of a level are those of the virtual host
//! and of the `<Directory>` sections (not the regex ones, nor `.htaccess`
//! files) that apply to it, in Apache's order (shorter paths first).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use wsgid_config::model::{OptionFlags, OptionsSpec, PerDir, Section, SectionPattern};

use super::default_options;
use crate::frontend::Site;
use crate::request::{FileKind, Request};

/// Whether any level of the configuration can leave `FollowSymLinks` out.
pub fn restricted_anywhere(host: &PerDir, sections: &[Section]) -> bool {
    let restricts = |d: &PerDir| {
        d.options.iter().any(|spec| match spec {
            OptionsSpec::Absolute(f) => !f.follow_symlinks,
            OptionsSpec::Relative { remove, .. } => remove.follow_symlinks,
        })
    };
    restricts(host)
        || sections
            .iter()
            .any(|s| restricts(&s.per_dir) || s.nested.iter().any(|n| restricts(&n.per_dir)))
}

/// The first symbolic link on `r.filename` that the options refuse.
pub fn refused_link(site: &Site, r: &Request) -> Option<PathBuf> {
    if !site.symlinks_restricted || r.kind == FileKind::Missing {
        return None;
    }
    let path = r.filename.as_ref()?.as_os_str().as_bytes();
    // Each component after the root, checked with its parent's options.
    for (i, &b) in path.iter().enumerate().skip(1).chain([(path.len(), &b'/')]) {
        if b != b'/' {
            continue;
        }
        let child = &path[..i];
        let parent = match child.iter().rposition(|&c| c == b'/') {
            Some(0) => &b"/"[..],
            Some(cut) => &child[..cut],
            None => continue,
        };
        let meta = match std::fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(child))) {
            Ok(m) => m,
            Err(_) => return None,
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let opts = options_at(site, parent);
        if opts.follow_symlinks {
            continue;
        }
        let child_path = PathBuf::from(std::ffi::OsStr::from_bytes(child));
        let same_owner = opts.symlinks_if_owner_match
            && std::fs::metadata(&child_path).is_ok_and(|target| target.uid() == meta.uid());
        if !same_owner {
            return Some(child_path);
        }
    }
    None
}

/// The options in effect for directory `dir`: the virtual host's, then
/// the literal `<Directory>` sections that apply, in the site's walk order
/// (shorter paths first; the regex ones, last in that order, are left out).
fn options_at(site: &Site, dir: &[u8]) -> OptionFlags {
    let mut opts = site.host.per_dir.effective_options(default_options());
    for &i in &site.dir_order {
        let s = &site.sections[i];
        if let SectionPattern::Wildcard(pattern) = &s.pattern
            && super::walk::directory_applies(pattern, dir)
        {
            opts = s.per_dir.effective_options(opts);
        }
    }
    opts
}
