//! Differential tests of the bounds guard against kafka-protocol: responses built
//! with kafka-protocol's builders and encoded by its encoder must be accepted, to the
//! byte, and decode; truncated or corrupted ones must be refused or decode, never
//! abort; and wherever the guard accepts, it must agree with the decoder on where
//! the body ends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod guard_samples;

use bytes::Bytes;
use flame_kafka_codec::guard::{
    check_response, length_prefixes, response_body_len, LengthEncoding, LengthPrefix,
};
use flame_kafka_codec::messages::*;
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::versions::client_range;
use flame_kafka_codec::CodecError;
use guard_samples::{decode_frame, decoded_len, encode, frame, samples};
use proptest::prelude::*;

const CORRELATION_ID: i32 = 0x0102_0304;

/// What the checks of one API covered.
#[derive(Debug, Default)]
struct Tally {
    samples: usize,
    truncations: usize,
    blown_prefixes: usize,
    overwrites: usize,
    overwrites_accepted: usize,
}

/// Runs every check on every sample of `api` at every version the client speaks.
fn check_api(api: ApiKey) -> Tally {
    let (min, max) = client_range(api).expect("a client API");
    let mut tally = Tally::default();
    for version in min..=max {
        for body in samples(api, version) {
            accepts_exactly(api, version, &body);
            tally.samples += 1;
            tally.truncations += truncations_are_refused(api, version, &body);
            tally.blown_prefixes += blown_up_lengths_are_refused(api, version, &body);
            let (tried, accepted) = overwrites_never_abort(api, version, &body);
            tally.overwrites += tried;
            tally.overwrites_accepted += accepted;
        }
    }
    eprintln!("{api:?} v{min}..=v{max}: {tally:?}");
    tally
}

/// The guard accepts `body` and measures it to the byte; so does the decoder; and the
/// whole frame decodes through `decode_response`.
fn accepts_exactly(api: ApiKey, version: i16, body: &[u8]) {
    assert_eq!(
        response_body_len(api, version, body),
        Ok(body.len()),
        "{api:?} v{version}: guard refused a well-formed body"
    );
    assert_eq!(decoded_len(api, version, body), Ok(body.len()));
    let whole = frame(api, version, CORRELATION_ID, body);
    if let Err(e) = decode_frame(api, version, whole, CORRELATION_ID) {
        panic!("{api:?} v{version}: decode_response failed: {e}");
    }
}

/// Every proper prefix of `body` is refused, by the guard and by `decode_response`.
fn truncations_are_refused(api: ApiKey, version: i16, body: &[u8]) -> usize {
    for len in 0..body.len() {
        let prefix = &body[..len];
        assert!(
            check_response(api, version, prefix).is_err(),
            "{api:?} v{version}: prefix of {len}/{} bytes accepted",
            body.len()
        );
        let whole = frame(api, version, CORRELATION_ID, prefix);
        assert!(decode_frame(api, version, whole, CORRELATION_ID).is_err());
    }
    body.len()
}

/// `body` with the length prefix `at` set to the largest value its encoding holds.
fn blow_up(body: &[u8], at: LengthPrefix) -> Vec<u8> {
    let mut out = body[..at.offset].to_vec();
    let rest = match at.encoding {
        LengthEncoding::Int16 => {
            out.extend(i16::MAX.to_be_bytes());
            at.offset + 2
        }
        LengthEncoding::Int32 => {
            out.extend(i32::MAX.to_be_bytes());
            at.offset + 4
        }
        LengthEncoding::UnsignedVarint { len } => {
            out.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
            at.offset + len
        }
    };
    out.extend_from_slice(&body[rest..]);
    out
}

/// Setting any one length prefix of `body` to a huge value is refused with a typed
/// error, by the guard and by `decode_response`.
fn blown_up_lengths_are_refused(api: ApiKey, version: i16, body: &[u8]) -> usize {
    let prefixes = length_prefixes(api, version, body).expect("a well-formed body");
    for &at in &prefixes {
        let bad = blow_up(body, at);
        match check_response(api, version, &bad) {
            Err(CodecError::MalformedResponse { .. }) => {}
            other => panic!("{api:?} v{version}: huge length at {at:?} gave {other:?}"),
        }
        let whole = frame(api, version, CORRELATION_ID, &bad);
        assert!(decode_frame(api, version, whole, CORRELATION_ID).is_err());
    }
    prefixes.len()
}

/// Overwrites each offset of `body` with a few hostile patterns; whenever the guard
/// accepts the result, kafka-protocol must decode it without aborting and, if it
/// succeeds, end the body exactly where the guard said. Returns (tried, accepted).
fn overwrites_never_abort(api: ApiKey, version: i16, body: &[u8]) -> (usize, usize) {
    const PATTERNS: [&[u8]; 4] = [
        &[0x7f, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0x80],
        &[0x00],
    ];
    let (mut tried, mut accepted) = (0, 0);
    for offset in 0..body.len() {
        for pattern in PATTERNS {
            let mut bad = body.to_vec();
            let end = (offset + pattern.len()).min(bad.len());
            bad[offset..end].copy_from_slice(&pattern[..end - offset]);
            tried += 1;
            if let Ok(len) = response_body_len(api, version, &bad) {
                accepted += 1;
                if let Ok(decoded) = decoded_len(api, version, &bad) {
                    assert_eq!(
                        decoded, len,
                        "{api:?} v{version}: guard and decoder disagree"
                    );
                }
            }
            let whole = frame(api, version, CORRELATION_ID, &bad);
            let _ = decode_frame(api, version, whole, CORRELATION_ID);
        }
    }
    (tried, accepted)
}

macro_rules! api_tests {
    ($($name:ident => $api:expr,)*) => {
        $(
            #[test]
            fn $name() {
                check_api($api);
            }
        )*
    };
}

api_tests! {
    roundtrip_produce => ApiKey::Produce,
    roundtrip_fetch => ApiKey::Fetch,
    roundtrip_list_offsets => ApiKey::ListOffsets,
    roundtrip_metadata => ApiKey::Metadata,
    roundtrip_offset_commit => ApiKey::OffsetCommit,
    roundtrip_offset_fetch => ApiKey::OffsetFetch,
    roundtrip_find_coordinator => ApiKey::FindCoordinator,
    roundtrip_join_group => ApiKey::JoinGroup,
    roundtrip_heartbeat => ApiKey::Heartbeat,
    roundtrip_leave_group => ApiKey::LeaveGroup,
    roundtrip_sync_group => ApiKey::SyncGroup,
    roundtrip_describe_groups => ApiKey::DescribeGroups,
    roundtrip_sasl_handshake => ApiKey::SaslHandshake,
    roundtrip_api_versions => ApiKey::ApiVersions,
    roundtrip_create_topics => ApiKey::CreateTopics,
    roundtrip_delete_topics => ApiKey::DeleteTopics,
    roundtrip_init_producer_id => ApiKey::InitProducerId,
    roundtrip_sasl_authenticate => ApiKey::SaslAuthenticate,
    roundtrip_consumer_group_heartbeat => ApiKey::ConsumerGroupHeartbeat,
}

#[test]
fn eight_byte_metadata_claiming_a_huge_array_is_refused() {
    // Metadata v1 (header v0): brokers count 0x7fffffff, then four bytes.
    let body = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    let whole = frame(ApiKey::Metadata, 1, 9, &body);
    let err = flame_kafka_codec::decode_response::<MetadataRequest>(whole, 1, 9).unwrap_err();
    match err {
        CodecError::MalformedResponse {
            api: ApiKey::Metadata,
            version: 1,
            reason,
        } => assert!(reason.contains("MetadataResponse.brokers"), "{reason}"),
        other => panic!("expected MalformedResponse, got {other:?}"),
    }
    // The same at v12 (header v1, compact count u32::MAX - 1).
    let body = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    let whole = frame(ApiKey::Metadata, 12, 9, &body);
    assert!(flame_kafka_codec::decode_response::<MetadataRequest>(whole, 12, 9).is_err());
}

#[test]
fn api_versions_v0_fallback_body_is_refused_at_v3_and_decodes_at_v0() {
    let v0 = ApiVersionsResponse::default()
        .with_error_code(35)
        .with_api_keys(vec![api_versions_response::ApiVersion::default()
            .with_api_key(18)
            .with_max_version(2)]);
    let body = encode(&v0, 0);
    assert!(flame_kafka_codec::guard::is_api_versions_v0_fallback(
        3, &body
    ));
    let whole = frame(ApiKey::ApiVersions, 3, 1, &body);
    match decode_frame(ApiKey::ApiVersions, 3, whole, 1) {
        Err(CodecError::MalformedResponse { reason, .. }) => {
            assert!(reason.contains("UNSUPPORTED_VERSION"), "{reason}")
        }
        other => panic!("expected MalformedResponse, got {other:?}"),
    }
    assert_eq!(
        decode_frame(
            ApiKey::ApiVersions,
            0,
            frame(ApiKey::ApiVersions, 0, 1, &body),
            1
        ),
        Ok(())
    );
}

// ---- Random values in a few shapes ------------------------------------------------

fn text(t: String) -> StrBytes {
    StrBytes::from_string(t)
}

/// Encodes `value`, then checks the guard measures it exactly and it decodes.
fn accepted<T>(api: ApiKey, version: i16, value: &T) -> Result<(), TestCaseError>
where
    T: flame_kafka_codec::protocol::Encodable
        + flame_kafka_codec::protocol::Decodable
        + PartialEq
        + std::fmt::Debug,
{
    let body = encode(value, version);
    prop_assert_eq!(response_body_len(api, version, &body), Ok(body.len()));
    let whole = frame(api, version, CORRELATION_ID, &body);
    prop_assert_eq!(decode_frame(api, version, whole, CORRELATION_ID), Ok(()));
    Ok(())
}

type RandomBroker = (i32, String, Option<String>);
type RandomTopic = (Option<String>, bool, Vec<(i32, Vec<i32>, Vec<i32>)>);

fn metadata_of(v: i16, brokers: Vec<RandomBroker>, topics: Vec<RandomTopic>) -> MetadataResponse {
    use metadata_response::*;
    let ids = |ids: Vec<i32>| ids.into_iter().map(BrokerId).collect::<Vec<_>>();
    let brokers = brokers
        .into_iter()
        .map(|(id, host, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(text(host))
                .with_rack(rack.filter(|_| v >= 1).map(text))
        })
        .collect();
    let topics = topics
        .into_iter()
        .map(|(name, internal, partitions)| {
            let name = name.or_else(|| (v < 12).then(String::new));
            let partitions = partitions
                .into_iter()
                .map(|(index, replicas, offline)| {
                    MetadataResponsePartition::default()
                        .with_partition_index(index)
                        .with_replica_nodes(ids(replicas.clone()))
                        .with_isr_nodes(ids(replicas))
                        .with_offline_replicas(if v >= 5 { ids(offline) } else { vec![] })
                })
                .collect();
            MetadataResponseTopic::default()
                .with_name(name.map(|n| TopicName(text(n))))
                .with_is_internal(internal)
                .with_partitions(partitions)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics)
}

type RandomPartition = (i32, Option<Vec<u8>>, Option<Vec<(i64, i64)>>);

fn fetch_of(topics: Vec<(String, Vec<RandomPartition>)>) -> FetchResponse {
    use fetch_response::*;
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, records, aborted)| {
                    let aborted = aborted.map(|txns| {
                        txns.into_iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(pid))
                                    .with_first_offset(first)
                            })
                            .collect()
                    });
                    PartitionData::default()
                        .with_partition_index(index)
                        .with_records(records.map(Bytes::from))
                        .with_aborted_transactions(aborted)
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(TopicName(text(name)))
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default().with_responses(topics)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_metadata_is_accepted(
        v in 1i16..=12,
        brokers in prop::collection::vec(
            (any::<i32>(), "[a-z0-9.-]{0,40}", prop::option::of("[a-z]{0,8}")), 0..5),
        topics in prop::collection::vec(
            (prop::option::of("[a-z_]{1,30}"), any::<bool>(), prop::collection::vec(
                (any::<i32>(), prop::collection::vec(any::<i32>(), 0..6),
                 prop::collection::vec(any::<i32>(), 0..3)), 0..4)), 0..4),
    ) {
        accepted(ApiKey::Metadata, v, &metadata_of(v, brokers, topics))?;
    }

    #[test]
    fn random_fetch_is_accepted(
        v in 4i16..=12,
        topics in prop::collection::vec(
            ("[a-z]{1,20}", prop::collection::vec(
                (any::<i32>(),
                 prop::option::of(prop::collection::vec(any::<u8>(), 0..400)),
                 prop::option::of(prop::collection::vec((any::<i64>(), any::<i64>()), 0..3))),
                0..4)),
            0..3),
    ) {
        accepted(ApiKey::Fetch, v, &fetch_of(topics))?;
    }

    #[test]
    fn random_join_group_is_accepted(
        v in 0i16..=9,
        leader in "[a-z0-9-]{0,50}",
        members in prop::collection::vec(
            ("[a-z0-9-]{0,50}", prop::option::of("[a-z]{1,10}"),
             prop::collection::vec(any::<u8>(), 0..300)), 0..5),
    ) {
        use join_group_response::*;
        let members = members
            .into_iter()
            .map(|(id, instance, metadata)| {
                JoinGroupResponseMember::default()
                    .with_member_id(text(id))
                    .with_group_instance_id(instance.filter(|_| v >= 5).map(text))
                    .with_metadata(Bytes::from(metadata))
            })
            .collect();
        let response = JoinGroupResponse::default()
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_leader(text(leader))
            .with_members(members);
        accepted(ApiKey::JoinGroup, v, &response)?;
    }

    #[test]
    fn random_api_versions_are_accepted(
        v in 0i16..=3,
        keys in prop::collection::vec((any::<i16>(), any::<i16>(), any::<i16>()), 0..120),
        features in prop::collection::vec(("[a-z.]{1,30}", any::<i16>()), 0..4),
    ) {
        use api_versions_response::*;
        let keys = keys
            .into_iter()
            .map(|(key, min, max)| {
                ApiVersion::default().with_api_key(key).with_min_version(min).with_max_version(max)
            })
            .collect();
        let mut response = ApiVersionsResponse::default().with_api_keys(keys);
        if v >= 3 {
            let supported = features
                .iter()
                .map(|(name, max)| {
                    SupportedFeatureKey::default()
                        .with_name(text(name.clone()))
                        .with_max_version(*max)
                })
                .collect();
            response = response.with_supported_features(supported);
        }
        accepted(ApiKey::ApiVersions, v, &response)?;
    }

    #[test]
    fn random_sasl_handshake_is_accepted(
        v in 0i16..=1,
        mechanisms in prop::collection::vec("[A-Z0-9-]{0,20}", 0..10),
    ) {
        let response = SaslHandshakeResponse::default()
            .with_mechanisms(mechanisms.into_iter().map(text).collect());
        accepted(ApiKey::SaslHandshake, v, &response)?;
    }
}
