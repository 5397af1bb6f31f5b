//! The `berth` command line: `serve` runs the registry; every other command is a client of a
//! running registry that mirrors `az acr` (command names, flags, JSON output, `-o`, `--query`).

mod audit;
mod builds;
mod client;
mod docker_config;
mod error;
mod health;
mod identity;
mod manifests;
mod output;
mod principals;
mod repositories;
mod serve;
mod storage;
mod tasks;
mod tokens;
mod trust;
mod vulndb;
mod webhooks;

use clap::{Parser, Subcommand};
pub use error::exit_code;

use crate::access::PrincipalKind;
pub use output::render_text;

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "A self-hostable container registry")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    output: output::OutputArgs,
}

impl Cli {
    /// Whether this runs the registry (a long-lived server), not a client command.
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Agent(_))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry (defaults: 127.0.0.1:5000, state under ./berth-data).
    Serve(serve::ServeArgs),
    /// Run queued task runs on this machine, for a registry whose stores it shares (Berth's own).
    Agent(serve::AgentArgs),
    /// Sign in to a registry: store credentials in docker's config, or print a refresh token.
    Login(identity::LoginArgs),
    /// The admin user's credentials.
    #[command(subcommand)]
    Credential(identity::CredentialCommand),
    /// Change registry settings: the admin user and anonymous pull.
    Update(identity::UpdateArgs),
    /// Repository tokens: credentials limited to the repositories and actions of a scope map.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Scope maps: sets of repository actions that tokens are bound to.
    #[command(subcommand)]
    ScopeMap(tokens::ScopeMapCommand),
    /// Roles of users and service principals.
    #[command(subcommand)]
    Role(identity::RoleCommand),
    /// Users: people who sign in with a name and password (as `az ad user`).
    #[command(subcommand)]
    User(principals::PrincipalCommand),
    /// Service principals: identities for automation (as `az ad sp`).
    #[command(subcommand)]
    Sp(principals::PrincipalCommand),
    /// Repositories, their tags and manifests, and their locks.
    #[command(subcommand)]
    Repository(repositories::RepositoryCommand),
    /// Manifests' metadata, locks and referrers.
    #[command(subcommand)]
    Manifest(manifests::ManifestCommand),
    /// Check the local clients and the connection to a registry, with az's error codes.
    CheckHealth(health::HealthArgs),
    /// Storage used against the tier's limits, with tokens and scope maps.
    ShowUsage(identity::Target),
    /// Usage counters: recount them from the stored blobs and manifests (Berth's own).
    #[command(subcommand)]
    Usage(storage::UsageCommand),
    /// Garbage collection: run a pass now, or show the last.
    #[command(subcommand)]
    Gc(storage::GcCommand),
    /// Registry policies: retention of untagged manifests, quarantine of new images.
    #[command(subcommand)]
    Config(storage::ConfigCommand),
    /// Delete tags (and with --untagged, manifests) by filter and age, as `acr purge`.
    Purge(storage::PurgeArgs),
    /// Webhooks: POSTs of ACR's push and delete events to your services.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// The keys that sign tokens: list them, or rotate to a new one (Berth's own).
    #[command(subcommand)]
    SigningKey(identity::SigningKeyCommand),
    /// The audit log of sign-ins and repository events (Berth's own).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Scan an image now and print its vulnerabilities (Berth's own).
    Scan(trust::ScanArgs),
    /// Scan and trust policies: what findings and signatures decide about serving images.
    #[command(subcommand)]
    Policy(trust::PolicyCommand),
    /// The offline vulnerability database: import OSV records, show what is loaded (Berth's own).
    #[command(subcommand)]
    Vulndb(vulndb::VulndbCommand),
    /// Build an image from a local folder, a git URL or a tarball URL, and push it (as `az acr build`).
    Build(builds::BuildArgs),
    /// Run a task file or a command, with or without a context (as `az acr run`).
    Run(builds::RunArgs),
    /// Tasks: builds, task files and commands run by hand, on commits, base image updates and
    /// timers; and their runs.
    #[command(subcommand)]
    Task(tasks::TaskCommand),
    /// Offline administration of a registry's stores (Berth's own).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// New admin passwords, written straight into the stores: for a registry whose passwords are lost
    ResetPassword(serve::ResetPasswordArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = &cli.output;
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Agent(args) => serve::agent(args).await,
        Command::Login(args) => identity::login(args, out).await,
        Command::Credential(cmd) => identity::credential(cmd, out).await,
        Command::Update(args) => identity::update(args, out).await,
        Command::Token(cmd) => tokens::token(cmd, out).await,
        Command::ScopeMap(cmd) => tokens::scope_map(cmd, out).await,
        Command::Role(cmd) => identity::role(cmd, out).await,
        Command::User(cmd) => principals::principal(cmd, PrincipalKind::User, out).await,
        Command::Sp(cmd) => principals::principal(cmd, PrincipalKind::ServicePrincipal, out).await,
        Command::Repository(cmd) => repositories::repository(cmd, out).await,
        Command::Manifest(cmd) => manifests::manifest(cmd, out).await,
        Command::CheckHealth(args) => health::check_health(args).await,
        Command::ShowUsage(target) => storage::show_usage(target, out).await,
        Command::Usage(cmd) => storage::usage(cmd, out).await,
        Command::Gc(cmd) => storage::gc(cmd, out).await,
        Command::Config(cmd) => storage::config(cmd, out).await,
        Command::Purge(args) => storage::purge(args).await,
        Command::Webhook(cmd) => webhooks::webhook(cmd, out).await,
        Command::SigningKey(cmd) => identity::signing_key(cmd, out).await,
        Command::Audit(cmd) => audit::audit(cmd, out).await,
        Command::Scan(args) => trust::scan(args, out).await,
        Command::Policy(cmd) => trust::policy(cmd, out).await,
        Command::Vulndb(cmd) => vulndb::vulndb(cmd, out).await,
        Command::Build(args) => builds::build(args, out).await,
        Command::Run(args) => builds::run(args, out).await,
        Command::Task(cmd) => tasks::task(cmd, out).await,
        Command::Admin(AdminCommand::ResetPassword(args)) => serve::reset_password(args, out).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn az_style_flags_parse() {
        let parse = |args: &str| Cli::try_parse_from(args.split_whitespace());
        let cli = parse("berth token create -n ci -r localhost:5000 --repository a content/read content/write --repository b content/read -o table")
            .expect("parses");
        assert!(matches!(cli.command, Command::Token(_)));
        assert_eq!(cli.output.format, super::output::Format::Table);
        assert!(parse("berth update -n localhost:5000 --admin-enabled false --anonymous-pull-enabled").is_ok());
        assert!(parse("berth update -n localhost:5000 --admin-enabled maybe").is_err());
        assert!(parse("berth credential renew -n localhost:5000 --password-name password3").is_err());
        assert!(parse("berth scope-map create -n m -r localhost:5000 --repository lonely").is_err());
        assert!(parse("berth role assignment list -r localhost:5000 --query [].id -o tsv").is_ok());
        assert!(parse("berth repository delete -n localhost:5000 --image app@sha256:1 --yes").is_ok());
        assert!(parse("berth repository delete -n localhost:5000 --image app:v1 --repository app").is_err());
        assert!(parse("berth repository update -n localhost:5000 --repository app --write-enabled false").is_ok());
        assert!(parse("berth manifest show-metadata localhost:5000/app:v1").is_ok());
        assert!(parse("berth manifest list-metadata -r localhost:5000 -n app --orderby time_desc --top 5").is_ok());
        assert!(parse("berth manifest show-metadata localhost:5000/app:v1 -r localhost:5000").is_err());
        assert!(parse("berth check-health -n localhost:5000 --ignore-errors --yes").is_ok());
        assert!(
            parse("berth purge -r localhost:5000 --filter hello:.* --ago 2d3h --keep 2 --untagged --dry-run").is_ok()
        );
        assert!(parse("berth purge -r localhost:5000 --filter hello:.* --ago 2x").is_err());
        assert!(parse("berth config retention update -r localhost:5000 --days 3 --status enabled").is_ok());
        assert!(parse("berth config quarantine update -r localhost:5000 --status enabled").is_ok());
        assert!(parse("berth update -n localhost:5000 --sku Premium --storage-quota 1000").is_ok());
        assert!(
            parse("berth user create -n dev -r localhost:5000 --new-password secret-1 --role AcrPush --role Reader")
                .is_ok()
        );
        assert!(parse("berth sp credential reset --id ci -r localhost:5000 --query password -o tsv").is_ok());
        assert!(parse("berth user update -n dev -r localhost:5000 --account-enabled false").is_ok());
        assert!(parse("berth sp delete -r localhost:5000").is_err());
        assert!(parse("berth usage check -n localhost:5000 -o table").is_ok());
        assert!(parse("berth usage check").is_err());
        assert!(parse("berth audit list -n localhost:5000 --repository x --result failure -o json").is_ok());
        assert!(parse("berth audit list -n localhost:5000 --operation copy").is_err());
        assert!(parse("berth vulndb import -r localhost:5000 Debian-all.zip -o table").is_ok());
        assert!(parse("berth vulndb import -r localhost:5000").is_err());
        assert!(parse("berth vulndb show -r localhost:5000 --query records -o tsv").is_ok());
        // Builds, runs and tasks, as `az acr build|run|task`.
        let cli = parse("berth build -r localhost:5000 -t app:v1 -t app:{{.Run.ID}} -f docker/Dockerfile --build-arg A=1 --build-arg B= --platform linux/arm64 --target final --no-cache --timeout 600 .")
            .expect("parses");
        assert!(matches!(cli.command, Command::Build(_)));
        assert!(
            parse("berth build -r localhost:5000 --no-push --no-logs https://example.com/org/repo.git#main:app")
                .is_ok()
        );
        assert!(parse("berth build -r localhost:5000 -t app:v1 --no-wait -o tsv --query runId .").is_ok());
        assert!(parse("berth build -r localhost:5000 -t app:v1").is_err(), "a build needs a context");
        assert!(parse("berth build -t app:v1 .").is_err(), "a build needs a registry");
        assert!(parse("berth build -r localhost:5000 --build-arg NOVALUE .").is_err());
        assert!(parse("berth build -r localhost:5000 --platform /amd64 .").is_err());
        assert!(parse("berth build -r localhost:5000 --timeout soon .").is_err());
        let cli = parse("berth run -r localhost:5000 --cmd busybox:1 /dev/null --no-wait").expect("parses");
        assert!(matches!(cli.command, Command::Run(_)));
        assert!(parse("berth run -r localhost:5000 -f acb.yaml --set A=1 --set-secret B=2 --timeout 60 .").is_ok());
        assert!(parse("berth run -r localhost:5000 -f task.yaml").is_ok());
        assert!(parse("berth run -r localhost:5000 -f task.yaml --cmd x /dev/null").is_err());
        assert!(parse("berth run -r localhost:5000 --set novalue --cmd x").is_err());
        assert!(
            parse("berth task create -n nightly -r localhost:5000 -c /dev/null --cmd busybox:1 --schedule 0_2_*_*_* --commit-trigger-enabled false --status Disabled")
                .is_ok()
        );
        assert!(
            parse("berth task create -n build -r localhost:5000 -c https://example.com/r.git#main -f Dockerfile -t app:{{.Run.ID}} --arg A=1 --branch main --base-image-trigger-enabled false --no-push --platform linux")
                .is_ok()
        );
        assert!(parse("berth task create -n build -r localhost:5000 --cmd x").is_err(), "create needs a context");
        assert!(parse("berth task create -n build -r localhost:5000 -c /dev/null --cmd x -f t.yaml").is_err());
        assert!(parse("berth task create -n build -r localhost:5000 -c /dev/null --cmd x --status paused").is_err());
        assert!(parse("berth task create -n b -r localhost:5000 -c x --commit-trigger-enabled maybe").is_err());
        assert!(
            parse("berth task update -n nightly -r localhost:5000 --status Disabled --query status -o tsv").is_ok()
        );
        assert!(parse("berth task list -r localhost:5000 -o table").is_ok());
        assert!(parse("berth task show -n nightly -r localhost:5000").is_ok());
        assert!(parse("berth task show -r localhost:5000").is_err());
        assert!(parse("berth task delete -n nightly -r localhost:5000 --yes").is_ok());
        assert!(parse("berth task run -n nightly -r localhost:5000 --no-logs").is_ok());
        assert!(parse("berth task list-runs -r localhost:5000 --run-status Running --query [].runId -o tsv").is_ok());
        assert!(parse("berth task list-runs -r localhost:5000 -n nightly --top 5 -o table").is_ok());
        assert!(parse("berth task list-runs -r localhost:5000 --run-status running").is_err());
        assert!(parse("berth task logs -r localhost:5000 --run-id ca1").is_ok());
        assert!(parse("berth task logs -r localhost:5000 -n nightly").is_ok());
        assert!(parse("berth task logs -r localhost:5000 -n nightly --run-id ca1").is_err());
        assert!(parse("berth task cancel-run -r localhost:5000 --run-id ca1").is_ok());
        assert!(parse("berth task cancel-run -r localhost:5000").is_err());
        assert!(parse("berth task show-run -r localhost:5000 --run-id ca1 -o table").is_ok());
    }
}
