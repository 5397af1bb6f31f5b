//! Scope strings: the Docker token protocol's `repository:<name>:pull,push` and
//! `registry:catalog:*`, Berth's `registry:management:read|write|owner` (the management API,
//! granted only when asked for), the `access` claim they become in a JWT, and ACR scope-map
//! actions `repositories/<repo>/content/read`.

use serde::{Deserialize, Serialize};

use super::{Action, Actions, Grant, Manage, Permissions, RepoPattern};
use crate::oci::RepoName;

/// One requested or granted scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository {
        name: RepoName,
        actions: Actions,
    },
    Catalog,
    /// The management API (`/berth/v1`, `/metrics`) up to this level.
    Management(Manage),
}

impl Scope {
    /// Parses the space-separated scopes of one `scope` parameter. Scopes Berth does not know
    /// (other resource types, bad names, unknown actions) are dropped: asking for too much is
    /// never an error, it just yields less.
    pub fn parse_all(s: &str) -> Vec<Scope> {
        s.split(' ').filter_map(Scope::parse).collect()
    }

    fn parse(s: &str) -> Option<Scope> {
        // The type may carry a class: `repository(plugin):name:pull`.
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        match kind.split('(').next()? {
            "registry" if name == "catalog" => Some(Scope::Catalog),
            "registry" if name == "management" => {
                actions.split(',').filter_map(Manage::from_token_name).max().map(Scope::Management)
            }
            "repository" => {
                let name = RepoName::parse(name).ok()?;
                let actions = actions.split(',').fold(Actions::NONE, |acc, a| match a {
                    "*" => acc.union(Actions::ALL_REPOSITORY),
                    a => Action::from_token_name(a).map_or(acc, |a| acc.union(Actions::of(&[a]))),
                });
                Some(Scope::Repository { name, actions })
            }
            _ => None,
        }
    }

    /// The scope string a `401` challenge names.
    pub fn to_challenge(&self) -> String {
        match self {
            Scope::Catalog => "registry:catalog:*".to_owned(),
            Scope::Management(level) => format!("registry:management:{}", level.token_name()),
            Scope::Repository { name, actions } => {
                let names: Vec<_> = actions.iter().map(Action::token_name).collect();
                format!("repository:{name}:{}", names.join(","))
            }
        }
    }
}

/// One entry of a token's `access` claim, as Docker's token specification spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// The requested scopes intersected with what `perms` allow and, for a caller that presented a
/// token, with what that token allows (`limit`): a token never yields more than it carries.
/// Repository entries that end up empty are kept with no actions, as Distribution's token
/// servers do; management is granted only when asked for, and only as far as the caller holds it.
pub fn grant(requested: &[Scope], perms: &Permissions, limit: Option<&Granted>) -> Vec<AccessEntry> {
    requested
        .iter()
        .filter_map(|scope| match scope {
            Scope::Catalog => Some(AccessEntry {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: if perms.catalog() && limit.is_none_or(|l| l.catalog) { vec!["*".into()] } else { Vec::new() },
            }),
            Scope::Repository { name, actions } => {
                let allowed = limit.map_or(Actions::ALL, |l| l.on(name.as_str())).intersect(perms.on(name.as_str()));
                // Clients ask for `pull` only: for a caller that may see quarantined images,
                // a pull includes them (never more than the principal and its token hold).
                let actions = match actions.has(Action::ContentRead) {
                    true => actions.union(Actions::of(&[Action::QuarantineRead])),
                    false => *actions,
                };
                Some(AccessEntry {
                    kind: "repository".into(),
                    name: name.to_string(),
                    actions: actions.intersect(allowed).iter().map(|a| a.token_name().into()).collect(),
                })
            }
            Scope::Management(asked) => {
                let level = (*asked).min(perms.manage).min(limit.map_or(Manage::Owner, |l| l.manage));
                (level > Manage::None).then(|| management_entry(level))
            }
        })
        .collect()
}

fn management_entry(level: Manage) -> AccessEntry {
    AccessEntry { kind: "registry".into(), name: "management".into(), actions: vec![level.token_name().into()] }
}

/// What a token's `access` claim allows, for checking a request against it. Access tokens
/// name repositories; refresh tokens may carry patterns (`*`: the whole data plane).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    repositories: Vec<Grant>,
    pub catalog: bool,
    pub manage: Manage,
}

impl Granted {
    /// Everything on the data plane and nothing of the management API: what a refresh token
    /// for a password carries unless it was asked for less (or for management).
    pub fn data_plane() -> Self {
        Granted {
            repositories: vec![Grant { pattern: RepoPattern::all(), actions: Actions::ALL }],
            catalog: true,
            manage: Manage::None,
        }
    }

    pub fn from_claim(entries: &[AccessEntry]) -> Self {
        let mut granted = Granted::default();
        for e in entries {
            match (e.kind.as_str(), e.name.as_str()) {
                ("registry", "catalog") => granted.catalog |= e.actions.iter().any(|a| a == "*"),
                ("registry", "management") => {
                    let level = e.actions.iter().filter_map(|a| Manage::from_token_name(a)).max();
                    granted.manage = granted.manage.max(level.unwrap_or_default());
                }
                ("repository", name) => {
                    // A name that is no pattern grants nothing.
                    let Ok(pattern) = RepoPattern::parse(name) else { continue };
                    let actions = e
                        .actions
                        .iter()
                        .filter_map(|a| Action::from_token_name(a))
                        .fold(Actions::NONE, |acc, a| acc.union(Actions::of(&[a])));
                    granted.repositories.push(Grant { pattern, actions });
                }
                _ => {}
            }
        }
        granted
    }

    /// The claim that carries exactly this grant.
    pub fn to_claim(&self) -> Vec<AccessEntry> {
        let mut entries: Vec<AccessEntry> = self
            .repositories
            .iter()
            .map(|g| AccessEntry {
                kind: "repository".into(),
                name: g.pattern.as_str().to_owned(),
                actions: g.actions.iter().map(|a| a.token_name().into()).collect(),
            })
            .collect();
        if self.catalog {
            entries.push(AccessEntry { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] });
        }
        if self.manage > Manage::None {
            entries.push(management_entry(self.manage));
        }
        entries
    }

    pub fn grants(&self) -> &[Grant] {
        &self.repositories
    }

    pub fn on(&self, repo: &str) -> Actions {
        self.repositories.iter().filter(|g| g.pattern.matches(repo)).fold(Actions::NONE, |acc, g| acc.union(g.actions))
    }
}

/// Parses a scope map's actions (`repositories/<repo>/<action>`) into grants.
pub fn parse_scope_map_actions<S: AsRef<str>>(actions: &[S]) -> Result<Vec<Grant>, String> {
    let mut grants: Vec<Grant> = Vec::new();
    for line in actions {
        let line = line.as_ref();
        let rest = line
            .strip_prefix("repositories/")
            .ok_or_else(|| format!("invalid scope map action {line:?}: expected repositories/<repo>/<action>"))?;
        let (repo, action) = rest
            .rsplit_once('/')
            .and_then(|(head, verb)| head.rsplit_once('/').map(|(repo, noun)| (repo, format!("{noun}/{verb}"))))
            .ok_or_else(|| format!("invalid scope map action {line:?}: expected repositories/<repo>/<action>"))?;
        let action: Action = action.parse().map_err(|e| format!("invalid scope map action {line:?}: {e}"))?;
        if !Actions::ALL_REPOSITORY.has(action) {
            return Err(format!("invalid scope map action {line:?}: {action} cannot be granted by a scope map"));
        }
        let pattern = RepoPattern::parse(repo)?;
        match grants.iter_mut().find(|g| g.pattern == pattern) {
            Some(g) => g.actions = g.actions.union(Actions::of(&[action])),
            None => grants.push(Grant { pattern, actions: Actions::of(&[action]) }),
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Manage;

    #[test]
    fn scopes_parse_and_print() {
        let scopes = Scope::parse_all(
            "repository:a/b:pull,push registry:catalog:* repository(plugin):c:* bogus x:y:z registry:management:read,write registry:management:all",
        );
        assert_eq!(scopes.len(), 4);
        assert_eq!(scopes[3], Scope::Management(Manage::Write));
        assert_eq!(scopes[0].to_challenge(), "repository:a/b:pull,push");
        assert_eq!(scopes[1], Scope::Catalog);
        assert_eq!(scopes[2].to_challenge(), "repository:c:pull,push,delete,metadata_read,metadata_write");
        assert!(Scope::parse_all("repository:UPPER:pull").is_empty(), "invalid names grant nothing");
    }

    #[test]
    fn grant_is_the_intersection() {
        let perms = Permissions {
            grants: parse_scope_map_actions(&["repositories/app/content/read", "repositories/app/content/write"])
                .expect("actions"),
            manage: Manage::None,
        };
        let asked = Scope::parse_all("repository:app:pull,push,delete repository:other:pull registry:management:owner");
        let granted = grant(&asked, &perms, None);
        assert_eq!(granted.len(), 2, "no management rights, no management entry");
        assert_eq!(granted[0].actions, ["pull", "push"]);
        assert!(granted[1].actions.is_empty());
        let back = Granted::from_claim(&granted);
        assert_eq!(back.on("app"), Actions::of(&[Action::ContentRead, Action::ContentWrite]));
        assert!(back.on("other").is_empty() && !back.catalog && back.manage == Manage::None);
        assert_eq!(Granted::from_claim(&back.to_claim()), back);
    }

    #[test]
    fn a_token_never_yields_more_than_it_carries() {
        let owner = Permissions {
            grants: vec![Grant { pattern: RepoPattern::all(), actions: Actions::ALL_REPOSITORY }],
            manage: Manage::Owner,
        };
        let pull_app = Granted::from_claim(&grant(&Scope::parse_all("repository:app:pull"), &owner, None));
        let asked = Scope::parse_all(
            "repository:app:pull,push repository:other:pull registry:catalog:* registry:management:owner",
        );
        let again = Granted::from_claim(&grant(&asked, &owner, Some(&pull_app)));
        assert_eq!(again.on("app"), pull_app.on("app"), "narrow stays narrow");
        assert!(again.on("other").is_empty() && !again.catalog && again.manage == Manage::None);
        let full = Granted::from_claim(&grant(&asked, &owner, Some(&Granted::data_plane())));
        assert_eq!(full.manage, Manage::None, "the data plane carries no management");
        assert!(full.catalog && full.on("other").has(Action::ContentRead));
        let managing = Granted::from_claim(&grant(&asked, &owner, None));
        assert_eq!(managing.manage, Manage::Owner, "asked for, and held");
        assert!(Granted::data_plane().on("any/repo").has(Action::Sign));
    }

    #[test]
    fn scope_map_actions_are_validated() {
        let g = parse_scope_map_actions(&["repositories/team/*/metadata/read", "repositories/team/*/content/delete"])
            .expect("ok");
        assert_eq!(g.len(), 1);
        assert!(g[0].pattern.matches("team/x"));
        for bad in
            ["repos/a/content/read", "repositories/a/content/fly", "repositories/a/sign", "repositories/A/content/read"]
        {
            assert!(parse_scope_map_actions(&[bad]).is_err(), "{bad}");
        }
    }
}
