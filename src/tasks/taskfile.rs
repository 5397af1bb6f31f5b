//! ACR's multi-step task files (`acr-task.yaml`): rendering their templates, then parsing them into the
//! steps Berth runs.
//!
//! ACR renders a task file as text before reading it as YAML: `$`-aliases (`$ID`, `$Registry`, …, with
//! `$$` for a literal `$`) and Go-template fields (`{{.Run.ID}}`, `{{.Values.x}}`). Berth does the same
//! for those fields, but refuses unknown fields and missing values where ACR would quietly render
//! nothing. Parsing is strict the same way: a misspelt property is an error naming its step, because
//! ignoring it would change what the task does without anyone noticing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_yaml_ng::Value;

use super::dockerfile::parse_reference;
use crate::calendar::civil_from_days;

/// Task files, and what their templates render to, are read into memory whole; this bounds them.
pub const MAX_TASK_FILE_BYTES: usize = 256 * 1024;
/// Steps of one task; ACR's own tasks stay far below this.
pub const MAX_STEPS: usize = 64;

const DEFAULT_VERSION: &str = "v1.0.0";
/// The newest version ACR's runner accepts; Berth's own tasks claim it.
const CURRENT_VERSION: &str = "v1.1.0";
const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(3600);
/// `when: ["-"]`: start as soon as the task starts.
const IMMEDIATE: &str = "-";
/// ACR's runner reserves this id for its graph's root.
const RESERVED_ID: &str = "acb_root";

/// Documented task properties that only tune ACR's runtime; accepted and ignored.
const IGNORED_TASK_KEYS: &[&str] = &["networks"];
/// Documented task properties whose absence would change what the task does; refused.
const UNSUPPORTED_TASK_KEYS: &[&str] = &["secrets", "volumes", "alias"];
/// Documented step properties that only tune how a step runs; accepted and ignored.
const IGNORED_STEP_KEYS: &[&str] = &[
    "keep",
    "startDelay",
    "retries",
    "retryDelay",
    "retryOnErrors",
    "repeat",
    "user",
    "network",
    "isolation",
    "cpus",
    "cache",
    "expose",
    "ports",
    "exitedWith",
    "exitedWithout",
    "cmdDownloadRetries",
    "cmdDownloadRetryDelay",
    "downloadRetries",
    "downloadRetryDelay",
    "privileged",
    "disableWorkingDirectoryOverride",
    "pull",
];
/// Documented step properties Berth cannot honour; refused. An ignored `detach` would make a background
/// service block its task until the step timeout.
const UNSUPPORTED_STEP_KEYS: &[&str] = &["volumeMounts", "detach"];

/// Why a task file, a `docker build` argument string or a command line was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} is {size} bytes; the limit is {MAX_TASK_FILE_BYTES}")]
    TooLarge { what: &'static str, size: usize },
    #[error("the task has {0} steps; the limit is {MAX_STEPS}")]
    TooManySteps(usize),
    #[error("line {line}: {{{{ has no closing }}}}")]
    UnclosedTemplate { line: usize },
    #[error("line {line}: unknown template field {{{{{name}}}}}")]
    UnknownField { line: usize, name: String },
    #[error(
        "line {line}: no value was given for {{{{.Values.{name}}}}} (set it with --set {name}=VALUE or a values file)"
    )]
    MissingValue { line: usize, name: String },
    #[error(
        "line {line}: unsupported template expression {{{{{expr}}}}}; only {{{{.Run.FIELD}}}} and {{{{.Values.NAME}}}} are supported"
    )]
    UnsupportedTemplate { line: usize, expr: String },
    #[error("the task file is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("the values file is not valid YAML: {0}")]
    ValuesYaml(serde_yaml_ng::Error),
    #[error("the values file: {0}")]
    Values(String),
    #[error("unsupported task file version {0:?}; Berth reads version 1 (v1.0.0, v1.1.0)")]
    Version(String),
    #[error("task file: {0}")]
    Task(String),
    #[error("{step}: {problem}")]
    Step { step: String, problem: String },
    #[error("unterminated {0} quote")]
    UnterminatedQuote(char),
    #[error("ends with a lone backslash")]
    TrailingBackslash,
    #[error("unknown docker build flag {0}")]
    UnknownFlag(String),
    #[error("docker build flag {0} needs a value")]
    MissingFlagValue(String),
    #[error("docker build flag {flag} {value:?}: {why}")]
    BadFlagValue { flag: String, value: String, why: String },
    #[error("--build-arg {0:?} has no value; write {0}=VALUE (Berth passes nothing from its own environment)")]
    BuildArgWithoutValue(String),
    #[error("docker build needs a build context (such as .)")]
    NoBuildContext,
    #[error("docker build takes one build context; got {0}")]
    ManyBuildContexts(String),
    #[error("the command is empty")]
    EmptyCommand,
}

/// What a run fills into its task file's templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunValues {
    pub id: String,
    /// The login server, host[:port].
    pub registry: String,
    pub registry_name: String,
    /// UTC `YYYYMMDD-HHMMSSz`; see [`format_run_date`].
    pub date: String,
    pub os: String,
    pub architecture: String,
    pub commit: String,
    pub branch: String,
    /// `--set NAME=V` and values-file entries; dotted names stay whole (`{{.Values.a.b}}` reads `a.b`).
    pub values: BTreeMap<String, String>,
}

impl RunValues {
    /// The `.Run` fields, under the names both their template and their `$` alias use.
    fn run_field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "ID" => &self.id,
            "Registry" => &self.registry,
            "RegistryName" => &self.registry_name,
            "Date" => &self.date,
            "OS" => &self.os,
            "Architecture" => &self.architecture,
            "Commit" => &self.commit,
            "Branch" => &self.branch,
            _ => return None,
        })
    }
}

/// `{{.Run.Date}}` as ACR formats it, `YYYYMMDD-HHMMSSz` in UTC, from Unix seconds.
pub fn format_run_date(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let s = unix_secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}z", s / 3600, s / 60 % 60, s % 60)
}

/// Renders a task file's `$` aliases and `{{ }}` fields in one pass, so rendered values are never re-read.
/// Whole-line YAML comments are left as they are (ACR drops them before rendering).
pub fn render(template: &str, v: &RunValues) -> Result<String, Error> {
    if template.len() > MAX_TASK_FILE_BYTES {
        return Err(Error::TooLarge { what: "the task file", size: template.len() });
    }
    let line_of = |i: usize| template[..i].matches('\n').count() + 1;
    let b = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let (mut i, mut literal_from, mut line_start) = (0, 0, true);
    while i < b.len() {
        if line_start {
            line_start = false;
            let end = template[i..].find('\n').map_or(b.len(), |e| i + e + 1);
            if template[i..end].trim_start().starts_with('#') {
                i = end;
                line_start = true;
                continue;
            }
        }
        match b[i] {
            b'\n' => {
                i += 1;
                line_start = true;
            }
            b'$' if b.get(i + 1) == Some(&b'$') => {
                out.push_str(&template[literal_from..i]);
                out.push('$');
                i += 2;
                literal_from = i;
            }
            b'$' => {
                let end = i + 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
                // Any other `$name` (a shell's `$HOME`) is left alone, as ACR does.
                if let Some(value) = v.run_field(&template[i + 1..end]) {
                    out.push_str(&template[literal_from..i]);
                    out.push_str(value);
                    literal_from = end;
                }
                i = end;
            }
            b'{' if b.get(i + 1) == Some(&b'{') => {
                let Some(close) = template[i + 2..].find("}}") else {
                    return Err(Error::UnclosedTemplate { line: line_of(i) });
                };
                let expr = template[i + 2..i + 2 + close].trim();
                let value = template_field(expr, v).map_err(|e| e(line_of(i)))?;
                out.push_str(&template[literal_from..i]);
                out.push_str(value);
                i += close + 4;
                literal_from = i;
            }
            _ => i += 1,
        }
        if out.len() > MAX_TASK_FILE_BYTES {
            return Err(Error::TooLarge { what: "the rendered task file", size: out.len() });
        }
    }
    out.push_str(&template[literal_from..]);
    if out.len() > MAX_TASK_FILE_BYTES {
        return Err(Error::TooLarge { what: "the rendered task file", size: out.len() });
    }
    Ok(out)
}

/// The value of one `{{ expr }}`, or a constructor of the error for the line it is on.
fn template_field<'a>(expr: &str, v: &'a RunValues) -> Result<&'a str, impl FnOnce(usize) -> Error> {
    enum Miss {
        Unknown,
        Missing(String),
        Unsupported,
    }
    let is_field = expr.starts_with('.') && expr.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_');
    let found = if !is_field {
        Err(Miss::Unsupported)
    } else if let Some(name) = expr.strip_prefix(".Run.") {
        v.run_field(name).ok_or(Miss::Unknown)
    } else if let Some(name) = expr.strip_prefix(".Values.").filter(|n| !n.is_empty()) {
        v.values.get(name).map(String::as_str).ok_or_else(|| Miss::Missing(name.to_owned()))
    } else {
        Err(Miss::Unknown)
    };
    let expr = expr.to_owned();
    found.map_err(|miss| {
        move |line| match miss {
            Miss::Unknown => Error::UnknownField { line, name: expr },
            Miss::Missing(name) => Error::MissingValue { line, name },
            Miss::Unsupported => Error::UnsupportedTemplate { line, expr },
        }
    })
}

/// A parsed task: its steps in file order, with ACR's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFile {
    pub version: String,
    pub step_timeout: Duration,
    pub total_timeout: Duration,
    /// Applies to every step; a step's own `env` overrides it name by name.
    pub env: Vec<(String, String)>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// As given, or `acb_step_N` (N counting from 0) as ACR names them.
    pub id: String,
    pub kind: StepKind,
    /// Ids of the steps this one waits for, all earlier in the file; empty means it starts with the task.
    /// An absent `when` has become the previous step's id, and `["-"]` has become empty.
    pub when: Vec<String>,
    pub env: Vec<(String, String)>,
    /// None: the task's `step_timeout`.
    pub timeout: Option<Duration>,
    /// The step's own, else the task's `workingDirectory`.
    pub working_directory: Option<String>,
    pub entry_point: Option<String>,
    pub ignore_errors: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Build(BuildArgs),
    Push(Vec<String>),
    Cmd { image: String, args: Vec<String> },
}

/// The `docker build` flags a build step may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    pub tags: Vec<String>,
    pub file: Option<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: Vec<(String, String)>,
    /// A directory, a URL, or `-`; Berth resolves it.
    pub context: String,
}

/// argv splitting like a POSIX shell's word splitting with single/double quotes and backslash escapes (no expansion);
/// unterminated quote = error.
pub fn split_words(s: &str) -> Result<Vec<String>, Error> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(Error::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash escapes only these, as in sh.
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(Error::UnterminatedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(Error::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err(Error::TrailingBackslash),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads `docker build` flags: -t/--tag, -f/--file, --build-arg K=V, --target, --platform, --no-cache, --pull,
/// --label, in `--flag=value` and `--flag value` forms, and exactly one positional build context.
pub fn parse_build_args(s: &str) -> Result<BuildArgs, Error> {
    let mut args = BuildArgs::default();
    let mut contexts = Vec::new();
    let mut words = split_words(s)?.into_iter();
    while let Some(word) = words.next() {
        if word == "-" || !word.starts_with('-') {
            contexts.push(word);
            continue;
        }
        // `--flag=value`; for short flags also `-tvalue` and `-t=value`, as docker's flag parser allows.
        let (flag, inline) = if word.starts_with("--") {
            match word.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (word.clone(), None),
            }
        } else {
            let split = word.char_indices().nth(2).map_or(word.len(), |(i, _)| i);
            let rest = &word[split..];
            (word[..split].to_owned(), (!rest.is_empty()).then(|| rest.strip_prefix('=').unwrap_or(rest).to_owned()))
        };
        let bad = |value: &str, why: String| Error::BadFlagValue { flag: flag.clone(), value: value.to_owned(), why };
        match flag.as_str() {
            "--no-cache" | "--pull" => {
                let on = match inline.as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => return Err(bad(other, "expected true or false".into())),
                };
                if flag == "--pull" {
                    args.pull = on;
                } else {
                    args.no_cache = on;
                }
            }
            "-t" | "--tag" | "-f" | "--file" | "--build-arg" | "--target" | "--platform" | "--label" => {
                let value = match inline {
                    Some(v) => v,
                    None => words.next().ok_or_else(|| Error::MissingFlagValue(flag.clone()))?,
                };
                match flag.as_str() {
                    "-t" | "--tag" => {
                        parse_reference(&value).map_err(|e| bad(&value, e.to_string()))?;
                        args.tags.push(value);
                    }
                    "-f" | "--file" => args.file = Some(value),
                    "--target" => args.target = Some(value),
                    "--platform" => args.platform = Some(value),
                    "--build-arg" => match value.split_once('=') {
                        Some(("", _)) => return Err(bad(&value, "the name is empty".into())),
                        Some((k, v)) => args.build_args.push((k.to_owned(), v.to_owned())),
                        None => return Err(Error::BuildArgWithoutValue(value)),
                    },
                    // Docker allows a label without a value; it is then empty.
                    _ => {
                        let (k, v) = value.split_once('=').unwrap_or((&value, ""));
                        if k.is_empty() {
                            return Err(bad(&value, "the name is empty".into()));
                        }
                        args.labels.push((k.to_owned(), v.to_owned()));
                    }
                }
            }
            _ => return Err(Error::UnknownFlag(flag)),
        }
    }
    match contexts.len() {
        0 => Err(Error::NoBuildContext),
        1 => {
            args.context = contexts.swap_remove(0);
            Ok(args)
        }
        _ => Err(Error::ManyBuildContexts(contexts.join(", "))),
    }
}

/// A values file (`--values`): a YAML mapping whose scalars become `{{.Values.NAME}}`; nested
/// mappings give dotted names (`a: {b: 1}` is `{{.Values.a.b}}`), as Go templates read them.
pub fn parse_values(yaml: &str) -> Result<BTreeMap<String, String>, Error> {
    if yaml.len() > MAX_TASK_FILE_BYTES {
        return Err(Error::TooLarge { what: "the values file", size: yaml.len() });
    }
    let doc: Value = serde_yaml_ng::from_str(yaml).map_err(Error::ValuesYaml)?;
    let mut out = BTreeMap::new();
    match doc {
        Value::Null => {}
        Value::Mapping(m) => flatten_values("", m, &mut out)?,
        _ => return Err(Error::Values("expected a mapping of names to values".into())),
    }
    Ok(out)
}

fn flatten_values(prefix: &str, m: serde_yaml_ng::Mapping, out: &mut BTreeMap<String, String>) -> Result<(), Error> {
    for (k, v) in m {
        let key = match k {
            Value::String(k) => k,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(Error::Values(format!("a name must be a string, not {other:?}"))),
        };
        let name = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        let value = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Mapping(inner) => {
                flatten_values(&name, inner, out)?;
                continue;
            }
            Value::Null => return Err(Error::Values(format!("{name:?} has no value"))),
            Value::Sequence(_) | Value::Tagged(_) => {
                return Err(Error::Values(format!("{name:?}: only strings, numbers and booleans are values")));
            }
        };
        out.insert(name, value);
    }
    Ok(())
}

/// Parses a rendered task file (see [`render`]) and checks it: exactly one of build, push or cmd per step,
/// unique ids, `when` naming only earlier steps, no unknown properties.
pub fn parse(rendered_yaml: &str) -> Result<TaskFile, Error> {
    if rendered_yaml.len() > MAX_TASK_FILE_BYTES {
        return Err(Error::TooLarge { what: "the task file", size: rendered_yaml.len() });
    }
    let doc: Value = serde_yaml_ng::from_str(rendered_yaml)?;
    let Value::Mapping(top) = doc else {
        return Err(Error::Task("the top level must be a mapping of task properties".into()));
    };
    let task_err = |msg: &str| Error::Task(msg.to_owned());
    let mut task = TaskFile {
        version: DEFAULT_VERSION.to_owned(),
        step_timeout: DEFAULT_STEP_TIMEOUT,
        total_timeout: DEFAULT_TOTAL_TIMEOUT,
        env: Vec::new(),
        steps: Vec::new(),
    };
    let mut working_directory = None;
    let mut raw_steps = None;
    for (key, value) in &top {
        let key = key.as_str().ok_or_else(|| task_err("property names must be strings"))?;
        match key {
            "version" => {
                let v = scalar_string(value).ok_or_else(|| task_err("version must be a string such as v1.1.0"))?;
                if !v.is_empty() {
                    task.version = v;
                }
            }
            "stepTimeout" => {
                task.step_timeout =
                    seconds(value).ok_or_else(|| task_err("stepTimeout must be a positive number of seconds"))?;
            }
            "totalTimeout" => {
                task.total_timeout =
                    seconds(value).ok_or_else(|| task_err("totalTimeout must be a positive number of seconds"))?;
            }
            "env" => task.env = env_list(value).map_err(Error::Task)?,
            "workingDirectory" => {
                working_directory =
                    Some(scalar_string(value).ok_or_else(|| task_err("workingDirectory must be a string"))?);
            }
            "steps" => raw_steps = Some(value),
            k if IGNORED_TASK_KEYS.contains(&k) => {}
            k if UNSUPPORTED_TASK_KEYS.contains(&k) => {
                return Err(Error::Task(format!("{k:?} is an ACR task property Berth does not support")));
            }
            k => {
                return Err(Error::Task(format!(
                    "unknown property {k:?}; task properties are version, stepTimeout, totalTimeout, env, \
                     workingDirectory, steps, networks"
                )));
            }
        }
    }
    let major = task.version.strip_prefix('v').unwrap_or(&task.version).split(['.', '-']).next();
    if major != Some("1") {
        return Err(Error::Version(task.version));
    }
    let Some(raw_steps) = raw_steps else { return Err(task_err("steps is required")) };
    let Value::Sequence(raw_steps) = raw_steps else { return Err(task_err("steps must be a list of steps")) };
    if raw_steps.is_empty() {
        return Err(task_err("steps is empty; a task needs at least one step"));
    }
    if raw_steps.len() > MAX_STEPS {
        return Err(Error::TooManySteps(raw_steps.len()));
    }
    for (index, raw) in raw_steps.iter().enumerate() {
        let step = parse_step(index, raw, &task.steps, working_directory.as_deref())?;
        task.steps.push(step);
    }
    Ok(task)
}

fn step_label(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("step {index} (id {id:?})"),
        None => format!("step {index}"),
    }
}

fn default_id(index: usize) -> String {
    format!("acb_step_{index}")
}

fn parse_step(index: usize, raw: &Value, earlier: &[Step], task_wd: Option<&str>) -> Result<Step, Error> {
    let Value::Mapping(map) = raw else {
        return Err(Error::Step {
            step: step_label(index, None),
            problem: "must be a mapping of step properties".into(),
        });
    };
    let given_id = match map.get("id") {
        Some(v) => Some(
            scalar_string(v)
                .ok_or_else(|| Error::Step { step: step_label(index, None), problem: "id must be a string".into() })?,
        ),
        None => None,
    };
    let label = step_label(index, given_id.as_deref());
    let err = |problem: String| Error::Step { step: label.clone(), problem };
    let string = |key: &str, v: &Value| scalar_string(v).ok_or_else(|| err(format!("{key} must be a string")));

    let mut kinds: Vec<(&str, StepKind)> = Vec::new();
    let mut when = None;
    let mut env = Vec::new();
    let mut timeout = None;
    let mut working_directory = None;
    let mut entry_point = None;
    let mut ignore_errors = false;
    for (key, value) in map {
        let key = key.as_str().ok_or_else(|| err("property names must be strings".into()))?;
        match key {
            "id" => {}
            "build" => {
                let args = parse_build_args(&string(key, value)?).map_err(|e| err(format!("build: {e}")))?;
                kinds.push(("build", StepKind::Build(args)));
            }
            "push" => {
                let images = string_list(value).ok_or_else(|| err("push must be a list of image references".into()))?;
                if images.is_empty() {
                    return Err(err("push lists no images".into()));
                }
                let mut unique: Vec<String> = Vec::with_capacity(images.len());
                for image in images {
                    parse_reference(&image).map_err(|e| err(format!("push: {e}")))?;
                    if !unique.contains(&image) {
                        unique.push(image);
                    }
                }
                kinds.push(("push", StepKind::Push(unique)));
            }
            "cmd" => {
                let mut words = split_words(&string(key, value)?).map_err(|e| err(format!("cmd: {e}")))?.into_iter();
                let image = words.next().ok_or_else(|| err("cmd is empty; it starts with an image".into()))?;
                parse_reference(&image).map_err(|e| err(format!("cmd: {e}")))?;
                kinds.push(("cmd", StepKind::Cmd { image, args: words.collect() }));
            }
            "when" => when = Some(string_list(value).ok_or_else(|| err("when must be a list of step ids".into()))?),
            "env" => env = env_list(value).map_err(err)?,
            "timeout" => {
                timeout =
                    Some(seconds(value).ok_or_else(|| err("timeout must be a positive number of seconds".into()))?);
            }
            "workingDirectory" => working_directory = Some(string(key, value)?),
            "entryPoint" => entry_point = Some(string(key, value)?),
            "ignoreErrors" => {
                ignore_errors = value.as_bool().ok_or_else(|| err("ignoreErrors must be true or false".into()))?;
            }
            k if IGNORED_STEP_KEYS.contains(&k) => {}
            k if UNSUPPORTED_STEP_KEYS.contains(&k) => {
                return Err(err(format!("{k:?} is an ACR step property Berth does not support")));
            }
            k => {
                return Err(err(format!(
                    "unknown property {k:?}; step properties are id, build, push, cmd, when, env, timeout, \
                     workingDirectory, entryPoint, ignoreErrors, and ACR's runtime options (keep, retries, …), \
                     which Berth ignores"
                )));
            }
        }
    }

    let kind = match kinds.len() {
        0 => return Err(err("has none of build, push or cmd; a step needs exactly one".into())),
        1 => kinds.swap_remove(0).1,
        _ => {
            let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
            return Err(err(format!(
                "has both {}; a step takes exactly one of build, push or cmd",
                names.join(" and ")
            )));
        }
    };

    let id = given_id.unwrap_or_else(|| default_id(index));
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(err("id must be non-empty and contain no spaces".into()));
    }
    if id == RESERVED_ID {
        return Err(err(format!("id {RESERVED_ID:?} is reserved")));
    }
    if let Some(other) = earlier.iter().position(|s| s.id == id) {
        return Err(err(format!("id {id:?} is already used by step {other}")));
    }

    let when = match when {
        None => earlier.last().map(|s| vec![s.id.clone()]).unwrap_or_default(),
        Some(w) if w.is_empty() => earlier.last().map(|s| vec![s.id.clone()]).unwrap_or_default(),
        Some(w) if w == [IMMEDIATE] => Vec::new(),
        Some(w) => {
            let mut deps: Vec<String> = Vec::with_capacity(w.len());
            for dep in w {
                if dep == IMMEDIATE {
                    return Err(err("when: \"-\" must stand alone".into()));
                }
                if dep == id {
                    return Err(err("when names the step itself".into()));
                }
                if !earlier.iter().any(|s| s.id == dep) {
                    return Err(err(format!("when names {dep:?}, which is no earlier step")));
                }
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
            deps
        }
    };

    Ok(Step {
        id,
        kind,
        when,
        env,
        timeout,
        working_directory: working_directory.or_else(|| task_wd.map(str::to_owned)),
        entry_point,
        ignore_errors,
    })
}

/// Strings, and numbers written where a string is meant (`id: 1`), as ACR's YAML reader takes them.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Sequence(items) => items.iter().map(scalar_string).collect(),
        _ => None,
    }
}

fn seconds(v: &Value) -> Option<Duration> {
    v.as_u64().filter(|s| *s > 0).map(Duration::from_secs)
}

fn env_list(v: &Value) -> Result<Vec<(String, String)>, String> {
    let items = string_list(v).ok_or("env must be a list of NAME=VALUE strings")?;
    items
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("env entry {item:?} is not NAME=VALUE")),
        })
        .collect()
}

impl TaskFile {
    /// Step indices in an order that respects `when` (Kahn's algorithm, ties broken by file order). A parsed
    /// file's `when` names only earlier steps, so this is file order; a hand-built task with a cycle or an
    /// unknown id still gets every step once, the unorderable ones last in file order.
    pub fn order(&self) -> Vec<usize> {
        let n = self.steps.len();
        let index: HashMap<&str, usize> = self.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
        let mut waiting_on = vec![0usize; n];
        let mut dependents = vec![Vec::new(); n];
        for (i, step) in self.steps.iter().enumerate() {
            for dep in &step.when {
                if let Some(&j) = index.get(dep.as_str())
                    && j != i
                {
                    waiting_on[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting_on[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        while let Some(i) = ready.pop_first() {
            order.push(i);
            placed[i] = true;
            for &d in &dependents[i] {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        order.extend((0..n).filter(|&i| !placed[i]));
        order
    }
}

fn quick_step(index: usize, kind: StepKind, when: Vec<String>) -> Step {
    Step {
        id: default_id(index),
        kind,
        when,
        env: Vec::new(),
        timeout: None,
        working_directory: None,
        entry_point: None,
        ignore_errors: false,
    }
}

/// A one-step run gets the whole run's time for its step, as `az acr build` and `az acr run --cmd` do.
fn quick_task(steps: Vec<Step>) -> TaskFile {
    TaskFile {
        version: CURRENT_VERSION.to_owned(),
        step_timeout: DEFAULT_TOTAL_TIMEOUT,
        total_timeout: DEFAULT_TOTAL_TIMEOUT,
        env: Vec::new(),
        steps,
    }
}

/// The task `berth build` runs: the build, then a push of its tags unless `push` is false or it has none.
pub fn quick_build(args: BuildArgs, push: bool) -> TaskFile {
    let tags = args.tags.clone();
    let mut steps = vec![quick_step(0, StepKind::Build(args), Vec::new())];
    if push && !tags.is_empty() {
        steps.push(quick_step(1, StepKind::Push(tags), vec![default_id(0)]));
    }
    quick_task(steps)
}

/// The task `berth run --cmd` runs: one cmd step, its image first and then its arguments.
pub fn quick_cmd(cmd: &str) -> Result<TaskFile, Error> {
    let mut words = split_words(cmd)?.into_iter();
    let image = words.next().ok_or(Error::EmptyCommand)?;
    Ok(quick_task(vec![quick_step(0, StepKind::Cmd { image, args: words.collect() }, Vec::new())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> RunValues {
        RunValues {
            id: "cf1".into(),
            registry: "berth.example.com:8443".into(),
            registry_name: "berth".into(),
            date: "20240501-120000z".into(),
            os: "linux".into(),
            architecture: "amd64".into(),
            commit: "abc123".into(),
            branch: "main".into(),
            values: BTreeMap::from([("repo".into(), "hello".into()), ("a.b".into(), "nested".into())]),
        }
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn parsed(yaml: &str) -> TaskFile {
        parse(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    #[test]
    fn renders_run_fields_values_and_aliases() {
        let v = values();
        let t = "{{.Run.ID}} {{ .Run.Registry }} {{.Run.RegistryName}} {{.Run.Date}} {{.Run.OS}} \
                 {{.Run.Architecture}} {{.Run.Commit}} {{.Run.Branch}} {{.Values.repo}} {{ .Values.a.b }}";
        assert_eq!(
            render(t, &v).ok().as_deref(),
            Some("cf1 berth.example.com:8443 berth 20240501-120000z linux amd64 abc123 main hello nested")
        );
        let t = "$Registry/$RegistryName:$ID-$Date-$OS-$Architecture-$Commit-$Branch";
        assert_eq!(
            render(t, &v).ok().as_deref(),
            Some("berth.example.com:8443/berth:cf1-20240501-120000z-linux-amd64-abc123-main")
        );
    }

    #[test]
    fn render_leaves_shell_variables_and_unescapes_dollars() {
        let v = values();
        assert_eq!(render("echo $HOME $$ID $IDx $ $", &v).ok().as_deref(), Some("echo $HOME $ID $IDx $ $"));
        assert_eq!(render("a$$$ID", &v).ok().as_deref(), Some("a$cf1"));
        // Rendered values are not rendered again.
        let mut v = values();
        v.branch = "{{.Run.Nope}}$ID".into();
        assert_eq!(render("$Branch", &v).ok().as_deref(), Some("{{.Run.Nope}}$ID"));
        assert_eq!(render("é$IDé", &v).ok().as_deref(), Some("écf1é"));
    }

    #[test]
    fn render_skips_comment_lines() {
        let t = "# uses {{.Values.unset}} and $ID\nid: $ID # {{.Run.ID}}\n  # {{ bad }}\n";
        assert_eq!(
            render(t, &values()).ok().as_deref(),
            Some("# uses {{.Values.unset}} and $ID\nid: cf1 # cf1\n  # {{ bad }}\n")
        );
    }

    #[test]
    fn render_errors() {
        let v = values();
        assert_eq!(
            err_text(render("a\nb {{.Run.SharedVolume}}", &v)),
            "line 2: unknown template field {{.Run.SharedVolume}}"
        );
        assert_eq!(err_text(render("{{.Secrets.x}}", &v)), "line 1: unknown template field {{.Secrets.x}}");
        assert!(
            err_text(render("\n\n{{.Values.nope}}", &v)).starts_with("line 3: no value was given for {{.Values.nope}}")
        );
        assert_eq!(err_text(render("x {{.Run.ID", &v)), "line 1: {{ has no closing }}");
        assert!(err_text(render("{{ .Values.x | default \"y\" }}", &v)).contains("unsupported template expression"));
        assert!(err_text(render("{{- .Run.ID -}}", &v)).contains("unsupported"));
        let big = "x".repeat(MAX_TASK_FILE_BYTES + 1);
        assert!(err_text(render(&big, &v)).contains("limit"));
        let mut long = values();
        long.id = "y".repeat(1000);
        assert!(err_text(render(&"$ID ".repeat(1000), &long)).contains("rendered task file"));
    }

    #[test]
    fn run_date_format() {
        assert_eq!(format_run_date(0), "19700101-000000z");
        assert_eq!(format_run_date(1_714_565_045), "20240501-120405z");
    }

    #[test]
    fn parses_a_full_task() {
        let yaml = r#"
version: v1.1.0
stepTimeout: 300
totalTimeout: 7200
workingDirectory: /src
env: ["A=1", "B=x=y"]
networks:
  - name: n
steps:
  # Build, test in parallel with a lint, then push.
  - id: build
    build: -t berth.example.com/hello:cf1 -f hello.dockerfile --build-arg A=b .
  - id: lint
    cmd: bash -c 'echo "lint ok"'
    when: ["-"]
    keep: true
  - id: test
    cmd: berth.example.com/hello:cf1 ./run-tests.sh --fast
    when: [build]
    env: [MODE=ci]
    timeout: 120
    workingDirectory: /app
    entryPoint: /bin/sh
    ignoreErrors: true
  - push:
      - berth.example.com/hello:cf1
      - berth.example.com/hello:cf1
    when: [test, lint]
"#;
        let t = parsed(yaml);
        assert_eq!(t.version, "v1.1.0");
        assert_eq!((t.step_timeout, t.total_timeout), (Duration::from_secs(300), Duration::from_secs(7200)));
        assert_eq!(t.env, [("A".into(), "1".into()), ("B".into(), "x=y".into())]);
        let ids: Vec<&str> = t.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["build", "lint", "test", "acb_step_3"]);
        let StepKind::Build(b) = &t.steps[0].kind else { panic!("not a build") };
        assert_eq!(b.tags, ["berth.example.com/hello:cf1"]);
        assert_eq!(b.file.as_deref(), Some("hello.dockerfile"));
        assert_eq!(b.build_args, [("A".into(), "b".into())]);
        assert_eq!(b.context, ".");
        assert!(t.steps[0].when.is_empty());
        assert_eq!(t.steps[0].working_directory.as_deref(), Some("/src"));
        assert_eq!(
            t.steps[1].kind,
            StepKind::Cmd { image: "bash".into(), args: vec!["-c".into(), "echo \"lint ok\"".into()] }
        );
        assert!(t.steps[1].when.is_empty());
        let test = &t.steps[2];
        assert_eq!(
            test.kind,
            StepKind::Cmd {
                image: "berth.example.com/hello:cf1".into(),
                args: vec!["./run-tests.sh".into(), "--fast".into()]
            }
        );
        assert_eq!(test.when, ["build"]);
        assert_eq!(test.env, [("MODE".into(), "ci".into())]);
        assert_eq!(test.timeout, Some(Duration::from_secs(120)));
        assert_eq!(test.working_directory.as_deref(), Some("/app"));
        assert_eq!(test.entry_point.as_deref(), Some("/bin/sh"));
        assert!(test.ignore_errors);
        assert_eq!(t.steps[3].kind, StepKind::Push(vec!["berth.example.com/hello:cf1".into()]));
        assert_eq!(t.steps[3].when, ["test", "lint"]);
        assert_eq!(t.order(), [0, 1, 2, 3]);
    }

    #[test]
    fn render_then_parse() {
        let yaml = "steps:\n  - build: -t $Registry/{{.Values.repo}}:$ID .\n  - push: [\"{{.Run.Registry}}/hello:{{.Run.ID}}\"]\n";
        let t = parsed(&render(yaml, &values()).unwrap_or_default());
        assert_eq!(t.steps[1].kind, StepKind::Push(vec!["berth.example.com:8443/hello:cf1".into()]));
    }

    #[test]
    fn defaults() {
        let t = parsed("steps:\n  - cmd: bash echo hi\n  - cmd: bash echo there\n");
        assert_eq!(t.version, "v1.0.0");
        assert_eq!((t.step_timeout, t.total_timeout), (Duration::from_secs(600), Duration::from_secs(3600)));
        assert_eq!(t.steps[0].id, "acb_step_0");
        assert!(t.steps[0].when.is_empty());
        assert_eq!(t.steps[1].when, ["acb_step_0"]);
        assert_eq!(t.steps[1].timeout, None);
        assert_eq!(parsed("version: '1.0-preview-1'\nsteps: [{cmd: x, id: 7}]").steps[0].id, "7");
    }

    #[test]
    fn task_level_refusals() {
        let cases = [
            ("version: v2.0.0\nsteps: [{cmd: x}]", "unsupported task file version \"v2.0.0\""),
            ("stepTimeout: 0\nsteps: [{cmd: x}]", "stepTimeout must be a positive"),
            ("totalTimeout: '60'\nsteps: [{cmd: x}]", "totalTimeout must be a positive"),
            ("env: [A]\nsteps: [{cmd: x}]", "env entry \"A\" is not NAME=VALUE"),
            ("stepTimout: 5\nsteps: [{cmd: x}]", "unknown property \"stepTimout\""),
            ("secrets: []\nsteps: [{cmd: x}]", "\"secrets\" is an ACR task property Berth does not support"),
            ("version: v1.1.0", "steps is required"),
            ("steps: []", "steps is empty"),
            ("steps: {cmd: x}", "steps must be a list"),
            ("- cmd: x", "top level must be a mapping"),
            ("steps: [\n", "not valid YAML"),
            ("steps: [{cmd: x}]\nsteps: [{cmd: y}]", "not valid YAML"),
        ];
        for (yaml, want) in cases {
            let got = err_text(parse(yaml));
            assert!(got.contains(want), "{yaml:?}: {got}");
        }
        let many = format!("steps:\n{}", "  - cmd: x\n".repeat(MAX_STEPS + 1));
        assert_eq!(err_text(parse(&many)), "the task has 65 steps; the limit is 64");
        assert!(err_text(parse(&" ".repeat(MAX_TASK_FILE_BYTES + 1))).contains("limit"));
    }

    #[test]
    fn step_refusals_name_the_step() {
        let cases = [
            ("[{cmd: x}, {id: test, build: ., cmd: x}]", "step 1 (id \"test\"): has both build and cmd;"),
            (
                "[{cmd: x}, {cmd: x}, {cmd: x}, {cmd: x, when: [x]}]",
                "step 3: when names \"x\", which is no earlier step",
            ),
            (
                "[{id: a, cmd: x, when: [b]}, {id: b, cmd: x}]",
                "step 0 (id \"a\"): when names \"b\", which is no earlier step",
            ),
            ("[{id: a, cmd: x, when: [a]}]", "when names the step itself"),
            ("[{id: a, cmd: x}, {cmd: x, when: [\"-\", a]}]", "step 1: when: \"-\" must stand alone"),
            ("[{id: a, cmd: x}, {id: a, cmd: y}]", "step 1 (id \"a\"): id \"a\" is already used by step 0"),
            ("[{cmd: x}, {id: acb_step_0, cmd: y}]", "already used by step 0"),
            ("[{id: a b, cmd: x}]", "no spaces"),
            ("[{id: acb_root, cmd: x}]", "reserved"),
            ("[{id: x}]", "step 0 (id \"x\"): has none of build, push or cmd"),
            ("[{cmd: x, ignoreError: true}]", "step 0: unknown property \"ignoreError\""),
            ("[{cmd: x, detach: true}]", "\"detach\" is an ACR step property Berth does not support"),
            ("[{cmd: x, timeout: -1}]", "timeout must be a positive"),
            ("[{cmd: x, ignoreErrors: yes}]", "ignoreErrors must be true or false"),
            ("[{cmd: x, when: a}]", "when must be a list"),
            ("[{cmd: x, env: [\"=v\"]}]", "env entry \"=v\" is not NAME=VALUE"),
            ("[{cmd: ''}]", "cmd is empty"),
            ("[{cmd: \"bash 'oops\"}]", "cmd: unterminated ' quote"),
            ("[{cmd: Bash}]", "cmd: image reference \"Bash\""),
            ("[{push: []}]", "push lists no images"),
            ("[{push: x:1}]", "push must be a list"),
            ("[{push: [\"UPPER/x\"]}]", "push: image reference"),
            ("[{build: -t x:1 --squash .}]", "build: unknown docker build flag --squash"),
            ("[{build: --build-arg A .}]", "build: --build-arg \"A\" has no value"),
            ("[{build: -t x:1}]", "build: docker build needs a build context"),
            ("[cmd x]", "step 0: must be a mapping"),
            ("[{id: [a], cmd: x}]", "step 0: id must be a string"),
        ];
        for (steps, want) in cases {
            let got = err_text(parse(&format!("steps: {steps}")));
            assert!(got.contains(want), "{steps}: {got}");
        }
    }

    #[test]
    fn ignored_step_properties_are_accepted() {
        let props: Vec<String> = IGNORED_STEP_KEYS.iter().map(|k| format!("{k}: 1")).collect();
        let yaml = format!("networks: []\nsteps:\n  - cmd: x\n    {}\n", props.join("\n    "));
        assert_eq!(parsed(&yaml).steps.len(), 1);
    }

    #[test]
    fn yaml_alias_bombs_are_refused() {
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            yaml.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        yaml.push_str("steps: [{cmd: x}]\n");
        assert!(parse(&yaml).is_err());
    }

    #[test]
    fn splits_words() {
        let w = |s: &str| split_words(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(w("  a  b\tc\n"), ["a", "b", "c"]);
        assert_eq!(
            w(r#"echo "hello world" 'it''s' "a\"b\\c\$d\e" x\ y ''"#),
            ["echo", "hello world", "its", "a\"b\\c$d\\e", "x y", ""]
        );
        assert_eq!(w("a\\\nb"), ["ab"]);
        assert_eq!(w(r#"'$HOME' "$HOME""#), ["$HOME", "$HOME"]);
        assert!(w("").is_empty());
        assert_eq!(err_text(split_words("a 'b")), "unterminated ' quote");
        assert_eq!(err_text(split_words("a \"b")), "unterminated \" quote");
        assert_eq!(err_text(split_words("a \\")), "ends with a lone backslash");
    }

    #[test]
    fn build_args() {
        let b = parse_build_args(
            "-t a:1 --tag=b:2 -tc:3 -f=Dockerfile.x --build-arg K=V --build-arg=E= --target t --platform=linux/arm64 \
             --no-cache --pull=false --label l=1 --label solo https://github.com/x/y.git#main:sub",
        );
        let b = b.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.tags, ["a:1", "b:2", "c:3"]);
        assert_eq!(b.file.as_deref(), Some("Dockerfile.x"));
        assert_eq!(b.build_args, [("K".into(), "V".into()), ("E".into(), String::new())]);
        assert_eq!((b.target.as_deref(), b.platform.as_deref()), (Some("t"), Some("linux/arm64")));
        assert!(b.no_cache && !b.pull);
        assert_eq!(b.labels, [("l".into(), "1".into()), ("solo".into(), String::new())]);
        assert_eq!(b.context, "https://github.com/x/y.git#main:sub");
        assert_eq!(parse_build_args("- --pull").map(|b| (b.context, b.pull)).ok(), Some(("-".into(), true)));

        assert_eq!(err_text(parse_build_args(". --squash")), "unknown docker build flag --squash");
        assert_eq!(err_text(parse_build_args(". --memory=1g")), "unknown docker build flag --memory");
        assert_eq!(err_text(parse_build_args(". -t")), "docker build flag -t needs a value");
        assert!(err_text(parse_build_args(". --no-cache=maybe")).contains("expected true or false"));
        assert!(err_text(parse_build_args(". -t Bad:1")).contains("image reference \"Bad:1\""));
        assert!(err_text(parse_build_args(". --build-arg =v")).contains("the name is empty"));
        assert_eq!(err_text(parse_build_args("")), "docker build needs a build context (such as .)");
        assert_eq!(err_text(parse_build_args("a b")), "docker build takes one build context; got a, b");
    }

    #[test]
    fn order_respects_when() {
        let t = parsed(
            "steps:\n  - {id: a, cmd: x}\n  - {id: b, cmd: x, when: ['-']}\n  - {id: c, cmd: x, when: [a, b]}\n",
        );
        assert_eq!(t.order(), [0, 1, 2]);
        // A hand-built task may name later steps; Kahn's algorithm still orders it.
        let mut t = t;
        t.steps[0].when = vec!["c".into()];
        t.steps[2].when = vec!["b".into()];
        assert_eq!(t.order(), [1, 2, 0]);
        // A cycle does not lose steps.
        t.steps[1].when = vec!["a".into()];
        assert_eq!(t.order(), [0, 1, 2]);
    }

    #[test]
    fn quick_tasks() {
        let args = parse_build_args("-t berth.example.com/a:1 -t berth.example.com/a:latest .").unwrap_or_default();
        let t = quick_build(args.clone(), true);
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].kind, StepKind::Build(args.clone()));
        assert_eq!(t.steps[1].kind, StepKind::Push(args.tags.clone()));
        assert_eq!(t.steps[1].when, ["acb_step_0"]);
        assert_eq!(t.order(), [0, 1]);
        assert_eq!(quick_build(args, false).steps.len(), 1);
        assert_eq!(quick_build(BuildArgs { context: ".".into(), ..BuildArgs::default() }, true).steps.len(), 1);

        let t = quick_cmd("bash echo 'hi there'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.steps[0].kind,
            StepKind::Cmd { image: "bash".into(), args: vec!["echo".into(), "hi there".into()] }
        );
        assert_eq!(t.step_timeout, Duration::from_secs(3600));
        assert_eq!(err_text(quick_cmd("  ")), "the command is empty");
    }

    #[test]
    fn values_files_flatten_to_dotted_names() {
        let v = parse_values("repo: hello\ncount: 3\nflag: true\nimage:\n  tag: v1\n  deep: {x: y}\n").expect("values");
        let want = [("count", "3"), ("flag", "true"), ("image.deep.x", "y"), ("image.tag", "v1"), ("repo", "hello")];
        assert_eq!(v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(), want);
        assert!(parse_values("").expect("an empty file").is_empty());
        for (bad, says) in [
            ("- a\n- b\n", "a mapping"),
            ("list: [1, 2]\n", "\"list\""),
            ("empty:\n", "no value"),
            ("a: [\n", "not valid YAML"),
        ] {
            let err = parse_values(bad).expect_err(bad).to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let big = format!("a: {}\n", "x".repeat(MAX_TASK_FILE_BYTES));
        assert!(matches!(parse_values(&big), Err(Error::TooLarge { what: "the values file", .. })));
    }
}
