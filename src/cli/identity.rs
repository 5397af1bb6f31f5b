//! `berth login`, `berth credential show|renew`, `berth update` and `berth role assignment …`:
//! signing in and the registry's access settings, as `az acr` and `az role assignment` do them;
//! and `berth signing-key list|rotate`, Berth's own.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Registry, SignIn, confirm};
use super::docker_config::{self, REFRESH_TOKEN_USER};
use super::output::{self, OutputArgs};

/// `true`/`false` (also `yes`/`no`, `1`/`0`); the flag alone means `true`, as az's three-state flags.
pub(super) fn bool_value(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?}: use true or false")),
    }
}

#[derive(Debug, Args)]
pub(super) struct LoginArgs {
    /// The registry's login server, e.g. localhost:5000
    #[arg(short = 'n', long = "name")]
    name: String,
    #[command(flatten)]
    sign_in: SignIn,
    /// Print a refresh token instead of storing credentials in docker's config
    #[arg(short = 't', long)]
    expose_token: bool,
}

/// `az acr login`: proves the credentials by exchanging them for a refresh token, then stores
/// them in docker's config (or, with `--expose-token`, prints the refresh token).
pub(super) async fn login(args: LoginArgs, out: &OutputArgs) -> anyhow::Result<()> {
    let registry = Registry::new(&args.name, &args.sign_in)?;
    let creds = registry.creds.clone().with_context(|| {
        format!("no credentials for {}: give -u/--username and -p/--password", registry.login_server)
    })?;
    let refresh = registry.refresh_token(&creds).await?;
    if args.expose_token {
        eprintln!(
            "You can perform manual login using the provided access token below, for example: \
             'docker login loginServer -u {REFRESH_TOKEN_USER} -p accessToken'"
        );
        // The fields of recent az: the token is a refresh token, under both names.
        let token = json!({
            "accessToken": refresh,
            "loginServer": registry.login_server,
            "refreshToken": refresh,
            "username": REFRESH_TOKEN_USER,
        });
        return output::print(&token, out, None);
    }
    let path = docker_config::store(&registry.login_server, &creds)?;
    eprintln!("Credentials for {} stored in {}", registry.login_server, path.display());
    println!("Login Succeeded");
    Ok(())
}

/// `-n/--name REGISTRY` and the sign-in flags, for commands where `az acr` names the registry `-n`.
#[derive(Debug, Args)]
pub(super) struct Target {
    /// The registry's login server, e.g. localhost:5000
    #[arg(short = 'n', long = "name")]
    pub(super) name: String,
    #[command(flatten)]
    pub(super) sign_in: SignIn,
}

impl Target {
    pub(super) fn registry(&self) -> anyhow::Result<Registry> {
        Registry::new(&self.name, &self.sign_in)
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum CredentialCommand {
    /// Show the admin user's name and password names (values are shown only when created or renewed)
    Show(Target),
    /// Generate a new value for one of the admin user's two passwords
    Renew {
        #[command(flatten)]
        target: Target,
        /// Which password to regenerate
        #[arg(long, value_parser = ["password", "password2"])]
        password_name: String,
    },
}

pub(super) async fn credential(cmd: CredentialCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match &cmd {
        CredentialCommand::Show(target) => target.registry()?.call(Method::GET, "/berth/v1/credentials", None).await?,
        CredentialCommand::Renew { target, password_name } => {
            let body = json!({"name": password_name});
            target.registry()?.call(Method::POST, "/berth/v1/credentials/renew", Some(&body)).await?
        }
    };
    output::print(&result, out, Some(credential_columns))
}

fn credential_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("USERNAME", cell(&item["username"])),
        ("PASSWORD", cell(&item["passwords"][0]["value"])),
        ("PASSWORD2", cell(&item["passwords"][1]["value"])),
    ]
}

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
    #[command(flatten)]
    target: Target,
    /// Enable or disable the admin user
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    admin_enabled: Option<bool>,
    /// Let unauthenticated clients pull (and nothing else)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    anonymous_pull_enabled: Option<bool>,
    /// The tier: its included storage and limits
    #[arg(long, value_parser = ["Basic", "Standard", "Premium"])]
    sku: Option<String>,
    /// Storage limit in bytes instead of the tier's (Berth's own flag); `none` returns to the tier's
    #[arg(long, value_name = "BYTES|none")]
    storage_quota: Option<String>,
}

/// `az acr update`: the registry's access settings; prints the registry.
pub(super) async fn update(args: UpdateArgs, out: &OutputArgs) -> anyhow::Result<()> {
    let registry = args.target.registry()?;
    let mut patch = serde_json::Map::new();
    if let Some(v) = args.admin_enabled {
        patch.insert("adminUserEnabled".into(), v.into());
    }
    if let Some(v) = args.anonymous_pull_enabled {
        patch.insert("anonymousPullEnabled".into(), v.into());
    }
    if let Some(sku) = args.sku {
        patch.insert("sku".into(), sku.into());
    }
    match args.storage_quota.as_deref() {
        Some("none") => {
            patch.insert("storageQuotaBytes".into(), Value::Null);
        }
        Some(bytes) => {
            let bytes: u64 = bytes.parse().map_err(|_| anyhow::anyhow!("--storage-quota {bytes:?}: bytes, or none"))?;
            patch.insert("storageQuotaBytes".into(), bytes.into());
        }
        None => {}
    }
    let result = if patch.is_empty() {
        registry.call(Method::GET, "/berth/v1/settings", None).await?
    } else {
        registry.call(Method::PATCH, "/berth/v1/settings", Some(&Value::Object(patch))).await?
    };
    output::print(&result, out, Some(registry_columns))
}

fn registry_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("NAME", cell(&item["name"])),
        ("RESOURCE GROUP", cell(&item["resourceGroup"])),
        ("LOCATION", cell(&item["location"])),
        ("SKU", cell(&item["sku"]["name"])),
        ("LOGIN SERVER", cell(&item["loginServer"])),
        ("CREATION DATE", date_cell(&item["creationDate"])),
        ("ADMIN ENABLED", cell(&item["adminUserEnabled"])),
    ]
}

#[derive(Debug, Subcommand)]
pub(super) enum RoleCommand {
    /// Role assignments of users and service principals
    #[command(subcommand)]
    Assignment(AssignmentCommand),
}

/// The registry, where `az acr` token and scope-map commands name it `-r/--registry`.
#[derive(Debug, Args)]
pub(super) struct RegistryTarget {
    /// The registry's login server, e.g. localhost:5000
    #[arg(short = 'r', long = "registry")]
    pub(super) registry: String,
    #[command(flatten)]
    pub(super) sign_in: SignIn,
}

impl RegistryTarget {
    pub(super) fn registry(&self) -> anyhow::Result<Registry> {
        Registry::new(&self.registry, &self.sign_in)
    }
}

#[derive(Debug, Args)]
pub(super) struct AssignmentFilter {
    /// User or service principal name
    #[arg(long)]
    assignee: Option<String>,
    /// Built-in role: AcrPull, AcrPush, AcrDelete, AcrImageSigner, AcrQuarantineReader,
    /// AcrQuarantineWriter, Reader, Contributor or Owner
    #[arg(long)]
    role: Option<String>,
    /// `/` for the whole registry, or `/repositories/<name>` (a trailing `*` matches a prefix)
    #[arg(long)]
    scope: Option<String>,
}

impl AssignmentFilter {
    fn matches(&self, a: &Value) -> bool {
        let eq = |want: &Option<String>, field: &str| want.as_deref().is_none_or(|w| a[field].as_str() == Some(w));
        eq(&self.assignee, "principalName") && eq(&self.role, "roleDefinitionName") && eq(&self.scope, "scope")
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum AssignmentCommand {
    /// Give a user or service principal a role, on the registry or on repositories
    Create {
        #[command(flatten)]
        target: RegistryTarget,
        /// User or service principal name
        #[arg(long)]
        assignee: String,
        /// Built-in role name
        #[arg(long)]
        role: String,
        /// `/` (default) for the whole registry, or `/repositories/<name>` (`*` ends a prefix)
        #[arg(long)]
        scope: Option<String>,
    },
    /// List role assignments, optionally filtered
    List {
        #[command(flatten)]
        target: RegistryTarget,
        #[command(flatten)]
        filter: AssignmentFilter,
    },
    /// Remove role assignments by id, or all that match the filters (all of them, after a
    /// confirmation, without filters); prints nothing
    Delete {
        #[command(flatten)]
        target: RegistryTarget,
        /// Assignment ids
        #[arg(long, num_args = 1..)]
        ids: Vec<String>,
        #[command(flatten)]
        filter: AssignmentFilter,
        /// Do not ask for confirmation (only asked without ids or filters)
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub(super) async fn role(RoleCommand::Assignment(cmd): RoleCommand, out: &OutputArgs) -> anyhow::Result<()> {
    match cmd {
        AssignmentCommand::Create { target, assignee, role, scope } => {
            let body = json!({"assignee": assignee, "role": role, "scope": scope.unwrap_or_else(|| "/".into())});
            let created = target.registry()?.call(Method::POST, "/berth/v1/roleassignments", Some(&body)).await?;
            output::print(&created, out, Some(assignment_columns))
        }
        AssignmentCommand::List { target, filter } => {
            let all = target.registry()?.call(Method::GET, "/berth/v1/roleassignments", None).await?;
            let listed: Vec<Value> =
                all.as_array().into_iter().flatten().filter(|a| filter.matches(a)).cloned().collect();
            output::print(&Value::Array(listed), out, Some(assignment_columns))
        }
        AssignmentCommand::Delete { target, ids, filter, yes } => {
            let registry = target.registry()?;
            let filtered = filter.assignee.is_some() || filter.role.is_some() || filter.scope.is_some();
            // As `az role assignment delete`: ids alone, deleted without asking; filters pick
            // assignments, and no filter at all means every assignment, after a confirmation.
            let chosen = if ids.is_empty() {
                if !filtered {
                    confirm("This will delete all role assignments under the registry. Are you sure?", yes)?;
                }
                let all = registry.call(Method::GET, "/berth/v1/roleassignments", None).await?;
                let ids: Vec<String> = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| filter.matches(a))
                    .filter_map(|a| a["id"].as_str().map(str::to_owned))
                    .collect();
                if ids.is_empty() {
                    bail!("No matched assignments were found to delete");
                }
                ids
            } else if filtered {
                bail!("When assignment ids are used, other parameter values are not required");
            } else {
                ids
            };
            for id in &chosen {
                registry.call(Method::DELETE, &format!("/berth/v1/roleassignments/{id}"), None).await?;
            }
            Ok(())
        }
    }
}

fn assignment_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("Principal", cell(&item["principalName"])),
        ("Role", cell(&item["roleDefinitionName"])),
        ("Scope", cell(&item["scope"])),
    ]
}

/// az's `_get_value` (`str(item) if item or item == 0 else ' '`): the value as Python prints
/// it; a blank for null, an empty string, list or object. Zero is `0` and false `False`
/// (Python's `False == 0`), so a `show-usage` count of 0 is not a blank cell.
pub(super) fn cell(v: &Value) -> String {
    match v {
        Value::Null => " ".into(),
        Value::String(s) if s.is_empty() => " ".into(),
        Value::Array(a) if a.is_empty() => " ".into(),
        Value::Object(o) if o.is_empty() => " ".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An expiry as az's token tables show it: `Never` when there is none.
pub(super) fn expiry_cell(v: &Value) -> String {
    if v.is_null() { "Never".into() } else { date_cell(v) }
}

/// az's `_format_datetime`: `2026-11-22T10:00:00Z` from an ISO 8601 time.
pub(super) fn date_cell(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.len() >= 19 => format!("{}Z", &s[..19]),
        _ => cell(v),
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum SigningKeyCommand {
    /// The key that signs tokens now, and rotated ones that still verify
    List(Target),
    /// Sign new tokens with a new key; tokens signed before stay valid until they expire
    Rotate(Target),
}

pub(super) async fn signing_key(cmd: SigningKeyCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match cmd {
        SigningKeyCommand::List(target) => target.registry()?.call(Method::GET, "/berth/v1/signingkeys", None).await?,
        SigningKeyCommand::Rotate(target) => {
            target.registry()?.call(Method::POST, "/berth/v1/signingkeys/rotate", None).await?
        }
    };
    output::print(&result["keys"], out, None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn cells_follow_azs_get_value() {
        let cells: Vec<String> =
            [json!(0), json!(false), json!(true), json!(null), json!(""), json!([]), json!(12), json!("x")]
                .iter()
                .map(super::cell)
                .collect();
        assert_eq!(cells, ["0", "False", "True", " ", " ", " ", "12", "x"]);
    }
}
