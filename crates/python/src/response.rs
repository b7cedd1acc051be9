//! Running the WSGI callable and turning its result into response events.
//!
//! Follows mod_wsgi's `Adapter_run`: call the application, hand a file
//! wrapper to the native path, otherwise iterate the result (items must be
//! bytes; empty items do not send the head), flush the head at the end,
//! always call `close()` on the result, and log any exception with its
//! traceback.  An exception before the head went out becomes
//! `Failed(500)`, after it `Abort` (a truncated response).
//!
//! Two deliberate shortcuts that do not change what the client sees:
//! an exact `list`/`tuple` of bytes is sent as one `Complete` event, and the
//! final event (`End`, `Complete`, `Abort`, `Failed`) is sent only after
//! `close()` returned, so a client never sees the response end before the
//! application's clean-up ran.

use bytes::{Bytes, BytesMut};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PySequence, PyTuple};
use wsgid_log::{ErrorLog, Level, Peer};

use crate::events::EventSender;

use crate::adapter::{Adapter, ZERO_COPY_MIN, send_event};
use crate::file_wrapper;
use crate::interp::Interpreter;
use crate::log_stream::{MODULE, log_python_error};
use crate::{ResponseEvent, ResponseHead};

/// How a response ends (the last event still to send).
#[derive(Debug)]
pub(crate) enum Finish {
    /// The body was streamed completely: `End`.
    End,
    /// Head and whole body in one event.
    Complete(ResponseHead, Bytes),
    /// The head went out but the body is incomplete: `Abort`.
    Abort,
    /// Nothing went out: the front end sends its error page.
    Failed(u16),
    /// The front end has gone; nothing more to send.
    ClientGone,
}

/// Where errors of this request are reported.
pub(crate) struct ErrorTarget<'a> {
    pub log: &'a ErrorLog,
    pub peer: Peer,
    /// The script path, as mod_wsgi names it in its messages.
    pub script: &'a str,
}

impl ErrorTarget<'_> {
    pub(crate) fn python_error(&self, py: Python<'_>, err: &PyErr) {
        log_python_error(py, err, self.log, self.peer, self.script);
    }
}

/// Call `app(environ, start_response)`, send the response, call `close()`.
pub(crate) fn run(
    py: Python<'_>,
    interp: &Interpreter,
    app: &Bound<'_, PyAny>,
    environ: Bound<'_, PyDict>,
    adapter: &Bound<'_, Adapter>,
    events: &EventSender,
    errors: &ErrorTarget<'_>,
) {
    let called = adapter
        .getattr(interp.keys.start_response.bind(py))
        .and_then(|sr| app.call1((environ, sr)));
    let finish = match called {
        Err(e) => {
            errors.python_error(py, &e);
            after_error(adapter)
        }
        Ok(result) => {
            let finish = consume(py, &result, adapter, errors);
            close(&result, py, errors);
            finish
        }
    };
    deliver(py, events, finish);
}

/// The response events for `result`, up to (not including) the last one.
fn consume(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    adapter: &Bound<'_, Adapter>,
    errors: &ErrorTarget<'_>,
) -> Finish {
    let outcome =
        file_wrapper::try_send_native(py, result, adapter).and_then(|native| match native {
            Some(finish) => Ok(finish),
            None => match send_whole(py, result, adapter)? {
                Some(finish) => Ok(finish),
                None => iterate(py, result, adapter),
            },
        });
    if let Ok(a) = adapter.try_borrow() {
        report_length_mismatch(&a, outcome.is_err(), errors);
    }
    match outcome {
        Ok(finish) => finish,
        Err(e) => {
            errors.python_error(py, &e);
            after_error(adapter)
        }
    }
}

/// The fast path: an exact list or tuple of bytes, nothing written yet.
/// `Ok(None)` when it does not apply (the generic loop then reproduces
/// mod_wsgi's behaviour item by item, errors included).
fn send_whole(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    adapter: &Bound<'_, Adapter>,
) -> PyResult<Option<Finish>> {
    let items = if let Ok(list) = result.cast_exact::<PyList>() {
        list.as_sequence().clone()
    } else if let Ok(tuple) = result.cast_exact::<PyTuple>() {
        tuple.as_sequence().clone()
    } else {
        return Ok(None);
    };
    // All items bytes?  (No Python code runs until the body is built, so
    // the exact list cannot change in between.)
    let mut total = 0usize;
    for item in items.try_iter()? {
        match item?.cast_into::<PyBytes>() {
            Ok(b) => total += b.as_bytes().len(),
            Err(_) => return Ok(None),
        }
    }
    let mut adapter = adapter.try_borrow_mut()?;
    if adapter.head_sent() {
        return Ok(None);
    }
    let Some(head) = adapter.take_head()? else {
        return Ok(None);
    };
    let allowed = usize::try_from(adapter.admit(total as u64)).unwrap_or(usize::MAX);
    let body = concat(&items, allowed)?;
    Ok(Some(finish_with_body(py, &mut adapter, head, body)))
}

/// The first `allowed` bytes of `items` (all bytes objects) as one buffer.
fn concat(items: &Bound<'_, PySequence>, allowed: usize) -> PyResult<Bytes> {
    if items.len()? == 1 {
        let single = items.get_item(0)?.cast_into::<PyBytes>()?;
        let data = single.as_bytes();
        if allowed >= ZERO_COPY_MIN {
            return Ok(Bytes::from_owner(PyBackedBytes::from(single)).slice(..allowed));
        }
        return Ok(Bytes::copy_from_slice(&data[..allowed.min(data.len())]));
    }
    let mut body = BytesMut::with_capacity(allowed);
    for item in items.try_iter()? {
        let room = allowed - body.len();
        if room == 0 {
            break;
        }
        let item = item?.cast_into::<PyBytes>()?;
        let data = item.as_bytes();
        body.extend_from_slice(&data[..room.min(data.len())]);
    }
    Ok(body.freeze())
}

/// A response whose whole body is known: one `Complete`, unless the body is
/// shorter than the application's Content-Length, which must reach the
/// client as a truncated response (as it does from Apache).
fn finish_with_body(
    py: Python<'_>,
    adapter: &mut Adapter,
    head: ResponseHead,
    body: Bytes,
) -> Finish {
    let short = adapter
        .content_length()
        .is_some_and(|cl| (body.len() as u64) < cl);
    if !short {
        return Finish::Complete(head, body);
    }
    let has_body = !body.is_empty();
    if !adapter.send(py, ResponseEvent::Head(head))
        || (has_body && !adapter.send(py, ResponseEvent::Chunk(body)))
    {
        return Finish::ClientGone;
    }
    Finish::Abort
}

/// The generic path: iterate, send each non-empty item.
fn iterate(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    adapter: &Bound<'_, Adapter>,
) -> PyResult<Finish> {
    for item in result.try_iter()? {
        let item = item?;
        let bytes = crate::adapter::expect_bytes(&item, "sequence of byte string values expected")?;
        if bytes.as_bytes().is_empty() {
            continue;
        }
        if !adapter.try_borrow_mut()?.output(py, bytes, false)? {
            return Ok(Finish::ClientGone);
        }
    }
    let mut adapter = adapter.try_borrow_mut()?;
    match adapter.take_head()? {
        // No body at all: the head is still here.
        Some(head) => Ok(finish_with_body(py, &mut adapter, head, Bytes::new())),
        None if adapter
            .content_length()
            .is_some_and(|cl| adapter.output_length() < cl) =>
        {
            Ok(Finish::Abort)
        }
        None => Ok(Finish::End),
    }
}

/// `close()` on the result, if it has one; errors are logged.
fn close(result: &Bound<'_, PyAny>, py: Python<'_>, errors: &ErrorTarget<'_>) {
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return;
    }
    match result.getattr_opt("close") {
        Ok(Some(close)) => {
            if let Err(e) = close.call0() {
                errors.python_error(py, &e);
            }
        }
        Ok(None) => {}
        Err(e) => errors.python_error(py, &e),
    }
}

/// mod_wsgi's debug-level "Content length mismatch" note.
fn report_length_mismatch(adapter: &Adapter, failed: bool, errors: &ErrorTarget<'_>) {
    let Some(cl) = adapter.content_length() else {
        return;
    };
    let produced = adapter.output_length();
    let complete = !failed && !adapter.client_gone();
    if (complete && produced != cl) || produced > cl {
        let pid = std::process::id();
        errors.log.log(
            MODULE,
            Level::Debug,
            errors.peer,
            &format!(
                "mod_wsgi (pid={pid}): Content length mismatch, expected {cl}, response generated {produced}: {}",
                errors.script
            ),
        );
    }
}

fn after_error(adapter: &Bound<'_, Adapter>) -> Finish {
    // If the adapter is busy elsewhere, output is under way: abort.
    match adapter.try_borrow() {
        Ok(a) if !a.head_sent() => Finish::Failed(500),
        _ => Finish::Abort,
    }
}

/// Send the final event through the request's own sender (the adapter may
/// be borrowed by an application thread that kept `write`).
fn deliver(py: Python<'_>, events: &EventSender, finish: Finish) {
    let event = match finish {
        Finish::End => ResponseEvent::End,
        Finish::Complete(head, body) => ResponseEvent::Complete(head, body),
        Finish::Abort => ResponseEvent::Abort,
        Finish::Failed(status) => ResponseEvent::Failed(status),
        Finish::ClientGone => return,
    };
    // A gone client needs no final event; nothing else to do about it.
    let _ = send_event(py, events, event);
}
