//! `WSGIDaemonProcess script-user=` / `script-group=`: a request is
//! delegated to such a group only when the WSGI script file and the
//! directory holding it belong to the named user (or group) and cannot be
//! changed by others; otherwise 403.  The checks, their order and their
//! log lines are mod_wsgi 4.9's (`wsgi_execute_remote`).  Names are
//! compared, as mod_wsgi compares them (`#id` stands for the name of that
//! id).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User};
use wsgid_config::model::ScriptOwner;

/// Group- and world-writable permission bits.
const GROUP_WRITE: u32 = 0o020;
const WORLD_WRITE: u32 = 0o002;

/// Why a request was refused: the message and the path it names (the
/// script, or its directory when that could not be looked at).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
    pub path: Option<String>,
}

fn refused(message: String) -> Refused {
    Refused {
        message,
        path: None,
    }
}

/// The name a `script-user=` / `script-group=` value stands for.
fn required_name(value: &str, user: bool) -> Option<String> {
    let Some(id) = value.strip_prefix('#') else {
        return Some(value.to_owned());
    };
    let id: u32 = id.parse().ok()?;
    if user {
        User::from_uid(Uid::from_raw(id))
            .ok()
            .flatten()
            .map(|u| u.name)
    } else {
        Group::from_gid(Gid::from_raw(id))
            .ok()
            .flatten()
            .map(|g| g.name)
    }
}

/// Whether a configured `script-user=` / `script-group=` names an existing
/// user or group (checked once at start, as Apache resolves it while
/// reading its configuration): the error otherwise.
pub fn check_configured(owner: &ScriptOwner) -> Result<(), String> {
    match owner {
        ScriptOwner::User(v) => match required_name(v, true) {
            Some(name) if User::from_name(&name).ok().flatten().is_some() => Ok(()),
            _ if v.starts_with('#') => Err("Couldn't determine uid from script user.".to_owned()),
            _ => Err(format!("AH00543: wsgid: bad user name {v}")),
        },
        ScriptOwner::Group(v) => match required_name(v, false) {
            Some(name) if Group::from_name(&name).ok().flatten().is_some() => Ok(()),
            _ if v.starts_with('#') => Err("Couldn't determine gid from script group.".to_owned()),
            _ => Err(format!("AH00544: wsgid: bad group name {v}")),
        },
    }
}

/// Check `script` (whose metadata the request has already looked up) and
/// its directory against `owner`.
pub fn check(owner: &ScriptOwner, script: &Path, meta: &std::fs::Metadata) -> Result<(), Refused> {
    let dir = script.parent().unwrap_or(Path::new("/"));
    let dir_meta = || {
        std::fs::metadata(dir).map_err(|_| Refused {
            message: "Unable to stat parent directory of WSGI script".to_owned(),
            path: Some(format!("{}/", dir.display())),
        })
    };
    match owner {
        ScriptOwner::Group(value) => {
            let required = required_name(value, false).unwrap_or_default();
            let group_name = |gid: u32, of: &str| {
                Group::from_gid(Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
                    .ok_or_else(|| refused(format!("Couldn't determine group of {of}, gid={gid}")))
            };
            let name = group_name(meta.gid(), "WSGI script file")?;
            if name != required {
                return Err(refused(format!(
                    "Group of WSGI script file does not match required group for daemon process, group={name}"
                )));
            }
            if meta.mode() & WORLD_WRITE != 0 {
                return Err(refused("WSGI script file is writable to world".to_owned()));
            }
            let d = dir_meta()?;
            let name = group_name(d.gid(), "parent directory of WSGI script file")?;
            if name != required {
                return Err(refused(format!(
                    "Group of parent directory of WSGI script file does not match required group for daemon process, group={name}"
                )));
            }
            if d.mode() & WORLD_WRITE != 0 {
                return Err(refused(
                    "Parent directory of WSGI script file is writable to world".to_owned(),
                ));
            }
        }
        ScriptOwner::User(value) => {
            let required = required_name(value, true).unwrap_or_default();
            let user_name = |uid: u32, of: &str| {
                User::from_uid(Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .ok_or_else(|| refused(format!("Couldn't determine owner of {of}, uid={uid}")))
            };
            let name = user_name(meta.uid(), "WSGI script file")?;
            if name != required {
                return Err(refused(format!(
                    "Owner of WSGI script file does not match required user for daemon process, user={name}"
                )));
            }
            if meta.mode() & GROUP_WRITE != 0 {
                return Err(refused("WSGI script file is writable to group".to_owned()));
            }
            if meta.mode() & WORLD_WRITE != 0 {
                return Err(refused("WSGI script file is writable to world".to_owned()));
            }
            let d = dir_meta()?;
            let name = user_name(d.uid(), "parent directory of WSGI script file")?;
            if name != required {
                return Err(refused(format!(
                    "Owner of parent directory of WSGI script file does not match required user for daemon process, user={name}"
                )));
            }
            if d.mode() & WORLD_WRITE != 0 {
                return Err(refused(
                    "Parent directory of WSGI script file is writable to world".to_owned(),
                ));
            }
            if d.mode() & GROUP_WRITE != 0 {
                return Err(refused(
                    "Parent directory of WSGI script file is writable to group".to_owned(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn me() -> String {
        User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .expect("current user has a name")
    }

    fn my_group() -> String {
        Group::from_gid(nix::unistd::getegid())
            .ok()
            .flatten()
            .map(|g| g.name)
            .expect("current group has a name")
    }

    fn script(dir_mode: u32, file_mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.wsgi");
        std::fs::write(&file, "application = None\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(file_mode)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode))
            .expect("chmod dir");
        (dir, file)
    }

    fn run(owner: &ScriptOwner, file: &Path) -> Result<(), String> {
        let meta = std::fs::metadata(file).expect("stat");
        check(owner, file, &meta).map_err(|r| r.message)
    }

    #[test]
    fn the_owner_passes_and_others_are_named() {
        let (_d, file) = script(0o755, 0o644);
        assert_eq!(run(&ScriptOwner::User(me()), &file), Ok(()));
        let uid = format!("#{}", nix::unistd::geteuid());
        assert_eq!(run(&ScriptOwner::User(uid), &file), Ok(()));
        let other = ScriptOwner::User("nobody-else-here".to_owned());
        assert_eq!(
            run(&other, &file),
            Err(format!(
                "Owner of WSGI script file does not match required user for daemon process, user={}",
                me()
            ))
        );
        assert_eq!(run(&ScriptOwner::Group(my_group()), &file), Ok(()));
    }

    #[test]
    fn writable_by_others_is_refused() {
        let (_d, file) = script(0o755, 0o664);
        assert_eq!(
            run(&ScriptOwner::User(me()), &file),
            Err("WSGI script file is writable to group".to_owned())
        );
        // The group option allows group write, not world write.
        assert_eq!(run(&ScriptOwner::Group(my_group()), &file), Ok(()));
        let (_d, file) = script(0o755, 0o646);
        assert_eq!(
            run(&ScriptOwner::Group(my_group()), &file),
            Err("WSGI script file is writable to world".to_owned())
        );
        let (_d, file) = script(0o775, 0o644);
        assert_eq!(
            run(&ScriptOwner::User(me()), &file),
            Err("Parent directory of WSGI script file is writable to group".to_owned())
        );
        let (_d, file) = script(0o757, 0o644);
        assert_eq!(
            run(&ScriptOwner::Group(my_group()), &file),
            Err("Parent directory of WSGI script file is writable to world".to_owned())
        );
    }

    #[test]
    fn configured_names_must_exist() {
        assert_eq!(check_configured(&ScriptOwner::User(me())), Ok(()));
        assert_eq!(
            check_configured(&ScriptOwner::User("no-such-user-x".to_owned())),
            Err("AH00543: wsgid: bad user name no-such-user-x".to_owned())
        );
        assert_eq!(
            check_configured(&ScriptOwner::Group("#4000000".to_owned())),
            Err("Couldn't determine gid from script group.".to_owned())
        );
    }
}
