//! Scope strings: the Docker token protocol's `repository:<name>:pull,push` and
//! `registry:catalog:*`, the `access` claim they become in a JWT, and ACR scope-map actions
//! `repositories/<repo>/content/read`.

use serde::{Deserialize, Serialize};

use super::{Action, Actions, Grant, Permissions, RepoPattern};
use crate::oci::RepoName;

/// One requested or granted scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository { name: RepoName, actions: Actions },
    Catalog,
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

/// The requested scopes intersected with what `perms` allow; entries that end up empty are
/// kept with no actions, as Distribution's token servers do.
pub fn grant(requested: &[Scope], perms: &Permissions) -> Vec<AccessEntry> {
    requested
        .iter()
        .map(|scope| match scope {
            Scope::Catalog => AccessEntry {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: if perms.catalog() { vec!["*".into()] } else { Vec::new() },
            },
            Scope::Repository { name, actions } => AccessEntry {
                kind: "repository".into(),
                name: name.to_string(),
                actions: actions.intersect(perms.on(name.as_str())).iter().map(|a| a.token_name().into()).collect(),
            },
        })
        .collect()
}

/// What a token's `access` claim allows, for checking a request against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    repositories: Vec<(String, Actions)>,
    pub catalog: bool,
}

impl Granted {
    pub fn from_claim(entries: &[AccessEntry]) -> Self {
        let mut granted = Granted::default();
        for e in entries {
            match e.kind.as_str() {
                "registry" if e.name == "catalog" => granted.catalog |= e.actions.iter().any(|a| a == "*"),
                "repository" => {
                    let actions = e
                        .actions
                        .iter()
                        .filter_map(|a| Action::from_token_name(a))
                        .fold(Actions::NONE, |acc, a| acc.union(Actions::of(&[a])));
                    granted.repositories.push((e.name.clone(), actions));
                }
                _ => {}
            }
        }
        granted
    }

    pub fn on(&self, repo: &str) -> Actions {
        self.repositories.iter().filter(|(n, _)| n == repo).fold(Actions::NONE, |acc, (_, a)| acc.union(*a))
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
        let scopes = Scope::parse_all("repository:a/b:pull,push registry:catalog:* repository(plugin):c:* bogus x:y:z");
        assert_eq!(scopes.len(), 3);
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
        let granted = grant(&Scope::parse_all("repository:app:pull,push,delete repository:other:pull"), &perms);
        assert_eq!(granted[0].actions, ["pull", "push"]);
        assert!(granted[1].actions.is_empty());
        let back = Granted::from_claim(&granted);
        assert_eq!(back.on("app"), Actions::of(&[Action::ContentRead, Action::ContentWrite]));
        assert!(back.on("other").is_empty() && !back.catalog);
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
