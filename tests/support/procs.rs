//! Processes of a server under test, seen through `/proc`: who is in its
//! process group, and signals to one process or to the whole group.
//!
//! Only ever touches the process group the test itself created (the
//! master's pid is its id); never looks processes up by name.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The signals the tests send.
#[derive(Debug, Clone, Copy)]
pub enum Sig {
    Term,
    Kill,
}

impl Sig {
    fn nix(self) -> Signal {
        match self {
            Sig::Term => Signal::SIGTERM,
            Sig::Kill => Signal::SIGKILL,
        }
    }
}

/// Send `sig` to one process; false if it does not exist any more.
pub fn signal(pid: i32, sig: Sig) -> bool {
    kill(Pid::from_raw(pid), sig.nix()).is_ok()
}

/// SIGKILL every process of group `pgid`, if the group still has members.
/// (Checking first avoids signalling a group id that was never ours.)
pub fn kill_group(pgid: i32) {
    if !group_members(pgid).is_empty() {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// `(state, ppid, pgrp)` of a process from `/proc/PID/stat`.
pub fn stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ..." — comm may contain spaces and ')'.
    let after = &text[text.rfind(')')? + 1..];
    let mut it = after.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    let pgrp = it.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Live (not zombie, not dead) processes whose process group is `pgid`, sorted.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(stat(*pid), Some((state, _, pgrp)) if pgrp == pgid && state != 'Z' && state != 'X'))
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether `pid` is alive (exists and is not a zombie).
pub fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _, _)) if state != 'Z' && state != 'X')
}
