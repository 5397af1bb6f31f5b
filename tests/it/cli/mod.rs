//! The `berth` client commands, run as the real binary against a real server, as `az acr`
//! users run them: identity and access commands, users and service principals, repository and
//! manifest commands, check-health, usage, garbage collection, retention and purge, and the
//! exit codes and messages of failures.

mod failures;
mod health;
mod identity;
mod principals;
mod repository;
mod storage;
mod tasks;
mod trust;

use std::path::PathBuf;

use serde_json::Value;

use crate::support::*;

/// The `berth` binary with its own docker config directory, aimed at one server.
pub struct Berth {
    _dir: tempfile::TempDir,
    pub docker_config: PathBuf,
    pub host: String,
}

pub struct Run {
    pub ok: bool,
    /// The exit code (`None` if a signal ended the process).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A finished command's outcome, echoed to the test log under `$ command`.
    fn of(out: &std::process::Output, command: &str) -> Self {
        let run = Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        };
        eprintln!("$ {command}\n{}{}", run.stdout, run.stderr);
        run
    }
}

impl Berth {
    pub fn new(app: &TestApp) -> Self {
        let (dir, path) = temp_dir();
        Self { _dir: dir, docker_config: path.join("docker"), host: app.host() }
    }

    /// A `berth` that `berth login` signed in as the admin user.
    pub async fn logged_in(app: &TestApp) -> Self {
        let berth = Self::new(app);
        berth.ok(&["login", "-n", "{R}", "-u", ADMIN, "-p", ADMIN_PASSWORD]).await;
        berth
    }

    /// Runs `berth` with `args`; `{R}` in an argument stands for the registry's login server.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// [`Berth::run`] with more environment variables.
    pub async fn run_with(&self, args: &[&str], envs: &[(&str, &std::path::Path)]) -> Run {
        let args: Vec<String> = args.iter().map(|a| a.replace("{R}", &self.host)).collect();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(&args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("BERTH_OUTPUT")
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("berth runs");
        Run::of(&out, &format!("berth {}", args.join(" ")))
    }

    /// Runs a shell script with `berth` on the PATH, as a user's script would; `{R}` stands for
    /// the login server.
    pub async fn sh(&self, script: &str) -> Run {
        let script = script.replace("{R}", &self.host);
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_berth")).parent().expect("bin dir").to_owned();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = tokio::process::Command::new("sh")
            .args(["-c", &script])
            .env("PATH", path)
            .env("DOCKER_CONFIG", &self.docker_config)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("sh runs");
        Run::of(&out, &script)
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.ok, "berth {args:?} failed: {}", run.stderr);
        run.stdout
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args).await).expect("JSON output")
    }

    pub async fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(!run.ok, "berth {args:?} should fail but printed {}", run.stdout);
        run.stderr
    }

    /// Runs a command that must fail with exit code `code`; its stderr.
    pub async fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(run.code, Some(code), "berth {args:?} exit code; stderr: {}", run.stderr);
        run.stderr
    }

    pub fn stored(&self) -> Value {
        let text = std::fs::read_to_string(self.docker_config.join("config.json")).expect("docker config written");
        serde_json::from_str(&text).expect("docker config is JSON")
    }
}

/// The columns of a `-o table` header line (cells are two or more spaces apart).
pub fn columns(table: &str) -> Vec<String> {
    let header = table.lines().next().expect("header line");
    header.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

pub fn value_of(passwords: &Value, name: &str) -> String {
    let p = passwords.as_array().expect("passwords").iter().find(|p| p["name"] == name).expect("password listed");
    p["value"].as_str().expect("value shown once").to_owned()
}
