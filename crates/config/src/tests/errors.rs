//! Exact error texts, as Apache prints them.

use super::{err, msg};

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
fn not_implemented_and_removed() {
    assert_eq!(
        err("ServerName x\nWSGIDaemonProcess d threads=2"),
        "AH00526: Syntax error on line 2 of /etc/wsgid/test.conf:\n\
         WSGIDaemonProcess: not implemented yet in wsgid (daemon mode is planned)"
    );
    assert_eq!(
        msg("WSGIProcessGroup d"),
        "WSGIProcessGroup d: not implemented yet in wsgid (daemon mode is planned)"
    );
    assert_eq!(
        msg("WSGIScriptAlias /a /b process-group=d"),
        "WSGIScriptAlias: process-group=d: not implemented yet in wsgid (daemon mode is planned)"
    );
    assert_eq!(
        msg("WSGIPythonExecutable /usr/bin/python"),
        "WSGIPythonExecutable was removed in mod_wsgi 2.0; use WSGIPythonHome instead"
    );
    assert_eq!(
        msg("RewriteBase /x"),
        "RewriteBase: not implemented yet in wsgid (mod_rewrite: RewriteBase)"
    );
    assert_eq!(msg("RewriteRule a b [X]"), "RewriteRule: unknown flag 'X'");
    assert_eq!(
        msg("<Location />\nRewriteRule a b\n</Location>"),
        "RewriteRule: per-directory substitutions are not implemented yet in wsgid (only '-')"
    );
    assert_eq!(
        msg("<Location />\n<Limit GET>\n</Limit>\n</Location>"),
        "<Limit>: not implemented yet in wsgid (<Limit> sections)"
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
