//! Shared helpers for the integration tests: write a configuration (and the
//! WSGI scripts it names) into a fresh temporary directory, start the real
//! `wsgid` binary on a free loopback port in its own process group, talk raw
//! HTTP/1.1 to it, read its logs, and make sure that no process outlives a
//! test (SIGTERM, then SIGKILL of the whole group, on `Drop`).
//!
//! Deliberately not here: any knowledge of what wsgid *should* answer; the
//! expectations (taken from the oracle's goldens) live in the topic modules.
#![allow(dead_code)] // each topic uses a different subset of the helpers

pub mod apps;
pub mod http;
pub mod procs;
mod run;

use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use http::{Conn, Response};
pub use run::{Outcome, run_to_exit, run_to_exit_with};

/// The binary under test: `wsgid`, or the program named by
/// `WSGID_TEST_SUBJECT` (e.g. `tests/apache-shim.sh`, to check the
/// suite's expectations against real Apache + mod_wsgi).
pub fn bin() -> String {
    std::env::var("WSGID_TEST_SUBJECT").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wsgid").to_owned())
}

/// How long a server may take to accept connections after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the master gets to exit after SIGTERM before the group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Written in front of every site configuration (unless `no_prelude`), like
/// the oracle's `prelude.conf.in`.  `@MPM@` is replaced by the process
/// settings (`ServerBuilder::processes`).
const PRELUDE: &str = r#"# ---- test prelude ----
ServerRoot "@DIR@"
Listen 127.0.0.1:@PORT@
ServerName localhost
ServerAdmin webmaster@localhost
PidFile @DIR@/httpd.pid
DefaultRuntimeDir @DIR@
ErrorLog @DIR@/error.log
LogLevel info
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog @DIR@/access.log common
TypesConfig /etc/mime.types
@MPM@
# ---- site ----
"#;

/// A site configuration plus the files it needs, not yet on disk.
///
/// Text (the configuration and every file) may contain `@DIR@` (the test's
/// temporary directory, also the `ServerRoot`) and `@PORT@` (the port).
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    site: String,
    files: Vec<(String, Vec<u8>)>,
    defines: Vec<String>,
    prelude: bool,
    processes: u32,
}

/// Start a server for `site` (with the standard prelude); panics with the
/// server's output if it does not come up.
/// `wsgid -t` refuses each `(line, message)` configuration line: exit 1
/// and the message, on an Apache-style "Syntax error on line N" for it.
pub fn assert_refused_lines(lines: &[(&str, &str)]) {
    for (line, message) in lines {
        let p = server(&format!("{line}\n")).prepare();
        let out = p.config_test();
        assert_eq!(out.code(), Some(1), "{line}: {out:?}");
        assert!(
            out.stderr
                .contains(&format!("Syntax error on line {} of", p.site_line(1)))
                && out.stderr.contains(message),
            "{line}: {}",
            out.stderr
        );
    }
}

pub fn server(site: &str) -> ServerBuilder {
    ServerBuilder {
        site: site.to_owned(),
        files: Vec::new(),
        defines: Vec::new(),
        prelude: true,
        processes: 1,
    }
}

impl ServerBuilder {
    /// Add a file (relative to the test directory); `@DIR@`/`@PORT@` in it are replaced.
    pub fn file(mut self, rel: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((rel.to_owned(), contents.as_ref().to_vec()));
        self
    }

    /// Pass `-D NAME` on the command line.
    pub fn define(mut self, name: &str) -> Self {
        self.defines.push(name.to_owned());
        self
    }

    /// Number of worker processes (`StartServers`/`ServerLimit`), default 1.
    pub fn processes(mut self, n: u32) -> Self {
        self.processes = n;
        self
    }

    /// Use the site text as the whole configuration (it must then `Listen`
    /// on `127.0.0.1:@PORT@` itself).
    pub fn no_prelude(mut self) -> Self {
        self.prelude = false;
        self
    }

    /// Write everything into a fresh temporary directory.
    pub fn prepare(self) -> Prepared {
        let dir = tempfile::Builder::new()
            .prefix("wsgid-it-")
            .tempdir()
            .expect("create a temporary directory");
        let mut p = Prepared {
            dir,
            port: 0,
            conf: PathBuf::new(),
            builder: self,
        };
        p.render(free_port());
        p
    }

    /// Prepare and start; panics (with the server's output) if it fails.
    pub fn start(self) -> TestServer {
        self.prepare().start()
    }
}

/// A configuration written to disk (with a port chosen), ready to be
/// checked with `-t` or started.
#[derive(Debug)]
pub struct Prepared {
    dir: tempfile::TempDir,
    port: u16,
    conf: PathBuf,
    builder: ServerBuilder,
}

impl Prepared {
    fn render(&mut self, port: u16) {
        self.port = port;
        let dir = self
            .dir
            .path()
            .to_str()
            .expect("temporary directory path is UTF-8")
            .to_owned();
        let subst = |s: &str| {
            s.replace("@DIR@", &dir)
                .replace("@PORT@", &port.to_string())
        };
        for (rel, contents) in &self.builder.files {
            let path = self.dir.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .expect("create the parent directory of a test file");
            }
            let bytes = match std::str::from_utf8(contents) {
                Ok(text) => subst(text).into_bytes(),
                Err(_) => contents.clone(),
            };
            std::fs::write(&path, bytes).expect("write a test file");
        }
        let mut text = String::new();
        if self.builder.prelude {
            let n = self.builder.processes.max(1);
            let mpm = format!(
                "StartServers {n}\nServerLimit {n}\nThreadsPerChild 4\nThreadLimit 4\nMaxRequestWorkers {}",
                4 * n
            );
            text.push_str(&PRELUDE.replace("@MPM@", &mpm));
        }
        text.push_str(&self.builder.site);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.conf = self.dir.path().join("httpd.conf");
        std::fs::write(&self.conf, subst(&text)).expect("write httpd.conf");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The configuration file given to `-f`.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The line number in `conf()` of line `n` (1-based) of the site text.
    pub fn site_line(&self, n: usize) -> usize {
        let prelude_lines = if self.builder.prelude {
            self.conf_text()
                .lines()
                .position(|l| l == "# ---- site ----")
                .map_or(0, |i| i + 1)
        } else {
            0
        };
        prelude_lines + n
    }

    pub fn conf_text(&self) -> String {
        std::fs::read_to_string(&self.conf).expect("read httpd.conf back")
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.push("-f".into());
        args.push(self.conf.display().to_string());
        for d in &self.builder.defines {
            args.push("-D".into());
            args.push(d.clone());
        }
        args
    }

    /// `wsgid -t -f CONF [-D ...]`.
    pub fn config_test(&self) -> Outcome {
        run_to_exit(&self.args(&["-t"]), self.dir(), Duration::from_secs(30))
    }

    /// `wsgid -f CONF` when it is expected to fail by itself (bad config).
    pub fn run_expecting_exit(&self) -> Outcome {
        run_to_exit(&self.args(&[]), self.dir(), Duration::from_secs(30))
    }

    /// Start the server and wait until it accepts connections.  A port
    /// that was taken in the meantime is retried with another one.
    pub fn start(mut self) -> TestServer {
        for attempt in 0.. {
            let args = self.args(&[]);
            match TestServer::launch(&args, self.dir(), self.port, self.dir(), &[]) {
                Ok((child, pgid)) => {
                    return TestServer {
                        prepared: Some(self),
                        child: Some(child),
                        pgid,
                        extra_dir: None,
                    };
                }
                Err(failure) => {
                    let in_use = failure.contains("Address already in use");
                    if !in_use || attempt >= 2 {
                        panic!(
                            "wsgid did not start:\n{failure}\n--- config ---\n{}",
                            self.conf_text()
                        );
                    }
                    self.render(free_port());
                }
            }
        }
        unreachable!("the loop returns or panics")
    }
}

/// A free loopback port (the OS picks one; we release it for the server).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral loopback port");
    l.local_addr()
        .expect("local address of the probe listener")
        .port()
}

/// A running `wsgid`; stopped (and its process group killed) on `Drop`.
#[derive(Debug)]
pub struct TestServer {
    prepared: Option<Prepared>,
    child: Option<Child>,
    pgid: i32,
    /// For servers not built from a `Prepared` (start-server): where its output goes.
    extra_dir: Option<(tempfile::TempDir, u16)>,
}

/// What `TestServer::stop` saw.
#[derive(Debug)]
pub struct Stopped {
    /// The master's exit status, or `None` if it had to be killed.
    pub status: Option<ExitStatus>,
    /// Processes still in the group once the master was gone (they were killed).
    pub leftovers: Vec<i32>,
}

impl TestServer {
    /// Spawn `wsgid ARGS` in `cwd` and wait for `port` to accept connections.
    /// On failure, returns a description including the server's output.
    fn launch(
        args: &[String],
        cwd: &Path,
        port: u16,
        out_dir: &Path,
        envs: &[(&str, &str)],
    ) -> Result<(Child, i32), String> {
        let mut child = Command::new(bin())
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out_dir.join("server.out")).expect("create server.out"))
            .stderr(std::fs::File::create(out_dir.join("server.err")).expect("create server.err"))
            .process_group(0)
            .spawn()
            .expect("spawn wsgid");
        let pgid = i32::try_from(child.id()).expect("pid fits i32");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().expect("wait for wsgid") {
                procs::kill_group(pgid);
                return Err(format!("exited early with {st}\n{}", output_tail(out_dir)));
            }
            if TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok((child, pgid));
            }
            if Instant::now() > deadline {
                procs::kill_group(pgid);
                let _ = child.wait();
                return Err(format!(
                    "not listening on port {port} after {STARTUP_TIMEOUT:?}\n{}",
                    output_tail(out_dir)
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Start `wsgid ARGS` (e.g. `start-server ...`) in a fresh temporary
    /// directory and wait for `port`.  `@DIR@` and `@PORT@` in the
    /// arguments are replaced.
    pub fn start_args(args: &[&str], port: u16) -> TestServer {
        TestServer::start_args_with(args, port, None, &[])
    }

    /// `start_args` with another working directory and extra environment
    /// variables for the server.
    pub fn start_args_with(
        args: &[&str],
        port: u16,
        cwd: Option<&Path>,
        envs: &[(&str, &str)],
    ) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("wsgid-it-")
            .tempdir()
            .expect("create a temporary directory");
        let d = dir
            .path()
            .to_str()
            .expect("temporary directory path is UTF-8")
            .to_owned();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("@DIR@", &d).replace("@PORT@", &port.to_string()))
            .collect();
        match TestServer::launch(&args, cwd.unwrap_or(dir.path()), port, dir.path(), envs) {
            Ok((child, pgid)) => TestServer {
                prepared: None,
                child: Some(child),
                pgid,
                extra_dir: Some((dir, port)),
            },
            Err(failure) => panic!("`wsgid {}` did not start:\n{failure}", args.join(" ")),
        }
    }

    pub fn port(&self) -> u16 {
        match (&self.prepared, &self.extra_dir) {
            (Some(p), _) => p.port,
            (None, Some((_, port))) => *port,
            (None, None) => unreachable!("a server has a port"),
        }
    }

    /// The test's temporary directory (`@DIR@`, the `ServerRoot`).
    pub fn dir(&self) -> &Path {
        match (&self.prepared, &self.extra_dir) {
            (Some(p), _) => p.dir(),
            (None, Some((d, _))) => d.path(),
            (None, None) => unreachable!("a server has a directory"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// The master's pid (also the process group id).
    pub fn master_pid(&self) -> i32 {
        self.pgid
    }

    /// Live (non-zombie) processes in the server's process group, master included.
    pub fn pids(&self) -> Vec<i32> {
        procs::group_members(self.pgid)
    }

    /// Live processes of the group other than the master.
    pub fn worker_pids(&self) -> Vec<i32> {
        self.pids()
            .into_iter()
            .filter(|p| *p != self.pgid)
            .collect()
    }

    /// Whether the master is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    // ===== HTTP =====

    /// A new keep-alive capable connection to the server.
    pub fn connect(&self) -> Conn {
        Conn::open(self.port())
    }

    /// Send `raw` on a new connection and read one response (and nothing
    /// after it).  Panics if no response head arrives.
    pub fn request(&self, raw: impl AsRef<[u8]>) -> Response {
        let raw = raw.as_ref();
        let mut c = self.connect();
        c.send(raw);
        c.read_response(raw.starts_with(b"HEAD "))
    }

    /// `GET path` with `Host: localhost:PORT` and `Connection: close`.
    pub fn get(&self, path: &str) -> Response {
        self.request(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            self.port()
        ))
    }

    /// `GET path` with the given extra header lines (each `Name: value`).
    pub fn get_with(&self, path: &str, headers: &[&str]) -> Response {
        let mut raw = format!("GET {path} HTTP/1.1\r\n");
        if !headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("host:"))
        {
            raw.push_str(&format!("Host: localhost:{}\r\n", self.port()));
        }
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("Connection: close\r\n\r\n");
        self.request(raw)
    }

    /// `METHOD path` with a Content-Length body.
    pub fn send_body(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port(),
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.request(raw)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.send_body("POST", path, body)
    }

    // ===== logs =====

    /// A file under the test directory as text ("" if it does not exist).
    pub fn read_file(&self, rel: &str) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.path(rel)) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        s
    }

    pub fn error_log(&self) -> String {
        self.read_file("error.log")
    }

    /// Wait (bounded) until a line of `error.log` contains every one of
    /// `needles`; returns that line.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        self.wait_for_log_in("error.log", needles, timeout)
    }

    /// Like `wait_for_log` for another file under the test directory.
    pub fn wait_for_log_in(
        &self,
        rel: &str,
        needles: &[&str],
        timeout: Duration,
    ) -> Option<String> {
        wait_until(timeout, || {
            self.read_file(rel)
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_owned)
        })
    }

    /// Server stdout + stderr and the end of the error log, for failure messages.
    pub fn diagnostics(&self) -> String {
        output_tail(self.dir())
    }

    // ===== stopping =====

    /// SIGTERM the master, wait (bounded) for it, then kill whatever is
    /// left in its process group and report it.
    pub fn stop(&mut self) -> Stopped {
        let Some(mut child) = self.child.take() else {
            return Stopped {
                status: None,
                leftovers: Vec::new(),
            };
        };
        procs::signal(self.pgid, procs::Sig::Term);
        let status = wait_until(STOP_TIMEOUT, || child.try_wait().ok().flatten());
        // Workers may need a moment after the master to disappear.
        let leftovers = wait_until(Duration::from_secs(3), || {
            let left = procs::group_members(self.pgid);
            left.is_empty().then_some(())
        })
        .map_or_else(|| procs::group_members(self.pgid), |()| Vec::new());
        procs::kill_group(self.pgid);
        if status.is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
        Stopped { status, leftovers }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "--- wsgid diagnostics (test failed) ---\n{}",
                self.diagnostics()
            );
        }
        let stopped = self.stop();
        if !stopped.leftovers.is_empty() {
            eprintln!(
                "wsgid left processes behind after SIGTERM (killed): {:?}",
                stopped.leftovers
            );
        }
    }
}

/// Poll `f` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

fn output_tail(dir: &Path) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}\n--- error.log (tail) ---\n{}",
        tail(&dir.join("server.out"), 4000),
        tail(&dir.join("server.err"), 4000),
        tail(&dir.join("error.log"), 6000)
    )
}
