//! mod_dir beyond the trailing slash (repo oracle case 47):
//! `FallbackResource` as PHP-style front controllers use it with a WSGI
//! script, `DirectoryIndexRedirect`, `DirectoryCheckHandler`, which
//! methods get an index file, and the sub-request nesting limit.

use std::time::Duration;

use crate::support::{apps, server};

const SITE: &str = "\
Alias /fb/ @DIR@/fb/
<Directory @DIR@/fb>
    Options ExecCGI
    AddHandler wsgi-script .wsgi
    Require all granted
    FallbackResource /fb/app.wsgi
</Directory>
<Directory @DIR@/fb/off>
    FallbackResource disabled
</Directory>
Alias /ix/ @DIR@/ix/
<Directory @DIR@/ix>
    Options ExecCGI
    Require all granted
    DirectoryIndex index.txt
</Directory>
<Directory @DIR@/ix/redir>
    DirectoryIndexRedirect seeother
</Directory>
<Directory @DIR@/ix/checked>
    DirectoryCheckHandler On
    SetHandler wsgi-script
</Directory>
Alias /recur/ @DIR@/recur/
<Directory @DIR@/recur>
    Require all granted
    DirectoryIndex ./
</Directory>
";

#[test]
fn fallback_resource_runs_the_script_for_missing_files() {
    let s = server(SITE)
        .file("fb/app.wsgi", apps::ENVIRON)
        .file("fb/exists.txt", "exists\n")
        .file("fb/off/keep.txt", "x")
        .start();
    let env = s.get("/fb/a/b?x=1").kv();
    assert_eq!(env["SCRIPT_NAME"], "/fb/app.wsgi");
    assert_eq!(env["PATH_INFO"], "");
    assert_eq!(env["QUERY_STRING"], "x=1");
    assert_eq!(env["REQUEST_URI"], "/fb/a/b?x=1");
    assert_eq!(s.post("/fb/form", b"k=v").kv()["REQUEST_METHOD"], "POST");
    assert_eq!(s.get("/fb/exists.txt").text(), "exists\n");
    assert_eq!(s.get("/fb/off/missing").status, 404);
    // A missing script has its handler: mod_wsgi's 404, no fallback.
    assert_eq!(s.get("/fb/missing.wsgi").status, 404);
}

#[test]
fn index_redirects_handlers_and_methods() {
    let s = server(SITE)
        .file("ix/index.txt", "index\n")
        .file("ix/redir/index.txt", "index\n")
        .file("ix/checked/index.txt", "index\n")
        .file("recur/inner.txt", "x")
        .start();
    assert_eq!(s.get("/ix/").text(), "index\n");
    let r = s.get("/ix/redir/?q=1");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/ix/redir/index.txt", s.port()).as_str())
    );
    // The directory's handler keeps it: mod_wsgi refuses a directory.
    assert_eq!(s.get("/ix/checked/").status, 403);
    // Index files are for GET, HEAD and POST only.
    assert_eq!(s.post("/ix/", b"x").text(), "index\n");
    assert_eq!(s.send_body("PUT", "/ix/", b"x").status, 405);
    // `DirectoryIndex ./` looks the directory up again and again.
    assert_eq!(s.get("/recur/").status, 500);
    assert!(
        s.wait_for_log(
            &["AH00125: Request exceeded the limit of 10 subrequest nesting levels"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}
