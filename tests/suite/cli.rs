//! The command line itself: `-V`, a missing configuration file, no
//! configuration at all.  Nothing here starts a server.

use std::time::Duration;

use crate::support::run_to_exit;

fn run(args: &[&str]) -> crate::support::Outcome {
    let dir = tempfile::tempdir().expect("temporary directory");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_to_exit(&args, dir.path(), Duration::from_secs(30))
}

#[test]
fn dash_v_prints_server_and_python_versions() {
    let out = run(&["-V"]);
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.contains("Server version: wsgid/"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Python") || out.stdout.contains("python"),
        "no Python version in:\n{}",
        out.stdout
    );
    // Which libpython: a file that exists, or (scripts/build-static.sh) the
    // executable itself.
    let library = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("libpython: "))
        .unwrap_or_else(|| panic!("no libpython line in:\n{}", out.stdout));
    assert!(
        library == "linked statically into this executable"
            || std::path::Path::new(library).is_file(),
        "libpython: {library}"
    );
}

#[test]
fn missing_configuration_file_is_reported_like_apache() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let conf = dir.path().join("nonexistent.conf");
    let conf_s = conf.display().to_string();
    for extra in [&["-t"][..], &[][..]] {
        let mut args: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["-f".to_owned(), conf_s.clone()]);
        let out = run_to_exit(&args, dir.path(), Duration::from_secs(30));
        assert_eq!(out.code(), Some(1), "{args:?}: {out:?}");
        let expected =
            format!("Could not open configuration file {conf_s}: No such file or directory");
        assert!(
            out.stderr.contains(&expected),
            "{args:?}: expected {expected:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn no_configuration_is_a_usage_error() {
    let out = run(&[]);
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(
        !out.stderr.trim().is_empty(),
        "an error must say what is wrong: {out:?}"
    );
}

#[test]
fn unknown_flag_is_rejected() {
    let out = run(&["--no-such-flag"]);
    assert_ne!(out.code(), Some(0), "{out:?}");
}

/// httpd's `-d DIR`: the `-f` file and the relative paths in it (here an
/// `Include`) are taken from DIR, whatever the working directory.
#[test]
fn dash_d_sets_the_initial_server_root() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("conf")).expect("mkdir");
    std::fs::write(
        root.path().join("conf/main.conf"),
        "Listen 127.0.0.1:1\nInclude conf/extra.conf\n",
    )
    .expect("write");
    std::fs::write(root.path().join("conf/extra.conf"), "ServerName example\n").expect("write");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let root_arg = root.path().display().to_string();
    let args: Vec<String> = ["-d", &root_arg, "-f", "conf/main.conf", "-t"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let out = run_to_exit(&args, elsewhere.path(), Duration::from_secs(30));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stderr.contains("Syntax OK"), "{out:?}");
    // Without -d the same command looks in the working directory.
    let out = run_to_exit(&args[2..], elsewhere.path(), Duration::from_secs(30));
    assert_ne!(out.code(), Some(0), "{out:?}");
    let missing: Vec<String> = ["-d", "/nonexistent-wsgid-root", "-f", "x.conf", "-t"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let out = run_to_exit(&missing, elsewhere.path(), Duration::from_secs(30));
    assert!(
        out.stderr.contains("ServerRoot must be a valid directory"),
        "{out:?}"
    );
}
