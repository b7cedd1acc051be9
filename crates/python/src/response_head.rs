//! The response status line and headers, as the application gave them to
//! `start_response` (or as a daemon process sent them back).
//!
//! The reason phrase and every header's name and value sit end to end in
//! one string, with a small table of where each header ends: two
//! allocations for the head of every response, instead of one per string
//! (a head made of `(String, String)` pairs cost eight for a response with
//! two headers, made on a Python thread and freed on the front end's).
//! The front end turns the text into one `Bytes` and the header values
//! into slices of it ([`ResponseHead::into_shared`]).

use std::ops::Range;

use bytes::Bytes;

/// Where one header ends in [`ResponseHead`]'s text: its name starts
/// where the previous header's value (or the reason phrase) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ends {
    name: u32,
    value: u32,
}

/// Status, reason phrase and headers, validated as mod_wsgi validates them
/// (`adapter.rs`) before they get here.
///
/// Headers keep the application's order, repeats included.  Every `char`
/// is at most U+00FF (checked): write each as one byte (latin-1).  No
/// CR/LF in values, no controls or spaces in names.  Nothing is added,
/// except `Content-Length` on the `File` path (as mod_wsgi does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Any three digits (`000`-`999`), as mod_wsgi accepts.
    pub status: u16,
    text: String,
    reason_end: u32,
    headers: Vec<Ends>,
}

impl ResponseHead {
    /// A head with no headers yet.
    pub fn new(status: u16, reason: &str) -> ResponseHead {
        ResponseHead::with_capacity(status, reason, 0, 0)
    }

    /// A head with room for `headers` headers of `bytes` bytes in all.
    pub fn with_capacity(status: u16, reason: &str, headers: usize, bytes: usize) -> ResponseHead {
        // Offsets are u32: a reason phrase past 4 GiB is dropped (it could
        // not come from a status line anyway).
        let reason = if u32::try_from(reason.len()).is_ok() {
            reason
        } else {
            ""
        };
        let mut text = String::with_capacity(reason.len() + bytes);
        text.push_str(reason);
        ResponseHead {
            status,
            reason_end: u32::try_from(reason.len()).unwrap_or(0),
            text,
            headers: Vec::with_capacity(headers),
        }
    }

    /// Add a header at the end.  A head is bounded by what a client can
    /// be sent; one past 4 GiB of text is not added.
    pub fn push(&mut self, name: &str, value: &str) {
        let mark = self.text.len();
        self.text.push_str(name);
        let name_end = u32::try_from(self.text.len());
        self.text.push_str(value);
        match (name_end, u32::try_from(self.text.len())) {
            (Ok(name), Ok(value)) => self.headers.push(Ends { name, value }),
            _ => self.text.truncate(mark),
        }
    }

    /// The reason phrase exactly as given (may be empty).
    pub fn reason(&self) -> &str {
        &self.text[..self.reason_end as usize]
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Each header's (name range, value range) in the text.
    fn ranges(&self) -> impl ExactSizeIterator<Item = (Range<usize>, Range<usize>)> + '_ {
        ranges(self.reason_end, &self.headers)
    }

    /// The headers, in order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.ranges()
            .map(|(name, value)| (&self.text[name], &self.text[value]))
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The head with its text as one `Bytes`: the reason phrase and the
    /// header values become slices of it, without a copy each.
    pub fn into_shared(self) -> SharedHead {
        let text = Bytes::from(self.text);
        SharedHead {
            status: self.status,
            reason: text.slice(..self.reason_end as usize),
            text,
            reason_end: self.reason_end,
            headers: self.headers,
        }
    }
}

/// Header `(name, value)` ranges: each name starts where the previous
/// value (or the reason phrase) ended.
fn ranges(
    reason_end: u32,
    headers: &[Ends],
) -> impl ExactSizeIterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let mut start = reason_end as usize;
    headers.iter().map(move |e| {
        let (name_end, value_end) = (e.name as usize, e.value as usize);
        let ranges = (start..name_end, name_end..value_end);
        start = value_end;
        ranges
    })
}

/// [`ResponseHead::into_shared`].
pub struct SharedHead {
    pub status: u16,
    pub reason: Bytes,
    text: Bytes,
    reason_end: u32,
    headers: Vec<Ends>,
}

impl SharedHead {
    /// Each header's name (borrowed) and value (a slice of the text).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Bytes)> + '_ {
        ranges(self.reason_end, &self.headers)
            .map(|(name, value)| (&self.text[name], self.text.slice(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseHead;

    #[test]
    fn headers_keep_order_and_repeats() {
        let mut h = ResponseHead::with_capacity(299, "Custom Reason", 3, 64);
        h.push("Content-Type", "text/plain");
        h.push("Set-Cookie", "a=1");
        h.push("Set-Cookie", "");
        h.push("X-\u{e9}", "caf\u{e9}");
        assert_eq!(h.reason(), "Custom Reason");
        assert_eq!(h.header_count(), 4);
        assert_eq!(
            h.headers().collect::<Vec<_>>(),
            [
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", ""),
                ("X-\u{e9}", "caf\u{e9}"),
            ]
        );
        assert_eq!(h.header("set-cookie"), Some("a=1"));
        assert_eq!(h.header("Missing"), None);
        let shared = h.clone().into_shared();
        assert_eq!(
            (shared.status, &shared.reason[..]),
            (299, &b"Custom Reason"[..])
        );
        let got: Vec<(Vec<u8>, Vec<u8>)> = shared
            .headers()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = h
            .headers()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn empty_reason_and_no_headers() {
        let h = ResponseHead::new(204, "");
        assert_eq!((h.reason(), h.header_count()), ("", 0));
        let shared = h.into_shared();
        assert!(shared.reason.is_empty() && shared.headers().len() == 0);
    }
}
