//! `apr_password_validate`: the password hashes `htpasswd` writes.
//!
//! * `$apr1$salt$hash`: APR's MD5 crypt (see [`apr1`]);
//! * `$2y$`/`$2a$`/`$2b$`: bcrypt;
//! * `{SHA}base64`: SHA-1 of the password, base64;
//! * anything else goes to `crypt(3)` as on Unix (DES, `$1$`, `$5$`, `$6$`),
//!   here the `pwhash` crate.

use base64::Engine;
use md5::{Digest, Md5};
use sha1::Sha1;

/// Whether `password` matches the stored `hash`.
pub fn validate(password: &[u8], hash: &[u8]) -> bool {
    let Ok(hash) = std::str::from_utf8(hash) else {
        return false;
    };
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or_default();
        return constant_eq(apr1(password, salt.as_bytes()).as_bytes(), hash.as_bytes());
    }
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let digest = Sha1::digest(password);
        let ours = base64::engine::general_purpose::STANDARD.encode(digest);
        return constant_eq(ours.as_bytes(), b64.as_bytes());
    }
    if hash.starts_with("$2") {
        return pwhash::bcrypt::verify(password, hash);
    }
    pwhash::unix::verify(password, hash)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// APR's `apr_md5_encode` with the `$apr1$` magic.
///
/// Hand-written because no maintained crate offers this variant: it is
/// Poul-Henning Kamp's FreeBSD MD5 crypt (`$1$`, which `pwhash` has) with a
/// different magic string, and the magic is part of what is hashed, so the
/// `$1$` implementation cannot be reused.  The steps below follow
/// `apr_md5_encode` (apr-util `crypto/apr_md5.c`); MD5 itself is the
/// `md-5` crate's.
pub fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let salt = &salt[..salt.len().min(8)];

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);

    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();

    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i != 0 {
        if i & 1 != 0 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();

    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 != 0 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 != 0 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }

    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::from_utf8_lossy(MAGIC).into_owned();
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(char::from(ITOA64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    let f = |i: usize| u32::from(fin[i]);
    to64((f(0) << 16) | (f(6) << 8) | f(12), 4);
    to64((f(1) << 16) | (f(7) << 8) | f(13), 4);
    to64((f(2) << 16) | (f(8) << 8) | f(14), 4);
    to64((f(3) << 16) | (f(9) << 8) | f(15), 4);
    to64((f(4) << 16) | (f(10) << 8) | f(5), 4);
    to64(f(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hashes() {
        // Generated with `htpasswd -nbm`, `-nbs`, `-nbB`, `-nbd` and
        // `openssl passwd -6`.
        assert!(validate(
            b"secret",
            b"$apr1$A7XmQofP$nnLNrRLXurnTb4fOr6kfO1"
        ));
        assert!(!validate(
            b"wrong",
            b"$apr1$A7XmQofP$nnLNrRLXurnTb4fOr6kfO1"
        ));
        let bcrypt = b"$2y$04$VD7MlCNObUan77xNSKv7OeT1fGOcBUE4LKYGnuVP/WlywDkWlw/Dq";
        assert!(validate(b"secret", bcrypt));
        assert!(!validate(b"secreT", bcrypt));
        assert!(validate(b"secret", b"WlvNGCd5pW0YI"));
        assert!(!validate(b"secrez", b"WlvNGCd5pW0YI"));
        let sha512 = b"$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1";
        assert!(validate(b"secret", sha512));
        assert!(!validate(b"secre", sha512));
        assert!(validate(b"secret", b"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        assert!(!validate(b"Secret", b"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
    }
}
