//! The command line, as Apache's `httpd` and mod_wsgi-express spell it.
//!
//! `wsgid -f httpd.conf` serves in the foreground; `-t` checks the
//! configuration; `-D NAME` defines a parameter for `<IfDefine>`; `-V`
//! prints versions; `wsgid start-server app.wsgi` is the one-command start.
//! The hidden `worker` subcommand is how the master starts its worker
//! processes (an exec of this same binary, never a bare fork).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wsgid",
    about = "Serve Python WSGI applications from an Apache/mod_wsgi configuration",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Flags of the plain `wsgid -f FILE` form (Apache's httpd flags).
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// The configuration file (Apache httpd syntax).
    #[arg(short = 'f', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Define a parameter for <IfDefine NAME> (repeatable).
    #[arg(short = 'D', value_name = "NAME")]
    pub defines: Vec<String>,
    /// The initial ServerRoot (httpd's -d): relative paths, the -f file
    /// included, are taken from it unless the file sets ServerRoot.
    #[arg(short = 'd', value_name = "DIR")]
    pub server_root: Option<PathBuf>,
    /// Check the configuration and exit: prints "Syntax OK" or the errors.
    #[arg(short = 't')]
    pub test_config: bool,
    /// Print the wsgid and embedded Python versions and exit.
    #[arg(short = 'V', long = "version")]
    pub show_version: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve one WSGI script with a generated configuration (like mod_wsgi-express).
    StartServer(ExpressArgs),
    /// Internal: a worker process started by the master.
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Internal: a daemon process of a WSGIDaemonProcess group.
    #[command(hide = true)]
    Daemon(DaemonArgs),
}

/// `wsgid start-server SCRIPT` options (names as mod_wsgi-express).
#[derive(Debug, Args, Clone)]
pub struct ExpressArgs {
    /// The WSGI script file to serve at the mount point.
    pub script: PathBuf,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on (default: all interfaces, as mod_wsgi-express).
    #[arg(long)]
    pub host: Option<String>,
    /// Number of worker processes.
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Python request threads per process.
    #[arg(long, default_value_t = 5)]
    pub threads: u32,
    /// URL path where the script is mounted.
    #[arg(long, default_value = "/")]
    pub mount_point: String,
    /// Map a URL prefix to a file or directory (repeatable): --url-alias /static ./static
    #[arg(long, num_args = 2, value_names = ["URL", "PATH"], action = clap::ArgAction::Append)]
    pub url_alias: Vec<String>,
    /// Directory served for URLs the script does not cover.
    #[arg(long)]
    pub document_root: Option<PathBuf>,
    /// Where the generated configuration, logs and pid file go.
    #[arg(long)]
    pub server_root: Option<PathBuf>,
    /// Write the error log (and access log, with --access-log) to the terminal.
    #[arg(long)]
    pub log_to_terminal: bool,
    /// Also write an access log.
    #[arg(long)]
    pub access_log: bool,
    /// LogLevel for the error log.
    #[arg(long, default_value = "warn")]
    pub log_level: String,
    /// Name of the WSGI callable in the script.
    #[arg(long, default_value = "application")]
    pub callable_object: String,
    /// Application group (default: the main interpreter, as mod_wsgi-express).
    #[arg(long, default_value = "%{GLOBAL}")]
    pub application_group: String,
    /// Seconds to wait for a request before giving up (Apache's Timeout).
    #[arg(long, default_value_t = 60)]
    pub socket_timeout: u32,
    /// Largest request body in bytes (0: unlimited).
    #[arg(long, default_value_t = 10_485_760)]
    pub limit_request_body: u64,
    /// Accept chunked request bodies (WSGIChunkedRequest On).
    #[arg(long)]
    pub chunked_request: bool,
    /// Disable reloading of the script when it changes.
    #[arg(long)]
    pub disable_reloading: bool,
    /// Print the generated configuration and exit.
    #[arg(long)]
    pub setup_only: bool,
}

/// Arguments the master passes to a worker it starts.
#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// The configuration file the master loaded.
    #[arg(short = 'f')]
    pub config: PathBuf,
    #[arg(short = 'D')]
    pub defines: Vec<String>,
    /// Worker slot number (0-based), for logs.
    #[arg(long, default_value_t = 0)]
    pub slot: u32,
}

/// Arguments the master passes to a daemon process it starts.
#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// The configuration file the master loaded.
    #[arg(short = 'f')]
    pub config: PathBuf,
    #[arg(short = 'D')]
    pub defines: Vec<String>,
    /// The WSGIDaemonProcess group this process serves.
    #[arg(long)]
    pub group: String,
    /// Process number within the group (0-based), for logs.
    #[arg(long, default_value_t = 0)]
    pub slot: u32,
}

pub fn parse() -> Cli {
    Cli::parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn httpd_style_flags() {
        let cli = Cli::try_parse_from(["wsgid", "-f", "a.conf", "-D", "X", "-D", "Y", "-t"])
            .expect("parse");
        assert!(cli.command.is_none());
        assert_eq!(
            cli.serve.config.as_deref(),
            Some(std::path::Path::new("a.conf"))
        );
        assert_eq!(cli.serve.defines, ["X", "Y"]);
        assert!(cli.serve.test_config);
    }

    #[test]
    fn start_server_options() {
        let cli = Cli::try_parse_from([
            "wsgid",
            "start-server",
            "app.wsgi",
            "--port",
            "9000",
            "--url-alias",
            "/s",
            "st",
            "--url-alias",
            "/t",
            "tt",
            "--setup-only",
        ])
        .expect("parse");
        let Some(Command::StartServer(args)) = cli.command else {
            panic!("not start-server")
        };
        assert_eq!(args.port, 9000);
        assert_eq!(args.url_alias, ["/s", "st", "/t", "tt"]);
        assert!(args.setup_only);
        assert_eq!(args.threads, 5);
    }

    #[test]
    fn flags_and_subcommand_do_not_mix() {
        assert!(Cli::try_parse_from(["wsgid", "-f", "x.conf", "start-server", "a.wsgi"]).is_err());
    }
}
