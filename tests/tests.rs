//! The integration suite: every test starts the real `wsgid` binary on a
//! loopback port (see `support`) and checks what it answers against what
//! Apache 2.4 + mod_wsgi 4.9.4 answered in the oracle's goldens
//! (`shared/oracle/cases/*/golden.json`).  One test binary, one module per
//! topic (the modules live in `tests/suite/`).
//!
//! Unit tests of single functions do not belong here; they sit beside the
//! code in the crates.

mod support;

mod suite {
    /// `wsgid -t`, Apache's error texts, sections, Include, IfModule/IfDefine.
    mod config_errors;

    /// Command-line behaviour that needs no configuration: `-V`, usage errors.
    mod cli;

    /// WSGIScriptAlias to a file and to a directory, WSGIScriptAliasMatch.
    mod scriptalias;

    /// AddHandler/SetHandler wsgi-script, ExecCGI, `<Files>` access,
    /// WSGICallableObject and script loading/running failures.
    mod handlers;

    /// The WSGI environ: CGI variables, HTTP_*, SetEnv, wsgi.* and
    /// mod_wsgi.* keys, WSGIApplicationGroup.
    mod environ;

    /// mod_setenvif and the mod_rewrite subset.
    mod rewrite;

    /// mod_rewrite's per-directory rules and their internal redirects.
    mod rewrite_dir;

    /// mod_dir: FallbackResource, DirectoryIndexRedirect,
    /// DirectoryCheckHandler.
    mod mod_dir;

    /// WSGIHandlerScript.
    mod handler_script;

    /// Application groups as sub-interpreters, WSGIReloadMechanism, C
    /// extensions in sub-interpreters.
    mod interpreters;

    /// Response mechanics: iterables and close(), write(), file_wrapper,
    /// Content-Length, HEAD, status lines.
    mod responses;

    /// wsgi.input: read variants, large bodies, 100-continue, chunked,
    /// LimitRequestBody.
    mod request_body;

    /// Static files through Alias and DocumentRoot: types, validators, ranges,
    /// directories.
    mod static_files;

    /// `EnableSendfile On`: files through sendfile(2) in every framing.
    mod sendfile;

    /// Malformed and oversized requests, keep-alive, HTTP/1.0.
    mod limits;

    /// Later heads of a keep-alive connection, head timeouts, HTTP/0.9,
    /// pipelining.
    mod keepalive_heads;

    /// What ends a connection (statuses Apache drops it after, unmet
    /// expectations), repeated Content-Length, `OPTIONS *`.
    mod connection_rules;

    /// mod_headers: `Header` (onsuccess, always) and `RequestHeader`.
    mod headers;

    /// `ErrorDocument`: internal redirects, messages, URLs, `default`.
    mod error_documents;

    /// Name-based virtual hosts.
    mod vhosts;

    /// Error log and access log lines.
    mod logs;

    /// WSGIAccessScript, Basic authentication (WSGIAuthUserScript,
    /// AuthUserFile), WSGIAuthGroupScript, AuthGroupFile, Require with a
    /// user, WSGIPassAuthorization.
    mod auth;

    /// `.htaccess` files: AccessFileName, AllowOverride, AllowOverrideList.
    mod htaccess;

    /// `<Limit>` / `<LimitExcept>`: Require lines for some methods only.
    mod limit;

    /// `WSGIDispatchScript`: per-request process group, application group
    /// and callable.
    mod dispatch;

    /// Worker processes: several workers, restart after a crash, shutdown.
    mod processes;

    /// Daemon mode: WSGIDaemonProcess groups, WSGIProcessGroup selection,
    /// WSGIRestrictProcess/WSGIRestrictEmbedded, recycling and failures.
    mod daemon;

    /// Daemon mode's kept front-end → daemon connections: reuse, stale
    /// connections after a daemon process ends, no request run twice.
    mod daemon_keepalive;

    /// The `WSGIDaemonProcess` options mod_wsgi-express writes beyond the
    /// 2.0 set: header-buffer-size, response-socket-timeout, cpu-priority,
    /// script-user / script-group.
    mod daemon_options;

    /// `RequestReadTimeout` (mod_reqtimeout): the head and body stages,
    /// MinRate, the keep-alive wait left out of the head's stage.
    mod reqtimeout;

    /// `wsgid start-server` (the mod_wsgi-express path) and the examples.
    mod express;

    /// Python start-up directives (WSGIPythonHome with a venv, WSGIPythonPath
    /// `.pth` files, WSGIPythonEggs, WSGIPythonOptimize) and the
    /// WSGIRestrictStdin/Stdout/Signal restrictions.
    mod python_setup;
}
