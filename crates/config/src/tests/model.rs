//! Configuration snippets → model fields, defaults and inheritance.

use std::path::PathBuf;
use std::time::Duration;

use super::{err, ok};
use crate::merge::effective_options;
use crate::model::*;

#[test]
fn defaults_are_apaches() {
    let c = ok("");
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert!(c.keep_alive);
    assert_eq!(c.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(c.max_keep_alive_requests, 100);
    assert_eq!(
        (
            c.limit_request_line,
            c.limit_request_field_size,
            c.limit_request_fields
        ),
        (8190, 8190, 100)
    );
    assert_eq!(c.main.document_root, PathBuf::from("/var/www/html"));
    assert_eq!(c.server_signature, ServerSignature::Off);
    assert_eq!(c.server_tokens, ServerTokens::Full);
    assert_eq!(c.main.log_level.default, Level::Warn);
    assert_eq!(c.access_file_name, vec![".htaccess"]);
    assert_eq!(
        (
            c.mpm.server_limit,
            c.mpm.threads_per_child,
            c.mpm.max_request_workers
        ),
        (16, 25, 400)
    );
    assert!(!c.mpm.explicit);
    assert_eq!(c.runtime_dir, c.server_root.join("logs"));
    assert!(c.wsgi.restrict_stdin && c.wsgi.case_sensitivity && c.wsgi.destroy_interpreter);
}

#[test]
fn restrictions_default_on_and_take_on_off() {
    let c = ok("");
    assert!(c.wsgi.restrict_stdin && c.wsgi.restrict_stdout && c.wsgi.restrict_signal);
    let c = ok("WSGIRestrictStdin off\nWSGIRestrictStdout Off\nWSGIRestrictSignal OFF\n");
    assert!(!c.wsgi.restrict_stdin && !c.wsgi.restrict_stdout && !c.wsgi.restrict_signal);
    let c = ok("WSGIRestrictStdout Off\nWSGIRestrictStdout On\n");
    assert!(c.wsgi.restrict_stdout && c.wsgi.restrict_stdin);
    for name in [
        "WSGIRestrictStdin",
        "WSGIRestrictStdout",
        "WSGIRestrictSignal",
    ] {
        assert_eq!(
            super::msg(&format!("{name} yes")),
            format!("{name} must be one of: Off | On")
        );
    }
}

#[test]
fn server_level_values() {
    let c = ok(r#"
Listen 8080
Listen 127.0.0.1:81
Listen [::1]:82 http
ServerName www.example.org:8000
ServerAdmin root@example.org
User www-data
Group www-data
Timeout 30
KeepAlive Off
KeepAliveTimeout 2
MaxKeepAliveRequests 0
LimitRequestLine 100
LimitRequestFieldSize 200
LimitRequestFields 10
ServerTokens Prod
ServerSignature On
EnableSendfile On
AccessFileName .acl .htaccess
LogLevel info wsgi:debug
"#);
    let l: Vec<_> = c.listen.iter().map(|l| (l.addr, l.port)).collect();
    assert_eq!(
        l,
        vec![
            (None, 8080),
            ("127.0.0.1".parse().ok(), 81),
            ("::1".parse().ok(), 82)
        ]
    );
    assert_eq!(c.listen[1].span.line, 3);
    assert_eq!(c.main.server_name.as_deref(), Some("www.example.org"));
    assert_eq!(c.main.server_port, Some(8000));
    assert_eq!(c.main.server_admin.as_deref(), Some("root@example.org"));
    assert_eq!(
        (c.user.as_deref(), c.group.as_deref()),
        (Some("www-data"), Some("www-data"))
    );
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert!(!c.keep_alive);
    assert_eq!(c.keep_alive_timeout, Duration::from_secs(2));
    assert_eq!(c.max_keep_alive_requests, 0);
    assert_eq!(
        (
            c.limit_request_line,
            c.limit_request_field_size,
            c.limit_request_fields
        ),
        (100, 200, 10)
    );
    assert_eq!(c.server_tokens, ServerTokens::Prod);
    assert_eq!(c.server_signature, ServerSignature::On);
    assert!(c.enable_sendfile);
    assert_eq!(c.access_file_name, vec![".acl", ".htaccess"]);
    assert_eq!(c.main.log_level.default, Level::Info);
    assert_eq!(c.main.log_level.modules.get("wsgi"), Some(&Level::Debug));
}

#[test]
fn relative_paths_resolve_against_server_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("htdocs")).expect("mkdir");
    let root = dir.path().display().to_string();
    let c = ok(&format!(
        "ServerRoot \"{root}\"\nErrorLog logs/error.log\nCustomLog logs/access.log common\nTypesConfig conf/mime.types\n\
         WSGISocketPrefix run/wsgi\nDocumentRoot htdocs\nDefaultRuntimeDir run\nPidFile httpd.pid\n\
         <VirtualHost *:80>\nDocumentRoot missing\n</VirtualHost>\n"
    ));
    let r = dir.path();
    assert_eq!(c.server_root, r);
    assert_eq!(
        c.main.error_log,
        Some(LogTarget::File(r.join("logs/error.log")))
    );
    assert_eq!(
        c.main.custom_logs[0].target,
        LogTarget::File(r.join("logs/access.log"))
    );
    assert_eq!(c.types_config, Some(r.join("conf/mime.types")));
    assert_eq!(c.wsgi.socket_prefix, Some(r.join("run/wsgi")));
    assert_eq!(c.main.document_root, r.join("htdocs"));
    assert_eq!(c.runtime_dir, r.join("run"));
    // Apache puts a relative PidFile under DefaultRuntimeDir.
    assert_eq!(c.pid_file, Some(r.join("run/httpd.pid")));
    // A virtual host's missing DocumentRoot is a warning; the main
    // server's is an error (below).
    let missing = r.join("missing");
    assert!(c.warnings.iter().any(|(w, _)| *w
        == format!(
            "AH00112: Warning: DocumentRoot [{}] does not exist",
            missing.display()
        )));
    assert_eq!(
        super::msg(&format!("ServerRoot \"{root}\"\nDocumentRoot missing\n")),
        format!(
            "DocumentRoot '{}' is not a directory, or is not readable",
            missing.display()
        )
    );
}

#[test]
fn log_formats_nicknames_and_default() {
    let c = ok(r#"
CustomLog /tmp/a.log combined env=!nolog
LogFormat "%h %>s" combined
LogFormat "%h only"
TransferLog /tmp/t.log
CustomLog /tmp/lit.log "%a %U"
"#);
    let logs = &c.main.custom_logs;
    assert_eq!(logs[0].format, "%h %>s");
    assert_eq!(logs[0].condition, Some((false, "nolog".to_owned())));
    assert_eq!(logs[1].format, "%h only");
    assert_eq!(logs[2].format, "%a %U");
    assert_eq!(
        c.log_formats.get("combined").map(String::as_str),
        Some("%h %>s")
    );
    let c = ok("TransferLog /tmp/t.log");
    assert_eq!(c.main.custom_logs[0].format, "%h %l %u %t \"%r\" %>s %b");
}

#[test]
fn script_aliases_and_options() {
    let c = ok(r#"
Alias /static/ /srv/static/
WSGIScriptAlias /app /srv/app.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=app pass-authorization=On
WSGIScriptAliasMatch ^/w/([^/]+) /srv/$1.wsgi
"#);
    let a = &c.main.aliases;
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].kind, AliasKind::Alias);
    assert!(matches!(&a[1].matcher, UrlMatcher::Prefix(p) if p == "/app"));
    assert_eq!(a[1].kind, AliasKind::WsgiScript);
    assert_eq!(
        a[1].wsgi,
        ScriptAliasOptions {
            process_group: Some(GroupSpec::Global),
            application_group: Some(GroupSpec::Global),
            callable_object: Some("app".into()),
            pass_authorization: Some(true),
        }
    );
    assert!(matches!(&a[2].matcher, UrlMatcher::Regex(r) if r.is_match("/w/x")));
    assert_eq!(a[2].target, "/srv/$1.wsgi");
}

#[test]
fn sections_and_per_dir_values() {
    let c = ok(r#"
SetEnv TOP 1
WSGIApplicationGroup %{GLOBAL}
<Directory /srv/cgi/>
    Options ExecCGI
    AddHandler wsgi-script .wsgi .PY
    <Files "secret.wsgi">
        Require all denied
    </Files>
</Directory>
<Location /handled>
    SetHandler wsgi-script
    Options +ExecCGI
    Require ip 127.0.0.1
    Require host example.org
    WSGICallableObject %{ENV:CALLABLE}
    WSGIPassAuthorization On
    LimitRequestBody 1024
    DirectoryIndex disabled
</Location>
<LocationMatch "^/re">
    WSGIMapHEADToGET Auto
</LocationMatch>
<Directory ~ "^/srv/x">
    AllowOverride FileInfo
</Directory>
"#);
    assert_eq!(
        c.main.per_dir.set_env,
        vec![("TOP".to_owned(), "1".to_owned())]
    );
    assert_eq!(
        c.main.per_dir.wsgi.application_group,
        Some(GroupSpec::Global)
    );
    let s = &c.main.sections;
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].kind, SectionKind::Directory);
    assert!(matches!(&s[0].pattern, SectionPattern::Wildcard(p) if p == "/srv/cgi"));
    assert_eq!(
        s[0].per_dir.add_handlers,
        vec![
            ("wsgi".into(), "wsgi-script".into()),
            ("py".into(), "wsgi-script".into())
        ]
    );
    assert_eq!(s[0].nested.len(), 1);
    assert_eq!(s[0].nested[0].kind, SectionKind::Files);
    assert_eq!(s[0].nested[0].per_dir.require, Some(Require::AllDenied));
    let exec = OptionFlags {
        exec_cgi: true,
        ..OptionFlags::default()
    };
    assert_eq!(
        effective_options(&s[0].per_dir.options, crate::default_options()),
        exec
    );
    let loc = &s[1].per_dir;
    assert_eq!(loc.set_handler, Some(Some("wsgi-script".to_owned())));
    assert_eq!(
        loc.require,
        Some(Require::Any(vec![
            Require::Ip(vec!["127.0.0.1".into()]),
            Require::Host(vec!["example.org".into()])
        ]))
    );
    assert_eq!(
        loc.wsgi.callable_object,
        Some(CallableSpec::Env("CALLABLE".into()))
    );
    assert_eq!(loc.wsgi.pass_authorization, Some(true));
    assert_eq!(loc.limit_request_body, Some(1024));
    assert_eq!(loc.directory_index, Some(vec![]));
    assert!(matches!(&s[2].pattern, SectionPattern::Regex(_)));
    assert_eq!(s[2].per_dir.wsgi.map_head_to_get, Some(MapHeadToGet::Auto));
    assert!(matches!(&s[3].pattern, SectionPattern::Regex(r) if r.is_match("/srv/xy")));
    assert!(
        s[3].per_dir
            .allow_override
            .is_some_and(|o| o.file_info && !o.options)
    );
}

#[test]
fn virtual_hosts_inherit_from_main() {
    let c = ok(r#"
ServerName main.example
ServerAdmin admin@main
ErrorLog /tmp/main-error.log
CustomLog /tmp/main-access.log common
Timeout 20
SetEnv FROM main
WSGIScriptAlias /main /srv/main.wsgi
<Location /m>
    SetEnv SEC main
</Location>
<VirtualHost *:8080 127.0.0.1:9090>
    ServerName one.example
    ServerAlias www.one.example *.one.example
    WSGIScriptAlias /app /srv/app.wsgi
    SetEnv FROM vhost
    <Location /v>
        SetEnv SEC v
    </Location>
</VirtualHost>
<VirtualHost _default_:*>
    CustomLog /tmp/own.log "%h"
    Timeout 5
</VirtualHost>
"#);
    let v = &c.virtual_hosts[0];
    assert_eq!(
        v.addrs,
        vec![
            VhostAddr {
                ip: None,
                port: Some(8080)
            },
            VhostAddr {
                ip: "127.0.0.1".parse().ok(),
                port: Some(9090)
            }
        ]
    );
    assert_eq!(v.span.line, 12);
    let h = &v.host;
    assert_eq!(h.server_name.as_deref(), Some("one.example"));
    // As Apache: the port comes from ServerName (here: none, and the main
    // server has none), never from the <VirtualHost> address.
    assert_eq!(h.server_port, None);
    assert_eq!(h.server_aliases, vec!["www.one.example", "*.one.example"]);
    assert_eq!(h.server_admin.as_deref(), Some("admin@main"));
    assert_eq!(
        h.error_log,
        Some(LogTarget::File("/tmp/main-error.log".into()))
    );
    assert_eq!(h.custom_logs.len(), 1);
    assert_eq!(h.timeout, Duration::from_secs(20));
    let targets: Vec<String> = h.aliases.iter().map(|a| a.target.clone()).collect();
    assert_eq!(targets, vec!["/srv/app.wsgi", "/srv/main.wsgi"]);
    assert_eq!(
        h.per_dir.set_env,
        vec![
            ("FROM".to_owned(), "main".to_owned()),
            ("FROM".to_owned(), "vhost".to_owned())
        ]
    );
    assert_eq!(h.sections.len(), 2);
    assert!(matches!(&h.sections[0].pattern, SectionPattern::Wildcard(p) if p == "/m"));
    let d = &c.virtual_hosts[1].host;
    assert_eq!(d.server_name.as_deref(), Some("main.example"));
    assert_eq!(d.custom_logs.len(), 1);
    assert_eq!(d.custom_logs[0].format, "%h");
    assert_eq!(d.timeout, Duration::from_secs(5));
    assert_eq!(c.timeout, Duration::from_secs(20));
    // The main server is untouched by its virtual hosts.
    assert_eq!(c.main.aliases.len(), 1);
    assert!(c.main.server_aliases.is_empty());
}

#[test]
fn mpm_values_and_limits() {
    let c = ok(
        "StartServers 1\nServerLimit 2\nThreadLimit 16\nThreadsPerChild 16\nMaxRequestWorkers 64\nMinSpareThreads 1\n",
    );
    assert_eq!(
        (
            c.mpm.start_servers,
            c.mpm.server_limit,
            c.mpm.threads_per_child
        ),
        (1, 2, 16)
    );
    assert_eq!(c.mpm.max_request_workers, 32);
    assert!(c.mpm.explicit);
    assert_eq!(
        c.warnings[0].0,
        "AH00515: WARNING: MaxRequestWorkers of 64 would require 4 servers and would exceed ServerLimit of 2, \
         decreasing to 32. To increase, please see the ServerLimit directive."
    );
    // mpm_event's order and words: ThreadLimit first, then the multiple,
    // then ServerLimit; an unwritten MaxRequestWorkers is 400.
    let words = |text: &str| -> Vec<String> {
        ok(text)
            .warnings
            .into_iter()
            .map(|(w, _)| w.split(':').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        words("ThreadLimit 8\nThreadsPerChild 16\n"),
        ["AH00507", "AH00515"]
    );
    assert_eq!(
        words("ServerLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 10\n"),
        ["AH00513"]
    );
    assert_eq!(
        words("ThreadsPerChild 4\nMaxRequestWorkers 2\n"),
        ["AH00511"]
    );
    let wide = ok("ServerLimit 32\n");
    assert_eq!(wide.mpm.max_request_workers, 400);
    assert!(wide.warnings.is_empty());
    assert_eq!(
        c.ignored
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        vec!["MinSpareThreads"]
    );
    let c = ok("ServerLimit 2\nThreadsPerChild 10\n");
    assert_eq!(c.mpm.max_request_workers, 20);
}

#[test]
fn wsgi_server_values() {
    let c = ok(
        "WSGIPythonHome /opt/py\nWSGIPythonPath /a:/b\nWSGIPythonOptimize 2\nWSGIPythonEggs /tmp/eggs\nWSGICaseSensitivity Off\n",
    );
    assert_eq!(c.wsgi.python_home, Some(PathBuf::from("/opt/py")));
    assert_eq!(
        c.wsgi.python_path,
        vec![PathBuf::from("/a"), PathBuf::from("/b")]
    );
    assert_eq!(c.wsgi.python_optimize, 2);
    assert_eq!(c.wsgi.python_eggs, Some(PathBuf::from("/tmp/eggs")));
    assert!(!c.wsgi.case_sensitivity);
}

#[test]
fn ignored_directives_are_listed_with_reasons() {
    let c = ok(
        "LoadModule wsgi_module /x.so\nMutex file:/tmp default\nEnableMMAP Off\nHostnameLookups Off\n",
    );
    let names: Vec<_> = c
        .ignored
        .iter()
        .map(|(n, s)| (n.as_str(), s.line))
        .collect();
    assert_eq!(
        names,
        vec![
            ("LoadModule", 1),
            ("Mutex", 2),
            ("EnableMMAP", 3),
            ("HostnameLookups", 4)
        ]
    );
    assert!(crate::why_ignored("mutex").is_some());
    assert_eq!(crate::why_ignored("ServerName"), None);
    assert_eq!(c.loaded_modules, vec!["wsgi_module"]);
}

#[test]
fn trace_enable_is_per_server_and_checked() {
    let c = ok("TraceEnable off\n\
         <VirtualHost *:80>\n\
         ServerName a\n\
         TraceEnable Extended\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         ServerName b\n\
         </VirtualHost>\n");
    assert_eq!(c.main.trace_enable, TraceEnable::Off);
    assert_eq!(c.virtual_hosts[0].host.trace_enable, TraceEnable::Extended);
    assert_eq!(
        c.virtual_hosts[1].host.trace_enable,
        TraceEnable::Off,
        "inherited"
    );
    assert!(
        err("TraceEnable maybe\n")
            .contains("TraceEnable must be one of 'on', 'off', or 'extended'"),
        "{}",
        err("TraceEnable maybe\n")
    );
}

#[test]
fn limit_internal_recursion_per_server() {
    let c = ok("LimitInternalRecursion 3\n\
         <VirtualHost *:80>\n\
         ServerName a\n\
         LimitInternalRecursion 20 5\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         ServerName b\n\
         </VirtualHost>\n");
    let limit = |redirects, subrequests| RecursionLimit {
        redirects,
        subrequests,
    };
    // One number limits both, as in Apache.
    assert_eq!(c.main.recursion_limit, limit(3, 3));
    assert_eq!(c.virtual_hosts[0].host.recursion_limit, limit(20, 5));
    assert_eq!(c.virtual_hosts[1].host.recursion_limit, limit(3, 3));
    let warnings: Vec<&str> = c.warnings.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        warnings,
        [
            "AH00119: Limiting internal redirects to very low numbers may cause normal requests to fail."
        ]
    );
    assert_eq!(
        ok("LimitInternalRecursion 8 2\n").warnings[0].0,
        "AH00120: Limiting the subrequest depth to a very low level may cause normal requests to fail."
    );
    assert_eq!(ok("").main.recursion_limit, limit(10, 10));
}

#[test]
fn redirect_arguments_are_checked_as_mod_alias_checks_them() {
    let c = ok(
        "Redirect /a http://x/\nRedirect permanent /b /c\nRedirect gone /d\nRedirectMatch 307 ^/e(.*) $1\n",
    );
    let kinds: Vec<AliasKind> = c.main.aliases.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AliasKind::Redirect(302),
            AliasKind::Redirect(301),
            AliasKind::Redirect(410),
            AliasKind::Redirect(307)
        ]
    );
    for (text, message) in [
        ("Redirect /a relative\n", "Redirect to non-URL"),
        ("Redirect permanent /a\n", "URL to redirect to is missing"),
        (
            "Redirect gone /a http://x/\n",
            "Redirect URL not valid for this status",
        ),
        (
            "Redirect 999 /a http://x/\n",
            "Redirect: invalid HTTP response status code",
        ),
        (
            "<Location /x>\nRedirect /a http://x/\n</Location>\n",
            "Redirect inside <Directory>, <Location>, <Files> or .htaccess is not implemented yet in wsgid",
        ),
    ] {
        assert!(err(text).contains(message), "{text:?}: {}", err(text));
    }
}

#[test]
fn piped_log_targets() {
    let c = ok("ErrorLog \"|/usr/bin/rotatelogs /var/log/e.%Y 86400\"\n\
         CustomLog \"|$cat >> /tmp/a\" common\n\
         CustomLog \"||/bin/logger -t web\" common\n\
         CustomLog \"|$cat >> /tmp/a\" combined\n");
    let pipe = |command: &str, shell| PipedLog {
        command: command.to_owned(),
        shell,
    };
    assert_eq!(
        c.main.error_log,
        Some(LogTarget::Pipe(pipe(
            "/usr/bin/rotatelogs /var/log/e.%Y 86400",
            false
        )))
    );
    // One program per distinct command, in order.
    assert_eq!(
        c.piped_logs(),
        [
            pipe("/usr/bin/rotatelogs /var/log/e.%Y 86400", false),
            pipe("cat >> /tmp/a", true),
            pipe("/bin/logger -t web", false),
        ]
    );
}

#[test]
fn rewrite_options_inherit_rules() {
    let c = ok("RewriteEngine On\n\
         RewriteRule ^/m$ /main\n\
         <VirtualHost *:80>\n\
         ServerName a\n\
         RewriteOptions Inherit\n\
         RewriteRule ^/v$ /own\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         ServerName b\n\
         RewriteOptions InheritBefore\n\
         RewriteRule ^/v$ /own\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         ServerName c\n\
         RewriteRule ^/v$ /own\n\
         </VirtualHost>\n");
    let patterns = |h: &Host| -> Vec<String> {
        h.rewrite
            .rules
            .iter()
            .map(|r| r.pattern.as_str().to_owned())
            .collect()
    };
    assert_eq!(patterns(&c.virtual_hosts[0].host), ["^/v$", "^/m$"]);
    assert_eq!(patterns(&c.virtual_hosts[1].host), ["^/m$", "^/v$"]);
    assert_eq!(patterns(&c.virtual_hosts[2].host), ["^/v$"]);
    // InheritDown: every level below inherits unless it says IgnoreInherit.
    let outer = RewriteOptions {
        inherit_down: true,
        ..RewriteOptions::default()
    };
    let ignore = RewriteOptions {
        ignore_inherit: true,
        ..RewriteOptions::default()
    };
    let rules = &c.virtual_hosts[0].host.rewrite.rules;
    let (own, theirs) = (&rules[..1], &rules[1..]);
    assert_eq!(
        RewriteOptions::inherited_rules(RewriteOptions::default(), outer, theirs, own).len(),
        2
    );
    assert_eq!(
        RewriteOptions::inherited_rules(ignore, outer, theirs, own).len(),
        1
    );
    assert!(err("RewriteOptions MergeBase\n").contains("not implemented"));
    assert!(err("RewriteOptions Bogus\n").contains("RewriteOptions: unknown option 'Bogus'"));
}
