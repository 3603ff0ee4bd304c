//! What a `Schema` means in registry terms, and what to do about it. Pure: subject naming, a local parse of the
//! schema text (so a typo never reaches the registry), reference loops, and the plan of one reconcile.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::common::ManagementPolicy;
use crate::api::schema::{CompatibilityLevel, SchemaPart, SchemaType};
use crate::decisions::problem::Problem;

/// Confluent's TopicNameStrategy: `<kafka topic name>-value` or `<kafka topic name>-key`.
pub fn topic_subject(kafka_topic: &str, part: SchemaPart) -> String {
    format!("{kafka_topic}-{}", part.as_str())
}

/// Parses the schema text in its language; a schema that does not parse is `InvalidSchema`, naming `field` and the
/// parser's words. `imported` holds the texts of the Avro schemas this one references (their named types).
pub fn check_text(schema_type: SchemaType, text: &str, imported: &[String], field: &str) -> Result<(), Problem> {
    let invalid = |e: String| {
        Problem::new("InvalidSchema", format!("{field} is not a valid {} schema: {e}", schema_type.as_str()))
    };
    match schema_type {
        SchemaType::Avro => {
            if imported.is_empty() {
                apache_avro::Schema::parse_str(text).map(|_| ()).map_err(|e| invalid(e.to_string()))
            } else {
                let mut all: Vec<&str> = imported.iter().map(String::as_str).collect();
                all.push(text);
                apache_avro::Schema::parse_list(all).map(|_| ()).map_err(|e| invalid(e.to_string()))
            }
        }
        SchemaType::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(_) | serde_json::Value::Bool(_)) => Ok(()),
            Ok(_) => Err(invalid("a JSON Schema is an object or a boolean".into())),
            Err(e) => Err(invalid(e.to_string())),
        },
        SchemaType::Protobuf => {
            protox_parse::parse("schema.proto", text).map(|_| ()).map_err(|e| invalid(e.to_string()))
        }
    }
}

/// The first loop through `start` in the reference graph (`edges`: Schema name → the Schemas it references), as
/// the path that closes it (`a → b → a`). References to Schemas missing from `edges` end a path.
pub fn reference_loop(start: &str, edges: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn walk(
        node: &str,
        start: &str,
        edges: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(node).into_iter().flatten() {
            path.push(next.clone());
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) && walk(next, start, edges, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(start, start, edges, &mut path, &mut seen).then_some(path)
}

/// What the registry holds for the subject, as observed before acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSubject {
    /// The subject's own compatibility level (or what the registry answers for it), as spelled there.
    pub level: Option<String>,
    /// This exact schema is already registered under the subject.
    pub registered: bool,
    /// The subject has at least one version of this resource's registration history (status shows a version).
    pub had_version: bool,
}

/// One reconcile's steps, in order: set the level, then (when the text is new) test and register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaPlan {
    /// Put the subject's level to the declared one.
    pub set_level: Option<CompatibilityLevel>,
    /// The level differs from the declared one: `(found, declared)`. Corrected when `set_level` is set.
    pub drift: Option<(String, CompatibilityLevel)>,
    /// The text is not registered yet: test it against the subject, register it when compatible.
    pub register: bool,
}

/// The plan for a subject: the declared level kept under `Enforce`, set once under `CreateOnly` (when the subject
/// is new to this resource), never written under `Observe`; a new text tested and registered unless `Observe`.
pub fn plan(declared: CompatibilityLevel, policy: ManagementPolicy, observed: &ObservedSubject) -> SchemaPlan {
    let differs = observed.level.as_deref().and_then(CompatibilityLevel::parse) != Some(declared);
    let drift = differs.then(|| (observed.level.clone().unwrap_or_else(|| "unset".into()), declared));
    let set_level = match policy {
        ManagementPolicy::Enforce => differs,
        ManagementPolicy::CreateOnly => differs && !observed.had_version,
        ManagementPolicy::Observe => false,
    }
    .then_some(declared);
    let register = !observed.registered && policy != ManagementPolicy::Observe;
    SchemaPlan { set_level, drift, register }
}

/// The fields behind the JSON Pointers (`/fields/1/type`) in a registry's reason, named from the Avro schema text
/// they point into: `/fields/1 = qty`. Registries locate a difference by its position; people know fields by name.
pub fn name_avro_paths(text: &str, reason: &str) -> Vec<String> {
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(text) else { return vec![] };
    let mut named = vec![];
    for (at, _) in reason.match_indices("/fields/") {
        let path: String =
            reason[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_')).collect();
        // Walk the pointer, remembering the last field it went through.
        let (mut node, mut field) = (&schema, None);
        let mut walked = String::new();
        for step in path.split('/').skip(1) {
            let next = match node {
                serde_json::Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                serde_json::Value::Object(map) => map.get(step),
                _ => None,
            };
            let Some(next) = next else { break };
            walked.push('/');
            walked.push_str(step);
            if walked.ends_with(&format!("fields/{step}"))
                && let Some(name) = next.get("name").and_then(|n| n.as_str())
            {
                field = Some((walked.clone(), name.to_string()));
            }
            node = next;
        }
        if let Some((pointer, name)) = field {
            let entry = format!("{pointer} = {name}");
            if !named.contains(&entry) {
                named.push(entry);
            }
        }
    }
    named
}

/// The message of a refused change: the registry's reasons, which name the fields, with the level in force.
pub fn refusal(subject: &str, level: CompatibilityLevel, reasons: &[String]) -> Problem {
    let why = if reasons.is_empty() { "the registry gave no reason".to_string() } else { reasons.join("; ") };
    Problem::new(
        "Incompatible",
        format!(
            "the schema is not {} compatible with subject {subject:?}; nothing was registered and the latest version is unchanged: {why}",
            level.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_topic_name_strategy() {
        assert_eq!(topic_subject("orders", SchemaPart::Value), "orders-value");
        assert_eq!(topic_subject("orders.v1", SchemaPart::Key), "orders.v1-key");
    }

    #[test]
    fn texts_are_parsed_in_their_language() {
        let ok = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
        assert!(check_text(SchemaType::Avro, ok, &[], "spec.schema").is_ok());
        let cases = [
            (SchemaType::Avro, r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"strin"}]}"#),
            (SchemaType::Avro, "{not json"),
            (SchemaType::Json, "[1, 2]"),
            (SchemaType::Json, "{\"type\": "),
            (SchemaType::Protobuf, "syntax = \"proto3\"; message Order { string id = }"),
        ];
        for (t, text) in cases {
            let p = check_text(t, text, &[], "spec.schema").unwrap_err();
            assert_eq!(p.reason, "InvalidSchema");
            assert!(p.message.starts_with(&format!("spec.schema is not a valid {} schema: ", t.as_str())), "{p}");
        }
        assert!(check_text(SchemaType::Json, r#"{"type":"object"}"#, &[], "f").is_ok());
        let proto = "syntax = \"proto3\";\npackage acme;\nmessage Order { string id = 1; }";
        assert!(check_text(SchemaType::Protobuf, proto, &[], "f").is_ok());
    }

    #[test]
    fn avro_imports_resolve_against_the_referenced_texts() {
        let address =
            r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}"#;
        let order =
            r#"{"type":"record","name":"Order","namespace":"acme","fields":[{"name":"to","type":"acme.Address"}]}"#;
        assert!(check_text(SchemaType::Avro, order, &[], "spec.schema").is_err());
        assert!(check_text(SchemaType::Avro, order, &[address.to_string()], "spec.schema").is_ok());
    }

    #[test]
    fn reference_loops_are_found_with_their_path() {
        let edges: BTreeMap<String, Vec<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c", "x"]),
            ("c", vec!["a"]),
            ("d", vec!["b"]),
            ("e", vec!["e"]),
            ("f", vec!["g"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(reference_loop("a", &edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
        assert_eq!(reference_loop("e", &edges), Some(vec!["e".into(), "e".into()]));
        // d reaches a loop it is not part of: its own reconcile is not the one to name it.
        assert_eq!(reference_loop("d", &edges), None);
        assert_eq!(reference_loop("f", &edges), None);
    }

    #[test]
    fn plans_keep_the_level_by_policy_and_register_new_texts() {
        use CompatibilityLevel::{Backward, Forward, Full};
        use ManagementPolicy::*;
        let seen = |level: Option<&str>, registered, had_version| ObservedSubject {
            level: level.map(str::to_string),
            registered,
            had_version,
        };
        // (declared, policy, observed) → (set_level, drift, register)
        let table = [
            (Backward, Enforce, seen(None, false, false), (Some(Backward), true, true)),
            (Backward, Enforce, seen(Some("BACKWARD"), true, true), (None, false, false)),
            (Backward, Enforce, seen(Some("NONE"), true, true), (Some(Backward), true, false)),
            (Full, Enforce, seen(Some("full"), false, true), (None, false, true)),
            (Forward, CreateOnly, seen(Some("NONE"), false, false), (Some(Forward), true, true)),
            (Forward, CreateOnly, seen(Some("NONE"), true, true), (None, true, false)),
            (Backward, Observe, seen(Some("NONE"), false, true), (None, true, false)),
            (Backward, Observe, seen(Some("BACKWARD"), true, true), (None, false, false)),
        ];
        for (declared, policy, observed, (set, drifted, register)) in table {
            let p = plan(declared, policy, &observed);
            assert_eq!(p.set_level, set, "{declared:?} {policy:?} {observed:?}");
            assert_eq!(p.drift.is_some(), drifted, "{declared:?} {policy:?} {observed:?}");
            assert_eq!(p.register, register, "{declared:?} {policy:?} {observed:?}");
        }
    }

    #[test]
    fn registry_pointers_are_named_by_field() {
        let text = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},
            {"name":"to","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}}]}"#;
        let reason =
            "reader type: STRING not compatible with writer type: INT at /fields/1/type/fields/0/type; x at /fields/0";
        assert_eq!(name_avro_paths(text, reason), vec!["/fields/1/type/fields/0 = city", "/fields/0 = id"]);
        assert!(name_avro_paths(text, "no pointer here").is_empty());
        assert!(name_avro_paths("{not json", "/fields/0").is_empty());
        assert!(name_avro_paths(text, "/fields/9").is_empty());
    }

    #[test]
    fn a_refusal_carries_the_registry_reasons() {
        let p = refusal("orders-value", CompatibilityLevel::Backward, &["qty at /fields/1".into()]);
        assert_eq!(p.reason, "Incompatible");
        assert!(p.message.contains("BACKWARD") && p.message.contains("qty at /fields/1"), "{p}");
        assert!(refusal("s", CompatibilityLevel::Full, &[]).message.contains("no reason"));
    }
}
