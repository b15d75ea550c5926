use super::*;
use flame_kafka_codec::protocol::Encodable;

fn identity() -> Identity {
    Identity {
        generation: 3,
        member_id: Arc::from("m"),
        instance_id: Some(Arc::from("i")),
    }
}

/// Fetch settings for building requests; `rack` is `client.rack`.
fn fetch_settings(rack: Option<&str>) -> FetchSettings {
    FetchSettings {
        min_bytes: 1,
        max_wait: std::time::Duration::from_millis(500),
        max_bytes: 1 << 20,
        partition_max_bytes: 1 << 20,
        max_buffered_bytes: 1 << 20,
        isolation: crate::Isolation::ReadCommitted,
        offset_reset: crate::OffsetReset::Earliest,
        check_crcs: true,
        retry_backoff: std::time::Duration::from_millis(100),
        rack: rack.map(Arc::from),
        read_replica_ttl: std::time::Duration::from_secs(300),
    }
}

/// Every request builds and encodes at every version this client speaks.
#[test]
fn requests_encode_at_every_client_version() {
    use flame_kafka_codec::messages::ApiKey;
    use flame_kafka_codec::versions::client_range;
    let id = identity();
    let tp = TopicPartition::new("t", 1);
    let offsets = vec![(
        tp.clone(),
        CommitOffset {
            offset: 5,
            leader_epoch: 2,
        },
    )];
    let settings = fetch_settings(Some("r1"));
    let plan = vec![FetchPartitionPlan {
        tp: tp.clone(),
        offset: 0,
        current_leader_epoch: 1,
        // Not -1: kafka-protocol refuses a non-default value below v12, so this
        // checks the field is only set where the version has it.
        last_fetched_epoch: 3,
    }];
    let hb = ConsumerHeartbeat {
        group_id: Arc::from("g"),
        member_id: Arc::from("m"),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 1000,
        subscribed_topic_names: Some(vec![Arc::from("t")]),
        server_assignor: None,
        topic_partitions: Some(vec![]),
    };
    fn encodes<M: Encodable>(m: &M, v: i16, what: ApiKey) {
        let mut buf = bytes::BytesMut::new();
        m.encode(&mut buf, v)
            .unwrap_or_else(|e| panic!("{what:?} v{v}: {e}"));
    }
    let range = |api| client_range(api).unwrap();
    for v in range(ApiKey::FindCoordinator).0..=range(ApiKey::FindCoordinator).1 {
        encodes(
            &find_coordinator_request("g", v),
            v,
            ApiKey::FindCoordinator,
        );
    }
    for v in range(ApiKey::JoinGroup).0..=range(ApiKey::JoinGroup).1 {
        let protocols = vec![("range".to_string(), Bytes::from_static(b"x"))];
        encodes(
            &join_group_request("g", &id, 45_000, 300_000, &protocols, "r", v),
            v,
            ApiKey::JoinGroup,
        );
    }
    for v in range(ApiKey::SyncGroup).0..=range(ApiKey::SyncGroup).1 {
        encodes(
            &sync_group_request("g", &id, "range", &[("m".into(), Bytes::new())], v),
            v,
            ApiKey::SyncGroup,
        );
    }
    for v in range(ApiKey::Heartbeat).0..=range(ApiKey::Heartbeat).1 {
        encodes(&heartbeat_request("g", &id, v), v, ApiKey::Heartbeat);
    }
    for v in range(ApiKey::LeaveGroup).0..=range(ApiKey::LeaveGroup).1 {
        encodes(
            &leave_group_request("g", &id, "bye", v),
            v,
            ApiKey::LeaveGroup,
        );
    }
    for v in range(ApiKey::OffsetCommit).0..=range(ApiKey::OffsetCommit).1 {
        encodes(
            &offset_commit_request("g", &id, &offsets, v),
            v,
            ApiKey::OffsetCommit,
        );
    }
    for v in range(ApiKey::OffsetFetch).0..=range(ApiKey::OffsetFetch).1 {
        encodes(
            &offset_fetch_request("g", &id, std::slice::from_ref(&tp), v),
            v,
            ApiKey::OffsetFetch,
        );
    }
    for v in range(ApiKey::Fetch).0..=range(ApiKey::Fetch).1 {
        encodes(&fetch_request(&settings, &plan, v), v, ApiKey::Fetch);
    }
    for v in range(ApiKey::ListOffsets).0..=range(ApiKey::ListOffsets).1 {
        encodes(
            &list_offsets_request(1, &[(tp.clone(), -2, 1)], v),
            v,
            ApiKey::ListOffsets,
        );
    }
    for v in range(ApiKey::ConsumerGroupHeartbeat).0..=range(ApiKey::ConsumerGroupHeartbeat).1 {
        encodes(
            &consumer_heartbeat_request(&hb, v),
            v,
            ApiKey::ConsumerGroupHeartbeat,
        );
    }
}

#[test]
fn find_coordinator_reads_both_layouts() {
    use flame_kafka_codec::messages::find_coordinator_response::Coordinator;
    let old = FindCoordinatorResponse::default().with_node_id(WireBrokerId(4));
    assert_eq!(
        parse_find_coordinator(&old, 3),
        GroupResponse::FindCoordinator(Ok(NodeId(4)))
    );
    let new = FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default()
        .with_node_id(WireBrokerId(-1))
        .with_error_code(15)]);
    assert_eq!(
        parse_find_coordinator(&new, 4),
        GroupResponse::FindCoordinator(Err(KafkaCode::CoordinatorNotAvailable))
    );
}

/// KIP-320 on the wire: `last_fetched_epoch` goes out from v12 on, and a
/// `diverging_epoch` in the answer reaches the fetcher (an absent one does not).
#[test]
fn fetch_carries_last_fetched_epoch_and_reads_diverging_epoch() {
    use flame_kafka_codec::messages::fetch_response::{
        EpochEndOffset, FetchableTopicResponse, PartitionData,
    };
    let settings = fetch_settings(None);
    let plan = vec![FetchPartitionPlan {
        tp: TopicPartition::new("t", 0),
        offset: 15,
        current_leader_epoch: 4,
        last_fetched_epoch: 2,
    }];
    let sent = fetch_request(&settings, &plan, 12);
    let p = &sent.topics[0].partitions[0];
    assert_eq!((p.fetch_offset, p.last_fetched_epoch), (15, 2));
    let old = fetch_request(&settings, &plan, 11);
    assert_eq!(old.topics[0].partitions[0].last_fetched_epoch, -1);

    let answer = |diverging: EpochEndOffset| {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic("t"))
            .with_partitions(vec![PartitionData::default()
                .with_partition_index(0)
                .with_diverging_epoch(diverging)])])
    };
    let parsed = parse_fetch(answer(
        EpochEndOffset::default().with_epoch(2).with_end_offset(5),
    ))
    .unwrap();
    assert_eq!(
        parsed[0].diverging_epoch,
        Some(DivergingEpoch {
            epoch: 2,
            end_offset: 5
        })
    );
    let parsed = parse_fetch(answer(EpochEndOffset::default())).unwrap();
    assert_eq!(parsed[0].diverging_epoch, None);
}
