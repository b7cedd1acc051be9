//! What sections set for the requests they cover: the `Require`
//! expressions (containers, `<Limit>`) and per-directory merges.

use super::ok;
use crate::model::*;

#[test]
fn require_containers_flatten_like_apache() {
    let c = ok(r#"
<Location />
    <RequireAll>
        Require ip 10.0.0.0/8
        <RequireAll>
            Require valid-user
        </RequireAll>
        <RequireNone>
            Require env BLOCKED
        </RequireNone>
    </RequireAll>
</Location>
"#);
    assert_eq!(
        c.main.sections[0].per_dir.require,
        Some(Require::All(vec![
            Require::Ip(vec!["10.0.0.0/8".into()]),
            Require::ValidUser,
            Require::None(vec![Require::Env(vec!["BLOCKED".into()])]),
        ]))
    );
}

#[test]
fn limit_sections_restrict_their_require_lines_to_methods() {
    use crate::method_set::MethodSet;
    let c = ok(r#"
<Directory /srv>
    Require all denied
    <LimitExcept GET POST>
        Require all granted
        <Limit PUT>
            Require valid-user
        </Limit>
    </LimitExcept>
    AuthName "inside a Limit, still for every method"
</Directory>
<Location /x>
    <Limit POST>
        Require ip 10.0.0.0/8
    </Limit>
</Location>
"#);
    let except = MethodSet::of(&["GET", "POST"]).complement();
    let put = MethodSet::of(&["PUT"]);
    let d = &c.main.sections[0].per_dir;
    assert_eq!(
        d.require,
        Some(Require::Any(vec![
            Require::AllDenied,
            Require::Limited(except.clone(), Box::new(Require::AllGranted)),
            Require::Limited(put, Box::new(Require::ValidUser)),
        ]))
    );
    assert!(d.auth_name.is_some());
    // A section whose lines are all limited counts only for their methods.
    let post = MethodSet::of(&["POST"]);
    assert_eq!(
        c.main.sections[1].per_dir.require,
        Some(Require::Limited(
            post,
            Box::new(Require::Ip(vec!["10.0.0.0/8".into()]))
        ))
    );
    let any = Require::Any(vec![
        Require::Limited(MethodSet::of(&["GET"]), Box::new(Require::AllDenied)),
        Require::Limited(except.clone(), Box::new(Require::AllDenied)),
    ]);
    assert_eq!(
        any.clone().limited_group(),
        Require::Limited(except.union(&MethodSet::of(&["GET"])), Box::new(any))
    );
}

#[test]
fn directory_slash_merges_per_section() {
    let c = ok(
        "<Directory /srv>\nDirectorySlash Off\n</Directory>\n<Directory /srv/x>\nDirectorySlash on\n</Directory>\n",
    );
    let s = &c.main.sections;
    assert_eq!(s[0].per_dir.directory_slash, Some(false));
    assert_eq!(
        s[0].per_dir.merge(&s[1].per_dir).directory_slash,
        Some(true)
    );
    assert_eq!(
        s[0].per_dir.merge(&PerDir::default()).directory_slash,
        Some(false)
    );
    assert_eq!(
        super::msg("<Directory /srv>\nDirectorySlash maybe\n</Directory>"),
        "DirectorySlash must be On or Off"
    );
}
