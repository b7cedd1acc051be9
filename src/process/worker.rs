//! A worker process: adopts the listeners from the master, opens the logs,
//! drops privileges, starts the Python host and serves HTTP until TERM.
//!
//! Order matters: logs are opened while still root (as Apache's parent opens
//! them), credentials are dropped before any Python code runs, and Python is
//! initialised in this fresh process (never inherited across a fork).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use wsgid_log::{ErrorLog, Peer};

use super::supervisor::{EXIT_FATAL, worker_count};
use super::{listeners, privileges};
use crate::app::AppError;
use crate::cli::WorkerArgs;

/// Threads for blocking file reads per worker process.
const BLOCKING_THREADS: usize = 16;

/// Longest time Python gets to run atexit handlers and finalise.
const PYTHON_STOP_GRACE: Duration = Duration::from_secs(3);

pub fn run(args: &WorkerArgs) -> Result<ExitCode, AppError> {
    // The master's death must not leave orphans serving requests.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    name_process();
    match start(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("wsgid worker: {e}");
            Ok(ExitCode::from(u8::try_from(EXIT_FATAL).unwrap_or(1)))
        }
    }
}

/// Workers and daemons are started from `/proc/self/exe`, which makes the
/// kernel name them `exe` (what `top`, `ps -e` and `pgrep` show); they take
/// the server's name instead, as Apache's children show `apache2`.
pub(super) fn name_process() {
    let _ = nix::sys::prctl::set_name(c"wsgid");
}

fn start(args: &WorkerArgs) -> Result<ExitCode, AppError> {
    let cfg = Arc::new(wsgid_config::load(&args.config, &args.defines)?);
    let listeners = listeners::inherited()?;
    let logs = wsgid_http::Logs::open(&cfg, super::piped_logs::inherited(&cfg))?;
    let main_log = logs.main_error_log();
    if let Some(creds) = privileges::resolve(cfg.user.as_deref(), cfg.group.as_deref())? {
        privileges::switch(&creds)?;
    }
    // WSGIRestrictEmbedded On: Python is never initialised in the workers.
    let python = if cfg.wsgi.restrict_embedded {
        None
    } else {
        Some(Arc::new(wsgid_python::PythonHost::start(
            python_config(&cfg),
            main_log.clone(),
        )?))
    };
    let front = Arc::new(wsgid_http::FrontEnd::new(
        Arc::clone(&cfg),
        logs,
        python.clone(),
    )?);
    let rt = build_runtime(runtime_threads(&cfg))?;
    let served = rt.block_on(async move {
        let stop = shutdown_signal(cfg.mpm.graceful_shutdown_timeout)?;
        front.serve(listeners, stop).await.map_err(AppError::from)
    });
    drop(rt);
    if let Some(python) = &python {
        stop_python(python, &main_log);
    }
    served.map(|()| ExitCode::SUCCESS)
}

/// Resolves when the master (or an operator) asks this worker to stop,
/// with how long requests in progress may still run: TERM or INT gives
/// them the usual grace; WINCH (a graceful stop, `apachectl
/// graceful-stop`) `GracefulShutdownTimeout` (0: no limit).
pub(super) fn shutdown_signal(
    graceful_timeout: u64,
) -> Result<impl std::future::Future<Output = Option<std::time::Duration>>, AppError> {
    let sig = |k| signal(k).map_err(|e| AppError::io("signal handler", e));
    let (mut term, mut int, mut winch) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::window_change())?,
    );
    Ok(async move {
        tokio::select! {
            _ = term.recv() => Some(wsgid_http::server::SHUTDOWN_GRACE),
            _ = int.recv() => Some(wsgid_http::server::SHUTDOWN_GRACE),
            _ = winch.recv() => match graceful_timeout {
                0 => None,
                secs => Some(std::time::Duration::from_secs(secs)),
            },
        }
    })
}

pub(super) fn stop_python(python: &Arc<wsgid_python::PythonHost>, log: &ErrorLog) {
    // Interpreter teardown can hang on application threads (mod_wsgi issue
    // #730); never let that keep the process alive past the grace period.
    let (tx, rx) = std::sync::mpsc::channel();
    let host = Arc::clone(python);
    std::thread::spawn(move || {
        host.shutdown();
        let _ = tx.send(());
    });
    if rx.recv_timeout(PYTHON_STOP_GRACE).is_err() {
        log.log(
            "wsgi",
            wsgid_log::Level::Warn,
            Peer::None,
            "mod_wsgi: Python did not shut down in time; exiting without finishing interpreter destruction",
        );
    }
}

fn python_config(cfg: &wsgid_config::ServerConfig) -> wsgid_python::PythonConfig {
    let threads = cfg.mpm.threads_per_child.max(1) as usize;
    wsgid_python::PythonConfig {
        multithread: threads > 1,
        multiprocess: worker_count(&cfg.mpm) > 1,
        ..server_python_config(cfg, "", threads)
    }
}

/// The server-wide Python settings (`WSGIPython*`, `WSGIRestrict*`, …) for
/// a process of `process_group` (`""`: embedded) with `threads` request
/// threads, with the import scripts that name that group.  Embedded
/// workers and daemon processes adjust what is theirs.
pub(super) fn server_python_config(
    cfg: &wsgid_config::ServerConfig,
    process_group: &str,
    threads: usize,
) -> wsgid_python::PythonConfig {
    wsgid_python::PythonConfig {
        python_home: cfg.wsgi.python_home.clone(),
        python_path: cfg.wsgi.python_path.clone(),
        optimize: cfg.wsgi.python_optimize,
        python_eggs: cfg.wsgi.python_eggs.clone(),
        restrict_stdin: cfg.wsgi.restrict_stdin,
        restrict_stdout: cfg.wsgi.restrict_stdout,
        restrict_signal: cfg.wsgi.restrict_signal,
        threads,
        multithread: threads > 1,
        multiprocess: false,
        process_group: process_group.to_owned(),
        case_insensitive: !cfg.wsgi.case_sensitivity,
        python_warnings: cfg.wsgi.python_warnings.clone(),
        hash_seed: cfg
            .wsgi
            .python_hash_seed
            .as_deref()
            .and_then(|s| s.parse().ok()),
        dont_write_bytecode: cfg.wsgi.dont_write_bytecode,
        keep_interpreter: !cfg.wsgi.destroy_interpreter,
        import_scripts: cfg
            .wsgi
            .import_scripts
            .iter()
            .filter(|s| s.process_group == process_group)
            .map(|s| wsgid_python::ImportScript {
                path: s.path.clone(),
                application_group: s.application_group.clone(),
            })
            .collect(),
    }
}

/// The event loop: tokio's multi-threaded scheduler, even with one I/O
/// thread.  Responses are handed over by the Python threads, and a wake-up
/// from another thread costs the current-thread scheduler an eventfd write
/// every time, while the multi-threaded one writes only when its thread is
/// parked: 0.98 against 0.04 eventfd writes per hello-world request under
/// load (`perf stat -e 'syscalls:sys_enter_*'`), about 1 of the 4.3 system
/// calls a request cost.
pub(super) fn build_runtime(threads: usize) -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("wsgid-io")
        // File reads (static files, wsgi.file_wrapper) run on the blocking
        // pool; a few threads keep the disk busy, hundreds only add memory.
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| AppError::io("cannot start the event loop", e))
}

/// Async I/O threads per worker: the cores this process may use, shared
/// among the worker processes (each also has its Python threads).
fn runtime_threads(cfg: &wsgid_config::ServerConfig) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = worker_count(&cfg.mpm) as usize;
    (cores / workers.max(1)).max(1)
}

/// The main server's error log, for the master's own messages.
pub fn open_main_error_log(
    cfg: &wsgid_config::ServerConfig,
    pipes: Option<wsgid_http::PipedLogs>,
) -> Result<ErrorLog, AppError> {
    wsgid_http::Logs::open_main(cfg, pipes).map_err(AppError::from)
}
