//! ACL admin over the wire client: DescribeAcls, CreateAcls and DeleteAcls, in the vocabulary of
//! [`crate::api::access`]. librdkafka has these calls but rust-rdkafka's safe API does not; keeping every access call
//! here puts them in one place, with one connection code for PLAIN, SCRAM and TLS.
//!
//! **Version 2** of all three: the first flexible one (Kafka 2.4), and every Kafka 3.x and 4.x broker serves it
//! (Kafka 4.0 dropped version 0 alone). Version 3 (Kafka 3.3) only adds the `User` resource type of delegation
//! tokens, which Tributary neither writes nor reads. On KRaft, a broker forwards CreateAcls and DeleteAcls to the
//! active controller and answers DescribeAcls from its own metadata image.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{call, check};
use crate::api::access::{AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType};
use crate::kafka::error::KafkaError;
use crate::kafka::settings::ClientSettings;

/// The version of DescribeAcls, CreateAcls and DeleteAcls sent (see the module's doc).
const VERSION: i16 = 2;

// Kafka's codes (`org.apache.kafka.common.resource.ResourceType`, `PatternType`, `acl.AclOperation`,
// `acl.AclPermissionType`); `ANY` (1) is a filter value that matches every value.
const ANY: i8 = 1;

fn resource_type_code(t: AclResourceType) -> i8 {
    match t {
        AclResourceType::Topic => 2,
        AclResourceType::Group => 3,
        AclResourceType::Cluster => 4,
        AclResourceType::TransactionalId => 5,
    }
}

fn pattern_type_code(p: AclPatternType) -> i8 {
    match p {
        AclPatternType::Literal => 3,
        AclPatternType::Prefixed => 4,
    }
}

fn operation_code(o: AclOperation) -> i8 {
    match o {
        AclOperation::All => 2,
        AclOperation::Read => 3,
        AclOperation::Write => 4,
        AclOperation::Create => 5,
        AclOperation::Delete => 6,
        AclOperation::Alter => 7,
        AclOperation::Describe => 8,
        AclOperation::ClusterAction => 9,
        AclOperation::DescribeConfigs => 10,
        AclOperation::AlterConfigs => 11,
        AclOperation::IdempotentWrite => 12,
    }
}

fn permission_code(p: AclPermission) -> i8 {
    match p {
        AclPermission::Deny => 2,
        AclPermission::Allow => 3,
    }
}

/// The value of `code` among `values`, by `to_code`: `None` for a code Tributary has no word for.
fn from_code<T: Copy>(code: i8, values: &[T], to_code: fn(T) -> i8) -> Option<T> {
    values.iter().copied().find(|v| to_code(*v) == code)
}

const RESOURCE_TYPES: [AclResourceType; 4] =
    [AclResourceType::Topic, AclResourceType::Group, AclResourceType::Cluster, AclResourceType::TransactionalId];
const PATTERN_TYPES: [AclPatternType; 2] = [AclPatternType::Literal, AclPatternType::Prefixed];
const OPERATIONS: [AclOperation; 11] = [
    AclOperation::All,
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
];
const PERMISSIONS: [AclPermission; 2] = [AclPermission::Allow, AclPermission::Deny];

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Every ACL binding of `principal` (`User:<name>`), on any resource, of any pattern type.
pub async fn describe_acls(settings: &ClientSettings, principal: &str) -> Result<Vec<AclBinding>, KafkaError> {
    let response = call(settings, &describe_acls_request(principal), VERSION).await?;
    describe_acls_answer(response)
}

fn describe_acls_request(principal: &str) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(ANY)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(ANY)
        .with_principal_filter(Some(text(principal)))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// The bindings of a DescribeAcls answer, sorted. A binding Tributary has no word for (the `User` resource type of
/// delegation tokens, an operation such as `CreateTokens`) is left out, with a debug log: it is not Tributary's.
fn describe_acls_answer(response: DescribeAclsResponse) -> Result<Vec<AclBinding>, KafkaError> {
    check(response.error_code, response.error_message.as_ref())?;
    let mut bindings = vec![];
    for r in &response.resources {
        let resource = from_code(r.resource_type, &RESOURCE_TYPES, resource_type_code);
        let pattern = from_code(r.pattern_type, &PATTERN_TYPES, pattern_type_code);
        for acl in &r.acls {
            let operation = from_code(acl.operation, &OPERATIONS, operation_code);
            let permission = from_code(acl.permission_type, &PERMISSIONS, permission_code);
            match (resource, pattern, operation, permission) {
                (Some(resource_type), Some(pattern_type), Some(operation), Some(permission)) => {
                    bindings.push(AclBinding {
                        resource_type,
                        name: r.resource_name.as_str().to_string(),
                        pattern_type,
                        principal: acl.principal.as_str().to_string(),
                        host: acl.host.as_str().to_string(),
                        operation,
                        permission,
                    })
                }
                _ => tracing::debug!(
                    resource_type = r.resource_type,
                    resource = r.resource_name.as_str(),
                    pattern_type = r.pattern_type,
                    operation = acl.operation,
                    permission = acl.permission_type,
                    "left out an ACL binding Tributary has no words for"
                ),
            }
        }
    }
    bindings.sort();
    Ok(bindings)
}

/// Creates the bindings; one answer per binding, in order (creating a binding that exists already succeeds).
pub async fn create_acls(
    settings: &ClientSettings,
    bindings: &[AclBinding],
) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
    if bindings.is_empty() {
        return Ok(vec![]);
    }
    let response = call(settings, &create_acls_request(bindings), VERSION).await?;
    create_acls_answer(bindings.len(), response)
}

fn create_acls_request(bindings: &[AclBinding]) -> CreateAclsRequest {
    let creations = bindings
        .iter()
        .map(|b| {
            AclCreation::default()
                .with_resource_type(resource_type_code(b.resource_type))
                .with_resource_name(text(&b.name))
                .with_resource_pattern_type(pattern_type_code(b.pattern_type))
                .with_principal(text(&b.principal))
                .with_host(text(&b.host))
                .with_operation(operation_code(b.operation))
                .with_permission_type(permission_code(b.permission))
        })
        .collect();
    CreateAclsRequest::default().with_creations(creations)
}

fn create_acls_answer(asked: usize, response: CreateAclsResponse) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
    if response.results.len() != asked {
        return Err(KafkaError::Protocol(format!("{} answers to {asked} ACL creations", response.results.len())));
    }
    Ok(response.results.iter().map(|r| check(r.error_code, r.error_message.as_ref())).collect())
}

/// Deletes exactly these bindings (each filter matches one binding, every field exact); one answer per binding, in
/// order. Deleting a binding that does not exist succeeds.
pub async fn delete_acls(
    settings: &ClientSettings,
    bindings: &[AclBinding],
) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
    if bindings.is_empty() {
        return Ok(vec![]);
    }
    let response = call(settings, &delete_acls_request(bindings), VERSION).await?;
    delete_acls_answer(bindings.len(), response)
}

fn delete_acls_request(bindings: &[AclBinding]) -> DeleteAclsRequest {
    let filters = bindings
        .iter()
        .map(|b| {
            // LITERAL and PREFIXED match only bindings of that pattern type with that very name (MATCH would also
            // take the prefixed bindings that cover the name).
            DeleteAclsFilter::default()
                .with_resource_type_filter(resource_type_code(b.resource_type))
                .with_resource_name_filter(Some(text(&b.name)))
                .with_pattern_type_filter(pattern_type_code(b.pattern_type))
                .with_principal_filter(Some(text(&b.principal)))
                .with_host_filter(Some(text(&b.host)))
                .with_operation(operation_code(b.operation))
                .with_permission_type(permission_code(b.permission))
        })
        .collect();
    DeleteAclsRequest::default().with_filters(filters)
}

fn delete_acls_answer(asked: usize, response: DeleteAclsResponse) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
    if response.filter_results.len() != asked {
        return Err(KafkaError::Protocol(format!(
            "{} answers to {asked} ACL deletions",
            response.filter_results.len()
        )));
    }
    Ok(response
        .filter_results
        .iter()
        .map(|r| {
            check(r.error_code, r.error_message.as_ref())?;
            r.matching_acls.iter().try_for_each(|m| check(m.error_code, m.error_message.as_ref()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_acls_response::AclCreationResult;
    use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
    use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};

    use super::*;

    fn billing_write() -> AclBinding {
        AclBinding::allow(
            "User:billing",
            AclResourceType::Topic,
            "orders",
            AclPatternType::Literal,
            AclOperation::Write,
        )
    }

    fn billing_group() -> AclBinding {
        AclBinding {
            permission: AclPermission::Deny,
            ..AclBinding::allow(
                "User:billing",
                AclResourceType::Group,
                "billing-",
                AclPatternType::Prefixed,
                AclOperation::Read,
            )
        }
    }

    #[test]
    fn codes_are_kafkas_and_each_maps_back() {
        assert_eq!(resource_type_code(AclResourceType::Topic), 2);
        assert_eq!(resource_type_code(AclResourceType::TransactionalId), 5);
        assert_eq!(pattern_type_code(AclPatternType::Prefixed), 4);
        assert_eq!(operation_code(AclOperation::IdempotentWrite), 12);
        assert_eq!(operation_code(AclOperation::Describe), 8);
        assert_eq!(permission_code(AclPermission::Allow), 3);
        for t in RESOURCE_TYPES {
            assert_eq!(from_code(resource_type_code(t), &RESOURCE_TYPES, resource_type_code), Some(t));
        }
        for o in OPERATIONS {
            assert_eq!(from_code(operation_code(o), &OPERATIONS, operation_code), Some(o));
        }
        // 13 is CreateTokens, 7 the User resource type: no words for them.
        assert_eq!(from_code(13, &OPERATIONS, operation_code), None);
        assert_eq!(from_code(7, &RESOURCE_TYPES, resource_type_code), None);
    }

    #[test]
    fn describe_asks_for_every_binding_of_the_principal() {
        let r = describe_acls_request("User:billing");
        assert_eq!(r.principal_filter.as_ref().map(|p| p.as_str()), Some("User:billing"));
        assert_eq!((r.resource_type_filter, r.pattern_type_filter, r.operation, r.permission_type), (1, 1, 1, 1));
        assert_eq!((r.resource_name_filter, r.host_filter), (None, None));
    }

    #[test]
    fn a_describe_answer_becomes_sorted_bindings_without_the_foreign_ones() {
        let acl = |op: i8, perm: i8| {
            AclDescription::default()
                .with_principal(text("User:billing"))
                .with_host(text("*"))
                .with_operation(op)
                .with_permission_type(perm)
        };
        let response = DescribeAclsResponse::default().with_resources(vec![
            DescribeAclsResource::default()
                .with_resource_type(3)
                .with_resource_name(text("billing-"))
                .with_pattern_type(4)
                .with_acls(vec![acl(3, 2)]),
            DescribeAclsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("orders"))
                .with_pattern_type(3)
                .with_acls(vec![acl(4, 3), acl(13, 3)]),
            DescribeAclsResource::default()
                .with_resource_type(7)
                .with_resource_name(text("someone"))
                .with_pattern_type(3)
                .with_acls(vec![acl(13, 3)]),
        ]);
        assert_eq!(describe_acls_answer(response).unwrap(), vec![billing_write(), billing_group()]);
    }

    #[test]
    fn a_describe_error_is_the_calls_error() {
        let no_authorizer = DescribeAclsResponse::default().with_error_code(54);
        let e = describe_acls_answer(no_authorizer).unwrap_err();
        assert!(matches!(&e, KafkaError::Invalid(m) if m.contains("no authorizer")), "{e:?}");
        let denied = DescribeAclsResponse::default()
            .with_error_code(31)
            .with_error_message(Some(text("Cluster authorization failed.")));
        let e = describe_acls_answer(denied).unwrap_err();
        assert!(matches!(&e, KafkaError::Authorization(m) if m.contains("Cluster authorization failed")), "{e:?}");
    }

    #[test]
    fn create_sends_each_binding_and_answers_each() {
        let r = create_acls_request(&[billing_write(), billing_group()]);
        let c = &r.creations[1];
        assert_eq!((c.resource_type, c.resource_pattern_type, c.operation, c.permission_type), (3, 4, 3, 2));
        assert_eq!(
            (c.resource_name.as_str(), c.principal.as_str(), c.host.as_str()),
            ("billing-", "User:billing", "*")
        );
        assert_eq!(r.creations[0].operation, 4);

        let response = CreateAclsResponse::default()
            .with_results(vec![AclCreationResult::default(), AclCreationResult::default().with_error_code(31)]);
        let answers = create_acls_answer(2, response.clone()).unwrap();
        assert!(answers[0].is_ok());
        assert!(matches!(answers[1], Err(KafkaError::Authorization(_))), "{answers:?}");
        assert!(matches!(create_acls_answer(3, response), Err(KafkaError::Protocol(_))));
    }

    #[test]
    fn delete_filters_match_exactly_one_binding() {
        let r = delete_acls_request(&[billing_group()]);
        let f = &r.filters[0];
        assert_eq!((f.resource_type_filter, f.pattern_type_filter, f.operation, f.permission_type), (3, 4, 3, 2));
        assert_eq!(f.resource_name_filter.as_ref().map(|s| s.as_str()), Some("billing-"));
        assert_eq!(f.principal_filter.as_ref().map(|s| s.as_str()), Some("User:billing"));
        assert_eq!(f.host_filter.as_ref().map(|s| s.as_str()), Some("*"));
    }

    #[test]
    fn delete_answers_each_binding_with_its_filters_and_matches_errors() {
        let response = DeleteAclsResponse::default().with_filter_results(vec![
            // Deleted one binding; matched nothing (already gone); refused; one match failed.
            DeleteAclsFilterResult::default().with_matching_acls(vec![DeleteAclsMatchingAcl::default()]),
            DeleteAclsFilterResult::default(),
            DeleteAclsFilterResult::default().with_error_code(54),
            DeleteAclsFilterResult::default().with_matching_acls(vec![
                DeleteAclsMatchingAcl::default().with_error_code(42).with_error_message(Some(text("bad binding"))),
            ]),
        ]);
        let answers = delete_acls_answer(4, response.clone()).unwrap();
        assert!(answers[0].is_ok() && answers[1].is_ok());
        assert!(matches!(&answers[2], Err(KafkaError::Invalid(m)) if m.contains("no authorizer")), "{answers:?}");
        assert!(matches!(&answers[3], Err(KafkaError::Invalid(m)) if m.contains("bad binding")), "{answers:?}");
        assert!(matches!(delete_acls_answer(1, response), Err(KafkaError::Protocol(_))));
    }

    /// The requests encode at the version sent and decode back the same (the crate refuses a field the version lacks).
    #[test]
    fn the_requests_round_trip_at_the_version_sent() {
        use kafka_protocol::protocol::{Decodable, Encodable};
        fn round_trip<R: Encodable + Decodable + PartialEq + std::fmt::Debug>(r: R) {
            let mut buf = bytes::BytesMut::new();
            r.encode(&mut buf, VERSION).unwrap();
            assert_eq!(R::decode(&mut buf.freeze(), VERSION).unwrap(), r);
        }
        round_trip(describe_acls_request("User:billing"));
        round_trip(create_acls_request(&[billing_write(), billing_group()]));
        round_trip(delete_acls_request(&[billing_write(), billing_group()]));
    }

    #[tokio::test]
    async fn nothing_to_create_or_delete_asks_nothing() {
        // No server at all: an empty change must not open a connection.
        let settings = ClientSettings::new(&[]);
        assert!(create_acls(&settings, &[]).await.unwrap().is_empty());
        assert!(delete_acls(&settings, &[]).await.unwrap().is_empty());
    }
}
