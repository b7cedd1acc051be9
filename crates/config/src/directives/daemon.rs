//! `WSGIDaemonProcess name option=value...`, parsed and validated as
//! mod_wsgi 4.9's `wsgi_add_daemon_process` does (same messages, same
//! defaults), and the check that a process group named by
//! `WSGIImportScript` / `WSGIScriptAlias` exists and is usable from the
//! current virtual host.
//!
//! Options mod_wsgi has but wsgid does not implement are refused with a
//! message saying so (never silently ignored).

use std::path::PathBuf;

use super::alias::parse_option;
use super::atoi;
use crate::builder::Builder;
use crate::lexer::next_word;
use crate::model::{DaemonProcess, ScriptOwner};
use crate::registry::Args;

/// mod_wsgi's `WSGI_LISTEN_BACKLOG`.
const LISTEN_BACKLOG: u32 = 100;

/// mod_wsgi's `WSGI_STACK_LAST - 1` bound on `threads=`.
const MAX_THREADS: i64 = 0x10000 - 1;

/// Options of mod_wsgi 4.9 that wsgid parses but does not implement.
const NOT_IMPLEMENTED: &[&str] = &["chroot", "newrelic-config-file", "newrelic-environment"];

/// A non-negative count/timeout option: `Invalid {what} for WSGI daemon
/// process.` when empty or negative.
fn count(value: &str, what: &str) -> Result<u32, String> {
    let err = || format!("Invalid {what} for WSGI daemon process.");
    if value.is_empty() {
        return Err(err());
    }
    let n = atoi(value);
    if n < 0 {
        return Err(err());
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn limit64(value: &str, what: &str) -> Result<u64, String> {
    let n = atoi(value);
    if value.is_empty() || n < 0 {
        return Err(format!("Invalid {what} for WSGI daemon process."));
    }
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A size option: `Invalid {what} …` when empty, and mod_wsgi's
/// "{label} must be >= {min} bytes, or 0 for {zero}." below `min`.
fn buffer_size(value: &str, what: &str, label: &str, min: i64, zero: &str) -> Result<u32, String> {
    if value.is_empty() {
        return Err(format!("Invalid {what} for WSGI daemon process."));
    }
    let n = atoi(value);
    if n < min && n != 0 {
        return Err(format!("{label} must be >= {min} bytes, or 0 for {zero}."));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A user given as `#uid` or a name: uid 0 is refused (as mod_wsgi's
/// `ap_uname2id` check; the model does no user-database look-ups, so only
/// `root` and `#0` are recognised here; names are resolved at start).
fn is_root_user(user: &str) -> bool {
    match user.strip_prefix('#') {
        Some(n) => atoi(n) == 0,
        None => user == "root",
    }
}

pub fn daemon_process(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut rest = a.raw.as_str();
    let name = next_word(&mut rest);
    if name.is_empty() {
        return Err("Name of WSGI daemon process not supplied.".to_owned());
    }
    let mut d = DaemonProcess {
        name,
        user: None,
        group: None,
        processes: 1,
        multiprocess: false,
        threads: 15,
        umask: None,
        home: None,
        lang: None,
        locale: None,
        python_home: None,
        python_path: Vec::new(),
        python_eggs: None,
        stack_size: None,
        maximum_requests: 0,
        startup_timeout: 0,
        shutdown_timeout: 5,
        deadlock_timeout: 300,
        inactivity_timeout: 0,
        request_timeout: 0,
        graceful_timeout: 15,
        eviction_timeout: 0,
        restart_interval: 0,
        connect_timeout: 15,
        socket_timeout: 0,
        queue_timeout: 0,
        listen_backlog: LISTEN_BACKLOG,
        display_name: None,
        send_buffer_size: 0,
        receive_buffer_size: 0,
        cpu_time_limit: 0,
        memory_limit: 0,
        virtual_memory_limit: 0,
        socket_user: None,
        cpu_priority: 0,
        header_buffer_size: 0,
        response_socket_timeout: 0,
        script_owner: None,
        supplementary_groups: Vec::new(),
        vhost: b.vhost,
        server_name: b.host().server_name.clone(),
        span: b.current_span.clone(),
    };
    let (mut script_user, mut script_group) = (false, false);
    while !rest.trim_start().is_empty() {
        let (option, value) = parse_option(&mut rest)
            .ok_or_else(|| "Invalid option to WSGI daemon process definition.".to_owned())?;
        match option.as_str() {
            "user" => {
                if value.is_empty() {
                    return Err("Invalid user for WSGI daemon process.".to_owned());
                }
                if is_root_user(&value) {
                    return Err("WSGI process blocked from running as root.".to_owned());
                }
                d.user = Some(value);
            }
            "group" => {
                if value.is_empty() {
                    return Err("Invalid group for WSGI daemon process.".to_owned());
                }
                d.group = Some(value);
            }
            "supplementary-groups" => {
                d.supplementary_groups = value
                    .split(',')
                    .take_while(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "processes" => {
                let n = atoi(&value);
                if value.is_empty() || n < 1 {
                    return Err("Invalid process count for WSGI daemon process.".to_owned());
                }
                d.processes = u32::try_from(n).unwrap_or(u32::MAX);
                d.multiprocess = true;
            }
            "threads" => {
                let n = atoi(&value);
                if value.is_empty() || !(0..MAX_THREADS).contains(&n) {
                    return Err("Invalid thread count for WSGI daemon process.".to_owned());
                }
                d.threads = u32::try_from(n).unwrap_or(0);
            }
            "umask" => {
                let bad = || "Invalid umask for WSGI daemon process.".to_owned();
                if value.is_empty() {
                    return Err(bad());
                }
                d.umask = Some(u32::from_str_radix(&value, 8).map_err(|_| bad())?);
            }
            "home" => {
                if !value.starts_with('/') {
                    return Err("Invalid home directory for WSGI daemon process.".to_owned());
                }
                d.home = Some(PathBuf::from(value));
            }
            "lang" => d.lang = Some(value),
            "locale" => d.locale = Some(value),
            "python-home" => d.python_home = Some(PathBuf::from(value)),
            "python-path" => {
                d.python_path = value
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect();
            }
            "python-eggs" => d.python_eggs = Some(PathBuf::from(value)),
            "stack-size" => {
                let n = atoi(&value);
                if value.is_empty() || n <= 0 {
                    return Err("Invalid stack size for WSGI daemon process.".to_owned());
                }
                d.stack_size = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "maximum-requests" => d.maximum_requests = count(&value, "request count")?,
            "startup-timeout" => d.startup_timeout = count(&value, "startup timeout")?,
            "shutdown-timeout" => d.shutdown_timeout = count(&value, "shutdown timeout")?,
            "inactivity-timeout" => d.inactivity_timeout = count(&value, "inactivity timeout")?,
            "deadlock-timeout" => d.deadlock_timeout = count(&value, "deadlock timeout")?,
            "request-timeout" => d.request_timeout = count(&value, "request timeout")?,
            "graceful-timeout" => d.graceful_timeout = count(&value, "graceful timeout")?,
            "eviction-timeout" => d.eviction_timeout = count(&value, "eviction timeout")?,
            "restart-interval" => d.restart_interval = count(&value, "restart interval")?,
            "connect-timeout" => d.connect_timeout = count(&value, "connect timeout")?,
            "socket-timeout" => d.socket_timeout = count(&value, "socket timeout")?,
            "queue-timeout" => d.queue_timeout = count(&value, "queue timeout")?,
            "listen-backlog" => d.listen_backlog = count(&value, "listen backlog")?,
            "display-name" => {
                d.display_name = Some(if value == "%{GROUP}" {
                    format!("(wsgi:{})", d.name)
                } else {
                    value
                });
            }
            "send-buffer-size" => {
                d.send_buffer_size = buffer_size(
                    &value,
                    "send buffer size",
                    "Send buffer size",
                    512,
                    "system default",
                )?;
            }
            "receive-buffer-size" => {
                d.receive_buffer_size = buffer_size(
                    &value,
                    "receive buffer size",
                    "Receive buffer size",
                    512,
                    "system default",
                )?;
            }
            "cpu-time-limit" => d.cpu_time_limit = count(&value, "CPU time limit")?,
            "memory-limit" => d.memory_limit = limit64(&value, "memory limit")?,
            "virtual-memory-limit" => {
                d.virtual_memory_limit = limit64(&value, "virtual memory limit")?;
            }
            "socket-user" => {
                if value.is_empty() {
                    return Err("Invalid socket user for WSGI daemon process.".to_owned());
                }
                d.socket_user = Some(value);
            }
            "cpu-priority" => {
                if value.is_empty() {
                    return Err("Invalid CPU priority for WSGI daemon process.".to_owned());
                }
                d.cpu_priority = i32::try_from(atoi(&value)).unwrap_or(i32::MAX);
            }
            "header-buffer-size" => {
                d.header_buffer_size = buffer_size(
                    &value,
                    "header buffer size",
                    "Header buffer size",
                    8192,
                    "default",
                )?;
            }
            "response-socket-timeout" => {
                d.response_socket_timeout = count(&value, "response socket timeout")?;
            }
            "script-user" => {
                if value.is_empty() {
                    return Err("Invalid script user for WSGI daemon process.".to_owned());
                }
                d.script_owner = Some(ScriptOwner::User(value));
                script_user = true;
            }
            "script-group" => {
                if value.is_empty() {
                    return Err("Invalid script group for WSGI daemon process.".to_owned());
                }
                d.script_owner = Some(ScriptOwner::Group(value));
                script_group = true;
            }
            // mod_wsgi-express writes both, with their defaults (0, Off),
            // into every configuration: the defaults are what wsgid does.
            "response-buffer-size" => {
                let n = buffer_size(
                    &value,
                    "response buffer size",
                    "Response buffer size",
                    65536,
                    "default",
                )?;
                if n != 0 {
                    return Err(
                        "WSGIDaemonProcess option 'response-buffer-size' other than 0 is not implemented yet in wsgid."
                            .to_owned(),
                    );
                }
            }
            "server-metrics" => {
                if value.eq_ignore_ascii_case("on") {
                    return Err(
                        "WSGIDaemonProcess option 'server-metrics=On' is not implemented yet in wsgid."
                            .to_owned(),
                    );
                }
                if !value.eq_ignore_ascii_case("off") {
                    return Err("Invalid server metrics flag for WSGI daemon process.".to_owned());
                }
            }
            other if NOT_IMPLEMENTED.contains(&other) => {
                return Err(format!(
                    "WSGIDaemonProcess option '{other}' is not implemented yet in wsgid."
                ));
            }
            _ => return Err("Invalid option to WSGI daemon process definition.".to_owned()),
        }
    }
    if script_user && script_group {
        return Err("Only one of script-user and script-group allowed.".to_owned());
    }
    if b.cfg.wsgi.daemons.iter().any(|x| x.name == d.name) {
        return Err("Name duplicates previous WSGI daemon definition.".to_owned());
    }
    b.cfg.wsgi.daemons.push(d);
    Ok(())
}

/// mod_wsgi's check for `WSGIImportScript process-group=` and the
/// preloading form of `WSGIScriptAlias`: the group (`""`: embedded) must
/// be defined already, and a group defined in a `<VirtualHost>` is usable
/// only from hosts with the same `ServerName`.
pub fn check_group_usable(b: &mut Builder, group: &str) -> Result<(), String> {
    if group.is_empty() || group == "%{RESOURCE}" || group == "%{SERVER}" || group == "%{HOST}" {
        return Ok(());
    }
    let here = b.host().server_name.clone();
    let Some(d) = b.cfg.wsgi.daemon(group) else {
        return Err("WSGI process group not yet configured.".to_owned());
    };
    if d.vhost.is_none() {
        return Ok(());
    }
    match (&here, &d.server_name) {
        (Some(h), Some(g)) if h != g => Err("WSGI process group not accessible.".to_owned()),
        (None, Some(_)) | (Some(_), None) => Err("WSGI process group not matchable.".to_owned()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi(""), 0);
    }
}
