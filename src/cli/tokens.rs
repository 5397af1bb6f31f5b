//! `berth token …`, `berth token credential …` and `berth scope-map …`: repository tokens and
//! the scope maps that bind them to repositories, with `az acr token` / `az acr scope-map` flags.

use anyhow::bail;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::confirm;
use super::identity::{RegistryTarget, bool_value, cell, date_cell, expiry_cell};
use super::output::{self, OutputArgs};
use crate::auth::Action;

/// `--repository REPO ACTION [ACTION …]`, repeatable: actions such as `content/read`. clap
/// hands over the values of all occurrences as one list; each value that is not an action
/// starts the next repository.
fn repository_actions(given: &[String]) -> anyhow::Result<Vec<Value>> {
    let mut groups: Vec<Vec<&String>> = Vec::new();
    for value in given {
        match groups.last_mut() {
            Some(group) if value.parse::<Action>().is_ok() => group.push(value),
            _ => groups.push(vec![value]),
        }
    }
    groups
        .iter()
        .map(|group| match group.split_first() {
            Some((repo, actions)) if !actions.is_empty() => Ok(json!({"repository": repo, "actions": actions})),
            _ => bail!("--repository needs a repository and at least one action, e.g. --repository hello content/read"),
        })
        .collect()
}

/// The same pairs as scope-map action strings `repositories/<repo>/<action>`.
fn scope_actions(given: &[String]) -> anyhow::Result<Vec<String>> {
    Ok(repository_actions(given)?
        .iter()
        .flat_map(|r| {
            let repo = r["repository"].as_str().unwrap_or_default().to_owned();
            r["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| format!("repositories/{repo}/{}", a.as_str().unwrap_or_default()))
        })
        .collect())
}

#[derive(Debug, Args)]
pub(super) struct Named {
    /// The token's name
    #[arg(short = 'n', long)]
    name: String,
    #[command(flatten)]
    target: RegistryTarget,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token bound to a scope map (or to actions given with --repository)
    Create {
        #[command(flatten)]
        named: Named,
        /// An existing scope map
        #[arg(long, conflicts_with = "repository")]
        scope_map: Option<String>,
        /// A repository and its actions; makes the scope map `<token>-scope-map`. Repeatable.
        #[arg(long, value_names = ["REPOSITORY", "ACTION"], num_args = 2.., action = clap::ArgAction::Append)]
        repository: Vec<String>,
        /// enabled or disabled
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: Option<String>,
        /// Days until the passwords expire (default: never)
        #[arg(long)]
        expiration_in_days: Option<u32>,
        /// Create the token without passwords (generate them later)
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
        no_passwords: Option<bool>,
    },
    /// List the registry's tokens
    List(RegistryTarget),
    /// Show one token
    Show(Named),
    /// Change a token's status or scope map; applies from the next request on
    Update {
        #[command(flatten)]
        named: Named,
        #[arg(long)]
        scope_map: Option<String>,
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: Option<String>,
    },
    /// Delete a token
    Delete {
        #[command(flatten)]
        named: Named,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// A token's passwords
    #[command(subcommand)]
    Credential(TokenCredentialCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCredentialCommand {
    /// Generate password1, password2 or both (the default); values are shown only now
    Generate {
        #[command(flatten)]
        named: Named,
        #[arg(long)]
        password1: bool,
        #[arg(long)]
        password2: bool,
        /// Days until the new passwords expire (default: never)
        #[arg(long)]
        expiration_in_days: Option<u32>,
    },
    /// Delete password1 and/or password2
    Delete {
        #[command(flatten)]
        named: Named,
        #[arg(long)]
        password1: bool,
        #[arg(long)]
        password2: bool,
    },
}

fn chosen(password1: bool, password2: bool) -> Vec<&'static str> {
    [("password1", password1), ("password2", password2)].into_iter().filter(|(_, on)| *on).map(|(n, _)| n).collect()
}

pub(super) async fn token(cmd: TokenCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let path = |name: &str| format!("/berth/v1/tokens/{name}");
    let result = match cmd {
        TokenCommand::Create { named, scope_map, repository, status, expiration_in_days, no_passwords } => {
            if scope_map.is_none() && repository.is_empty() {
                bail!("give --scope-map or at least one --repository REPOSITORY ACTION…");
            }
            let body = json!({
                "name": named.name,
                "scopeMap": scope_map,
                "repositories": repository_actions(&repository)?,
                "status": status,
                "expirationInDays": expiration_in_days,
                "noPasswords": no_passwords.unwrap_or(false),
            });
            named.target.registry()?.call(Method::POST, "/berth/v1/tokens", Some(&body)).await?
        }
        TokenCommand::List(target) => target.registry()?.call(Method::GET, "/berth/v1/tokens", None).await?,
        TokenCommand::Show(named) => named.target.registry()?.call(Method::GET, &path(&named.name), None).await?,
        TokenCommand::Update { named, scope_map, status } => {
            let body = json!({"scopeMap": scope_map, "status": status});
            named.target.registry()?.call(Method::PATCH, &path(&named.name), Some(&body)).await?
        }
        TokenCommand::Delete { named, yes } => {
            let registry = named.target.registry()?;
            confirm(&format!("Deleting the token {:?} stops every client that uses it. Continue?", named.name), yes)?;
            return registry.call(Method::DELETE, &path(&named.name), None).await.map(drop);
        }
        TokenCommand::Credential(TokenCredentialCommand::Generate {
            named,
            password1,
            password2,
            expiration_in_days,
        }) => {
            let names = chosen(password1, password2);
            let body = json!({
                "names": if names.is_empty() { None } else { Some(names) },
                "expirationInDays": expiration_in_days,
            });
            let registry = named.target.registry()?;
            let generated =
                registry.call(Method::POST, &format!("{}/credentials", path(&named.name)), Some(&body)).await?;
            return output::print(&generated, out, Some(password_columns));
        }
        TokenCommand::Credential(TokenCredentialCommand::Delete { named, password1, password2 }) => {
            let names = chosen(password1, password2);
            if names.is_empty() {
                bail!("give --password1, --password2 or both");
            }
            let registry = named.target.registry()?;
            for n in names {
                registry.call(Method::DELETE, &format!("{}/credentials/{n}", path(&named.name)), None).await?;
            }
            registry.call(Method::GET, &path(&named.name), None).await?
        }
    };
    output::print(&result, out, Some(token_columns))
}

/// `az acr token` table: expiry per password, `Never` when it has none.
fn token_columns(item: &Value) -> Vec<(&'static str, String)> {
    let expiry = |name: &str| {
        let found = item["credentials"]["passwords"].as_array().into_iter().flatten().find(|p| p["name"] == name);
        found.map(|p| expiry_cell(&p["expiry"])).unwrap_or_default()
    };
    let status = item["status"].as_str().map(title).unwrap_or_default();
    vec![
        ("NAME", cell(&item["name"])),
        ("SCOPE MAP", item["scopeMapId"].as_str().and_then(|id| id.rsplit('/').next()).unwrap_or_default().into()),
        ("PASSWORD1 EXPIRY", expiry("password1")),
        ("PASSWORD2 EXPIRY", expiry("password2")),
        ("STATUS", status),
        ("PROVISIONING STATE", cell(&item["provisioningState"])),
        ("CREATION DATE", date_cell(&item["creationDate"])),
    ]
}

/// Python's `str.title()` for one word, as az's token table shows a status.
pub(super) fn title(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect()).unwrap_or_default()
}

/// `az acr token credential generate` table: each password's value and expiry.
fn password_columns(item: &Value) -> Vec<(&'static str, String)> {
    let mut columns = vec![("USERNAME", cell(&item["username"]))];
    for p in item["passwords"].as_array().into_iter().flatten() {
        let (value, expiry) = match p["name"].as_str() {
            Some("password1") => ("PASSWORD1", "PASSWORD1 EXPIRY"),
            Some("password2") => ("PASSWORD2", "PASSWORD2 EXPIRY"),
            _ => continue,
        };
        columns.push((value, cell(&p["value"])));
        columns.push((expiry, expiry_cell(&p["expiry"])));
    }
    columns
}

#[derive(Debug, Subcommand)]
pub(super) enum ScopeMapCommand {
    /// Create a scope map from repositories and actions
    Create {
        #[command(flatten)]
        named: ScopeMapNamed,
        /// A repository and its actions, e.g. --repository hello content/read content/write. Repeatable.
        #[arg(long, value_names = ["REPOSITORY", "ACTION"], num_args = 2.., action = clap::ArgAction::Append, required = true)]
        repository: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List scope maps, the system-defined ones included
    List(RegistryTarget),
    /// Show one scope map
    Show(ScopeMapNamed),
    /// Add or remove actions; tokens bound to the map follow from their next request on
    Update {
        #[command(flatten)]
        named: ScopeMapNamed,
        #[arg(long, value_names = ["REPOSITORY", "ACTION"], num_args = 2.., action = clap::ArgAction::Append)]
        add_repository: Vec<String>,
        #[arg(long, value_names = ["REPOSITORY", "ACTION"], num_args = 2.., action = clap::ArgAction::Append)]
        remove_repository: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a scope map no token uses
    Delete {
        #[command(flatten)]
        named: ScopeMapNamed,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct ScopeMapNamed {
    /// The scope map's name
    #[arg(short = 'n', long)]
    name: String,
    #[command(flatten)]
    target: RegistryTarget,
}

pub(super) async fn scope_map(cmd: ScopeMapCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let path = |name: &str| format!("/berth/v1/scopemaps/{name}");
    let result = match cmd {
        ScopeMapCommand::Create { named, repository, description } => {
            let body = json!({
                "name": named.name,
                "description": description.unwrap_or_default(),
                "actions": scope_actions(&repository)?,
            });
            named.target.registry()?.call(Method::POST, "/berth/v1/scopemaps", Some(&body)).await?
        }
        ScopeMapCommand::List(target) => target.registry()?.call(Method::GET, "/berth/v1/scopemaps", None).await?,
        ScopeMapCommand::Show(named) => named.target.registry()?.call(Method::GET, &path(&named.name), None).await?,
        ScopeMapCommand::Update { named, add_repository, remove_repository, description } => {
            let body = json!({
                "description": description,
                "addActions": scope_actions(&add_repository)?,
                "removeActions": scope_actions(&remove_repository)?,
            });
            named.target.registry()?.call(Method::PATCH, &path(&named.name), Some(&body)).await?
        }
        ScopeMapCommand::Delete { named, yes } => {
            let registry = named.target.registry()?;
            confirm(&format!("Delete the scope map {:?}?", named.name), yes)?;
            return registry.call(Method::DELETE, &path(&named.name), None).await.map(drop);
        }
    };
    output::print(&result, out, Some(scope_map_columns))
}

fn scope_map_columns(item: &Value) -> Vec<(&'static str, String)> {
    let mut description = cell(&item["description"]);
    if description.chars().count() > 57 {
        description = description.chars().take(57).collect::<String>() + "...";
    }
    vec![
        ("NAME", cell(&item["name"])),
        ("TYPE", cell(&item["scopeMapType"])),
        ("CREATION DATE", date_cell(&item["creationDate"])),
        ("DESCRIPTION", description),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn repository_flags_become_scope_map_actions() {
        let given: Vec<String> =
            ["hello", "content/read", "content/write", "a/*", "metadata/read"].map(String::from).to_vec();
        let actions = super::scope_actions(&given).expect("valid");
        assert_eq!(
            actions,
            ["repositories/hello/content/read", "repositories/hello/content/write", "repositories/a/*/metadata/read"]
        );
        let lonely: Vec<String> = ["hello", "content/read", "lonely"].map(String::from).to_vec();
        assert!(super::scope_actions(&lonely).is_err());
    }

    #[test]
    fn token_table_has_az_columns() {
        let token = json!({
            "name": "ci", "scopeMapId": "/berth/v1/scopemaps/ci-scope-map", "status": "enabled",
            "provisioningState": "Succeeded", "creationDate": "2026-11-22T10:00:00.123000+00:00",
            "credentials": {"passwords": [{"name": "password1", "expiry": null}, {"name": "password2", "expiry": "2026-12-01T00:00:00.000000+00:00"}]},
        });
        let cols = super::token_columns(&token);
        let expected = [
            ("NAME", "ci"),
            ("SCOPE MAP", "ci-scope-map"),
            ("PASSWORD1 EXPIRY", "Never"),
            ("PASSWORD2 EXPIRY", "2026-12-01T00:00:00Z"),
            ("STATUS", "Enabled"),
            ("PROVISIONING STATE", "Succeeded"),
            ("CREATION DATE", "2026-11-22T10:00:00Z"),
        ];
        assert_eq!(cols.iter().map(|(h, v)| (*h, v.as_str())).collect::<Vec<_>>(), expected);
    }
}
