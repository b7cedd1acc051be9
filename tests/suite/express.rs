//! `wsgid start-server` (the mod_wsgi-express path): the generated
//! configuration (`--setup-only`), serving a script, `--url-alias`; and the
//! files in `examples/` that the README's quick start uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{TestServer, free_port, run_to_exit, run_to_exit_with};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hello() -> PathBuf {
    repo().join("examples/hello.wsgi")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn setup_only_prints_the_generated_configuration() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = hello().display().to_string();
    let root = dir.path().join("root").display().to_string();
    let args = strings(&[
        "start-server",
        &script,
        "--port",
        "8123",
        "--host",
        "127.0.0.1",
        "--server-root",
        &root,
        "--setup-only",
    ]);
    let out = run_to_exit(&args, dir.path(), Duration::from_secs(30));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("WSGIScriptAlias"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&script),
        "the script's absolute path must appear:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.lines().any(|l| l == "Listen 127.0.0.1:8123"),
        "{}",
        out.stdout
    );
    // Nothing is started, and the generated text is itself a valid configuration.
    let conf = dir.path().join("generated.conf");
    std::fs::write(&conf, &out.stdout).expect("write the generated configuration");
    let check = run_to_exit(
        &strings(&["-t", "-f", &conf.display().to_string()]),
        dir.path(),
        Duration::from_secs(30),
    );
    assert_eq!(
        check.code(),
        Some(0),
        "generated configuration does not load: {check:?}"
    );
}

#[test]
fn start_server_serves_the_hello_example() {
    let port = free_port();
    let script = hello().display().to_string();
    let s = TestServer::start_args(
        &[
            "start-server",
            &script,
            "--port",
            "@PORT@",
            "--host",
            "127.0.0.1",
            "--server-root",
            "@DIR@",
        ],
        port,
    );
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.text().starts_with("Hello World"), "{}", r.describe());
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = s.get("/any/path?x=1");
    assert_eq!(r.status, 200, "mounted at /: {}", r.describe());
}

#[test]
fn start_server_url_alias_serves_static_files() {
    let port = free_port();
    let files = tempfile::tempdir().expect("temporary directory");
    std::fs::write(files.path().join("a.txt"), "static a\n").expect("write a.txt");
    let files_s = files.path().display().to_string();
    let script = hello().display().to_string();
    let s = TestServer::start_args(
        &[
            "start-server",
            &script,
            "--port",
            "@PORT@",
            "--host",
            "127.0.0.1",
            "--server-root",
            "@DIR@",
            "--url-alias",
            "/files",
            &files_s,
        ],
        port,
    );
    let r = s.get("/files/a.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "static a\n"),
        "{}",
        r.describe()
    );
    assert!(s.get("/").text().starts_with("Hello World"));
}

#[test]
fn start_server_with_a_missing_script_fails() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("missing.wsgi").display().to_string();
    let out = run_to_exit(
        &strings(&["start-server", &missing, "--port", "8124", "--setup-only"]),
        dir.path(),
        Duration::from_secs(30),
    );
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(out.stderr.contains("missing.wsgi"), "{}", out.stderr);
}

#[test]
fn example_site_conf_is_valid() {
    let repo_s = repo().display().to_string();
    let out = run_to_exit_with(
        &strings(&["-t", "-f", "examples/site.conf"]),
        repo(),
        &[("PWD", &repo_s)],
        Duration::from_secs(30),
    );
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stderr.contains("Syntax OK"), "{out:?}");
}

#[test]
fn example_site_conf_serves_hello_world() {
    // The example as written, except for the port and the /tmp paths.
    let text = std::fs::read_to_string(repo().join("examples/site.conf"))
        .expect("read examples/site.conf");
    assert!(
        text.contains("Listen 127.0.0.1:8000\n"),
        "the README promises port 8000"
    );
    let port = free_port();
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path().display().to_string();
    let text = text
        .replace("Listen 127.0.0.1:8000", &format!("Listen 127.0.0.1:{port}"))
        .replace("/tmp/wsgid-example", &format!("{d}/example"));
    let conf = dir.path().join("site.conf");
    std::fs::write(&conf, text).expect("write the adapted example");
    let conf_s = conf.display().to_string();
    let repo_s = repo().display().to_string();
    let s = TestServer::start_args_with(&["-f", &conf_s], port, Some(repo()), &[("PWD", &repo_s)]);
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.text(), "Hello World!");
    let r = s.get("/static/hello.wsgi");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.text().contains("def application"), "{}", r.describe());
    drop(s);
    let log = std::fs::read_to_string(dir.path().join("example-error.log")).unwrap_or_default();
    assert!(
        log.contains("resuming normal operations"),
        "error log: {log}"
    );
}
