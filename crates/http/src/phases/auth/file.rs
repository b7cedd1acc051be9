//! The `file` provider: mod_authn_file (`AuthUserFile`, htpasswd lines for
//! Basic, htdigest lines for Digest) and mod_authz_groupfile
//! (`AuthGroupFile`), with their log lines.

use std::path::Path;

use wsgid_python::AuthAnswer;

use super::log;
use crate::frontend::Site;
use crate::request::Request;
use crate::uri::latin1;

/// The `AuthUserFile`, read whole as mod_authn_file reads it; `None` (the
/// reason logged as mod_authn_file logs it) when it is not set or unreadable.
fn read_auth_user_file(site: &Site, r: &Request) -> Option<Vec<u8>> {
    let Some(path) = &r.per_dir.auth_user_file else {
        log(
            site,
            r,
            "authn_file",
            "AH01619: AuthUserFile not specified in the configuration",
        );
        return None;
    };
    match std::fs::read(path) {
        Ok(t) => Some(t),
        Err(e) => {
            log(
                site,
                r,
                "authn_file",
                &format!(
                    "{}: AH01620: Could not open password file: {}",
                    errno_text(&e),
                    path.display()
                ),
            );
            None
        }
    }
}

/// The lines of a password or group file that are entries: trimmed,
/// neither empty nor comments.
fn file_entries(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty() && line[0] != b'#')
}

/// mod_authn_file's `get_realm_hash`: `user:realm:hash` lines (htdigest).
pub(super) fn file_realm_hash(site: &Site, r: &Request, user: &str, realm: &str) -> AuthAnswer {
    let Some(text) = read_auth_user_file(site, r) else {
        return AuthAnswer::Error;
    };
    for line in file_entries(&text) {
        let mut fields = line.splitn(3, |&b| b == b':');
        let (name, rlm, hash) = (fields.next(), fields.next(), fields.next());
        if name == Some(user.as_bytes()) && rlm == Some(realm.as_bytes()) {
            let hash = hash.unwrap_or_default();
            let end = hash.iter().position(|&b| b == b':').unwrap_or(hash.len());
            return AuthAnswer::Hash(latin1(&hash[..end]));
        }
    }
    AuthAnswer::NotFound
}

/// mod_authn_file's `check_password` for `user`.
pub(super) fn file_provider(site: &Site, r: &Request, user: &str, password: &str) -> AuthAnswer {
    let Some(text) = read_auth_user_file(site, r) else {
        return AuthAnswer::Error;
    };
    for line in file_entries(&text) {
        let mut fields = line.splitn(3, |&b| b == b':');
        let name = fields.next().unwrap_or_default();
        let hash = fields.next().unwrap_or_default();
        if name == user.as_bytes() {
            return if crate::htpasswd::validate(password.as_bytes(), hash) {
                AuthAnswer::Granted
            } else {
                AuthAnswer::Denied
            };
        }
    }
    AuthAnswer::NotFound
}

/// `(2)No such file or directory` as APR writes an errno.
fn errno_text(e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    format!("({code}){text}")
}

/// mod_authz_groupfile's `groups_for_user`: the groups whose line
/// (`group: user1 user2`) names `user`.
pub(super) fn file_groups(path: &Path, user: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read(path).map_err(|e| errno_text(&e))?;
    let mut groups = Vec::new();
    for line in file_entries(&text) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let members = &line[colon + 1..];
        if members
            .split(|b| b.is_ascii_whitespace())
            .any(|m| m == user.as_bytes())
        {
            groups.push(latin1(&line[..colon]));
        }
    }
    Ok(groups)
}
