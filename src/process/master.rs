//! The master process: binds the listeners, writes the `PidFile`, starts the
//! worker processes and keeps them running; owns the signals.
//!
//! Signals (as Apache's): TERM and INT stop the server (workers get TERM and
//! finish their requests, then KILL after a grace period); HUP and USR1
//! restart the workers gracefully, after checking that the configuration
//! still loads (a broken configuration is logged and the old workers stay).

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use command_fds::CommandFdExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use wsgid_log::{ErrorLog, Peer};

use super::daemon_groups::{DaemonGroup, bind_daemon_socket, daemon_groups, pending_path};
use super::supervisor::{Decision, EXIT_FATAL, SlotHistory, worker_count};
use super::{listeners, piped_logs, worker};
use crate::app::AppError;

/// How the children are asked to stop.
#[derive(Clone, Copy)]
enum StopHow {
    /// TERM: requests in progress get the workers' short grace.
    Now,
    /// `apachectl graceful-stop` (WINCH): they get GracefulShutdownTimeout
    /// (None: as long as they take).
    Graceful(Option<Duration>),
}

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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::io("cannot start the master's event loop", e))?;
    // Piped log programs first: the master's own lines go to them too.
    let programs = {
        let _in_runtime = rt.enter();
        piped_logs::Programs::start(&cfg)?
    };
    let pipes = programs.as_ref().map(|p| p.logs.clone());
    let log = worker::open_main_error_log(&cfg, pipes.clone())?;
    let count = worker_count(&cfg.mpm) as usize;
    let listeners = listeners::bind_all(&cfg, BACKLOG, count)?;
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
    let daemons = daemon_groups(&cfg, &log)?;
    let mut slots = vec![SlotKind::Worker; count];
    for (g, d) in daemons.iter().enumerate() {
        for n in 0..d.spec.processes {
            slots.push(SlotKind::Daemon { group: g, n });
        }
    }
    let master = Master {
        config: config_path.to_path_buf(),
        defines: defines.to_vec(),
        listeners: RefCell::new(Some(listeners)),
        log: log.clone(),
        daemons,
        slots,
        pipes,
        graceful_shutdown_timeout: cfg.mpm.graceful_shutdown_timeout,
    };
    let result = rt.block_on(master.supervise());
    if let Some(programs) = programs {
        rt.block_on(programs.stop());
    }
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    for d in &master.daemons {
        let _ = std::fs::remove_file(&d.path);
        let _ = std::fs::remove_file(pending_path(&d.path));
    }
    result
}

/// The master's argv[0] as it was started (`wsgid`, `/usr/local/bin/wsgid`),
/// which workers and daemon processes show too, as Apache's children show
/// httpd's.
fn server_argv0() -> std::ffi::OsString {
    std::env::args_os().next().unwrap_or_else(|| "wsgid".into())
}

/// What runs in a supervised slot.
#[derive(Clone, Copy, Debug)]
enum SlotKind {
    /// An embedded-mode worker (front end).
    Worker,
    /// Process `n` of daemon group `group` (index into `Master::daemons`).
    Daemon { group: usize, n: u32 },
}

struct Master {
    config: PathBuf,
    defines: Vec<String>,
    /// Taken (closed) when the server stops: new connections are then
    /// refused instead of waiting in a queue nobody serves.
    listeners: RefCell<Option<listeners::Listeners>>,
    log: ErrorLog,
    daemons: Vec<DaemonGroup>,
    slots: Vec<SlotKind>,
    /// The piped logs' pipes, for the children to open.
    pipes: Option<wsgid_http::PipedLogs>,
    /// `GracefulShutdownTimeout` (seconds; 0: no limit).
    graceful_shutdown_timeout: u64,
}

impl Master {
    async fn supervise(&self) -> Result<ExitCode, AppError> {
        let count = self.slots.len();
        let sig = |k| signal(k).map_err(|e| AppError::io("cannot install signal handlers", e));
        let (mut term, mut int, mut hup, mut usr1, mut usr2) = (
            sig(SignalKind::terminate())?,
            sig(SignalKind::interrupt())?,
            sig(SignalKind::hangup())?,
            sig(SignalKind::user_defined1())?,
            sig(SignalKind::user_defined2())?,
        );
        let mut winch = sig(SignalKind::window_change())?;
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
                _ = winch.recv() => {
                    // `apachectl graceful-stop`: requests in progress are
                    // finished, for up to GracefulShutdownTimeout.
                    self.log.log(
                        "mpm_event",
                        wsgid_log::Level::Notice,
                        Peer::None,
                        "AH00492: caught SIGWINCH, shutting down gracefully",
                    );
                    let limit = match self.graceful_shutdown_timeout {
                        0 => None,
                        secs => Some(Duration::from_secs(secs)),
                    };
                    self.stop_all(&mut running, &mut rx, StopHow::Graceful(limit)).await;
                    return Ok(ExitCode::SUCCESS);
                }
                _ = hup.recv() => self.graceful_restart(&running),
                _ = usr1.recv() => self.graceful_restart(&running),
                _ = usr2.recv() => self.daemon_ready(&running),
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
                        let decision = match self.slots[slot] {
                            SlotKind::Worker => {
                                // A clean exit is not news (Apache logs
                                // none for a recycled child either).
                                if code != Some(0) {
                                    self.log_exit(pid, code, signal);
                                }
                                match code {
                                    // A worker exits 0 only when recycled
                                    // (MaxConnectionsPerChild): replace it
                                    // at once.
                                    Some(0) => Decision::Restart(Duration::ZERO),
                                    _ => history[slot].on_exit(uptime, code),
                                }
                            }
                            SlotKind::Daemon { group, .. } => {
                                self.daemon_exited(group, pid, code, signal, &running);
                                match code {
                                    // A planned recycle: restart at once.
                                    Some(0) => Decision::Restart(Duration::ZERO),
                                    // Never stop the server for a daemon.
                                    Some(EXIT_FATAL) => history[slot].on_exit(uptime, Some(1)),
                                    _ => history[slot].on_exit(uptime, code),
                                }
                            }
                        };
                        match decision {
                            Decision::Shutdown => {
                                self.log.log("mpm_event", wsgid_log::Level::Alert, Peer::None,
                                    &format!("AH00050: Child {pid} returned a Fatal error... wsgid is exiting!"));
                                self.stop_all(&mut running, &mut rx, StopHow::Now).await;
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
        self.stop_all(&mut running, &mut rx, StopHow::Now).await;
        Ok(exit)
    }

    /// Log a daemon process's exit; when it could not start and no other
    /// process of its group runs, take the group's socket away so that
    /// the front end answers 503 instead of waiting.
    fn daemon_exited(
        &self,
        group: usize,
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
        running: &HashMap<usize, Running>,
    ) {
        let Some(d) = self.daemons.get(group) else {
            return;
        };
        let name = &d.spec.name;
        let me = std::process::id();
        let line = match (code, signal) {
            (_, Some(s)) => format!(
                "mod_wsgi (pid={me}): Process '{name}' (pid={pid}) has died (signal {s}), deregister and restart it."
            ),
            (Some(0), None) => format!(
                "mod_wsgi (pid={me}): Process '{name}' (pid={pid}) has stopped, restarting it."
            ),
            (Some(c), None) => format!(
                "mod_wsgi (pid={me}): Process '{name}' (pid={pid}) has died (exit status {c}), deregister and restart it."
            ),
            (None, None) => format!("mod_wsgi (pid={me}): Process '{name}' (pid={pid}) has died."),
        };
        let level = if code == Some(0) {
            wsgid_log::Level::Info
        } else {
            wsgid_log::Level::Error
        };
        self.log.log("wsgi", level, Peer::None, &line);
        let others = running.keys().any(|s| {
            matches!(self.slots.get(*s), Some(SlotKind::Daemon { group: g, .. }) if *g == group)
        });
        if code == Some(EXIT_FATAL) && !others && d.listener.borrow_mut().take().is_some() {
            let _ = std::fs::remove_file(&d.path);
            let _ = std::fs::remove_file(pending_path(&d.path));
            d.pending.set(false);
        }
    }

    /// A daemon process reported that it started (SIGUSR2): a group whose
    /// socket waits under its temporary name gets its real one.
    fn daemon_ready(&self, running: &HashMap<usize, Running>) {
        for (g, d) in self.daemons.iter().enumerate() {
            let live = running.keys().any(|s| {
                matches!(self.slots.get(*s), Some(SlotKind::Daemon { group, .. }) if *group == g)
            });
            if d.pending.get() && live && std::fs::rename(pending_path(&d.path), &d.path).is_ok() {
                d.pending.set(false);
            }
        }
    }

    fn spawn(
        &self,
        slot: usize,
        generation: u64,
        tx: &mpsc::UnboundedSender<Event>,
    ) -> Result<Running, AppError> {
        let cmd = match self.slots[slot] {
            SlotKind::Worker => self.worker_command(slot)?,
            SlotKind::Daemon { group, n } => self.daemon_command(group, n)?,
        };
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

    /// `/proc/self/exe daemon -f CONF --group NAME`, argv[0] the group's
    /// `display-name`, its socket as fd 3.
    fn daemon_command(&self, group: usize, n: u32) -> Result<std::process::Command, AppError> {
        let d = &self.daemons[group];
        if d.listener.borrow().is_none() {
            // The group failed to start before: bind its socket again, out
            // of the front end's sight until a process starts.
            let tmp = pending_path(&d.path);
            let l = bind_daemon_socket(&tmp, d.spec.listen_backlog, d.owner)
                .map_err(|e| AppError::io(format!("cannot bind {}", tmp.display()), e))?;
            *d.listener.borrow_mut() = Some(l);
            d.pending.set(true);
        }
        let fd: std::os::fd::OwnedFd = d
            .listener
            .borrow()
            .as_ref()
            .map(UnixListener::try_clone)
            .transpose()
            .map_err(|e| AppError::io("dup daemon socket", e))?
            .ok_or_else(|| AppError::Usage("daemon socket missing".into()))?
            .into();
        let mut cmd = std::process::Command::new("/proc/self/exe");
        // Without display-name a mod_wsgi daemon shows the server's own
        // argv[0] (a fork of httpd); here, the master's.
        match &d.spec.display_name {
            Some(name) => std::os::unix::process::CommandExt::arg0(&mut cmd, name),
            None => std::os::unix::process::CommandExt::arg0(&mut cmd, server_argv0()),
        };
        cmd.arg("daemon")
            .arg("-f")
            .arg(&self.config)
            .arg("--group")
            .arg(&d.spec.name)
            .arg("--slot")
            .arg(n.to_string());
        for def in &self.defines {
            cmd.arg("-D").arg(def);
        }
        if let Some(p) = &self.pipes {
            cmd.env(piped_logs::ENV, &p.prefix);
        }
        cmd.env("LISTEN_FDS", "1")
            .env("LISTEN_FDS_FIRST_FD", "3")
            .env_remove("LISTEN_PID")
            .envs(d.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null());
        cmd.fd_mappings(vec![command_fds::FdMapping {
            parent_fd: fd,
            child_fd: 3,
        }])
        .map_err(|e| AppError::Usage(format!("daemon socket fd mapping: {e}")))?;
        Ok(cmd)
    }

    fn worker_command(&self, slot: usize) -> Result<std::process::Command, AppError> {
        let listeners::ChildListeners { maps, env } = listeners::for_child(
            self.listeners
                .borrow()
                .as_ref()
                .ok_or_else(|| AppError::Usage("the server is stopping".into()))?
                .of_slot(slot),
        )?;
        // /proc/self/exe rather than argv[0]: replacing the binary on disk
        // while the server runs is then safe, and PATH does not matter.
        let mut cmd = std::process::Command::new("/proc/self/exe");
        // What `ps` shows for the worker (argv[0] would otherwise be the
        // /proc path).
        std::os::unix::process::CommandExt::arg0(&mut cmd, server_argv0());
        cmd.arg("worker")
            .arg("-f")
            .arg(&self.config)
            .arg("--slot")
            .arg(slot.to_string());
        for d in &self.defines {
            cmd.arg("-D").arg(d);
        }
        if let Some(p) = &self.pipes {
            cmd.env(piped_logs::ENV, &p.prefix);
        }
        cmd.envs(env)
            .env_remove("LISTEN_PID")
            .stdin(std::process::Stdio::null());
        cmd.fd_mappings(maps)
            .map_err(|e| AppError::Usage(format!("listener fd mapping: {e}")))?;
        Ok(cmd)
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

    /// Ask every child to stop (a worker stops accepting and finishes
    /// what it has), wait for them, then kill what is left.
    async fn stop_all(
        &self,
        running: &mut HashMap<usize, Running>,
        rx: &mut mpsc::UnboundedReceiver<Event>,
        how: StopHow,
    ) {
        self.listeners.borrow_mut().take();
        // A graceful stop tells workers with WINCH, which gives their
        // requests GracefulShutdownTimeout; daemon processes stop as their
        // shutdown-timeout says.
        for (slot, r) in running.iter() {
            let sig = match (how, self.slots[*slot]) {
                (StopHow::Graceful(_), SlotKind::Worker) => Signal::SIGWINCH,
                _ => Signal::SIGTERM,
            };
            let _ = kill(Pid::from_raw(r.pid), sig);
        }
        // The children's own limit, and time for them to exit after it.
        let grace = match how {
            StopHow::Now => Some(STOP_GRACE),
            StopHow::Graceful(limit) => limit.map(|l| l + STOP_GRACE),
        };
        // Without a limit: a day at a time, until all have gone.
        let limit = grace.unwrap_or(Duration::from_secs(86_400));
        let mut deadline = tokio::time::Instant::now() + limit;
        while !running.is_empty() {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            if next.is_err() && grace.is_none() {
                deadline = tokio::time::Instant::now() + limit;
                continue;
            }
            match next {
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
