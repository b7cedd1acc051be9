//! Resolves the argument of `Include`/`IncludeOptional` to the list of files
//! to read, in Apache's order: relative to ServerRoot, a directory means
//! every file under it (sorted, recursively), a wildcard pattern means every
//! match (sorted; `*` does not match a leading dot), and a missing file is
//! an error for `Include` but nothing for `IncludeOptional`.
//!
//! Reading the files and detecting include cycles is the reader's job.

use std::fs;
use std::path::{Path, PathBuf};

/// Apache's `ap_server_root_relative`: absolute paths stay, others are
/// joined to ServerRoot.
pub fn server_root_relative(root: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

/// Whether `s` contains fnmatch wildcards (`apr_fnmatch_test`).
fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files named by one `Include` argument.
pub fn expand(root: &Path, arg: &str, optional: bool) -> Result<Vec<PathBuf>, String> {
    let full = server_root_relative(root, arg);
    let full_str = full.to_string_lossy().into_owned();
    if !has_wildcard(arg) {
        if optional && !full.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        collect(&full, &mut out)?;
        return Ok(out);
    }
    // Keep ServerRoot literal: only the written argument may hold wildcards.
    let pattern = if Path::new(arg).is_absolute() {
        arg.to_owned()
    } else {
        let mut p = glob::Pattern::escape(&root.to_string_lossy());
        if !p.ends_with('/') {
            p.push('/');
        }
        p.push_str(arg);
        p
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(&pattern, opts)
        .map_err(|e| format!("Invalid wildcard pattern '{full_str}': {e}"))?;
    let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    matched.sort();
    if matched.is_empty() {
        if optional {
            return Ok(Vec::new());
        }
        let (dir, name) = split_last(&full_str);
        return Err(format!(
            "No matches for the wildcard '{name}' in '{dir}', failing"
        ));
    }
    let mut out = Vec::new();
    for m in matched {
        collect(&m, &mut out)?;
    }
    Ok(out)
}

fn split_last(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (".", p),
    }
}

/// A file is itself; a directory is all files under it, sorted by name.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| open_error(path, &e))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut names: Vec<PathBuf> = fs::read_dir(path)
        .map_err(|e| open_error(path, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for n in names {
        collect(&n, out)?;
    }
    Ok(())
}

fn open_error(path: &Path, e: &std::io::Error) -> String {
    format!(
        "Could not open configuration file {}: {}",
        path.display(),
        io_text(e)
    )
}

/// The strerror text without Rust's " (os error N)" suffix, as Apache prints it.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path();
        fs::create_dir_all(p.join("conf.d/sub")).expect("mkdir");
        for f in [
            "conf.d/b.conf",
            "conf.d/a.conf",
            "conf.d/x.txt",
            "conf.d/.hidden.conf",
            "conf.d/sub/c.conf",
        ] {
            fs::write(p.join(f), "").expect("write");
        }
        d
    }

    fn names(root: &Path, v: Vec<PathBuf>) -> Vec<String> {
        v.into_iter()
            .map(|p| {
                p.strip_prefix(root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn wildcard_sorted_relative_to_root_without_dotfiles() {
        let d = tree();
        let got = expand(d.path(), "conf.d/*.conf", false).expect("expand");
        assert_eq!(names(d.path(), got), vec!["conf.d/a.conf", "conf.d/b.conf"]);
    }

    #[test]
    fn directory_is_included_whole_and_recursively() {
        let d = tree();
        let got = expand(d.path(), "conf.d", false).expect("expand");
        assert_eq!(
            names(d.path(), got),
            vec![
                "conf.d/.hidden.conf",
                "conf.d/a.conf",
                "conf.d/b.conf",
                "conf.d/sub/c.conf",
                "conf.d/x.txt"
            ]
        );
    }

    #[test]
    fn missing_file_and_empty_wildcard() {
        let d = tree();
        let root = d.path();
        let e = expand(root, "nope.conf", false).expect_err("missing");
        assert_eq!(
            e,
            format!(
                "Could not open configuration file {}/nope.conf: No such file or directory",
                root.display()
            )
        );
        assert!(
            expand(root, "nope.conf", true)
                .expect("optional")
                .is_empty()
        );
        let e = expand(root, "conf.d/*.none", false).expect_err("no match");
        assert_eq!(
            e,
            format!(
                "No matches for the wildcard '*.none' in '{}/conf.d', failing",
                root.display()
            )
        );
        assert!(
            expand(root, "conf.d/*.none", true)
                .expect("optional")
                .is_empty()
        );
    }
}
