//! Sample responses for the guard's tests, built with kafka-protocol's builders, and
//! a dispatcher from an [`ApiKey`] to `decode_response` of its request type.
//!
//! Included as a module by the other `guard_*` tests (`mod guard_samples;`); on its
//! own it only checks that every sample survives kafka-protocol's own round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure
#![allow(dead_code)]

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::messages::*;
use flame_kafka_codec::protocol::{Decodable, Encodable, Request, StrBytes};
use flame_kafka_codec::versions::CLIENT_VERSIONS;
use flame_kafka_codec::{decode_response, CodecError};

/// A tag no schema knows, added wherever a version has tagged fields.
pub const UNKNOWN_TAG: i32 = 77;

/// A static string.
pub fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

/// A non-nil uuid, reached through a decoded struct (the uuid crate is not a
/// dependency of this package).
pub fn uuid_of(seed: u8) -> consumer_group_heartbeat_response::TopicPartitions {
    let mut wire = vec![seed; 16];
    wire.extend([1, 0]); // empty partitions, no tagged fields
    consumer_group_heartbeat_response::TopicPartitions::decode(&mut Bytes::from(wire), 0)
        .expect("a uuid and an empty array decode")
}

/// `bytes` of `len` bytes (long enough, past 127, to need two-byte varints).
pub fn blob(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 7) as u8).collect::<Vec<u8>>())
}

/// Adds an unknown tagged field to a kafka-protocol struct when `$v` is flexible.
macro_rules! tags {
    ($value:expr, $v:expr, $flexible:expr) => {{
        let value = $value;
        if $v >= $flexible {
            value.with_unknown_tagged_field(UNKNOWN_TAG, Bytes::from_static(b"unknown!"))
        } else {
            value
        }
    }};
}

/// Encodes `value` at `version` and checks kafka-protocol decodes it back equal.
pub fn encode<T: Encodable + Decodable + PartialEq + Debug>(value: &T, version: i16) -> Bytes {
    let mut out = BytesMut::new();
    value.encode(&mut out, version).expect("sample encodes");
    let bytes = out.freeze();
    let decoded = T::decode(&mut bytes.clone(), version).expect("sample decodes");
    assert_eq!(&decoded, value, "kafka-protocol round trip at v{version}");
    bytes
}

/// The encoded samples of `api` at `version`: a full one (every nullable set, arrays
/// of two or more, tagged fields) and a sparse one (nulls and empty arrays).
pub fn samples(api: ApiKey, version: i16) -> Vec<Bytes> {
    [true, false]
        .into_iter()
        .map(|full| sample(api, version, full))
        .collect()
}

fn sample(api: ApiKey, v: i16, full: bool) -> Bytes {
    match api {
        ApiKey::Produce => encode(&produce(v, full), v),
        ApiKey::Fetch => encode(&fetch(v, full), v),
        ApiKey::ListOffsets => encode(&list_offsets(v, full), v),
        ApiKey::Metadata => encode(&metadata(v, full), v),
        ApiKey::OffsetCommit => encode(&offset_commit(v, full), v),
        ApiKey::OffsetFetch => encode(&offset_fetch(v, full), v),
        ApiKey::FindCoordinator => encode(&find_coordinator(v, full), v),
        ApiKey::JoinGroup => encode(&join_group(v, full), v),
        ApiKey::Heartbeat => encode(&heartbeat(v), v),
        ApiKey::LeaveGroup => encode(&leave_group(v, full), v),
        ApiKey::SyncGroup => encode(&sync_group(v, full), v),
        ApiKey::DescribeGroups => encode(&describe_groups(v, full), v),
        ApiKey::SaslHandshake => encode(&sasl_handshake(full), v),
        ApiKey::ApiVersions => encode(&api_versions(v, full), v),
        ApiKey::CreateTopics => encode(&create_topics(v, full), v),
        ApiKey::DeleteTopics => encode(&delete_topics(v, full), v),
        ApiKey::InitProducerId => encode(&init_producer_id(v), v),
        ApiKey::SaslAuthenticate => encode(&sasl_authenticate(v, full), v),
        ApiKey::ConsumerGroupHeartbeat => encode(&consumer_group_heartbeat(v, full), v),
        other => panic!("no sample for {other:?}"),
    }
}

/// Every `(api, version)` the client speaks.
pub fn all_versions() -> impl Iterator<Item = (ApiKey, i16)> {
    CLIENT_VERSIONS
        .iter()
        .flat_map(|&(api, min, max)| (min..=max).map(move |v| (api, v)))
}

/// A response frame (header and body) for `api` at `version`.
pub fn frame(api: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let mut out = correlation_id.to_be_bytes().to_vec();
    if api.response_header_version(version) >= 1 {
        out.push(0); // no tagged fields in the header
    }
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// Calls `$go::<RequestType>($args)` for the request type of `$api`.
macro_rules! with_request_type {
    ($api:expr, $go:ident ($($arg:expr),*)) => {
        match $api {
            ApiKey::Produce => $go::<ProduceRequest>($($arg),*),
            ApiKey::Fetch => $go::<FetchRequest>($($arg),*),
            ApiKey::ListOffsets => $go::<ListOffsetsRequest>($($arg),*),
            ApiKey::Metadata => $go::<MetadataRequest>($($arg),*),
            ApiKey::OffsetCommit => $go::<OffsetCommitRequest>($($arg),*),
            ApiKey::OffsetFetch => $go::<OffsetFetchRequest>($($arg),*),
            ApiKey::FindCoordinator => $go::<FindCoordinatorRequest>($($arg),*),
            ApiKey::JoinGroup => $go::<JoinGroupRequest>($($arg),*),
            ApiKey::Heartbeat => $go::<HeartbeatRequest>($($arg),*),
            ApiKey::LeaveGroup => $go::<LeaveGroupRequest>($($arg),*),
            ApiKey::SyncGroup => $go::<SyncGroupRequest>($($arg),*),
            ApiKey::DescribeGroups => $go::<DescribeGroupsRequest>($($arg),*),
            ApiKey::SaslHandshake => $go::<SaslHandshakeRequest>($($arg),*),
            ApiKey::ApiVersions => $go::<ApiVersionsRequest>($($arg),*),
            ApiKey::CreateTopics => $go::<CreateTopicsRequest>($($arg),*),
            ApiKey::DeleteTopics => $go::<DeleteTopicsRequest>($($arg),*),
            ApiKey::InitProducerId => $go::<InitProducerIdRequest>($($arg),*),
            ApiKey::SaslAuthenticate => $go::<SaslAuthenticateRequest>($($arg),*),
            ApiKey::ConsumerGroupHeartbeat => $go::<ConsumerGroupHeartbeatRequest>($($arg),*),
            other => panic!("no request type for {other:?}"),
        }
    };
}

/// `decode_response` for the request type of `api`, its result reduced to unit.
pub fn decode_frame(
    api: ApiKey,
    version: i16,
    frame: Bytes,
    correlation_id: i32,
) -> Result<(), CodecError> {
    fn go<R: Request>(frame: Bytes, version: i16, correlation_id: i32) -> Result<(), CodecError> {
        decode_response::<R>(frame, version, correlation_id).map(|_| ())
    }
    with_request_type!(api, go(frame, version, correlation_id))
}

/// Decodes `body` with kafka-protocol directly (no guard: call it only on bodies the
/// guard accepted) and returns how many bytes the decoder consumed.
pub fn decoded_len(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, String> {
    fn go<R: Request>(body: &[u8], version: i16) -> Result<usize, String> {
        let mut buf = Bytes::copy_from_slice(body);
        R::Response::decode(&mut buf, version).map_err(|e| e.to_string())?;
        Ok(body.len() - buf.len())
    }
    with_request_type!(api, go(body, version))
}

// ---- Produce 3–12 (flexible from 9) ---------------------------------------------

fn produce(v: i16, full: bool) -> ProduceResponse {
    use produce_response::*;
    let partition = |index: i32| {
        let mut p = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(if full { 47 } else { 0 })
            .with_base_offset(1 << 40)
            .with_log_append_time_ms(-1);
        if v >= 5 {
            p = p.with_log_start_offset(12);
        }
        if v >= 8 && full {
            let errors = vec![
                tags!(
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(3)
                        .with_batch_index_error_message(Some(s("bad record"))),
                    v,
                    9
                ),
                BatchIndexAndErrorMessage::default().with_batch_index(4),
            ];
            p = p
                .with_record_errors(errors)
                .with_error_message(Some(s("some records were bad")));
        }
        if v >= 10 && full {
            p = p.with_current_leader(tags!(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(2))
                    .with_leader_epoch(9),
                v,
                9
            ));
        }
        tags!(p, v, 9)
    };
    let topics = if full {
        vec![
            TopicProduceResponse::default()
                .with_name(TopicName(s("orders")))
                .with_partition_responses(vec![partition(0), partition(1), partition(2)]),
            tags!(
                TopicProduceResponse::default().with_name(TopicName(s("payments"))),
                v,
                9
            ),
        ]
    } else {
        vec![]
    };
    let mut response = ProduceResponse::default()
        .with_responses(topics)
        .with_throttle_time_ms(15);
    if v >= 10 && full {
        response = response.with_node_endpoints(vec![
            tags!(
                NodeEndpoint::default()
                    .with_node_id(BrokerId(2))
                    .with_host(s("broker-2.example"))
                    .with_port(9092)
                    .with_rack(Some(s("rack-b"))),
                v,
                9
            ),
            NodeEndpoint::default()
                .with_node_id(BrokerId(3))
                .with_host(s("broker-3"))
                .with_port(9093),
        ]);
    }
    tags!(response, v, 9)
}

// ---- Fetch 4–12 (flexible from 12) ----------------------------------------------

fn fetch(v: i16, full: bool) -> FetchResponse {
    use fetch_response::*;
    let partition = |index: i32| {
        let mut p = PartitionData::default()
            .with_partition_index(index)
            .with_error_code(0)
            .with_high_watermark(1000)
            .with_last_stable_offset(990)
            .with_records(full.then(|| blob(300 + index as usize)));
        if v >= 5 {
            p = p.with_log_start_offset(7);
        }
        if full {
            p = p.with_aborted_transactions(Some(vec![
                tags!(
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(77))
                        .with_first_offset(5),
                    v,
                    12
                ),
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(78))
                    .with_first_offset(6),
            ]));
        } else {
            p = p.with_aborted_transactions(None);
        }
        if v >= 11 {
            p = p.with_preferred_read_replica(BrokerId(if full { 4 } else { -1 }));
        }
        if v >= 12 && full {
            p = p
                .with_diverging_epoch(EpochEndOffset::default().with_epoch(3).with_end_offset(500))
                .with_current_leader(tags!(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(1))
                        .with_leader_epoch(8),
                    v,
                    12
                ))
                .with_snapshot_id(SnapshotId::default().with_end_offset(400).with_epoch(2));
        }
        tags!(p, v, 12)
    };
    let topics = if full {
        vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(s("orders")))
                .with_partitions(vec![partition(0), partition(1)]),
            tags!(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(s("empty")))
                    .with_partitions(vec![partition(5)]),
                v,
                12
            ),
        ]
    } else {
        vec![FetchableTopicResponse::default()
            .with_topic(TopicName(s("t")))
            .with_partitions(vec![partition(0)])]
    };
    let mut response = FetchResponse::default()
        .with_throttle_time_ms(1)
        .with_responses(topics);
    if v >= 7 {
        response = response.with_error_code(0).with_session_id(123_456);
    }
    tags!(response, v, 12)
}

// ---- ListOffsets 1–9 (flexible from 6) ------------------------------------------

fn list_offsets(v: i16, full: bool) -> ListOffsetsResponse {
    use list_offsets_response::*;
    let partition = |index: i32| {
        let mut p = ListOffsetsPartitionResponse::default()
            .with_partition_index(index)
            .with_error_code(0)
            .with_timestamp(-1)
            .with_offset(42 + i64::from(index));
        if v >= 4 {
            p = p.with_leader_epoch(6);
        }
        tags!(p, v, 6)
    };
    let topics = if full {
        vec![
            tags!(
                ListOffsetsTopicResponse::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![partition(0), partition(1)]),
                v,
                6
            ),
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(s("x")))
                .with_partitions(vec![partition(9)]),
        ]
    } else {
        vec![]
    };
    let mut response = ListOffsetsResponse::default().with_topics(topics);
    if v >= 2 {
        response = response.with_throttle_time_ms(3);
    }
    tags!(response, v, 6)
}

// ---- Metadata 1–12 (flexible from 9) --------------------------------------------

fn metadata(v: i16, full: bool) -> MetadataResponse {
    use metadata_response::*;
    let broker = |id: i32, rack: Option<StrBytes>| {
        let b = MetadataResponseBroker::default()
            .with_node_id(BrokerId(id))
            .with_host(s("broker.example.com"))
            .with_port(9092 + id);
        tags!(b.with_rack(rack), v, 9)
    };
    let partition = |index: i32| {
        let mut p = MetadataResponsePartition::default()
            .with_error_code(0)
            .with_partition_index(index)
            .with_leader_id(BrokerId(1))
            .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
            .with_isr_nodes(if full {
                vec![BrokerId(1), BrokerId(2)]
            } else {
                vec![]
            });
        if v >= 7 {
            p = p.with_leader_epoch(4);
        }
        if v >= 5 {
            p = p.with_offline_replicas(if full { vec![BrokerId(3)] } else { vec![] });
        }
        tags!(p, v, 9)
    };
    let topic = |name: Option<&'static str>, partitions: Vec<MetadataResponsePartition>| {
        let mut t = MetadataResponseTopic::default()
            .with_error_code(0)
            .with_name(name.map(|n| TopicName(s(n))))
            .with_partitions(partitions);
        if v >= 10 {
            t = t.with_topic_id(uuid_of(9).topic_id);
        }
        if v >= 1 {
            t = t.with_is_internal(name == Some("__consumer_offsets"));
        }
        if v >= 8 {
            t = t.with_topic_authorized_operations(0x0f);
        }
        tags!(t, v, 9)
    };
    let (brokers, topics) = if full {
        (
            vec![
                broker(1, Some(s("rack-a"))),
                broker(2, None),
                broker(3, Some(s("c"))),
            ],
            vec![
                topic(
                    Some("orders"),
                    vec![partition(0), partition(1), partition(2)],
                ),
                topic(Some("__consumer_offsets"), vec![partition(0)]),
            ],
        )
    } else {
        let nameless = if v >= 12 { None } else { Some("t") };
        (vec![broker(1, None)], vec![topic(nameless, vec![])])
    };
    let mut response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_controller_id(BrokerId(2))
        .with_topics(topics);
    if v >= 3 {
        response = response.with_throttle_time_ms(0);
    }
    if v >= 2 {
        response = response.with_cluster_id(full.then(|| s("cluster-xyz")));
    }
    if (8..=10).contains(&v) {
        response = response.with_cluster_authorized_operations(0x1ff);
    }
    tags!(response, v, 9)
}

// ---- OffsetCommit 2–9 (flexible from 8) -----------------------------------------

fn offset_commit(v: i16, full: bool) -> OffsetCommitResponse {
    use offset_commit_response::*;
    let partition = |index: i32| {
        tags!(
            OffsetCommitResponsePartition::default()
                .with_partition_index(index)
                .with_error_code(if index == 1 { 22 } else { 0 }),
            v,
            8
        )
    };
    let topics = if full {
        vec![
            tags!(
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![partition(0), partition(1)]),
                v,
                8
            ),
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(s("b")))
                .with_partitions(vec![partition(3)]),
        ]
    } else {
        vec![]
    };
    let mut response = OffsetCommitResponse::default().with_topics(topics);
    if v >= 3 {
        response = response.with_throttle_time_ms(8);
    }
    tags!(response, v, 8)
}

// ---- OffsetFetch 1–9 (flexible from 6) ------------------------------------------

fn offset_fetch(v: i16, full: bool) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    let metadata = |i: i32| {
        if full && i == 0 {
            Some(s("meta"))
        } else {
            None
        }
    };
    let mut response = OffsetFetchResponse::default();
    if v >= 3 {
        response = response.with_throttle_time_ms(2);
    }
    if v <= 7 {
        let partition = |index: i32| {
            let mut p = OffsetFetchResponsePartition::default()
                .with_partition_index(index)
                .with_committed_offset(100)
                .with_metadata(metadata(index))
                .with_error_code(0);
            if v >= 5 {
                p = p.with_committed_leader_epoch(3);
            }
            tags!(p, v, 6)
        };
        let topics = if full {
            vec![
                tags!(
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(s("orders")))
                        .with_partitions(vec![partition(0), partition(1)]),
                    v,
                    6
                ),
                OffsetFetchResponseTopic::default().with_name(TopicName(s("t2"))),
            ]
        } else {
            vec![]
        };
        response = response.with_topics(topics);
        if v >= 2 {
            response = response.with_error_code(0);
        }
    } else {
        let partition = |index: i32| {
            tags!(
                OffsetFetchResponsePartitions::default()
                    .with_partition_index(index)
                    .with_committed_offset(100)
                    .with_committed_leader_epoch(3)
                    .with_metadata(metadata(index))
                    .with_error_code(0),
                v,
                6
            )
        };
        let topics = |n: i32| {
            (0..n)
                .map(|i| {
                    tags!(
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(s("orders")))
                            .with_partitions(vec![partition(i), partition(i + 1)]),
                        v,
                        6
                    )
                })
                .collect::<Vec<_>>()
        };
        let groups = if full {
            vec![
                tags!(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(GroupId(s("group-a")))
                        .with_topics(topics(2)),
                    v,
                    6
                ),
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(s("group-b")))
                    .with_error_code(16),
            ]
        } else {
            vec![OffsetFetchResponseGroup::default().with_group_id(GroupId(s("g")))]
        };
        response = response.with_groups(groups);
    }
    tags!(response, v, 6)
}

// ---- FindCoordinator 0–4 (flexible from 3) --------------------------------------

fn find_coordinator(v: i16, full: bool) -> FindCoordinatorResponse {
    use find_coordinator_response::*;
    let mut response = FindCoordinatorResponse::default();
    if v >= 1 {
        response = response.with_throttle_time_ms(4);
    }
    if v <= 3 {
        response = response
            .with_error_code(0)
            .with_node_id(BrokerId(3))
            .with_host(s("coordinator.example"))
            .with_port(9094);
        if v >= 1 {
            response = response.with_error_message(full.then(|| s("none")));
        }
    } else {
        let coordinator = |key: &'static str, message: Option<StrBytes>| {
            tags!(
                Coordinator::default()
                    .with_key(s(key))
                    .with_node_id(BrokerId(1))
                    .with_host(s("h"))
                    .with_port(1)
                    .with_error_code(0)
                    .with_error_message(message),
                v,
                3
            )
        };
        let coordinators = if full {
            vec![
                coordinator("group-a", None),
                coordinator("group-b", Some(s("not available"))),
            ]
        } else {
            vec![]
        };
        response = response.with_coordinators(coordinators);
    }
    tags!(response, v, 3)
}

// ---- JoinGroup 0–9 (flexible from 6) --------------------------------------------

fn join_group(v: i16, full: bool) -> JoinGroupResponse {
    use join_group_response::*;
    let member = |id: &'static str, instance: Option<StrBytes>| {
        let mut m = JoinGroupResponseMember::default()
            .with_member_id(s(id))
            .with_metadata(blob(150));
        if v >= 5 {
            m = m.with_group_instance_id(instance);
        }
        tags!(m, v, 6)
    };
    let members = if full {
        vec![member("m-1", Some(s("instance-1"))), member("m-2", None)]
    } else {
        vec![]
    };
    let mut response = JoinGroupResponse::default()
        .with_error_code(0)
        .with_generation_id(5)
        .with_protocol_name(Some(s("range")))
        .with_leader(s("m-1"))
        .with_member_id(s("m-1"))
        .with_members(members);
    if v >= 2 {
        response = response.with_throttle_time_ms(1);
    }
    if v >= 7 {
        response = response
            .with_protocol_type(full.then(|| s("consumer")))
            .with_protocol_name(full.then(|| s("range")));
    }
    if v >= 9 {
        response = response.with_skip_assignment(full);
    }
    tags!(response, v, 6)
}

// ---- Heartbeat 0–4, LeaveGroup 0–5, SyncGroup 0–5 -------------------------------

fn heartbeat(v: i16) -> HeartbeatResponse {
    let mut response = HeartbeatResponse::default().with_error_code(27);
    if v >= 1 {
        response = response.with_throttle_time_ms(100);
    }
    tags!(response, v, 4)
}

fn leave_group(v: i16, full: bool) -> LeaveGroupResponse {
    use leave_group_response::*;
    let mut response = LeaveGroupResponse::default().with_error_code(0);
    if v >= 1 {
        response = response.with_throttle_time_ms(1);
    }
    if v >= 3 && full {
        response = response.with_members(vec![
            tags!(
                MemberResponse::default()
                    .with_member_id(s("m-1"))
                    .with_group_instance_id(Some(s("i-1"))),
                v,
                4
            ),
            MemberResponse::default()
                .with_member_id(s("m-2"))
                .with_group_instance_id(None)
                .with_error_code(25),
        ]);
    }
    tags!(response, v, 4)
}

fn sync_group(v: i16, full: bool) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default()
        .with_error_code(0)
        .with_assignment(if full { blob(200) } else { Bytes::new() });
    if v >= 1 {
        response = response.with_throttle_time_ms(1);
    }
    if v >= 5 {
        response = response
            .with_protocol_type(full.then(|| s("consumer")))
            .with_protocol_name(full.then(|| s("cooperative-sticky")));
    }
    tags!(response, v, 4)
}

// ---- DescribeGroups 0–5 (flexible from 5) ---------------------------------------

fn describe_groups(v: i16, full: bool) -> DescribeGroupsResponse {
    use describe_groups_response::*;
    let member = |id: &'static str| {
        let mut m = DescribedGroupMember::default()
            .with_member_id(s(id))
            .with_client_id(s("client"))
            .with_client_host(s("/127.0.0.1"))
            .with_member_metadata(blob(40))
            .with_member_assignment(blob(130));
        if v >= 4 {
            m = m.with_group_instance_id(full.then(|| s("instance")));
        }
        tags!(m, v, 5)
    };
    let group = |id: &'static str, members: Vec<DescribedGroupMember>| {
        let mut g = DescribedGroup::default()
            .with_error_code(0)
            .with_group_id(GroupId(s(id)))
            .with_group_state(s("Stable"))
            .with_protocol_type(s("consumer"))
            .with_protocol_data(s("range"))
            .with_members(members);
        if v >= 3 {
            g = g.with_authorized_operations(0x0ff);
        }
        tags!(g, v, 5)
    };
    let groups = if full {
        vec![
            group("g-1", vec![member("a"), member("b")]),
            group("g-2", vec![member("c")]),
        ]
    } else {
        vec![group("g", vec![])]
    };
    let mut response = DescribeGroupsResponse::default().with_groups(groups);
    if v >= 1 {
        response = response.with_throttle_time_ms(1);
    }
    tags!(response, v, 5)
}

// ---- SaslHandshake 0–1, SaslAuthenticate 0–2 ------------------------------------

fn sasl_handshake(full: bool) -> SaslHandshakeResponse {
    let mechanisms = if full {
        vec![s("PLAIN"), s("SCRAM-SHA-256"), s("SCRAM-SHA-512")]
    } else {
        vec![]
    };
    SaslHandshakeResponse::default()
        .with_error_code(0)
        .with_mechanisms(mechanisms)
}

fn sasl_authenticate(v: i16, full: bool) -> SaslAuthenticateResponse {
    let mut response = SaslAuthenticateResponse::default()
        .with_error_code(0)
        .with_error_message(full.then(|| s("welcome")))
        .with_auth_bytes(if full { blob(180) } else { Bytes::new() });
    if v >= 1 {
        response = response.with_session_lifetime_ms(3_600_000);
    }
    tags!(response, v, 2)
}

// ---- ApiVersions 0–3 (flexible from 3) ------------------------------------------

fn api_versions(v: i16, full: bool) -> ApiVersionsResponse {
    use api_versions_response::*;
    let key = |api: i16, max: i16| {
        tags!(
            ApiVersion::default()
                .with_api_key(api)
                .with_min_version(0)
                .with_max_version(max),
            v,
            3
        )
    };
    let keys = if full {
        (0..70).map(|api| key(api, api % 13)).collect()
    } else {
        vec![key(18, 3)]
    };
    let mut response = ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(keys);
    if v >= 1 {
        response = response.with_throttle_time_ms(0);
    }
    if v >= 3 && full {
        response = response
            .with_supported_features(vec![
                tags!(
                    SupportedFeatureKey::default()
                        .with_name(s("metadata.version"))
                        .with_min_version(1)
                        .with_max_version(20),
                    v,
                    3
                ),
                SupportedFeatureKey::default()
                    .with_name(s("kraft.version"))
                    .with_max_version(1),
            ])
            .with_finalized_features_epoch(99)
            .with_finalized_features(vec![
                FinalizedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_max_version_level(20)
                    .with_min_version_level(20),
                FinalizedFeatureKey::default().with_name(s("group.version")),
            ])
            .with_zk_migration_ready(true);
    }
    tags!(response, v, 3)
}

// ---- CreateTopics 2–7 (flexible from 5), DeleteTopics 1–6 (from 4) --------------

fn create_topics(v: i16, full: bool) -> CreateTopicsResponse {
    use create_topics_response::*;
    let config = |name: &'static str, value: Option<StrBytes>| {
        tags!(
            CreatableTopicConfigs::default()
                .with_name(s(name))
                .with_value(value)
                .with_read_only(true)
                .with_config_source(5)
                .with_is_sensitive(false),
            v,
            5
        )
    };
    let topic = |name: &'static str, error: Option<StrBytes>| {
        let mut t = CreatableTopicResult::default()
            .with_name(TopicName(s(name)))
            .with_error_code(if error.is_some() { 36 } else { 0 })
            .with_error_message(error);
        if v >= 7 {
            t = t.with_topic_id(uuid_of(3).topic_id);
        }
        if v >= 5 {
            t = t.with_num_partitions(6).with_replication_factor(3);
            t = if full {
                t.with_topic_config_error_code(29).with_configs(Some(vec![
                    config("cleanup.policy", Some(s("compact"))),
                    config("secret", None),
                ]))
            } else {
                t.with_configs(None)
            };
        }
        tags!(t, v, 5)
    };
    let topics = if full {
        vec![topic("a", None), topic("b", Some(s("already exists")))]
    } else {
        vec![topic("c", None)]
    };
    let response = CreateTopicsResponse::default()
        .with_throttle_time_ms(1)
        .with_topics(topics);
    tags!(response, v, 5)
}

fn delete_topics(v: i16, full: bool) -> DeleteTopicsResponse {
    use delete_topics_response::*;
    let result = |name: Option<&'static str>, message: Option<StrBytes>| {
        let mut r = DeletableTopicResult::default()
            .with_name(name.map(|n| TopicName(s(n))))
            .with_error_code(if message.is_some() { 3 } else { 0 });
        if v >= 6 {
            r = r.with_topic_id(uuid_of(5).topic_id);
        }
        if v >= 5 {
            r = r.with_error_message(message);
        }
        tags!(r, v, 4)
    };
    let responses = if full {
        let nameless = if v >= 6 { None } else { Some("gone") };
        vec![
            result(Some("a"), Some(s("unknown topic"))),
            result(nameless, None),
        ]
    } else {
        vec![]
    };
    let response = DeleteTopicsResponse::default()
        .with_throttle_time_ms(2)
        .with_responses(responses);
    tags!(response, v, 4)
}

// ---- InitProducerId 0–5 (flexible from 2) ---------------------------------------

fn init_producer_id(v: i16) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_throttle_time_ms(0)
        .with_error_code(0)
        .with_producer_id(ProducerId(1 << 33))
        .with_producer_epoch(4);
    tags!(response, v, 2)
}

// ---- ConsumerGroupHeartbeat 0–1 (always flexible) -------------------------------

fn consumer_group_heartbeat(v: i16, full: bool) -> ConsumerGroupHeartbeatResponse {
    use consumer_group_heartbeat_response::*;
    let topic =
        |seed: u8, partitions: Vec<i32>| tags!(uuid_of(seed).with_partitions(partitions), v, 0);
    let assignment = full.then(|| {
        tags!(
            Assignment::default()
                .with_topic_partitions(vec![topic(1, vec![0, 1, 2]), topic(2, vec![]),]),
            v,
            0
        )
    });
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_throttle_time_ms(0)
        .with_error_code(0)
        .with_error_message(if full { None } else { Some(s("fenced")) })
        .with_member_id(Some(s("member-1")))
        .with_member_epoch(12)
        .with_heartbeat_interval_ms(5000)
        .with_assignment(assignment);
    tags!(response, v, 0)
}

#[test]
fn every_sample_round_trips_through_kafka_protocol() {
    for (api, version) in all_versions() {
        assert_eq!(samples(api, version).len(), 2, "{api:?} v{version}");
    }
}
