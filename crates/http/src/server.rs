//! Serving connections: the accept loops over the listening sockets, one
//! connection task per client (`conn/`: our HTTP/1.1 loop) and graceful
//! shutdown.  Each request then goes through `driver` (the phases and the
//! response they pick).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use wsgid_log::{Level, Peer};

use crate::conn::stopped;
use crate::frontend::{FrontEnd, HttpError};
use crate::request::ConnInfo;

/// How long in-flight requests may run after shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after an accept error (out of descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    listener_host: Arc<str>,
}

impl FrontEnd {
    /// Serve on already-bound listeners until `shutdown` resolves, or until
    /// `MaxConnectionsPerChild` connections were accepted (the process is
    /// then recycled: the master starts another in its place); then stop
    /// accepting and let in-flight requests finish, for at most the time
    /// `shutdown` gave (None: as long as they take; a recycled process
    /// [`SHUTDOWN_GRACE`]).
    pub async fn serve(
        self: Arc<Self>,
        listeners: Vec<std::net::TcpListener>,
        shutdown: impl Future<Output = Option<Duration>>,
    ) -> Result<(), HttpError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (conn_tx, mut conn_rx) = mpsc::channel::<Accepted>(64);
        let mut acceptors = JoinSet::new();
        for std_listener in listeners {
            std_listener
                .set_nonblocking(true)
                .map_err(HttpError::Listener)?;
            let listener = TcpListener::from_std(std_listener).map_err(HttpError::Listener)?;
            let local = listener.local_addr().map_err(HttpError::Listener)?;
            // `mod_wsgi.listener_host` is the address as configured: empty
            // for a wildcard `Listen 80`.
            let host: Arc<str> = if local.ip().is_unspecified() {
                "".into()
            } else {
                local.ip().to_string().into()
            };
            acceptors.spawn(accept_loop(
                self.clone(),
                listener,
                host,
                conn_tx.clone(),
                stop_rx.clone(),
            ));
        }
        drop(conn_tx);

        let mut conns = JoinSet::new();
        let mut next_conn: u64 = 0;
        let max_connections = u64::from(self.cfg.mpm.max_connections_per_child);
        tokio::pin!(shutdown);
        let mut grace = Some(SHUTDOWN_GRACE);
        loop {
            tokio::select! {
                asked = &mut shutdown => {
                    grace = asked;
                    break;
                }
                accepted = conn_rx.recv() => match accepted {
                    Some(a) => {
                        next_conn += 1;
                        conns.spawn(self.clone().connection(a, next_conn, stop_rx.clone()));
                        if max_connections != 0 && next_conn >= max_connections {
                            // Like an Apache child at its limit: stop
                            // accepting, finish the requests in progress,
                            // exit; kept-alive connections close after
                            // their current request.
                            self.error_log().log(
                                "mpm_event",
                                Level::Debug,
                                Peer::None,
                                &format!(
                                    "MaxConnectionsPerChild {max_connections} reached: process {} stops accepting and exits",
                                    std::process::id()
                                ),
                            );
                            self.recycling.store(true, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                    }
                    None => break,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }

        // Stop accepting, ask every connection to finish its current
        // request and close, then wait (bounded) for them.
        let _ = stop_tx.send(true);
        acceptors.shutdown().await;
        let drain = async { while conns.join_next().await.is_some() {} };
        let drained = match grace {
            Some(limit) => tokio::time::timeout(limit, drain).await,
            None => {
                drain.await;
                Ok(())
            }
        };
        if drained.is_err() {
            self.error_log().log(
                "mpm_event",
                Level::Warn,
                Peer::None,
                &format!(
                    "{} connections still open after the shutdown grace period; closing them",
                    conns.len()
                ),
            );
            conns.shutdown().await;
        }
        Ok(())
    }

    /// One client connection, until it closes or shutdown finishes it.
    async fn connection(self: Arc<Self>, a: Accepted, id: u64, stop: watch::Receiver<bool>) {
        let stream = a.stream;
        // Without NODELAY small responses wait for the peer's delayed ACK.
        let _ = stream.set_nodelay(true);
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let conn = Arc::new(ConnInfo::new(a.peer, local, a.listener_host, id));
        crate::conn::serve(self, stream, conn, stop).await;
    }
}

async fn accept_loop(
    fe: Arc<FrontEnd>,
    listener: TcpListener,
    listener_host: Arc<str>,
    tx: mpsc::Sender<Accepted>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let a = Accepted { stream, peer, listener_host: listener_host.clone() };
                    if tx.send(a).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    fe.error_log().log("mpm_event", Level::Error, Peer::None, &format!("accept failed: {e}"));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}
