//! Errors, timeouts, memory bounds, metadata and transport failures.

use super::*;

#[test]
fn permanent_errors_fail_at_once_with_context() {
    let mut s = Sim::new(config());
    let id = s.append("t", Some(3), record("a"));
    s.metadata("t", &[1, 1, 1, 1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, Some(KafkaCode::TopicAuthorizationFailed));
    match s.outcome(id) {
        Err(
            e @ ProduceError::Broker {
                topic,
                partition,
                code,
                ..
            },
        ) => {
            assert_eq!(
                (topic.as_str(), *partition, *code),
                ("t", 3, KafkaCode::TopicAuthorizationFailed)
            );
            assert!(!e.is_retriable());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn timeouts_fail_every_record() {
    let mut s = Sim::new(ProducerConfig {
        message_timeout: Duration::from_secs(1),
        ..config()
    });
    // Records waiting for metadata that never comes.
    let waiting: Vec<_> = (0..3)
        .map(|i| s.append("nowhere", None, record(&i.to_string())))
        .collect();
    assert!(s.acc.poll_metadata(s.now).is_some());
    // Records in a batch that keeps failing.
    let retried = s.append("t", Some(0), record("r"));
    s.acc.handle_metadata(
        vec![TopicUpdate {
            topic: "t".into(),
            leaders: Ok(vec![Some(BrokerId(1))]),
        }],
        s.now,
    );
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, Some(KafkaCode::NotEnoughReplicas));
    // Records queued behind a partition without a leader.
    let leaderless = s.append("u", Some(0), record("l"));
    let deadline = s.t0 + Duration::from_millis(1100);
    while s.now < deadline {
        let next = s.acc.poll_timeout(s.now).unwrap_or(deadline).min(deadline);
        s.advance(next.max(s.now + MS) - s.now);
        if let Some(topics) = s.acc.poll_metadata(s.now) {
            let updates = topics
                .into_iter()
                .filter(|t| t == "u")
                .map(|t| TopicUpdate {
                    topic: t,
                    leaders: Ok(vec![None]),
                })
                .collect();
            s.acc.handle_metadata(updates, s.now);
        }
        if let Some(req) = s.poll() {
            s.answer(&req, Some(KafkaCode::NotEnoughReplicas));
        }
    }
    for id in waiting.into_iter().chain([retried, leaderless]) {
        match s.outcome(id) {
            Err(ProduceError::Timeout { timeout, .. }) => {
                assert_eq!(*timeout, Duration::from_secs(1))
            }
            other => panic!("{id:?}: {other:?}"),
        }
    }
    match s.outcome(retried) {
        Err(ProduceError::Timeout {
            partition: Some(0),
            last_error: Some(last),
            ..
        }) => {
            assert_eq!(last.kafka_code(), Some(KafkaCode::NotEnoughReplicas))
        }
        other => panic!("{other:?}"),
    }
    assert!(s.acc.is_empty(), "nothing held after the timeouts");
    assert_eq!(s.acc.held_messages(), 0);
}

#[test]
fn an_in_flight_batch_past_its_deadline_fails_on_a_retriable_answer() {
    let mut s = Sim::new(ProducerConfig {
        message_timeout: Duration::from_millis(50),
        ..config()
    });
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.advance(100 * MS);
    assert!(s.outcomes.is_empty(), "in-flight batches are not expired");
    s.acc.handle_produce_failed(
        req.id,
        &ClusterError::UnknownBroker {
            broker: BrokerId(1),
        },
        s.now,
    );
    s.collect();
    assert!(matches!(s.outcome(id), Err(ProduceError::Timeout { .. })));
}

#[test]
fn memory_is_bounded() {
    let mut s = Sim::new(ProducerConfig {
        queue_buffering_max_messages: 3,
        ..config()
    });
    for i in 0..3 {
        s.append("t", Some(0), record(&i.to_string()));
    }
    match s.acc.try_append("t", Some(0), record("x"), s.now, s.now) {
        Err(AppendError::Full(r)) => assert_eq!(r.value.as_deref(), Some(&b"x"[..])),
        other => panic!("{other:?}"),
    }
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert!(
        s.acc
            .try_append("t", Some(0), record("x"), s.now, s.now)
            .is_err(),
        "in flight still counts"
    );
    s.answer(&req, None);
    assert!(s
        .acc
        .try_append("t", Some(0), record("x"), s.now, s.now)
        .is_ok());

    let one = record(&"v".repeat(1000));
    let size = crate::record::record_size(&one);
    let mut s = Sim::new(ProducerConfig {
        queue_buffering_max_kbytes: 2,
        ..config()
    });
    s.append("t", Some(0), one.clone());
    assert!(size * 2 > 2048);
    assert!(matches!(
        s.acc.try_append("t", Some(0), one, s.now, s.now),
        Err(AppendError::Full(_))
    ));
}

#[test]
fn records_that_can_never_go_are_rejected() {
    let mut s = Sim::new(ProducerConfig {
        message_max_bytes: 1000,
        ..config()
    });
    match s
        .acc
        .try_append("t", None, record(&"v".repeat(1000)), s.now, s.now)
    {
        Err(AppendError::Rejected(ProduceError::RecordTooLarge { max, .. })) => {
            assert_eq!(max, 939)
        }
        other => panic!("{other:?}"),
    }
    s.append("t", Some(0), record("a"));
    let late = s.append("t", Some(5), record("b"));
    s.metadata("t", &[1, 1]);
    assert!(matches!(
        s.outcome(late),
        Err(ProduceError::UnknownPartition {
            partition: 5,
            partition_count: 2,
            ..
        })
    ));
    assert!(matches!(
        s.acc.try_append("t", Some(2), record("c"), s.now, s.now),
        Err(AppendError::Rejected(ProduceError::UnknownPartition { .. }))
    ));
    assert!(matches!(
        s.acc.try_append("t", Some(-1), record("c"), s.now, s.now),
        Err(AppendError::Rejected(ProduceError::UnknownPartition { .. }))
    ));
}

#[test]
fn unknown_topics_fail_after_the_propagation_wait() {
    let mut s = Sim::new(ProducerConfig {
        topic_metadata_propagation_max: Duration::from_millis(500),
        ..config()
    });
    let id = s.append("missing", None, record("a"));
    let unknown = |s: &mut Sim| {
        let topics = s.acc.poll_metadata(s.now).expect("asks again");
        let updates = topics
            .into_iter()
            .map(|topic| TopicUpdate {
                topic,
                leaders: Err(KafkaCode::UnknownTopicOrPartition),
            })
            .collect();
        s.acc.handle_metadata(updates, s.now);
        s.collect();
    };
    unknown(&mut s);
    assert!(
        s.outcomes.is_empty(),
        "new topics take a moment to propagate"
    );
    assert!(
        s.acc.poll_metadata(s.now).is_none(),
        "backoff between requests"
    );
    s.advance(100 * MS);
    unknown(&mut s);
    s.advance(400 * MS);
    assert!(
        matches!(s.outcome(id), Err(ProduceError::UnknownTopic { topic }) if topic == "missing")
    );

    let id = s.append("denied", None, record("a"));
    s.advance(100 * MS);
    let topics = s.acc.poll_metadata(s.now).unwrap();
    assert_eq!(topics, ["denied"]);
    s.acc.handle_metadata(
        vec![TopicUpdate {
            topic: "denied".into(),
            leaders: Err(KafkaCode::TopicAuthorizationFailed),
        }],
        s.now,
    );
    s.collect();
    assert!(matches!(
        s.outcome(id),
        Err(ProduceError::TopicMetadata {
            code: KafkaCode::TopicAuthorizationFailed,
            ..
        })
    ));
}

#[test]
fn leader_change_refreshes_metadata_and_retries_to_the_new_leader() {
    let mut s = Sim::new(config());
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_eq!(req.broker, BrokerId(1));
    s.answer(&req, Some(KafkaCode::NotLeaderOrFollower));
    s.advance(100 * MS);
    assert!(s.poll().is_none(), "no leader known");
    s.metadata("t", &[2]);
    let req = s.poll().expect("retry");
    assert_eq!(req.broker, BrokerId(2));
    s.answer(&req, None);
    assert!(s.outcome(id).is_ok());
}

#[test]
fn transport_errors_retry_when_retriable() {
    let mut s = Sim::new(config());
    let a = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.acc.handle_produce_failed(
        req.id,
        &ClusterError::UnknownBroker {
            broker: BrokerId(1),
        },
        s.now,
    );
    s.advance(100 * MS);
    s.metadata("t", &[1]);
    let req = s.poll().expect("retried");
    s.acc.handle_produce_failed(
        req.id,
        &ClusterError::UnknownTopic { topic: "t".into() },
        s.now,
    );
    s.collect();
    assert!(matches!(
        s.outcome(a),
        Err(ProduceError::Cluster {
            topic: Some(_),
            partition: Some(0),
            ..
        })
    ));
}

#[test]
fn acks_zero_reports_offset_minus_one() {
    let mut s = Sim::new(ProducerConfig {
        acks: Acks::None,
        ..ProducerConfig::default()
    });
    assert!(!s.acc.is_idempotent());
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_eq!((req.acks, req.request.acks), (Acks::None, 0));
    s.acc.handle_produce_sent(req.id);
    s.collect();
    assert_eq!(s.outcome(id).as_ref().unwrap().offset, -1);
}

#[test]
fn log_append_time_replaces_the_timestamp() {
    let mut s = Sim::new(config());
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    let part = PartitionProduceResponse::default()
        .with_index(0)
        .with_base_offset(42)
        .with_log_append_time_ms(777);
    let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_responses(vec![part])]);
    s.acc.handle_produce_response(req.id, &response, s.now);
    s.collect();
    let meta = s.outcome(id).as_ref().unwrap();
    assert_eq!((meta.offset, meta.timestamp), (42, 777));
}

#[test]
fn a_partition_missing_from_the_response_is_retried() {
    let mut s = Sim::new(config());
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.acc
        .handle_produce_response(req.id, &ProduceResponse::default(), s.now);
    s.collect();
    assert!(s.outcomes.is_empty());
    s.advance(100 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, None);
    assert!(s.outcome(id).is_ok());
}

#[test]
fn throttled_brokers_wait() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 1,
        ..config()
    });
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.append("t", Some(0), record("b"));
    let req = s.poll().unwrap();
    let _second = s.poll().unwrap();
    s.append("t", Some(0), record("c"));
    let response = ProduceResponse::default()
        .with_throttle_time_ms(300)
        .with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(vec![
                PartitionProduceResponse::default().with_index(0)
            ])]);
    s.acc.handle_produce_response(req.id, &response, s.now);
    assert!(s.poll().is_none(), "throttled");
    assert_eq!(s.acc.poll_timeout(s.now), Some(s.now + 300 * MS));
    s.advance(300 * MS);
    assert!(s.poll().is_some());
}

#[test]
fn a_new_topic_skips_the_metadata_backoff() {
    let mut s = Sim::new(config());
    s.append("a", None, record("x"));
    s.metadata("a", &[1]);
    assert!(s.acc.poll_metadata(s.now).is_none(), "nothing wanted");
    s.append("b", None, record("y"));
    assert_eq!(s.acc.poll_timeout(s.now), Some(s.now));
    assert_eq!(s.acc.poll_metadata(s.now), Some(vec!["b".to_owned()]));
}
