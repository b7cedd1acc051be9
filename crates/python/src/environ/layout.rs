//! The previous request's front-end environ as it came, bytes and offsets,
//! so that the next one can be compared with it as a whole.
//!
//! Successive requests of one client usually build the very same table:
//! the same names at the same offsets, and values of the same lengths
//! (a port number, a timestamp and a request id change; their lengths do
//! not).  Then the two buffers are compared 64 bytes at a time (a
//! differing block eight bytes at a time), and only the entries where a
//! difference falls are looked at: some twenty block comparisons instead
//! of eighty string comparisons, each with its slicing and bounds checks
//! (that per-entry loop was 3% of the CPU of an embedded hello request;
//! comparing by words alone cost more than it).  Any other request (a different length, a
//! name that changed) takes `cache.rs`'s entry-by-entry comparison.

use std::ops::Range;

use super::cache::{overridden, same_bytes, skipped};
use crate::CgiEnv;
use crate::cgi_env::Span;

/// One key or value of an entry: where it is in the buffer.
#[derive(Clone, Copy)]
struct Piece {
    start: u32,
    end: u32,
    /// The entry's index in the `CgiEnv`.
    entry: u32,
    /// Its slot in the cache's `Recent` (`NO_SLOT` for an entry mod_wsgi
    /// leaves out of the environ).
    slot: u32,
    /// A key, or the value of a name set again on the Python side: a
    /// difference here is not a changed value.
    fixed: bool,
}

const NO_SLOT: u32 = u32::MAX;

const BLOCK: usize = 64;

/// Two `BLOCK`-byte slices are equal.
#[inline]
fn same_block(a: &[u8], b: &[u8]) -> bool {
    match (<&[u8; BLOCK]>::try_from(a), <&[u8; BLOCK]>::try_from(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Piece {
    fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

pub(super) struct Layout {
    buf: Vec<u8>,
    spans: Vec<Span>,
    /// Every non-empty key and value, by start offset.
    pieces: Vec<Piece>,
    /// Pieces found changed by the last `changed`, for `commit`.
    touched: Vec<u32>,
}

impl Layout {
    /// The layout of `cgi`, whose non-skipped entries are the cache's
    /// slots in order; `None` when offsets do not fit (never, for an
    /// environ within the request limits).
    pub(super) fn new(cgi: &CgiEnv) -> Option<Layout> {
        let (buf, spans) = cgi.layout();
        let mut pieces = Vec::with_capacity(2 * spans.len());
        let mut slot = 0u32;
        for (j, span) in spans.iter().enumerate() {
            let key = span.key();
            let name = std::str::from_utf8(&buf[key.clone()]).ok()?;
            let entry = u32::try_from(j).ok()?;
            let this_slot = if skipped(name) {
                NO_SLOT
            } else {
                slot += 1;
                slot - 1
            };
            let value = span.value();
            for (range, fixed) in [(key, true), (value, overridden(name))] {
                if range.is_empty() {
                    continue;
                }
                pieces.push(Piece {
                    start: u32::try_from(range.start).ok()?,
                    end: u32::try_from(range.end).ok()?,
                    entry,
                    slot: this_slot,
                    fixed,
                });
            }
        }
        pieces.sort_unstable_by_key(|p| p.start);
        Some(Layout {
            buf: buf.to_vec(),
            spans: spans.to_vec(),
            pieces,
            touched: Vec::new(),
        })
    }

    /// When `cgi` has this layout and differs from it only in values that
    /// may change: true, with `out` listing those entries as (slot, entry
    /// index).  False otherwise (`out` is then meaningless).
    pub(super) fn changed(&mut self, cgi: &CgiEnv, out: &mut Vec<(usize, usize)>) -> bool {
        let (buf, spans) = cgi.layout();
        if buf.len() != self.buf.len() || spans != self.spans.as_slice() {
            return false;
        }
        out.clear();
        self.touched.clear();
        let old = &self.buf;
        let n = buf.len();
        let mut first = 0; // the first piece that may still overlap
        let mut at = 0;
        while at < n {
            // Blocks of 64 bytes compare as fixed-size arrays (vector
            // instructions, no call); a differing block is looked at by
            // words.
            if at + BLOCK <= n && same_block(&buf[at..at + BLOCK], &old[at..at + BLOCK]) {
                at += BLOCK;
                continue;
            }
            let end = (at + 8).min(n);
            if same_bytes(&buf[at..end], &old[at..end]) {
                at = end;
                continue;
            }
            while first < self.pieces.len() && (self.pieces[first].end as usize) <= at {
                first += 1;
            }
            let mut q = first;
            while q < self.pieces.len() && (self.pieces[q].start as usize) < end {
                let p = self.pieces[q];
                let seen = self.touched.last() == Some(&(q as u32));
                if !seen && !same_bytes(&buf[p.range()], &old[p.range()]) {
                    if p.fixed {
                        return false;
                    }
                    self.touched.push(q as u32);
                    if p.slot != NO_SLOT {
                        out.push((p.slot as usize, p.entry as usize));
                    }
                }
                q += 1;
            }
            // Bytes outside every piece (values replaced by `set`) are
            // not part of the environ: a difference there is no change.
            at = end;
        }
        true
    }

    /// Take the values `changed` found into the layout, for the next
    /// request to be compared with.
    pub(super) fn commit(&mut self, cgi: &CgiEnv) {
        let (buf, _) = cgi.layout();
        for &q in &self.touched {
            let range = self.pieces[q as usize].range();
            self.buf[range.clone()].copy_from_slice(&buf[range]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;
    use crate::CgiEnv;

    fn env(pairs: &[(&str, &str)]) -> CgiEnv {
        pairs.iter().copied().collect()
    }

    #[test]
    fn finds_exactly_the_changed_values() {
        let base = [
            ("HTTP_HOST", "example.org"),
            ("PATH", "/usr/bin"),
            ("REMOTE_PORT", "51000"),
            ("REQUEST_URI", "/a/long/enough/path/to/span/words"),
            ("mod_wsgi.request_start", "1700000000000000"),
        ];
        let mut layout = Layout::new(&env(&base)).expect("layout");
        let mut out = Vec::new();
        assert!(layout.changed(&env(&base), &mut out));
        assert!(out.is_empty());

        let mut next = base;
        next[2].1 = "51001";
        next[4].1 = "1700000000000123";
        assert!(layout.changed(&env(&next), &mut out));
        // Slots skip PATH: REMOTE_PORT is slot 1 (entry 2), the start
        // time slot 3 (entry 4).
        assert_eq!(out, [(1, 2), (3, 4)]);
        layout.commit(&env(&next));
        assert!(layout.changed(&env(&next), &mut out) && out.is_empty());

        // PATH is left out of the environ: its change is no entry.
        let mut path = next;
        path[1].1 = "/usr/sbX";
        assert!(layout.changed(&env(&path), &mut out) && out.is_empty());

        // Another length, another name of the same length, a value the
        // Python side sets again: not this layout's business.
        let mut longer = next;
        longer[2].1 = "510011";
        assert!(!layout.changed(&env(&longer), &mut out));
        let mut renamed = next;
        renamed[0].0 = "HTTP_HOSX";
        assert!(!layout.changed(&env(&renamed), &mut out));
        let group = [("mod_wsgi.application_group", "g")];
        let mut layout = Layout::new(&env(&group)).expect("layout");
        assert!(!layout.changed(&env(&[("mod_wsgi.application_group", "h")]), &mut out));
    }

    #[test]
    fn bytes_of_replaced_values_are_ignored() {
        let mut a = env(&[("A", "1"), ("B", "2")]);
        a.set("A", "x");
        let mut b = env(&[("A", "9"), ("B", "2")]);
        b.set("A", "x");
        let mut layout = Layout::new(&a).expect("layout");
        let mut out = Vec::new();
        assert!(layout.changed(&b, &mut out));
        assert!(out.is_empty());
    }
}
