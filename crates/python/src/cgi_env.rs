//! The string part of a request's environ, as the front end hands it over.
//!
//! A WSGI request carries some 40 short CGI strings from the event loop to
//! a Python thread.  As `(String, String)` pairs that is 80 allocations made
//! on one thread and freed on another (the costliest kind of free for a
//! thread-caching allocator); here all names and values sit end to end in
//! one buffer, with one small table of offsets: two allocations.

use std::fmt;
use std::ops::Range;

/// Offsets of one entry in [`CgiEnv::buf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
}

impl Span {
    pub(crate) fn key(&self) -> Range<usize> {
        self.key_start as usize..self.key_end as usize
    }
    pub(crate) fn value(&self) -> Range<usize> {
        self.value_start as usize..self.value_end as usize
    }
}

/// Insertion-ordered string pairs (Apache's `apr_table_t` as mod_wsgi reads
/// `r->subprocess_env`).  Values are "native strings" (latin-1 decoded).
///
/// Offsets are u32: an environ is bounded by the request-head limits
/// (`LimitRequestFields` × `LimitRequestFieldSize`, 800 KiB at most by
/// default), far below 4 GiB; a pair that would not fit is dropped.
#[derive(Clone, Default)]
pub struct CgiEnv {
    buf: String,
    spans: Vec<Span>,
}

impl CgiEnv {
    /// Room for `entries` pairs of `bytes` bytes in all.
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        CgiEnv {
            buf: String::with_capacity(bytes),
            spans: Vec::with_capacity(entries),
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Append `value` to the buffer; its range, if the offsets still fit.
    fn store(&mut self, value: &str) -> Option<(u32, u32)> {
        let start = u32::try_from(self.buf.len()).ok()?;
        let end = u32::try_from(self.buf.len() + value.len()).ok()?;
        self.buf.push_str(value);
        Some((start, end))
    }

    /// Add a pair at the end (no check for an existing `key`).
    pub fn push(&mut self, key: &str, value: &str) {
        let mark = self.buf.len();
        match (self.store(key), self.store(value)) {
            (Some((key_start, key_end)), Some((value_start, value_end))) => self.spans.push(Span {
                key_start,
                key_end,
                value_start,
                value_end,
            }),
            _ => self.buf.truncate(mark),
        }
    }

    /// The buffer and each entry's offsets in it (key start, key end, value
    /// start, value end), for a copy to travel as it is (the daemon
    /// protocol): one string and a table instead of two strings an entry.
    pub fn raw_parts(&self) -> (&str, impl ExactSizeIterator<Item = [u32; 4]> + '_) {
        let spans = self
            .spans
            .iter()
            .map(|s| [s.key_start, s.key_end, s.value_start, s.value_end]);
        (&self.buf, spans)
    }

    /// The environ [`CgiEnv::raw_parts`] described; `None` unless every
    /// offset pair is ordered, within `buf` and on character boundaries.
    pub fn from_raw_parts(
        buf: String,
        spans: impl IntoIterator<Item = [u32; 4]>,
    ) -> Option<CgiEnv> {
        let ok = |start: u32, end: u32| {
            let (start, end) = (start as usize, end as usize);
            start <= end && buf.is_char_boundary(start) && buf.is_char_boundary(end)
        };
        // Sized from the iterator's hint: collecting through `Option`
        // loses it, and the table then grew by reallocation (measured:
        // this function was 8.5% of a daemon process's CPU per request).
        let spans = spans.into_iter();
        let mut out = Vec::with_capacity(spans.size_hint().0);
        for [key_start, key_end, value_start, value_end] in spans {
            if !(ok(key_start, key_end) && ok(value_start, value_end)) {
                return None;
            }
            out.push(Span {
                key_start,
                key_end,
                value_start,
                value_end,
            });
        }
        let spans = out;
        Some(CgiEnv { buf, spans })
    }

    /// Replace the value of the first entry named `key` among the first
    /// `within` entries; otherwise add the pair at the end.
    pub fn set_within(&mut self, within: usize, key: &str, value: &str) {
        match self.position_within(within, key) {
            Some(i) => {
                // The old value's bytes stay in the buffer, unused.
                if let Some((value_start, value_end)) = self.store(value) {
                    self.spans[i].value_start = value_start;
                    self.spans[i].value_end = value_end;
                }
            }
            None => self.push(key, value),
        }
    }

    /// `apr_table_set`: replace the value of `key`, or add the pair.
    pub fn set(&mut self, key: &str, value: &str) {
        self.set_within(self.spans.len(), key, value);
    }

    /// Remove every entry named `key`.
    pub fn unset(&mut self, key: &str) {
        let buf = &self.buf;
        self.spans.retain(|s| &buf[s.key()] != key);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_within(self.spans.len(), key)
    }

    /// `get` among the first `within` entries only.
    pub fn get_within(&self, within: usize, key: &str) -> Option<&str> {
        self.position_within(within, key)
            .map(|i| &self.buf[self.spans[i].value()])
    }

    /// Index of the first entry named `key` among the first `within`.
    fn position_within(&self, within: usize, key: &str) -> Option<usize> {
        self.spans[..within.min(self.spans.len())]
            .iter()
            .position(|s| &self.buf[s.key()] == key)
    }

    /// The buffer and the entries' offsets in it, for comparing one
    /// request's environ with the previous one's as a whole
    /// (`environ/layout.rs`).
    pub(crate) fn layout(&self) -> (&[u8], &[Span]) {
        (self.buf.as_bytes(), &self.spans)
    }

    /// The `j`th pair, in order.
    pub fn entry(&self, j: usize) -> Option<(&str, &str)> {
        self.spans
            .get(j)
            .map(|s| (&self.buf[s.key()], &self.buf[s.value()]))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(|s| (&self.buf[s.key()], &self.buf[s.value()]))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for CgiEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut env = CgiEnv::default();
        for (k, v) in pairs {
            env.push(k.as_ref(), v.as_ref());
        }
        env
    }
}

impl PartialEq for CgiEnv {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for CgiEnv {}

impl fmt::Debug for CgiEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::CgiEnv;

    #[test]
    fn pairs_keep_their_order_and_set_replaces_in_place() {
        let mut e: CgiEnv = [("A", "1"), ("B", "2")].into_iter().collect();
        e.set("A", "one");
        e.set("C", "3");
        e.push("A", "again");
        let pairs: Vec<_> = e.iter().collect();
        assert_eq!(
            pairs,
            [("A", "one"), ("B", "2"), ("C", "3"), ("A", "again")]
        );
        assert_eq!(e.get("A"), Some("one"));
        e.unset("A");
        assert_eq!(e.iter().collect::<Vec<_>>(), [("B", "2"), ("C", "3")]);
    }

    #[test]
    fn set_within_looks_only_at_the_first_entries() {
        let mut e: CgiEnv = [("X", "1"), ("Y", "2")].into_iter().collect();
        e.set_within(1, "Y", "new");
        e.set_within(1, "X", "x");
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            [("X", "x"), ("Y", "2"), ("Y", "new")]
        );
    }

    #[test]
    fn non_ascii_values_and_equality() {
        let a: CgiEnv = [("PATH_INFO", "/\u{e9}")].into_iter().collect();
        let mut b = CgiEnv::with_capacity(1, 16);
        b.push("PATH_INFO", "/x");
        assert_ne!(a, b);
        b.set("PATH_INFO", "/\u{e9}");
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), "{\"PATH_INFO\": \"/\u{e9}\"}");
    }

    #[test]
    fn raw_parts_round_trip_and_bad_offsets_are_refused() {
        let mut a: CgiEnv = [("PATH_INFO", "/\u{e9}"), ("X", "1")].into_iter().collect();
        // A replaced value leaves unused bytes in the buffer.
        a.set("X", "22");
        let (buf, spans) = a.raw_parts();
        let spans: Vec<[u32; 4]> = spans.collect();
        let b = CgiEnv::from_raw_parts(buf.to_owned(), spans.clone()).expect("valid");
        assert_eq!(a, b);
        // Out of the buffer, reversed, or inside the two bytes of "\u{e9}".
        let end = u32::try_from(buf.len()).expect("small");
        let e9 = u32::try_from(buf.find('\u{e9}').expect("there")).expect("small");
        for bad in [[0, end + 1, 0, 0], [2, 1, 0, 0], [0, 1, e9 + 1, e9 + 2]] {
            let mut with = spans.clone();
            with.push(bad);
            assert!(
                CgiEnv::from_raw_parts(buf.to_owned(), with).is_none(),
                "{bad:?}"
            );
        }
    }
}
