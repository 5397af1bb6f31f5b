//! What a task or a run does, as stored (JSON in `tasks.spec` and `runs.spec`) and as the API
//! shows it: ACR's task step kinds (`Docker`, `FileTask`, `EncodedTask`), platform and triggers,
//! with ACR's field names.

use serde::{Deserialize, Serialize};

/// A `--arg`/`--build-arg` or `--set` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_secret: bool,
}

impl Argument {
    /// `NAME=VALUE`, as the command line gives it.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                Ok(Argument { name: name.to_owned(), value: value.to_owned(), is_secret: false })
            }
            _ => Err(format!("{s:?}: expected NAME=VALUE")),
        }
    }
}

impl Step {
    /// The step's arguments or values (for sealing and opening the secret ones).
    pub fn arguments_mut(&mut self) -> &mut Vec<Argument> {
        match self {
            Step::Docker { arguments, .. } => arguments,
            Step::FileTask { values, .. } | Step::EncodedTask { values, .. } => values,
        }
    }

    /// Gives a task file its values file (`--values`): one in the context (`path`) for a task
    /// file in the context, or one sent whole (`content`, base64) for a task file sent whole.
    pub fn set_values_file(&mut self, path: Option<String>, content: Option<String>) -> Result<(), String> {
        match (self, path, content) {
            (_, None, None) => {}
            (Step::FileTask { values_file_path, .. }, Some(path), None) => *values_file_path = Some(path),
            (Step::EncodedTask { encoded_values_content, .. }, None, Some(content)) => {
                *encoded_values_content = Some(content);
            }
            (Step::Docker { .. }, ..) => return Err("a values file (--values) is a task file's".into()),
            (Step::FileTask { .. }, ..) => {
                return Err("a task file in the context takes a values file in the context: valuesFilePath".into());
            }
            (Step::EncodedTask { .. }, ..) => {
                return Err("a task file sent whole takes a values file sent whole: encodedValuesContent".into());
            }
        }
        Ok(())
    }

    /// The step as the API shows it: secret values hidden.
    pub fn shown(&self) -> Step {
        let mut step = self.clone();
        for a in step.arguments_mut().iter_mut().filter(|a| a.is_secret) {
            a.value = "*****".into();
        }
        step
    }
}

/// The step a task or run carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Step {
    /// Build one Dockerfile and push its tags (`berth build`, `task create -f Dockerfile`).
    Docker {
        image_names: Vec<String>,
        is_push_enabled: bool,
        #[serde(default)]
        no_cache: bool,
        docker_file_path: String,
        #[serde(default)]
        arguments: Vec<Argument>,
        #[serde(default)]
        target: Option<String>,
    },
    /// A task file in the context (`task create -f task.yaml`, `berth run -f` with a context).
    FileTask {
        task_file_path: String,
        /// A values file in the context (`--values`), read before `values`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values_file_path: Option<String>,
        #[serde(default)]
        values: Vec<Argument>,
    },
    /// A task file sent with the request (`berth run -f` of a local file, `berth run --cmd`).
    EncodedTask {
        /// The file, base64.
        encoded_task_content: String,
        /// A values file sent with it (`--values`), base64, read before `values`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encoded_values_content: Option<String>,
        #[serde(default)]
        values: Vec<Argument>,
    },
}

/// `linux/amd64`: what a run builds for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, '/');
        let (os, architecture) = (parts.next().unwrap_or_default(), parts.next());
        let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
        if !word(os) || architecture.is_some_and(|a| !word(a)) {
            return Err(format!("platform {s:?}: expected OS[/ARCHITECTURE[/VARIANT]], such as linux/amd64"));
        }
        Ok(Platform { os: os.to_owned(), architecture: architecture.unwrap_or("amd64").to_owned() })
    }

    pub fn as_string(&self) -> String {
        format!("{}/{}", self.os, self.architecture)
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform { os: "linux".into(), architecture: "amd64".into() }
    }
}

/// A trigger's `Enabled`/`Disabled`.
fn enabled() -> String {
    "Enabled".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceTrigger {
    pub name: String,
    /// The branch whose pushes run the task.
    pub branch: String,
    #[serde(default = "enabled")]
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseImageTrigger {
    pub name: String,
    #[serde(default = "enabled")]
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerTrigger {
    pub name: String,
    /// Five-field cron, UTC.
    pub schedule: String,
    #[serde(default = "enabled")]
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Triggers {
    #[serde(default)]
    pub source_triggers: Vec<SourceTrigger>,
    #[serde(default)]
    pub base_image_trigger: Option<BaseImageTrigger>,
    #[serde(default)]
    pub timer_triggers: Vec<TimerTrigger>,
}

/// A task's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    pub step: Step,
    /// A git URL (`https://host/org/repo.git#branch:folder`), a tarball URL, or none.
    #[serde(default)]
    pub context_path: Option<String>,
    #[serde(default)]
    pub platform: Platform,
    /// Seconds.
    pub timeout: u64,
    #[serde(default)]
    pub trigger: Triggers,
}

impl TaskSpec {
    pub fn enabled_timers(&self) -> impl Iterator<Item = &TimerTrigger> {
        self.trigger.timer_triggers.iter().filter(|t| t.status == "Enabled")
    }

    pub fn commit_branch(&self) -> Option<&str> {
        self.trigger.source_triggers.iter().find(|t| t.status == "Enabled").map(|t| t.branch.as_str())
    }

    pub fn base_image_trigger(&self) -> bool {
        self.trigger.base_image_trigger.as_ref().is_some_and(|t| t.status == "Enabled")
    }
}

/// The context that says there is none (as az takes it).
pub const NULL_CONTEXT: &str = "/dev/null";

/// A context as given: none for an empty one or [`NULL_CONTEXT`].
pub fn given_context(c: &str) -> Option<&str> {
    Some(c).filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(NULL_CONTEXT))
}

/// What a manual run of a task changes (`az acr task run`; ACR's `overrideTaskStepProperties`):
/// arguments and values are merged by name over the task's, the rest replaces the task's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Overrides {
    /// A git or tarball URL, an uploaded context, or `/dev/null` for none.
    #[serde(default)]
    pub context_path: Option<String>,
    /// The Dockerfile or task file, in the context.
    #[serde(default)]
    pub file: Option<String>,
    /// Build arguments (a Dockerfile task).
    #[serde(default)]
    pub arguments: Vec<Argument>,
    /// Task file values (a task file).
    #[serde(default)]
    pub values: Vec<Argument>,
    /// The Dockerfile stage to build.
    #[serde(default)]
    pub target: Option<String>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// `spec` as this run does it, or why these overrides do not fit its step.
    pub fn apply(self, mut spec: TaskSpec) -> Result<TaskSpec, String> {
        let docker = matches!(spec.step, Step::Docker { .. });
        if !self.arguments.is_empty() && !docker {
            return Err("arguments (--arg) are a Dockerfile task's: give a task file values (--set)".into());
        }
        if !self.values.is_empty() && docker {
            return Err("values (--set) are a task file's: give a Dockerfile task arguments (--arg)".into());
        }
        if self.target.is_some() && !docker {
            return Err("a target stage (--target) is a Dockerfile task's".into());
        }
        match (&mut spec.step, self.file) {
            (Step::Docker { docker_file_path: path, .. } | Step::FileTask { task_file_path: path, .. }, Some(f)) => {
                *path = f;
            }
            (Step::EncodedTask { .. }, Some(_)) => {
                return Err("this task's file is stored with it: a file (-f) cannot replace it".into());
            }
            (_, None) => {}
        }
        if let Step::Docker { target, .. } = &mut spec.step
            && self.target.is_some()
        {
            *target = self.target;
        }
        merge(spec.step.arguments_mut(), self.arguments.into_iter().chain(self.values));
        if let Some(c) = self.context_path {
            spec.context_path = given_context(&c).map(str::to_owned);
        }
        if spec.context_path.is_none() && !matches!(spec.step, Step::EncodedTask { .. }) {
            return Err("this task reads its file from a context: the run needs one (--context)".into());
        }
        Ok(spec)
    }
}

/// `given` over `into`: a name already there takes the given value, a new one is added.
fn merge(into: &mut Vec<Argument>, given: impl IntoIterator<Item = Argument>) {
    for a in given {
        match into.iter_mut().find(|b| b.name == a.name) {
            Some(b) => *b = a,
            None => into.push(a),
        }
    }
}

/// What one run does: a task's step, or a quick run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSpec {
    pub step: Step,
    /// Seconds.
    pub timeout: u64,
    /// The branch and commit a commit trigger ran, for `{{.Run.Branch}}` and `{{.Run.Commit}}`.
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    /// Whether the run records the base images it built from (a task with a base image trigger).
    #[serde(default)]
    pub record_bases: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_task() -> TaskSpec {
        TaskSpec {
            step: Step::Docker {
                image_names: vec!["app:v1".into()],
                is_push_enabled: true,
                no_cache: false,
                docker_file_path: "Dockerfile".into(),
                arguments: vec![Argument::parse("A=1").expect("arg"), Argument::parse("B=2").expect("arg")],
                target: None,
            },
            context_path: Some("https://example.com/repo.git".into()),
            platform: Platform::default(),
            timeout: 600,
            trigger: Triggers::default(),
        }
    }

    #[test]
    fn overrides_merge_arguments_by_name_and_replace_the_rest() {
        let over: Overrides = serde_json::from_str(
            r#"{"file":"other.Dockerfile","target":"final","contextPath":"upload:x",
                "arguments":[{"name":"B","value":"3","isSecret":true},{"name":"C","value":"4"}]}"#,
        )
        .expect("overrides");
        let spec = over.apply(docker_task()).expect("applies");
        let Step::Docker { docker_file_path, arguments, target, image_names, .. } = &spec.step else { panic!() };
        assert_eq!(docker_file_path, "other.Dockerfile");
        assert_eq!(target.as_deref(), Some("final"));
        assert_eq!(image_names, &["app:v1"], "what is not overridden stays");
        let args: Vec<_> = arguments.iter().map(|a| (a.name.as_str(), a.value.as_str(), a.is_secret)).collect();
        assert_eq!(args, [("A", "1", false), ("B", "3", true), ("C", "4", false)]);
        assert_eq!(spec.context_path.as_deref(), Some("upload:x"));
        assert!(Overrides::default().is_empty());
        assert_eq!(Overrides::default().apply(docker_task()).expect("nothing"), docker_task());
    }

    #[test]
    fn overrides_that_do_not_fit_the_step_are_refused() {
        let values = Overrides { values: vec![Argument::parse("V=1").expect("arg")], ..Overrides::default() };
        assert!(values.apply(docker_task()).expect_err("values").contains("--set"));
        let no_context = Overrides { context_path: Some("/dev/null".into()), ..Overrides::default() };
        assert!(no_context.apply(docker_task()).expect_err("context").contains("--context"));
        let mut file_task = docker_task();
        file_task.step =
            Step::FileTask { task_file_path: "acb.yaml".into(), values_file_path: None, values: Vec::new() };
        let args = Overrides { arguments: vec![Argument::parse("A=1").expect("arg")], ..Overrides::default() };
        assert!(args.apply(file_task.clone()).expect_err("arguments").contains("--arg"));
        let target = Overrides { target: Some("t".into()), ..Overrides::default() };
        assert!(target.apply(file_task.clone()).expect_err("target").contains("--target"));
        let mut encoded = file_task;
        encoded.step =
            Step::EncodedTask { encoded_task_content: String::new(), encoded_values_content: None, values: Vec::new() };
        let file = Overrides { file: Some("x.yaml".into()), ..Overrides::default() };
        assert!(file.apply(encoded.clone()).expect_err("file").contains("-f"));
        encoded.context_path = None;
        let set = Overrides { values: vec![Argument::parse("V=1").expect("arg")], ..Overrides::default() };
        let Step::EncodedTask { values, .. } = set.apply(encoded).expect("a stored file needs no context").step else {
            panic!()
        };
        assert_eq!(values[0].value, "1");
    }

    #[test]
    fn steps_read_and_write_acr_field_names() {
        let json = r#"{"type":"Docker","imageNames":["app:v1"],"isPushEnabled":true,"dockerFilePath":"Dockerfile",
                       "arguments":[{"name":"A","value":"1"}]}"#;
        let step: Step = serde_json::from_str(json).expect("step");
        let Step::Docker { image_names, arguments, .. } = &step else { panic!("{step:?}") };
        assert_eq!(image_names, &["app:v1"]);
        assert_eq!(arguments[0].name, "A");
        let back = serde_json::to_value(&step).expect("json");
        assert_eq!(back["type"], "Docker");
        assert_eq!(back["isPushEnabled"], true);
    }

    #[test]
    fn platforms_and_arguments_parse() {
        assert_eq!(Platform::parse("linux/arm64").expect("p").architecture, "arm64");
        assert_eq!(Platform::parse("linux").expect("p").as_string(), "linux/amd64");
        assert!(Platform::parse("../x").is_err());
        assert!(Platform::parse("linux/").is_err());
        assert_eq!(Argument::parse("A=b=c").expect("a").value, "b=c");
        assert!(Argument::parse("=x").is_err());
        assert!(Argument::parse("novalue").is_err());
    }
}
