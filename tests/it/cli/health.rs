//! `check-health`'s local checks as az runs them: docker (command, daemon, version, a pull from
//! the registry) and helm (command, version), each with az's error code and message, on a PATH
//! made for the test: without docker and helm, with the real docker CLI and no daemon, and
//! with stand-in scripts that answer as a running docker and an old helm would.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Berth;
use crate::support::*;

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[tokio::test]
async fn without_docker_and_helm_az_codes_are_reported_and_ignore_errors_goes_on() {
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    let (_bin, empty) = temp_dir();
    let run = berth.run_with(&["check-health", "--ignore-errors"], &[("PATH", &empty)]).await;
    assert!(run.ok, "{}", run.stderr);
    for line in [
        "An error occurred: DOCKER_COMMAND_ERROR\nPlease verify if Docker client is installed and running.\n",
        "An error occurred: HELM_COMMAND_ERROR\nPlease verify if Helm is installed.\n",
        "Please refer to https://aka.ms/acr/health-check for more information.",
    ] {
        assert!(run.stderr.contains(line), "missing {line:?} in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("Docker version"), "no version check without the command: {}", run.stderr);

    // Without --ignore-errors the first error ends the command.
    let strict = berth.run_with(&["check-health"], &[("PATH", &empty)]).await;
    assert!(!strict.ok && strict.stderr.contains("DOCKER_COMMAND_ERROR"), "{}", strict.stderr);
    assert!(!strict.stderr.contains("HELM_COMMAND_ERROR"), "{}", strict.stderr);
}

#[tokio::test]
async fn the_real_docker_cli_without_a_daemon_is_a_daemon_error_then_its_version() {
    if !have_tool("docker") {
        return;
    }
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    let (_bin, bin) = temp_dir();
    let docker = std::process::Command::new("sh").args(["-c", "command -v docker"]).output().expect("sh");
    let docker = String::from_utf8(docker.stdout).expect("utf-8 path");
    std::os::unix::fs::symlink(docker.trim(), bin.join("docker")).expect("symlink docker");
    let dead = bin.join("dead.sock");
    let host = Path::new("unix://").join(&dead);
    let envs = [("PATH", bin.as_path()), ("DOCKER_HOST", host.as_path())];
    let run = berth.run_with(&["check-health", "-n", "{R}", "--ignore-errors", "--yes"], &envs).await;
    assert!(run.ok, "{}", run.stderr);
    let daemon = "An error occurred: DOCKER_DAEMON_ERROR\nPlease verify if Docker daemon is running, or try \
                  restarting it.\nFailed to run command 'docker ps'. ";
    assert!(run.stderr.contains(daemon), "{}", run.stderr);
    assert!(run.stderr.contains("\nDocker version: Docker version "), "{}", run.stderr);
    assert!(!run.stderr.contains("Docker daemon status: available"), "{}", run.stderr);
    assert!(!run.stderr.contains("DOCKER_PULL_ERROR") && !run.stderr.contains("Docker pull"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("Challenge endpoint {}/v2/ : OK", app.host())), "{}", run.stderr);
}

#[tokio::test]
async fn a_failed_pull_and_an_old_helm_are_reported_as_az_reports_them() {
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    let (_bin, bin) = temp_dir();
    script(
        &bin,
        "docker",
        r#"case "$1" in
  ps) exit 0 ;;
  --version) echo "Docker version 99.0.0, build stand-in" ;;
  pull) echo "Error response from daemon: manifest for $2 not found" >&2; exit 1 ;;
esac"#,
    );
    script(
        &bin,
        "helm",
        r#"case "$1" in
  --help) echo "The Kubernetes package manager" ;;
  version) echo 'Client: &version.Version{SemVer:"v2.10.0", GitCommit:"9ad53aac", GitTreeState:"clean"}' ;;
esac"#,
    );
    let run = berth.run_with(&["check-health", "-n", "{R}", "--ignore-errors", "--yes"], &[("PATH", &bin)]).await;
    assert!(run.ok, "{}", run.stderr);
    let image = format!("{}/hello-world:latest", app.host());
    for line in [
        "Docker daemon status: available\nDocker version: Docker version 99.0.0, build stand-in\n".to_owned(),
        format!(
            "An error occurred: DOCKER_PULL_ERROR\nAn error occurred while pulling a sample image. Please validate \
             your network connection and verify if Docker daemon is running properly.\nFailed to run command \
             'docker pull {image}'. Error response from daemon: manifest for {image} not found\n"
        ),
        "Helm version: 2.10.0\nAn error occurred: HELM_VERSION_ERROR\nCurrent Helm client version is not \
         recommended. Please upgrade your Helm client to at least version 2.11.0.\n"
            .to_owned(),
    ] {
        assert!(run.stderr.contains(&line), "missing {line:?} in:\n{}", run.stderr);
    }

    // A pull that works passes; without --yes (and no terminal to ask on) it is skipped.
    script(&bin, "docker", r#"[ "$1" = --version ] && echo "Docker version 99.0.0"; exit 0"#);
    script(&bin, "helm", r#"[ "$1" = version ] && echo 'version.BuildInfo{Version:"v3.14.0"}'; exit 0"#);
    let run = berth.run_with(&["check-health", "-n", "{R}", "--ignore-errors", "--yes"], &[("PATH", &bin)]).await;
    assert!(run.stderr.contains(&format!("Docker pull of '{image}' : OK")), "{}", run.stderr);
    assert!(run.stderr.contains("Helm version: version.BuildInfo{Version:\"v3.14.0\"}\n"), "{}", run.stderr);
    assert!(!run.stderr.contains("HELM_VERSION_ERROR"), "{}", run.stderr);
    let asked = berth.run_with(&["check-health", "-n", "{R}", "--ignore-errors"], &[("PATH", &bin)]).await;
    assert!(asked.stderr.contains("Skipping pull check."), "{}", asked.stderr);
}
