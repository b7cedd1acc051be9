//! The per-request adapter: `start_response`, `write()` and the output side
//! of a response (when the head goes out, Content-Length truncation, sending
//! events to the front end).
//!
//! Mirrors mod_wsgi's `Adapter_start_response`, `Adapter_write` and
//! `Adapter_output` (mod_wsgi.c) plus the checks of `wsgi_convert.c` and
//! `wsgi_validate.c`, including their exception texts, which end up in the
//! error log.  Iterating the application's result is `response.rs`.
//!
//! `Adapter` is a `#[pyclass]`: its type object is process-wide (pyo3).  That
//! is fine while every application group runs in the main interpreter; real
//! sub-interpreters need a per-interpreter heap type (see the crate report).

use crate::events::EventSender;
use crate::events::TrySendError;
use bytes::Bytes;
use pyo3::exceptions::{PyIOError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use wsgid_log::{ErrorLog, Level, Peer};

use crate::log_stream::MODULE;
use crate::{ResponseEvent, ResponseHead};

/// Chunks at least this big are handed to the front end without a copy.
pub(crate) const ZERO_COPY_MIN: usize = 16 * 1024;

/// Send one event to the front end; when the channel is full (or a sink
/// could not write all of it at once), wait with the GIL released.  False
/// if the front end has dropped the receiver.
pub(crate) fn send_event(py: Python<'_>, events: &EventSender, event: ResponseEvent) -> bool {
    match events.try_send(event) {
        Ok(()) if events.unflushed() => py.detach(|| events.flush()),
        Ok(()) => true,
        Err(TrySendError::Full(event)) => py.detach(|| events.blocking_send(event).is_ok()),
        Err(TrySendError::Closed(_)) => false,
    }
}

/// `start_response`/`write` state of one request.
#[pyclass(module = "mod_wsgi", name = "Adapter")]
pub(crate) struct Adapter {
    /// `None` once the request is over (`release`): the front end sees the
    /// response end when the last sender is gone.
    events: Option<EventSender>,
    log: ErrorLog,
    peer: Peer,
    /// Status of the latest successful `start_response`.
    status: Option<u16>,
    /// Status line and headers given to `start_response` and not yet sent
    /// (mod_wsgi's `self->headers`: non-NULL until the first output).
    pending: Option<ResponseHead>,
    /// The head went to the front end (or is held as the head of the
    /// response the caller is assembling).
    head_sent: bool,
    content_length: Option<u64>,
    /// Bytes the application produced (before truncation).
    output_length: u64,
    /// The front end dropped the receiver: the client is gone.
    client_gone: bool,
    /// The request finished; any further call raises.
    expired: bool,
    /// The interpreter's `"write"` string (start_response returns `self.write`).
    write_name: Py<PyString>,
}

impl Adapter {
    pub(crate) fn new(
        events: EventSender,
        log: ErrorLog,
        peer: Peer,
        write_name: Py<PyString>,
    ) -> Adapter {
        Adapter {
            write_name,
            events: Some(events),
            log,
            peer,
            status: None,
            pending: None,
            head_sent: false,
            content_length: None,
            output_length: 0,
            client_gone: false,
            expired: false,
        }
    }

    pub(crate) fn head_sent(&self) -> bool {
        self.head_sent
    }

    pub(crate) fn output_length(&self) -> u64 {
        self.output_length
    }

    pub(crate) fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    pub(crate) fn client_gone(&self) -> bool {
        self.client_gone
    }

    pub(crate) fn expire(&mut self) {
        self.expired = true;
    }

    /// The request is over and nothing else holds this object: let the
    /// response's sender go, keep the object for the next request
    /// (`request_objects.rs`).
    pub(crate) fn release(&mut self) {
        self.expired = true;
        self.events = None;
    }

    /// The state of a new adapter, for the next request.
    pub(crate) fn renew(&mut self, events: EventSender, log: ErrorLog, peer: Peer) {
        self.events = Some(events);
        self.log = log;
        self.peer = peer;
        self.status = None;
        self.pending = None;
        self.head_sent = false;
        self.content_length = None;
        self.output_length = 0;
        self.client_gone = false;
        self.expired = false;
    }

    /// Turn the pending status and headers into the response head (mod_wsgi
    /// does this on the first output, empty or not): "response has not been
    /// started" without `start_response`, ValueError for a bad
    /// Content-Length.  Returns `None` when the head was already taken.
    pub(crate) fn take_head(&mut self) -> PyResult<Option<ResponseHead>> {
        if self.status.is_none() {
            return Err(PyRuntimeError::new_err("response has not been started"));
        }
        let Some(head) = &self.pending else {
            return Ok(None);
        };
        let mut content_length = None;
        for (name, value) in head.headers() {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    parse_content_length(value)
                        .ok_or_else(|| PyValueError::new_err("invalid content length"))?,
                );
            }
        }
        self.content_length = content_length;
        self.head_sent = true;
        Ok(self.pending.take())
    }

    /// Account for `len` produced bytes and return how many may be sent
    /// (Content-Length truncation, as `Adapter_output`).
    pub(crate) fn admit(&mut self, len: u64) -> u64 {
        let allowed = match self.content_length {
            Some(cl) if self.output_length >= cl => 0,
            Some(cl) => len.min(cl - self.output_length),
            None => len,
        };
        self.output_length += len;
        allowed
    }

    /// Record bytes sent outside `admit` (the file_wrapper fast path).
    pub(crate) fn add_output(&mut self, len: u64, content_length: u64) {
        self.output_length += len;
        self.content_length = Some(content_length);
    }

    /// Send one event (see [`send_event`]); remembers a gone client.
    pub(crate) fn send(&mut self, py: Python<'_>, event: ResponseEvent) -> bool {
        if self.client_gone {
            return false;
        }
        let ok = match &self.events {
            Some(events) => send_event(py, events, event),
            None => false,
        };
        if !ok {
            self.client_gone = true;
        }
        ok
    }

    /// `Adapter_output` for a non-empty block: send the head first if it is
    /// still pending, then the (truncated) data.  `Ok(false)` means the
    /// client has gone; with `raise_when_gone` (write()) that is an IOError.
    pub(crate) fn output(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        raise_when_gone: bool,
    ) -> PyResult<bool> {
        if let Some(head) = self.take_head()?
            && !self.send(py, ResponseEvent::Head(head))
        {
            return self.gone(raise_when_gone);
        }
        let bytes = data.as_bytes();
        let allowed = usize::try_from(self.admit(bytes.len() as u64)).unwrap_or(usize::MAX);
        if allowed == 0 {
            return Ok(true);
        }
        let chunk = if allowed >= ZERO_COPY_MIN {
            let backed = PyBackedBytes::from(data.clone());
            Bytes::from_owner(backed).slice(..allowed)
        } else {
            Bytes::copy_from_slice(&bytes[..allowed])
        };
        if !self.send(py, ResponseEvent::Chunk(chunk)) {
            return self.gone(raise_when_gone);
        }
        Ok(true)
    }

    fn gone(&self, raise: bool) -> PyResult<bool> {
        if raise {
            return Err(PyIOError::new_err(
                "Apache/mod_wsgi client connection closed.",
            ));
        }
        let pid = std::process::id();
        self.log.log(
            MODULE,
            Level::Debug,
            self.peer,
            &format!("mod_wsgi (pid={pid}): Client closed connection."),
        );
        Ok(false)
    }

    fn check_live(&self) -> PyResult<()> {
        if self.expired {
            return Err(PyRuntimeError::new_err("request object has expired"));
        }
        Ok(())
    }
}

#[pymethods]
impl Adapter {
    /// `start_response(status, response_headers, exc_info=None)`; returns `write`.
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn start_response<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let write_name = {
            let mut this = slf.try_borrow_mut()?;
            this.check_live()?;
            let headers = headers.cast::<PyList>().map_err(|_| {
                let ty = headers
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                PyTypeError::new_err(format!(
                    "start_response() argument 2 must be list, not {ty}"
                ))
            })?;
            let exc_info = exc_info.filter(|e| !e.is_none());
            match exc_info {
                Some(info) => {
                    let info = info
                        .cast::<PyTuple>()
                        .map_err(|_| PyRuntimeError::new_err("exception info must be a tuple"))?;
                    if this.head_sent {
                        // Too late to replace the head: re-raise the original.
                        let value = info.get_item(1)?;
                        return Err(PyErr::from_value(value));
                    }
                }
                None if this.head_sent => {
                    return Err(PyRuntimeError::new_err("headers have already been sent"));
                }
                None => {}
            }
            let head = convert_head(status, headers)?;
            this.status = Some(head.status);
            this.pending = Some(head);
            this.write_name.clone_ref(slf.py())
        };
        slf.getattr(write_name.bind(slf.py()))
    }

    /// `write(data)`: send bytes at once (the head first if still pending).
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.check_live()?;
        let bytes = expect_bytes(data, "byte string value expected")?;
        if bytes.as_bytes().is_empty() {
            if self.status.is_none() {
                return Err(PyRuntimeError::new_err("response has not been started"));
            }
            return Ok(());
        }
        self.output(py, bytes, true)?;
        Ok(())
    }
}

/// `wsgi_convert_string_to_bytes`: a str whose characters all fit latin-1
/// (borrowed from the str object when it is ASCII, the usual case).
fn to_latin1<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, str>> {
    let s = value.cast::<PyString>().map_err(|_| {
        let ty = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("expected unicode object, value of type {ty} found"))
    })?;
    let text = s.to_cow()?;
    if !text.is_ascii() && text.chars().any(|c| u32::from(c) > 0xff) {
        return Err(PyValueError::new_err(
            "unicode object contains non latin-1 characters",
        ));
    }
    // C strings end at the first NUL: mod_wsgi never sees what follows.
    Ok(match text.find('\0') {
        Some(n) => std::borrow::Cow::Owned(text[..n].to_owned()),
        None => text,
    })
}

fn is_cntrl(c: char) -> bool {
    (c as u32) < 0x20 || c == '\x7f'
}

/// Status line: "NNN reason" (`wsgi_validate_status_line`); the code and
/// the reason phrase.
fn validate_status(line: &str) -> Result<(u16, &str), &'static str> {
    let b = line.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if !(digit(0) && digit(1) && digit(2)) || digit(3) {
        return Err("status code is not a 3 digit integer");
    }
    if b.get(3) != Some(&b' ') {
        return Err("no space following status code");
    }
    if line[3..].chars().any(is_cntrl) {
        return Err("control character present in reason phrase");
    }
    let code = line[..3]
        .parse::<u16>()
        .map_err(|_| "status code is not a 3 digit integer")?;
    Ok((code, &line[4..]))
}

/// The status line and a list of (str, str) tuples as a head
/// (`wsgi_convert_status_line_to_bytes`, `wsgi_convert_headers_to_bytes`).
fn convert_head(status: &Bound<'_, PyAny>, list: &Bound<'_, PyList>) -> PyResult<ResponseHead> {
    let line = to_latin1(status)?;
    let (code, reason) = validate_status(&line).map_err(PyValueError::new_err)?;
    let mut head = ResponseHead::with_capacity(code, reason, list.len(), 32 * list.len());
    for item in list.iter() {
        let tuple = item.cast::<PyTuple>().map_err(|_| {
            let ty = item
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "list of tuple values expected for headers, value of type {ty} found"
            ))
        })?;
        if tuple.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "tuple of length 2 expected for header, length is {}",
                tuple.len()
            )));
        }
        let name_obj = tuple.get_item(0)?;
        let name = to_latin1(&name_obj)?;
        validate_header_name(&name).map_err(PyValueError::new_err)?;
        let value_obj = tuple.get_item(1)?;
        let value = to_latin1(&value_obj)?;
        validate_header_value(&value).map_err(PyValueError::new_err)?;
        head.push(&name, &value);
    }
    Ok(head)
}

fn validate_header_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("header name is empty");
    }
    for c in name.chars() {
        if is_cntrl(c) {
            return Err("control character present in header name");
        }
        if c == ' ' {
            return Err("space character present in header name");
        }
    }
    Ok(())
}

fn validate_header_value(value: &str) -> Result<(), &'static str> {
    if value.contains(['\r', '\n']) {
        return Err("carriage return/line feed character present in header value");
    }
    Ok(())
}

/// `apr_strtoff` as mod_wsgi uses it: optional leading blanks and sign,
/// decimal digits to the end, not negative.
fn parse_content_length(value: &str) -> Option<u64> {
    let v = value.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let v = v.strip_prefix('+').unwrap_or(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// `value` as bytes, or mod_wsgi's TypeError: "`expected`, value of type T
/// found" (`write()` and result items share the check).
pub(crate) fn expect_bytes<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
    expected: &str,
) -> PyResult<&'a Bound<'py, PyBytes>> {
    value.cast::<PyBytes>().map_err(|_| {
        let ty = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{expected}, value of type {ty} found"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_follow_wsgi_validate() {
        assert_eq!(validate_status("200 OK"), Ok((200, "OK")));
        assert_eq!(
            validate_status("299 Something Custom"),
            Ok((299, "Something Custom"))
        );
        assert_eq!(validate_status("200 "), Ok((200, "")));
        assert_eq!(
            validate_status("200"),
            Err("no space following status code")
        );
        assert_eq!(
            validate_status("OK"),
            Err("status code is not a 3 digit integer")
        );
        assert_eq!(
            validate_status("2000 OK"),
            Err("status code is not a 3 digit integer")
        );
        assert_eq!(
            validate_status("200-OK"),
            Err("no space following status code")
        );
        assert_eq!(
            validate_status("200 O\tK"),
            Err("control character present in reason phrase")
        );
    }

    #[test]
    fn header_checks() {
        assert_eq!(validate_header_name(""), Err("header name is empty"));
        assert_eq!(
            validate_header_name("X Y"),
            Err("space character present in header name")
        );
        assert_eq!(
            validate_header_name("X\x01"),
            Err("control character present in header name")
        );
        assert_eq!(
            validate_header_value("a\r\nInjected: yes"),
            Err("carriage return/line feed character present in header value")
        );
        assert_eq!(validate_header_value(""), Ok(()));
    }

    #[test]
    fn content_length_parsing() {
        assert_eq!(parse_content_length("10"), Some(10));
        assert_eq!(parse_content_length(" +7"), Some(7));
        assert_eq!(parse_content_length("-1"), None);
        assert_eq!(parse_content_length("5x"), None);
        assert_eq!(parse_content_length(""), None);
    }
}
