//! wsgid-log: where log lines go and what they look like.
//!
//! The error log writes Apache 2.4's line format, so that tools (and the
//! conformance oracle) that read an Apache error log read ours:
//!
//! ```text
//! [Wed Nov 25 21:07:57.123456 2026] [wsgi:error] [pid 12:tid 34] [client 127.0.0.1:5555] message
//! ```
//!
//! Times are written in UTC (see the README's compatibility section: Apache
//! uses local time; on a server whose zone is UTC they are the same).
//! This crate only formats and writes lines; deciding *what* to log is the
//! caller's job.  It does not rotate files (use `logrotate` + restart).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// Apache's log levels, most severe first (`LogLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
    Trace(u8),
}

impl Level {
    /// The word Apache prints (`error`, `warn`, `trace3`, ...).
    pub fn name(self) -> String {
        match self {
            Level::Emerg => "emerg".into(),
            Level::Alert => "alert".into(),
            Level::Crit => "crit".into(),
            Level::Error => "error".into(),
            Level::Warn => "warn".into(),
            Level::Notice => "notice".into(),
            Level::Info => "info".into(),
            Level::Debug => "debug".into(),
            Level::Trace(n) => format!("trace{n}"),
        }
    }

    /// Parse a `LogLevel` word (case-insensitive).
    pub fn parse(word: &str) -> Option<Level> {
        let w = word.to_ascii_lowercase();
        Some(match w.as_str() {
            "emerg" => Level::Emerg,
            "alert" => Level::Alert,
            "crit" => Level::Crit,
            "error" => Level::Error,
            "warn" => Level::Warn,
            "notice" => Level::Notice,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => {
                let n: u8 = w.strip_prefix("trace")?.parse().ok()?;
                if !(1..=8).contains(&n) {
                    return None;
                }
                Level::Trace(n)
            }
        })
    }
}

/// How the peer is tagged in a line: Apache core uses `[client A:P]`,
/// mod_wsgi's `wsgi.errors` uses `[remote A:P]`.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    None,
    Client(SocketAddr),
    Remote(SocketAddr),
}

enum Sink {
    Stderr,
    File(File),
}

/// A shared, cheaply cloned handle on one error log (one `ErrorLog` target)
/// with the level filter of the server or virtual host that owns it.
#[derive(Clone)]
pub struct ErrorLog {
    sink: Arc<Mutex<Sink>>,
    level: Level,
    /// Per-module overrides (`LogLevel info wsgi:debug`).
    modules: Arc<Vec<(String, Level)>>,
}

impl std::fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorLog")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl ErrorLog {
    /// An error log writing to standard error.
    pub fn stderr(level: Level) -> ErrorLog {
        ErrorLog {
            sink: Arc::new(Mutex::new(Sink::Stderr)),
            level,
            modules: Arc::default(),
        }
    }

    /// An error log appending to `path` (created if missing).
    pub fn open(path: &Path, level: Level) -> io::Result<ErrorLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ErrorLog {
            sink: Arc::new(Mutex::new(Sink::File(file))),
            level,
            modules: Arc::default(),
        })
    }

    /// The same sink with another level filter (a vhost that shares the
    /// main server's `ErrorLog` but has its own `LogLevel`).
    pub fn with_levels(&self, level: Level, modules: Vec<(String, Level)>) -> ErrorLog {
        ErrorLog {
            sink: Arc::clone(&self.sink),
            level,
            modules: Arc::new(modules),
        }
    }

    /// Whether a line of `level` from `module` would be written.
    pub fn enabled(&self, module: &str, level: Level) -> bool {
        let max = self
            .modules
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(module))
            .map_or(self.level, |(_, l)| *l);
        level <= max
    }

    /// Write one line (or several, one per line of `message`, as mod_wsgi
    /// does for tracebacks) if `level` passes the filter.
    pub fn log(&self, module: &str, level: Level, peer: Peer, message: &str) {
        if !self.enabled(module, level) {
            return;
        }
        let mut out = String::with_capacity(96 + message.len());
        for line in message.split('\n') {
            write_prefix(&mut out, module, level, peer);
            out.push_str(line);
            out.push('\n');
        }
        self.write_raw(out.as_bytes());
    }

    /// Write bytes as they are (used for lines already formatted).
    pub fn write_raw(&self, bytes: &[u8]) {
        let mut sink = match self.sink.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A failing log write has nowhere better to be reported; drop it.
        let _ = match &mut *sink {
            Sink::Stderr => io::stderr().lock().write_all(bytes),
            Sink::File(f) => f.write_all(bytes),
        };
    }
}

fn write_prefix(out: &mut String, module: &str, level: Level, peer: Peer) {
    use std::fmt::Write as _;
    let now = OffsetDateTime::now_utc();
    let tid = thread_id();
    let _ = write!(
        out,
        "[{} {} {:>2} {:02}:{:02}:{:02}.{:06} {}] [{}:{}] [pid {}:tid {}] ",
        weekday(now),
        month(now),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond(),
        now.year(),
        module,
        level.name(),
        std::process::id(),
        tid
    );
    match peer {
        Peer::None => {}
        Peer::Client(a) => {
            let _ = write!(out, "[client {}] ", Apache(a));
        }
        Peer::Remote(a) => {
            let _ = write!(out, "[remote {}] ", Apache(a));
        }
    }
}

/// An address as Apache logs it (`%s:%d` of the client's IP and port): an
/// IPv4-mapped address (a dual-stack listener's IPv4 client) as IPv4, an
/// IPv6 address without brackets.
struct Apache(SocketAddr);

impl std::fmt::Display for Apache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.ip() {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => write!(f, "{v4}:{}", self.0.port()),
                None => write!(f, "{v6}:{}", self.0.port()),
            },
            ip => write!(f, "{ip}:{}", self.0.port()),
        }
    }
}

fn thread_id() -> u64 {
    // The kernel thread id, as `ps -L` and gdb show it.
    u64::try_from(nix_gettid()).unwrap_or(0)
}

fn nix_gettid() -> i64 {
    // libc::gettid is a plain syscall wrapper without preconditions, but
    // calling it still needs `unsafe`; std exposes no thread id that matches
    // the kernel's.  Use the syscall through /proc instead of unsafe code.
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0)
}

fn weekday(t: OffsetDateTime) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [usize::from(t.weekday().number_days_from_monday())]
}

/// English three-letter month name (Apache's `ap_month_snames`).
pub fn month_name(index0: usize) -> &'static str {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][index0 % 12]
}

fn month(t: OffsetDateTime) -> &'static str {
    month_name(usize::from(u8::from(t.month())) - 1)
}

/// The access-log time stamp `%t`: `[25/Nov/2026:21:07:57 +0000]`.
pub fn access_log_time(t: std::time::SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
        t.day(),
        month(t),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An access log file (`CustomLog`): lines are appended whole.
#[derive(Clone)]
pub struct AccessLog {
    sink: Arc<Mutex<Sink>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl AccessLog {
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AccessLog {
            sink: Arc::new(Mutex::new(Sink::File(file))),
        })
    }

    pub fn stderr() -> AccessLog {
        AccessLog {
            sink: Arc::new(Mutex::new(Sink::Stderr)),
        }
    }

    /// Append one line (a newline is added).
    pub fn write_line(&self, line: &str) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let mut sink = match self.sink.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = match &mut *sink {
            Sink::Stderr => io::stderr().lock().write_all(&buf),
            Sink::File(f) => f.write_all(&buf),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_round_trip() {
        for w in [
            "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1",
            "trace8",
        ] {
            assert_eq!(Level::parse(w).map(Level::name).as_deref(), Some(w));
        }
        assert_eq!(Level::parse("trace9"), None);
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn lines_have_apache_shape_and_filter_by_level() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error.log");
        let log = ErrorLog::open(&path, Level::Warn).expect("open");
        let peer = Peer::Remote("127.0.0.1:5555".parse().expect("addr"));
        log.log("wsgi", Level::Error, peer, "RuntimeError: x\nsecond");
        log.log("wsgi", Level::Info, Peer::None, "hidden");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let re = regex_lite(lines[0]);
        assert!(re, "{}", lines[0]);
        assert!(
            lines[0].ends_with("[wsgi:error] [pid ".to_string().as_str())
                || lines[0].contains("] [wsgi:error] [pid ")
        );
        assert!(lines[0].ends_with("[remote 127.0.0.1:5555] RuntimeError: x"));
        assert!(lines[1].ends_with("[remote 127.0.0.1:5555] second"));
    }

    #[test]
    fn peers_are_written_as_apache_writes_them() {
        let shown = |a: &str| Apache(a.parse().expect("addr")).to_string();
        assert_eq!(shown("127.0.0.1:5555"), "127.0.0.1:5555");
        assert_eq!(shown("[::ffff:127.0.0.1]:5555"), "127.0.0.1:5555");
        assert_eq!(shown("[::1]:5555"), "::1:5555");
    }

    fn regex_lite(line: &str) -> bool {
        // "[Www Mmm dd hh:mm:ss.uuuuuu yyyy] "
        let b = line.as_bytes();
        b.first() == Some(&b'[') && line.find("] [").is_some_and(|i| i == 32)
    }
}
