//! Apache's per-directory merge (`ap_merge_per_dir_configs`): how the
//! configuration of a later, more specific section combines with what it
//! inherits.  The request walk (in wsgid-http) calls [`PerDir::merge`] in
//! Apache's section order; this file only knows how two levels combine.

use crate::model::{
    DigestConfig, OptionFlags, OptionsSpec, PerDir, Require, Rewrite, RewriteOptions, WsgiPerDir,
};

impl PerDir {
    /// `self` is the inherited configuration, `later` the more specific one.
    ///
    /// * single values: set in `later` wins, else inherited;
    /// * `Options`: specs are replayed in order, so an absolute `Options`
    ///   replaces and `+X`/`-X` edit what is inherited (see [`effective_options`]);
    /// * `SetEnv`/`AddHandler`/`AddType`: accumulate in order (the last
    ///   mapping of an extension wins when looked up); `RemoveHandler` and
    ///   `UnsetEnv` in `later` drop what is inherited, as mod_mime/mod_env do;
    /// * `Require`: the later section's rules replace the inherited ones
    ///   (Apache's default `AuthMerging Off`);
    /// * `SetEnvIf`, `Header`, `RequestHeader`: accumulate; mod_rewrite: see [`Rewrite::merge`] (a
    ///   section without mod_rewrite directives changes nothing).
    pub fn merge(&self, later: &PerDir) -> PerDir {
        let removed = |ext: &String| later.remove_handlers.iter().any(|r| r == ext);
        let mut add_handlers: Vec<(String, String)> = self
            .add_handlers
            .iter()
            .filter(|(ext, _)| !removed(ext))
            .cloned()
            .collect();
        add_handlers.extend(later.add_handlers.iter().cloned());
        let mut set_env: Vec<(String, String)> = self
            .set_env
            .iter()
            .filter(|(k, _)| !later.unset_env.contains(k))
            .cloned()
            .collect();
        set_env.extend(later.set_env.iter().cloned());
        PerDir {
            options: concat(&self.options, &later.options),
            allow_override: later.allow_override.or(self.allow_override),
            set_handler: later
                .set_handler
                .clone()
                .or_else(|| self.set_handler.clone()),
            force_type: later.force_type.clone().or_else(|| self.force_type.clone()),
            add_handlers,
            add_types: concat(&self.add_types, &later.add_types),
            add_charsets: concat(&self.add_charsets, &later.add_charsets),
            add_languages: concat(&self.add_languages, &later.add_languages),
            add_encodings: concat(&self.add_encodings, &later.add_encodings),
            default_language: later
                .default_language
                .clone()
                .or_else(|| self.default_language.clone()),
            directory_slash: later.directory_slash.or(self.directory_slash),
            directory_check_handler: later
                .directory_check_handler
                .or(self.directory_check_handler),
            directory_index_redirect: later
                .directory_index_redirect
                .or(self.directory_index_redirect),
            fallback_resource: later
                .fallback_resource
                .clone()
                .or_else(|| self.fallback_resource.clone()),
            directory_index: later
                .directory_index
                .clone()
                .or_else(|| self.directory_index.clone()),
            require: later.require.clone().or_else(|| self.require.clone()),
            set_env,
            unset_env: concat(&self.unset_env, &later.unset_env),
            pass_env: concat(&self.pass_env, &later.pass_env),
            limit_request_body: later.limit_request_body.or(self.limit_request_body),
            auth_type: later.auth_type.clone().or_else(|| self.auth_type.clone()),
            auth_name: later.auth_name.clone().or_else(|| self.auth_name.clone()),
            auth_basic_provider: later
                .auth_basic_provider
                .clone()
                .or_else(|| self.auth_basic_provider.clone()),
            digest: DigestConfig {
                providers: later
                    .digest
                    .providers
                    .clone()
                    .or_else(|| self.digest.providers.clone()),
                qop: later.digest.qop.clone().or_else(|| self.digest.qop.clone()),
                domain: later
                    .digest
                    .domain
                    .clone()
                    .or_else(|| self.digest.domain.clone()),
                nonce_lifetime: later.digest.nonce_lifetime.or(self.digest.nonce_lifetime),
                nc_check: later.digest.nc_check.or(self.digest.nc_check),
            },
            auth_user_file: later
                .auth_user_file
                .clone()
                .or_else(|| self.auth_user_file.clone()),
            auth_group_file: later
                .auth_group_file
                .clone()
                .or_else(|| self.auth_group_file.clone()),
            wsgi: self.wsgi.merge(&later.wsgi),
            remove_handlers: concat(&self.remove_handlers, &later.remove_handlers),
            allow_override_list: later
                .allow_override_list
                .clone()
                .or_else(|| self.allow_override_list.clone()),
            enable_sendfile: later.enable_sendfile.or(self.enable_sendfile),
            server_signature: later.server_signature.or(self.server_signature),
            add_default_charset: later
                .add_default_charset
                .clone()
                .or_else(|| self.add_default_charset.clone()),
            use_canonical_name: later.use_canonical_name.or(self.use_canonical_name),
            set_env_if: concat(&self.set_env_if, &later.set_env_if),
            request_headers: concat(&self.request_headers, &later.request_headers),
            headers_onsuccess: concat(&self.headers_onsuccess, &later.headers_onsuccess),
            headers_always: concat(&self.headers_always, &later.headers_always),
            error_documents: concat(&self.error_documents, &later.error_documents),
            file_etag: self.file_etag.merge(&later.file_etag),
            accept_path_info: later.accept_path_info.or(self.accept_path_info),
            rewrite: match (&self.rewrite, &later.rewrite) {
                (_, None) => self.rewrite.clone(),
                (None, Some(l)) => Some(l.clone()),
                (Some(s), Some(l)) => Some(s.merge(l)),
            },
        }
    }

    /// The `Options` in effect given the flags inherited from outside.
    pub fn effective_options(&self, base: OptionFlags) -> OptionFlags {
        effective_options(&self.options, base)
    }
}

impl Rewrite {
    /// mod_rewrite's `config_perdir_merge`: the engine state and the
    /// options are inherited when not written; the rules only with
    /// `RewriteOptions Inherit` & co., `RewriteBase` never.
    pub fn merge(&self, later: &Rewrite) -> Rewrite {
        let options = later.options.or(self.options);
        let own = options.unwrap_or_default();
        let outer = self.options.unwrap_or_default();
        Rewrite {
            engine: later.engine.or(self.engine),
            rules: RewriteOptions::inherited_rules(own, outer, &self.rules, &later.rules),
            dir_prefix: later.dir_prefix.clone(),
            base: later.base.clone(),
            options,
        }
    }
}

impl WsgiPerDir {
    /// Later wins field by field (mod_wsgi's `wsgi_merge_dir_config`).
    pub fn merge(&self, later: &WsgiPerDir) -> WsgiPerDir {
        WsgiPerDir {
            application_group: later
                .application_group
                .clone()
                .or_else(|| self.application_group.clone()),
            process_group: later
                .process_group
                .clone()
                .or_else(|| self.process_group.clone()),
            callable_object: later
                .callable_object
                .clone()
                .or_else(|| self.callable_object.clone()),
            script_reloading: later.script_reloading.or(self.script_reloading),
            reload_mechanism: later.reload_mechanism.or(self.reload_mechanism),
            pass_authorization: later.pass_authorization.or(self.pass_authorization),
            chunked_request: later.chunked_request.or(self.chunked_request),
            map_head_to_get: later.map_head_to_get.or(self.map_head_to_get),
            enable_sendfile: later.enable_sendfile.or(self.enable_sendfile),
            error_override: later.error_override.or(self.error_override),
            handler_scripts: {
                // `apr_hash_overlay`: the later level's names win.
                let mut all = later.handler_scripts.clone();
                all.extend(
                    self.handler_scripts
                        .iter()
                        .filter(|h| !later.handler_scripts.iter().any(|l| l.name == h.name))
                        .cloned(),
                );
                all
            },
            dispatch_script: later
                .dispatch_script
                .clone()
                .or_else(|| self.dispatch_script.clone()),
            access_script: later
                .access_script
                .clone()
                .or_else(|| self.access_script.clone()),
            auth_user_script: later
                .auth_user_script
                .clone()
                .or_else(|| self.auth_user_script.clone()),
            auth_group_script: later
                .auth_group_script
                .clone()
                .or_else(|| self.auth_group_script.clone()),
            group_authoritative: later.group_authoritative.or(self.group_authoritative),
            trusted_proxies: later
                .trusted_proxies
                .clone()
                .or_else(|| self.trusted_proxies.clone()),
            trusted_proxy_headers: later
                .trusted_proxy_headers
                .clone()
                .or_else(|| self.trusted_proxy_headers.clone()),
            ignore_activity: later.ignore_activity.or(self.ignore_activity),
            restrict_process: later
                .restrict_process
                .clone()
                .or_else(|| self.restrict_process.clone()),
        }
    }
}

fn concat<T: Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().chain(b).cloned().collect()
}

/// Replays `Options` directives over `base`: absolute ones replace, relative
/// ones add and remove (Apache's `merge_core_dir_configs`; folding in order
/// gives the same flags as Apache's opts/opts_add/opts_remove bookkeeping).
pub fn effective_options(specs: &[OptionsSpec], base: OptionFlags) -> OptionFlags {
    specs.iter().fold(base, |acc, spec| match spec {
        OptionsSpec::Absolute(f) => *f,
        OptionsSpec::Relative { add, remove } => union(minus(acc, *remove), *add),
    })
}

/// The server's default `Options` in Apache 2.4: `FollowSymlinks` only.
pub fn default_options() -> OptionFlags {
    OptionFlags {
        follow_symlinks: true,
        ..OptionFlags::default()
    }
}

fn flags(f: OptionFlags) -> [bool; 7] {
    [
        f.exec_cgi,
        f.indexes,
        f.follow_symlinks,
        f.symlinks_if_owner_match,
        f.includes,
        f.includes_noexec,
        f.multiviews,
    ]
}

fn from_flags(b: [bool; 7]) -> OptionFlags {
    OptionFlags {
        exec_cgi: b[0],
        indexes: b[1],
        follow_symlinks: b[2],
        symlinks_if_owner_match: b[3],
        includes: b[4],
        includes_noexec: b[5],
        multiviews: b[6],
    }
}

pub(crate) fn intersect(a: OptionFlags, b: OptionFlags) -> OptionFlags {
    let (a, b) = (flags(a), flags(b));
    from_flags(std::array::from_fn(|i| a[i] && b[i]))
}

pub(crate) fn union(a: OptionFlags, b: OptionFlags) -> OptionFlags {
    let (a, b) = (flags(a), flags(b));
    from_flags(std::array::from_fn(|i| a[i] || b[i]))
}

pub(crate) fn minus(a: OptionFlags, b: OptionFlags) -> OptionFlags {
    let (a, b) = (flags(a), flags(b));
    from_flags(std::array::from_fn(|i| a[i] && !b[i]))
}

/// Several `Require` lines in one section mean "any of them"
/// (mod_authz_core's implicit `<RequireAny>`); one line is itself.
/// With `<Limit>` lines among them, the group counts only for the
/// methods of its lines (a request with another method is granted:
/// `authorize_user_core` finds nothing that applies to it).
pub fn combine_requires(mut lines: Vec<Require>) -> Option<Require> {
    match lines.len() {
        0 => None,
        1 => lines.pop(),
        _ => Some(Require::Any(lines).limited_group()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupSpec;

    fn exec() -> OptionFlags {
        OptionFlags {
            exec_cgi: true,
            ..OptionFlags::default()
        }
    }

    #[test]
    fn options_absolute_replaces_relative_edits() {
        let base = default_options();
        assert_eq!(
            effective_options(&[OptionsSpec::Absolute(exec())], base),
            exec()
        );
        let rel = OptionsSpec::Relative {
            add: exec(),
            remove: default_options(),
        };
        assert_eq!(effective_options(&[rel], base), exec());
        let both = union(base, exec());
        let add = OptionsSpec::Relative {
            add: exec(),
            remove: OptionFlags::default(),
        };
        assert_eq!(effective_options(&[add], base), both);
    }

    #[test]
    fn later_section_wins_and_lists_accumulate() {
        let mut outer = PerDir::default();
        outer.set_env.push(("A".into(), "1".into()));
        outer.set_env.push(("B".into(), "1".into()));
        outer
            .add_handlers
            .push(("wsgi".into(), "wsgi-script".into()));
        outer.wsgi.application_group = Some(GroupSpec::Global);
        outer.limit_request_body = Some(10);
        let mut inner = PerDir::default();
        inner.set_env.push(("A".into(), "2".into()));
        inner.unset_env.push("B".into());
        inner.remove_handlers.push("wsgi".into());
        inner.wsgi.application_group = Some(GroupSpec::Server);
        let m = outer.merge(&inner);
        assert_eq!(
            m.set_env,
            vec![
                ("A".to_owned(), "1".to_owned()),
                ("A".to_owned(), "2".to_owned())
            ]
        );
        assert!(m.add_handlers.is_empty());
        assert_eq!(m.wsgi.application_group, Some(GroupSpec::Server));
        assert_eq!(m.limit_request_body, Some(10));
    }

    #[test]
    fn require_lines_combine_as_any() {
        assert_eq!(combine_requires(vec![]), None);
        assert_eq!(
            combine_requires(vec![Require::AllGranted]),
            Some(Require::AllGranted)
        );
        assert_eq!(
            combine_requires(vec![Require::ValidUser, Require::AllDenied]),
            Some(Require::Any(vec![Require::ValidUser, Require::AllDenied]))
        );
    }
}
