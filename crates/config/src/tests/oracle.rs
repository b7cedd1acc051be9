//! The oracle's prelude + every case fragment, and the benchmark configs,
//! rendered with real temporary paths: cases wsgid supports today must
//! load, the others must fail with a "not implemented yet" error.
//! (Fixtures are copies under `testdata/`, see its README.)

use std::path::Path;

use crate::model::{Level, ServerTokens};
use crate::parse_str;

const PRELUDE: &str = include_str!("../../testdata/oracle/prelude.conf.in");

const CASES: &[(&str, &str)] = &[
    ("01", include_str!("../../testdata/oracle/01.conf.in")),
    ("02", include_str!("../../testdata/oracle/02.conf.in")),
    ("03", include_str!("../../testdata/oracle/03.conf.in")),
    ("04", include_str!("../../testdata/oracle/04.conf.in")),
    ("05", include_str!("../../testdata/oracle/05.conf.in")),
    ("06", include_str!("../../testdata/oracle/06.conf.in")),
    ("07", include_str!("../../testdata/oracle/07.conf.in")),
    ("08", include_str!("../../testdata/oracle/08.conf.in")),
    ("09", include_str!("../../testdata/oracle/09.conf.in")),
    ("10", include_str!("../../testdata/oracle/10.conf.in")),
    ("11", include_str!("../../testdata/oracle/11.conf.in")),
    ("12", include_str!("../../testdata/oracle/12.conf.in")),
    ("13", include_str!("../../testdata/oracle/13.conf.in")),
    ("14", include_str!("../../testdata/oracle/14.conf.in")),
    ("15", include_str!("../../testdata/oracle/15.conf.in")),
    ("16", include_str!("../../testdata/oracle/16.conf.in")),
    ("17", include_str!("../../testdata/oracle/17.conf.in")),
    ("18", include_str!("../../testdata/oracle/18.conf.in")),
    ("19", include_str!("../../testdata/oracle/19.conf.in")),
    ("20", include_str!("../../testdata/oracle/20.conf.in")),
    ("21", include_str!("../../testdata/oracle/21.conf.in")),
    ("22", include_str!("../../testdata/oracle/22.conf.in")),
    ("23", include_str!("../../testdata/oracle/23.conf.in")),
    ("24", include_str!("../../testdata/oracle/24.conf.in")),
];

/// Cases whose configuration uses directives wsgid does not implement yet,
/// with the directive that stops them.
const NOT_YET: &[(&str, &str)] = &[];

fn render(text: &str, run: &Path, case: &Path) -> String {
    text.replace("@RUN@", &run.display().to_string())
        .replace("@CASE@", &case.display().to_string())
        .replace("@PORT@", "8123")
        .replace("@USER@", "www-data")
        .replace("@GROUP@", "www-data")
}

#[test]
fn prelude_and_cases() {
    let run = tempfile::tempdir().expect("tempdir");
    let case = tempfile::tempdir().expect("tempdir");
    // The prelude's DocumentRoot, which the harness's case copies have.
    std::fs::create_dir(case.path().join("htdocs")).expect("mkdir");
    for (n, site) in CASES {
        let text = render(&format!("{PRELUDE}{site}"), run.path(), case.path());
        let result = parse_str(
            &text,
            &run.path().join("server.conf"),
            &["FOREGROUND".to_owned()],
        );
        match NOT_YET.iter().find(|(c, _)| c == n) {
            Some((_, directive)) => {
                let e = result.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    e.contains(&format!("{directive}: not implemented yet in wsgid")),
                    "case {n}: expected {directive} not implemented, got: {e}"
                );
            }
            None => {
                if let Err(e) = result {
                    panic!("case {n} must load:\n{e}");
                }
            }
        }
    }
}

#[test]
fn prelude_fills_the_model() {
    let run = tempfile::tempdir().expect("tempdir");
    let text = render(PRELUDE, run.path(), run.path());
    let c = parse_str(&text, &run.path().join("server.conf"), &[]).expect("prelude loads");
    let r = run.path();
    assert_eq!(c.server_root, r);
    assert_eq!(c.listen.len(), 1);
    assert_eq!(c.listen[0].port, 8123);
    assert_eq!(c.main.server_name.as_deref(), Some("localhost"));
    assert_eq!(c.pid_file, Some(r.join("httpd.pid")));
    assert_eq!(c.runtime_dir, r);
    assert_eq!(c.user.as_deref(), Some("www-data"));
    assert_eq!(c.main.log_level.default, Level::Info);
    assert_eq!(c.main.custom_logs[0].format, "%h %l %u %t \"%r\" %>s %b");
    assert_eq!(c.server_tokens, ServerTokens::Prod);
    assert_eq!(c.wsgi.socket_prefix, Some(r.join("wsgi")));
    assert_eq!(
        (
            c.mpm.start_servers,
            c.mpm.server_limit,
            c.mpm.threads_per_child,
            c.mpm.max_request_workers
        ),
        (1, 1, 16, 16)
    );
    let ignored: Vec<&str> = c.ignored.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        ignored.contains(&"LoadModule")
            && ignored.contains(&"Mutex")
            && ignored.contains(&"MaxSpareThreads")
    );
    assert_eq!(c.loaded_modules.len(), 15);
}

#[test]
fn case_24_config_syntax() {
    let run = tempfile::tempdir().expect("tempdir");
    let site = CASES
        .iter()
        .find(|(n, _)| *n == "24")
        .map_or("", |(_, s)| s);
    let text = render(&format!("{PRELUDE}{site}"), run.path(), Path::new("/case"));
    let c = parse_str(&text, &run.path().join("server.conf"), &[]).expect("loads");
    let urls: Vec<String> = c
        .main
        .aliases
        .iter()
        .map(|a| match &a.matcher {
            crate::model::UrlMatcher::Prefix(p) => p.clone(),
            crate::model::UrlMatcher::Regex(r) => r.to_string(),
        })
        .collect();
    assert_eq!(
        urls,
        vec![
            "/ifmodule-name",
            "/ifmodule-file",
            "/ifmodule-missing-negated",
            "/nested-lowercase",
            "/quoted space",
            "/continued",
            "/trailing-ws"
        ]
    );
    let quoted = &c.main.sections[0].per_dir.set_env;
    assert_eq!(
        quoted,
        &vec![("ORACLE_QUOTED".to_owned(), "a value with spaces".to_owned())]
    );
    assert_eq!(
        c.main.sections[1].per_dir.set_env,
        vec![("ORACLE_CONTINUED".to_owned(), "continued-value".to_owned())]
    );
}

#[test]
fn bench_configs() {
    let base = include_str!("../../testdata/bench/httpd-base.conf.in");
    let work = tempfile::tempdir().expect("tempdir");
    let render = |t: &str| {
        t.replace("@@WORKDIR@@", &work.path().display().to_string())
            .replace("@@PORT@@", "8124")
            .replace("@@APPS@@", "/srv/apps")
            .replace("@@PROCS@@", "2")
            .replace("@@THREADS@@", "8")
            .replace("@@TOTAL_THREADS@@", "16")
    };
    let embedded = render(&format!(
        "{base}{}",
        include_str!("../../testdata/bench/wsgi-embedded.conf.in")
    ));
    let c = parse_str(&embedded, &work.path().join("httpd.conf"), &[])
        .expect("embedded bench config loads");
    assert_eq!(
        (
            c.mpm.start_servers,
            c.mpm.threads_per_child,
            c.mpm.max_request_workers
        ),
        (2, 8, 16)
    );
    assert_eq!(c.max_keep_alive_requests, 0);
    assert!(c.enable_sendfile);
    let daemon = render(&format!(
        "{base}{}",
        include_str!("../../testdata/bench/wsgi-daemon.conf.in")
    ));
    let c = parse_str(&daemon, &work.path().join("httpd.conf"), &[]).expect("daemon bench config");
    assert!(c.wsgi.restrict_embedded);
    assert_eq!(c.wsgi.daemons.len(), 1);
    assert_eq!(
        c.wsgi.daemons[0].display_name.as_deref(),
        Some("(wsgi:bench)")
    );
}
