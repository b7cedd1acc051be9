//! File name → `Content-Type`, as Apache's mod_mime does it.
//!
//! The table comes from `TypesConfig` (the `/etc/mime.types` format: a type
//! then its extensions, `#` comments); `AddType` / `RemoveType` pairs from
//! the per-directory configuration override it.  mod_mime looks at every
//! extension of the file name after the base name (`a.tar.gz`,
//! `index.html.en`): each known one sets the type, so the last known one
//! wins.  Lookups are case-insensitive and no charset is added
//! (`AddDefaultCharset Off`).

use std::collections::HashMap;
use std::path::Path;

/// Used when no `TypesConfig` file is given: the common web types, with the
/// values Debian's `/etc/mime.types` has for them.
const BUILTIN: &[(&str, &str)] = &[
    ("text/html", "html htm shtml"),
    ("text/css", "css"),
    ("text/javascript", "js mjs"),
    ("text/plain", "txt text conf log asc"),
    ("text/csv", "csv"),
    ("text/xml", "xml"),
    ("application/json", "json map"),
    ("application/pdf", "pdf"),
    ("application/wasm", "wasm"),
    ("application/zip", "zip"),
    ("application/gzip", "gz tgz"),
    ("application/x-tar", "tar"),
    ("application/octet-stream", "bin"),
    ("image/png", "png"),
    ("image/jpeg", "jpeg jpg jpe"),
    ("image/gif", "gif"),
    ("image/svg+xml", "svg svgz"),
    ("image/webp", "webp"),
    ("image/vnd.microsoft.icon", "ico"),
    ("font/woff", "woff"),
    ("font/woff2", "woff2"),
    ("audio/mpeg", "mpga mpega mp2 mp3 m4a"),
    ("video/mp4", "mp4"),
];

/// The extension → type table of one `TypesConfig`.
#[derive(Clone, Debug, Default)]
pub struct MimeTypes {
    by_ext: HashMap<String, String>,
}

impl MimeTypes {
    /// Load `types_config` (`TypesConfig`), or the built-in table for `None`.
    pub fn load(types_config: Option<&Path>) -> std::io::Result<MimeTypes> {
        match types_config {
            Some(path) => Ok(MimeTypes::parse(&std::fs::read_to_string(path)?)),
            None => Ok(MimeTypes::builtin()),
        }
    }

    /// The built-in table.
    pub fn builtin() -> MimeTypes {
        let mut by_ext = HashMap::new();
        for (ty, exts) in BUILTIN {
            for ext in exts.split_ascii_whitespace() {
                by_ext.insert(ext.to_owned(), (*ty).to_owned());
            }
        }
        MimeTypes { by_ext }
    }

    /// Parse the text of a mime.types file.  A later line wins for an
    /// extension listed twice, as in mod_mime.
    pub fn parse(text: &str) -> MimeTypes {
        let mut by_ext = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut words = line.split_ascii_whitespace();
            let Some(ty) = words.next() else { continue };
            for ext in words {
                by_ext.insert(ext.to_ascii_lowercase(), ty.to_owned());
            }
        }
        MimeTypes { by_ext }
    }

    /// The type of one extension (without the dot, any case).
    pub fn lookup(&self, ext: &str) -> Option<&str> {
        if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_ext
                .get(&ext.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.by_ext.get(ext).map(String::as_str)
        }
    }

    /// The `Content-Type` of `path`, or `None` when no extension is known.
    ///
    /// `add_types` are the `AddType` pairs in effect, `(extension, mime
    /// type)`, in configuration order (later pairs win); an extension may
    /// carry a leading dot.  An empty mime type is a `RemoveType`: the
    /// extension then contributes nothing, not even its `TypesConfig` type.
    pub fn content_type(&self, path: &Path, add_types: &[(String, String)]) -> Option<String> {
        let name = path.file_name()?.to_string_lossy();
        // The base name (leading dots included) is never an extension.
        let stripped = name.trim_start_matches('.');
        let (_, exts) = stripped.split_once('.')?;
        // (type, came from AddType): AddType values are lower-cased by mod_mime.
        let mut found: Option<(&str, bool)> = None;
        for ext in exts.split('.').filter(|e| !e.is_empty()) {
            let forced = add_types
                .iter()
                .rev()
                .find(|(e, _)| e.strip_prefix('.').unwrap_or(e).eq_ignore_ascii_case(ext))
                .map(|(_, ty)| ty.as_str());
            match forced {
                Some("") => {}
                Some(ty) => found = Some((ty, true)),
                None => {
                    if let Some(ty) = self.lookup(ext) {
                        found = Some((ty, false));
                    }
                }
            }
        }
        found.map(|(ty, forced)| {
            if forced {
                ty.to_ascii_lowercase()
            } else {
                ty.to_owned()
            }
        })
    }
}

/// What mod_mime's type checker (`find_ct`) gives a file besides its
/// type: the charset it adds to the type, the languages and the encoding.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub content_type: Option<String>,
    pub languages: Vec<String>,
    pub encoding: Option<String>,
}

/// The value the last pair for `ext` gives (`AddCharset` and the like,
/// extensions lower-case without the dot; an empty value was removed).
fn last_for<'a>(pairs: &'a [(String, String)], ext: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

impl MimeTypes {
    /// `find_ct`: every extension after the base name counts, in order:
    /// its type (the last one wins), charset (the last one wins), language
    /// (each one is added) and encoding (each one is added, ", "-joined);
    /// `DefaultLanguage` when no extension gave a language; the charset
    /// becomes a parameter of the type (none without a type, or when the
    /// type has one already).
    pub fn metadata(&self, path: &Path, d: &wsgid_config::model::PerDir) -> Metadata {
        let mut out = Metadata {
            content_type: self.content_type(path, &d.add_types),
            ..Metadata::default()
        };
        let mut charset = None;
        let has_extras = !(d.add_charsets.is_empty()
            && d.add_languages.is_empty()
            && d.add_encodings.is_empty());
        if has_extras && let Some(name) = path.file_name() {
            let name = name.to_string_lossy();
            if let Some((_, exts)) = name.trim_start_matches('.').split_once('.') {
                for ext in exts.split('.').filter(|e| !e.is_empty()) {
                    if let Some(c) = last_for(&d.add_charsets, ext) {
                        charset = Some(c);
                    }
                    if let Some(l) = last_for(&d.add_languages, ext) {
                        out.languages.push(l.to_owned());
                    }
                    if let Some(e) = last_for(&d.add_encodings, ext) {
                        out.encoding = Some(match out.encoding.take() {
                            Some(before) => format!("{before}, {e}"),
                            None => e.to_owned(),
                        });
                    }
                }
            }
        }
        if out.languages.is_empty()
            && let Some(l) = &d.default_language
        {
            out.languages.push(l.clone());
        }
        if let (Some(c), Some(t)) = (charset, out.content_type.as_mut())
            && !t.to_ascii_lowercase().contains("charset=")
        {
            t.push_str("; charset=");
            t.push_str(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_languages_and_encodings_as_find_ct() {
        let t = table();
        let mut d = wsgid_config::model::PerDir::default();
        let pair = |e: &str, v: &str| (e.to_owned(), v.to_owned());
        d.add_charsets = vec![pair("utf8", "utf-8")];
        d.add_languages = vec![pair("en", "en"), pair("de", "de")];
        d.add_encodings = vec![pair("gz", "x-gzip"), pair("z", "x-compress")];
        let m = |name: &str, d: &wsgid_config::model::PerDir| t.metadata(Path::new(name), d);
        let x = m("/s/e.de.utf8.html", &d);
        assert_eq!(x.content_type.as_deref(), Some("text/html; charset=utf-8"));
        assert_eq!(x.languages, ["de"]);
        let x = m("/s/h.en.de.txt", &d);
        assert_eq!(x.languages, ["en", "de"]);
        let x = m("/s/i.txt.gz.z", &d);
        assert_eq!(x.content_type.as_deref(), Some("application/gzip"));
        assert_eq!(x.encoding.as_deref(), Some("x-gzip, x-compress"));
        // A charset without a type is dropped; DefaultLanguage fills in.
        d.default_language = Some("fr".into());
        let x = m("/s/notype.utf8", &d);
        assert_eq!((x.content_type, x.languages), (None, vec!["fr".to_owned()]));
        // RemoveLanguage (an empty value) takes an extension back.
        d.add_languages.push(pair("de", ""));
        assert_eq!(m("/s/a.de.txt", &d).languages, ["fr"]);
    }

    fn table() -> MimeTypes {
        MimeTypes::parse(
            "# comment line\n\
             text/html\t\t\t\thtml htm\n\
             text/css css\n\
             application/gzip gz\n\
             application/x-tar tar\n\
             \n\
             text/plain txt\n\
             text/x-old css\n\
             text/css css\n",
        )
    }

    fn ct(t: &MimeTypes, name: &str, add: &[(&str, &str)]) -> Option<String> {
        let add: Vec<(String, String)> = add
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        t.content_type(Path::new(name), &add)
    }

    #[test]
    fn simple_and_case_insensitive() {
        let t = table();
        assert_eq!(ct(&t, "/x/style.css", &[]).as_deref(), Some("text/css"));
        assert_eq!(ct(&t, "/x/PAGE.HTML", &[]).as_deref(), Some("text/html"));
        assert_eq!(ct(&t, "README", &[]), None);
        assert_eq!(ct(&t, "file.zzzunknown", &[]), None);
    }

    #[test]
    fn every_extension_counts_last_known_wins() {
        let t = table();
        assert_eq!(ct(&t, "a.tar.gz", &[]).as_deref(), Some("application/gzip"));
        assert_eq!(
            ct(&t, "a.gz.tar", &[]).as_deref(),
            Some("application/x-tar")
        );
        assert_eq!(ct(&t, "index.html.en", &[]).as_deref(), Some("text/html"));
        assert_eq!(ct(&t, "bad..html", &[]).as_deref(), Some("text/html"));
    }

    #[test]
    fn base_name_is_not_an_extension() {
        let t = table();
        assert_eq!(ct(&t, "txt", &[]), None);
        assert_eq!(ct(&t, ".css", &[]), None);
        assert_eq!(ct(&t, "..css", &[]), None);
        assert_eq!(ct(&t, ".hidden.css", &[]).as_deref(), Some("text/css"));
    }

    #[test]
    fn add_type_and_remove_type() {
        let t = table();
        assert_eq!(
            ct(&t, "a.css", &[(".CSS", "Text/X-Mine")]).as_deref(),
            Some("text/x-mine")
        );
        assert_eq!(
            ct(&t, "a.foo", &[("foo", "text/foo")]).as_deref(),
            Some("text/foo")
        );
        assert_eq!(
            ct(&t, "a.foo.css", &[("foo", "text/foo")]).as_deref(),
            Some("text/css")
        );
        assert_eq!(ct(&t, "a.css", &[("css", "")]), None);
        assert_eq!(
            ct(&t, "a.css", &[("css", "text/a"), ("css", "text/b")]).as_deref(),
            Some("text/b")
        );
    }

    #[test]
    fn later_line_wins_and_builtin() {
        assert_eq!(table().lookup("CSS"), Some("text/css"));
        let b = MimeTypes::load(None).ok().unwrap_or_default();
        assert_eq!(b.lookup("js"), Some("text/javascript"));
        assert_eq!(b.lookup("svg"), Some("image/svg+xml"));
    }

    #[test]
    fn system_table_matches_golden_21() {
        let Ok(t) = MimeTypes::load(Some(Path::new("/etc/mime.types"))) else {
            return;
        };
        for (name, want) in [
            ("style.css", "text/css"),
            ("app.js", "text/javascript"),
            ("data.json", "application/json"),
            ("notes.txt", "text/plain"),
            ("page.html", "text/html"),
            ("dot.png", "image/png"),
            ("pic.svg", "image/svg+xml"),
        ] {
            assert_eq!(ct(&t, name, &[]).as_deref(), Some(want), "{name}");
        }
    }
}
