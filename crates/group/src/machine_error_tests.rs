//! Errors arriving at every stage.

use super::*;

#[test]
fn unknown_member_loses_partitions_and_rejoins_afresh() {
    let mut sim = stable(vec![]);
    let hb = sim.heartbeat();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::UnknownMemberId)),
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0, 1, 2, 3]),
            lost: true
        }]
    );
    let (out, _) = sim.expect_join();
    let GroupRequest::JoinGroup { identity, .. } = &out.request else {
        unreachable!()
    };
    assert_eq!(&*identity.member_id, "");
}

#[test]
fn illegal_generation_on_commit_fails_it_and_rejoins() {
    let mut sim = stable(vec![]);
    let tp = TopicPartition::new(T, 1);
    let op = sim.m.commit(
        vec![(
            tp.clone(),
            CommitOffset {
                offset: 5,
                leader_epoch: -1,
            },
        )],
        sim.now,
    );
    let out = sim.request();
    sim.respond(
        &out,
        GroupResponse::OffsetCommit(vec![(tp.clone(), Some(KafkaCode::IllegalGeneration))]),
    );
    assert_eq!(
        sim.events(),
        vec![
            GroupEvent::Revoke {
                partitions: tps(&[0, 1, 2, 3]),
                lost: true
            },
            GroupEvent::CommitDone(op, Ok(vec![(tp, Some(KafkaCode::IllegalGeneration))])),
        ]
    );
    let (out, _) = sim.expect_join();
    let GroupRequest::JoinGroup { identity, .. } = &out.request else {
        unreachable!()
    };
    assert_eq!(&*identity.member_id, "m1", "keeps its member id");
}

#[test]
fn fenced_static_member_is_fatal() {
    let mut sim = Sim::new(vec![], Some("instance-1"));
    sim.find(1);
    let (out, _) = sim.expect_join();
    let GroupRequest::JoinGroup { identity, .. } = &out.request else {
        unreachable!()
    };
    assert_eq!(identity.instance_id.as_deref(), Some("instance-1"));
    sim.respond(&out, join_err(KafkaCode::FencedInstanceId, ""));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Fatal(GroupError::Kafka(
            KafkaCode::FencedInstanceId
        ))]
    );
    assert_eq!(sim.m.state(), GroupState::Failed);
    sim.no_request();
}

#[test]
fn coordinator_loading_backs_off() {
    let mut sim = Sim::new(vec![], None);
    sim.find(1);
    let (out, _) = sim.expect_join();
    sim.respond(&out, join_err(KafkaCode::CoordinatorLoadInProgress, ""));
    sim.no_request();
    let before = sim.now;
    sim.advance();
    assert_eq!(sim.now - before, Duration::from_millis(100));
    sim.expect_join();
}

#[test]
fn commit_follows_the_coordinator_and_times_out_when_unreachable() {
    let mut sim = stable(vec![]);
    let tp = TopicPartition::new(T, 0);
    let offsets = vec![(
        tp.clone(),
        CommitOffset {
            offset: 1,
            leader_epoch: -1,
        },
    )];
    let op = sim.m.commit(offsets.clone(), sim.now);
    let out = sim.request();
    sim.respond(
        &out,
        GroupResponse::OffsetCommit(vec![(tp.clone(), Some(KafkaCode::NotCoordinator))]),
    );
    assert_eq!(sim.events(), vec![]);
    sim.find(3);
    sim.advance();
    let mut out = sim.request();
    if matches!(out.request, GroupRequest::Heartbeat { .. }) {
        sim.respond(&out, GroupResponse::Heartbeat(Ok(())));
        out = sim.request();
    }
    assert_eq!(out.target, Target::Coordinator(NodeId(3)));
    assert!(matches!(out.request, GroupRequest::OffsetCommit { .. }));
    sim.respond(&out, GroupResponse::OffsetCommit(vec![(tp.clone(), None)]));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::CommitDone(op, Ok(vec![(tp.clone(), None)]))]
    );

    // Now every attempt fails in transit until the deadline.
    let op = sim.m.commit(offsets, sim.now);
    let deadline = sim.now + Duration::from_millis(60_000);
    let mut done = None;
    while done.is_none() {
        while let Some(out) = sim.m.poll_request(sim.now) {
            sim.m.handle_failure(out.id, sim.now);
        }
        done = sim
            .events()
            .into_iter()
            .find(|e| matches!(e, GroupEvent::CommitDone(..)));
        if done.is_none() {
            sim.advance();
        }
    }
    assert!(sim.now >= deadline);
    assert!(
        matches!(done, Some(GroupEvent::CommitDone(id, Err(GroupError::Timeout { .. }))) if id == op)
    );
}

#[test]
fn stale_heartbeat_answer_is_ignored_after_rejoin() {
    let mut sim = stable(vec![]);
    let hb = sim.heartbeat();
    sim.m.rejoin("test", sim.now);
    sim.events();
    sim.m.revoke_done(sim.now);
    let (join, _) = sim.expect_join();
    sim.respond(&join, join_ok("m1", "m0", 2, vec![]));
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::IllegalGeneration)),
    );
    assert_eq!(sim.events(), vec![]);
    assert_eq!(sim.m.state(), GroupState::Syncing);
}
