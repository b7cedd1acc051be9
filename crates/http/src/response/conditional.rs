//! Validators and conditional requests for static files, as Apache 2.4's
//! core does them: the `ETag` (`FileETag`'s components), `Last-Modified`, and
//! `ap_meets_conditions()` (`If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since`, `If-Range`).
//!
//! All date comparisons are in whole seconds; a date that does not parse
//! counts as the epoch, as `apr_date_parse_http` failing does.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use wsgid_config::file_etag;

/// The validators of one file at one request time.
#[derive(Clone, Debug)]
pub(crate) struct Validators {
    /// `"<size hex>-<mtime µs hex>"` (the components `FileETag` chose,
    /// inode first), `W/`-prefixed when the file changed less than a second
    /// before the request; empty for `FileETag None`.
    pub etag: String,
    /// The `Last-Modified` value (the mtime, never later than the request).
    pub last_modified: String,
    /// Seconds of the `Last-Modified` time.
    mtime_sec: i64,
    /// Seconds of the request time.
    request_sec: i64,
}

/// Microseconds since the epoch (negative before it), as `apr_time_t`.
fn usec(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

impl Validators {
    /// Validators for a file of `size` bytes modified at `mtime`, requested
    /// at `now`, with Apache's default ETag (`FileETag MTime Size`).
    #[cfg(test)]
    pub fn new(size: u64, mtime: SystemTime, now: SystemTime) -> Validators {
        Validators::with_etag(file_etag::DEFAULT, 0, size, mtime, now)
    }

    /// [`Validators::new`] with the ETag components `etag_bits`
    /// (`wsgid_config::file_etag`) and the file's inode.
    pub fn with_etag(
        etag_bits: u8,
        inode: u64,
        size: u64,
        mtime: SystemTime,
        now: SystemTime,
    ) -> Validators {
        let mtime_us = usec(mtime);
        let now_us = usec(now);
        let weak = now_us.saturating_sub(mtime_us) < 1_000_000;
        let etag = if etag_bits & file_etag::NONE != 0 {
            String::new()
        } else {
            // ap_make_etag_ex: inode, size, mtime, in that order; apr
            // formats the unsigned 64-bit value of the (signed) time.
            let mut parts = Vec::with_capacity(3);
            if etag_bits & file_etag::INODE != 0 {
                parts.push(format!("{inode:x}"));
            }
            if etag_bits & file_etag::SIZE != 0 {
                parts.push(format!("{size:x}"));
            }
            if etag_bits & file_etag::MTIME != 0 {
                parts.push(format!("{:x}", mtime_us as u64));
            }
            format!("{}\"{}\"", if weak { "W/" } else { "" }, parts.join("-"))
        };
        // ap_rationalize_mtime: Last-Modified is never in the future.
        let last_modified_time = if mtime > now { now } else { mtime };
        let last_modified = httpdate::fmt_http_date(clamp_to_epoch(last_modified_time));
        Validators {
            etag,
            last_modified,
            mtime_sec: usec(last_modified_time).div_euclid(1_000_000),
            request_sec: now_us.div_euclid(1_000_000),
        }
    }
}

/// `fmt_http_date` cannot show times before 1970.
fn clamp_to_epoch(t: SystemTime) -> SystemTime {
    if t < UNIX_EPOCH { UNIX_EPOCH } else { t }
}

/// Seconds since the epoch of an HTTP date, 0 when it does not parse.
fn date_sec(value: &str) -> i64 {
    super::http_date::seconds(value).unwrap_or(0)
}

/// A request header as Apache's merged `headers_in` table holds it: all
/// occurrences joined with `", "`.  Non-UTF-8 bytes become U+FFFD.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut joined = String::from_utf8_lossy(first.as_bytes());
    for v in values {
        let s = joined.to_mut();
        s.push_str(", ");
        s.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(joined)
}

/// The outcome of one precondition (`ap_condition_e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cond {
    None,
    NoMatch,
    Weak,
    Strong,
}

/// What the conditional headers ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Serve the file (ranges still apply).
    Serve,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// Is `etag` in the comma-separated entity-tag list `list`?  `weak`
/// compares without the `W/` prefixes; strong comparison requires both
/// tags to be strong.
fn etag_in_list(list: &str, etag: &str, weak: bool) -> bool {
    let strip = |t: &str| -> Option<String> {
        let t = t.trim();
        match t.strip_prefix("W/") {
            Some(rest) if weak => Some(rest.to_owned()),
            Some(_) => None,
            None => Some(t.to_owned()),
        }
    };
    let Some(wanted) = strip(etag) else {
        return false;
    };
    if !wanted.starts_with('"') {
        return false;
    }
    split_list(list).filter_map(strip).any(|t| t == wanted)
}

/// Split a header list on commas outside quoted strings.
fn split_list(list: &str) -> impl Iterator<Item = &str> {
    let mut in_quotes = false;
    let mut escaped = false;
    list.split(move |c: char| {
        if escaped {
            escaped = false;
            return false;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => return true,
            _ => {}
        }
        false
    })
    .map(str::trim)
    .filter(|s| !s.is_empty())
}

/// The request's conditional headers, evaluated against one file.
pub(crate) struct Conditions<'a> {
    pub headers: &'a HeaderMap,
    /// GET or HEAD (Apache's `M_GET`).
    pub is_get: bool,
    pub v: &'a Validators,
}

impl Conditions<'_> {
    fn has_range(&self) -> bool {
        self.headers.contains_key(http::header::RANGE)
    }

    /// The weak/strong verdict of a date match: weak when the file changed
    /// within the minute before the request, and never weak for a range.
    fn date_match(&self) -> Cond {
        if self.v.request_sec < self.v.mtime_sec + 60 {
            if self.has_range() {
                Cond::NoMatch
            } else {
                Cond::Weak
            }
        } else {
            Cond::Strong
        }
    }

    fn if_match(&self) -> Cond {
        match header(self.headers, "if-match") {
            None => Cond::None,
            Some(v) if v.starts_with('*') || etag_in_list(&v, &self.v.etag, false) => Cond::Strong,
            Some(_) => Cond::NoMatch,
        }
    }

    fn if_unmodified_since(&self) -> Cond {
        let Some(v) = header(self.headers, "if-unmodified-since") else {
            return Cond::None;
        };
        let ius = date_sec(&v);
        if ius != 0 && self.v.mtime_sec > ius {
            self.date_match()
        } else {
            Cond::NoMatch
        }
    }

    fn if_none_match(&self) -> Cond {
        let Some(v) = header(self.headers, "if-none-match") else {
            return Cond::None;
        };
        if v.starts_with('*') {
            return Cond::Strong;
        }
        let etag = &self.v.etag;
        if self.is_get {
            if self.has_range() {
                if etag_in_list(&v, etag, false) {
                    return Cond::Strong;
                }
            } else if etag_in_list(&v, etag, true) {
                return Cond::Weak;
            }
        } else if etag_in_list(&v, etag, false) {
            return Cond::Strong;
        }
        Cond::NoMatch
    }

    fn if_modified_since(&self) -> Cond {
        let Some(v) = header(self.headers, "if-modified-since") else {
            return Cond::None;
        };
        let ims = date_sec(&v);
        if ims >= self.v.mtime_sec && ims <= self.v.request_sec {
            self.date_match()
        } else {
            Cond::NoMatch
        }
    }

    fn if_range_cond(&self) -> Cond {
        if !self.has_range() {
            return Cond::None;
        }
        let Some(v) = header(self.headers, "if-range") else {
            return Cond::None;
        };
        if v.starts_with('"') {
            return if *v == *self.v.etag {
                Cond::Strong
            } else {
                Cond::NoMatch
            };
        }
        if date_sec(&v) == self.v.mtime_sec {
            // Weak matches are not allowed with ranges.
            if self.v.request_sec < self.v.mtime_sec + 60 {
                Cond::NoMatch
            } else {
                Cond::Strong
            }
        } else {
            Cond::NoMatch
        }
    }

    /// May a `Range` header be honoured (`If-Range` absent or matching)?
    pub fn range_allowed(&self) -> bool {
        self.if_range_cond() != Cond::NoMatch
    }

    /// `ap_meets_conditions()`.
    pub fn evaluate(&self) -> Outcome {
        if self.if_match() == Cond::NoMatch {
            return Outcome::PreconditionFailed;
        }
        // -1 unset, 0 no, 1 yes (Apache's `not_modified`).
        let mut not_modified: i8 = -1;
        match self.if_unmodified_since() {
            Cond::NoMatch => not_modified = 0,
            c if c >= Cond::Weak => return Outcome::PreconditionFailed,
            _ => {}
        }
        match self.if_none_match() {
            Cond::NoMatch => not_modified = 0,
            c if c >= Cond::Weak => {
                if !self.is_get {
                    return Outcome::PreconditionFailed;
                }
                if not_modified != 0 {
                    not_modified = 1;
                }
            }
            _ => {}
        }
        match self.if_modified_since() {
            Cond::NoMatch => not_modified = 0,
            c if c >= Cond::Weak && self.is_get && not_modified != 0 => not_modified = 1,
            _ => {}
        }
        if self.if_range_cond() > Cond::None {
            return Outcome::Serve;
        }
        if not_modified == 1 {
            Outcome::NotModified
        } else {
            Outcome::Serve
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn eval(hdrs: &[(&str, &str)], is_get: bool, v: &Validators) -> Outcome {
        let mut h = HeaderMap::new();
        for (k, val) in hdrs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or(http::header::WARNING),
                http::HeaderValue::from_str(val).unwrap_or(http::HeaderValue::from_static("")),
            );
        }
        Conditions {
            headers: &h,
            is_get,
            v,
        }
        .evaluate()
    }

    #[test]
    fn etag_format_and_weakness() {
        let mtime = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let v = Validators::new(21, mtime, mtime + HOUR);
        assert_eq!(v.etag, format!("\"15-{:x}\"", 1_700_000_000_123_456u64));
        let v = Validators::new(21, mtime, mtime + Duration::from_millis(500));
        assert!(v.etag.starts_with("W/\"15-"));
        assert_eq!(Validators::new(0, t(0), t(5000)).etag, "\"0-0\"");
    }

    #[test]
    fn last_modified_never_in_the_future() {
        let v = Validators::new(1, t(2_000_000_000), t(1_000_000_000));
        assert_eq!(v.last_modified, httpdate::fmt_http_date(t(1_000_000_000)));
        let v = Validators::new(1, t(1_000_000_000), t(1_000_003_600));
        assert_eq!(v.last_modified, "Sun, 09 Sep 2001 01:46:40 GMT");
    }

    #[test]
    fn if_none_match() {
        let v = Validators::new(12, t(1_000_000_000), t(1_000_003_600));
        let tag = v.etag.clone();
        assert_eq!(
            eval(&[("if-none-match", &tag)], true, &v),
            Outcome::NotModified
        );
        assert_eq!(
            eval(&[("if-none-match", &format!("W/{tag}"))], true, &v),
            Outcome::NotModified
        );
        assert_eq!(
            eval(&[("if-none-match", &format!("\"x\", {tag}"))], true, &v),
            Outcome::NotModified
        );
        assert_eq!(
            eval(&[("if-none-match", "\"other\"")], true, &v),
            Outcome::Serve
        );
        assert_eq!(
            eval(&[("if-none-match", "*")], true, &v),
            Outcome::NotModified
        );
        // Non-GET: a match is a failed precondition.
        assert_eq!(
            eval(&[("if-none-match", &tag)], false, &v),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            eval(&[("if-none-match", "\"x\"")], false, &v),
            Outcome::Serve
        );
        // With a Range only the strong comparison counts.
        assert_eq!(
            eval(
                &[
                    ("if-none-match", &format!("W/{tag}")),
                    ("range", "bytes=0-1")
                ],
                true,
                &v
            ),
            Outcome::Serve
        );
    }

    #[test]
    fn if_modified_since() {
        let v = Validators::new(12, t(1_000_000_000), t(1_000_003_600));
        let lm = v.last_modified.clone();
        assert_eq!(
            eval(&[("if-modified-since", &lm)], true, &v),
            Outcome::NotModified
        );
        let earlier = httpdate::fmt_http_date(t(999_999_999));
        assert_eq!(
            eval(&[("if-modified-since", &earlier)], true, &v),
            Outcome::Serve
        );
        // In the future of the request: invalid, so serve.
        let later = httpdate::fmt_http_date(t(1_000_009_000));
        assert_eq!(
            eval(&[("if-modified-since", &later)], true, &v),
            Outcome::Serve
        );
        assert_eq!(
            eval(&[("if-modified-since", "garbage")], true, &v),
            Outcome::Serve
        );
        assert_eq!(
            eval(&[("if-modified-since", &lm)], false, &v),
            Outcome::Serve
        );
        // A non-matching ETag wins over a matching date.
        assert_eq!(
            eval(
                &[("if-modified-since", &lm), ("if-none-match", "\"x\"")],
                true,
                &v
            ),
            Outcome::Serve
        );
    }

    #[test]
    fn if_match_and_unmodified_since() {
        let v = Validators::new(12, t(1_000_000_000), t(1_000_003_600));
        let tag = v.etag.clone();
        assert_eq!(eval(&[("if-match", &tag)], true, &v), Outcome::Serve);
        assert_eq!(eval(&[("if-match", "*")], true, &v), Outcome::Serve);
        assert_eq!(
            eval(&[("if-match", "\"nope\"")], true, &v),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            eval(&[("if-match", &format!("W/{tag}"))], true, &v),
            Outcome::PreconditionFailed
        );
        let before = httpdate::fmt_http_date(t(999_999_000));
        assert_eq!(
            eval(&[("if-unmodified-since", &before)], true, &v),
            Outcome::PreconditionFailed
        );
        let after = httpdate::fmt_http_date(t(1_000_000_500));
        assert_eq!(
            eval(&[("if-unmodified-since", &after)], true, &v),
            Outcome::Serve
        );
        assert_eq!(
            eval(&[("if-unmodified-since", "junk")], true, &v),
            Outcome::Serve
        );
    }

    #[test]
    fn if_range() {
        let v = Validators::new(12, t(1_000_000_000), t(1_000_003_600));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::RANGE,
            http::HeaderValue::from_static("bytes=0-1"),
        );
        let c = |h: &HeaderMap| {
            Conditions {
                headers: h,
                is_get: true,
                v: &v,
            }
            .range_allowed()
        };
        assert!(c(&h));
        h.insert(
            http::header::IF_RANGE,
            http::HeaderValue::from_str(&v.etag).unwrap_or(http::HeaderValue::from_static("")),
        );
        assert!(c(&h));
        h.insert(
            http::header::IF_RANGE,
            http::HeaderValue::from_static("\"old\""),
        );
        assert!(!c(&h));
        let lm = http::HeaderValue::from_str(&v.last_modified)
            .unwrap_or(http::HeaderValue::from_static(""));
        h.insert(http::header::IF_RANGE, lm);
        assert!(c(&h));
        // If-Range present: a matching If-None-Match no longer gives 304.
        h.insert(
            http::header::IF_NONE_MATCH,
            http::HeaderValue::from_static("*"),
        );
        assert_eq!(
            Conditions {
                headers: &h,
                is_get: true,
                v: &v
            }
            .evaluate(),
            Outcome::Serve
        );
    }

    #[test]
    fn list_splitting() {
        assert!(etag_in_list("\"a,b\", \"c\"", "\"a,b\"", false));
        assert!(!etag_in_list("\"a\"", "W/\"a\"", false));
        assert!(etag_in_list("W/\"a\"", "\"a\"", true));
    }
}
