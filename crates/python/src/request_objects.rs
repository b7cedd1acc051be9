//! The Python objects of one request: `start_response`'s adapter,
//! `wsgi.input` and `wsgi.errors` (with the log sink it shares with the
//! `sys.stderr` proxy).  Made afresh, or taken over from the previous
//! request on the same thread and interpreter when nothing else kept a
//! reference to them: creating and freeing the three objects was 2.5% of
//! an embedded hello request's CPU (`perf`).
//!
//! A kept object is one whose reference count, once the request is over
//! (the environ dict, the application's frames and any `write` callable
//! gone), is the host's own.  An object the application kept (a global
//! environ, a saved `start_response`) is expired as before and never
//! reused, so it cannot reach a later request.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyString;
use wsgid_log::{ErrorLog, Peer};

use crate::RequestBody;
use crate::adapter::Adapter;
use crate::events::EventSender;
use crate::ffi;
use crate::input::Input;
use crate::log_stream::{LogSink, LogStream, SharedSink};

/// The objects of a finished request, kept for the next one.
pub(crate) struct Spare {
    adapter: Py<Adapter>,
    input: Py<Input>,
    errors: Py<LogStream>,
    sink: SharedSink,
}

/// One request's objects.
pub(crate) struct RequestObjects<'py> {
    pub adapter: Bound<'py, Adapter>,
    pub input: Bound<'py, Input>,
    pub errors: Bound<'py, LogStream>,
    pub sink: SharedSink,
}

impl<'py> RequestObjects<'py> {
    /// The objects for a request: `spare`'s made new, or new ones.
    pub(crate) fn new(
        py: Python<'py>,
        spare: Option<Spare>,
        events: &EventSender,
        log: &ErrorLog,
        peer: Peer,
        write_name: &Py<PyString>,
        body: Box<dyn RequestBody>,
    ) -> PyResult<RequestObjects<'py>> {
        if let Some(s) = spare {
            let (adapter, input, errors) = (
                s.adapter.into_bound(py),
                s.input.into_bound(py),
                s.errors.into_bound(py),
            );
            // Nothing else holds them (see `finish`): these borrows succeed.
            adapter
                .try_borrow_mut()?
                .renew(events.clone(), log.clone(), peer);
            input.try_borrow_mut()?.renew(body);
            LogSink::renew_shared(&s.sink, log.clone(), peer);
            return Ok(RequestObjects {
                adapter,
                input,
                errors,
                sink: s.sink,
            });
        }
        let sink = LogSink::shared(log.clone(), peer);
        Ok(RequestObjects {
            adapter: Bound::new(
                py,
                Adapter::new(events.clone(), log.clone(), peer, write_name.clone_ref(py)),
            )?,
            input: Bound::new(py, Input::new(body))?,
            errors: Bound::new(py, LogStream::for_request(Arc::clone(&sink)))?,
            sink,
        })
    }

    /// End the request: objects the application kept expire (they answer
    /// "request object has expired" from now on); objects nobody else
    /// holds come back for the next request.
    pub(crate) fn finish(self) -> Option<Spare> {
        let RequestObjects {
            adapter,
            input,
            errors,
            sink,
        } = self;
        // `errors` holds the sink too; the `sys.stderr` scope has ended.
        let alone = ffi::refcount(adapter.as_any()) == 1
            && ffi::refcount(input.as_any()) == 1
            && ffi::refcount(errors.as_any()) == 1
            && Arc::strong_count(&sink) == 2;
        LogSink::close_shared(&sink);
        let (a, i) = (adapter.try_borrow_mut(), input.try_borrow_mut());
        let (Ok(mut a), Ok(mut i), true) = (a, i, alone) else {
            // Kept by the application (or in use, which cannot be):
            // expire what can be, reuse nothing.
            if let Ok(mut a) = adapter.try_borrow_mut() {
                a.expire();
            }
            if let Ok(mut i) = input.try_borrow_mut() {
                i.expire();
            }
            return None;
        };
        a.release();
        i.release();
        drop((a, i));
        Some(Spare {
            adapter: adapter.unbind(),
            input: input.unbind(),
            errors: errors.unbind(),
            sink,
        })
    }
}
