//! Configuration loading as `httpd -t` reports it: `Syntax OK`, Apache's
//! exact error texts with `file:line`, sections, contexts, directives that
//! wsgid refuses, Include with globs, `<IfModule>`/`<IfDefine>` with `-D`,
//! and the syntax details of oracle case 24 (quoting, continuation lines,
//! case-insensitive names).
//!
//! What a loaded configuration *does* is tested in the other topics.

use crate::support::{apps, server};

/// The message pair Apache prints for a configuration error.
fn syntax_error(line: usize, file: &std::path::Path, message: &str) -> String {
    format!(
        "AH00526: Syntax error on line {line} of {}:\n{message}",
        file.display()
    )
}

#[test]
fn valid_configuration_prints_syntax_ok() {
    let p = server("WSGIScriptAlias /app @DIR@/app.wsgi\n")
        .file("app.wsgi", apps::text_app("x"))
        .prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.lines().any(|l| l == "Syntax OK"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn oracle_prelude_module_lines_are_accepted() {
    // The oracle gives wsgid the same file as Apache, LoadModule and all.
    let site = "\
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
Mutex file:@DIR@ default
ServerSignature Off
ServerTokens Prod
WSGISocketPrefix @DIR@/wsgi
<IfModule mpm_event_module>
    MinSpareThreads 1
    MaxSpareThreads 16
    MaxConnectionsPerChild 0
</IfModule>
";
    let out = server(site).prepare().config_test();
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stderr.contains("Syntax OK"), "{out:?}");
}

#[test]
fn unknown_directive_is_reported_like_apache() {
    let p = server("WSGIScriptAlias /a @DIR@/a.wsgi\nWSGIScriptAlia /b @DIR@/b.wsgi\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = syntax_error(
        p.site_line(2),
        p.conf(),
        "Invalid command 'WSGIScriptAlia', perhaps misspelled or defined by a module not included in the server configuration",
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Syntax OK"), "{}", out.stderr);
}

#[test]
fn configuration_error_stops_a_real_start_too() {
    let p = server("NoSuchDirective on\n").prepare();
    let out = p.run_expecting_exit();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = syntax_error(
        p.site_line(1),
        p.conf(),
        "Invalid command 'NoSuchDirective', perhaps misspelled or defined by a module not included in the server configuration",
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn unclosed_section_is_an_error() {
    let p = server("<Location /x>\n    SetEnv A b\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    // Apache: `httpd: Syntax error on line 15 of F: F:15: <Location> was not closed.`
    // (a read-time error: one line, naming the line that opened the section).
    let (line, conf) = (p.site_line(1), p.conf().display());
    let expected =
        format!("Syntax error on line {line} of {conf}: {conf}:{line}: <Location> was not closed.");
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn closing_tag_without_opening_is_an_error() {
    let p = server("SetEnv A b\n</Directory>\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = format!(
        "Syntax error on line {} of {}: </Directory> without matching <Directory> section",
        p.site_line(2),
        p.conf().display()
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn server_only_directive_in_location_is_not_allowed() {
    let p = server("<Location /x>\n    WSGIScriptAlias /y @DIR@/y.wsgi\n</Location>\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = syntax_error(
        p.site_line(2),
        p.conf(),
        "WSGIScriptAlias not allowed in <Location> context",
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn listen_inside_virtualhost_is_rejected() {
    let p = server("<VirtualHost *:@PORT@>\n    Listen 127.0.0.1:1\n</VirtualHost>\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = syntax_error(
        p.site_line(2),
        p.conf(),
        "Listen cannot occur within <VirtualHost> section",
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn daemon_process_options_wsgid_lacks_are_refused_as_not_implemented() {
    let p = server("WSGIDaemonProcess example threads=2 chroot=/srv\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let header = format!(
        "AH00526: Syntax error on line {} of {}:",
        p.site_line(1),
        p.conf().display()
    );
    assert!(
        out.stderr.contains(&header),
        "expected {header:?} in:\n{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("WSGIDaemonProcess option 'chroot' is not implemented yet in wsgid."),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Syntax OK"), "{}", out.stderr);
    let ok = server("WSGIDaemonProcess example threads=2 maximum-requests=10\n").prepare();
    assert_eq!(ok.config_test().code(), Some(0));
    let dup = server("WSGIDaemonProcess example\nWSGIDaemonProcess example\n").prepare();
    assert!(
        dup.config_test()
            .stderr
            .contains("Name duplicates previous WSGI daemon definition.")
    );
}

#[test]
fn python_executable_says_removed_use_python_home() {
    let p = server("WSGIPythonExecutable /usr/bin/python3\n").prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!("line {} of", p.site_line(1))),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("WSGIPythonHome"), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("removed"),
        "{}",
        out.stderr
    );
}

#[test]
fn include_glob_reads_matching_files_only() {
    let s = server("Include conf.d/*.conf\nIncludeOptional optional.d/*.conf\n")
        .file("conf.d/a.conf", "WSGIScriptAlias /a @DIR@/a.wsgi\n")
        .file("conf.d/b.conf", "WSGIScriptAlias /b @DIR@/b.wsgi\n")
        .file("conf.d/notes.txt", "ThisIsNotADirective at all\n")
        .file("a.wsgi", apps::text_app("from a"))
        .file("b.wsgi", apps::text_app("from b"))
        .start();
    let a = s.get("/a");
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, "from a"),
        "{}",
        a.describe()
    );
    let b = s.get("/b");
    assert_eq!(
        (b.status, b.text().as_str()),
        (200, "from b"),
        "{}",
        b.describe()
    );
}

#[test]
fn error_in_included_file_names_that_file_and_line() {
    let p = server("Include conf.d/*.conf\n")
        .file("conf.d/bad.conf", "# comment\nBogusDirective x\n")
        .prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = syntax_error(
        2,
        &p.dir().join("conf.d/bad.conf"),
        "Invalid command 'BogusDirective', perhaps misspelled or defined by a module not included in the server configuration",
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
}

#[test]
fn include_of_missing_file_fails_but_include_optional_does_not() {
    let missing = server("Include @DIR@/nonexistent.conf\n").prepare();
    let out = missing.config_test();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let expected = format!(
        "Syntax error on line {} of {}: Could not open configuration file {}: No such file or directory",
        missing.site_line(1),
        missing.conf().display(),
        missing.dir().join("nonexistent.conf").display()
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );

    let optional = server("IncludeOptional @DIR@/nonexistent.conf\n").prepare();
    let out = optional.config_test();
    assert_eq!(out.code(), Some(0), "{out:?}");
}

#[test]
fn ifdefine_follows_dash_d_and_ifmodule_knows_the_modules() {
    let site = "\
<IfDefine WITH_B>
    WSGIScriptAlias /b @DIR@/app.wsgi
</IfDefine>
<IfDefine !WITH_B>
    WSGIScriptAlias /not-b @DIR@/app.wsgi
</IfDefine>
<IfModule wsgi_module>
    WSGIScriptAlias /by-name @DIR@/app.wsgi
</IfModule>
<IfModule mod_wsgi.c>
    WSGIScriptAlias /by-file @DIR@/app.wsgi
</IfModule>
<IfModule !wsgi_module>
    WSGIScriptAlias /negated @DIR@/app.wsgi
</IfModule>
<IfModule mod_nonexistent_oracle.c>
    NotEvenADirective skipped because the module is not loaded
</IfModule>
";
    let with_b = server(site)
        .file("app.wsgi", apps::text_app("ok"))
        .define("WITH_B")
        .start();
    for (path, status) in [
        ("/b", 200),
        ("/not-b", 404),
        ("/by-name", 200),
        ("/by-file", 200),
        ("/negated", 404),
    ] {
        let r = with_b.get(path);
        assert_eq!(r.status, status, "-D WITH_B, {path}: {}", r.describe());
    }
    drop(with_b);
    let without = server(site).file("app.wsgi", apps::text_app("ok")).start();
    for (path, status) in [("/b", 404), ("/not-b", 200)] {
        let r = without.get(path);
        assert_eq!(r.status, status, "no -D, {path}: {}", r.describe());
    }
}

#[test]
fn quoting_continuation_and_case_insensitive_names() {
    // Oracle case 24.
    let site = "\
<ifmodule alias_module>
  <IfModule rewrite_module>
    wsgiscriptalias /nested-lowercase @DIR@/app.wsgi
  </IfModule>
</ifmodule>
WSGIScriptAlias \"/quoted space\" \"@DIR@/app.wsgi\"
WSGIScriptAlias /continued \\
    @DIR@/app.wsgi
<Location \"/quoted space\">
    SetEnv ORACLE_QUOTED \"a value with spaces\"
</Location>
<Location /continued>
    SetEnv ORACLE_CONTINUED \\
        continued-value
</Location>
    # indented comment line
WSGIScriptAlias /trailing-ws @DIR@/app.wsgi   \n";
    let s = server(site).file("app.wsgi", apps::ENVIRON).start();
    let r = s.get("/nested-lowercase");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("SCRIPT_NAME"), "/nested-lowercase");
    let r = s.get("/quoted%20space/x");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("SCRIPT_NAME"), "/quoted space");
    assert_eq!(r.var("PATH_INFO"), "/x");
    assert_eq!(r.var("ORACLE_QUOTED"), "a value with spaces");
    let r = s.get("/continued");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("ORACLE_CONTINUED"), "continued-value");
    assert_eq!(s.get("/trailing-ws").status, 200);
}

#[test]
fn startup_warnings_are_printed_as_apache_prints_them() {
    let site = "\
<VirtualHost *:80>
    ServerName other.example
    DocumentRoot @DIR@/missing
</VirtualHost>
ServerAdmin ${UNDEFINED_IN_TEST}@example.org
";
    let p = server(site).prepare();
    let out = p.config_test();
    assert_eq!(out.code(), Some(0), "{out:?}");
    let missing = p.dir().join("missing");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.contains(
            &format!(
                "AH00112: Warning: DocumentRoot [{}] does not exist",
                missing.display()
            )
            .as_str()
        ),
        "{out:?}"
    );
    // The undefined variable is a whole log line ([core:warn] ...).
    assert!(
        lines.iter().any(|l| l.contains("[core:warn]")
            && l.ends_with("AH00111: Config variable ${UNDEFINED_IN_TEST} is not defined")),
        "{out:?}"
    );
    assert_eq!(lines.last(), Some(&"Syntax OK"), "{out:?}");
}
