//! `berth user …` and `berth sp …`: the users and service principals that `role assignment`
//! gives roles, shaped after `az ad user` and `az ad sp`. Berth keeps both in its own
//! directory (`/berth/v1/users`, told apart by `kind`); a name is what the identity signs in
//! with, so there is no object id or app id beside it.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Registry;
use super::error::Failure;
use super::identity::{RegistryTarget, bool_value, cell, date_cell, expiry_cell};
use super::output::{self, OutputArgs};
use super::tokens::title;
use crate::access::PrincipalKind;

#[derive(Debug, Args)]
pub(super) struct Named {
    /// Its name, which is also the user name it signs in with
    #[arg(short = 'n', long, visible_alias = "id")]
    name: String,
    #[command(flatten)]
    target: RegistryTarget,
}

#[derive(Debug, Subcommand)]
pub(super) enum PrincipalCommand {
    /// Create one; a password not given is generated, and shown only now
    Create {
        #[command(flatten)]
        named: Named,
        /// Its password, at least 8 characters (default: generated). `az ad user create` calls
        /// it --password, which here is the signing-in caller's, as in `az acr`
        #[arg(long, value_name = "PASSWORD")]
        new_password: Option<String>,
        /// A built-in role on the whole registry, e.g. AcrPull or AcrPush; repeatable. Only an
        /// Owner may give roles (`role assignment create` gives them on repositories)
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Days until it expires (default: never)
        #[arg(long)]
        expiration_in_days: Option<u32>,
        /// Whether it may sign in (default: true)
        #[arg(long, value_name = "BOOL", value_parser = bool_value)]
        account_enabled: Option<bool>,
    },
    /// List them
    List(RegistryTarget),
    /// Show one (password values are never shown again)
    Show(Named),
    /// Enable or disable one, or change its expiry; applies from its next request on
    Update {
        #[command(flatten)]
        named: Named,
        /// Whether it may sign in
        #[arg(long, value_name = "BOOL", value_parser = bool_value)]
        account_enabled: Option<bool>,
        /// Days from now until it expires
        #[arg(long)]
        expiration_in_days: Option<u32>,
    },
    /// Delete one and its role assignments
    Delete(Named),
    /// Its password
    #[command(subcommand)]
    Credential(CredentialCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum CredentialCommand {
    /// Replace its password with a generated one, shown only now; the old one stops working
    Reset(Named),
}

/// `berth user …` (`kind` User) or `berth sp …` (ServicePrincipal).
pub(super) async fn principal(cmd: PrincipalCommand, kind: PrincipalKind, out: &OutputArgs) -> anyhow::Result<()> {
    let path = |name: &str| format!("/berth/v1/users/{name}");
    let result = match cmd {
        PrincipalCommand::Create { named, new_password, roles, expiration_in_days, account_enabled } => {
            let body = json!({
                "name": named.name,
                "kind": kind.as_str(),
                "password": new_password,
                "roles": roles,
                "expirationInDays": expiration_in_days,
                "disabled": account_enabled == Some(false),
            });
            let registry = named.target.registry()?;
            let created = registry.call(Method::POST, "/berth/v1/users", Some(&body)).await?;
            if kind == PrincipalKind::ServicePrincipal {
                return output::print(&sign_in_json(&registry, &created["credentials"]), out, None);
            }
            created
        }
        PrincipalCommand::List(target) => {
            let all = target.registry()?.call(Method::GET, "/berth/v1/users", None).await?;
            all.as_array().into_iter().flatten().filter(|p| p["kind"] == kind.as_str()).cloned().collect()
        }
        PrincipalCommand::Show(named) => existing(&named.target.registry()?, &named.name, kind).await?,
        PrincipalCommand::Update { named, account_enabled, expiration_in_days } => {
            let registry = named.target.registry()?;
            let shown = existing(&registry, &named.name, kind).await?;
            if account_enabled.is_none() && expiration_in_days.is_none() {
                shown
            } else {
                let status = account_enabled.map(|on| if on { "enabled" } else { "disabled" });
                let body = json!({"status": status, "expirationInDays": expiration_in_days});
                registry.call(Method::PATCH, &path(&named.name), Some(&body)).await?
            }
        }
        PrincipalCommand::Delete(named) => {
            let registry = named.target.registry()?;
            existing(&registry, &named.name, kind).await?;
            return registry.call(Method::DELETE, &path(&named.name), None).await.map(drop);
        }
        PrincipalCommand::Credential(CredentialCommand::Reset(named)) => {
            let registry = named.target.registry()?;
            existing(&registry, &named.name, kind).await?;
            let renewed = registry.call(Method::POST, &format!("{}/credentials", path(&named.name)), None).await?;
            return output::print(&sign_in_json(&registry, &renewed), out, None);
        }
    };
    output::print(&result, out, Some(principal_columns))
}

/// The user or service principal `name`; a principal of the other kind is not found (exit 3),
/// as the registry lists both under one path.
async fn existing(registry: &Registry, name: &str, kind: PrincipalKind) -> anyhow::Result<Value> {
    let found = registry.call(Method::GET, &format!("/berth/v1/users/{name}"), None).await?;
    if found["kind"] != kind.as_str() {
        let (what, other) = if kind == PrincipalKind::User { ("user", "sp") } else { ("service principal", "user") };
        let message = format!("{what} {name:?} does not exist (`berth {other} show -n {name}` shows what does)");
        return Err(Failure::NotFound(message).into());
    }
    Ok(found)
}

/// What signing in takes, printed once, as `az ad sp create-for-rbac` and `credential reset`
/// print `appId`, `password` and `tenant`. Berth has no app registrations and no tenants: the
/// name is the user name (`username`, as `az acr credential show` calls it) and the registry
/// is where the password works (`loginServer`, as `az acr login --expose-token` prints it).
fn sign_in_json(registry: &Registry, credentials: &Value) -> Value {
    let passwords = credentials["passwords"].as_array().into_iter().flatten();
    let password = passwords.filter(|p| p["name"] == "password").find_map(|p| p["value"].as_str());
    json!({
        "loginServer": registry.login_server,
        "password": password,
        "username": credentials["username"],
    })
}

fn principal_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("NAME", cell(&item["name"])),
        ("STATUS", item["status"].as_str().map(title).unwrap_or_default()),
        ("EXPIRY", expiry_cell(&item["expiry"])),
        ("CREATION DATE", date_cell(&item["creationDate"])),
    ]
}
