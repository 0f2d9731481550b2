//! `gatehouse flow test`: scenario files (`flows/tests/*.yaml`) describe a user and the answers
//! they give, and the sign-in that must follow — pages, trace of steps, outcome, `acr`, `amr`.
//! Each scenario runs through [`super::simulate`] (the real engine) on a fresh scratch state, so
//! a change to a flow is reviewed like code, in CI.
//!
//! ```yaml
//! flow: ../browser.yaml            # the flow file, relative to this file
//! scenarios:
//!   - name: password and one-time code
//!     user: { has: [otp] }         # username alice by default; roles, attributes, required_actions
//!     client: app                  # default app; also ip, signed_in, trusted_device, prompt
//!     answers: [password, otp]
//!     expect:
//!       outcome: success           # success | failure | page
//!       pages: [login.html, otp.html]
//!       trace: [cookie:attempted, username-password-form:success, …]
//!       amr: [pwd, otp, mfa]
//!       acr: "2"
//! ```
//! Every `expect` field but `outcome` is optional; `message` (failure) and `error` (the last
//! page's error) match when the actual text contains them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::answers::Answer;
use super::sandbox::UserSpec;
use super::simulate::{self, Ending, Prompt, Report, Simulation};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    flow: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default)]
    user: UserSpec,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    signed_in: bool,
    #[serde(default)]
    trusted_device: bool,
    #[serde(default)]
    prompt: Option<Prompt>,
    #[serde(default)]
    answers: Vec<Answer>,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Success,
    Failure,
    Page,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Page => "page",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    outcome: Outcome,
    /// outcome page: the page the sign-in stops at.
    page: Option<String>,
    /// outcome failure: the message contains this.
    message: Option<String>,
    /// The last page's error contains this.
    error: Option<String>,
    pages: Option<Vec<String>>,
    trace: Option<Vec<String>>,
    amr: Option<Vec<String>>,
    acr: Option<String>,
}

/// The result of `flow test`.
#[derive(Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// What to print: one line per scenario, and a diff under each failure.
    pub output: String,
}

/// Runs every `*.yaml` scenario file in `dir` (not its subdirectories).
pub async fn run_dir(dir: &Path) -> Result<Summary, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no scenario files (*.yaml) in {}", dir.display()));
    }
    let mut summary = Summary::default();
    for f in files {
        run_file(&f, &mut summary).await;
    }
    summary.output.push_str(&format!(
        "\n{} scenario(s) passed, {} failed\n",
        summary.passed, summary.failed
    ));
    Ok(summary)
}

async fn run_file(path: &Path, summary: &mut Summary) {
    let label = path.display().to_string();
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| format!("{label}: {e}"))
        .and_then(|text| {
            serde_saphyr::from_str::<ScenarioFile>(&text).map_err(|e| {
                let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
                format!("{label}:{line}:{column}: {}", super::yaml_message(&e.to_string()))
            })
        });
    let file = match parsed {
        Ok(f) => f,
        Err(message) => {
            summary.failed += 1;
            summary.output.push_str(&format!("FAIL {label}\n  {message}\n"));
            return;
        }
    };
    let flow = path.parent().unwrap_or(Path::new(".")).join(&file.flow);
    for scenario in &file.scenarios {
        let mismatches = match simulate::simulate(&flow, &simulation(scenario)).await {
            Ok(report) => compare(&scenario.expect, &report).map_err(|m| (m, Some(report))),
            Err(e) => Err((vec![format!("  cannot run: {}", e.replace('\n', "\n    "))], None)),
        };
        match mismatches {
            Ok(()) => {
                summary.passed += 1;
                summary.output.push_str(&format!("ok   {label}: {}\n", scenario.name));
            }
            Err((lines, report)) => {
                summary.failed += 1;
                summary
                    .output
                    .push_str(&format!("FAIL {label}: {}\n{}\n", scenario.name, lines.join("\n")));
                if let Some(r) = report {
                    let run: Vec<String> = simulate::render(&r).lines().map(|l| format!("    | {l}")).collect();
                    summary
                        .output
                        .push_str(&format!("  the run was:\n{}\n", run.join("\n")));
                }
            }
        }
    }
}

fn simulation(s: &Scenario) -> Simulation {
    let default = Simulation::default();
    Simulation {
        user: s.user.clone(),
        client: s.client.clone().unwrap_or(default.client),
        ip: s.ip.clone().or(default.ip),
        signed_in: s.signed_in,
        trusted_device: s.trusted_device,
        prompt: s.prompt,
        answers: Some(s.answers.clone()),
    }
}

/// The differences between what a scenario expects and what happened, as printable lines.
fn compare(expect: &Expect, r: &Report) -> Result<(), Vec<String>> {
    let mut out = Vec::new();
    let (outcome, detail) = match &r.ending {
        Ending::Success => (Outcome::Success, String::new()),
        Ending::Failure(m) => (Outcome::Failure, m.clone()),
        Ending::Page(p) => (Outcome::Page, p.clone()),
    };
    if outcome != expect.outcome {
        out.push(format!(
            "  outcome: expected {}, got {} {detail}",
            expect.outcome.name(),
            outcome.name()
        ));
    }
    if let Some(p) = &expect.page
        && !(outcome == Outcome::Page && *p == detail)
    {
        out.push(format!(
            "  page: expected to stop at {p}, got {} {detail}",
            outcome.name()
        ));
    }
    if let Some(m) = &expect.message
        && !(outcome == Outcome::Failure && detail.contains(m.as_str()))
    {
        out.push(format!("  message: expected failure containing {m:?}, got {detail:?}"));
    }
    if let Some(e) = &expect.error {
        let actual = r.visits.last().and_then(|v| v.error.clone()).unwrap_or_default();
        if !actual.contains(e.as_str()) {
            out.push(format!(
                "  error: expected the last page to show {e:?}, it shows {actual:?}"
            ));
        }
    }
    let pages: Vec<String> = r.visits.iter().map(|v| v.template.clone()).collect();
    list("pages", expect.pages.as_deref(), &pages, &mut out);
    list("trace", expect.trace.as_deref(), &r.trace, &mut out);
    list("amr", expect.amr.as_deref(), &r.amr, &mut out);
    if let Some(acr) = &expect.acr
        && r.acr.as_ref() != Some(acr)
    {
        out.push(format!(
            "  acr: expected {acr:?}, got {:?}",
            r.acr.as_deref().unwrap_or("none")
        ));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn list(name: &str, expected: Option<&[String]>, actual: &[String], out: &mut Vec<String>) {
    let Some(expected) = expected else { return };
    if expected == actual {
        return;
    }
    out.push(format!("  {name} differs (- expected, + actual):"));
    out.extend(diff(expected, actual).into_iter().map(|l| format!("    {l}")));
}

/// A line diff (longest common subsequence): `  ` same, `- ` only expected, `+ ` only actual.
pub fn diff(expected: &[String], actual: &[String]) -> Vec<String> {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push(format!("  {}", expected[i]));
            i += 1;
            j += 1;
        } else if j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", expected[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", actual[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn diff_marks_missing_and_extra_lines() {
        let d = diff(&s(&["a", "b", "c"]), &s(&["a", "x", "c", "d"]));
        assert_eq!(d, s(&["  a", "- b", "+ x", "  c", "+ d"]));
        assert_eq!(diff(&s(&[]), &s(&["a"])), s(&["+ a"]));
    }

    #[test]
    fn compare_reports_each_difference() {
        let expect: Expect =
            serde_saphyr::from_str("outcome: success\npages: [login.html]\namr: [pwd]\nacr: \"1\"\n").unwrap();
        let report = Report {
            flow: "f".into(),
            visits: vec![],
            ending: Ending::Failure("Access denied.".into()),
            trace: vec![],
            last_decided: vec![],
            trace_complete: true,
            amr: vec![],
            acr: None,
        };
        let lines = compare(&expect, &report).unwrap_err().join("\n");
        assert!(
            lines.contains("outcome: expected success, got failure Access denied."),
            "{lines}"
        );
        assert!(lines.contains("- login.html"), "{lines}");
        assert!(lines.contains("acr: expected \"1\""), "{lines}");
    }

    #[test]
    fn scenario_files_refuse_unknown_keys_and_answers() {
        let e = serde_saphyr::from_str::<ScenarioFile>("flow: f.yaml\nscenarios: []\ncolour: red\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = serde_saphyr::from_str::<ScenarioFile>(
            "flow: f.yaml\nscenarios:\n  - name: x\n    answers: [dance]\n    expect: { outcome: success }\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown answer 'dance'"), "{e}");
    }
}
