//! STUB
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity { Unknown, Low, Medium, High, Critical }
#[derive(Debug, Clone)]
pub struct Finding { pub id: String, pub aliases: Vec<String>, pub package: String, pub installed: String, pub fixed: Option<String>, pub severity: Severity, pub summary: String }
