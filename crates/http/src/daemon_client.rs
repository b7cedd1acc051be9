//! Delegation of a WSGI request to a daemon process group (mod_wsgi's
//! `wsgi_execute_remote`): the checks mod_wsgi makes before connecting
//! (`WSGIRestrictProcess`, unknown group, group of another virtual host,
//! `WSGIRestrictEmbedded`) with its log lines, and the hand-off of the
//! environ and body to `wsgid_daemon::client`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wsgid_config::ServerConfig;
use wsgid_config::model::DaemonProcess;
use wsgid_python::{EventReceiver, ResponseEvent};

/// `WSGISocketPrefix`, or mod_wsgi's default `DefaultRuntimeDir/wsgi`.
pub fn socket_prefix(cfg: &ServerConfig) -> PathBuf {
    cfg.wsgi
        .socket_prefix
        .clone()
        .unwrap_or_else(|| cfg.runtime_dir.join("wsgi"))
}

/// The socket of `group` for the server whose master is `master_pid`.
pub fn socket_of(cfg: &ServerConfig, group: &DaemonProcess, master_pid: u32) -> PathBuf {
    let id = cfg
        .wsgi
        .daemons
        .iter()
        .position(|d| d.name == group.name)
        .map_or(0, |i| i + 1);
    wsgid_daemon::socket_path(&socket_prefix(cfg), master_pid, id)
}

/// How the front end reaches `group` (`socket-timeout` 0: `Timeout`),
/// with a new (empty) pool of kept connections.
pub fn target(cfg: &ServerConfig, group: &DaemonProcess) -> wsgid_daemon::client::Target {
    let socket_timeout = match group.socket_timeout {
        0 => cfg.timeout,
        s => Duration::from_secs(u64::from(s)),
    };
    wsgid_daemon::client::Target {
        name: group.name.clone(),
        socket: socket_of(cfg, group, std::os::unix::process::parent_id()),
        connect_timeout: Duration::from_secs(u64::from(group.connect_timeout)),
        socket_timeout,
        header_line_max: match group.header_buffer_size {
            0 => 32768,
            n => n as usize,
        }
        .saturating_sub(3),
        send_buffer_size: group.send_buffer_size,
        receive_buffer_size: group.receive_buffer_size,
        pool: Arc::new(wsgid_daemon::client::Pool::new(pool_cap(group))),
    }
}

/// Bound of each wait to write a response from `group` to the client:
/// `response-socket-timeout`, else `socket-timeout`, else `Timeout` (as
/// mod_wsgi's `wsgi_transfer_response` sets the client socket's timeout).
pub fn response_write_timeout(cfg: &ServerConfig, group: &DaemonProcess) -> Duration {
    match (group.response_socket_timeout, group.socket_timeout) {
        (0, 0) => cfg.timeout,
        (0, s) | (s, _) => Duration::from_secs(u64::from(s)),
    }
}

/// The group's request threads, all processes together: what a worker's
/// requests in flight to it are bounded by (up to twice that while its
/// requests are quick), and its idle connections kept (see
/// `wsgid_daemon::client::Pool`).
fn pool_cap(group: &DaemonProcess) -> usize {
    let threads = group.threads.max(1) as usize;
    let processes = group.processes.max(1) as usize;
    threads.saturating_mul(processes)
}

/// This worker's targets, one per `WSGIDaemonProcess` group (in
/// configuration order): each holds the group's pool of kept connections.
#[derive(Debug, Default)]
pub struct Targets(Vec<(String, Arc<wsgid_daemon::client::Target>)>);

impl Targets {
    pub fn new(cfg: &ServerConfig) -> Targets {
        Targets(
            cfg.wsgi
                .daemons
                .iter()
                .map(|g| (g.name.clone(), Arc::new(target(cfg, g))))
                .collect(),
        )
    }

    pub fn get(&self, group: &DaemonProcess) -> Option<Arc<wsgid_daemon::client::Target>> {
        self.0
            .iter()
            .find(|(name, _)| *name == group.name)
            .map(|(_, t)| Arc::clone(t))
    }
}

/// A receiver that yields only `Failed(status)` (the error is logged).
pub fn failed(status: u16) -> EventReceiver {
    let (tx, rx) = wsgid_python::event_channel(1);
    let _ = tx.try_send(ResponseEvent::Failed(status));
    rx
}

/// Start forwarding; the receiver yields the response events.
pub fn spawn(
    target: Arc<wsgid_daemon::client::Target>,
    head: &wsgid_daemon::protocol::RequestHead<'_>,
    body: crate::request_body::IncomingBody,
    rlog: wsgid_daemon::client::RequestLog,
    queue: usize,
) -> EventReceiver {
    let (tx, rx) = wsgid_python::event_channel(queue);
    let body = body.into_daemon_body();
    // Boxed: the task then holds a pointer, not the ~2 KiB future, which
    // tokio would otherwise copy whole into the task and again at each
    // change of its stage (running, finished, consumed) — per request.
    tokio::spawn(Box::pin(wsgid_daemon::client::forward(
        target, head, body, tx, rlog,
    )));
    rx
}
