//! Safe wrappers over librdkafka admin calls that rdkafka's `AdminClient` does not expose:
//! IncrementalAlterConfigs, DescribeTopics, DescribeCluster, ListOffsets, ListConsumerGroupOffsets,
//! DescribeConsumerGroups, and the client's main queue (logs and client-level errors).
//!
//! Each call runs on a blocking thread: it creates its own result queue, issues the request, waits for the one
//! result event and copies everything out into owned Rust values before freeing the native objects. This is the
//! only module of the crate with `unsafe`; every block says why it is sound.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::ptr;
use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use super::{Admin, KafkaError};

/// One incremental config operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
}

/// Which offset ListOffsets should return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// A per-partition offset answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when the partition has none (e.g. no committed offset, or no record at/after a timestamp).
    pub offset: i64,
    pub error: Option<String>,
}

/// Owns a native admin-options object.
struct Options(*mut RDKafkaAdminOptions);

impl Options {
    fn new(rk: *mut RDKafka, timeout: Duration) -> Options {
        // SAFETY: `rk` is a live handle (the caller holds an `Arc<Admin>` for the whole call); the options object
        // is owned by the returned value and freed in `Drop`.
        let opts = unsafe { sys::rd_kafka_AdminOptions_new(rk, RDKafkaAdminOp::RD_KAFKA_ADMIN_OP_ANY) };
        let mut errstr = [0 as std::os::raw::c_char; 256];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `opts` is valid; `errstr` is a writable buffer of the size we pass.
        unsafe { sys::rd_kafka_AdminOptions_set_request_timeout(opts, ms, errstr.as_mut_ptr(), errstr.len()) };
        Options(opts)
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_AdminOptions_new` and freed exactly once here.
        unsafe { sys::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

/// Owns a native queue.
struct Queue(*mut RDKafkaQueue);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_queue_new` and freed exactly once here.
        unsafe { sys::rd_kafka_queue_destroy(self.0) }
    }
}

/// Owns a native event.
struct Event(*mut RDKafkaEvent);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: returned by `rd_kafka_queue_poll` (non-null) and freed exactly once here.
        unsafe { sys::rd_kafka_event_destroy(self.0) }
    }
}

/// Owns a native topic-partition list.
struct PartitionList(*mut RDKafkaTopicPartitionList);

impl PartitionList {
    fn new(items: &[(String, i32, i64)]) -> Result<PartitionList, KafkaError> {
        // SAFETY: allocates a list we own and free in `Drop`.
        let list = PartitionList(unsafe { sys::rd_kafka_topic_partition_list_new(items.len() as i32) });
        for (topic, partition, offset) in items {
            let topic = cstring(topic)?;
            // SAFETY: `list.0` is valid; `topic` outlives the call (librdkafka copies the name); the returned
            // element pointer is valid until the list is modified again, and we write it at once.
            unsafe {
                let elem = sys::rd_kafka_topic_partition_list_add(list.0, topic.as_ptr(), *partition);
                (*elem).offset = *offset;
            }
        }
        Ok(list)
    }
}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_topic_partition_list_new` and freed exactly once here (ownership is not
        // transferred by the admin calls, which copy the list).
        unsafe { sys::rd_kafka_topic_partition_list_destroy(self.0) }
    }
}

fn cstring(s: &str) -> Result<CString, KafkaError> {
    CString::new(s).map_err(|_| KafkaError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// Copies a C string owned by librdkafka; null becomes the empty string.
///
/// SAFETY (for callers): `p` must be null or point to a NUL-terminated string valid for this call.
unsafe fn owned(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Copies the elements of a native partition list.
///
/// SAFETY (for callers): `list` must be null or a valid list for the duration of the call.
unsafe fn copy_partitions(list: *const RDKafkaTopicPartitionList) -> Vec<PartitionOffset> {
    if list.is_null() {
        return vec![];
    }
    // SAFETY: `list` is not null and, as the caller guarantees, points at a valid list.
    let (elems, cnt) = unsafe { ((*list).elems, (*list).cnt) };
    // An empty list may have no element array at all: a slice from a null pointer is undefined behaviour, even with
    // length 0 (rust-rdkafka #681).
    if elems.is_null() || cnt <= 0 {
        return vec![];
    }
    // SAFETY: `elems` is not null and holds `cnt` initialised elements (the caller's guarantee).
    let elems = unsafe { std::slice::from_raw_parts(elems, cnt as usize) };
    elems
        .iter()
        .map(|e| PartitionOffset {
            // SAFETY: element topics are NUL-terminated strings owned by the list.
            topic: unsafe { owned(e.topic) },
            partition: e.partition,
            offset: e.offset,
            error: err_string(e.err),
        })
        .collect()
}

/// A Kafka UUID as Kafka's own tools print it (`Uuid.toString()`): its 16 bytes, most significant first, in URL-safe
/// base64 without padding. (librdkafka's `rd_kafka_Uuid_base64str` uses the standard alphabet with padding.)
pub fn kafka_uuid(most_significant: i64, least_significant: i64) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&most_significant.to_be_bytes());
    bytes[8..].copy_from_slice(&least_significant.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn err_string(err: RDKafkaRespErr) -> Option<String> {
    if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        None
    } else {
        // SAFETY: `rd_kafka_err2str` returns a static string for any code.
        Some(unsafe { owned(sys::rd_kafka_err2str(err)) })
    }
}

/// Issues one admin request whose result arrives on a private queue, and waits for the result event.
fn call(
    admin: &Admin,
    timeout: Duration,
    read_committed: bool,
    issue: impl FnOnce(*mut RDKafka, *const RDKafkaAdminOptions, *mut RDKafkaQueue),
) -> Result<Event, KafkaError> {
    let rk = admin.inner().native_ptr();
    // SAFETY: `rk` is live for the call (the caller holds the admin client).
    let queue = Queue(unsafe { sys::rd_kafka_queue_new(rk) });
    let options = Options::new(rk, timeout);
    if read_committed {
        // SAFETY: `options.0` is valid; an error only says the option does not apply to the call, and is freed.
        unsafe {
            let e = sys::rd_kafka_AdminOptions_set_isolation_level(
                options.0,
                sys::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
            );
            if !e.is_null() {
                sys::rd_kafka_error_destroy(e);
            }
        }
    }
    issue(rk, options.0, queue.0);
    // Allow the broker's own time-out plus a margin before giving up on the event.
    let wait = (timeout + Duration::from_secs(5)).as_millis() as i32;
    // SAFETY: the queue is valid; a null result means time-out.
    let ev = unsafe { sys::rd_kafka_queue_poll(queue.0, wait) };
    if ev.is_null() {
        return Err(KafkaError::Timeout);
    }
    let ev = Event(ev);
    // SAFETY: `ev.0` is a valid event.
    let err = unsafe { sys::rd_kafka_event_error(ev.0) };
    if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: the error string is owned by the event, which is alive.
        let msg = unsafe { owned(sys::rd_kafka_event_error_string(ev.0)) };
        return Err(KafkaError::from_code(err, msg));
    }
    Ok(ev)
}

/// IncrementalAlterConfigs for many topics in one request. Returns one result per topic, in input order.
pub fn incremental_alter_topic_configs(
    admin: &Admin,
    changes: &[(String, Vec<ConfigOp>)],
    timeout: Duration,
) -> Result<Vec<Result<(), String>>, KafkaError> {
    if changes.is_empty() {
        return Ok(vec![]);
    }
    let mut resources = Vec::with_capacity(changes.len());
    for (topic, ops) in changes {
        let name = cstring(topic)?;
        // SAFETY: creates a resource we own until it is handed to the request (and destroyed below).
        let res =
            unsafe { sys::rd_kafka_ConfigResource_new(RDKafkaResourceType::RD_KAFKA_RESOURCE_TOPIC, name.as_ptr()) };
        resources.push(res);
        for op in ops {
            let (key, op_type, value) = match op {
                ConfigOp::Set(k, v) => {
                    (k, sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, Some(v))
                }
                ConfigOp::Delete(k) => {
                    (k, sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, None)
                }
            };
            let key = cstring(key)?;
            let value = value.map(|v| cstring(v)).transpose()?;
            // SAFETY: `res` is valid; key/value are copied by librdkafka; a returned error is freed at once.
            unsafe {
                let e = sys::rd_kafka_ConfigResource_add_incremental_config(
                    res,
                    key.as_ptr(),
                    op_type,
                    value.as_ref().map_or(ptr::null(), |v| v.as_ptr()),
                );
                if !e.is_null() {
                    let msg = owned(sys::rd_kafka_error_string(e));
                    sys::rd_kafka_error_destroy(e);
                    for r in &resources {
                        sys::rd_kafka_ConfigResource_destroy(*r);
                    }
                    return Err(KafkaError::Invalid(msg));
                }
            }
        }
    }
    let result = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: every resource pointer is valid; librdkafka copies the array and the resources.
        unsafe { sys::rd_kafka_IncrementalAlterConfigs(rk, resources.as_mut_ptr(), resources.len(), opts, q) }
    });
    for r in &resources {
        // SAFETY: the request copied them; we still own the originals.
        unsafe { sys::rd_kafka_ConfigResource_destroy(*r) };
    }
    let ev = result?;
    // SAFETY: the event is an IncrementalAlterConfigs result (we issued exactly that request on this queue).
    let res = unsafe { sys::rd_kafka_event_IncrementalAlterConfigs_result(ev.0) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for IncrementalAlterConfigs".into()));
    }
    let mut n = 0usize;
    // SAFETY: the resources array is owned by the event, alive for this scope.
    let arr = unsafe { sys::rd_kafka_IncrementalAlterConfigs_result_resources(res, &mut n) };
    let mut by_name = std::collections::HashMap::new();
    for i in 0..n {
        // SAFETY: `arr` has `n` valid entries.
        let r = unsafe { *arr.add(i) };
        // SAFETY: name and error string belong to the live event.
        let (name, err, msg) = unsafe {
            (
                owned(sys::rd_kafka_ConfigResource_name(r)),
                sys::rd_kafka_ConfigResource_error(r),
                owned(sys::rd_kafka_ConfigResource_error_string(r)),
            )
        };
        let outcome = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else if msg.is_empty() {
            Err(err_string(err).unwrap_or_default())
        } else {
            Err(msg)
        };
        by_name.insert(name, outcome);
    }
    Ok(changes
        .iter()
        .map(|(t, _)| by_name.remove(t).unwrap_or_else(|| Err("no result for this topic".into())))
        .collect())
}

/// ListOffsets for many partitions in one call (librdkafka sends one request per partition leader).
pub fn list_offsets(
    admin: &Admin,
    partitions: &[(String, i32)],
    spec: OffsetSpec,
    read_committed: bool,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, KafkaError> {
    if partitions.is_empty() {
        return Ok(vec![]);
    }
    let code = match spec {
        OffsetSpec::Earliest => -2,
        OffsetSpec::Latest => -1,
        OffsetSpec::Timestamp(ms) => ms,
    };
    let items: Vec<_> = partitions.iter().map(|(t, p)| (t.clone(), *p, code)).collect();
    let list = PartitionList::new(&items)?;
    let ev = call(admin, timeout, read_committed, |rk, opts, q| {
        // SAFETY: `list.0` is valid and copied by librdkafka.
        unsafe { sys::rd_kafka_ListOffsets(rk, list.0, opts, q) }
    })?;
    // SAFETY: the event is a ListOffsets result.
    let res = unsafe { sys::rd_kafka_event_ListOffsets_result(ev.0) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for ListOffsets".into()));
    }
    let mut n = 0usize;
    // SAFETY: array owned by the live event.
    let infos = unsafe { sys::rd_kafka_ListOffsets_result_infos(res, &mut n) };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `infos` has `n` entries; each topic-partition belongs to the live event.
        unsafe {
            let tp = sys::rd_kafka_ListOffsetsResultInfo_topic_partition(*infos.add(i));
            out.push(PartitionOffset {
                topic: owned((*tp).topic),
                partition: (*tp).partition,
                offset: (*tp).offset,
                error: err_string((*tp).err),
            });
        }
    }
    Ok(out)
}

/// The committed offsets of one group (all topics, or the listed partitions). librdkafka takes one group per call.
pub fn list_group_offsets(admin: &Admin, group: &str, timeout: Duration) -> Result<Vec<PartitionOffset>, KafkaError> {
    let gid = cstring(group)?;
    // SAFETY: a null partition list means "all partitions"; the request object is owned until handed over.
    let mut req = [unsafe { sys::rd_kafka_ListConsumerGroupOffsets_new(gid.as_ptr(), ptr::null()) }];
    let result = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: `req` holds one valid request object, copied by librdkafka.
        unsafe { sys::rd_kafka_ListConsumerGroupOffsets(rk, req.as_mut_ptr(), 1, opts, q) }
    });
    // SAFETY: we still own the request object.
    unsafe { sys::rd_kafka_ListConsumerGroupOffsets_destroy(req[0]) };
    let ev = result?;
    // SAFETY: the event is a ListConsumerGroupOffsets result.
    let res = unsafe { sys::rd_kafka_event_ListConsumerGroupOffsets_result(ev.0) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for ListConsumerGroupOffsets".into()));
    }
    let mut n = 0usize;
    // SAFETY: array owned by the live event.
    let groups = unsafe { sys::rd_kafka_ListConsumerGroupOffsets_result_groups(res, &mut n) };
    let mut out = vec![];
    for i in 0..n {
        // SAFETY: `groups` has `n` entries owned by the event.
        unsafe {
            let g = *groups.add(i);
            let e = sys::rd_kafka_group_result_error(g);
            if !e.is_null() {
                return Err(KafkaError::Protocol(owned(sys::rd_kafka_error_string(e))));
            }
            out.extend(copy_partitions(sys::rd_kafka_group_result_partitions(g)));
        }
    }
    Ok(out)
}

/// What DescribeCluster reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller: Option<i32>,
    pub brokers: Vec<i32>,
}

/// DescribeCluster: cluster id, controller and brokers.
pub fn describe_cluster(admin: &Admin, timeout: Duration) -> Result<ClusterDescription, KafkaError> {
    let ev = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: plain request on valid handles.
        unsafe { sys::rd_kafka_DescribeCluster(rk, opts, q) }
    })?;
    // SAFETY: the event is a DescribeCluster result; all pointers read below belong to the live event.
    unsafe {
        let res = sys::rd_kafka_event_DescribeCluster_result(ev.0);
        if res.is_null() {
            return Err(KafkaError::Protocol("unexpected event type for DescribeCluster".into()));
        }
        let controller = sys::rd_kafka_DescribeCluster_result_controller(res);
        let mut n = 0usize;
        let nodes = sys::rd_kafka_DescribeCluster_result_nodes(res, &mut n);
        let brokers = (0..n).map(|i| sys::rd_kafka_Node_id(*nodes.add(i))).collect();
        Ok(ClusterDescription {
            cluster_id: owned(sys::rd_kafka_DescribeCluster_result_cluster_id(res)),
            controller: (!controller.is_null()).then(|| sys::rd_kafka_Node_id(controller)),
            brokers,
        })
    }
}

/// One partition of a described topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A described topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: String,
    pub partitions: Vec<PartitionDescription>,
}

/// One topic's answer to DescribeTopics: `Ok(None)` when it does not exist.
pub type TopicAnswer = Result<Option<TopicDescription>, KafkaError>;

/// DescribeTopics for many topics in one Metadata request, answers in input order.
pub fn describe_topics(admin: &Admin, names: &[String], timeout: Duration) -> Result<Vec<TopicAnswer>, KafkaError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let cnames = names.iter().map(|n| cstring(n)).collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const std::os::raw::c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: `ptrs` points to live C strings; librdkafka copies them into the collection we own.
    let collection = unsafe { sys::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len()) };
    let result = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: the collection is valid until destroyed below, after the request copied it.
        unsafe { sys::rd_kafka_DescribeTopics(rk, collection, opts, q) }
    });
    // SAFETY: created above, freed once.
    unsafe { sys::rd_kafka_TopicCollection_destroy(collection) };
    let ev = result?;
    let mut by_name = std::collections::HashMap::new();
    // SAFETY: the event is a DescribeTopics result; every pointer read belongs to the live event.
    unsafe {
        let res = sys::rd_kafka_event_DescribeTopics_result(ev.0);
        if res.is_null() {
            return Err(KafkaError::Protocol("unexpected event type for DescribeTopics".into()));
        }
        let mut n = 0usize;
        let topics = sys::rd_kafka_DescribeTopics_result_topics(res, &mut n);
        for i in 0..n {
            let t = *topics.add(i);
            let name = owned(sys::rd_kafka_TopicDescription_name(t));
            let err = sys::rd_kafka_TopicDescription_error(t);
            if !err.is_null() {
                let code = sys::rd_kafka_error_code(err);
                let outcome = if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART {
                    Ok(None)
                } else {
                    Err(KafkaError::from_code(code, owned(sys::rd_kafka_error_string(err))))
                };
                by_name.insert(name, outcome);
                continue;
            }
            let id = sys::rd_kafka_TopicDescription_topic_id(t);
            let topic_id = if id.is_null() {
                String::new()
            } else {
                kafka_uuid(sys::rd_kafka_Uuid_most_significant_bits(id), sys::rd_kafka_Uuid_least_significant_bits(id))
            };
            let mut np = 0usize;
            let parts = sys::rd_kafka_TopicDescription_partitions(t, &mut np);
            let mut partitions = Vec::with_capacity(np);
            for j in 0..np {
                let p = *parts.add(j);
                let leader = sys::rd_kafka_TopicPartitionInfo_leader(p);
                let nodes = |f: unsafe extern "C" fn(
                    *const sys::rd_kafka_TopicPartitionInfo_t,
                    *mut usize,
                ) -> *mut *const sys::rd_kafka_Node_t| {
                    let mut k = 0usize;
                    let arr = f(p, &mut k);
                    (0..k).map(|x| sys::rd_kafka_Node_id(*arr.add(x))).collect::<Vec<_>>()
                };
                partitions.push(PartitionDescription {
                    partition: sys::rd_kafka_TopicPartitionInfo_partition(p),
                    leader: (!leader.is_null()).then(|| sys::rd_kafka_Node_id(leader)),
                    replicas: nodes(sys::rd_kafka_TopicPartitionInfo_replicas),
                    isr: nodes(sys::rd_kafka_TopicPartitionInfo_isr),
                });
            }
            partitions.sort_by_key(|p| p.partition);
            by_name.insert(name.clone(), Ok(Some(TopicDescription { name, topic_id, partitions })));
        }
    }
    Ok(names.iter().map(|n| by_name.remove(n).unwrap_or(Ok(None))).collect())
}

/// A described consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// librdkafka's state name: "Stable", "Empty", "PreparingRebalance", "CompletingRebalance" or "Unknown".
    pub state: String,
    pub members: i32,
}

/// One group's answer to DescribeConsumerGroups: `Ok(None)` when Kafka does not know the group.
pub type GroupAnswer = Result<Option<GroupDescription>, KafkaError>;

/// Reads one group's answer from its state, member count and error code. A group Kafka does not know is "Dead"
/// to DescribeGroups and GROUP_ID_NOT_FOUND to ConsumerGroupDescribe: both are "no such group".
fn group_answer(group_id: String, state: String, members: i32, error: Option<(RDKafkaRespErr, String)>) -> GroupAnswer {
    match error {
        Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, _)) => Ok(None),
        Some((code, message)) => Err(KafkaError::from_code(code, message)),
        None if state == "Dead" => Ok(None),
        None => Ok(Some(GroupDescription { group_id, state, members })),
    }
}

/// DescribeConsumerGroups for many groups in one call, answers in input order. librdkafka sends one request per
/// group to its coordinator (no ListGroups to every broker). The ids must be distinct (librdkafka refuses
/// duplicates); an empty list asks nothing.
pub fn describe_groups(admin: &Admin, groups: &[String], timeout: Duration) -> Result<Vec<GroupAnswer>, KafkaError> {
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let cgroups = groups.iter().map(|g| cstring(g)).collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const std::os::raw::c_char> = cgroups.iter().map(|c| c.as_ptr()).collect();
    let ev = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: `ptrs` points to live C strings for the call; librdkafka copies them.
        unsafe { sys::rd_kafka_DescribeConsumerGroups(rk, ptrs.as_mut_ptr(), ptrs.len(), opts, q) }
    })?;
    let mut by_id = std::collections::HashMap::new();
    // SAFETY: the event is a DescribeConsumerGroups result; every pointer read belongs to the live event and
    // everything is copied out before it is freed.
    unsafe {
        let res = sys::rd_kafka_event_DescribeConsumerGroups_result(ev.0);
        if res.is_null() {
            return Err(KafkaError::Protocol("unexpected event type for DescribeConsumerGroups".into()));
        }
        let mut n = 0usize;
        let descs = sys::rd_kafka_DescribeConsumerGroups_result_groups(res, &mut n);
        for i in 0..n {
            let g = *descs.add(i);
            let group_id = owned(sys::rd_kafka_ConsumerGroupDescription_group_id(g));
            let err = sys::rd_kafka_ConsumerGroupDescription_error(g);
            let error =
                (!err.is_null()).then(|| (sys::rd_kafka_error_code(err), owned(sys::rd_kafka_error_string(err))));
            let state = owned(sys::rd_kafka_consumer_group_state_name(sys::rd_kafka_ConsumerGroupDescription_state(g)));
            let members = sys::rd_kafka_ConsumerGroupDescription_member_count(g).min(i32::MAX as usize) as i32;
            by_id.insert(group_id.clone(), group_answer(group_id, state, members, error));
        }
    }
    Ok(groups
        .iter()
        .map(|g| by_id.remove(g).unwrap_or_else(|| Err(KafkaError::Protocol(format!("no result for group {g}")))))
        .collect())
}

/// A client-level notice from librdkafka's main queue.
#[derive(Clone, Debug)]
pub enum ClientNotice {
    /// A log line (syslog level: 3 is error, 4 warning, ...).
    Log { level: i32, facility: String, message: String },
    /// A client-level error, e.g. all brokers down or an authentication failure.
    Error { error: KafkaError },
}

/// Waits up to `timeout` for one event on the client's main queue (logs and client errors, which an admin
/// client never polls by itself).
pub fn poll_main_queue(admin: &Admin, timeout: Duration) -> Option<ClientNotice> {
    let rk = admin.inner().native_ptr();
    // SAFETY: `rk` is live; `rd_kafka_queue_get_main` returns a new reference that `Queue` releases.
    let queue = Queue(unsafe { sys::rd_kafka_queue_get_main(rk) });
    // SAFETY: the queue is valid; a null result means nothing arrived in time.
    let ev = unsafe { sys::rd_kafka_queue_poll(queue.0, timeout.as_millis() as i32) };
    if ev.is_null() {
        return None;
    }
    let ev = Event(ev);
    // SAFETY: `ev.0` is valid; strings read belong to the live event and are copied at once.
    unsafe {
        match sys::rd_kafka_event_type(ev.0) {
            sys::RD_KAFKA_EVENT_LOG => {
                let mut fac = ptr::null();
                let mut msg = ptr::null();
                let mut level = 0;
                sys::rd_kafka_event_log(ev.0, &mut fac, &mut msg, &mut level);
                Some(ClientNotice::Log { level, facility: owned(fac), message: owned(msg) })
            }
            sys::RD_KAFKA_EVENT_ERROR => {
                let code = sys::rd_kafka_event_error(ev.0);
                let message = owned(sys::rd_kafka_event_error_string(ev.0));
                Some(ClientNotice::Error { error: KafkaError::from_code(code, message) })
            }
            _ => None,
        }
    }
}

/// AlterConsumerGroupOffsets: sets the committed offsets of an empty group. Returns per-partition errors.
pub fn alter_group_offsets(
    admin: &Admin,
    group: &str,
    offsets: &[(String, i32, i64)],
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, KafkaError> {
    let gid = cstring(group)?;
    let list = PartitionList::new(offsets)?;
    // SAFETY: both arguments are valid; librdkafka copies the list into the request object we own.
    let mut req = [unsafe { sys::rd_kafka_AlterConsumerGroupOffsets_new(gid.as_ptr(), list.0) }];
    let result = call(admin, timeout, false, |rk, opts, q| {
        // SAFETY: `req` holds one valid request object, copied by librdkafka.
        unsafe { sys::rd_kafka_AlterConsumerGroupOffsets(rk, req.as_mut_ptr(), 1, opts, q) }
    });
    // SAFETY: we still own the request object.
    unsafe { sys::rd_kafka_AlterConsumerGroupOffsets_destroy(req[0]) };
    let ev = result?;
    // SAFETY: the event is an AlterConsumerGroupOffsets result; pointers belong to the live event.
    unsafe {
        let res = sys::rd_kafka_event_AlterConsumerGroupOffsets_result(ev.0);
        if res.is_null() {
            return Err(KafkaError::Protocol("unexpected event type for AlterConsumerGroupOffsets".into()));
        }
        let mut n = 0usize;
        let groups = sys::rd_kafka_AlterConsumerGroupOffsets_result_groups(res, &mut n);
        let mut out = vec![];
        for i in 0..n {
            let g = *groups.add(i);
            let e = sys::rd_kafka_group_result_error(g);
            if !e.is_null() {
                return Err(KafkaError::from_code(sys::rd_kafka_error_code(e), owned(sys::rd_kafka_error_string(e))));
            }
            out.extend(copy_partitions(sys::rd_kafka_group_result_partitions(g)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Bytes whose standard base64 has '+', '/' and padding: fb ff ... → "-_8..." without '='.
        let id = kafka_uuid(0xfbff_0000_0000_0000_u64 as i64, 1);
        assert_eq!(id, "-_8AAAAAAAAAAAAAAAAAAQ");
        assert_eq!(id.len(), 22, "16 bytes without padding");
        // Kafka's Uuid.ZERO_UUID prints as "AAAAAAAAAAAAAAAAAAAAAA".
        assert_eq!(kafka_uuid(0, 0), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn an_empty_partition_list_without_an_element_array_copies_to_nothing() {
        let list = RDKafkaTopicPartitionList { cnt: 0, size: 0, elems: std::ptr::null_mut() };
        // SAFETY: a valid, empty list: no elements, no element array.
        assert!(unsafe { copy_partitions(&list) }.is_empty());
        // SAFETY: null is handled before any dereference.
        assert!(unsafe { copy_partitions(std::ptr::null()) }.is_empty());
    }

    #[test]
    fn a_group_kafka_does_not_know_is_none() {
        let answer = |state: &str, error| group_answer("g".into(), state.into(), 0, error);
        // DescribeGroups (classic protocol) says "Dead"; ConsumerGroupDescribe says GROUP_ID_NOT_FOUND.
        assert!(matches!(answer("Dead", None), Ok(None)));
        let not_found = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, String::new()));
        assert!(matches!(answer("Unknown", not_found), Ok(None)));
    }

    #[test]
    fn a_known_group_keeps_its_state_and_members() {
        let got = group_answer("g".into(), "Stable".into(), 3, None).unwrap();
        assert_eq!(got, Some(GroupDescription { group_id: "g".into(), state: "Stable".into(), members: 3 }));
        let empty = group_answer("g".into(), "Empty".into(), 0, None).unwrap().unwrap();
        assert_eq!((empty.state.as_str(), empty.members), ("Empty", 0));
    }

    #[test]
    fn a_per_group_error_is_that_groups_error() {
        let denied = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "denied".into()));
        assert!(matches!(group_answer("g".into(), "Unknown".into(), 0, denied), Err(KafkaError::Authorization(_))));
        let busy = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, String::new()));
        assert!(matches!(group_answer("g".into(), "Unknown".into(), 0, busy), Err(KafkaError::Broker { .. })));
    }
}
