//! Piped logs (`ErrorLog "|/usr/bin/rotatelogs …"`, `CustomLog "|$cmd" fmt`):
//! the master runs each program once, as Apache's parent does
//! (`ap_open_piped_log_ex`), with the privileges it was started with, and
//! starts it again when it dies (`piped_log_maintenance`, AH00106).
//!
//! The programs read from named pipes (`RUNTIME/wsgid.PID.log.N`), which
//! every process opens for writing like a log file while it still has the
//! privileges to: no descriptor passing, and a line written whole (at most
//! `PIPE_BUF` bytes) is never mixed with another process's.  The master
//! keeps each pipe open for reading and writing, so that writers never see
//! it closed while its program restarts (lines wait in the pipe); at
//! shutdown it lets go, the programs see the end of their input after the
//! last process closed its end, and any still running after a grace period
//! are terminated, as Apache's pool cleanup does.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::sys::stat::Mode;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wsgid_config::model::PipedLog;
use wsgid_http::PipedLogs;

use crate::app::AppError;

/// The variable that tells children the pipes' prefix.
pub const ENV: &str = "WSGID_PIPED_LOGS";

/// A program that dies right away is started again after this pause, not
/// in a tight loop.
const RESPAWN_PAUSE: Duration = Duration::from_secs(1);

/// How long the programs get to finish their input at shutdown.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// In a worker or daemon process: the pipes the master made, if the
/// configuration has piped logs.
pub fn inherited(cfg: &wsgid_config::ServerConfig) -> Option<PipedLogs> {
    let programs = cfg.piped_logs();
    if programs.is_empty() {
        return None;
    }
    let prefix = std::env::var_os(ENV)?;
    Some(PipedLogs {
        programs,
        prefix: PathBuf::from(prefix),
    })
}

/// The master's piped log programs.
pub struct Programs {
    pub logs: PipedLogs,
    /// Each pipe held open for reading and writing.
    held: Vec<OwnedFd>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Programs {
    /// Make the pipes and start the programs (inside the master's tokio
    /// runtime).  None without piped logs.
    pub fn start(cfg: &wsgid_config::ServerConfig) -> Result<Option<Programs>, AppError> {
        let programs = cfg.piped_logs();
        if programs.is_empty() {
            return Ok(None);
        }
        let mut prefix = cfg.runtime_dir.clone().into_os_string();
        prefix.push(format!("/wsgid.{}.log", std::process::id()));
        let logs = PipedLogs {
            programs,
            prefix: PathBuf::from(prefix),
        };
        let (stop, _) = watch::channel(false);
        let mut out = Programs {
            logs,
            held: Vec::new(),
            stop,
            tasks: Vec::new(),
        };
        for program in out.logs.programs.clone() {
            let path = out
                .logs
                .path(&program)
                .ok_or_else(|| AppError::Usage("piped log without a pipe".into()))?;
            let _ = std::fs::remove_file(&path);
            nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(|e| {
                AppError::io(format!("cannot make the pipe {}", path.display()), e.into())
            })?;
            let held = open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| AppError::io(format!("cannot open {}", path.display()), e.into()))?;
            out.held.push(held);
            let child = spawn(&program, &path).map_err(|e| {
                AppError::io(
                    format!(
                        "AH00104: unable to start piped log program '{}'",
                        program.command
                    ),
                    e,
                )
            })?;
            let stop = out.stop.subscribe();
            out.tasks
                .push(tokio::spawn(keep_running(program, path, child, stop)));
        }
        Ok(Some(out))
    }

    /// Let go of the pipes, give the programs `STOP_GRACE` to finish, then
    /// terminate them and remove the pipes.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        drop(self.held);
        for task in self.tasks {
            let _ = task.await;
        }
        for program in &self.logs.programs {
            if let Some(path) = self.logs.path(program) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Run `program` with the pipe at `path` as its standard input.
fn spawn(program: &PipedLog, path: &Path) -> std::io::Result<tokio::process::Child> {
    // A reader's open would wait for a writer without O_NONBLOCK (the
    // master's own is one); the program then reads in blocking mode.
    let input = open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    fcntl(&input, FcntlArg::F_SETFL(OFlag::empty()))?;
    let mut cmd = if program.shell {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(&program.command);
        c
    } else {
        let words = split_words(&program.command);
        let Some((first, rest)) = words.split_first() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty piped log command",
            ));
        };
        let mut c = tokio::process::Command::new(first);
        c.args(rest);
        c
    };
    cmd.stdin(std::process::Stdio::from(input)).spawn()
}

/// Keep `program` running until the master stops.
async fn keep_running(
    program: PipedLog,
    path: PathBuf,
    mut child: tokio::process::Child,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = child.wait() => {}
            _ = stop.changed() => {
                // The program sees the end of its input once every process
                // has closed the pipe; then it is told to go.
                if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                return;
            }
        }
        if *stop.borrow() {
            return;
        }
        eprintln!(
            "AH00106: piped log program '{}' failed unexpectedly",
            program.command
        );
        loop {
            tokio::select! {
                () = tokio::time::sleep(RESPAWN_PAUSE) => {}
                _ = stop.changed() => return,
            }
            match spawn(&program, &path) {
                Ok(c) => {
                    child = c;
                    break;
                }
                Err(e) => eprintln!(
                    "AH00107: piped_log_maintenance: unable to respawn '{}': {e}",
                    program.command
                ),
            }
        }
    }
}

/// `apr_tokenize_to_argv`: words separated by blanks, `"…"` and `'…'`
/// quoting, `\` escaping the next character.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, c) => word.push(c),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn commands_split_as_apr_does() {
        assert_eq!(
            split_words("/usr/bin/rotatelogs  /var/log/a.%Y 86400"),
            ["/usr/bin/rotatelogs", "/var/log/a.%Y", "86400"]
        );
        assert_eq!(
            split_words(r#"/bin/prog "two words" 'and more' a\ b"#),
            ["/bin/prog", "two words", "and more", "a b"]
        );
        assert!(split_words("   ").is_empty());
    }
}
