//! The requests of the lag tick over the wire client, each carrying many groups or partitions to one broker:
//! Metadata (partition leaders and broker addresses), FindCoordinator v4 (many group ids in one request), OffsetFetch
//! v8 (many groups in one request, KIP-709), DescribeGroups v5 and ListOffsets v6 (every partition a broker leads).
//!
//! Unlike the rare admin calls of this module's parent, the tick runs every second: a [`BrokerPool`] keeps one
//! authenticated connection per broker open between ticks and sends one request per broker concurrently.
//!
//! OffsetFetch v8 and FindCoordinator v4 came with Kafka 3.0; every other version here is older.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorResponse, GroupId, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::{Connection, topic_name};
use crate::decisions::lag::TopicPartition;
use crate::kafka::error::KafkaError;
use crate::kafka::settings::ClientSettings;

const METADATA_VERSION: i16 = 9;
const FIND_COORDINATOR_VERSION: i16 = 4;
const OFFSET_FETCH_VERSION: i16 = 8;
const DESCRIBE_GROUPS_VERSION: i16 = 5;
const LIST_OFFSETS_VERSION: i16 = 6;

/// How long one tick request may take before its connection is dropped.
const TICK_TIMEOUT: Duration = Duration::from_secs(10);

/// The node id under which the bootstrap connection is kept (no broker has a negative id).
const BOOTSTRAP: i32 = -1;

/// ListOffsets timestamps: the end (last stable offset when read committed) and the log start.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

/// One open connection per broker, kept between ticks; a connection that failed is dropped and opened again on
/// the next request to that broker.
pub struct BrokerPool {
    settings: ClientSettings,
    addresses: BTreeMap<i32, String>,
    connections: HashMap<i32, Connection>,
}

impl BrokerPool {
    pub fn new(settings: ClientSettings) -> BrokerPool {
        BrokerPool { settings, addresses: BTreeMap::new(), connections: HashMap::new() }
    }

    /// The brokers' addresses (from Metadata); connections to brokers that left or moved are closed.
    pub fn set_brokers(&mut self, addresses: BTreeMap<i32, String>) {
        self.connections.retain(|node, _| *node == BOOTSTRAP || addresses.get(node) == self.addresses.get(node));
        self.addresses = addresses;
    }

    /// Sends one request to each node given, concurrently; an answer per node, in the order given. A node whose
    /// address is not known is unreachable.
    async fn send_each<R: Request + Send + Sync>(
        &mut self,
        requests: Vec<(i32, R)>,
        version: i16,
    ) -> Vec<(i32, Result<R::Response, KafkaError>)>
    where
        R::Response: Send,
    {
        let settings = &self.settings;
        let work: Vec<_> = requests
            .into_iter()
            .map(|(node, request)| {
                let conn = self.connections.remove(&node);
                let address = self.addresses.get(&node).cloned();
                async move {
                    let answer = tokio::time::timeout(TICK_TIMEOUT, async {
                        let mut conn = match (conn, node, address) {
                            (Some(c), _, _) => c,
                            (None, BOOTSTRAP, _) => Connection::open(settings).await?,
                            (None, _, Some(a)) => Connection::connect(settings, &a).await?,
                            (None, _, None) => {
                                return Err(KafkaError::Unreachable(format!("broker {node} has no known address")));
                            }
                        };
                        let response = conn.send(&request, version).await?;
                        Ok((conn, response))
                    })
                    .await
                    .unwrap_or(Err(KafkaError::Timeout));
                    (node, answer)
                }
            })
            .collect();
        let mut out = vec![];
        for (node, answer) in futures::future::join_all(work).await {
            match answer {
                Ok((conn, response)) => {
                    self.connections.insert(node, conn);
                    out.push((node, Ok(response)));
                }
                Err(e) => out.push((node, Err(e))),
            }
        }
        out
    }

    async fn send_one<R: Request + Clone + Send + Sync>(
        &mut self,
        request: R,
        version: i16,
    ) -> Result<R::Response, KafkaError>
    where
        R::Response: Send,
    {
        // A broker that stopped answering must not take the whole tick with it: the next one is tried.
        let mut last = Err(KafkaError::Protocol("no broker to ask".into()));
        for node in cluster_request_nodes(self.connections.keys().copied(), &self.addresses) {
            let mut answers = self.send_each(vec![(node, request.clone())], version).await;
            last = match answers.pop() {
                Some((_, answer)) => answer,
                None => Err(KafkaError::Protocol("no answer".into())),
            };
            if last.is_ok() {
                break;
            }
        }
        last
    }
}

/// At most this many brokers are tried in turn for a cluster-wide request (each may take [`TICK_TIMEOUT`]).
const CLUSTER_REQUEST_TRIES: usize = 3;

/// The nodes to try, in turn, for a request any broker can answer: those already connected (lowest id first),
/// then the other known brokers, then the bootstrap servers; at most [`CLUSTER_REQUEST_TRIES`].
fn cluster_request_nodes(connected: impl Iterator<Item = i32>, addresses: &BTreeMap<i32, String>) -> Vec<i32> {
    let connected: BTreeSet<i32> = connected.filter(|n| *n != BOOTSTRAP && addresses.contains_key(n)).collect();
    let others = addresses.keys().copied().filter(|n| !connected.contains(n));
    let mut nodes: Vec<i32> = connected.iter().copied().chain(others).take(CLUSTER_REQUEST_TRIES - 1).collect();
    nodes.push(BOOTSTRAP);
    nodes
}

/// The cluster as Metadata describes it for some topics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaders {
    /// `host:port` of each broker.
    pub brokers: BTreeMap<i32, String>,
    /// Per topic asked: the leader of each partition (`-1`: none), or Kafka's error code (3: no such topic).
    pub topics: BTreeMap<String, Result<BTreeMap<i32, i32>, i16>>,
}

/// One Metadata request for these topics (never creating one).
pub async fn metadata(pool: &mut BrokerPool, topics: &[String]) -> Result<Leaders, KafkaError> {
    let request = MetadataRequest::default()
        .with_topics(Some(
            topics.iter().map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t)))).collect(),
        ))
        .with_allow_auto_topic_creation(false);
    let response = pool.send_one(request, METADATA_VERSION).await?;
    let leaders = metadata_answer(response);
    pool.set_brokers(leaders.brokers.clone());
    Ok(leaders)
}

fn metadata_answer(response: MetadataResponse) -> Leaders {
    let brokers = response.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect();
    let topics = response
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.as_str().to_string();
            let answer = match t.error_code {
                0 => Ok(t.partitions.iter().map(|p| (p.partition_index, p.leader_id.0)).collect()),
                code => Err(code),
            };
            Some((name, answer))
        })
        .collect();
    Leaders { brokers, topics }
}

/// FindCoordinator for many groups in one request: each group's coordinator node, or Kafka's error code.
pub async fn find_coordinators(
    pool: &mut BrokerPool,
    groups: &[String],
) -> Result<BTreeMap<String, Result<i32, i16>>, KafkaError> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(groups.iter().map(|g| StrBytes::from_string(g.clone())).collect());
    let response = pool.send_one(request, FIND_COORDINATOR_VERSION).await?;
    let (answers, addresses) = coordinators_answer(&response);
    // A coordinator is a broker; learn its address in case Metadata did not list it yet.
    let mut known = pool.addresses.clone();
    for (node, address) in addresses {
        known.entry(node).or_insert(address);
    }
    pool.set_brokers(known);
    Ok(answers)
}

type CoordinatorAnswers = (BTreeMap<String, Result<i32, i16>>, Vec<(i32, String)>);

fn coordinators_answer(response: &FindCoordinatorResponse) -> CoordinatorAnswers {
    let mut answers = BTreeMap::new();
    let mut addresses = vec![];
    for c in &response.coordinators {
        let answer = match c.error_code {
            0 => {
                addresses.push((c.node_id.0, format!("{}:{}", c.host.as_str(), c.port)));
                Ok(c.node_id.0)
            }
            code => Err(code),
        };
        answers.insert(c.key.as_str().to_string(), answer);
    }
    (answers, addresses)
}

/// A group's committed offsets as its coordinator answered (`error_code` 0), or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupOffsets {
    pub error_code: i16,
    /// Only partitions with a committed offset.
    pub committed: BTreeMap<TopicPartition, i64>,
}

/// A group's state and member count as DescribeGroups answers (`None` when Kafka does not know the group), or
/// Kafka's error code.
pub type GroupState = Result<Option<(String, i32)>, i16>;

/// Per node asked: every group's (or partition's) answer, or the request's failure.
pub type PerNode<K, T> = Vec<(i32, Result<BTreeMap<K, T>, KafkaError>)>;

/// OffsetFetch v8: every committed offset of each group (all topics), one request per coordinator for all its
/// groups.
pub async fn offset_fetch(
    pool: &mut BrokerPool,
    by_coordinator: &BTreeMap<i32, Vec<String>>,
) -> PerNode<String, GroupOffsets> {
    let requests = by_coordinator
        .iter()
        .map(|(node, groups)| {
            let groups = groups
                .iter()
                .map(|g| OffsetFetchRequestGroup::default().with_group_id(group_id(g)).with_topics(None))
                .collect();
            (*node, OffsetFetchRequest::default().with_groups(groups).with_require_stable(false))
        })
        .collect();
    let answers = pool.send_each(requests, OFFSET_FETCH_VERSION).await;
    answers.into_iter().map(|(node, r)| (node, r.map(offset_fetch_answer))).collect()
}

fn offset_fetch_answer(response: OffsetFetchResponse) -> BTreeMap<String, GroupOffsets> {
    response
        .groups
        .iter()
        .map(|g| {
            let committed = g
                .topics
                .iter()
                .flat_map(|t| {
                    let topic: Arc<str> = t.name.0.as_str().into();
                    t.partitions
                        .iter()
                        .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
                        .map(move |p| (TopicPartition::new(topic.clone(), p.partition_index), p.committed_offset))
                })
                .collect();
            (g.group_id.0.as_str().to_string(), GroupOffsets { error_code: g.error_code, committed })
        })
        .collect()
}

/// DescribeGroups v5: each group's state and members, one request per coordinator for all its groups.
pub async fn describe_groups(
    pool: &mut BrokerPool,
    by_coordinator: &BTreeMap<i32, Vec<String>>,
) -> PerNode<String, GroupState> {
    let requests = by_coordinator
        .iter()
        .map(|(node, groups)| {
            (*node, DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| group_id(g)).collect()))
        })
        .collect();
    let answers = pool.send_each(requests, DESCRIBE_GROUPS_VERSION).await;
    answers.into_iter().map(|(node, r)| (node, r.map(describe_groups_answer))).collect()
}

fn describe_groups_answer(response: DescribeGroupsResponse) -> BTreeMap<String, GroupState> {
    response
        .groups
        .iter()
        .map(|g| {
            let answer = match g.error_code {
                // GROUP_ID_NOT_FOUND, and a "Dead" group: Kafka does not know it.
                69 => Ok(None),
                0 if g.group_state.as_str() == "Dead" => Ok(None),
                0 => Ok(Some((g.group_state.as_str().to_string(), g.members.len() as i32))),
                code => Err(code),
            };
            (g.group_id.0.as_str().to_string(), answer)
        })
        .collect()
}

/// ListOffsets v6 at `timestamp` ([`LATEST`] or [`EARLIEST`]): one request per leader for every partition it
/// leads. Per partition, the offset or Kafka's error code.
pub async fn list_offsets(
    pool: &mut BrokerPool,
    by_leader: &BTreeMap<i32, Vec<TopicPartition>>,
    timestamp: i64,
    read_committed: bool,
) -> PerNode<TopicPartition, Result<i64, i16>> {
    let requests =
        by_leader.iter().map(|(node, parts)| (*node, list_offsets_request(parts, timestamp, read_committed))).collect();
    let answers = pool.send_each(requests, LIST_OFFSETS_VERSION).await;
    answers.into_iter().map(|(node, r)| (node, r.map(|resp| list_offsets_answer(resp).into_iter().collect()))).collect()
}

fn list_offsets_request(parts: &[TopicPartition], timestamp: i64, read_committed: bool) -> ListOffsetsRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in parts {
        by_topic.entry(&*tp.topic).or_default().push(tp.partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            ListOffsetsTopic::default().with_name(topic_name(t)).with_partitions(
                ps.into_iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )
        })
        .collect();
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(i8::from(read_committed))
        .with_topics(topics)
}

fn list_offsets_answer(response: ListOffsetsResponse) -> Vec<(TopicPartition, Result<i64, i16>)> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            let topic: Arc<str> = t.name.0.as_str().into();
            t.partitions.iter().map(move |p| {
                let tp = TopicPartition::new(topic.clone(), p.partition_index);
                (tp, if p.error_code == 0 { Ok(p.offset) } else { Err(p.error_code) })
            })
        })
        .collect()
}

fn group_id(g: &str) -> GroupId {
    GroupId(StrBytes::from_string(g.to_string()))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }

    /// Encodes and decodes at the version sent: the request is valid at that version.
    fn round_trip<R: Encodable + Decodable>(r: &R, version: i16) -> R {
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, version).unwrap();
        R::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn a_cluster_wide_request_tries_connected_brokers_then_others_then_bootstrap() {
        let addresses: BTreeMap<i32, String> = (1..=4).map(|n| (n, format!("127.0.0.1:{}", 9090 + n))).collect();
        assert_eq!(cluster_request_nodes([3, BOOTSTRAP].into_iter(), &addresses), vec![3, 1, BOOTSTRAP]);
        assert_eq!(cluster_request_nodes([4, 2].into_iter(), &addresses), vec![2, 4, BOOTSTRAP]);
        // Before the first Metadata only the bootstrap servers are known; a broker that left is not asked.
        assert_eq!(cluster_request_nodes([BOOTSTRAP].into_iter(), &BTreeMap::new()), vec![BOOTSTRAP]);
        assert_eq!(cluster_request_nodes([7].into_iter(), &addresses), vec![1, 2, BOOTSTRAP]);
    }

    #[test]
    fn one_list_offsets_request_carries_every_partition_of_a_leader_grouped_by_topic() {
        let r = list_offsets_request(&[tp("a", 0), tp("b", 3), tp("a", 2)], LATEST, true);
        let r = round_trip(&r, LIST_OFFSETS_VERSION);
        assert_eq!(r.isolation_level, 1);
        let shown: Vec<(String, Vec<(i32, i64)>)> = r
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partitions.iter().map(|p| (p.partition_index, p.timestamp)).collect()))
            .collect();
        assert_eq!(shown, vec![("a".into(), vec![(0, -1), (2, -1)]), ("b".into(), vec![(3, -1)])]);
        assert_eq!(list_offsets_request(&[tp("a", 0)], EARLIEST, false).isolation_level, 0);
    }

    #[test]
    fn offset_fetch_answers_keep_only_committed_partitions_per_group() {
        let part = |p: i32, offset: i64, error_code: i16| {
            OffsetFetchResponsePartitions::default()
                .with_partition_index(p)
                .with_committed_offset(offset)
                .with_error_code(error_code)
        };
        let response = OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default().with_group_id(group_id("g1")).with_topics(vec![
                OffsetFetchResponseTopics::default().with_name(topic_name("t")).with_partitions(vec![
                    part(0, 5, 0),
                    part(1, -1, 0),
                    part(2, 9, 88),
                ]),
            ]),
            OffsetFetchResponseGroup::default().with_group_id(group_id("g2")).with_error_code(16),
        ]);
        let response = round_trip(&response, OFFSET_FETCH_VERSION);
        let answers = offset_fetch_answer(response);
        assert_eq!(answers["g1"], GroupOffsets { error_code: 0, committed: [(tp("t", 0), 5)].into() });
        assert_eq!(answers["g2"].error_code, 16);
        assert!(answers["g2"].committed.is_empty());
    }

    #[test]
    fn describe_groups_answers_state_members_unknown_and_errors() {
        let group = |id: &str, state: &str, members: usize, error_code: i16| {
            DescribedGroup::default()
                .with_group_id(group_id(id))
                .with_group_state(StrBytes::from_string(state.into()))
                .with_members(vec![DescribedGroupMember::default(); members])
                .with_error_code(error_code)
        };
        let response = DescribeGroupsResponse::default().with_groups(vec![
            group("live", "Stable", 2, 0),
            group("dead", "Dead", 0, 0),
            group("moved", "", 0, 16),
        ]);
        let answers = describe_groups_answer(round_trip(&response, DESCRIBE_GROUPS_VERSION));
        assert_eq!(answers["live"], Ok(Some(("Stable".into(), 2))));
        assert_eq!(answers["dead"], Ok(None));
        assert_eq!(answers["moved"], Err(16));
    }

    #[test]
    fn coordinators_and_offsets_answers_per_key() {
        let response = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_key(StrBytes::from_static_str("a"))
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("h2"))
                .with_port(9093),
            Coordinator::default().with_key(StrBytes::from_static_str("b")).with_error_code(15),
        ]);
        let (answers, addresses) = coordinators_answer(&round_trip(&response, FIND_COORDINATOR_VERSION));
        assert_eq!(answers["a"], Ok(2));
        assert_eq!(answers["b"], Err(15));
        assert_eq!(addresses, vec![(2, "h2:9093".to_string())]);

        let offsets = ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default().with_name(topic_name("t")).with_partitions(vec![
                ListOffsetsPartitionResponse::default().with_partition_index(0).with_offset(42),
                ListOffsetsPartitionResponse::default().with_partition_index(1).with_error_code(6),
            ]),
        ]);
        let answers = list_offsets_answer(round_trip(&offsets, LIST_OFFSETS_VERSION));
        assert_eq!(answers, vec![(tp("t", 0), Ok(42)), (tp("t", 1), Err(6))]);
    }

    #[test]
    fn a_request_to_a_broker_without_an_address_is_unreachable() {
        let mut pool = BrokerPool::new(ClientSettings::new(&["127.0.0.1:1".to_string()]));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answers = rt.block_on(describe_groups(&mut pool, &[(7, vec!["g".to_string()])].into()));
        assert_eq!(answers.len(), 1);
        assert!(matches!(&answers[0], (7, Err(KafkaError::Unreachable(m))) if m.contains("broker 7")), "{answers:?}");
    }
}
