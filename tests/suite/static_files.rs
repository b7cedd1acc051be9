//! Static files next to a WSGI application (oracle case 21): Alias and
//! DocumentRoot, Content-Type from `/etc/mime.types`, validators
//! (Last-Modified, ETag, 304), byte ranges (206, 416), directories (301
//! to the slash form, DirectoryIndex, 404 without an index).

use crate::support::{TestServer, apps, assert_refused_lines, server};

fn static_site(extra: &str) -> TestServer {
    let site = format!(
        "\
DocumentRoot @DIR@/htdocs
Alias /static/ @DIR@/static/
Alias /robots.txt @DIR@/static/robots.txt
<Directory @DIR@/static>
    Require all granted
</Directory>
WSGIScriptAlias / @DIR@/root.wsgi
{extra}"
    );
    server(&site)
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("static/style.css", "body { color: red; }\n")
        .file("static/app.js", "console.log('x');\n")
        .file("static/notes.txt", "plain notes\n")
        .file(
            "static/page.html",
            "<html><body>static html</body></html>\n",
        )
        .file("static/file.zzzunknown", "unknown extension\n")
        .file("static/README", "no extension\n")
        .file("static/robots.txt", "User-agent: *\n")
        .file("static/sub/index.html", "sub index\n")
        .file("static/other/start.html", "start page\n")
        .file("root.wsgi", apps::ENVIRON)
        .start()
}

#[test]
fn content_type_comes_from_mime_types() {
    let s = static_site("");
    let cases = [
        (
            "/static/style.css",
            Some("text/css"),
            "body { color: red; }\n",
        ),
        (
            "/static/app.js",
            Some("text/javascript"),
            "console.log('x');\n",
        ),
        ("/static/notes.txt", Some("text/plain"), "plain notes\n"),
        (
            "/static/page.html",
            Some("text/html"),
            "<html><body>static html</body></html>\n",
        ),
        ("/static/file.zzzunknown", None, "unknown extension\n"),
        ("/static/README", None, "no extension\n"),
        ("/robots.txt", Some("text/plain"), "User-agent: *\n"),
        ("/static/notes.txt?v=2", Some("text/plain"), "plain notes\n"),
        ("/static/%6Eotes.txt", Some("text/plain"), "plain notes\n"),
    ];
    for (path, ctype, body) in cases {
        let r = s.get(path);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, body),
            "GET {path}: {}",
            r.describe()
        );
        assert_eq!(r.header("Content-Type"), ctype, "GET {path}");
        assert_eq!(
            r.header("Content-Length"),
            Some(body.len().to_string().as_str()),
            "GET {path}"
        );
    }
}

#[test]
fn urls_outside_the_alias_go_to_the_application() {
    let s = static_site("");
    for (path, path_info) in [
        ("/", "/"),
        ("/static", "/static"),
        ("/foo/bar?x=1", "/foo/bar"),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        assert_eq!(
            (r.var("SCRIPT_NAME").as_str(), r.var("PATH_INFO").as_str()),
            ("", path_info),
            "GET {path}"
        );
    }
    let r = s.get("/static/missing.css");
    assert_eq!(
        r.status,
        404,
        "a missing static file is 404, not the app: {}",
        r.describe()
    );
}

#[test]
fn head_on_a_static_file() {
    let s = static_site("");
    let mut c = s.connect();
    c.send(format!(
        "HEAD /static/style.css HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    let r = c.read_response(true);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("Content-Length"), Some("21"));
    assert_eq!(r.header("Content-Type"), Some("text/css"));
    assert!(c.read_to_close().is_empty(), "HEAD must not send a body");
}

#[test]
fn validators_and_conditional_get() {
    let s = static_site("");
    let r = s.get("/static/notes.txt");
    let last_modified = r
        .header("Last-Modified")
        .expect("Last-Modified on a static file")
        .to_owned();
    let etag = r.header("ETag").expect("ETag on a static file").to_owned();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    // Apache makes the tag weak (`W/"..."`) while the file is less than a
    // second old; either form is a quoted string.
    let strong = etag.strip_prefix("W/").unwrap_or(&etag);
    assert!(
        strong.len() > 2 && strong.starts_with('"') && strong.ends_with('"'),
        "{etag}"
    );

    let r = s.get_with("/static/notes.txt", &[&format!("If-None-Match: {etag}")]);
    assert_eq!((r.status, r.body.len()), (304, 0), "{}", r.describe());
    let r = s.get_with(
        "/static/notes.txt",
        &[&format!("If-Modified-Since: {last_modified}")],
    );
    assert_eq!((r.status, r.body.len()), (304, 0), "{}", r.describe());
    let r = s.get_with("/static/notes.txt", &["If-None-Match: \"something-else\""]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "plain notes\n"),
        "{}",
        r.describe()
    );
    let r = s.get_with(
        "/static/notes.txt",
        &["If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT"],
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    // Dates are read as apr_date_parse_http reads them: the weekday is not
    // checked (1 Jan 1990 was a Monday), the RFC 850 and asctime layouts
    // count.
    for past in [
        "Fri, 01 Jan 1990 00:00:00 GMT",
        "Monday, 01-Jan-90 00:00:00 GMT",
        "Mon Jan  1 00:00:00 1990",
    ] {
        let r = s.get_with(
            "/static/notes.txt",
            &[&format!("If-Unmodified-Since: {past}")],
        );
        assert_eq!(
            (r.status, r.body.len()),
            (412, 0),
            "{past}: {}",
            r.describe()
        );
    }
    // Last-Modified under another weekday's name is still that date.
    let other_day = if last_modified.starts_with("Mon") {
        "Tue"
    } else {
        "Mon"
    };
    let r = s.get_with(
        "/static/notes.txt",
        &[&format!(
            "If-Modified-Since: {other_day}{}",
            &last_modified[3..]
        )],
    );
    assert_eq!(r.status, 304, "{}", r.describe());
}

#[test]
fn byte_ranges() {
    let s = static_site("");
    let r = s.get_with("/static/notes.txt", &["Range: bytes=0-4"]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "plain"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("Content-Range"), Some("bytes 0-4/12"));
    assert_eq!(r.header("Content-Length"), Some("5"));
    let r = s.get_with("/static/notes.txt", &["Range: bytes=-6"]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "notes\n"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("Content-Range"), Some("bytes 6-11/12"));
    let r = s.get_with("/static/notes.txt", &["Range: bytes=100-200"]);
    assert_eq!(r.status, 416, "{}", r.describe());
}

#[test]
fn directories() {
    let s = static_site("");
    let r = s.get("/static/sub");
    assert_eq!(r.status, 301, "{}", r.describe());
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/static/sub/", s.port()).as_str())
    );
    let r = s.get("/static/sub/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "sub index\n"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = s.get("/static/");
    assert_eq!(r.status, 404, "no index and no Indexes: {}", r.describe());
}

#[test]
fn directory_index_directive() {
    let s = static_site(
        "<Directory @DIR@/static/other>\n    DirectoryIndex start.html\n</Directory>\n",
    );
    let r = s.get("/static/other/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "start page\n"),
        "{}",
        r.describe()
    );
    // Elsewhere the default (index.html) still applies.
    assert_eq!(s.get("/static/sub/").text(), "sub index\n");
}

#[test]
fn document_root_serves_files_without_an_application() {
    let s = server("DocumentRoot @DIR@/htdocs\n")
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("htdocs/a/b.txt", "deep\n")
        .start();
    let r = s.get("/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<p>index</p>\n"),
        "{}",
        r.describe()
    );
    let r = s.get("/a/b.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "deep\n"));
    assert_eq!(s.get("/a/missing.txt").status, 404);
    let r = s.get("/a");
    assert_eq!(r.status, 301, "{}", r.describe());
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/a/", s.port()).as_str())
    );
}

/// `FileETag` (oracle case `35-file-etag` in the repository): which facts
/// of the file make the ETag, per section, `+`/`-` relative to what is
/// inherited, and `None` for no ETag at all (conditions then only see
/// `*`).
#[test]
fn file_etag_chooses_the_etag_components() {
    use std::os::unix::fs::MetadataExt;
    let s = static_site(
        "Alias /all/ @DIR@/static/\nAlias /none/ @DIR@/static/\nAlias /inode/ @DIR@/static/\n\
         <Location /all>\n    FileETag All\n</Location>\n\
         <Location /none>\n    FileETag None\n</Location>\n\
         <Location /inode>\n    FileETag All\n    FileETag -INode -Size\n</Location>\n",
    );
    let meta = std::fs::metadata(s.dir().join("static/notes.txt")).expect("stat");
    let mtime_us = meta.mtime() as u64 * 1_000_000 + meta.mtime_nsec() as u64 / 1000;
    let strong = |r: &crate::support::http::Response| {
        r.header("ETag")
            .map(|t| t.trim_start_matches("W/").to_owned())
    };
    let r = s.get("/static/notes.txt");
    assert_eq!(
        strong(&r),
        Some(format!("\"{:x}-{:x}\"", meta.size(), mtime_us)),
        "{}",
        r.describe()
    );
    let r = s.get("/all/notes.txt");
    assert_eq!(
        strong(&r),
        Some(format!(
            "\"{:x}-{:x}-{:x}\"",
            meta.ino(),
            meta.size(),
            mtime_us
        )),
        "{}",
        r.describe()
    );
    let r = s.get("/inode/notes.txt");
    assert_eq!(
        strong(&r),
        Some(format!("\"{mtime_us:x}\"")),
        "{}",
        r.describe()
    );
    let r = s.get("/none/notes.txt");
    assert_eq!(r.header("ETag"), None, "{}", r.describe());
    assert!(r.header("Last-Modified").is_some(), "{}", r.describe());
    let any = s.get_with(
        "/none/notes.txt",
        &["If-None-Match: *", "Connection: close"],
    );
    assert_eq!(any.status, 304, "{}", any.describe());
    let other = s.get_with(
        "/none/notes.txt",
        &["If-Match: \"abc\"", "Connection: close"],
    );
    assert_eq!(other.status, 412, "{}", other.describe());
}

#[test]
fn file_etag_refuses_what_apache_refuses() {
    assert_refused_lines(&[
        (
            "FileETag Bogus",
            "Unknown keyword 'Bogus' for FileETag directive",
        ),
        (
            "FileETag +None",
            "FileETag keyword 'None' cannot be used with '+' or '-'",
        ),
        ("FileETag Digest", "not implemented yet in wsgid"),
    ]);
}

/// `AcceptPathInfo` (oracle case `36-accept-path-info` in the repository):
/// On lets the default handler serve a file with trailing path
/// information; Off refuses it for a WSGI script too, with mod_wsgi's line.
#[test]
fn accept_path_info_decides_for_files_and_scripts() {
    let s = static_site(
        "<Location /off-app>\n    AcceptPathInfo Off\n</Location>\n\
         <Location /on>\n    AcceptPathInfo On\n</Location>\n\
         Alias /on/ @DIR@/static/\n",
    );
    assert_eq!(s.get("/static/notes.txt/extra").status, 404);
    let on = s.get("/on/notes.txt/extra");
    assert_eq!(
        (on.status, on.text().as_str()),
        (200, "plain notes\n"),
        "{}",
        on.describe()
    );
    let off = s.get("/off-app/x");
    assert_eq!(off.status, 404, "{}", off.describe());
    // The same script elsewhere takes its path information.
    assert_eq!(s.get("/elsewhere/x").status, 200);
    assert!(
        s.wait_for_log(
            &["AcceptPathInfo off disallows user's path: "],
            std::time::Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

/// `AddType` overrides `TypesConfig` (the last known extension of the name
/// wins) and `RemoveType` leaves an extension without any type, as Apache
/// 2.4.71 answered (oracle case `37-mime-types` in the repository).
#[test]
fn add_type_and_remove_type_change_the_content_type() {
    let s = static_site(
        "AddType text/x-foo .foo\nAddType Text/X-MyCss css\n\
         <Location /static/sub>\n    RemoveType .css .TXT\n</Location>\n",
    );
    for (path, ctype) in [
        ("/static/style.css", Some("text/x-mycss")),
        ("/static/notes.txt", Some("text/plain")),
        ("/static/file.zzzunknown", None),
        ("/static/sub/index.html", Some("text/html")),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.describe());
        assert_eq!(r.header("Content-Type"), ctype, "{path}: {}", r.describe());
    }
    let s = server(
        "Alias /f/ @DIR@/f/\n<Directory @DIR@/f>\n    Require all granted\n</Directory>\n\
         AddType text/x-foo .foo\n<Location /f/sub>\n    RemoveType .css\n</Location>\n",
    )
    .file("f/a.foo", "a")
    .file("f/sub/c.css", "c")
    .start();
    assert_eq!(s.get("/f/a.foo").header("Content-Type"), Some("text/x-foo"));
    let removed = s.get("/f/sub/c.css");
    assert_eq!(removed.status, 200, "{}", removed.describe());
    assert_eq!(
        removed.header("Content-Type"),
        None,
        "{}",
        removed.describe()
    );
}

/// `Options` without `FollowSymLinks` refuses a path through a symbolic
/// link (403, AH00037), for files and for scripts; `SymLinksIfOwnerMatch`
/// allows a link owned as its target is.  Checked side by side with Apache
/// 2.4.71 (the same six answers and log lines).
#[test]
fn symbolic_links_need_follow_symlinks() {
    let p = server(
        "Alias /sl/ @DIR@/sl/\n<Directory @DIR@/sl>\n    Require all granted\n</Directory>\n\
         <Directory @DIR@/sl/off>\n    Options None\n</Directory>\n\
         <Directory @DIR@/sl/own>\n    Options SymLinksIfOwnerMatch\n</Directory>\n\
         WSGIScriptAlias /slapp @DIR@/sl/scr/link/app.wsgi\n\
         <Directory @DIR@/sl/scr>\n    Options ExecCGI\n</Directory>\n",
    )
    .file("sl/real/f.txt", "real file\n")
    .file("sl/real/app.wsgi", apps::ENVIRON)
    .file("sl/on/.keep", "")
    .file("sl/off/.keep", "")
    .file("sl/own/.keep", "")
    .file("sl/scr/.keep", "")
    .prepare();
    let sl = p.dir().join("sl");
    for d in ["on", "off", "own"] {
        std::os::unix::fs::symlink("../real", sl.join(d).join("link")).expect("symlink");
        std::os::unix::fs::symlink("../real/f.txt", sl.join(d).join("flink.txt")).expect("symlink");
    }
    std::os::unix::fs::symlink("../real", sl.join("scr/link")).expect("symlink");
    let s = p.start();
    for (path, status) in [
        ("/sl/on/link/f.txt", 200),
        ("/sl/on/flink.txt", 200),
        ("/sl/off/link/f.txt", 403),
        ("/sl/off/flink.txt", 403),
        ("/sl/own/link/f.txt", 200),
        ("/sl/own/flink.txt", 200),
        ("/slapp/x", 403),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.describe());
    }
    let line = format!(
        "AH00037: Symbolic link not allowed or link target not accessible: {}",
        sl.join("off/link").display()
    );
    assert!(
        s.wait_for_log(&[&line], std::time::Duration::from_secs(5))
            .is_some(),
        "{}",
        s.error_log()
    );
}
