//! Running `wsgid` to completion (`-t`, `--setup-only`, a configuration
//! that must fail): exit status and captured output, with a time limit and
//! the process group killed afterwards.
//!
//! Long-running servers are `TestServer`'s job, not this module's.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{bin, procs};

/// What a `wsgid` run that ended by itself produced.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Run `wsgid ARGS` in `cwd` until it exits; kill it (and panic) after `limit`.
pub fn run_to_exit(args: &[String], cwd: &Path, limit: Duration) -> Outcome {
    run_to_exit_with(args, cwd, &[], limit)
}

/// `run_to_exit` with extra environment variables.  Output is captured in
/// anonymous temporary files (nothing is written into `cwd`).
pub fn run_to_exit_with(
    args: &[String],
    cwd: &Path,
    envs: &[(&str, &str)],
    limit: Duration,
) -> Outcome {
    use std::io::{Seek as _, SeekFrom};
    let out = tempfile::tempfile().expect("create stdout capture");
    let err = tempfile::tempfile().expect("create stderr capture");
    let mut child = Command::new(bin())
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone stdout capture"))
        .stderr(err.try_clone().expect("clone stderr capture"))
        .process_group(0)
        .spawn()
        .expect("spawn wsgid");
    let pgid = i32::try_from(child.id()).expect("pid fits i32");
    let read_all = |mut f: &std::fs::File| {
        let mut bytes = Vec::new();
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for wsgid") {
            break st;
        }
        if Instant::now() > deadline {
            procs::kill_group(pgid);
            let _ = child.wait();
            panic!(
                "`wsgid {}` did not exit within {limit:?}; stderr:\n{}",
                args.join(" "),
                read_all(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Nothing it started may stay behind.
    procs::kill_group(pgid);
    Outcome {
        status,
        stdout: read_all(&out),
        stderr: read_all(&err),
    }
}
