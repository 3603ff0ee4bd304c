use super::*;
use crate::api::access::AclPermission;
use crate::api::common::ManagementPolicy;
use crate::api::kafka_user::{AclRule, AclRuleResource, TransactionalId};
use crate::decisions::drift::{self, DriftSeen};

const P: &str = "User:app";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn group(id: &str, topics: &[&str]) -> ConsumedGroup {
    ConsumedGroup { group_id: id.into(), topics: strings(topics) }
}

fn tx(name: &str, pattern_type: AclPatternType) -> TransactionalId {
    TransactionalId { name: name.into(), pattern_type }
}

fn rule(type_: AclResourceType, name: Option<&str>, pattern_type: AclPatternType, ops: &[AclOperation]) -> AclRule {
    AclRule {
        resource: AclRuleResource { type_, name: name.map(Into::into), pattern_type },
        operations: ops.to_vec(),
        host: "*".into(),
        type_: AclPermission::Allow,
    }
}

/// Bindings as `kafka-acls` prints them, sorted.
fn shown(acls: &BTreeSet<AclBinding>) -> BTreeSet<String> {
    acls.iter().map(ToString::to_string).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn derive_grants_what_the_topology_declares_and_no_more() {
    use AclOperation::{Describe, IdempotentWrite, Read, Write};
    use AclPatternType::{Literal, Prefixed};
    use AclResourceType::{Cluster, Group, Topic};
    let base = KafkaUserSpec::default();
    let not_idempotent = KafkaUserSpec { idempotent: false, ..base.clone() };
    let transactional =
        KafkaUserSpec { transactional_ids: vec![tx("tx-1", Literal), tx("tx-", Prefixed)], ..base.clone() };
    let mut denied = rule(Topic, Some("orders"), Literal, &[Read, Write]);
    denied.host = "10.0.0.1".into();
    denied.type_ = AclPermission::Deny;
    let explicit = KafkaUserSpec {
        acls: vec![
            denied,
            rule(Cluster, None, Literal, &[IdempotentWrite]),
            rule(Group, Some("ops-"), Prefixed, &[Read]),
        ],
        ..base.clone()
    };
    let in_tenant = KafkaUserSpec {
        transactional_ids: vec![tx("tx-", Prefixed)],
        acls: vec![rule(Topic, Some("team-a."), Prefixed, &[Describe])],
        ..base.clone()
    };

    // (spec, produced, consumed, tenancy prefix) → the bindings
    type Row<'a> = (&'a KafkaUserSpec, Vec<String>, Vec<ConsumedGroup>, Option<&'a str>, Vec<&'a str>);
    let table: Vec<Row<'_>> = vec![
        // Nothing declared: a credential with no rights.
        (&base, vec![], vec![], None, vec![]),
        // A producer: Write and Describe on its topics, and IdempotentWrite on the cluster.
        (
            &base,
            strings(&["orders"]),
            vec![],
            None,
            vec![
                "Allow User:app Write on Topic:orders from *",
                "Allow User:app Describe on Topic:orders from *",
                "Allow User:app IdempotentWrite on Cluster:kafka-cluster from *",
            ],
        ),
        // Not idempotent: no cluster right at all.
        (
            &not_idempotent,
            strings(&["orders"]),
            vec![],
            None,
            vec!["Allow User:app Write on Topic:orders from *", "Allow User:app Describe on Topic:orders from *"],
        ),
        // Idempotent but producing nothing: IdempotentWrite is not needed.
        (&base, vec![], vec![], None, vec![]),
        // Transactional ids, literal and prefixed.
        (
            &transactional,
            vec![],
            vec![],
            None,
            vec![
                "Allow User:app Write on TransactionalId:tx-1 from *",
                "Allow User:app Describe on TransactionalId:tx-1 from *",
                "Allow User:app Write on TransactionalId:tx- (prefix) from *",
                "Allow User:app Describe on TransactionalId:tx- (prefix) from *",
            ],
        ),
        // Under tenancy transactional ids are names inside the prefix.
        (
            &transactional,
            vec![],
            vec![],
            Some("team-a."),
            vec![
                "Allow User:app Write on TransactionalId:team-a.tx-1 from *",
                "Allow User:app Describe on TransactionalId:team-a.tx-1 from *",
                "Allow User:app Write on TransactionalId:team-a.tx- (prefix) from *",
                "Allow User:app Describe on TransactionalId:team-a.tx- (prefix) from *",
            ],
        ),
        // A consumer: Read on the group, Read and Describe on each of its topics.
        (
            &base,
            vec![],
            vec![group("billing", &["orders", "payments"])],
            None,
            vec![
                "Allow User:app Read on Group:billing from *",
                "Allow User:app Read on Topic:orders from *",
                "Allow User:app Describe on Topic:orders from *",
                "Allow User:app Read on Topic:payments from *",
                "Allow User:app Describe on Topic:payments from *",
            ],
        ),
        // Producing and consuming one topic: the union, each binding once.
        (
            &not_idempotent,
            strings(&["orders"]),
            vec![group("billing", &["orders"])],
            None,
            vec![
                "Allow User:app Write on Topic:orders from *",
                "Allow User:app Describe on Topic:orders from *",
                "Allow User:app Read on Topic:orders from *",
                "Allow User:app Read on Group:billing from *",
            ],
        ),
        // Explicit rules: one binding per operation, host and permission as written, the cluster by its name.
        (
            &explicit,
            vec![],
            vec![],
            None,
            vec![
                "Deny User:app Read on Topic:orders from 10.0.0.1",
                "Deny User:app Write on Topic:orders from 10.0.0.1",
                "Allow User:app IdempotentWrite on Cluster:kafka-cluster from *",
                "Allow User:app Read on Group:ops- (prefix) from *",
            ],
        ),
        // Everything inside the tenant's prefix.
        (
            &in_tenant,
            strings(&["team-a.orders"]),
            vec![group("team-a.billing", &["team-a.payments"])],
            Some("team-a."),
            vec![
                "Allow User:app Write on Topic:team-a.orders from *",
                "Allow User:app Describe on Topic:team-a.orders from *",
                "Allow User:app IdempotentWrite on Cluster:kafka-cluster from *",
                "Allow User:app Write on TransactionalId:team-a.tx- (prefix) from *",
                "Allow User:app Describe on TransactionalId:team-a.tx- (prefix) from *",
                "Allow User:app Read on Group:team-a.billing from *",
                "Allow User:app Read on Topic:team-a.payments from *",
                "Allow User:app Describe on Topic:team-a.payments from *",
                "Allow User:app Describe on Topic:team-a. (prefix) from *",
            ],
        ),
    ];
    for (i, (spec, produced, consumed, prefix, want)) in table.into_iter().enumerate() {
        let got = derive(spec, P, &produced, &consumed, prefix).unwrap_or_else(|p| panic!("row {i}: {p}"));
        assert_eq!(shown(&got), set(&want), "row {i}");
    }
}

#[test]
fn derive_refuses_what_it_cannot_confine_or_grant() {
    use AclOperation::{Describe, Read};
    use AclPatternType::{Literal, Prefixed};
    use AclResourceType::{Cluster, Group, Topic};
    let base = KafkaUserSpec::default();
    let with = |acl: AclRule| KafkaUserSpec { acls: vec![acl], ..base.clone() };
    let wildcard = with(rule(Topic, Some("*"), Literal, &[Read]));
    let other_tenant = with(rule(Topic, Some("team-b."), Prefixed, &[Read]));
    let wider = with(rule(Topic, Some("team-"), Prefixed, &[Read]));
    let cluster = with(rule(Cluster, None, Literal, &[Describe]));
    let nameless = with(rule(Group, None, Literal, &[Read]));
    let pre = Some("team-a.");

    // (spec, produced, consumed, prefix) → (reason, the field named)
    type Row<'a> = (&'a KafkaUserSpec, Vec<String>, Vec<ConsumedGroup>, Option<&'a str>, (&'a str, &'a str));
    let table: Vec<Row<'_>> = vec![
        (&base, strings(&["team-a.orders", "orders"]), vec![], pre, ("AclOutsideTenancy", "spec.produces[1]")),
        (&base, vec![], vec![group("billing", &["team-a.orders"])], pre, ("AclOutsideTenancy", "spec.consumes[0]")),
        (
            &base,
            vec![],
            vec![group("team-a.x", &["team-a.o"]), group("team-a.billing", &["team-b.orders"])],
            pre,
            ("AclOutsideTenancy", "spec.consumes[1]"),
        ),
        (&wildcard, vec![], vec![], pre, ("AclOutsideTenancy", "spec.acls[0]")),
        (&other_tenant, vec![], vec![], pre, ("AclOutsideTenancy", "spec.acls[0]")),
        (&wider, vec![], vec![], pre, ("AclOutsideTenancy", "spec.acls[0]")),
        (&cluster, vec![], vec![], pre, ("AclOutsideTenancy", "spec.acls[0]")),
        (&base, vec![], vec![group("billing", &[])], None, ("ConsumerGroupWithoutTopics", "spec.consumes[0]")),
        (&nameless, vec![], vec![], None, ("InvalidAcl", "spec.acls[0]")),
    ];
    for (i, (spec, produced, consumed, prefix, (reason, field))) in table.into_iter().enumerate() {
        let p = derive(spec, P, &produced, &consumed, prefix).expect_err(&format!("row {i} must be refused"));
        assert_eq!(p.reason, reason, "row {i}: {p}");
        assert!(p.message.starts_with(field), "row {i}: {p}");
    }
    // Without tenancy the same explicit rules are granted as written.
    for spec in [&wildcard, &other_tenant, &wider, &cluster] {
        assert!(derive(spec, P, &[], &[], None).is_ok());
    }
}

#[test]
fn resolve_names_every_missing_reference() {
    let found: BTreeMap<String, Option<String>> = [
        ("orders".to_string(), Some("team-a.orders".to_string())),
        ("payments".to_string(), Some("payments-v2".to_string())),
        ("refunds".to_string(), None),
    ]
    .into();
    // (reference, names) → resolved values, or the problem's message
    type Row<'a> = (Reference, Vec<String>, Result<Vec<&'a str>, &'a str>);
    let table: Vec<Row<'_>> = vec![
        (Reference::Produces, vec![], Ok(vec![])),
        (Reference::Produces, strings(&["payments", "orders"]), Ok(vec!["payments-v2", "team-a.orders"])),
        (
            Reference::Produces,
            strings(&["orders", "refunds"]),
            Err(r#"spec.produces[1] (Topic "refunds") not found in namespace "team-a""#),
        ),
        (
            Reference::Consumes,
            strings(&["ghost", "orders", "refunds"]),
            Err(
                r#"spec.consumes[0] (ConsumerGroup "ghost"), spec.consumes[2] (ConsumerGroup "refunds") not found in namespace "team-a""#,
            ),
        ),
    ];
    for (i, (reference, names, want)) in table.into_iter().enumerate() {
        let got = resolve(reference, "team-a", &names, &found);
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, strings(&want), "row {i}"),
            (Err(p), Err(message)) => {
                assert_eq!(p.reason, "ReferenceNotFound", "row {i}");
                assert_eq!(p.message, message, "row {i}");
            }
            (got, want) => panic!("row {i}: got {got:?}, want {want:?}"),
        }
    }
}

fn b(topic: &str, op: AclOperation) -> AclBinding {
    AclBinding::allow(P, AclResourceType::Topic, topic, AclPatternType::Literal, op)
}

fn bs(v: &[&AclBinding]) -> BTreeSet<AclBinding> {
    v.iter().map(|b| (*b).clone()).collect()
}

#[test]
fn plan_creates_the_missing_and_deletes_the_undeclared() {
    let read = b("orders", AclOperation::Read);
    let write = b("orders", AclOperation::Write);
    let from_host = AclBinding { host: "10.0.0.1".into(), ..read.clone() };
    // (desired, observed) → (create, delete)
    type Row = (BTreeSet<AclBinding>, BTreeSet<AclBinding>, (BTreeSet<AclBinding>, BTreeSet<AclBinding>));
    let table: Vec<Row> = vec![
        (bs(&[]), bs(&[]), (bs(&[]), bs(&[]))),
        (bs(&[&read, &write]), bs(&[&read, &write]), (bs(&[]), bs(&[]))),
        (bs(&[&read, &write]), bs(&[&read]), (bs(&[&write]), bs(&[]))),
        (bs(&[&read]), bs(&[&read, &write]), (bs(&[]), bs(&[&write]))),
        (bs(&[&read]), bs(&[&write]), (bs(&[&read]), bs(&[&write]))),
        // The same operation from another host is another binding.
        (bs(&[&read]), bs(&[&from_host]), (bs(&[&read]), bs(&[&from_host]))),
        (bs(&[]), bs(&[&read]), (bs(&[]), bs(&[&read]))),
    ];
    for (i, (desired, observed, (create, delete))) in table.into_iter().enumerate() {
        let p = plan(&desired, &observed);
        assert_eq!((&p.create, &p.delete), (&create, &delete), "row {i}");
        assert_eq!(p.is_empty(), create.is_empty() && delete.is_empty(), "row {i}");
    }
}

#[test]
fn drift_is_what_changed_behind_tributarys_back_not_the_spec() {
    let read = b("orders", AclOperation::Read);
    let write = b("orders", AclOperation::Write);
    let sneaky = b("payments", AclOperation::Read);
    let added = |b: &AclBinding| AclDrift { change: AclChange::Added, acl: b.clone() };
    let removed = |b: &AclBinding| AclDrift { change: AclChange::Removed, acl: b.clone() };
    // (desired, observed, in force) → drift
    type Row = (BTreeSet<AclBinding>, BTreeSet<AclBinding>, BTreeSet<AclBinding>, Vec<AclDrift>);
    let table: Vec<Row> = vec![
        // First reconcile: everything is new, nothing drifted.
        (bs(&[&read, &write]), bs(&[]), bs(&[]), vec![]),
        // In sync.
        (bs(&[&read]), bs(&[&read]), bs(&[&read]), vec![]),
        // A binding someone added.
        (bs(&[&read]), bs(&[&read, &sneaky]), bs(&[&read]), vec![added(&sneaky)]),
        // A binding someone removed.
        (bs(&[&read, &write]), bs(&[&read]), bs(&[&read, &write]), vec![removed(&write)]),
        // The spec dropped a binding, or added one: not drift.
        (bs(&[&read]), bs(&[&read, &write]), bs(&[&read, &write]), vec![]),
        (bs(&[&read, &write]), bs(&[&read]), bs(&[&read]), vec![]),
        // Both at once, listed added first.
        (bs(&[&read, &write]), bs(&[&read, &sneaky]), bs(&[&read, &write]), vec![added(&sneaky), removed(&write)]),
    ];
    for (i, (desired, observed, in_force, want)) in table.into_iter().enumerate() {
        assert_eq!(drift(&plan(&desired, &observed), &in_force), want, "row {i}");
    }
}

#[test]
fn acl_drift_reports_like_topic_drift() {
    let found = [
        AclDrift { change: AclChange::Added, acl: b("payments", AclOperation::Read) },
        AclDrift { change: AclChange::Removed, acl: b("orders", AclOperation::Write) },
    ];
    let seen = DriftSeen {
        policy: ManagementPolicy::Enforce,
        found: &found[..],
        corrected: true,
        previous: None,
        spec_changed: false,
        now_ms: 7,
    };
    let r = drift::report(seen);
    assert_eq!((r.drifted, r.reason, r.corrected_at_ms), (false, "DriftCorrected", Some(7)));
    assert_eq!(r.drift, found);
    assert_eq!(
        r.message,
        "Kafka had Allow User:app Read on Topic:payments from * (not declared), no Allow User:app Write on \
         Topic:orders from *; set back to the spec (Allow User:app Read on Topic:payments from * deleted, Allow \
         User:app Write on Topic:orders from * created; see status.driftCorrectedTime)"
    );
    assert_eq!(
        correction_note(&found),
        "ACLs corrected: Allow User:app Read on Topic:payments from * deleted, Allow User:app Write on \
         Topic:orders from * created"
    );
    let kept =
        drift::report(DriftSeen { found: &[], corrected: false, previous: Some((&found[..], 7)), now_ms: 9, ..seen });
    assert_eq!((kept.reason, kept.drift.len(), kept.corrected_at_ms), ("DriftCorrected", 2, Some(7)));
}
