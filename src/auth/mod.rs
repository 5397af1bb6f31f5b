//! Access rules, pure (no I/O): the actions a request needs, the built-in roles and scope maps
//! that grant them, and [`Permissions`], what one principal may do right now. `scope` speaks the
//! Docker token protocol's scope strings, `password` hashes secrets, `jwt` signs and checks tokens,
//! `seal` encrypts the secrets kept at rest.

pub mod jwt;
pub mod password;
pub mod scope;
pub mod seal;

use std::fmt;
use std::str::FromStr;

use crate::oci::RepoName;

/// What a request does to a repository. `content/*` and `metadata/*` are ACR's scope-map
/// actions; the quarantine and signing actions come only from roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ContentRead,
    ContentWrite,
    ContentDelete,
    MetadataRead,
    MetadataWrite,
    QuarantineRead,
    QuarantineWrite,
    Sign,
}

impl Action {
    const ALL: [Action; 8] = [
        Action::ContentRead,
        Action::ContentWrite,
        Action::ContentDelete,
        Action::MetadataRead,
        Action::MetadataWrite,
        Action::QuarantineRead,
        Action::QuarantineWrite,
        Action::Sign,
    ];

    /// The name in scope maps (`repositories/<repo>/<name>`) and in `403` messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ContentRead => "content/read",
            Action::ContentWrite => "content/write",
            Action::ContentDelete => "content/delete",
            Action::MetadataRead => "metadata/read",
            Action::MetadataWrite => "metadata/write",
            Action::QuarantineRead => "quarantine/read",
            Action::QuarantineWrite => "quarantine/write",
            Action::Sign => "sign",
        }
    }

    /// The Docker token protocol's name (`repository:<name>:pull,push`).
    pub fn token_name(self) -> &'static str {
        match self {
            Action::ContentRead => "pull",
            Action::ContentWrite => "push",
            Action::ContentDelete => "delete",
            Action::MetadataRead => "metadata_read",
            Action::MetadataWrite => "metadata_write",
            Action::QuarantineRead => "quarantine_read",
            Action::QuarantineWrite => "quarantine_write",
            Action::Sign => "sign",
        }
    }

    pub fn from_token_name(s: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.token_name() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| format!("unknown action {s:?}"))
    }
}

/// A set of [`Action`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    /// What the Docker scope action `*` asks for.
    pub const ALL_REPOSITORY: Actions = Actions(0b1_1111);
    /// Every action, the role-only ones included.
    pub const ALL: Actions = Actions(0b1111_1111);

    pub fn of(actions: &[Action]) -> Self {
        Actions(actions.iter().fold(0, |acc, a| acc | a.bit()))
    }
    pub fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn has(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }
    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }
    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }
    pub fn minus(self, other: Actions) -> Actions {
        Actions(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.has(*a))
    }
}

/// What a management request needs. Ordered: each level includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Manage {
    #[default]
    None,
    /// List and show identities and settings.
    Read,
    /// Create, change and delete them.
    Write,
    /// Also assign roles, and change identities with Owner's rights (the admin user).
    Owner,
}

impl Manage {
    const LEVELS: [Manage; 3] = [Manage::Read, Manage::Write, Manage::Owner];

    /// The action of the token scope `registry:management:<action>` that asks for this level.
    pub fn token_name(self) -> &'static str {
        match self {
            Manage::None => "",
            Manage::Read => "read",
            Manage::Write => "write",
            Manage::Owner => "owner",
        }
    }

    pub fn from_token_name(s: &str) -> Option<Manage> {
        Self::LEVELS.into_iter().find(|m| m.token_name() == s)
    }

    /// The built-in roles that carry this level, for messages.
    pub fn roles(self) -> &'static str {
        match self {
            Manage::Owner => "Owner",
            Manage::Write => "Owner or Contributor",
            _ => "Owner, Contributor or Reader",
        }
    }
}

/// ACR's built-in roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    AcrPull,
    AcrPush,
    AcrDelete,
    AcrImageSigner,
    AcrQuarantineReader,
    AcrQuarantineWriter,
    Reader,
    Contributor,
    Owner,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::AcrPull,
        Role::AcrPush,
        Role::AcrDelete,
        Role::AcrImageSigner,
        Role::AcrQuarantineReader,
        Role::AcrQuarantineWriter,
        Role::Reader,
        Role::Contributor,
        Role::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::AcrPull => "AcrPull",
            Role::AcrPush => "AcrPush",
            Role::AcrDelete => "AcrDelete",
            Role::AcrImageSigner => "AcrImageSigner",
            Role::AcrQuarantineReader => "AcrQuarantineReader",
            Role::AcrQuarantineWriter => "AcrQuarantineWriter",
            Role::Reader => "Reader",
            Role::Contributor => "Contributor",
            Role::Owner => "Owner",
        }
    }

    /// The repository actions of ACR's role table: Owner and Contributor push, pull, delete and
    /// change policies; Reader and AcrPull pull; AcrPush pushes and pulls; AcrDelete deletes;
    /// the quarantine roles (and Owner) see quarantined images, the writer (and Owner) releases.
    pub fn actions(self) -> Actions {
        use Action::*;
        match self {
            Role::AcrPull | Role::Reader => Actions::of(&[ContentRead, MetadataRead]),
            Role::AcrPush => Actions::of(&[ContentRead, ContentWrite, MetadataRead]),
            Role::AcrDelete => Actions::of(&[ContentDelete]),
            Role::AcrImageSigner => Actions::of(&[Sign]),
            Role::AcrQuarantineReader => Actions::of(&[ContentRead, MetadataRead, QuarantineRead]),
            Role::AcrQuarantineWriter => Actions::of(&[ContentRead, MetadataRead, QuarantineRead, QuarantineWrite]),
            Role::Contributor => Actions::ALL_REPOSITORY,
            // As in ACR, Owner may also see and release quarantined images; Contributor not.
            Role::Owner => Actions::ALL_REPOSITORY.union(Actions::of(&[QuarantineRead, QuarantineWrite])),
        }
    }

    /// Management rights, which only registry-wide assignments carry.
    pub fn manage(self) -> Manage {
        match self {
            Role::Owner => Manage::Owner,
            Role::Contributor => Manage::Write,
            Role::Reader => Manage::Read,
            _ => Manage::None,
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role {s:?}; built-in roles are {}", names.join(", "))
        })
    }
}

/// Which repositories a grant covers: a name, a prefix ending in `*`, or `*` for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPattern(String);

impl RepoPattern {
    pub fn all() -> Self {
        RepoPattern("*".into())
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let prefix = s.strip_suffix('*').unwrap_or(s);
        let bad = |c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
        if s.is_empty() || prefix.contains('*') || prefix.chars().any(bad) {
            return Err(format!("invalid repository pattern {s:?}: use a repository name, optionally ending in '*'"));
        }
        Ok(RepoPattern(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_all(&self) -> bool {
        self.0 == "*"
    }

    pub fn matches(&self, repo: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => repo.starts_with(prefix),
            None => self.0 == repo,
        }
    }

    /// Whether every repository `other` covers is covered by this pattern too.
    pub fn covers(&self, other: &RepoPattern) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => other.0.starts_with(prefix),
            None => self.0 == other.0,
        }
    }
}

/// Actions on the repositories a pattern covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub pattern: RepoPattern,
    pub actions: Actions,
}

/// Everything one principal may do, as of the identity snapshot it was computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub grants: Vec<Grant>,
    pub manage: Manage,
}

impl Permissions {
    /// Pull and list everything: anonymous pull.
    pub fn anonymous_pull() -> Self {
        Permissions {
            grants: vec![Grant {
                pattern: RepoPattern::all(),
                actions: Actions::of(&[Action::ContentRead, Action::MetadataRead]),
            }],
            manage: Manage::None,
        }
    }

    /// The actions allowed on `repo`.
    pub fn on(&self, repo: &str) -> Actions {
        self.grants.iter().filter(|g| g.pattern.matches(repo)).fold(Actions::NONE, |acc, g| acc.union(g.actions))
    }

    /// Listing every repository (`registry:catalog:*`) needs metadata/read on all of them.
    pub fn catalog(&self) -> bool {
        self.grants.iter().any(|g| g.pattern.is_all() && g.actions.has(Action::MetadataRead))
    }

    /// Whether these permissions include everything `other` allows: a caller may change an
    /// identity only if it holds at least that identity's rights (as Azure RBAC's rule that no
    /// one grants more than they hold). Owner covers everything: it may assign itself any role.
    pub fn covers(&self, other: &Permissions) -> bool {
        if self.manage == Manage::Owner {
            return true;
        }
        self.manage >= other.manage
            && other.grants.iter().all(|g| {
                g.actions
                    .iter()
                    .all(|a| self.grants.iter().any(|mine| mine.pattern.covers(&g.pattern) && mine.actions.has(a)))
            })
    }
}

/// What one request needs, derived from its endpoint before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Any authenticated caller (`GET /v2/`).
    Authenticated,
    /// Actions on one repository.
    Repository { name: RepoName, actions: Actions },
    /// `registry:catalog:*`.
    Catalog,
}

/// Why a caller's permissions do not cover a [`Need`]: the action and repository missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub repository: Option<String>,
    pub actions: Actions,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.actions.iter().map(Action::as_str).collect();
        match &self.repository {
            Some(repo) => write!(f, "requires {} on repository {repo:?}", names.join(", ")),
            None => f.write_str("requires metadata/read on every repository (registry:catalog:*)"),
        }
    }
}

/// Checks `need` against `allowed`, a function giving the actions allowed on a repository and
/// whether the catalog is. `Err` names the first thing missing.
pub fn check(need: &Need, on: impl Fn(&str) -> Actions, catalog: bool) -> Result<(), Missing> {
    match need {
        Need::Authenticated => Ok(()),
        Need::Catalog if catalog => Ok(()),
        Need::Catalog => Err(Missing { repository: None, actions: Actions::of(&[Action::MetadataRead]) }),
        Need::Repository { name, actions } => {
            let missing = actions.minus(on(name.as_str()));
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Missing { repository: Some(name.as_str().to_owned()), actions: missing })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).expect("name")
    }

    #[test]
    fn roles_follow_acr_table() {
        let push = Role::AcrPush.actions();
        assert!(push.has(Action::ContentWrite) && push.has(Action::ContentRead) && !push.has(Action::ContentDelete));
        assert!(!Role::AcrPull.actions().has(Action::ContentWrite));
        assert_eq!(Role::AcrDelete.actions(), Actions::of(&[Action::ContentDelete]));
        assert!(Role::Contributor.actions().has(Action::MetadataWrite));
        assert!(!Role::AcrPush.actions().has(Action::MetadataWrite), "changing policies is Owner/Contributor");
        assert_eq!(Role::Reader.manage(), Manage::Read);
        assert!(Role::Owner.manage() > Role::Contributor.manage());
        assert_eq!("acrpull".parse::<Role>(), Ok(Role::AcrPull));
        assert!("AcrAdmin".parse::<Role>().expect_err("unknown").contains("AcrPull"));
    }

    #[test]
    fn patterns_match_names_and_prefixes() {
        let p = RepoPattern::parse("team/*").expect("pattern");
        assert!(p.matches("team/app") && !p.matches("teamx") && !p.matches("other/app"));
        assert!(RepoPattern::parse("team/app").expect("exact").matches("team/app"));
        assert!(!RepoPattern::parse("team/app").expect("exact").matches("team/app2"));
        assert!(RepoPattern::all().matches("anything"));
        for bad in ["", "a*b", "Team/*", "a b"] {
            assert!(RepoPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn coverage_compares_rights() {
        let role = |r: Role, scope: &str| Permissions {
            grants: vec![Grant { pattern: RepoPattern::parse(scope).expect("p"), actions: r.actions() }],
            manage: if scope == "*" { r.manage() } else { Manage::None },
        };
        let owner = role(Role::Owner, "*");
        let contributor = role(Role::Contributor, "*");
        assert!(owner.covers(&contributor) && owner.covers(&owner));
        assert!(owner.covers(&role(Role::AcrImageSigner, "*")), "Owner may assign itself any role");
        assert!(!contributor.covers(&owner), "Owner's management rights are more than Contributor's");
        assert!(contributor.covers(&role(Role::AcrPush, "team/*")));
        assert!(role(Role::AcrPush, "team/*").covers(&role(Role::AcrPull, "team/app")));
        assert!(!role(Role::AcrPush, "team/app").covers(&role(Role::AcrPull, "team/*")));
        assert!(!role(Role::AcrPull, "*").covers(&role(Role::AcrDelete, "x")));
        assert!(!role(Role::AcrPush, "*").covers(&role(Role::AcrImageSigner, "x")), "signing is not a push right");
        assert!(Permissions::default().covers(&Permissions::default()));
        assert_eq!(Manage::from_token_name("write"), Some(Manage::Write));
        assert_eq!(Manage::from_token_name(""), None);
    }

    #[test]
    fn check_names_what_is_missing() {
        let perms = Permissions {
            grants: vec![Grant { pattern: RepoPattern::parse("app/*").expect("p"), actions: Role::AcrPush.actions() }],
            manage: Manage::None,
        };
        let push = |name: &str| Need::Repository { name: repo(name), actions: Actions::of(&[Action::ContentWrite]) };
        let on = |r: &str| perms.on(r);
        assert_eq!(check(&push("app/web"), on, perms.catalog()), Ok(()));
        let e = check(&push("other"), on, false).expect_err("denied");
        assert_eq!(e.to_string(), "requires content/write on repository \"other\"");
        assert!(check(&Need::Catalog, on, perms.catalog()).is_err());
        assert!(Permissions::anonymous_pull().catalog());
    }
}
