//! The front end's side: connect to a daemon group's socket, send the
//! request head and stream the body, turn the answer back into
//! [`ResponseEvent`]s, with mod_wsgi's failure answers and log lines:
//!
//! * cannot connect within `connect-timeout` → 503, "Unable to connect to
//!   WSGI daemon process ..." (as `wsgi_connect_daemon`);
//! * no complete response head (the daemon died, or closed) → 500,
//!   "Truncated or oversized response headers received from daemon
//!   process '...'";
//! * no head within `socket-timeout` → 504, "Timeout when reading
//!   response headers from daemon process '...'";
//! * the daemon dies after the head → the client connection is aborted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{BodyError, ResponseEvent};

use crate::protocol::{self, RequestHead};

/// Where and how to reach one daemon process group.
#[derive(Debug, Clone)]
pub struct Target {
    /// The process group's name (for log lines).
    pub name: String,
    pub socket: PathBuf,
    pub connect_timeout: Duration,
    /// How long to wait for the response head and between body frames.
    pub socket_timeout: Duration,
    /// `send-buffer-size` / `receive-buffer-size` (0: system default).
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
}

/// For log lines about one request.
#[derive(Debug, Clone)]
pub struct RequestLog {
    pub log: ErrorLog,
    pub peer: Option<SocketAddr>,
    /// `r->filename` (the script).
    pub filename: String,
}

impl RequestLog {
    fn error(&self, message: &str) {
        let peer = self.peer.map_or(Peer::None, Peer::Client);
        self.log.log("wsgi", Level::Error, peer, message);
    }
    fn info(&self, message: &str) {
        let peer = self.peer.map_or(Peer::None, Peer::Client);
        self.log.log("wsgi", Level::Info, peer, message);
    }
}

/// How often a request rejected by a restarting daemon process is sent
/// again (mod_wsgi's maximum of restart connects).
const MAX_RESTART_CONNECTS: u32 = 20;

/// Send one request to the daemon and its response to `events`.
/// `body` None: the request has no body (the head and the end-of-body
/// frame then go in one write).
pub async fn forward(
    target: Target,
    head: RequestHead,
    body: Option<mpsc::Receiver<Result<Bytes, BodyError>>>,
    events: mpsc::Sender<ResponseEvent>,
    rlog: RequestLog,
) {
    let mut first = BytesMut::new();
    head.encode(&mut first);
    let empty = body.is_none();
    let mut body = match body {
        Some(b) => b,
        None => {
            protocol::put_frame(&mut first, protocol::BODY_END, b"");
            mpsc::channel(1).1
        }
    };
    let first = first.freeze();
    let mut retries = 0;
    loop {
        let stream = match connect(&target, &rlog).await {
            Ok(s) => s,
            Err(status) => {
                let _ = events.send(ResponseEvent::Failed(status)).await;
                return;
            }
        };
        let (rd, mut wr) = stream.into_split();
        let mut sent_body = false;
        // The body goes out while the response comes in: a daemon may
        // answer before reading all of it.
        let send = send_request(&mut wr, &first, &mut body, &mut sent_body, empty);
        match relay(rd, send, &target, &events, &rlog).await {
            Relayed::Done => return,
            Relayed::Rejected if retries < MAX_RESTART_CONNECTS && !sent_body => {
                retries += 1;
                rlog.info(&format!(
                    "mod_wsgi (pid={}): Connect after WSGI daemon process restart, attempt #{retries}.",
                    std::process::id()
                ));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Relayed::Rejected => {
                rlog.error(&format!(
                    "mod_wsgi (pid={}): Maximum number of WSGI daemon process restart connects reached '{MAX_RESTART_CONNECTS}'.",
                    std::process::id()
                ));
                let _ = events.send(ResponseEvent::Failed(503)).await;
                return;
            }
        }
    }
}

/// Write the head frame then the body; never returns once the body is
/// complete (the write half must stay open until the response is read: a
/// shutdown would look like a client abort).
async fn send_request(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    first: &[u8],
    body: &mut mpsc::Receiver<Result<Bytes, BodyError>>,
    sent_body: &mut bool,
    empty: bool,
) {
    if wr.write_all(first).await.is_err() || empty {
        // (`first` already ends with the end-of-body frame when `empty`.)
        return std::future::pending().await;
    }
    let mut buf = BytesMut::new();
    loop {
        match body.recv().await {
            Some(Ok(chunk)) => {
                *sent_body = true;
                for piece in chunk.chunks(protocol::MAX_CHUNK) {
                    buf.clear();
                    protocol::put_header(&mut buf, protocol::BODY, piece.len());
                    // Small pieces go with their header in one write.
                    let ok = if piece.len() <= 256 * 1024 {
                        buf.extend_from_slice(piece);
                        wr.write_all(&buf).await.is_ok()
                    } else {
                        wr.write_all(&buf).await.is_ok() && wr.write_all(piece).await.is_ok()
                    };
                    if !ok {
                        return std::future::pending().await;
                    }
                }
            }
            Some(Err(e)) => {
                *sent_body = true;
                buf.clear();
                protocol::encode_body_error(&mut buf, &e);
                let _ = wr.write_all(&buf).await;
                return std::future::pending().await;
            }
            None => {
                buf.clear();
                protocol::put_frame(&mut buf, protocol::BODY_END, b"");
                let _ = wr.write_all(&buf).await;
                return std::future::pending().await;
            }
        }
    }
}

enum Relayed {
    Done,
    /// The daemon process is restarting and did not take the request.
    Rejected,
}

async fn relay(
    rd: tokio::net::unix::OwnedReadHalf,
    send: impl std::future::Future<Output = ()>,
    target: &Target,
    events: &mpsc::Sender<ResponseEvent>,
    rlog: &RequestLog,
) -> Relayed {
    tokio::pin!(send);
    let mut rd = protocol::FrameReader::new(rd);
    let first = tokio::select! {
        () = &mut send => unreachable_pending(),
        f = tokio::time::timeout(target.socket_timeout, rd.next()) => f,
    };
    let truncated = || {
        rlog.error(&format!(
            "Truncated or oversized response headers received from daemon process '{}': {}",
            target.name, rlog.filename
        ));
        ResponseEvent::Failed(500)
    };
    let event = match first {
        Err(_) => {
            rlog.error(&format!(
                "Timeout when reading response headers from daemon process '{}': {}",
                target.name, rlog.filename
            ));
            ResponseEvent::Failed(504)
        }
        Ok(Err(_) | Ok(None)) => truncated(),
        Ok(Ok(Some((kind, mut payload)))) => match kind {
            protocol::REJECTED => return Relayed::Rejected,
            protocol::COMPLETE => match protocol::decode_head(&mut payload) {
                Ok(h) => ResponseEvent::Complete(h, payload),
                Err(_) => truncated(),
            },
            protocol::HEAD => match protocol::decode_head(&mut payload) {
                Ok(h) => ResponseEvent::Head(h),
                Err(_) => truncated(),
            },
            protocol::FAILED => {
                let status = match payload.get(..2) {
                    Some(b) => u16::from_le_bytes([b[0], b[1]]),
                    None => 500,
                };
                ResponseEvent::Failed(status)
            }
            _ => truncated(),
        },
    };
    let streaming = matches!(event, ResponseEvent::Head(_));
    if events.send(event).await.is_err() || !streaming {
        return Relayed::Done;
    }
    loop {
        let next = tokio::select! {
            () = &mut send => unreachable_pending(),
            f = tokio::time::timeout(target.socket_timeout, rd.next()) => f,
        };
        let event = match next {
            Ok(Ok(Some((protocol::DATA, payload)))) if !payload.is_empty() => {
                ResponseEvent::Chunk(payload)
            }
            Ok(Ok(Some((protocol::DATA, _)))) => continue,
            Ok(Ok(Some((protocol::END, _)))) => ResponseEvent::End,
            _ => ResponseEvent::Abort,
        };
        let last = matches!(event, ResponseEvent::End | ResponseEvent::Abort);
        if events.send(event).await.is_err() || last {
            return Relayed::Done;
        }
    }
}

/// `send_request` never completes; this names that in the `select!`s.
fn unreachable_pending<T>() -> T {
    unreachable!("send_request never completes")
}

/// Connect as `wsgi_connect_daemon` does: retry while the socket is
/// missing or its backlog full (125 ms apart, then 1 s after 2 s) until
/// `connect-timeout`; `Err(503)` once logged.
async fn connect(target: &Target, rlog: &RequestLog) -> Result<UnixStream, u16> {
    let start = Instant::now();
    let mut waited = Duration::ZERO;
    loop {
        match UnixStream::connect(&target.socket).await {
            Ok(s) => {
                let sock = socket2::SockRef::from(&s);
                if target.send_buffer_size != 0 {
                    let _ = sock.set_send_buffer_size(target.send_buffer_size as usize);
                }
                if target.receive_buffer_size != 0 {
                    let _ = sock.set_recv_buffer_size(target.receive_buffer_size as usize);
                }
                return Ok(s);
            }
            Err(e) => {
                let retry = matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::WouldBlock
                );
                let pid = std::process::id();
                if !retry {
                    rlog.error(&format!(
                        "({}){e}: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{}' as user with uid={}.",
                        e.raw_os_error().unwrap_or(0),
                        target.name,
                        target.socket.display(),
                        nix_uid()
                    ));
                    return Err(503);
                }
                if start.elapsed() >= target.connect_timeout {
                    rlog.error(&format!(
                        "({}){e}: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
                        e.raw_os_error().unwrap_or(0),
                        target.name,
                        target.socket.display()
                    ));
                    return Err(503);
                }
                let step = if waited < Duration::from_secs(2) {
                    Duration::from_millis(125)
                } else {
                    Duration::from_secs(1)
                };
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }
}

fn nix_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}
