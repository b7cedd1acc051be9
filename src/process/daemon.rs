//! A daemon process of a `WSGIDaemonProcess` group (mod_wsgi's daemon
//! mode), started by the master by exec'ing this binary with the hidden
//! `daemon` subcommand; the group's listening UNIX socket is inherited as
//! fd 3 (bound and owned by the master, so it outlives any one process).
//!
//! Order, as mod_wsgi's `wsgi_setup_access` + `wsgi_start_process`: open
//! the logs, drop privileges to the group's `user`/`group` (when root),
//! `chdir` to `home` (or the user's home directory when it is not the
//! server's `User`), apply `umask`, then initialise Python (in this fresh
//! process, never inherited across a fork) and serve until TERM or a
//! life-cycle timer.
//!
//! Exit status: 0 for a planned stop (the master restarts the process at
//! once), [`EXIT_FATAL`] when the process cannot start at all.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use wsgid_config::model::DaemonProcess;
use wsgid_daemon::server::StopRequest;
use wsgid_log::{ErrorLog, Level, Peer};

use super::supervisor::EXIT_FATAL;
use super::{privileges, worker};
use crate::app::AppError;
use crate::cli::DaemonArgs;

pub fn run(args: &DaemonArgs) -> Result<ExitCode, AppError> {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    super::worker::name_process();
    match start(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("wsgid daemon '{}': {e}", args.group);
            Ok(ExitCode::from(u8::try_from(EXIT_FATAL).unwrap_or(1)))
        }
    }
}

fn start(args: &DaemonArgs) -> Result<ExitCode, AppError> {
    let cfg = Arc::new(wsgid_config::load(&args.config, &args.defines)?);
    let group =
        cfg.wsgi.daemon(&args.group).cloned().ok_or_else(|| {
            AppError::Usage(format!("no WSGIDaemonProcess called '{}'", args.group))
        })?;
    let listener = inherited_socket()?;
    let logs = wsgid_http::Logs::open(&cfg, super::piped_logs::inherited(&cfg))?;
    let all_logs = logs.error_logs();
    let log = all_logs
        .get(group.vhost.map_or(0, |v| v + 1))
        .cloned()
        .unwrap_or_else(|| logs.main_error_log());
    let pid = std::process::id();
    let info = |msg: &str| log.log("wsgi", Level::Info, Peer::None, msg);
    let user = group.user.as_deref().or(cfg.user.as_deref());
    let grp = group.group.as_deref().or(cfg.group.as_deref());
    // `cpu-priority`: set while still root, as mod_wsgi does (only root
    // may lower the nice value).
    if group.cpu_priority != 0
        && rustix::process::setpriority_process(None, group.cpu_priority).is_err()
    {
        log.log(
            "wsgi",
            Level::Error,
            Peer::None,
            &format!(
                "mod_wsgi (pid={pid}): Couldn't set CPU priority in daemon process '{}'.",
                group.cpu_priority
            ),
        );
    }
    let server_creds = privileges::resolve(cfg.user.as_deref(), cfg.group.as_deref())?;
    match privileges::resolve(user, grp)? {
        Some(creds) => {
            if group.supplementary_groups.is_empty() {
                privileges::switch(&creds)?;
            } else {
                let mut gids = vec![creds.gid];
                for g in &group.supplementary_groups {
                    gids.push(privileges::group_id(g)?);
                }
                privileges::switch_with_groups(&creds, &gids)?;
            }
            info(&format!(
                "mod_wsgi (pid={pid}): Starting process '{}' with uid={}, gid={} and threads={}.",
                group.name, creds.uid, creds.gid, group.threads
            ));
        }
        None => {
            if group.user.is_some() || group.group.is_some() {
                info(&format!(
                    "mod_wsgi (pid={pid}): user=/group= of daemon process group '{}' ignored: wsgid is not running as root.",
                    group.name
                ));
            }
            info(&format!(
                "mod_wsgi (pid={pid}): Starting process '{}' with threads={}.",
                group.name, group.threads
            ));
        }
    }
    working_directory(&group, server_creds.map(|c| c.uid), &log)?;
    resource_limits(&group, &log);
    if let Some(mask) = group.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    let python = Arc::new(wsgid_python::PythonHost::start(
        python_config(&cfg, &group),
        log.clone(),
    )?);
    // Tell the master this process started (it may be waiting to give the
    // group's socket its name back after failed starts).
    let _ = nix::sys::signal::kill(nix::unistd::getppid(), nix::sys::signal::Signal::SIGUSR2);
    let opts = wsgid_daemon::server::Options {
        name: group.name.clone(),
        maximum_requests: group.maximum_requests,
        inactivity_timeout: secs(group.inactivity_timeout),
        request_timeout: secs(group.request_timeout),
        queue_timeout: secs(group.queue_timeout),
        restart_interval: secs(group.restart_interval),
        shutdown_timeout: secs(group.shutdown_timeout),
        graceful_timeout: secs(group.graceful_timeout),
        eviction_timeout: secs(group.eviction_timeout),
        deadlock_timeout: secs(group.deadlock_timeout),
        startup_timeout: secs(group.startup_timeout),
        send_buffer_size: group.send_buffer_size,
        receive_buffer_size: group.receive_buffer_size,
    };
    let rt = worker::build_runtime(1)?;
    let host = Arc::clone(&python);
    let serve_log = log.clone();
    let (name, stop_log) = (group.name.clone(), log.clone());
    let stopped = rt.block_on(async move {
        listener
            .set_nonblocking(true)
            .map_err(|e| AppError::io("daemon socket", e))?;
        let stop = stop_signal(name, stop_log)?;
        wsgid_daemon::server::serve(listener, host, Arc::new(all_logs), serve_log, opts, stop)
            .await
            .map_err(|e| AppError::io("daemon socket", e))
    })?;
    if stopped == wsgid_daemon::server::Stopped::RequestTimeout {
        // Requests are stuck in Python: do not wait for them.
        std::process::exit(0);
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    worker::stop_python(&python, &log);
    info(&format!(
        "mod_wsgi (pid={pid}): Exiting process '{}'.",
        group.name
    ));
    Ok(ExitCode::SUCCESS)
}

/// `cpu-time-limit`, `memory-limit`, `virtual-memory-limit` as mod_wsgi
/// sets them (the CPU hard limit leaves `shutdown-timeout` + 1 s to stop
/// after SIGXCPU).
fn resource_limits(group: &DaemonProcess, log: &ErrorLog) {
    use nix::sys::resource::{Resource, setrlimit};
    let pid = std::process::id();
    let fail = |what: String| log.log("wsgi", Level::Crit, Peer::None, &what);
    if group.cpu_time_limit > 0 {
        let soft = u64::from(group.cpu_time_limit);
        let hard = soft + 1 + u64::from(group.shutdown_timeout);
        if setrlimit(Resource::RLIMIT_CPU, soft, hard).is_err() {
            fail(format!(
                "mod_wsgi (pid={pid}): Couldn't set CPU time limit of {soft} seconds for process '{}'.",
                group.name
            ));
        }
    }
    if group.memory_limit > 0
        && setrlimit(
            Resource::RLIMIT_DATA,
            group.memory_limit,
            group.memory_limit,
        )
        .is_err()
    {
        fail(format!(
            "mod_wsgi (pid={pid}): Couldn't set memory limit of {} for process '{}'.",
            group.memory_limit, group.name
        ));
    }
    if group.virtual_memory_limit > 0
        && setrlimit(
            Resource::RLIMIT_AS,
            group.virtual_memory_limit,
            group.virtual_memory_limit,
        )
        .is_err()
    {
        fail(format!(
            "mod_wsgi (pid={pid}): Couldn't set virtual memory limit of {} for process '{}'.",
            group.virtual_memory_limit, group.name
        ));
    }
}

/// TERM/INT from the master, or SIGXCPU after `cpu-time-limit` (logged):
/// stop; USR1 (mod_wsgi's graceful restart signal, sent to a daemon
/// process by hand or by a tool): evict the process, which the master
/// then starts again.
fn stop_signal(
    name: String,
    log: ErrorLog,
) -> Result<impl std::future::Future<Output = StopRequest>, AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = worker::shutdown_signal(0)?;
    let sig = |kind| signal(kind).map_err(|e| AppError::io("signal handler", e));
    let mut xcpu = sig(SignalKind::from_raw(libc::SIGXCPU))?;
    let mut usr1 = sig(SignalKind::user_defined1())?;
    Ok(async move {
        tokio::select! {
            _ = term => StopRequest::Stop,
            _ = usr1.recv() => StopRequest::Evict,
            _ = xcpu.recv() => {
                log.log("wsgi", Level::Info, Peer::None, &format!(
                    "mod_wsgi (pid={}): Exceeded CPU time limit, triggering immediate shutdown '{name}'.",
                    std::process::id()
                ));
                StopRequest::Stop
            }
        }
    })
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// `home=`, else the user's home directory when the process runs as
/// another user than the server's `User` (mod_wsgi's rule).
fn working_directory(
    group: &DaemonProcess,
    server_uid: Option<nix::unistd::Uid>,
    log: &ErrorLog,
) -> Result<(), AppError> {
    let pid = std::process::id();
    if let Some(home) = &group.home {
        return std::env::set_current_dir(home).map_err(|e| {
            let msg = format!(
                "mod_wsgi (pid={pid}): Unable to change working directory to '{}'.",
                home.display()
            );
            log.log("wsgi", Level::Alert, Peer::None, &msg);
            AppError::io(msg, e)
        });
    }
    let euid = nix::unistd::geteuid();
    if server_uid.is_some_and(|u| u != euid)
        && let Ok(Some(pw)) = nix::unistd::User::from_uid(euid)
        && std::env::set_current_dir(&pw.dir).is_err()
    {
        let msg = format!(
            "mod_wsgi (pid={pid}): Unable to change working directory to home directory '{}' for uid={euid}.",
            pw.dir.display()
        );
        log.log("wsgi", Level::Alert, Peer::None, &msg);
        return Err(AppError::Usage(msg));
    }
    Ok(())
}

fn inherited_socket() -> Result<std::os::unix::net::UnixListener, AppError> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.take_unix_listener(0) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(AppError::Usage(
            "daemon process started without its socket (it is started by the master)".into(),
        )),
        Err(e) => Err(AppError::io("inherited daemon socket", e)),
    }
}

/// The group's Python: its own `python-home`/`python-path`/`python-eggs`
/// (the server-wide `WSGIPythonPath` is for embedded mode only, as in
/// mod_wsgi), `threads`, and the `WSGIImportScript`s naming the group.
fn python_config(
    cfg: &wsgid_config::ServerConfig,
    group: &DaemonProcess,
) -> wsgid_python::PythonConfig {
    let threads = group.threads.max(1) as usize;
    let server = super::worker::server_python_config(cfg, &group.name, threads);
    wsgid_python::PythonConfig {
        python_home: group.python_home.clone().or(server.python_home),
        // A daemon's path is its own python-path= (WSGIPythonPath is for
        // embedded mode, as in mod_wsgi).
        python_path: group.python_path.clone(),
        python_eggs: group.python_eggs.clone().or(server.python_eggs),
        multithread: group.threads != 1,
        multiprocess: group.multiprocess,
        ..server
    }
}
