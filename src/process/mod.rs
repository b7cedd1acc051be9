//! The process model of embedded mode, as Apache's MPM does it: a master that
//! binds the listening sockets, writes the pid file and supervises worker
//! processes; workers that share those sockets, drop privileges, host
//! Python and serve HTTP.  Workers are started by exec'ing this binary with
//! the hidden `worker` subcommand (never a bare fork after threads exist),
//! the sockets handed over by the systemd socket-activation convention.

pub mod daemon;
mod daemon_groups;
pub mod listeners;
pub mod master;
pub mod piped_logs;
pub mod privileges;
pub mod supervisor;
pub mod worker;
