//! `Range: bytes=...` for static files, as Apache 2.4's byterange filter
//! does it (modules/http/byterange_filter.c).
//!
//! A syntactically invalid range set is ignored as a whole (the full file
//! is sent); adjacent and overlapping ranges are merged in request order;
//! too many ranges, overlaps or reversals (Apache's `MaxRanges 200`,
//! `MaxRangeOverlaps 20`, `MaxRangeReversals 20` defaults) also mean the
//! full file; only when every range starts past the end is it a 416.
//! Several ranges become a `multipart/byteranges` body with Apache's part
//! headers and one boundary per process.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::body::Part;

const MAX_RANGES: usize = 200;
const MAX_OVERLAPS: u32 = 20;
const MAX_REVERSALS: u32 = 20;

/// What a `Range` header asks of a file of known length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable range: send the whole file with 200.
    Full,
    /// No range overlaps the file: 416.
    Unsatisfiable,
    /// Inclusive `(first, last)` byte ranges, merged, in request order.
    Ranges(Vec<(u64, u64)>),
}

/// `ap_parse_strict_length`: ASCII digits only, no sign or blanks.
fn strict_len(s: &str) -> Option<i64> {
    if !s.bytes().next().is_some_and(|b| b.is_ascii_digit())
        || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// Interpret the value of a `Range` (or `Request-Range`) header for a body
/// of `len` bytes (`ap_set_byterange`).
pub(crate) fn parse(value: &str, len: u64) -> RangeRequest {
    let Ok(clength) = i64::try_from(len) else {
        return RangeRequest::Full;
    };
    if clength <= 0 || value.len() < 6 || !value[..6].eq_ignore_ascii_case("bytes=") {
        return RangeRequest::Full;
    }
    let mut rest = &value[6..];
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let (mut ostart, mut oend) = (0i64, 0i64);
    let mut in_merge = false;
    let mut unsatisfiable = false;
    let (mut overlaps, mut reversals) = (0u32, 0u32);

    loop {
        // ap_getword(',') : the word, then every following comma skipped.
        let end = rest.find(',').unwrap_or(rest.len());
        let cur = &rest[..end];
        rest = rest[end..].trim_start_matches(',');
        if cur.is_empty() {
            break;
        }
        let Some(dash) = cur.find('-') else {
            return RangeRequest::Full;
        };
        let (start, end);
        if dash == 0 {
            let Some(n) = strict_len(&cur[1..]) else {
                return RangeRequest::Full;
            };
            if n < 1 {
                return RangeRequest::Full;
            }
            start = clength - n;
            end = clength - 1;
        } else {
            let Some(s) = strict_len(&cur[..dash]) else {
                return RangeRequest::Full;
            };
            start = s;
            let tail = &cur[dash + 1..];
            if tail.is_empty() {
                end = clength - 1;
                if start == 0 {
                    // "0-" means the whole body: forget every other range.
                    ranges.clear();
                    in_merge = true;
                    ostart = 0;
                    oend = end;
                    break;
                }
            } else {
                let Some(e) = strict_len(tail) else {
                    return RangeRequest::Full;
                };
                if start > e {
                    return RangeRequest::Full;
                }
                end = e;
            }
        }
        let start = start.max(0);
        if start >= clength {
            unsatisfiable = true;
            continue;
        }
        let end = end.min(clength - 1);
        if !in_merge {
            ostart = start;
            oend = end;
            in_merge = true;
            continue;
        }
        in_merge = start >= ostart && end <= oend;
        if start < ostart && end >= ostart - 1 {
            ostart = start;
            reversals += 1;
            in_merge = true;
        }
        if end >= oend && start <= oend + 1 {
            oend = end;
            in_merge = true;
        }
        if in_merge {
            overlaps += 1;
        } else {
            ranges.push((ostart, oend));
            in_merge = true;
            ostart = start;
            oend = end;
        }
    }
    if in_merge {
        ranges.push((ostart, oend));
    } else if ranges.is_empty() && unsatisfiable {
        return RangeRequest::Unsatisfiable;
    }
    let sum: i64 = ranges.iter().map(|(s, e)| e - s + 1).sum();
    if sum > clength
        || ranges.is_empty()
        || ranges.len() > MAX_RANGES
        || overlaps > MAX_OVERLAPS
        || reversals > MAX_REVERSALS
    {
        return RangeRequest::Full;
    }
    // Every bound is in 0..clength here, so the conversions cannot fail.
    RangeRequest::Ranges(
        ranges
            .into_iter()
            .map(|(s, e)| (u64::try_from(s).unwrap_or(0), u64::try_from(e).unwrap_or(0)))
            .collect(),
    )
}

/// `Content-Range` of one part: `bytes first-last/len`.
pub(crate) fn content_range(first: u64, last: u64, len: u64) -> String {
    format!("bytes {first}-{last}/{len}")
}

/// The process-wide multipart boundary (Apache draws it once at start-up).
pub(crate) fn boundary() -> &'static str {
    static BOUNDARY: OnceLock<String> = OnceLock::new();
    BOUNDARY.get_or_init(|| {
        // RandomState is seeded from the OS's random source.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(u64::from(std::process::id()));
        format!("{:x}", h.finish())
    })
}

/// The body parts and total length of a multipart/byteranges answer.
pub(crate) fn multipart(
    file: Arc<File>,
    ranges: &[(u64, u64)],
    len: u64,
    content_type: Option<&str>,
    boundary: &str,
) -> (Vec<Part>, u64) {
    let head = match content_type {
        Some(ct) => format!("\r\n--{boundary}\r\nContent-type: {ct}\r\nContent-range: bytes "),
        None => format!("\r\n--{boundary}\r\nContent-range: bytes "),
    };
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total = 0u64;
    for &(first, last) in ranges {
        let part_head = format!("{head}{first}-{last}/{len}\r\n\r\n");
        total += part_head.len() as u64 + (last - first + 1);
        parts.push(Part::Bytes(Bytes::from(part_head)));
        parts.push(Part::File {
            file: Arc::clone(&file),
            offset: first,
            len: last - first + 1,
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    total += tail.len() as u64;
    parts.push(Part::Bytes(Bytes::from(tail)));
    (parts, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    fn r(v: &str, len: u64) -> RangeRequest {
        parse(v, len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(r("bytes=0-4", 12), Ranges(vec![(0, 4)]));
        assert_eq!(r("BYTES=0-4", 12), Ranges(vec![(0, 4)]));
        assert_eq!(r("bytes=5-", 12), Ranges(vec![(5, 11)]));
        assert_eq!(r("bytes=-3", 12), Ranges(vec![(9, 11)]));
        assert_eq!(r("bytes=-100", 12), Ranges(vec![(0, 11)]));
        assert_eq!(r("bytes=3-100", 12), Ranges(vec![(3, 11)]));
        assert_eq!(r("bytes=0-", 12), Ranges(vec![(0, 11)]));
    }

    #[test]
    fn invalid_means_full() {
        for v in [
            "bytes=",
            "bytes=abc",
            "bytes=4-2",
            "bytes=-0",
            "bytes=1-2-3",
            "bytes= 0-4",
            "bytes=0-4, 6-8",
            "bytes=+1-2",
            "bytes=0-1,x",
            "items=0-1",
            "bytes",
            "",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(r(v, 12), Full, "{v:?}");
        }
        assert_eq!(r("bytes=0-4", 0), Full);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(r("bytes=12-", 12), Unsatisfiable);
        assert_eq!(r("bytes=20-30,40-50", 12), Unsatisfiable);
        // One satisfiable range is enough.
        assert_eq!(r("bytes=20-30,0-1", 12), Ranges(vec![(0, 1)]));
    }

    #[test]
    fn merging() {
        assert_eq!(r("bytes=0-1,5-6", 12), Ranges(vec![(0, 1), (5, 6)]));
        assert_eq!(r("bytes=0-3,2-5", 12), Ranges(vec![(0, 5)]));
        assert_eq!(r("bytes=0-3,4-5", 12), Ranges(vec![(0, 5)]));
        assert_eq!(r("bytes=5-6,0-1", 12), Ranges(vec![(5, 6), (0, 1)]));
        assert_eq!(r("bytes=4-6,2-4", 12), Ranges(vec![(2, 6)]));
        assert_eq!(r("bytes=1-2,,4-5,", 12), Ranges(vec![(1, 2), (4, 5)]));
        // "0-" swallows the other ranges.
        assert_eq!(r("bytes=3-4,0-,8-9", 12), Ranges(vec![(0, 11)]));
        // More bytes than the file: ignored.
        assert_eq!(r("bytes=0-1,3-4,6-7,0-11", 12), Full);
        assert_eq!(r("bytes=0-5,7-11,2-9", 12), Full);
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..201).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(r(&format!("bytes={}", many.join(",")), 1000), Full);
        let overlapping: Vec<String> = (0..22).map(|_| "0-1".to_owned()).collect();
        assert_eq!(
            r(&format!("bytes=5-6,{}", overlapping.join(",")), 1000),
            Full
        );
    }

    #[test]
    fn multipart_layout() {
        let Ok(file) = tempfile::tempfile() else {
            return;
        };
        let (parts, total) = multipart(
            Arc::new(file),
            &[(0, 1), (5, 6)],
            12,
            Some("text/plain"),
            "b0undary",
        );
        assert_eq!(parts.len(), 5);
        let Part::Bytes(first) = &parts[0] else {
            panic!("first part is a header")
        };
        assert_eq!(
            &first[..],
            b"\r\n--b0undary\r\nContent-type: text/plain\r\nContent-range: bytes 0-1/12\r\n\r\n"
        );
        let Part::Bytes(last) = &parts[4] else {
            panic!("last part is the trailer")
        };
        assert_eq!(&last[..], b"\r\n--b0undary--\r\n");
        let heads: u64 = parts
            .iter()
            .map(|p| {
                if let Part::Bytes(b) = p {
                    b.len() as u64
                } else {
                    2
                }
            })
            .sum();
        assert_eq!(total, heads);
        assert!(!boundary().is_empty());
        assert_eq!(boundary(), boundary());
    }
}
