//! Binding `Listen` addresses in the master, and handing the sockets to
//! workers (as fds 3.. with `LISTEN_FDS`, the systemd convention, so that
//! the `listenfd` crate adopts them without any unsafe code of ours).
//!
//! With several worker processes, each `Listen` address is one
//! `SO_REUSEPORT` group with a socket per worker slot (Apache's
//! `ListenCoresBucketsRatio` buckets): the kernel spreads new connections
//! evenly over the workers.  With one shared socket, the first worker to
//! wake takes every connection waiting in the queue; under a burst of
//! connects on a busy core that was 49 of 50 connections in one process
//! and none in the other, and the busy one's queueing showed in the tail
//! latency.  The master keeps every socket open, so a worker that dies or
//! restarts finds the connections queued for it when it comes back.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

use command_fds::FdMapping;
use socket2::{Domain, Protocol, Socket, Type};

use crate::app::AppError;

/// First fd number a worker finds its listeners at.
const FIRST_FD: i32 = 3;

/// The listening sockets of each worker slot: `per_slot[i]` has one socket
/// per `Listen` address, in configuration order.
pub struct Listeners {
    per_slot: Vec<Vec<TcpListener>>,
}

impl Listeners {
    /// The sockets worker `slot` serves (slot numbers beyond those bound
    /// share the last slot's sockets).
    pub fn of_slot(&self, slot: usize) -> &[TcpListener] {
        let last = self.per_slot.len().saturating_sub(1);
        self.per_slot.get(slot.min(last)).map_or(&[], Vec::as_slice)
    }
}

/// Bind every `Listen` of the configuration (duplicates bound once), one
/// socket per worker slot when there are several workers.
pub fn bind_all(
    cfg: &wsgid_config::ServerConfig,
    backlog: i32,
    workers: usize,
) -> Result<Listeners, AppError> {
    let mut seen: Vec<(Option<IpAddr>, u16)> = Vec::new();
    let mut per_slot: Vec<Vec<TcpListener>> = (0..workers.max(1)).map(|_| Vec::new()).collect();
    for listen in &cfg.listen {
        let key = (listen.addr, listen.port);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let group = bind_group(listen.addr, listen.port, backlog, per_slot.len())?;
        for (slot, socket) in per_slot.iter_mut().zip(group) {
            slot.push(socket);
        }
    }
    if per_slot[0].is_empty() {
        return Err(AppError::Usage(
            "no listening sockets available, shutting down (add a Listen directive)".into(),
        ));
    }
    Ok(Listeners { per_slot })
}

/// `n` sockets on one address: a plain socket for one, else a reuseport
/// group.  The address is first bound without `SO_REUSEPORT`, so that a
/// port some other server (even another wsgid) holds is an error as
/// Apache reports it, never a silent share.
fn bind_group(
    addr: Option<IpAddr>,
    port: u16,
    backlog: i32,
    n: usize,
) -> Result<Vec<TcpListener>, AppError> {
    let first = bind_one(addr, port, backlog, false)?;
    if n <= 1 {
        return Ok(vec![first]);
    }
    // The address as bound (port 0 picks one; `Listen 80` may have fallen
    // back to IPv4).
    let bound = first
        .local_addr()
        .map_err(|e| AppError::io("listening socket address", e))?;
    drop(first);
    (0..n)
        .map(|_| {
            bind_socket(bound, backlog, true).map_err(|e| {
                AppError::io(
                    format!("AH00072: make_sock: could not bind to address {bound} (SO_REUSEPORT)"),
                    e,
                )
            })
        })
        .collect()
}

fn bind_one(
    addr: Option<IpAddr>,
    port: u16,
    backlog: i32,
    reuse_port: bool,
) -> Result<TcpListener, AppError> {
    let bind_socket = |a, b| bind_socket(a, b, reuse_port);
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

fn bind_socket(addr: SocketAddr, backlog: i32, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
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
        let l = bind_socket("127.0.0.1:0".parse().expect("addr"), 16, false).expect("bind");
        assert_ne!(l.local_addr().expect("addr").port(), 0);
    }

    #[test]
    fn several_workers_get_one_socket_each_on_the_same_port() {
        // Each socket's backlog holds every client: SO_REUSEPORT spreads
        // connections by a hash, not evenly, and a socket whose backlog
        // filled up would leave `connect` retrying its SYN for minutes
        // (nothing accepts until all clients connected).
        let group = bind_group(Some("127.0.0.1".parse().expect("ip")), 0, 64, 3).expect("bind");
        assert_eq!(group.len(), 3);
        let port = group[0].local_addr().expect("addr").port();
        assert!(
            group
                .iter()
                .all(|l| l.local_addr().expect("addr").port() == port)
        );
        // Connections are spread over the group: every one is accepted by
        // exactly one of the sockets.
        let clients: Vec<_> = (0..30)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        let mut accepted = 0;
        for l in &group {
            l.set_nonblocking(true).expect("nonblocking");
            while l.accept().is_ok() {
                accepted += 1;
            }
        }
        assert_eq!(accepted, clients.len());
    }

    #[test]
    fn a_port_held_by_another_reuseport_group_is_still_in_use() {
        let group = bind_group(Some("127.0.0.1".parse().expect("ip")), 0, 16, 2).expect("bind");
        let port = group[0].local_addr().expect("addr").port();
        let err =
            bind_group(Some("127.0.0.1".parse().expect("ip")), port, 16, 2).expect_err("must fail");
        assert!(
            err.to_string().contains("could not bind to address"),
            "{err}"
        );
    }

    #[test]
    fn address_in_use_is_reported_like_apache() {
        let l = bind_socket("127.0.0.1:0".parse().expect("addr"), 16, false).expect("bind");
        let port = l.local_addr().expect("addr").port();
        // SO_REUSEADDR does not allow two listeners on one port.
        let err = bind_one(Some("127.0.0.1".parse().expect("ip")), port, 16, false)
            .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("could not bind to address 127.0.0.1:"),
            "{err}"
        );
    }
}
