//! Wires the pieces together: configuration → master (listeners, pid file,
//! supervised workers) or worker (logs, privileges, Python host, front end).
//!
//! Owns the mapping from a command line to what runs and the error type that
//! reaches `main`.  It does not parse configuration or HTTP itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{Cli, Command, ServeArgs};
use crate::{express, process};

/// Anything that stops wsgid from starting or makes it exit with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Printed as Apache prints it (`AH00526: Syntax error on line N of FILE: ...`).
    #[error(transparent)]
    Config(#[from] wsgid_config::ConfigError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Python(#[from] wsgid_python::PythonError),
    #[error(transparent)]
    Http(#[from] wsgid_http::HttpError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Privileges(String),
}

impl AppError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> AppError {
        AppError::Io {
            context: context.into(),
            source,
        }
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, AppError> {
    match cli.command {
        Some(Command::Worker(args)) => process::worker::run(&args),
        Some(Command::Daemon(args)) => process::daemon::run(&args),
        Some(Command::StartServer(args)) => {
            let generated = express::generate(&args)?;
            if args.setup_only {
                print!("{}", generated.text);
                return Ok(ExitCode::SUCCESS);
            }
            let path = generated.write()?;
            serve(&path, &[])
        }
        None => run_httpd_style(&cli.serve),
    }
}

fn run_httpd_style(args: &ServeArgs) -> Result<ExitCode, AppError> {
    if args.show_version {
        println!(
            "Server version: wsgid/{} (mod_wsgi 4.9.4 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        println!("{}", wsgid_python::PythonHost::runtime_version());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(path) = args.config.as_deref() else {
        return Err(AppError::Usage(
            "no configuration file: use `wsgid -f httpd.conf` or `wsgid start-server app.wsgi`"
                .into(),
        ));
    };
    // httpd's -d: the default ServerRoot, which is the working directory
    // when the file does not set one, for this process and the workers
    // and daemon processes it starts (they inherit it).
    if let Some(root) = &args.server_root {
        std::env::set_current_dir(root).map_err(|e| {
            AppError::io(
                format!("ServerRoot must be a valid directory: {}", root.display()),
                e,
            )
        })?;
    }
    let path = absolute(path)?;
    if args.test_config {
        return Ok(match wsgid_config::load(&path, &args.defines) {
            Ok(cfg) => {
                print_warnings(&cfg);
                eprintln!("Syntax OK");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        });
    }
    serve(&path, &args.defines)
}

fn serve(path: &Path, defines: &[String]) -> Result<ExitCode, AppError> {
    let cfg = wsgid_config::load(path, defines)?;
    print_warnings(&cfg);
    process::master::run(cfg, path, defines)
}

/// The configuration's warnings on stderr, as Apache prints them while it
/// reads its configuration (before any error log is open): most as bare
/// text (logged with `APLOG_STARTUP`), the undefined-variable and
/// LimitInternalRecursion ones as whole log lines.  Only the master (and `-t`) prints them; workers and
/// daemon processes read the same file again silently.
fn print_warnings(cfg: &wsgid_config::ServerConfig) {
    let log = wsgid_log::ErrorLog::stderr(wsgid_log::Level::Warn);
    for (warning, _) in &cfg.warnings {
        if ["AH00111:", "AH00119:", "AH00120:"]
            .iter()
            .any(|id| warning.starts_with(id))
        {
            log.log(
                "core",
                wsgid_log::Level::Warn,
                wsgid_log::Peer::None,
                warning,
            );
        } else {
            eprintln!("{warning}");
        }
    }
}

/// Workers re-read the file by path after `chdir`, so make it absolute now.
fn absolute(path: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(path)
        .map_err(|e| AppError::io(format!("cannot resolve {}", path.display()), e))
}
