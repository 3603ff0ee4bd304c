//! The map as nodes and edges with their labels, the one shape every picture format draws.

use super::model::{Health, Topology, count, node_id, seconds};

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    App,
    Topic,
    Group,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: String,
    pub namespace: String,
    pub kind: Kind,
    /// The label's lines; the last is the health word when there is one.
    pub lines: Vec<String>,
    pub health: Health,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub dashed: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawing {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Drawing {
    /// The nodes of one namespace and the edges between them.
    pub fn namespace(&self, ns: &str) -> Drawing {
        let nodes: Vec<Node> = self.nodes.iter().filter(|n| n.namespace == ns).cloned().collect();
        let ids: std::collections::BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        let edges = self
            .edges
            .iter()
            .filter(|e| ids.contains(e.from.as_str()) && ids.contains(e.to.as_str()))
            .cloned()
            .collect();
        Drawing { nodes, edges }
    }
}

fn with_word(mut lines: Vec<String>, health: &Health) -> Vec<String> {
    if !health.word().is_empty() {
        lines.push(health.word().to_string());
    }
    lines
}

/// Lays the map out as nodes and edges: applications → topics (produces), topics → groups (reads), applications
/// ⇢ groups (consumes as), source topic → retry topics → dead-letter topic.
pub fn drawing(t: &Topology) -> Drawing {
    let mut d = Drawing::default();
    for (ns, space) in &t.namespaces {
        let topic_id = |name: &str| node_id("topic", ns, name);
        let group_id = |name: &str| node_id("group", ns, name);
        for app in &space.apps {
            let mut lines = vec![format!("app {}", app.name)];
            if let Some(u) = app.username.as_ref().filter(|u| **u != app.name) {
                lines.push(format!("user {u}"));
            }
            let id = node_id("app", ns, &app.name);
            d.nodes.push(Node {
                id: id.clone(),
                namespace: ns.clone(),
                kind: Kind::App,
                lines: with_word(lines, &app.health),
                health: app.health.clone(),
            });
            for topic in &app.produces {
                d.edges.push(Edge { from: id.clone(), to: topic_id(topic), label: "produces".into(), dashed: false });
            }
            for group in &app.consumes {
                if space.groups.iter().any(|g| g.name == *group) {
                    d.edges.push(Edge {
                        from: id.clone(),
                        to: group_id(group),
                        label: "consumes as".into(),
                        dashed: true,
                    });
                }
            }
        }
        for (name, topic) in &space.topics {
            let mut lines = vec![format!("topic {name}")];
            match (topic.partitions, topic.replication_factor) {
                (Some(p), Some(rf)) => lines.push(format!("{}, RF {rf}", partitions(p))),
                (Some(p), None) => lines.push(partitions(p)),
                _ => {}
            }
            if let Some(role) = &topic.role {
                lines.push(role.clone());
            }
            for schema in &topic.schemas {
                let version = schema.version.map(|v| format!(" v{v}")).unwrap_or_default();
                let subject = schema.subject.clone().unwrap_or_else(|| schema.name.clone());
                lines.push(format!("{} schema {subject}{version} ({})", schema.part, schema.schema_type));
            }
            let mut health = topic.health.clone();
            if let Some(dlq) = space.dlqs.iter().find(|p| p.dead_letter_topic.as_deref() == Some(name.as_str())) {
                lines.push(format!("depth {}", dlq.depth.map(count).unwrap_or_else(|| "?".into())));
                health = health.max(dlq.health.clone());
            }
            d.nodes.push(Node {
                id: topic_id(name),
                namespace: ns.clone(),
                kind: Kind::Topic,
                lines: with_word(lines, &health),
                health,
            });
        }
        for g in &space.groups {
            let mut lines = vec![format!("group {}", g.name)];
            if g.group_id != g.name {
                lines.push(format!("id {}", g.group_id));
            }
            if let Some(w) = &g.workload {
                lines
                    .push(format!("{w}: {} replicas", g.replicas.map(|r| r.to_string()).unwrap_or_else(|| "?".into())));
            }
            match (g.lag, g.lag_seconds) {
                (Some(l), Some(s)) => lines.push(format!("lag {} ({})", count(l), seconds(s))),
                (Some(l), None) => lines.push(format!("lag {}", count(l))),
                _ => {}
            }
            if let Some(b) = &g.burrow {
                lines.push(format!("burrow {b}"));
            }
            let id = group_id(&g.name);
            d.nodes.push(Node {
                id: id.clone(),
                namespace: ns.clone(),
                kind: Kind::Group,
                lines: with_word(lines, &g.health),
                health: g.health.clone(),
            });
            for topic in &g.topics {
                d.edges.push(Edge { from: topic_id(topic), to: id.clone(), label: "read by".into(), dashed: false });
            }
        }
        for p in &space.dlqs {
            let mut chain = vec![p.source_topic.clone()];
            chain.extend(p.retry_topics.iter().cloned());
            chain.extend(p.dead_letter_topic.iter().cloned());
            for pair in chain.windows(2) {
                let last = Some(&pair[1]) == p.dead_letter_topic.as_ref();
                let label = if last { "dead letter" } else { "retry" };
                d.edges.push(Edge {
                    from: topic_id(&pair[0]),
                    to: topic_id(&pair[1]),
                    label: label.into(),
                    dashed: true,
                });
            }
        }
    }
    d
}

fn partitions(n: i32) -> String {
    if n == 1 { "1 partition".into() } else { format!("{n} partitions") }
}
