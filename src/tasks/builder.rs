//! Running a run's programs (buildah, git) as the build user, within bounds: `prlimit` caps
//! each program's address space and file sizes before it starts, `nice` puts it below the
//! registry in CPU priority, its output goes to the run's
//! log (bounded), and stopping a run (cancel, timeout, disk) kills its whole process tree:
//! every descendant is found through `/proc` and stopped before any is killed, so none can
//! fork away meanwhile.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, Signal};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// The unprivileged user builds run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildUser {
    pub uid: u32,
    pub gid: u32,
}

/// The user `name` from `/etc/passwd`, when Berth runs as root and may switch to it (None:
/// builds run as Berth's own user).
pub fn build_user(name: &str) -> Option<BuildUser> {
    if name.is_empty() || !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [user, _, uid, gid, ..] if *user == name => {
                Some(BuildUser { uid: uid.parse().ok()?, gid: gid.parse().ok()? })
            }
            _ => None,
        }
    })
}

/// Why a run was stopped before its programs ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Canceled,
    Timeout,
    /// Its working directory passed `tasks.max_disk`.
    Disk,
}

/// Stops a run: every program it runs is killed with its process tree, and none starts after.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    why: Arc<Mutex<Option<Stopped>>>,
}

impl Stop {
    /// Stops for `why`, unless stopped already (the first reason stays).
    pub fn stop(&self, why: Stopped) {
        if let Ok(mut w) = self.why.lock() {
            w.get_or_insert(why);
        }
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<Stopped> {
        self.why.lock().ok().and_then(|w| *w)
    }

    /// A stop that also happens when this one does, or for its own reasons (a step's timeout).
    pub fn child(&self) -> Stop {
        Stop { token: self.token.child_token(), why: self.why.clone() }
    }
}

/// A run's log as it is written: what is not yet stored, and how much was kept. Past `max`
/// bytes the rest is dropped, once saying so.
#[derive(Debug, Clone)]
pub struct Log {
    state: Arc<Mutex<LogState>>,
}

#[derive(Debug)]
struct LogState {
    pending: String,
    kept: u64,
    max: u64,
    truncated: bool,
}

impl Log {
    pub fn new(max: u64) -> Self {
        Log { state: Arc::new(Mutex::new(LogState { pending: String::new(), kept: 0, max, truncated: false })) }
    }

    pub fn write(&self, text: &str) {
        let Ok(mut s) = self.state.lock() else { return };
        if s.truncated {
            return;
        }
        let room = usize::try_from(s.max.saturating_sub(s.kept)).unwrap_or(usize::MAX);
        if text.len() <= room {
            s.kept += text.len() as u64;
            s.pending.push_str(text);
            return;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        s.pending.push_str(&text[..cut]);
        let note = format!("\n[berth] the log passed tasks.max_log ({} bytes): the rest is not kept\n", s.max);
        s.pending.push_str(&note);
        s.kept = s.max;
        s.truncated = true;
    }

    pub fn line(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// A line Berth itself writes (how the run ended), kept even past the bound.
    pub fn note(&self, text: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.pending.push_str(text);
            s.pending.push('\n');
        }
    }

    /// What was written since the last call.
    pub fn take(&self) -> String {
        self.state.lock().map(|mut s| std::mem::take(&mut s.pending)).unwrap_or_default()
    }
}

/// One program to run for a run.
#[derive(Debug, Clone)]
pub struct Program {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub user: Option<BuildUser>,
    /// RLIMIT_AS and RLIMIT_FSIZE, in bytes.
    pub max_memory: u64,
    pub max_file: u64,
}

impl Program {
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited: with its code, or -1 if a signal ended it.
    Exited(i32),
    Stopped(Stopped),
}

/// What a program left: how it ended, its standard output if captured, and the end of its
/// standard error (which also went to the log).
#[derive(Debug, Clone)]
pub struct Finished {
    pub ended: Ended,
    pub stdout: String,
    pub stderr_tail: String,
}

/// Runs `p` to its end or until `stop`, its output (stdout and stderr) going to `log`, except
/// that with `capture` its standard output is returned instead (bounded to 1 MiB).
pub async fn run(p: &Program, log: &Log, stop: &Stop, capture: bool) -> std::io::Result<Finished> {
    if let Some(why) = stop.reason() {
        return Ok(Finished { ended: Ended::Stopped(why), stdout: String::new(), stderr_tail: String::new() });
    }
    // Below the registry's own threads in CPU priority, so pushes and pulls go on during builds.
    let mut cmd = tokio::process::Command::new("nice");
    cmd.args(["-n", "10", "prlimit"])
        .arg(format!("--as={}", p.max_memory))
        .arg(format!("--fsize={}", p.max_file))
        .arg("--")
        .arg(&p.program)
        .args(&p.args)
        .current_dir(&p.dir)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = &p.user {
        cmd.uid(user.uid).gid(user.gid);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    let out = child.stdout.take().map(|s| tokio::spawn(pipe(s, log.clone(), capture)));
    let err = child.stderr.take().map(|s| tokio::spawn(pipe(s, log.clone(), false)));
    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status?.code().unwrap_or(-1)),
        () = stop.token.cancelled() => {
            if let Some(pid) = pid {
                tokio::task::spawn_blocking(move || kill_tree(pid)).await.ok();
            }
            let _ = child.wait().await;
            Ended::Stopped(stop.reason().unwrap_or(Stopped::Canceled))
        }
    };
    let stdout = match out {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    let stderr_tail = match err {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    Ok(Finished { ended, stdout: if capture { stdout } else { String::new() }, stderr_tail })
}

/// Copies a program's output into the log and returns its last 4 KiB, or if `keep` returns up
/// to 1 MiB of it instead, keeping UTF-8 sequences whole across reads.
async fn pipe(mut from: impl tokio::io::AsyncRead + Unpin, log: Log, keep: bool) -> String {
    const KEEP: usize = 1 << 20;
    const TAIL: usize = 4 << 10;
    let mut kept = String::new();
    let mut buf = vec![0u8; 16 << 10];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        let valid = match std::str::from_utf8(&carry) {
            Ok(_) => carry.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => carry.len(),
        };
        let text = String::from_utf8_lossy(&carry[..valid]).into_owned();
        carry.drain(..valid);
        if !keep {
            log.write(&text);
            kept.push_str(&text);
            if kept.len() > 2 * TAIL {
                let mut cut = kept.len() - TAIL;
                while !kept.is_char_boundary(cut) {
                    cut += 1;
                }
                kept.drain(..cut);
            }
        } else if kept.len() + text.len() <= KEEP {
            kept.push_str(&text);
        }
    }
    if !carry.is_empty() && !keep {
        log.write(&String::from_utf8_lossy(&carry));
    }
    kept
}

/// The processes under `root` (not itself), read from `/proc`.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": the command may hold spaces and parentheses.
        let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)) else { continue };
        if let Ok(ppid) = ppid.parse::<i32>() {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            if !found.contains(&child) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

fn signal(pid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Kills `root` and every process under it: stops them all first (repeating until no new one
/// appears), so that none forks or is reparented away, then kills them.
pub fn kill_tree(root: i32) {
    let mut all = vec![root];
    signal(root, Signal::STOP);
    for _ in 0..50 {
        let found: Vec<i32> = descendants(root).into_iter().filter(|p| !all.contains(p)).collect();
        if found.is_empty() && all.len() > 1 {
            break;
        }
        for &pid in &found {
            signal(pid, Signal::STOP);
        }
        all.extend(found);
        if all.len() == 1 {
            // No child seen yet: look once more, then stop looking.
            if descendants(root).is_empty() {
                break;
            }
        }
    }
    if let Some(group) = Pid::from_raw(root) {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
    for pid in all {
        signal(pid, Signal::KILL);
    }
}

/// Bytes under `dir`, not following links (a disk watch, so a bound, not an exact count).
pub fn disk_use(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut next = vec![dir.to_path_buf()];
    while let Some(d) = next.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                next.push(e.path());
            } else {
                total += std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_its_bound_and_says_so_once() {
        let log = Log::new(10);
        log.write("0123456");
        log.write("789abc");
        log.write("more");
        let text = log.take();
        assert!(text.starts_with("0123456789\n[berth] the log passed tasks.max_log (10 bytes)"), "{text}");
        assert_eq!(text.matches("[berth]").count(), 1);
        assert_eq!(log.take(), "");
    }

    #[test]
    fn a_multibyte_character_is_not_split_at_the_bound() {
        let log = Log::new(2);
        log.write("aé");
        assert!(log.take().starts_with("a\n[berth]"));
    }

    #[tokio::test]
    async fn stopping_kills_the_whole_tree() {
        let dir = tempfile::tempdir().expect("dir");
        let p = Program {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "sleep 1000 & sleep 1000 & (sleep 1000 &) ; wait".into()],
            dir: dir.path().into(),
            env: Vec::new(),
            user: None,
            max_memory: 1 << 30,
            max_file: 1 << 30,
        };
        let stop = Stop::default();
        let log = Log::new(1 << 20);
        let run = tokio::spawn({
            let (stop, log) = (stop.clone(), log.clone());
            async move { run(&p, &log, &stop, false).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let sleeping = |me: u32| {
            descendants(i32::try_from(me).unwrap_or(0))
                .into_iter()
                .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains("1000")))
                .count()
        };
        assert!(sleeping(std::process::id()) >= 2);
        stop.stop(Stopped::Canceled);
        let finished = run.await.expect("join").expect("run");
        assert_eq!(finished.ended, Ended::Stopped(Stopped::Canceled));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The orphaned sleep (reparented away from the shell) is gone too.
        let left = std::fs::read_dir("/proc")
            .expect("proc")
            .flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("cmdline")).is_ok_and(|c| c == "sleep\u{0}1000\u{0}")
                    && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| !s.contains(") Z "))
            })
            .count();
        assert_eq!(left, 0);
    }
}
