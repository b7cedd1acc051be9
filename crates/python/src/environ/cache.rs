//! What one request thread remembers of the previous environ it built in one
//! interpreter, so that the next one costs less.
//!
//! Successive requests usually carry the same names in the same order, and
//! mostly the same values (server name, port, protocol, the script's paths,
//! most request headers of a client).  So the cache keeps the previous
//! request's names and values as bytes, and its finished environ as a
//! template dict.  When a request has exactly the previous names, its
//! environ is a copy of the template (one `PyDict_Copy` of a same-shaped
//! table) with only the changed values set: comparing bytes, not building
//! some sixty dict entries.  Otherwise `remember` gives every entry's key
//! (interned once per interpreter and thread) and value objects (reused when
//! equal to the previous one at that position), and the caller makes a new
//! template when the names were the previous request's (the second request
//! of a run of alike ones; the third is a copy).
//!
//! Everything is bounded: a request with more names or bytes than the
//! limits below is built without the cache.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::PythonSide;
use super::layout::Layout;
use crate::CgiEnv;

/// Interned names kept per thread; more distinct names than this (odd
/// client headers) are created per request instead of growing the map.
const MAX_INTERNED: usize = 256;

/// Bounds on the remembered request.
const MAX_ENTRIES: usize = 256;
const MAX_NAME_BYTES: usize = 16 * 1024;
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Entries of the front end's environ that mod_wsgi leaves out.
pub(super) fn skipped(name: &str) -> bool {
    name == "PATH" || name == "HTTPS"
}

/// Whether `build` sets `name` after the front end's pairs (so that a new
/// value for it there cannot just be set in a copy).
pub(super) fn overridden(name: &str) -> bool {
    name.starts_with("wsgi.")
        || matches!(
            name,
            "mod_wsgi.script_start"
                | "mod_wsgi.application_group"
                | "mod_wsgi.callable_object"
                | "apache.version"
                | "mod_wsgi.version"
                | "mod_wsgi.total_requests"
                | "mod_wsgi.thread_id"
                | "mod_wsgi.thread_requests"
        )
}

/// FxHash (rustc's hasher): the cache keys are short header names chosen by
/// clients, but the map is bounded, so hash flooding cannot grow it.
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

/// One entry of the previous request.
struct Slot {
    /// Its name, in `Recent::names`.
    name: Range<usize>,
    key: Py<PyString>,
    /// Its value object (str objects are immutable, so sharing one between
    /// requests is invisible).
    value: Py<PyString>,
}

/// The previous request's front-end entries, in order.
#[derive(Default)]
struct Recent {
    /// The names end to end (few cache lines to compare).
    names: Vec<u8>,
    /// The values end to end, and where each one is.
    values: Vec<u8>,
    value_at: Vec<Range<usize>>,
    slots: Vec<Slot>,
}

impl Recent {
    fn name(&self, i: usize) -> &[u8] {
        &self.names[self.slots[i].name.clone()]
    }

    fn value(&self, i: usize) -> &[u8] {
        &self.values[self.value_at[i].clone()]
    }

    /// A new value for entry `i`: added at the end of `values` (the old
    /// bytes stay until `compact_values`), so that the unchanged values,
    /// most of them, are neither compared twice nor copied.
    fn set_value(&mut self, i: usize, value: &[u8]) {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        self.value_at[i] = start..self.values.len();
    }

    /// Drop the replaced values' bytes once they outweigh the live ones.
    fn compact_values(&mut self) {
        let live: usize = self.value_at.iter().map(ExactSizeIterator::len).sum();
        if self.values.len() <= 2 * live + 4096 {
            return;
        }
        let mut values = Vec::with_capacity(live);
        for at in &mut self.value_at {
            let start = values.len();
            values.extend_from_slice(&self.values[at.clone()]);
            *at = start..values.len();
        }
        self.values = values;
    }
}

/// Byte equality without a call into libc's `memcmp`: the names and
/// values compared here (some forty a request) are mostly under 32 bytes,
/// for which the call and its dispatch cost more than the comparison
/// (measured: `memcmp` was 2.9% of the CPU of an embedded hello request).
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[at..at + 4]);
        u32::from_ne_bytes(w)
    };
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=64 => {
            let mut at = 0;
            while at + 8 <= n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            // The last (overlapping) word covers the tail.
            word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

/// The previous request's environ, for the next one to copy.
struct Template {
    /// Every entry `build` made, with the per-request objects replaced by
    /// `None` (so that it keeps no finished request's objects alive).
    dict: Py<PyDict>,
    /// The Python-side strings it was made with.
    application_group: String,
    callable: String,
    url_scheme: String,
}

/// See the module documentation.  One per request thread and interpreter.
#[derive(Default)]
pub(crate) struct KeyCache {
    interned: HashMap<Box<str>, Py<PyString>, BuildHasherDefault<FxHasher>>,
    recent: Recent,
    /// The buffers of the next `Recent`, kept to save their allocation.
    spare_values: Vec<u8>,
    spare_at: Vec<Range<usize>>,
    /// `copy_of_template`'s changed entries (index in `recent`, index in
    /// the request's `CgiEnv`), kept to save its allocation.
    changed: Vec<(usize, usize)>,
    /// The last request's table as it came, while `recent` matches it
    /// (made by the first copy after a `remember`).
    layout: Option<Layout>,
    template: Option<Template>,
    /// The request `remember` last saw had the names of the one before it
    /// (so the next one likely will too: worth a template).
    names_repeated: bool,
}

impl KeyCache {
    fn intern<'py>(&mut self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        if let Some(k) = self.interned.get(name) {
            return k.bind(py).clone();
        }
        let k = PyString::intern(py, name);
        if self.interned.len() < MAX_INTERNED {
            self.interned.insert(name.into(), k.clone().unbind());
        }
        k
    }

    /// This request's environ (without its per-request entries) as a copy
    /// of the template, when the request has the template's names in the
    /// same order and its Python-side strings.
    pub(super) fn copy_of_template<'py>(
        &mut self,
        py: Python<'py>,
        cgi: &CgiEnv,
        extra: &PythonSide<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(t) = &self.template else {
            return Ok(None);
        };
        if !same_bytes(
            t.application_group.as_bytes(),
            extra.application_group.as_bytes(),
        ) || !same_bytes(t.callable.as_bytes(), extra.callable.as_bytes())
            || !same_bytes(t.url_scheme.as_bytes(), extra.url_scheme.as_bytes())
        {
            return Ok(None);
        }
        // First compare only, so that a request that does not fit leaves
        // everything as it was.  The usual request has the previous one's
        // layout: compared as a whole (`layout.rs`); others entry by entry.
        let by_layout = match &mut self.layout {
            Some(layout) => layout.changed(cgi, &mut self.changed),
            None => false,
        };
        if !by_layout {
            let recent = &self.recent;
            let changed = &mut self.changed;
            changed.clear();
            let mut i = 0;
            for (j, (name, value)) in cgi.iter().enumerate() {
                if skipped(name) {
                    continue;
                }
                if i >= recent.slots.len() || !same_bytes(recent.name(i), name.as_bytes()) {
                    return Ok(None);
                }
                if !same_bytes(recent.value(i), value.as_bytes()) {
                    if overridden(name) {
                        return Ok(None);
                    }
                    changed.push((i, j));
                }
                i += 1;
            }
            if i != recent.slots.len() {
                return Ok(None);
            }
        }
        let template = t.dict.bind(py).clone();
        match self.set_changed(py, &template, cgi) {
            Ok(env) => {
                match &mut self.layout {
                    Some(layout) if by_layout => layout.commit(cgi),
                    _ => self.layout = Layout::new(cgi),
                }
                Ok(Some(env))
            }
            Err(e) => {
                // Half-updated: start again with the next request.
                self.template = None;
                self.recent = Recent::default();
                self.layout = None;
                Err(e)
            }
        }
    }

    /// A copy of `template` with the `changed` entries set; the template
    /// and `recent` get the new values too, as the next request is
    /// compared with them.
    fn set_changed<'py>(
        &mut self,
        py: Python<'py>,
        template: &Bound<'py, PyDict>,
        cgi: &CgiEnv,
    ) -> PyResult<Bound<'py, PyDict>> {
        let env = template.copy()?;
        for &(i, j) in &self.changed {
            let Some((_, value)) = cgi.entry(j) else {
                continue;
            };
            self.recent.set_value(i, value.as_bytes());
            let slot = &mut self.recent.slots[i];
            let value = PyString::new(py, value);
            env.set_item(slot.key.bind(py), &value)?;
            template.set_item(slot.key.bind(py), &value)?;
            slot.value = value.unbind();
        }
        self.recent.compact_values();
        Ok(env)
    }

    /// Every front-end entry's key and value objects, remembering them for
    /// the next request.  Drops the template: the caller makes a new one
    /// with [`KeyCache::keep_template`].
    pub(super) fn remember<'py>(
        &mut self,
        py: Python<'py>,
        cgi: &CgiEnv,
    ) -> Vec<(Bound<'py, PyString>, Bound<'py, PyString>)> {
        self.template = None;
        self.layout = None;
        let old = std::mem::take(&mut self.recent);
        let mut new = Recent {
            names: Vec::with_capacity(old.names.len()),
            values: std::mem::take(&mut self.spare_values),
            value_at: std::mem::take(&mut self.spare_at),
            slots: Vec::with_capacity(old.slots.len()),
        };
        new.values.clear();
        new.value_at.clear();
        let mut keep = true;
        let mut all_same_names = true;
        let mut out = Vec::with_capacity(cgi.len());
        for (name, value) in cgi.iter().filter(|(name, _)| !skipped(name)) {
            let i = out.len();
            let same_name = i < old.slots.len() && same_bytes(old.name(i), name.as_bytes());
            all_same_names &= same_name;
            let key = match same_name {
                true => old.slots[i].key.bind(py).clone(),
                false => self.intern(py, name),
            };
            let value_obj = match same_name && same_bytes(old.value(i), value.as_bytes()) {
                true => old.slots[i].value.bind(py).clone(),
                false => PyString::new(py, value),
            };
            keep = keep
                && i < MAX_ENTRIES
                && new.names.len() + name.len() <= MAX_NAME_BYTES
                && new.values.len() + value.len() <= MAX_VALUE_BYTES;
            if keep {
                let start = new.names.len();
                new.names.extend_from_slice(name.as_bytes());
                let name_range = start..new.names.len();
                let start = new.values.len();
                new.values.extend_from_slice(value.as_bytes());
                new.value_at.push(start..new.values.len());
                new.slots.push(Slot {
                    name: name_range,
                    key: key.clone().unbind(),
                    value: value_obj.clone().unbind(),
                });
            }
            out.push((key, value_obj));
        }
        self.names_repeated = keep && all_same_names && out.len() == old.slots.len();
        if keep {
            self.recent = new;
            self.spare_values = old.values;
            self.spare_at = old.value_at;
        }
        out
    }

    /// Keep `env` (the environ just built from what `remember` returned,
    /// before its per-request entries) as the template for the next
    /// request, if `remember` could keep all of this one and it repeated
    /// the names of the request before.  Requests whose names keep changing
    /// (clients with different headers, one after another) then do not pay
    /// for a dict copy that no request would use.
    pub(super) fn keep_template<'py>(
        &mut self,
        env: &Bound<'py, PyDict>,
        extra: &PythonSide<'_, 'py>,
    ) -> PyResult<()> {
        if !self.names_repeated || self.recent.slots.is_empty() {
            return Ok(());
        }
        self.template = Some(Template {
            dict: env.copy()?.unbind(),
            application_group: extra.application_group.to_owned(),
            callable: extra.callable.to_owned(),
            url_scheme: extra.url_scheme.to_owned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        let text: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=80 {
            let a = &text[..n];
            assert!(same_bytes(a, a), "{n}");
            assert!(!same_bytes(a, &text[..n + 1]), "{n}");
            // One byte different anywhere (first, middle, last).
            for at in [0, n / 2, n.saturating_sub(1)] {
                if n == 0 {
                    continue;
                }
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(a, &b), "{n} at {at}");
            }
        }
    }
}
