//! The classic machine against a scripted coordinator, on a simulated clock.

use super::*;
use crate::requests::JoinOutcome;
use std::time::Duration;

const T: &str = "t";

fn settings(strategies: Vec<Strategy>, instance: Option<&str>) -> GroupSettings {
    GroupSettings {
        group_id: Arc::from("g"),
        instance_id: instance.map(Arc::from),
        topics: vec![T.into()],
        strategies,
        remote_assignor: None,
        session_timeout: Duration::from_millis(45_000),
        heartbeat_interval: Duration::from_millis(3_000),
        max_poll_interval: Duration::from_millis(300_000),
        retry_backoff: Duration::from_millis(100),
        op_timeout: Duration::from_millis(60_000),
        rack: None,
    }
}

fn tps(list: &[i32]) -> Vec<TopicPartition> {
    list.iter().map(|&p| TopicPartition::new(T, p)).collect()
}

struct Sim {
    m: GroupMachine,
    now: Instant,
}

impl Sim {
    fn new(strategies: Vec<Strategy>, instance: Option<&str>) -> Self {
        let now = Instant::now();
        Sim {
            m: GroupMachine::new(settings(strategies, instance), now),
            now,
        }
    }

    fn request(&mut self) -> Outgoing {
        self.m.poll_request(self.now).expect("a request is due")
    }

    fn no_request(&mut self) {
        assert_eq!(self.m.poll_request(self.now), None);
    }

    fn respond(&mut self, out: &Outgoing, response: GroupResponse) {
        self.m.handle_response(out.id, response, self.now);
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event()).collect()
    }

    /// Jumps the clock to the machine's next deadline.
    fn advance(&mut self) {
        let next = self.m.poll_timeout().expect("a deadline");
        assert!(next >= self.now);
        self.now = next;
        self.m.handle_timeout(self.now);
    }

    fn find(&mut self, node: i32) {
        let out = self.request();
        assert!(
            matches!(out.request, GroupRequest::FindCoordinator { .. }),
            "{out:?}"
        );
        assert_eq!(out.target, Target::AnyBroker);
        self.respond(&out, GroupResponse::FindCoordinator(Ok(NodeId(node))));
    }

    fn expect_join(&mut self) -> (Outgoing, Subscription) {
        let out = self.request();
        let GroupRequest::JoinGroup { protocols, .. } = &out.request else {
            panic!("expected JoinGroup, got {out:?}");
        };
        let sub = Subscription::decode(&protocols[0].1).unwrap();
        (out, sub)
    }

    /// Joins as the only member and leader, assigned `partitions` of 4.
    fn join_alone(&mut self, member: &str, generation: i32) {
        let (out, sub) = self.expect_join();
        let metadata = sub.encode().unwrap();
        self.respond(
            &out,
            join_ok(
                member,
                member,
                generation,
                vec![(member.into(), None, metadata)],
            ),
        );
        assert_eq!(
            self.events(),
            vec![GroupEvent::NeedPartitionCounts(vec![T.into()])]
        );
        self.m
            .handle_partition_counts(BTreeMap::from([(T.to_string(), 4)]), self.now);
        let out = self.request();
        let GroupRequest::SyncGroup {
            assignments,
            identity,
            ..
        } = &out.request
        else {
            panic!("expected SyncGroup, got {out:?}");
        };
        assert_eq!(identity.generation, generation);
        let mine = assignments
            .iter()
            .find(|(m, _)| m == member)
            .unwrap()
            .1
            .clone();
        self.respond(&out, GroupResponse::SyncGroup(Ok((None, mine))));
    }

    fn heartbeat(&mut self) -> Outgoing {
        self.advance();
        let out = self.request();
        assert!(
            matches!(out.request, GroupRequest::Heartbeat { .. }),
            "{out:?}"
        );
        out
    }
}

fn join_ok(
    member: &str,
    leader: &str,
    generation: i32,
    members: Vec<(String, Option<String>, Bytes)>,
) -> GroupResponse {
    GroupResponse::JoinGroup(JoinOutcome {
        error: None,
        generation,
        protocol_name: Some("range".into()),
        leader: leader.into(),
        skip_assignment: false,
        member_id: member.into(),
        members,
    })
}

fn join_err(code: KafkaCode, member: &str) -> GroupResponse {
    GroupResponse::JoinGroup(JoinOutcome {
        error: Some(code),
        generation: -1,
        protocol_name: None,
        leader: String::new(),
        skip_assignment: false,
        member_id: member.into(),
        members: vec![],
    })
}

fn assignment(partitions: &[i32]) -> Bytes {
    Assignment {
        partitions: tps(partitions),
        user_data: None,
    }
    .encode(3)
    .unwrap()
}

/// Reaches Stable as leader with all four partitions.
fn stable(strategies: Vec<Strategy>) -> Sim {
    let mut sim = Sim::new(strategies, None);
    sim.find(1);
    let (out, sub) = sim.expect_join();
    assert_eq!(sub.topics, vec![T.to_string()]);
    sim.respond(&out, join_err(KafkaCode::MemberIdRequired, "m1"));
    sim.join_alone("m1", 1);
    assert_eq!(sim.events(), vec![GroupEvent::Assigned(tps(&[0, 1, 2, 3]))]);
    assert_eq!(sim.m.state(), GroupState::Stable);
    sim
}

#[test]
fn joins_with_member_id_required_and_assigns_as_leader() {
    let mut sim = Sim::new(vec![], None);
    sim.find(1);
    let (out, _) = sim.expect_join();
    let GroupRequest::JoinGroup {
        identity,
        protocols,
        ..
    } = &out.request
    else {
        unreachable!()
    };
    assert_eq!(&*identity.member_id, "");
    let names: Vec<&str> = protocols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["range", "cooperative-sticky"],
        "the documented default"
    );
    sim.respond(&out, join_err(KafkaCode::MemberIdRequired, "m1"));
    let (out, _) = sim.expect_join();
    let GroupRequest::JoinGroup { identity, .. } = &out.request else {
        unreachable!()
    };
    assert_eq!(&*identity.member_id, "m1", "second join carries the id");
    let m2 = Subscription {
        topics: vec![T.into()],
        ..Default::default()
    }
    .encode()
    .unwrap();
    let m1 = Subscription {
        topics: vec![T.into()],
        ..Default::default()
    }
    .encode()
    .unwrap();
    sim.respond(
        &out,
        join_ok(
            "m1",
            "m1",
            5,
            vec![("m1".into(), None, m1), ("m2".into(), None, m2)],
        ),
    );
    assert!(sim.m.is_leader());
    assert_eq!(
        sim.events(),
        vec![GroupEvent::NeedPartitionCounts(vec![T.into()])]
    );
    sim.no_request();
    sim.m
        .handle_partition_counts(BTreeMap::from([(T.to_string(), 4)]), sim.now);
    let out = sim.request();
    let GroupRequest::SyncGroup { assignments, .. } = &out.request else {
        panic!("{out:?}")
    };
    let got: Vec<(String, Assignment)> = assignments
        .iter()
        .map(|(m, b)| (m.clone(), Assignment::decode(b).unwrap()))
        .collect();
    assert_eq!(got[0].1.partitions, tps(&[0, 1]));
    assert_eq!(got[1].1.partitions, tps(&[2, 3]));
    sim.respond(
        &out,
        GroupResponse::SyncGroup(Ok((None, assignment(&[0, 1])))),
    );
    assert_eq!(sim.events(), vec![GroupEvent::Assigned(tps(&[0, 1]))]);
    assert_eq!(sim.m.identity().generation, 5);
}

#[test]
fn follower_syncs_without_assignments() {
    let mut sim = Sim::new(vec![], None);
    sim.find(1);
    let (out, _) = sim.expect_join();
    sim.respond(&out, join_ok("m2", "m1", 3, vec![]));
    let out = sim.request();
    let GroupRequest::SyncGroup { assignments, .. } = &out.request else {
        panic!("{out:?}")
    };
    assert!(assignments.is_empty());
    sim.respond(&out, GroupResponse::SyncGroup(Ok((None, Bytes::new()))));
    assert_eq!(sim.events(), vec![]);
    assert_eq!(sim.m.state(), GroupState::Stable);
}

#[test]
fn heartbeats_on_their_own_timer() {
    let mut sim = stable(vec![]);
    let start = sim.now;
    for i in 1..=3u32 {
        let hb = sim.heartbeat();
        assert_eq!(sim.now, start + Duration::from_millis(3_000) * i);
        sim.no_request();
        sim.respond(&hb, GroupResponse::Heartbeat(Ok(())));
        sim.m.application_polled(sim.now);
    }
}

#[test]
fn silent_coordinator_is_abandoned_after_the_session_timeout() {
    let mut sim = stable(vec![]);
    let start = sim.now;
    let _unanswered = sim.heartbeat();
    sim.m.application_polled(sim.now);
    sim.advance();
    assert_eq!(sim.now, start + Duration::from_millis(45_000));
    sim.find(2);
    let hb = sim.request();
    assert_eq!(hb.target, Target::Coordinator(NodeId(2)));
    assert!(matches!(hb.request, GroupRequest::Heartbeat { .. }));
}

#[test]
fn coordinator_move_is_followed() {
    let mut sim = stable(vec![]);
    let hb = sim.heartbeat();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::NotCoordinator)),
    );
    sim.find(7);
    let hb = sim.request();
    assert_eq!(hb.target, Target::Coordinator(NodeId(7)));
    assert_eq!(
        sim.m.state(),
        GroupState::Stable,
        "membership survives a coordinator move"
    );
}

#[test]
fn eager_rebalance_revokes_everything_before_joining() {
    let mut sim = stable(vec![Strategy::Range]);
    let hb = sim.heartbeat();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0, 1, 2, 3]),
            lost: false
        }]
    );
    sim.no_request();
    // A commit during the revocation goes out under the old generation.
    let op = sim.m.commit(
        vec![(
            TopicPartition::new(T, 0),
            CommitOffset {
                offset: 10,
                leader_epoch: 0,
            },
        )],
        sim.now,
    );
    let out = sim.request();
    let GroupRequest::OffsetCommit { identity, .. } = &out.request else {
        panic!("{out:?}")
    };
    assert_eq!(identity.generation, 1);
    sim.respond(
        &out,
        GroupResponse::OffsetCommit(vec![(TopicPartition::new(T, 0), None)]),
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::CommitDone(
            op,
            Ok(vec![(TopicPartition::new(T, 0), None)])
        )]
    );
    sim.m.revoke_done(sim.now);
    let (_, sub) = sim.expect_join();
    assert!(
        sub.owned_partitions.is_empty(),
        "eager members own nothing when joining"
    );
}

#[test]
fn cooperative_rebalance_keeps_partitions_and_revokes_only_what_moves() {
    let mut sim = stable(vec![Strategy::CooperativeSticky]);
    let hb = sim.heartbeat();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
    );
    assert_eq!(sim.events(), vec![], "nothing revoked up front");
    let (out, sub) = sim.expect_join();
    assert_eq!(sub.owned_partitions, tps(&[0, 1, 2, 3]));
    assert_eq!(sub.generation, 1);
    sim.respond(&out, join_ok("m1", "m0", 2, vec![]));
    let out = sim.request();
    sim.respond(
        &out,
        GroupResponse::SyncGroup(Ok((None, assignment(&[0, 1])))),
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[2, 3]),
            lost: false
        }]
    );
    sim.m.revoke_done(sim.now);
    let (_, sub) = sim.expect_join();
    assert_eq!(
        sub.owned_partitions,
        tps(&[0, 1]),
        "rejoins at once, owning the rest"
    );
}

/// The driver may hold a revocation for long (until the application finishes the
/// records it was handed, up to the rebalance timeout): meanwhile the member
/// heartbeats, keeps its session (the coordinator answers REBALANCE_IN_PROGRESS,
/// which renews it), does not rejoin, and does not count as a stalled poller.
#[test]
fn a_long_revocation_keeps_heartbeating_and_waits_to_rejoin() {
    for strategy in [Strategy::Range, Strategy::CooperativeSticky] {
        let mut sim = stable(vec![strategy]);
        let hb = sim.heartbeat();
        sim.respond(
            &hb,
            GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
        );
        if strategy == Strategy::CooperativeSticky {
            let (out, _) = sim.expect_join();
            sim.respond(&out, join_ok("m1", "m0", 2, vec![]));
            let out = sim.request();
            sim.respond(&out, GroupResponse::SyncGroup(Ok((None, assignment(&[0])))));
            let hb = sim.heartbeat();
            sim.respond(
                &hb,
                GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
            );
        }
        let revoked = sim.events();
        assert!(
            matches!(
                &revoked[..],
                [
                    GroupEvent::Assigned(_),
                    GroupEvent::Revoke { lost: false, .. }
                ] | [GroupEvent::Revoke { lost: false, .. }]
            ),
            "{strategy}: {revoked:?}"
        );
        assert_eq!(sim.m.state(), GroupState::Revoking);
        // Far longer than the session timeout (45 s), not the rebalance timeout.
        let start = sim.now;
        let mut heartbeats = 0;
        while sim.now < start + Duration::from_secs(200) {
            sim.advance();
            while let Some(out) = sim.m.poll_request(sim.now) {
                let GroupRequest::Heartbeat { identity, .. } = &out.request else {
                    panic!("{strategy}: only heartbeats while revoking, got {out:?}");
                };
                assert_eq!(&*identity.member_id, "m1");
                heartbeats += 1;
                sim.respond(
                    &out,
                    GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
                );
            }
            assert_eq!(sim.events(), vec![], "{strategy}");
            assert_eq!(sim.m.state(), GroupState::Revoking, "{strategy}");
        }
        assert!(heartbeats >= 60, "{strategy}: {heartbeats} heartbeats");
        sim.m.revoke_done(sim.now);
        let (out, _) = sim.expect_join();
        let GroupRequest::JoinGroup { identity, .. } = &out.request else {
            unreachable!()
        };
        assert_eq!(&*identity.member_id, "m1", "{strategy}: still a member");
    }
}

/// Closing while a (cooperative) revocation is in progress revokes what the
/// member keeps as well, so that it is committed before the member leaves.
#[test]
fn close_during_a_revocation_revokes_the_rest_too() {
    let mut sim = stable(vec![Strategy::CooperativeSticky]);
    let hb = sim.heartbeat();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
    );
    let (out, _) = sim.expect_join();
    sim.respond(&out, join_ok("m1", "m0", 2, vec![]));
    let out = sim.request();
    sim.respond(
        &out,
        GroupResponse::SyncGroup(Ok((None, assignment(&[0, 1])))),
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[2, 3]),
            lost: false
        }]
    );
    sim.m.close(sim.now);
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0, 1]),
            lost: false
        }]
    );
    assert!(sim.m.assignment().is_empty());
    sim.m.revoke_done(sim.now);
    let out = sim.request();
    assert!(
        matches!(out.request, GroupRequest::LeaveGroup { .. }),
        "{out:?}"
    );
}

#[test]
fn stalled_application_leaves_and_rejoins_on_next_poll() {
    let mut sim = stable(vec![]);
    let start = sim.now;
    loop {
        sim.advance();
        if let Some(out) = sim.m.poll_request(sim.now) {
            if matches!(out.request, GroupRequest::LeaveGroup { .. }) {
                assert_eq!(sim.now, start + Duration::from_millis(300_000));
                sim.respond(&out, GroupResponse::LeaveGroup(Ok(())));
                break;
            }
            sim.respond(&out, GroupResponse::Heartbeat(Ok(())));
        }
    }
    assert_eq!(
        sim.events(),
        vec![
            GroupEvent::PollIntervalExceeded,
            GroupEvent::Revoke {
                partitions: tps(&[0, 1, 2, 3]),
                lost: true
            }
        ]
    );
    assert_eq!(sim.m.state(), GroupState::Idle);
    sim.no_request();
    sim.m.application_polled(sim.now);
    sim.expect_join();
}

#[test]
fn close_revokes_then_leaves() {
    let mut sim = stable(vec![]);
    sim.m.close(sim.now);
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0, 1, 2, 3]),
            lost: false
        }]
    );
    sim.m.revoke_done(sim.now);
    let out = sim.request();
    let GroupRequest::LeaveGroup { identity, .. } = &out.request else {
        panic!("{out:?}")
    };
    assert_eq!(&*identity.member_id, "m1");
    sim.respond(&out, GroupResponse::LeaveGroup(Ok(())));
    assert_eq!(sim.events(), vec![GroupEvent::Closed]);
    assert_eq!(sim.m.state(), GroupState::Closed);
}

#[test]
fn static_member_closes_without_leave_group() {
    let mut sim = Sim::new(vec![], Some("i"));
    sim.find(1);
    sim.join_alone("m1", 1);
    sim.events();
    sim.m.close(sim.now);
    sim.events();
    sim.m.revoke_done(sim.now);
    assert_eq!(sim.events(), vec![GroupEvent::Closed]);
    sim.no_request();
}

#[test]
fn leader_rejoins_when_partition_counts_change() {
    let mut sim = stable(vec![]);
    let counts = |n: i32| BTreeMap::from([(T.to_string(), n)]);
    sim.m.handle_partition_counts(counts(9), sim.now);
    assert_eq!(
        sim.m.state(),
        GroupState::Stable,
        "no assignment pending: ignored"
    );
    sim.m.check_partition_counts(&counts(4), sim.now);
    assert_eq!(sim.m.state(), GroupState::Stable);
    sim.m.check_partition_counts(&counts(6), sim.now);
    assert_eq!(sim.m.state(), GroupState::Revoking);
}

#[path = "machine_error_tests.rs"]
mod errors;

#[test]
fn heartbeats_stop_while_joining_and_a_late_rebalance_answer_sends_no_second_join() {
    let mut sim = stable(vec![Strategy::CooperativeSticky]);
    let hb = sim.heartbeat();
    // Rejoin while that heartbeat is still out: its answer comes after the
    // JoinGroup went out.
    sim.m.rejoin("test", sim.now);
    let (join, _) = sim.expect_join();
    sim.respond(
        &hb,
        GroupResponse::Heartbeat(Err(KafkaCode::RebalanceInProgress)),
    );
    // Already rejoining: no second JoinGroup, and no heartbeat while the join waits
    // (however long the coordinator holds it).
    for _ in 0..5 {
        sim.no_request();
        sim.now += Duration::from_secs(10);
        sim.m.handle_timeout(sim.now);
    }
    sim.respond(&join, join_ok("m1", "m0", 2, vec![]));
    let out = sim.request();
    assert!(
        matches!(out.request, GroupRequest::SyncGroup { .. }),
        "{out:?}"
    );
    sim.no_request();
}
