//! Building the WSGI environ dict for one request (the hot path).
//!
//! The front end's string pairs go in first, in order (mod_wsgi copies
//! `r->subprocess_env`), minus `PATH` and `HTTPS` which mod_wsgi removes;
//! then the `wsgi.*` entries and the `mod_wsgi.*` values only the Python side
//! knows, as `Adapter_environ` and `Adapter_run` add them.  Key strings are
//! interned once per interpreter and thread (`KeyCache`), so a request only
//! allocates the value strings.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use crate::ffi;
use crate::interp::Interpreter;

/// CGI/header keys kept per thread; more distinct names than this (odd
/// client headers) are created per request instead of growing the cache.
const MAX_CACHED_KEYS: usize = 256;

/// Bound on `KeyCache::names`.
const MAX_NAME_BYTES: usize = 16 * 1024;

/// The entries `build` adds after the front end's pairs.
const PYTHON_SIDE_ENTRIES: usize = 18;

/// FxHash (rustc's hasher): the cache keys are short header names chosen by
/// clients, but the cache is bounded, so hash flooding cannot grow it.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One environ position as the previous request on this thread had it.
struct Slot {
    /// The name, as a range of `KeyCache::names`.
    name: std::ops::Range<usize>,
    key: Py<PyString>,
    /// The previous value: reused when the new one is equal (str objects
    /// are immutable, so sharing one between requests is invisible).
    value: Py<PyString>,
}

/// Interned environ keys (and recent values) seen by one request thread in
/// one interpreter.
///
/// Successive requests usually carry the same names in the same order, and
/// many of the same values (server name, port, protocol, the script's
/// paths, most request headers of a client): `recent` holds the previous
/// request's entries by position and is checked first; `keys` is the
/// fallback for names seen before at another position.
#[derive(Default)]
pub(crate) struct KeyCache {
    /// The names of `recent`, end to end (few cache lines to compare).
    names: Vec<u8>,
    recent: Vec<Slot>,
    keys: HashMap<Box<str>, Py<PyString>, BuildHasherDefault<FxHasher>>,
}

impl KeyCache {
    fn key<'py>(&mut self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        if let Some(k) = self.keys.get(name) {
            return k.bind(py).clone();
        }
        let k = PyString::intern(py, name);
        if self.keys.len() < MAX_CACHED_KEYS {
            self.keys.insert(name.into(), k.clone().unbind());
        }
        k
    }

    /// The key and value objects for entry `index` of this request.
    fn entry<'py>(
        &mut self,
        py: Python<'py>,
        index: usize,
        name: &str,
        value: &str,
    ) -> (Bound<'py, PyString>, Bound<'py, PyString>) {
        if let Some(slot) = self.recent.get_mut(index)
            && self.names.get(slot.name.clone()) == Some(name.as_bytes())
        {
            let key = slot.key.bind(py).clone();
            let cached = slot.value.bind(py);
            if cached.to_str().is_ok_and(|v| v == value) {
                return (key, cached.clone());
            }
            let fresh = PyString::new(py, value);
            slot.value = fresh.clone().unbind();
            return (key, fresh);
        }
        let key = self.key(py, name);
        let fresh = PyString::new(py, value);
        if self.names.len() + name.len() > MAX_NAME_BYTES {
            // Many different names over time: start again.
            self.names.clear();
            self.recent.clear();
        }
        if index <= self.recent.len() && index < MAX_CACHED_KEYS {
            let start = self.names.len();
            self.names.extend_from_slice(name.as_bytes());
            let slot = Slot {
                name: start..self.names.len(),
                key: key.clone().unbind(),
                value: fresh.clone().unbind(),
            };
            match self.recent.get_mut(index) {
                Some(old) => *old = slot,
                None => self.recent.push(slot),
            }
        }
        (key, fresh)
    }
}

/// The per-request values that are not plain strings from the front end.
pub(crate) struct PythonSide<'a, 'py> {
    pub url_scheme: &'a str,
    pub application_group: &'a str,
    pub callable: &'a str,
    pub input: &'a Bound<'py, PyAny>,
    pub errors: &'a Bound<'py, PyAny>,
    /// `mod_wsgi.script_start`, microseconds since the epoch.
    pub script_start: u128,
    pub total_requests: u64,
    pub thread_id: u64,
    pub thread_requests: u64,
}

/// Build the environ dict.
pub(crate) fn build<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    cache: &mut KeyCache,
    cgi: &crate::CgiEnv,
    extra: &PythonSide<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = ffi::dict_with_capacity(py, cgi.len() + PYTHON_SIDE_ENTRIES)?;
    let mut index = 0;
    for (name, value) in cgi.iter() {
        if name == "PATH" || name == "HTTPS" {
            continue;
        }
        let (key, value) = cache.entry(py, index, name, value);
        env.set_item(key, value)?;
        index += 1;
    }
    let k = &interp.keys;
    env.set_item(
        k.script_start.bind(py),
        PyString::new(py, &extra.script_start.to_string()),
    )?;
    // The front end normally passes these; the request fields are the truth.
    env.set_item(
        k.application_group.bind(py),
        PyString::new(py, extra.application_group),
    )?;
    env.set_item(
        k.callable_object.bind(py),
        PyString::new(py, extra.callable),
    )?;

    env.set_item(k.wsgi_version.bind(py), interp.wsgi_version.bind(py))?;
    env.set_item(
        k.wsgi_multithread.bind(py),
        PyBool::new(py, interp.multithread),
    )?;
    env.set_item(
        k.wsgi_multiprocess.bind(py),
        PyBool::new(py, interp.multiprocess),
    )?;
    env.set_item(k.wsgi_run_once.bind(py), PyBool::new(py, false))?;
    let scheme = match extra.url_scheme {
        "http" => interp.scheme_http.bind(py).clone(),
        "https" => interp.scheme_https.bind(py).clone(),
        other => PyString::new(py, other),
    };
    env.set_item(k.wsgi_url_scheme.bind(py), scheme)?;
    env.set_item(k.wsgi_errors.bind(py), extra.errors)?;
    env.set_item(k.wsgi_input.bind(py), extra.input)?;
    env.set_item(k.wsgi_input_terminated.bind(py), PyBool::new(py, true))?;
    env.set_item(
        k.wsgi_file_wrapper.bind(py),
        interp.file_wrapper_type.bind(py),
    )?;
    env.set_item(k.apache_version.bind(py), interp.apache_version.bind(py))?;
    env.set_item(
        k.mod_wsgi_version.bind(py),
        interp.mod_wsgi_version.bind(py),
    )?;
    env.set_item(k.total_requests.bind(py), extra.total_requests)?;
    env.set_item(k.thread_id.bind(py), extra.thread_id)?;
    env.set_item(k.thread_requests.bind(py), extra.thread_requests)?;
    Ok(env)
}
