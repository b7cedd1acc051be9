//! Exact error texts, as Apache prints them.

use super::{err, msg, ok};

#[test]
fn unknown_directive_with_hint_and_line() {
    assert_eq!(
        err("ServerName x\nWSGIScriptAlais /a /b\n"),
        "AH00526: Syntax error on line 2 of /etc/wsgid/test.conf:\n\
         Invalid command 'WSGIScriptAlais', perhaps misspelled or defined by a module not included in the server configuration\n\
         Did you mean 'WSGIScriptAlias'?"
    );
    assert_eq!(
        msg("Frobnicate on"),
        "Invalid command 'Frobnicate', perhaps misspelled or defined by a module not included in the server configuration"
    );
}

#[test]
fn unknown_section() {
    assert_eq!(
        msg("<Bogus x>\n</Bogus>"),
        "Invalid command '<Bogus', perhaps misspelled or defined by a module not included in the server configuration"
    );
}

#[test]
fn section_nesting_errors() {
    assert_eq!(
        err("\n<Directory /x>\nOptions None\n"),
        // Read-time errors use Apache's one-line form (ap_build_config).
        "Syntax error on line 2 of /etc/wsgid/test.conf: /etc/wsgid/test.conf:2: <Directory> was not closed."
    );
    assert_eq!(
        msg("</Location>"),
        "</Location> without matching <Location> section"
    );
    assert_eq!(
        msg("<Directory /x>\n</Location>"),
        "Expected </Directory> but saw </Location>"
    );
    assert_eq!(
        msg("<Directory /x\n</Directory>"),
        "<Directory> directive missing closing '>'"
    );
    assert_eq!(
        msg("<Location>\n</Location>"),
        "<Location> directive requires additional arguments"
    );
    assert_eq!(
        msg("<VirtualHost *:80>\n<Directory /x>\n"),
        "/etc/wsgid/test.conf:2: <Directory> was not closed.\n/etc/wsgid/test.conf:1: <VirtualHost> was not closed."
    );
}

#[test]
fn arity_errors_carry_apaches_help() {
    assert_eq!(
        msg("WSGIScriptAlias /only"),
        "WSGIScriptAlias requires at least two arguments, Map location to target WSGI script file."
    );
    assert_eq!(
        msg("DocumentRoot"),
        "DocumentRoot takes one argument, Root directory of the document tree"
    );
    assert_eq!(msg("KeepAlive maybe"), "KeepAlive must be On or Off");
    assert_eq!(
        msg("AddHandler wsgi-script"),
        "AddHandler requires at least two arguments, a handler name followed by one or more file extensions"
    );
}

#[test]
fn context_errors() {
    assert_eq!(
        msg("<Directory /x>\nWSGIDaemonProcess d\n</Directory>"),
        "WSGIDaemonProcess not allowed in <Directory> context"
    );
    assert_eq!(msg("Require all granted"), "Require not allowed here");
    assert_eq!(
        msg("<VirtualHost *:80>\nRequire all granted\n</VirtualHost>"),
        "Require not allowed in <VirtualHost> context"
    );
    assert_eq!(
        msg("<VirtualHost *:80>\nListen 80\n</VirtualHost>"),
        "Listen cannot occur within <VirtualHost> section"
    );
    assert_eq!(
        msg("<VirtualHost *:80>\n<VirtualHost *:81>\n</VirtualHost>\n</VirtualHost>"),
        "<VirtualHost> cannot occur within <VirtualHost> section"
    );
    assert_eq!(
        msg("<Location /a>\n<Files x>\n</Files>\n</Location>"),
        "<Files> cannot occur within <Location> section"
    );
    assert_eq!(
        msg("<Location /a>\nAllowOverride None\nAccessFileName .x\n</Location>"),
        "AccessFileName not allowed in <Location> context"
    );
    assert_eq!(
        msg("<Directory /x>\nDefine X\n</Directory>"),
        "Define is not valid in <Directory context"
    );
    assert_eq!(
        msg("ServerAlias a.example"),
        "ServerAlias only used in <VirtualHost>"
    );
    assert_eq!(
        msg("<Location /a>\n<RequireAll>\nSetEnv A b\n</RequireAll>\n</Location>"),
        "SetEnv not allowed in <RequireAll> context"
    );
}

#[test]
fn limit_section_errors_are_apaches() {
    let inside = |body: &str| msg(&format!("<Directory /x>\n{body}\n</Directory>"));
    assert_eq!(
        inside("<Limit TRACE>\nRequire all denied\n</Limit>"),
        "TRACE cannot be controlled by <Limit>, see TraceEnable"
    );
    assert_eq!(
        inside("<Limit GET>\n<Limit POST>\n</Limit>\n</Limit>"),
        "<Limit> directive excludes all methods"
    );
    assert_eq!(
        inside("<Limit GET POST>\n<Limit GET POST PUT>\n</Limit>\n</Limit>"),
        "<Limit> directive specifies methods already excluded"
    );
    assert_eq!(
        inside("<LimitExcept GET>\n<LimitExcept GET>\n</LimitExcept>\n</LimitExcept>"),
        "<LimitExcept> directive specifies methods already excluded"
    );
    assert_eq!(
        inside("<Limit>\n</Limit>"),
        "<Limit> directive requires additional arguments"
    );
    assert_eq!(
        inside("<Limit GET>\n<Files x>\n</Files>\n</Limit>"),
        "<Files> cannot occur within <Limit> or <LimitExcept> section"
    );
    assert_eq!(
        msg("<Limit GET>\nRequire all denied\n</Limit>"),
        "<Limit not allowed here"
    );
    // TRACE may be excepted, and nesting narrows.
    ok(
        "<Directory /x>\n<LimitExcept TRACE GET>\n<Limit PUT>\nRequire all denied\n</Limit>\n</LimitExcept>\n</Directory>",
    );
}

#[test]
fn http_protocol_options_are_apaches() {
    assert_eq!(
        msg("HttpProtocolOptions Foo"),
        "HttpProtocolOptions accepts 'Unsafe' or 'Strict' (default), 'RegisteredMethods' or 'LenientMethods' (default), and 'Require1.0' or 'Allow0.9' (default)"
    );
    assert_eq!(
        msg("HttpProtocolOptions Strict\nHttpProtocolOptions Unsafe"),
        "HttpProtocolOptions 'Strict' and 'Unsafe' are mutually exclusive"
    );
    assert_eq!(
        msg("HttpProtocolOptions allow0.9 Require1.0"),
        "HttpProtocolOptions 'Allow0.9' and 'Require1.0' are mutually exclusive"
    );
    assert!(msg("HttpProtocolOptions Unsafe").contains("not implemented yet in wsgid"));
    let c = ok(
        "HttpProtocolOptions RegisteredMethods\nHttpProtocolOptions require1.0\n\
                <Location />\n<LimitExcept GET FROB>\nRequire all denied\n</LimitExcept>\n</Location>\n",
    );
    assert!(c.registered_methods_only && c.require_http10);
    assert_eq!(c.registered_methods, ["FROB"]);
    let d = ok("ServerName x\n");
    assert!(!d.registered_methods_only && !d.require_http10);
}

#[test]
fn protocols_lines() {
    assert_eq!(
        msg("Protocols"),
        "Protocols requires at least one argument, Controls which protocols are allowed"
    );
    assert_eq!(
        msg("ProtocolsHonorOrder maybe"),
        "ProtocolsHonorOrder must be 'on' or 'off'"
    );
    let c = ok("Protocols http/1.1\nProtocolsHonorOrder Off\n");
    assert!(c.warnings.is_empty());
    assert_eq!(c.ignored[0].0, "ProtocolsHonorOrder");
    // A protocol wsgid cannot speak is said at startup, not dropped silently.
    let h2 = ok("<VirtualHost *:80>\nProtocols H2 http/1.1\n</VirtualHost>\n");
    assert!(
        h2.warnings[0]
            .0
            .starts_with("Protocols: 'h2' is not available in wsgid")
    );
}

#[test]
fn the_error_directive_stops_with_its_message() {
    assert_eq!(
        msg("<IfDefine !NEEDED>\nError \"this site needs -D NEEDED\"\n</IfDefine>"),
        "this site needs -D NEEDED"
    );
    assert_eq!(msg("Error some words"), "some words");
    assert_eq!(
        msg("Error"),
        "The Error directive was used with no message."
    );
    ok("<IfDefine NEEDED>\nError \"not reached\"\n</IfDefine>");
}

#[test]
fn dispatch_script_lines_are_mod_wsgis() {
    assert_eq!(
        msg("WSGIDispatchScript"),
        "Location of dispatch script not supplied."
    );
    assert_eq!(
        msg("WSGIDispatchScript /d.py process-group=x"),
        "Invalid option to WSGI dispatch script definition."
    );
    let c = ok(
        "<Directory /srv>\nWSGIDispatchScript /srv/d.py application-group=%{SERVER}\n</Directory>\n",
    );
    let d = c.main.sections[0].per_dir.wsgi.dispatch_script.clone();
    assert_eq!(
        d.map(|s| (s.path, s.application_group)),
        Some((
            std::path::PathBuf::from("/srv/d.py"),
            crate::model::GroupSpec::Server
        ))
    );
}

#[test]
fn value_errors() {
    assert_eq!(
        msg("<Location />\nOptions ExecCGI +Indexes\n</Location>"),
        "Either all Options must start with + or -, or no Option may."
    );
    assert_eq!(
        msg("WSGIScriptReloading maybe"),
        "WSGIScriptReloading must be one of: Off | On"
    );
    assert_eq!(
        msg("WSGIScriptAlias /a /b bogus=1"),
        "Invalid option to WSGI script alias definition."
    );
    assert_eq!(
        msg("WSGIScriptAliasMatch ( /b"),
        "Regular expression could not be compiled."
    );
    assert_eq!(
        msg("ServerName host:0"),
        "The port number \"0\" is outside the appropriate range (i.e., 1..65535)."
    );
    assert_eq!(msg("Listen"), "Listen requires 1 or 2 arguments.");
    assert_eq!(
        msg("<Location />\nRequire not ip 10.1\n</Location>"),
        "negative Require directive has no effect in <RequireAny> directive"
    );
    assert_eq!(
        msg("<Location />\n<RequireAll>\nRequire not ip 10.1\n</RequireAll>\n</Location>"),
        "<RequireAll> directive contains only negative authorization directives"
    );
    assert_eq!(
        msg("<Location />\n<RequireNone>\nRequire ip 10.1\n</RequireNone>\n</Location>"),
        "<RequireNone> directive has no effect in <RequireAny> directive"
    );
    assert_eq!(
        msg("LogLevel loud"),
        "LogLevel requires level keyword: one of emerg/alert/crit/error/warn/notice/info/debug/trace1/.../trace8"
    );
    assert_eq!(msg("CustomLog x common bogus"), "error in condition clause");
}

#[test]
fn daemon_process_messages_follow_mod_wsgi() {
    for (text, message) in [
        (
            "WSGIDaemonProcess",
            "Name of WSGI daemon process not supplied.",
        ),
        (
            "WSGIDaemonProcess d colour=blue",
            "Invalid option to WSGI daemon process definition.",
        ),
        (
            "WSGIDaemonProcess d threads",
            "Invalid option to WSGI daemon process definition.",
        ),
        (
            "WSGIDaemonProcess d\nWSGIDaemonProcess d",
            "Name duplicates previous WSGI daemon definition.",
        ),
        (
            "WSGIDaemonProcess d user=root",
            "WSGI process blocked from running as root.",
        ),
        (
            "WSGIDaemonProcess d user=#0",
            "WSGI process blocked from running as root.",
        ),
        (
            "WSGIDaemonProcess d processes=0",
            "Invalid process count for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d threads=-1",
            "Invalid thread count for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d umask=9",
            "Invalid umask for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d home=rel",
            "Invalid home directory for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d maximum-requests=-1",
            "Invalid request count for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d queue-timeout=",
            "Invalid queue timeout for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d send-buffer-size=10",
            "Send buffer size must be >= 512 bytes, or 0 for system default.",
        ),
        (
            "WSGIDaemonProcess d memory-limit=-1",
            "Invalid memory limit for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d header-buffer-size=8191",
            "Header buffer size must be >= 8192 bytes, or 0 for default.",
        ),
        (
            "WSGIDaemonProcess d response-socket-timeout=-1",
            "Invalid response socket timeout for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d response-buffer-size=1024",
            "Response buffer size must be >= 65536 bytes, or 0 for default.",
        ),
        (
            "WSGIDaemonProcess d response-buffer-size=131072",
            "WSGIDaemonProcess option 'response-buffer-size' other than 0 is not implemented yet in wsgid.",
        ),
        (
            "WSGIDaemonProcess d server-metrics=maybe",
            "Invalid server metrics flag for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d server-metrics=On",
            "WSGIDaemonProcess option 'server-metrics=On' is not implemented yet in wsgid.",
        ),
        (
            "WSGIServerMetrics On",
            "WSGIServerMetrics On: not implemented in wsgid (mod_wsgi.server_metrics() always returns None, as mod_wsgi's does with Off)",
        ),
        (
            "WSGIVerboseDebugging maybe",
            "WSGIVerboseDebugging must be one of: Off | On",
        ),
        (
            "<IfVersion <> 2.4>\n</IfVersion>",
            "unrecognized operator '<>'",
        ),
        (
            "RequestReadTimeout header",
            "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'",
        ),
        (
            "RequestReadTimeout colour=x",
            "RequestReadTimeout: colour=x: Unknown RequestReadTimeout parameter",
        ),
        (
            "RequestReadTimeout header=10-20",
            "RequestReadTimeout: header=10-20: Must set MinRate option if using timeout range",
        ),
        (
            "<VirtualHost *:80>\nRequestReadTimeout header=5\n</VirtualHost>",
            "RequestReadTimeout in a <VirtualHost> is not implemented yet in wsgid (it applies server-wide)",
        ),
        (
            "WSGIDaemonProcess d eviction-timeout=",
            "Invalid eviction timeout for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d cpu-priority=",
            "Invalid CPU priority for WSGI daemon process.",
        ),
        (
            "WSGIDaemonProcess d script-user=a script-group=b",
            "Only one of script-user and script-group allowed.",
        ),
        (
            "WSGIScriptAlias /a /b process-group=d application-group=x",
            "WSGI process group not yet configured.",
        ),
        (
            "WSGIRestrictEmbedded maybe",
            "WSGIRestrictEmbedded must be one of: Off | On",
        ),
        (
            "<VirtualHost *:80>\nServerName a\nWSGIDaemonProcess d\n</VirtualHost>\n<VirtualHost *:80>\nServerName b\nWSGIImportScript /x process-group=d application-group=x\n</VirtualHost>",
            "WSGI process group not accessible.",
        ),
    ] {
        assert_eq!(msg(text), message, "{text}");
    }
}

#[test]
fn daemon_process_defaults_and_options() {
    let cfg = crate::parse_str(
        "WSGIDaemonProcess a\nWSGIDaemonProcess b processes=1 threads=3 umask=0027 home=/tmp \
         python-path=/x:/y display-name=%{GROUP} maximum-requests=3 inactivity-timeout=7\n\
         WSGIProcessGroup b\nWSGIScriptAlias /a /b process-group=b application-group=%{GLOBAL}\n\
         <Location /x>\nWSGIRestrictProcess a %{GLOBAL}\n</Location>\n",
        std::path::Path::new("/etc/wsgid/test.conf"),
        &[],
    )
    .expect("parses");
    let a = cfg.wsgi.daemon("a").expect("a");
    assert_eq!((a.processes, a.multiprocess, a.threads), (1, false, 15));
    assert_eq!(
        (a.shutdown_timeout, a.graceful_timeout, a.connect_timeout),
        (5, 15, 15)
    );
    assert_eq!((a.deadlock_timeout, a.listen_backlog), (300, 100));
    let b = cfg.wsgi.daemon("b").expect("b");
    assert_eq!((b.processes, b.multiprocess, b.threads), (1, true, 3));
    assert_eq!(b.umask, Some(0o027));
    assert_eq!(b.display_name.as_deref(), Some("(wsgi:b)"));
    assert_eq!(b.python_path.len(), 2);
    assert_eq!((b.maximum_requests, b.inactivity_timeout), (3, 7));
    let c = crate::parse_str(
        "WSGIDaemonProcess c header-buffer-size=0 cpu-priority=-3 response-socket-timeout=9 \
         script-group=#33 response-buffer-size=0 server-metrics=Off\n\
         WSGIServerMetrics Off\nWSGIVerboseDebugging Off\nWSGIPassApacheRequest Off\n\
         <IfVersion >= 2.4>\nWSGIDaemonProcess v\n</IfVersion>\n\
         <IfVersion < 2.4>\nWSGIDaemonProcess w\n</IfVersion>",
        std::path::Path::new("/etc/wsgid/test.conf"),
        &[],
    )
    .expect("parses");
    assert!(c.wsgi.daemon("v").is_some() && c.wsgi.daemon("w").is_none());
    assert_eq!(c.request_read_timeout, None);
    let path = std::path::Path::new("/etc/wsgid/test.conf");
    let loaded = crate::parse_str("LoadModule reqtimeout_module x.so", path, &[]).expect("parses");
    assert_eq!(
        loaded.request_read_timeout,
        Some(crate::directives::reqtimeout::DEFAULT)
    );
    let set = crate::parse_str("RequestReadTimeout body=0", path, &[]).expect("parses");
    let rt = set.request_read_timeout.expect("in use");
    assert_eq!((rt.header.timeout, rt.body.timeout), (20, 0));
    let c = c.wsgi.daemon("c").expect("c");
    assert_eq!(
        (
            c.header_buffer_size,
            c.cpu_priority,
            c.response_socket_timeout
        ),
        (0, -3, 9)
    );
    assert_eq!(
        c.script_owner,
        Some(crate::model::ScriptOwner::Group("#33".to_owned()))
    );
    assert_eq!(cfg.wsgi.import_scripts[0].process_group, "b");
    assert_eq!(
        cfg.main.sections[0].per_dir.wsgi.restrict_process,
        Some(vec!["a".to_owned(), String::new()])
    );
}

#[test]
fn not_implemented_and_removed() {
    assert_eq!(
        err("ServerName x\nWSGIDaemonProcess d chroot=/x"),
        "AH00526: Syntax error on line 2 of /etc/wsgid/test.conf:\n\
         WSGIDaemonProcess option 'chroot' is not implemented yet in wsgid."
    );
    assert_eq!(
        msg("WSGIPythonExecutable /usr/bin/python"),
        "WSGIPythonExecutable was removed in mod_wsgi 2.0; use WSGIPythonHome instead"
    );
    assert_eq!(
        msg("RewriteBase /x"),
        "RewriteBase: only valid in per-directory config files"
    );
    assert_eq!(
        msg("<Directory /x>\nRewriteBase x\n</Directory>"),
        "RewriteBase: argument is not a valid URL"
    );
    assert!(
        msg("WSGILazyInitialization Off")
            .starts_with("WSGILazyInitialization Off: not implemented")
    );
    assert_eq!(
        msg("WSGILazyInitialization maybe"),
        "WSGILazyInitialization must be one of: Off | On"
    );
    assert_eq!(
        msg("DirectoryIndexRedirect 404"),
        "DirectoryIndexRedirect only accepts values between 300 and 399"
    );
    assert_eq!(
        msg("DirectoryIndexRedirect sometimes"),
        "DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx"
    );
    assert_eq!(
        msg("LimitInternalRecursion 0"),
        "The recursion limit must be greater than zero."
    );
    assert_eq!(
        msg("LimitInternalRecursion 5 x"),
        "The recursion limit must be greater than zero."
    );
    assert_eq!(msg("RewriteRule a b [X]"), "RewriteRule: unknown flag 'X'");
    assert_eq!(
        msg("<Location />\n<If \"-n 'x'\">\n</If>\n</Location>"),
        "<If>: not implemented yet in wsgid (<If> expressions)"
    );
    // Arity and context are checked before "not implemented".
    assert_eq!(
        msg("RewriteEngine maybe"),
        "RewriteEngine must be On or Off"
    );
}

#[test]
fn errors_inside_includes_name_the_included_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inc = dir.path().join("bad.conf");
    std::fs::write(&inc, "# c\nBogusThing\n").expect("write");
    let text = format!("Include {}\n", inc.display());
    assert!(err(&text).starts_with(&format!(
        "AH00526: Syntax error on line 2 of {}:\n",
        inc.display()
    )));
}
