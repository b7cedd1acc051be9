//! mpm_event's sizing directives.  wsgid keeps Apache's numbers in the
//! model (its worker processes and threads follow them); the spare-thread
//! knobs have no meaning because wsgid does not grow or shrink its pool.

use super::{atoi, number};
use crate::builder::Builder;
use crate::model::Mpm;
use crate::registry::{Action::*, Arity::*, *};

const SPARE: &str = "wsgid runs a fixed pool of workers; there are no spare threads to keep";

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("StartServers", Take1, RSRC_CONF, GLOBAL_ONLY, "Number of child processes launched at server startup", Set(start_servers)),
    row("ServerLimit", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of child processes for this run of Apache", Set(server_limit)),
    row("ThreadsPerChild", Take1, RSRC_CONF, GLOBAL_ONLY, "Number of threads each child creates", Set(threads_per_child)),
    row("ThreadLimit", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of worker threads per child process for this run of Apache - Upper limit for ThreadsPerChild", Set(thread_limit)),
    row("MaxRequestWorkers", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of threads alive at the same time", Set(max_request_workers)),
    row("MaxClients", Take1, RSRC_CONF, GLOBAL_ONLY, "Deprecated name of MaxRequestWorkers", Set(max_request_workers)),
    row("MaxConnectionsPerChild", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of connections a particular child serves before dying.", Set(max_connections)),
    row("MaxRequestsPerChild", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of connections a particular child serves before dying. (DEPRECATED, use MaxConnectionsPerChild)", Set(max_connections)),
    row("MinSpareThreads", Take1, RSRC_CONF, GLOBAL_ONLY, "Minimum number of idle threads, to handle request spikes", Ignored(SPARE)),
    row("MaxSpareThreads", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of idle threads", Ignored(SPARE)),
    row("AsyncRequestWorkerFactor", Take1, RSRC_CONF, GLOBAL_ONLY, "How many additional connects will be accepted per idle worker thread", Ignored("wsgid's front end is fully asynchronous")),
    row("GracefulShutdownTimeout", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum time in seconds to wait for child processes to complete transactions during shutdown", Set(graceful_shutdown_timeout)),
];

fn set(b: &mut Builder, name: &str, v: &str, f: fn(&mut Mpm, u32)) -> Result<(), String> {
    let n = number::<u32>(name, v)?;
    f(&mut b.cfg.mpm, n);
    b.cfg.mpm.explicit = true;
    b.mpm_span = Some(b.current_span.clone());
    Ok(())
}

/// `ap_mpm_set_graceful_shutdown` reads the number with `atoi` (junk, or a
/// negative number, is 0, which waits as long as it takes).
fn graceful_shutdown_timeout(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.mpm.graceful_shutdown_timeout = u64::try_from(atoi(a.get(0))).unwrap_or(0);
    Ok(())
}

fn start_servers(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.start_servers = n)
}
fn server_limit(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.server_limit = n.max(1))
}
fn threads_per_child(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.threads_per_child = n.max(1))
}
fn thread_limit(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.thread_limit = n.max(1))
}
fn max_request_workers(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.max_request_workers = n)
}
fn max_connections(b: &mut Builder, a: &Args) -> Result<(), String> {
    set(b, a.name, a.get(0), |m, n| m.max_connections_per_child = n)
}
