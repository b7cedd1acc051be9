//! Binding `Listen` addresses in the master, and handing the sockets to
//! workers (as fds 3.. with `LISTEN_FDS`, the systemd convention, so that
//! the `listenfd` crate adopts them without any unsafe code of ours).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

use command_fds::FdMapping;
use socket2::{Domain, Protocol, Socket, Type};

use crate::app::AppError;

/// First fd number a worker finds its listeners at.
const FIRST_FD: i32 = 3;

/// Bind every `Listen` of the configuration (duplicates bound once).
pub fn bind_all(
    cfg: &wsgid_config::ServerConfig,
    backlog: i32,
) -> Result<Vec<TcpListener>, AppError> {
    let mut seen: Vec<(Option<IpAddr>, u16)> = Vec::new();
    let mut out = Vec::new();
    for listen in &cfg.listen {
        let key = (listen.addr, listen.port);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(bind_one(listen.addr, listen.port, backlog)?);
    }
    if out.is_empty() {
        return Err(AppError::Usage(
            "no listening sockets available, shutting down (add a Listen directive)".into(),
        ));
    }
    Ok(out)
}

fn bind_one(addr: Option<IpAddr>, port: u16, backlog: i32) -> Result<TcpListener, AppError> {
    let result = match addr {
        Some(ip) => bind_socket(SocketAddr::new(ip, port), backlog),
        // `Listen 80`: every address; one dual-stack socket where the host has
        // IPv6, else IPv4 only (what Apache does with its default settings).
        None => bind_socket(
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            backlog,
        )
        .or_else(|_| {
            bind_socket(
                SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port),
                backlog,
            )
        }),
    };
    result.map_err(|e| {
        let shown = addr.map_or_else(|| format!("0.0.0.0:{port}"), |ip| SocketAddr::new(ip, port).to_string());
        AppError::io(
            format!(
                "({}){e}: AH00072: make_sock: could not bind to address {shown}\nno listening sockets available, shutting down",
                e.raw_os_error().unwrap_or(0)
            ),
            e,
        )
    })
}

fn bind_socket(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// What a worker process needs to find its listeners.
pub struct ChildListeners {
    /// Parent fd → child fd (3, 4, ...).
    pub maps: Vec<FdMapping>,
    /// `LISTEN_FDS` and `LISTEN_FDS_FIRST_FD`.
    pub env: Vec<(String, String)>,
}

/// The fd mappings and environment that give a worker its listeners.
pub fn for_child(listeners: &[TcpListener]) -> Result<ChildListeners, AppError> {
    let mut maps = Vec::with_capacity(listeners.len());
    for (i, l) in listeners.iter().enumerate() {
        let fd: OwnedFd = l
            .try_clone()
            .map_err(|e| AppError::io("dup listening socket", e))?
            .into();
        let child_fd = FIRST_FD
            + i32::try_from(i).map_err(|_| AppError::Usage("too many Listen directives".into()))?;
        maps.push(FdMapping {
            parent_fd: fd,
            child_fd,
        });
    }
    let env = vec![
        ("LISTEN_FDS".to_string(), listeners.len().to_string()),
        ("LISTEN_FDS_FIRST_FD".to_string(), FIRST_FD.to_string()),
    ];
    Ok(ChildListeners { maps, env })
}

/// In a worker: adopt the listeners the master passed.
pub fn inherited() -> Result<Vec<TcpListener>, AppError> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::new();
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i) {
            Ok(Some(l)) => out.push(l),
            Ok(None) => {}
            Err(e) => return Err(AppError::io(format!("inherited listener {i}"), e)),
        }
    }
    if out.is_empty() {
        return Err(AppError::Usage(
            "worker started without listening sockets (it is started by the master)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_loopback_port_zero() {
        let l = bind_socket("127.0.0.1:0".parse().expect("addr"), 16).expect("bind");
        assert_ne!(l.local_addr().expect("addr").port(), 0);
    }

    #[test]
    fn address_in_use_is_reported_like_apache() {
        let l = bind_socket("127.0.0.1:0".parse().expect("addr"), 16).expect("bind");
        let port = l.local_addr().expect("addr").port();
        // SO_REUSEADDR does not allow two listeners on one port.
        let err =
            bind_one(Some("127.0.0.1".parse().expect("ip")), port, 16).expect_err("must fail");
        assert!(
            err.to_string()
                .contains("could not bind to address 127.0.0.1:"),
            "{err}"
        );
    }
}
