//! `gatehouse flow graph`: a flow drawn as a tree. The flow's steps hang from their level in
//! order; each edge says the step's number and requirement, and a conditional subflow's edge
//! says the conditions it runs under. Mermaid (default) or Graphviz DOT.

use serde_json::Value;

use crate::flow::model::{Flow, Requirement, Step, StepKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart (renders in GitHub, GitLab and many editors)
    #[default]
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`)
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flow,
    Subflow,
    Authenticator,
    Condition,
}

struct Node {
    id: String,
    lines: Vec<String>,
    shape: Shape,
    disabled: bool,
}

struct Edge {
    from: String,
    to: String,
    label: String,
    dashed: bool,
}

#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

pub fn graph(flow: &Flow, format: GraphFormat) -> String {
    let mut tree = Tree::default();
    let mut title = vec![format!("flow {}", flow.name)];
    if !flow.description.is_empty() {
        title.push(flow.description.clone());
    }
    tree.nodes.push(Node {
        id: "flow".into(),
        lines: title,
        shape: Shape::Flow,
        disabled: false,
    });
    tree.level("flow", "s", &flow.steps);
    match format {
        GraphFormat::Mermaid => tree.mermaid(),
        GraphFormat::Dot => tree.dot(&flow.name),
    }
}

fn requirement_name(r: Requirement) -> &'static str {
    match r {
        Requirement::Required => "required",
        Requirement::Alternative => "alternative",
        Requirement::Conditional => "conditional",
        Requirement::Disabled => "disabled",
    }
}

/// A step's settings in one short line each, e.g. `roles: admin, ops`.
fn config_lines(config: &Value) -> Vec<String> {
    let Some(map) = config.as_object() else { return vec![] };
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(String::from).unwrap_or_else(|| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("{k}: {text}")
        })
        .collect()
}

/// The conditions of a conditional subflow, as the edge leading to it shows them.
fn conditions_text(steps: &[Step]) -> String {
    let conditions: Vec<String> = steps
        .iter()
        .filter(|s| s.requirement != Requirement::Disabled)
        .filter_map(|s| match &s.kind {
            StepKind::Condition(name) => {
                let details = config_lines(&s.config);
                Some(if details.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", details.join("; "))
                })
            }
            _ => None,
        })
        .collect();
    if conditions.is_empty() {
        "never".into()
    } else {
        conditions.join(" and ")
    }
}

impl Tree {
    fn level(&mut self, parent: &str, prefix: &str, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            let id = format!("{prefix}{i}");
            let (shape, name) = match &step.kind {
                StepKind::Authenticator(n) => (Shape::Authenticator, n.clone()),
                StepKind::Condition(n) => (Shape::Condition, n.clone()),
                StepKind::Subflow { name, .. } => (Shape::Subflow, name.clone()),
            };
            let mut lines = vec![name];
            lines.extend(config_lines(&step.config));
            let disabled = step.requirement == Requirement::Disabled;
            self.nodes.push(Node {
                id: id.clone(),
                lines,
                shape,
                disabled,
            });
            let mut label = format!("{}. {}", i + 1, requirement_name(step.requirement));
            if let StepKind::Subflow { steps: inner, .. } = &step.kind
                && step.requirement == Requirement::Conditional
            {
                label = format!("{label} if {}", conditions_text(inner));
            }
            if shape == Shape::Condition {
                label = format!("{}. condition", i + 1);
            }
            let dashed = disabled || shape == Shape::Condition;
            self.edges.push(Edge {
                from: parent.to_string(),
                to: id.clone(),
                label,
                dashed,
            });
            if let StepKind::Subflow { steps: inner, .. } = &step.kind {
                self.level(&id, &format!("{id}_"), inner);
            }
        }
    }

    fn mermaid(&self) -> String {
        let esc = |s: &str| s.replace('"', "#quot;");
        let mut out = String::from("flowchart TD\n");
        for n in &self.nodes {
            let text = esc(&n.lines.join("<br/>"));
            let (open, close) = match n.shape {
                Shape::Flow => ("([\"", "\"])"),
                Shape::Subflow => ("[[\"", "\"]]"),
                Shape::Authenticator => ("[\"", "\"]"),
                Shape::Condition => ("{{\"", "\"}}"),
            };
            let class = if n.disabled { ":::disabled" } else { "" };
            out.push_str(&format!("  {}{open}{text}{close}{class}\n", n.id));
        }
        for e in &self.edges {
            let arrow = if e.dashed { "-.->" } else { "-->" };
            out.push_str(&format!("  {} {arrow}|\"{}\"| {}\n", e.from, esc(&e.label), e.to));
        }
        out.push_str("  classDef disabled stroke-dasharray: 4 4,color:#888\n");
        out
    }

    fn dot(&self, name: &str) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n",
            esc(name)
        );
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for n in &self.nodes {
            let shape = match n.shape {
                Shape::Flow => "oval",
                Shape::Subflow => "box3d",
                Shape::Authenticator => "box",
                Shape::Condition => "hexagon",
            };
            let label = n.lines.iter().map(|l| esc(l)).collect::<Vec<_>>().join("\\n");
            let style = if n.disabled {
                ", style=dashed, fontcolor=gray"
            } else {
                ""
            };
            out.push_str(&format!("  {} [label=\"{label}\", shape={shape}{style}];\n", n.id));
        }
        for e in &self.edges {
            let style = if e.dashed { ", style=dashed" } else { "" };
            out.push_str(&format!(
                "  {} -> {} [label=\"{}\"{style}];\n",
                e.from,
                e.to,
                esc(&e.label)
            ));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = include_str!("../../flows/browser.yaml");

    #[test]
    fn mermaid_shows_requirements_and_conditions() {
        let flow = crate::flow::model::parse("browser.yaml", FLOW).unwrap();
        let m = graph(&flow, GraphFormat::Mermaid);
        assert!(m.starts_with("flowchart TD\n"), "{m}");
        assert!(m.contains("flow -->|\"1. alternative\"| s0"), "{m}");
        assert!(m.contains("s0[\"cookie\"]"), "{m}");
        assert!(m.contains("s1_1[[\"conditional-otp\"]]"), "{m}");
        assert!(
            m.contains("|\"2. conditional if user-configured and trusted-device (negate: true)\"| s1_1"),
            "{m}"
        );
        assert!(m.contains("s1_1_0{{\"user-configured\"}}"), "{m}");
    }

    #[test]
    fn dot_is_a_digraph_with_config_in_labels() {
        let text = "flow: f\nsteps:\n  - authenticator: username-password-form\n    requirement: required\n  - subflow: admins\n    requirement: conditional\n    steps:\n      - condition: user-role\n        requirement: required\n        config: { roles: [admin, \"ops\"] }\n      - authenticator: deny-access\n        requirement: required\n        config: { message: 'Say \"no\"' }\n";
        let flow = crate::flow::model::parse("f.yaml", text).unwrap();
        let d = graph(&flow, GraphFormat::Dot);
        assert!(d.starts_with("digraph \"f\" {"), "{d}");
        assert!(
            d.contains("flow -> s1 [label=\"2. conditional if user-role (roles: admin, ops)\"]"),
            "{d}"
        );
        assert!(d.contains("label=\"deny-access\\nmessage: Say \\\"no\\\"\""), "{d}");
        assert!(d.trim_end().ends_with('}'));
    }
}
