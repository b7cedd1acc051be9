//! `User` / `Group`: worker processes started as root switch to them before
//! any request or Python code runs (as Apache's children do).  Started as
//! another user, wsgid keeps that user and the directives have no effect.

use nix::unistd::{Gid, Group, Uid, User, getuid, initgroups, setgid, setuid};

use crate::app::AppError;

/// The credentials a worker switches to.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub uid: Uid,
    pub gid: Gid,
    pub name: String,
}

/// Resolve `User`/`Group` (names or `#id`); None when not root or no `User`.
pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Credentials>, AppError> {
    if !getuid().is_root() {
        return Ok(None);
    }
    let Some(user) = user else { return Ok(None) };
    let (uid, name, primary_gid) = match user.strip_prefix('#') {
        Some(num) => {
            let id: u32 = num
                .parse()
                .map_err(|_| AppError::Privileges(format!("User: bad user id '{user}'")))?;
            let found = User::from_uid(Uid::from_raw(id)).ok().flatten();
            (
                Uid::from_raw(id),
                found
                    .as_ref()
                    .map_or_else(|| num.to_string(), |u| u.name.clone()),
                found.map(|u| u.gid),
            )
        }
        None => {
            let u = User::from_name(user).ok().flatten().ok_or_else(|| {
                AppError::Privileges(format!("AH00543: wsgid: bad user name {user}"))
            })?;
            (u.uid, u.name.clone(), Some(u.gid))
        }
    };
    if uid.is_root() {
        return Err(AppError::Privileges(
            "AH00535: Error: wsgid will not serve requests while running as root (User root)"
                .into(),
        ));
    }
    let gid = match group {
        Some(g) => match g.strip_prefix('#') {
            Some(num) => Gid::from_raw(
                num.parse()
                    .map_err(|_| AppError::Privileges(format!("Group: bad group id '{g}'")))?,
            ),
            None => {
                Group::from_name(g)
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        AppError::Privileges(format!("AH00544: wsgid: bad group name {g}"))
                    })?
                    .gid
            }
        },
        None => primary_gid.unwrap_or_else(|| Gid::from_raw(65534)),
    };
    Ok(Some(Credentials { uid, gid, name }))
}

/// Switch this process to `creds` (group first, then supplementary groups, then user).
pub fn switch(creds: &Credentials) -> Result<(), AppError> {
    let cname = std::ffi::CString::new(creds.name.clone())
        .map_err(|_| AppError::Privileges(format!("user name '{}' contains NUL", creds.name)))?;
    setgid(creds.gid)
        .map_err(|e| AppError::Privileges(format!("AH02155: setgid({}) failed: {e}", creds.gid)))?;
    initgroups(&cname, creds.gid).map_err(|e| {
        AppError::Privileges(format!("AH00538: initgroups({}) failed: {e}", creds.name))
    })?;
    setuid(creds.uid)
        .map_err(|e| AppError::Privileges(format!("AH02158: setuid({}) failed: {e}", creds.uid)))?;
    Ok(())
}

/// Like [`switch`], with an explicit supplementary group list (the
/// primary group first) instead of the user's groups from `/etc/group`:
/// `WSGIDaemonProcess supplementary-groups=`.
pub fn switch_with_groups(creds: &Credentials, groups: &[Gid]) -> Result<(), AppError> {
    setgid(creds.gid)
        .map_err(|e| AppError::Privileges(format!("AH02155: setgid({}) failed: {e}", creds.gid)))?;
    nix::unistd::setgroups(groups).map_err(|e| {
        AppError::Privileges(format!(
            "mod_wsgi: Unable to set supplementary groups for uid={}: {e}",
            creds.uid
        ))
    })?;
    setuid(creds.uid)
        .map_err(|e| AppError::Privileges(format!("AH02158: setuid({}) failed: {e}", creds.uid)))?;
    Ok(())
}

/// A group name or `#gid`.
pub fn group_id(name: &str) -> Result<Gid, AppError> {
    match name.strip_prefix('#') {
        Some(n) => n
            .parse()
            .map(Gid::from_raw)
            .map_err(|_| AppError::Privileges(format!("bad group id '{name}'"))),
        None => Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid)
            .ok_or_else(|| AppError::Privileges(format!("AH00544: wsgid: bad group name {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_directive_means_no_switch() {
        assert!(resolve(None, Some("www-data")).expect("resolve").is_none());
    }

    #[test]
    fn root_user_is_refused_when_root() {
        if getuid().is_root() {
            let err = resolve(Some("root"), None).expect_err("root must be refused");
            assert!(err.to_string().contains("running as root"));
            let err = resolve(Some("no-such-user-wsgid"), None).expect_err("unknown user");
            assert!(err.to_string().contains("bad user name"));
        }
    }
}
