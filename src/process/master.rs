//! The master process: binds the listeners, writes the `PidFile`, starts the
//! worker processes and keeps them running; owns the signals.
//!
//! Signals (as Apache's): TERM and INT stop the server (workers get TERM and
//! finish their requests, then KILL after a grace period); HUP and USR1
//! restart the workers gracefully, after checking that the configuration
//! still loads (a broken configuration is logged and the old workers stay).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use command_fds::CommandFdExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use wsgid_log::{ErrorLog, Peer};

use super::supervisor::{Decision, SlotHistory, worker_count};
use super::{listeners, worker};
use crate::app::AppError;

/// How long workers get to finish after TERM before they are killed.
/// The oracle harness allows 10 s for the whole server to stop.
const STOP_GRACE: Duration = Duration::from_secs(6);

/// Listen backlog (Apache's `ListenBacklog` default).
const BACKLOG: i32 = 511;

struct Running {
    pid: i32,
    started: Instant,
    generation: u64,
}

enum Event {
    Exited {
        slot: usize,
        generation: u64,
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Start {
        slot: usize,
    },
}

pub fn run(
    cfg: wsgid_config::ServerConfig,
    config_path: &Path,
    defines: &[String],
) -> Result<ExitCode, AppError> {
    let log = worker::open_main_error_log(&cfg)?;
    let listeners = listeners::bind_all(&cfg, BACKLOG)?;
    let pid_file = cfg.pid_file.clone();
    if let Some(p) = &pid_file {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| AppError::io(format!("AH00099: could not create {}", p.display()), e))?;
    }
    for (name, span) in &cfg.ignored {
        log.log(
            "core",
            wsgid_log::Level::Debug,
            Peer::None,
            &format!(
                "{name} (line {} of {}) has no meaning for wsgid; accepted and ignored",
                span.line,
                span.file.display()
            ),
        );
    }
    let count = worker_count(&cfg.mpm) as usize;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::io("cannot start the master's event loop", e))?;
    let master = Master {
        config: config_path.to_path_buf(),
        defines: defines.to_vec(),
        listeners,
        log: log.clone(),
    };
    let result = rt.block_on(master.supervise(count));
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    result
}

struct Master {
    config: PathBuf,
    defines: Vec<String>,
    listeners: Vec<TcpListener>,
    log: ErrorLog,
}

impl Master {
    async fn supervise(&self, count: usize) -> Result<ExitCode, AppError> {
        let sig = |k| signal(k).map_err(|e| AppError::io("cannot install signal handlers", e));
        let (mut term, mut int, mut hup, mut usr1) = (
            sig(SignalKind::terminate())?,
            sig(SignalKind::interrupt())?,
            sig(SignalKind::hangup())?,
            sig(SignalKind::user_defined1())?,
        );
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let mut running: HashMap<usize, Running> = HashMap::new();
        let mut history = vec![SlotHistory::default(); count];
        let mut generation = 0u64;
        for slot in 0..count {
            generation += 1;
            running.insert(slot, self.spawn(slot, generation, &tx)?);
        }
        self.log.log(
            "mpm_event",
            wsgid_log::Level::Notice,
            Peer::None,
            &format!(
                "AH00489: wsgid/{} configured -- resuming normal operations",
                env!("CARGO_PKG_VERSION")
            ),
        );
        let exit = loop {
            tokio::select! {
                _ = term.recv() => break ExitCode::SUCCESS,
                _ = int.recv() => break ExitCode::SUCCESS,
                _ = hup.recv() => self.graceful_restart(&running),
                _ = usr1.recv() => self.graceful_restart(&running),
                Some(ev) = rx.recv() => match ev {
                    Event::Start { slot } => {
                        if let std::collections::hash_map::Entry::Vacant(e) = running.entry(slot) {
                            generation += 1;
                            e.insert(self.spawn(slot, generation, &tx)?);
                        }
                    }
                    Event::Exited { slot, generation: g, pid, code, signal } => {
                        let Some(r) = running.get(&slot).filter(|r| r.generation == g) else { continue };
                        let uptime = r.started.elapsed();
                        running.remove(&slot);
                        self.log_exit(pid, code, signal);
                        match history[slot].on_exit(uptime, code) {
                            Decision::Shutdown => {
                                self.log.log("mpm_event", wsgid_log::Level::Alert, Peer::None,
                                    &format!("AH00050: Child {pid} returned a Fatal error... wsgid is exiting!"));
                                self.stop_all(&mut running, &mut rx).await;
                                return Ok(ExitCode::FAILURE);
                            }
                            Decision::Restart(delay) => {
                                let tx = tx.clone();
                                tokio::spawn(async move {
                                    tokio::time::sleep(delay).await;
                                    let _ = tx.send(Event::Start { slot });
                                });
                            }
                        }
                    }
                },
            }
        };
        self.log.log(
            "mpm_event",
            wsgid_log::Level::Notice,
            Peer::None,
            "AH00491: caught SIGTERM, shutting down",
        );
        self.stop_all(&mut running, &mut rx).await;
        Ok(exit)
    }

    fn spawn(
        &self,
        slot: usize,
        generation: u64,
        tx: &mpsc::UnboundedSender<Event>,
    ) -> Result<Running, AppError> {
        let listeners::ChildListeners { maps, env } = listeners::for_child(&self.listeners)?;
        // /proc/self/exe rather than argv[0]: replacing the binary on disk
        // while the server runs is then safe, and PATH does not matter.
        let mut cmd = std::process::Command::new("/proc/self/exe");
        // What `ps` shows for the worker (argv[0] would otherwise be the
        // /proc path).
        std::os::unix::process::CommandExt::arg0(&mut cmd, "wsgid");
        cmd.arg("worker")
            .arg("-f")
            .arg(&self.config)
            .arg("--slot")
            .arg(slot.to_string());
        for d in &self.defines {
            cmd.arg("-D").arg(d);
        }
        cmd.envs(env)
            .env_remove("LISTEN_PID")
            .stdin(std::process::Stdio::null());
        cmd.fd_mappings(maps)
            .map_err(|e| AppError::Usage(format!("listener fd mapping: {e}")))?;
        let mut child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| AppError::io("AH00159: fork: Unable to fork new process", e))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let tx = tx.clone();
        tokio::spawn(async move {
            use std::os::unix::process::ExitStatusExt;
            let (code, signal) = match child.wait().await {
                Ok(st) => (st.code(), st.signal()),
                Err(_) => (None, None),
            };
            let _ = tx.send(Event::Exited {
                slot,
                generation,
                pid,
                code,
                signal,
            });
        });
        Ok(Running {
            pid,
            started: Instant::now(),
            generation,
        })
    }

    fn log_exit(&self, pid: i32, code: Option<i32>, signal: Option<i32>) {
        let what = match (code, signal) {
            (_, Some(s)) => {
                let name = Signal::try_from(s)
                    .map_or_else(|_| format!("signal {s}"), |sig| sig.as_str().to_string());
                format!("AH00052: child pid {pid} exit signal {name} ({s})")
            }
            (Some(c), None) => format!("AH00053: child pid {pid} exit status {c}"),
            (None, None) => format!("child pid {pid} exited"),
        };
        self.log
            .log("core", wsgid_log::Level::Notice, Peer::None, &what);
    }

    fn graceful_restart(&self, running: &HashMap<usize, Running>) {
        // Workers re-read the configuration when they start; refuse to
        // replace working workers with ones that would fail.
        if let Err(e) = wsgid_config::load(&self.config, &self.defines) {
            self.log.log(
                "core",
                wsgid_log::Level::Error,
                Peer::None,
                &format!("graceful restart refused: {e}"),
            );
            return;
        }
        self.log.log(
            "mpm_event",
            wsgid_log::Level::Notice,
            Peer::None,
            "AH00493: SIGUSR1 received.  Doing graceful restart",
        );
        // TERM makes a worker stop accepting and finish what it has; its exit
        // is then handled like any other and a fresh worker replaces it.
        for r in running.values() {
            let _ = kill(Pid::from_raw(r.pid), Signal::SIGTERM);
        }
    }

    async fn stop_all(
        &self,
        running: &mut HashMap<usize, Running>,
        rx: &mut mpsc::UnboundedReceiver<Event>,
    ) {
        for r in running.values() {
            let _ = kill(Pid::from_raw(r.pid), Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while !running.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Event::Exited {
                    slot, generation, ..
                })) => {
                    if running
                        .get(&slot)
                        .is_some_and(|r| r.generation == generation)
                    {
                        running.remove(&slot);
                    }
                }
                Ok(Some(Event::Start { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
        for r in running.values() {
            self.log.log(
                "mpm_event",
                wsgid_log::Level::Warn,
                Peer::None,
                &format!(
                    "AH00045: child process {} still did not exit, sending a SIGKILL",
                    r.pid
                ),
            );
            let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
        }
    }
}
