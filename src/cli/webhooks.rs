//! `berth webhook …`: `az acr webhook`'s commands and flags, plus `redeliver` and `--secret`
//! (Berth's own: an HMAC-SHA256 signature of each body in `X-Berth-Signature-256`).

use anyhow::bail;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::confirm;
use super::identity::{RegistryTarget, cell};
use super::output::{self, Columns, OutputArgs};

#[derive(Debug, Args)]
pub(super) struct Named {
    /// The webhook's name (5 to 50 letters and digits)
    #[arg(short = 'n', long)]
    name: String,
    #[command(flatten)]
    target: RegistryTarget,
}

/// What create and update set.
#[derive(Debug, Args)]
pub(super) struct Settings {
    /// Where events are POSTed (http or https)
    #[arg(long)]
    uri: Option<String>,
    /// Events to send: push, delete, quarantine, chart_push, chart_delete
    #[arg(long, num_args = 1.., value_parser = ["push", "delete", "quarantine", "chart_push", "chart_delete"])]
    actions: Option<Vec<String>>,
    /// Headers to send, `Key=Value` each (e.g. "Authorization=Basic 000000")
    #[arg(long, num_args = 0..)]
    headers: Option<Vec<String>>,
    /// Repositories and tags that trigger events: `app:*`, `app:v1`, `*:*`; empty: all
    #[arg(long)]
    scope: Option<String>,
    #[arg(long, value_parser = ["enabled", "disabled"])]
    status: Option<String>,
    /// Sign each body with HMAC-SHA256 under this secret (Berth's own; "" removes it)
    #[arg(long)]
    secret: Option<String>,
}

impl Settings {
    fn body(&self) -> anyhow::Result<Map<String, Value>> {
        let mut body = Map::new();
        let mut put = |k: &str, v: Value| {
            body.insert(k.into(), v);
        };
        if let Some(uri) = &self.uri {
            put("serviceUri", json!(uri));
        }
        if let Some(actions) = &self.actions {
            put("actions", json!(actions));
        }
        if let Some(headers) = &self.headers {
            let mut map = Map::new();
            for h in headers {
                let Some((k, v)) = h.split_once('=') else { bail!("--headers takes Key=Value pairs, not {h:?}") };
                map.insert(k.into(), json!(v));
            }
            put("customHeaders", Value::Object(map));
        }
        if let Some(scope) = &self.scope {
            put("scope", json!(scope));
        }
        if let Some(status) = &self.status {
            put("status", json!(status));
        }
        if let Some(secret) = &self.secret {
            put("secret", json!(secret));
        }
        Ok(body)
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum WebhookCommand {
    /// Create a webhook
    Create {
        #[command(flatten)]
        named: Named,
        #[command(flatten)]
        settings: Settings,
    },
    /// List the registry's webhooks
    List(RegistryTarget),
    /// Show one webhook
    Show(Named),
    /// Change a webhook's URI, headers, actions, scope, status or secret
    Update {
        #[command(flatten)]
        named: Named,
        #[command(flatten)]
        settings: Settings,
    },
    /// Delete a webhook
    Delete {
        #[command(flatten)]
        named: Named,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Send a ping event to the webhook now
    Ping(Named),
    /// The latest delivery attempts and their answers
    ListEvents(Named),
    /// The service URI and custom headers
    GetConfig(Named),
    /// Send one event to the webhook again now (Berth's own)
    Redeliver {
        #[command(flatten)]
        named: Named,
        /// The event's id, as list-events shows it
        #[arg(long)]
        event_id: String,
    },
}

pub(super) async fn webhook(cmd: WebhookCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let path = |name: &str| format!("/berth/v1/webhooks/{name}");
    let (result, columns): (Value, Columns) = match cmd {
        WebhookCommand::Create { named, settings } => {
            if settings.uri.is_none() || settings.actions.is_none() {
                bail!("give --uri and --actions");
            }
            let mut body = settings.body()?;
            body.insert("name".into(), json!(named.name));
            let created =
                named.target.registry()?.call(Method::POST, "/berth/v1/webhooks", Some(&Value::Object(body))).await?;
            (created, webhook_columns)
        }
        WebhookCommand::List(target) => {
            (target.registry()?.call(Method::GET, "/berth/v1/webhooks", None).await?, webhook_columns)
        }
        WebhookCommand::Show(named) => {
            (named.target.registry()?.call(Method::GET, &path(&named.name), None).await?, webhook_columns)
        }
        WebhookCommand::Update { named, settings } => {
            let body = Value::Object(settings.body()?);
            (named.target.registry()?.call(Method::PATCH, &path(&named.name), Some(&body)).await?, webhook_columns)
        }
        WebhookCommand::Delete { named, yes } => {
            let registry = named.target.registry()?;
            confirm(&format!("Deleting the webhook {:?} stops its events. Continue?", named.name), yes)?;
            return registry.call(Method::DELETE, &path(&named.name), None).await.map(drop);
        }
        WebhookCommand::Ping(named) => {
            let url = format!("{}/ping", path(&named.name));
            (named.target.registry()?.call(Method::POST, &url, None).await?, ping_columns)
        }
        WebhookCommand::ListEvents(named) => {
            let url = format!("{}/events", path(&named.name));
            (named.target.registry()?.call(Method::GET, &url, None).await?, event_columns)
        }
        WebhookCommand::GetConfig(named) => {
            let url = format!("{}/config", path(&named.name));
            (named.target.registry()?.call(Method::GET, &url, None).await?, config_columns)
        }
        WebhookCommand::Redeliver { named, event_id } => {
            let url = format!("{}/events/{event_id}/redeliver", path(&named.name));
            (named.target.registry()?.call(Method::POST, &url, None).await?, event_columns)
        }
    };
    output::print(&result, out, Some(columns))
}

/// az's webhook table.
fn webhook_columns(item: &Value) -> Vec<(&'static str, String)> {
    let actions = item["actions"].as_array().map(|a| a.iter().map(cell).collect::<Vec<_>>().join(", "));
    vec![
        ("NAME", cell(&item["name"])),
        ("STATUS", cell(&item["status"])),
        ("SCOPE", cell(&item["scope"])),
        ("ACTIONS", actions.unwrap_or_else(|| " ".into())),
        ("PROVISIONING STATE", cell(&item["provisioningState"])),
    ]
}

fn ping_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![("ID", cell(&item["id"]))]
}

/// az's list-events table: the event, its action and time, and the receiver's answer.
fn event_columns(item: &Value) -> Vec<(&'static str, String)> {
    let request = &item["eventRequestMessage"];
    let response = &item["eventResponseMessage"];
    let status =
        if response["statusCode"].is_null() { cell(&response["error"]) } else { cell(&response["statusCode"]) };
    vec![
        ("ID", cell(&item["id"])),
        ("ACTION", cell(&request["content"]["action"])),
        ("TIMESTAMP", cell(&request["content"]["timestamp"])),
        ("ATTEMPT", cell(&item["attempt"])),
        ("STATUS CODE", status),
        ("REASON", cell(&response["reasonPhrase"])),
    ]
}

fn config_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![("SERVICE URI", cell(&item["serviceUri"])), ("HEADERS", cell(&item["customHeaders"]))]
}
