//! A deliberately small HTTP/1.1 client over a raw `TcpStream`: the tests
//! write exact request bytes and read the answer as it was framed
//! (Content-Length, chunked, or delimited by close), noting interim `1xx`
//! answers and whether the body was cut short.
//!
//! It does not follow redirects, decode content, or pool connections; a
//! `Conn` is one TCP connection that the test drives by hand.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::time::Duration;

/// How long one read may block before the answer is considered stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One HTTP response as received.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    /// The reason phrase exactly as sent (may be empty).
    pub reason: String,
    /// Headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The connection ended before the announced end of the body (fewer
    /// bytes than Content-Length, or a chunked body without its last chunk).
    pub truncated: bool,
    /// A read timed out while the body was expected.
    pub timed_out: bool,
    /// The body was chunked.
    pub chunked: bool,
    /// Status codes of interim (1xx) answers received before this one.
    pub interim: Vec<u16>,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<title>` of an HTML body (Apache error pages), if any.
    pub fn title(&self) -> Option<String> {
        let t = self.text();
        let start = t.find("<title>")? + "<title>".len();
        let end = t[start..].find("</title>")? + start;
        Some(t[start..end].to_owned())
    }

    /// Parse a `key=value` per line body (what `apps::ENVIRON` and the other
    /// test apps answer); `\n` and `\\` in values are unescaped.
    pub fn kv(&self) -> BTreeMap<String, String> {
        parse_kv(&self.text())
    }

    /// `kv()[key]`, panicking with the whole body if it is missing.
    pub fn var(&self, key: &str) -> String {
        self.kv()
            .remove(key)
            .unwrap_or_else(|| panic!("no `{key}` in the response:\n{}", self.describe()))
    }

    /// Status line, headers and (the start of) the body, for assertion messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} {}\n", self.version, self.status, self.reason);
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\n"));
        }
        let body = self.text();
        let cut: String = body.chars().take(3000).collect();
        s.push_str(&format!("\n{cut}"));
        if self.truncated {
            s.push_str("\n[truncated]");
        }
        s
    }
}

/// Parse `key=value` lines (see `Response::kv`).
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let mut out = String::with_capacity(v.len());
            let mut chars = v.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(o) => out.push(o),
                        None => out.push('\\'),
                    }
                } else {
                    out.push(c);
                }
            }
            (k.to_owned(), out)
        })
        .collect()
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Bytes received but not yet consumed.
    buf: Vec<u8>,
    eof: bool,
}

/// Why no response could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection closed before a complete response head.
    Closed { partial: Vec<u8> },
    /// No complete head within the read timeout.
    TimedOut { partial: Vec<u8> },
    /// The head could not be parsed.
    Malformed(String),
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .expect("connect to the server under test");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Write all of `bytes` (a write error, e.g. the server already closed
    /// the connection after an early error answer, is ignored: the answer
    /// is still read).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(bytes.as_ref());
        let _ = self.stream.flush();
    }

    /// Half-close: no more request bytes.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Set the per-read timeout (default 20 s).
    pub fn set_timeout(&mut self, t: Duration) {
        self.stream
            .set_read_timeout(Some(t))
            .expect("set read timeout");
    }

    /// Read more bytes into the buffer; Ok(false) at end of stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A reset after the server's last byte is an end of stream to us.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the server has closed the connection (waits up to `t`).
    pub fn closed_within(&mut self, t: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(t))
            .expect("set read timeout");
        let closed = loop {
            if !self.buf.is_empty() {
                break false;
            }
            match self.fill() {
                Ok(false) => break true,
                Ok(true) => continue,
                Err(_) => break false,
            }
        };
        self.stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        closed
    }

    /// Everything the server sends until it closes (bounded by the timeout).
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while let Ok(true) = self.fill() {}
        std::mem::take(&mut self.buf)
    }

    fn take_line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(Some(line));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Read one response; `head_request` says the request was HEAD (no body).
    pub fn read_response(&mut self, head_request: bool) -> Response {
        match self.try_read_response(head_request) {
            Ok(r) => r,
            Err(e) => panic!("no HTTP response from the server: {e:?}"),
        }
    }

    /// Read one response, skipping (and recording) interim 1xx answers.
    pub fn try_read_response(&mut self, head_request: bool) -> Result<Response, ReadError> {
        let mut interim = Vec::new();
        loop {
            let mut resp = self.read_head()?;
            if (100..200).contains(&resp.status) && resp.status != 101 {
                interim.push(resp.status);
                continue;
            }
            resp.interim = interim;
            self.read_body(&mut resp, head_request);
            return Ok(resp);
        }
    }

    /// Read just a status line and headers (e.g. an interim `100 Continue`).
    pub fn read_head(&mut self) -> Result<Response, ReadError> {
        let status_line = loop {
            match self.take_line() {
                Ok(Some(l)) if l.is_empty() => continue, // tolerate stray CRLF
                Ok(Some(l)) => break l,
                Ok(None) => {
                    return Err(ReadError::Closed {
                        partial: self.buf.clone(),
                    });
                }
                Err(_) => {
                    return Err(ReadError::TimedOut {
                        partial: self.buf.clone(),
                    });
                }
            }
        };
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        let code = parts.next().unwrap_or_default();
        let status = code
            .parse()
            .map_err(|_| ReadError::Malformed(format!("status line {status_line:?}")))?;
        if !version.starts_with("HTTP/") {
            return Err(ReadError::Malformed(format!("status line {status_line:?}")));
        }
        let reason = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            match self.take_line() {
                Ok(Some(l)) if l.is_empty() => break,
                Ok(Some(l)) => {
                    let (n, v) = l
                        .split_once(':')
                        .ok_or_else(|| ReadError::Malformed(format!("header {l:?}")))?;
                    headers.push((n.to_owned(), v.trim().to_owned()));
                }
                Ok(None) => {
                    return Err(ReadError::Closed {
                        partial: self.buf.clone(),
                    });
                }
                Err(_) => {
                    return Err(ReadError::TimedOut {
                        partial: self.buf.clone(),
                    });
                }
            }
        }
        Ok(Response {
            version,
            status,
            reason,
            headers,
            ..Response::default()
        })
    }

    fn read_body(&mut self, resp: &mut Response, head_request: bool) {
        if head_request || resp.status == 204 || resp.status == 304 {
            return;
        }
        let chunked = resp
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            resp.chunked = true;
            self.read_chunked(resp);
        } else if let Some(len) = resp
            .header("Content-Length")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            while self.buf.len() < len {
                match self.fill() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(_) => {
                        resp.timed_out = true;
                        break;
                    }
                }
            }
            let n = len.min(self.buf.len());
            resp.body = self.buf.drain(..n).collect();
            resp.truncated = n < len;
        } else {
            loop {
                match self.fill() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(_) => {
                        resp.timed_out = true;
                        break;
                    }
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
    }

    fn read_chunked(&mut self, resp: &mut Response) {
        loop {
            let line = match self.take_line() {
                Ok(Some(l)) => l,
                Ok(None) => {
                    resp.truncated = true;
                    return;
                }
                Err(_) => {
                    resp.truncated = true;
                    resp.timed_out = true;
                    return;
                }
            };
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let Ok(size) = usize::from_str_radix(size_text, 16) else {
                resp.truncated = true;
                return;
            };
            if size == 0 {
                // Trailers until the empty line.
                while let Ok(Some(l)) = self.take_line() {
                    if l.is_empty() {
                        break;
                    }
                }
                return;
            }
            while self.buf.len() < size + 2 {
                match self.fill() {
                    Ok(true) => {}
                    Ok(false) | Err(_) => {
                        let n = size.min(self.buf.len());
                        resp.body.extend(self.buf.drain(..n));
                        resp.truncated = true;
                        return;
                    }
                }
            }
            resp.body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }
}
