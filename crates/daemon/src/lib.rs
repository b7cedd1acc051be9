//! wsgid-daemon: mod_wsgi's daemon mode transport.
//!
//! A front-end worker computes the request's environ as in embedded mode,
//! then, for a request whose process group is a `WSGIDaemonProcess`
//! group, sends it over the group's UNIX socket ([`client::forward`])
//! instead of to its own Python host, on a connection it keeps for the
//! next request.  In the daemon process, [`server::serve`] lends the
//! process's Python request threads to the group's socket: each reads a
//! request from a connection, runs it as a `WsgiRequest` and writes its
//! `ResponseEvent`s back as frames itself.
//! The wire format is documented in [`protocol`].
#![forbid(unsafe_code)]

pub mod client;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};

/// The socket of daemon group number `id` (1-based, in configuration
/// order) of the server whose master has pid `master_pid`: mod_wsgi's
/// `PREFIX.PID.GENERATION.ID.sock` without the generation.
pub fn socket_path(prefix: &Path, master_pid: u32, id: usize) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(format!(".{master_pid}.{id}.sock"));
    PathBuf::from(s)
}
