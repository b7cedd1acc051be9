//! The master's daemon process groups: each group's listening socket,
//! bound by the master (as root, before the front end drops privileges)
//! so that it outlives every process of the group, with its owner and
//! mode, and the environment its processes start with.

use std::cell::RefCell;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use wsgid_log::{ErrorLog, Peer};

use crate::app::AppError;

/// A `WSGIDaemonProcess` group as the master runs it: its listening
/// socket (bound here, as root, so that it outlives every process of the
/// group: connections made while a process restarts wait in its backlog).
pub(super) struct DaemonGroup {
    pub(super) spec: wsgid_config::model::DaemonProcess,
    pub(super) path: PathBuf,
    /// None while the group cannot start (the path is then absent and the
    /// front end answers 503 after `connect-timeout`).
    pub(super) listener: RefCell<Option<UnixListener>>,
    /// After such a failure the socket is bound again under a temporary
    /// name, renamed to `path` once a process reports it started (SIGUSR2).
    pub(super) pending: std::cell::Cell<bool>,
    /// The front end's user, who must be able to connect (root only).
    pub(super) owner: Option<nix::unistd::Uid>,
    /// Environment for the group's processes (`HOME`, `lang`, `locale`,
    /// `stack-size`).
    pub(super) env: Vec<(String, String)>,
}

pub(super) fn daemon_groups(
    cfg: &wsgid_config::ServerConfig,
    log: &ErrorLog,
) -> Result<Vec<DaemonGroup>, AppError> {
    let server = super::privileges::resolve(cfg.user.as_deref(), cfg.group.as_deref())?;
    let mut out = Vec::new();
    for spec in &cfg.wsgi.daemons {
        if let Some(owner) = &spec.script_owner {
            wsgid_http::phases::script_owner::check_configured(owner)
                .map_err(AppError::Privileges)?;
        }
        let path = wsgid_http::daemon_client::socket_of(cfg, spec, std::process::id());
        let owner = match &spec.socket_user {
            Some(u) => super::privileges::resolve(Some(u), None)?.map(|c| c.uid),
            None => server.as_ref().map(|c| c.uid),
        };
        let listener = bind_daemon_socket(&path, spec.listen_backlog, owner).map_err(|e| {
            AppError::io(
                format!(
                    "mod_wsgi (pid={}): Couldn't bind unix domain socket '{}'.",
                    std::process::id(),
                    path.display()
                ),
                e,
            )
        })?;
        let mut env = Vec::new();
        let user = spec.user.as_deref().or(cfg.user.as_deref());
        let home = match super::privileges::resolve(user, None).ok().flatten() {
            Some(c) => nix::unistd::User::from_uid(c.uid).ok().flatten(),
            None => nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten(),
        };
        if let Some(u) = home {
            env.push(("HOME".to_owned(), u.dir.display().to_string()));
        }
        if let Some(lang) = &spec.lang {
            env.push(("LANG".to_owned(), lang.clone()));
        }
        if let Some(locale) = &spec.locale {
            env.push(("LC_ALL".to_owned(), locale.clone()));
        }
        if let Some(stack) = spec.stack_size {
            env.push(("RUST_MIN_STACK".to_owned(), stack.to_string()));
        }
        log.log(
            "wsgi",
            wsgid_log::Level::Debug,
            Peer::None,
            &format!(
                "mod_wsgi (pid={}): Socket for '{}' is '{}'.",
                std::process::id(),
                spec.name,
                path.display()
            ),
        );
        out.push(DaemonGroup {
            spec: spec.clone(),
            path,
            listener: RefCell::new(Some(listener)),
            pending: std::cell::Cell::new(false),
            owner,
            env,
        });
    }
    Ok(out)
}

pub(super) fn pending_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

/// Bind a group's socket: mode 0600, owned by the front end's user.
pub(super) fn bind_daemon_socket(
    path: &Path,
    backlog: u32,
    owner: Option<nix::unistd::Uid>,
) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(uid) = owner {
        nix::unistd::chown(path, Some(uid), None).map_err(std::io::Error::from)?;
    }
    socket.listen(i32::try_from(backlog.max(1)).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}
