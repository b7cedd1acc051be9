//! mod_auth_digest (`AuthType Digest`): RFC 2617/7616 MD5 Digest with
//! `qop=auth` (or RFC 2069 without qop), as Apache 2.4 checks it, in
//! `authenticate_digest_user`'s order: header syntax, `uri` against the
//! request, opaque, realm, algorithm, the user's H(A1) from the providers
//! (`file`: `AuthUserFile` in htdigest format; `wsgi`: `get_realm_hash`),
//! the response digest, the nonce count (`AuthDigestNcCheck On`), and the
//! nonce last, so that an old one gets `stale=true`.
//!
//! Nonces are Apache's: base64 of the 8-byte issue time (µs) followed by
//! the hex SHA-1 of a per-process secret, the realm, that time text and the
//! opaque.  Clients (opaque numbers with their nonce count and one-time
//! nonce) live in this process's memory, where Apache uses shared memory:
//! with several worker processes a nonce issued by one worker is refused
//! by another with `stale=true`, and clients retry transparently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use wsgid_config::model::DigestConfig;

use crate::request::Request;

mod header;

pub use header::{DigestHeader, Parsed, parse};

/// `NONCE_TIME_LEN` + `NONCE_HASH_LEN`.
const NONCE_TIME_LEN: usize = 12;
const NONCE_LEN: usize = NONCE_TIME_LEN + 40;
/// Apache's default `AuthDigestNonceLifetime` (seconds).
const DEFAULT_LIFETIME: i64 = 300;
/// Clients kept at most (the shared memory segment's role).
const MAX_CLIENTS: usize = 4096;

struct Client {
    nonce_count: u64,
    last_nonce: String,
}

struct State {
    secret: [u8; 16],
    clients: Mutex<HashMap<u64, Client>>,
    next_opaque: AtomicU64,
    /// `otn_counter`: the "time" of one-time nonces.
    one_time: AtomicU64,
}

static STATE: LazyLock<State> = LazyLock::new(|| {
    let mut secret = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut secret));
    if random.is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let digest = Sha1::digest(format!("{t}:{}", std::process::id()));
        secret.copy_from_slice(&digest[..16]);
    }
    State {
        secret,
        clients: Mutex::new(HashMap::new()),
        next_opaque: AtomicU64::new(1),
        one_time: AtomicU64::new(1),
    }
});

fn clients() -> std::sync::MutexGuard<'static, HashMap<u64, Client>> {
    STATE.clients.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `strtol(opaque, NULL, 16)`: the leading hex digits (0 when none).
fn opaque_num(opaque: &str) -> u64 {
    let s = opaque.trim_start();
    let digits: String = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&digits, 16).unwrap_or(0)
}

fn lifetime(conf: &DigestConfig) -> i64 {
    conf.nonce_lifetime.unwrap_or(DEFAULT_LIFETIME)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

fn nonce_hash(realm: &str, time_text: &str, opaque: &str) -> String {
    let mut h = Sha1::new();
    h.update(STATE.secret);
    h.update(realm.as_bytes());
    h.update(time_text.as_bytes());
    h.update(opaque.as_bytes());
    hex(&h.finalize())
}

/// `gen_nonce`.
fn gen_nonce(conf: &DigestConfig, realm: &str, now: i64, opaque: &str) -> String {
    let t = if lifetime(conf) != 0 {
        now
    } else {
        i64::try_from(STATE.one_time.fetch_add(1, Ordering::Relaxed)).unwrap_or(42)
    };
    let time_text = base64::engine::general_purpose::STANDARD.encode(t.to_le_bytes());
    let hash = nonce_hash(realm, &time_text, opaque);
    format!("{time_text}{hash}")
}

/// `note_digest_auth_failure`: the `WWW-Authenticate` challenge.
pub fn challenge(r: &Request, header: Option<&DigestHeader>, mut stale: bool) -> String {
    let conf = &r.per_dir.digest;
    let realm = r.per_dir.auth_name.clone().unwrap_or_default();
    let qop = match conf.qop.as_deref() {
        None | Some([]) => ", qop=\"auth\"".to_owned(),
        Some([first, ..]) if first == "none" => String::new(),
        Some(list) => format!(", qop=\"{}\"", list.join(",")),
    };
    let wants_client = conf.nc_check == Some(true) || lifetime(conf) == 0;
    let new_client = || {
        let key = STATE.next_opaque.fetch_add(1, Ordering::Relaxed);
        let mut clients = clients();
        if clients.len() >= MAX_CLIENTS {
            // Apache's garbage collection drops the oldest entries.
            let oldest = clients.keys().min().copied();
            if let Some(k) = oldest {
                clients.remove(&k);
            }
        }
        clients.insert(
            key,
            Client {
                nonce_count: 0,
                last_nonce: String::new(),
            },
        );
        key
    };
    let (opaque, client) = match header.and_then(|h| h.opaque.as_deref()) {
        None if wants_client => {
            let key = new_client();
            (format!("{key:x}"), Some(key))
        }
        None => (String::new(), None),
        Some(op) => {
            let key = opaque_num(op);
            let known = clients().get_mut(&key).map(|c| c.nonce_count = 0).is_some();
            if known {
                (op.to_owned(), Some(key))
            } else {
                stale = true;
                let key = new_client();
                (format!("{key:x}"), Some(key))
            }
        }
    };
    let nonce = gen_nonce(conf, &realm, now_micros(), &opaque);
    if let Some(key) = client
        && lifetime(conf) == 0
        && let Some(c) = clients().get_mut(&key)
    {
        c.last_nonce = nonce.clone();
    }
    let opaque_param = if opaque.is_empty() {
        String::new()
    } else {
        format!(", opaque=\"{opaque}\"")
    };
    let domain = conf
        .domain
        .as_ref()
        .map(|d| format!(", domain=\"{}\"", d.join(" ")))
        .unwrap_or_default();
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5{opaque_param}{domain}{}{qop}",
        if stale { ", stale=true" } else { "" }
    )
}

/// How a check ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// 401 with a challenge (`stale`), after logging `line` (module
    /// auth_digest; info level when `info`).
    Challenge {
        line: Option<String>,
        stale: bool,
        info: bool,
    },
    /// 400 after logging `line`.
    BadRequest(String),
}

/// Bump the client's nonce count for a valid header (Apache does it in
/// `post_read_request` for every request carrying one).
pub fn count(h: &DigestHeader) {
    if let Some(op) = &h.opaque
        && let Some(c) = clients().get_mut(&opaque_num(op))
    {
        c.nonce_count += 1;
    }
}

/// The checks before the provider lookup.
pub fn precheck(r: &Request, h: &DigestHeader, realm: &str) -> Result<(), Failure> {
    let uri = h.uri.as_deref().unwrap_or_default();
    if uri != r.unparsed_uri && !uri_matches(r, uri) {
        return Err(Failure::BadRequest(format!(
            "AH01786: uri mismatch - <{uri}> does not match request-uri <{}>",
            r.unparsed_uri
        )));
    }
    let challenge = |line: String| Failure::Challenge {
        line: Some(line),
        stale: false,
        info: false,
    };
    if let Some(op) = &h.opaque
        && opaque_num(op) == 0
    {
        return Err(challenge(format!(
            "AH01787: received invalid opaque - got `{op}'"
        )));
    }
    let got = h.realm.as_deref().unwrap_or_default();
    if got != realm {
        return Err(challenge(format!(
            "AH01788: realm mismatch - got `{got}' but expected `{realm}'"
        )));
    }
    if let Some(alg) = &h.algorithm
        && !alg.eq_ignore_ascii_case("MD5")
    {
        return Err(challenge(format!(
            "AH01789: unknown algorithm `{alg}' received: {}",
            crate::uri::latin1(&r.uri)
        )));
    }
    Ok(())
}

/// The checks after the provider gave H(A1) (`ha1`, hex).
pub fn verify(r: &Request, h: &DigestHeader, ha1: &str) -> Result<(), Failure> {
    let conf = &r.per_dir.digest;
    let user = h.username.as_deref().unwrap_or_default();
    let path = crate::uri::latin1(&r.uri);
    let nonce = h.nonce.as_deref().unwrap_or_default();
    let uri = h.uri.as_deref().unwrap_or_default();
    let challenge = |line: String| Failure::Challenge {
        line: Some(line),
        stale: false,
        info: false,
    };
    let ha2 = md5_hex(&format!("{}:{uri}", r.method.as_str()));
    match &h.qop {
        None => {
            let expected = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            if h.response.as_deref() != Some(expected.as_str()) {
                return Err(challenge(format!(
                    "AH01792: user {user}: password mismatch: {path}"
                )));
            }
        }
        Some(qop) => {
            let allowed = match conf.qop.as_deref() {
                None | Some([]) => qop.eq_ignore_ascii_case("auth"),
                Some(list) => list.iter().any(|q| q.eq_ignore_ascii_case(qop)),
            };
            if !allowed {
                return Err(challenge(format!(
                    "AH01793: invalid qop `{qop}' received: {path}"
                )));
            }
            let expected = md5_hex(&format!(
                "{ha1}:{nonce}:{}:{}:{qop}:{ha2}",
                h.nc.as_deref().unwrap_or_default(),
                h.cnonce.as_deref().unwrap_or_default()
            ));
            if h.response.as_deref() != Some(expected.as_str()) {
                return Err(challenge(format!(
                    "AH01794: user {user}: password mismatch: {path}"
                )));
            }
        }
    }
    check_nc(conf, h)?;
    check_nonce(r, h, user)
}

/// `check_nc` (only with `AuthDigestNcCheck On`).
fn check_nc(conf: &DigestConfig, h: &DigestHeader) -> Result<(), Failure> {
    if conf.nc_check != Some(true) {
        return Ok(());
    }
    let snc = h.nc.as_deref().unwrap_or_default();
    let fail = |line: Option<String>| Failure::Challenge {
        line,
        stale: false,
        info: false,
    };
    let Ok(nc) = u64::from_str_radix(snc.trim_end(), 16) else {
        return Err(fail(Some(format!(
            "AH01773: invalid nc {snc} received - not a number"
        ))));
    };
    let count = h
        .opaque
        .as_deref()
        .and_then(|op| clients().get(&opaque_num(op)).map(|c| c.nonce_count));
    match count {
        None => Err(fail(None)),
        Some(c) if c != nc => Err(fail(Some(format!(
            "AH01774: Warning, possible replay attack: nonce-count check failed: {nc} != {c}"
        )))),
        Some(_) => Ok(()),
    }
}

/// `check_nonce`.
fn check_nonce(r: &Request, h: &DigestHeader, user: &str) -> Result<(), Failure> {
    let conf = &r.per_dir.digest;
    let realm = r.per_dir.auth_name.clone().unwrap_or_default();
    let nonce = h.nonce.as_deref().unwrap_or_default();
    let stale = |line: String, info: bool| Failure::Challenge {
        line: Some(line),
        stale: true,
        info,
    };
    if nonce.len() != NONCE_LEN || nonce.as_bytes()[NONCE_TIME_LEN - 1] != b'=' {
        return Err(stale(
            format!(
                "AH01775: invalid nonce '{nonce}' received - length is not {NONCE_LEN} or time encoding is \
                 incorrect"
            ),
            false,
        ));
    }
    let (time_text, hash) = nonce.split_at(NONCE_TIME_LEN);
    let expected = nonce_hash(&realm, time_text, h.opaque.as_deref().unwrap_or_default());
    if hash != expected {
        return Err(stale(
            format!("AH01776: invalid nonce {nonce} received - hash is not {expected}"),
            false,
        ));
    }
    let decoded = crate::phases::auth::apr_base64_decode(time_text.as_bytes());
    let mut t = [0u8; 8];
    for (slot, b) in t.iter_mut().zip(decoded) {
        *slot = b;
    }
    let issued = i64::from_le_bytes(t);
    let life = lifetime(conf);
    let dt = now_micros() - issued;
    if life > 0 && dt < 0 {
        return Err(stale(
            format!("AH01777: invalid nonce {nonce} received - user attempted time travel"),
            false,
        ));
    }
    if life > 0 {
        if dt > life * 1_000_000 {
            return Err(stale(
                format!(
                    "AH01778: user {user}: nonce expired ({:.2} seconds old - max lifetime {:.2}) - sending \
                     new nonce",
                    (dt / 1_000_000) as f64,
                    life as f64
                ),
                true,
            ));
        }
    } else if life == 0
        && let Some(op) = &h.opaque
        && let Some(c) = clients().get(&opaque_num(op))
        && c.last_nonce != nonce
    {
        return Err(stale(
            format!("AH01779: user {user}: one-time-nonce mismatch - sending new nonce"),
            true,
        ));
    }
    Ok(())
}

/// The `Authentication-Info` header of a success (`add_auth_info`).
pub fn auth_info(r: &Request, h: &DigestHeader, ha1: &str) -> Option<String> {
    let conf = &r.per_dir.digest;
    let realm = r.per_dir.auth_name.clone().unwrap_or_default();
    let opaque = h.opaque.clone().unwrap_or_default();
    let mut nextnonce = String::new();
    let life = lifetime(conf);
    if life > 0 {
        let issued = h
            .nonce
            .as_deref()
            .filter(|n| n.len() == NONCE_LEN)
            .map(|n| {
                let decoded =
                    crate::phases::auth::apr_base64_decode(&n.as_bytes()[..NONCE_TIME_LEN]);
                let mut t = [0u8; 8];
                for (slot, b) in t.iter_mut().zip(decoded) {
                    *slot = b;
                }
                i64::from_le_bytes(t)
            })
            .unwrap_or(0);
        let now = now_micros();
        // NEXTNONCE_DELTA: 30 seconds before expiry.
        if now - issued > (life - 30) * 1_000_000 {
            nextnonce = format!(", nextnonce=\"{}\"", gen_nonce(conf, &realm, now, &opaque));
            if let Some(c) = clients().get_mut(&opaque_num(&opaque)) {
                c.nonce_count = 0;
            }
        }
    } else if life == 0
        && let Some(c) = clients().get_mut(&opaque_num(&opaque))
    {
        let nonce = gen_nonce(conf, &realm, 0, &opaque);
        c.last_nonce = nonce.clone();
        nextnonce = format!(", nextnonce=\"{nonce}\"");
    }
    let rfc2069 = conf
        .qop
        .as_deref()
        .and_then(<[String]>::first)
        .map(String::as_str)
        == Some("none")
        && h.qop.is_none();
    if rfc2069 {
        return (!nextnonce.is_empty()).then(|| nextnonce.trim_start_matches(", ").to_owned());
    }
    let uri = h.uri.as_deref().unwrap_or_default();
    let ha2 = md5_hex(&format!(":{uri}"));
    let qop = h.qop.clone().unwrap_or_default();
    let nc = h.nc.clone().unwrap_or_default();
    let cnonce = h.cnonce.clone().unwrap_or_default();
    let rspauth = md5_hex(&format!(
        "{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}",
        h.nonce.as_deref().unwrap_or_default()
    ));
    let mut ai = format!("rspauth=\"{rspauth}\"{nextnonce}");
    if let Some(c) = &h.cnonce {
        ai.push_str(&format!(", cnonce=\"{}\"", c.replace('"', "\\\"")));
    }
    if let Some(nc) = &h.nc {
        ai.push_str(&format!(", nc={nc}"));
    }
    if let Some(q) = &h.qop {
        ai.push_str(&format!(", qop={q}"));
    }
    Some(ai)
}

/// The sophisticated `uri` match of `authenticate_digest_user`: an
/// absolute or relative URI naming the request's host, port, path and
/// query (each compared unescaped).
fn uri_matches(r: &Request, uri: &str) -> bool {
    let unescape = |s: &str| -> Vec<u8> { percent_encoding::percent_decode_str(s).collect() };
    let (host_port, rest) = match uri.split_once("://") {
        Some((_, after)) => match after.find('/') {
            Some(i) => (Some(&after[..i]), &after[i..]),
            None => (Some(after), ""),
        },
        None => (None, uri),
    };
    let (d_path, d_query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let (r_path, r_query) = match r.unparsed_uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (r.unparsed_uri.as_str(), None),
    };
    if let Some(hp) = host_port {
        let (host, port) = match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        };
        let server_port = r.host_port.unwrap_or(80);
        let server_name = r.hostname.clone().unwrap_or_default();
        if !host.is_empty() && !host.eq_ignore_ascii_case(&server_name) {
            return false;
        }
        match port {
            Some(p) if p.parse::<u16>().ok() != Some(server_port) => return false,
            None if !host.is_empty() && server_port != 80 => return false,
            _ => {}
        }
    }
    if unescape(d_path) != unescape(r_path) {
        return false;
    }
    match (d_query, r_query) {
        (None, None) => true,
        (Some(a), Some(b)) => unescape(a) == unescape(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let Parsed::Valid(h) = parse(Some(
            br#"Digest username="Mufasa", realm="a \"b\"", nonce=abc, uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c""#,
        )) else {
            panic!("valid");
        };
        assert_eq!(h.username.as_deref(), Some("Mufasa"));
        assert_eq!(h.realm.as_deref(), Some("a \"b\""));
        assert_eq!(h.nonce.as_deref(), Some("abc"));
        assert_eq!(h.nc.as_deref(), Some("00000001"));
        assert_eq!(
            opaque_num(h.opaque.as_deref().unwrap_or_default()),
            0x5ccc069c
        );
        assert!(matches!(parse(Some(b"Basic abc")), Parsed::NotDigest(s) if s == "Basic"));
        assert!(matches!(
            parse(Some(b"Digest username=\"x\"")),
            Parsed::Invalid(_)
        ));
        // qop without cnonce/nc is incomplete.
        assert!(matches!(
            parse(Some(
                b"Digest username=a, realm=b, nonce=c, uri=/, response=d, qop=auth"
            )),
            Parsed::Invalid(_)
        ));
        assert!(matches!(parse(None), Parsed::NoHeader));
    }
}
