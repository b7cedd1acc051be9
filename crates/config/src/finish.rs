//! The last step of building: what Apache does after reading everything.
//! Resolves access-log formats (nicknames may be defined after use), fills
//! virtual hosts with what they inherit from the main server
//! (`ap_fixup_virtual_hosts` and the modules' server merges), and applies
//! the MPM's limits to its sizing directives.

use std::path::PathBuf;

use crate::ConfigError;
use crate::builder::{Builder, DEFAULT_LOG_FORMAT, HostMeta};
use crate::model::*;

pub fn finish(mut b: Builder) -> Result<ServerConfig, ConfigError> {
    b.cfg.server_root = b.root.clone();
    // mod_reqtimeout loaded without its directive runs with its defaults.
    if b.cfg.request_read_timeout.is_none()
        && b.cfg
            .loaded_modules
            .iter()
            .any(|m| m == "reqtimeout_module")
    {
        b.cfg.request_read_timeout = Some(crate::directives::reqtimeout::DEFAULT);
    }
    if let Some(dir) = b.runtime_dir_arg.take() {
        b.cfg.runtime_dir = b.server_relative(&dir);
    } else {
        b.cfg.runtime_dir = b.root.join("logs");
    }
    // Apache resolves PidFile against DefaultRuntimeDir (ap_runtime_dir_relative).
    if let Some(p) = b.pid_file_arg.take() {
        let p = PathBuf::from(p);
        b.cfg.pid_file = Some(if p.is_absolute() {
            p
        } else {
            b.cfg.runtime_dir.join(p)
        });
    }

    let main_meta = b.meta.first().cloned().unwrap_or_default();
    b.cfg.main.custom_logs = resolve_logs(&b, &main_meta, None)?;
    b.cfg.log_formats = main_meta.formats.clone();

    let main = b.cfg.main.clone();
    let mut hosts = std::mem::take(&mut b.cfg.virtual_hosts);
    for (i, vh) in hosts.iter_mut().enumerate() {
        let meta = b.meta.get(i + 1).cloned().unwrap_or_default();
        let own_logs = resolve_logs(&b, &meta, Some(&main_meta))?;
        inherit(&mut vh.host, &main, &meta, own_logs);
        // As ap_fixup_virtual_hosts: the port comes from the host's own
        // ServerName, else the main server's; never from the <VirtualHost>
        // address (SERVER_PORT then follows the Host header, or 80).
        vh.host.server_port = vh.host.server_port.or(main.server_port);
    }
    b.cfg.virtual_hosts = hosts;
    mpm_limits(&mut b);
    Ok(b.cfg)
}

/// mod_log_config at open time: a format argument that names a `LogFormat`
/// nickname gets that format, anything else is itself a format; `TransferLog`
/// uses the last nickname-less `LogFormat` (the host's, else the main
/// server's, else Apache's default).
fn resolve_logs(
    b: &Builder,
    meta: &HostMeta,
    main: Option<&HostMeta>,
) -> Result<Vec<CustomLog>, ConfigError> {
    let default_format = meta
        .default_format
        .clone()
        .or_else(|| main.and_then(|m| m.default_format.clone()))
        .unwrap_or_else(|| DEFAULT_LOG_FORMAT.to_owned());
    let nickname = |n: &str| {
        meta.formats
            .get(n)
            .or_else(|| main.and_then(|m| m.formats.get(n)))
            .cloned()
    };
    let mut out = Vec::new();
    for raw in &meta.logs {
        let format = match &raw.format {
            Some(f) => nickname(f).unwrap_or_else(|| f.clone()),
            None => default_format.clone(),
        };
        let target = if let Some(piped) = PipedLog::parse(&raw.target) {
            LogTarget::Pipe(piped)
        } else if raw.target == "/dev/stderr" {
            LogTarget::Stderr
        } else {
            LogTarget::File(b.server_relative(&raw.target))
        };
        out.push(CustomLog {
            target,
            format,
            condition: raw.condition.clone(),
            span: raw.span.clone(),
        });
    }
    Ok(out)
}

/// What a `<VirtualHost>` takes from the main server when it does not say
/// otherwise (Apache 2.4):
/// * ServerName, ServerAdmin, ErrorLog, LogLevel, DocumentRoot, Timeout and
///   the KeepAlive settings: the main server's when unset;
/// * access logs: its own if it has any, else the main server's;
/// * aliases (mod_alias and mod_wsgi): its own first, then the main server's;
/// * per-directory defaults: the main server's merged with its own;
/// * `SetEnvIf` lines: the main server's, then its own; `RewriteEngine`
///   when unset, but never the rewrite rules (mod_rewrite without
///   `RewriteOptions Inherit`);
/// * `<Directory>`/`<Location>`/`<Files>` sections: the main server's first,
///   then its own (core's `merge_core_server_configs`).
///
/// ServerAlias is not inherited (only virtual hosts have aliases).
fn inherit(host: &mut Host, main: &Host, meta: &HostMeta, own_logs: Vec<CustomLog>) {
    if host.server_name.is_none() {
        host.server_name = main.server_name.clone();
    }
    if host.server_admin.is_none() {
        host.server_admin = main.server_admin.clone();
    }
    if host.error_log.is_none() {
        host.error_log = main.error_log.clone();
    }
    if !meta.log_level {
        host.log_level = main.log_level.clone();
    }
    if !meta.document_root {
        host.document_root = main.document_root.clone();
    }
    if !meta.timeout {
        host.timeout = main.timeout;
    }
    if !meta.keep_alive {
        host.keep_alive = main.keep_alive;
    }
    if !meta.keep_alive_timeout {
        host.keep_alive_timeout = main.keep_alive_timeout;
    }
    if !meta.max_keep_alive_requests {
        host.max_keep_alive_requests = main.max_keep_alive_requests;
    }
    if !meta.trace_enable {
        host.trace_enable = main.trace_enable;
    }
    if !meta.encoded_slashes {
        host.encoded_slashes = main.encoded_slashes;
    }
    if !meta.recursion_limit {
        host.recursion_limit = main.recursion_limit;
    }
    host.custom_logs = if own_logs.is_empty() {
        main.custom_logs.clone()
    } else {
        own_logs
    };
    host.aliases.extend(main.aliases.iter().cloned());
    host.per_dir = main.per_dir.merge(&host.per_dir);
    host.set_env_if = main
        .set_env_if
        .iter()
        .cloned()
        .chain(std::mem::take(&mut host.set_env_if))
        .collect();
    // mod_rewrite's `config_server_merge`: state and options inherited,
    // rules with `RewriteOptions Inherit` & co. only.
    let options = host.rewrite.options.or(main.rewrite.options);
    host.rewrite.rules = RewriteOptions::inherited_rules(
        options.unwrap_or_default(),
        main.rewrite.options.unwrap_or_default(),
        &main.rewrite.rules,
        &host.rewrite.rules,
    );
    host.rewrite.options = options;
    host.rewrite.engine = host.rewrite.engine.or(main.rewrite.engine);
    let own = std::mem::take(&mut host.sections);
    host.sections = main.sections.iter().cloned().chain(own).collect();
}

/// mpm_event's startup checks (`event_check_config`), in its order and
/// with its words: ThreadsPerChild is capped by ThreadLimit; then
/// MaxRequestWorkers (400 unless written, whatever the other values) is
/// raised to one child's threads, rounded down to a multiple of
/// ThreadsPerChild, and capped by ServerLimit x ThreadsPerChild.  Each
/// change is a warning, as Apache prints it at startup.
fn mpm_limits(b: &mut Builder) {
    let span = b.mpm_span.clone();
    let m = &mut b.cfg.mpm;
    let mut warnings = Vec::new();
    if m.threads_per_child > m.thread_limit {
        warnings.push(format!(
            "AH00507: WARNING: ThreadsPerChild of {} exceeds ThreadLimit of {} threads, decreasing to {}. \
             To increase, please see the ThreadLimit directive.",
            m.threads_per_child, m.thread_limit, m.thread_limit
        ));
        m.threads_per_child = m.thread_limit;
    } else if m.threads_per_child < 1 {
        warnings.push(format!(
            "AH00509: WARNING: ThreadsPerChild of {} not allowed, increasing to 1",
            m.threads_per_child
        ));
        m.threads_per_child = 1;
    }
    let tpc = m.threads_per_child.max(1);
    if m.max_request_workers < tpc {
        warnings.push(format!(
            "AH00511: WARNING: MaxRequestWorkers of {} is less than ThreadsPerChild of {}, increasing to {}. \
             MaxRequestWorkers must be at least as large as the number of threads in a single server.",
            m.max_request_workers, tpc, tpc
        ));
        m.max_request_workers = tpc;
    }
    let servers = m.max_request_workers / tpc;
    if !m.max_request_workers.is_multiple_of(tpc) {
        let rounded = servers * tpc;
        warnings.push(format!(
            "AH00513: WARNING: MaxRequestWorkers of {} is not an integer multiple of ThreadsPerChild of {}, \
             decreasing to nearest multiple {}, for a maximum of {} servers.",
            m.max_request_workers, tpc, rounded, servers
        ));
        m.max_request_workers = rounded;
    }
    if servers > m.server_limit {
        let cap = m.server_limit.saturating_mul(tpc);
        warnings.push(format!(
            "AH00515: WARNING: MaxRequestWorkers of {} would require {} servers and would exceed ServerLimit \
             of {}, decreasing to {}. To increase, please see the ServerLimit directive.",
            m.max_request_workers, servers, m.server_limit, cap
        ));
        m.max_request_workers = cap;
    }
    if let Some(span) = span {
        for w in warnings {
            b.warn(w, &span);
        }
    }
}
