//! The KIP-848 machine against a scripted coordinator, on a simulated clock.

use super::*;
use crate::NodeId;

const T: &str = "t";

fn topic_id() -> Uuid {
    Uuid::from_u128(0x1234)
}

fn settings(instance: Option<&str>) -> GroupSettings {
    GroupSettings {
        group_id: Arc::from("g"),
        instance_id: instance.map(Arc::from),
        topics: vec![T.into()],
        strategies: vec![],
        remote_assignor: Some(Arc::from("uniform")),
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
    m: ConsumerGroupMachine,
    now: Instant,
}

impl Sim {
    fn new(instance: Option<&str>) -> Self {
        let now = Instant::now();
        let mut m = ConsumerGroupMachine::new(settings(instance), Uuid::from_u128(7), now);
        let find = m.poll_request(now).unwrap();
        assert!(matches!(find.request, GroupRequest::FindCoordinator { .. }));
        m.handle_response(find.id, GroupResponse::FindCoordinator(Ok(NodeId(1))), now);
        Sim { m, now }
    }

    fn heartbeat(&mut self) -> (RequestId, ConsumerHeartbeat) {
        let out = self.m.poll_request(self.now).expect("a heartbeat is due");
        let GroupRequest::ConsumerGroupHeartbeat(hb) = out.request else {
            panic!("expected a heartbeat, got {out:?}");
        };
        (out.id, hb)
    }

    fn answer(&mut self, id: RequestId, epoch: i32, assignment: Option<&[i32]>) {
        let ok = ConsumerHeartbeatOk {
            member_id: None,
            member_epoch: epoch,
            heartbeat_interval_ms: 5_000,
            assignment: assignment.map(|p| vec![(topic_id(), p.to_vec())]),
        };
        self.m
            .handle_response(id, GroupResponse::ConsumerGroupHeartbeat(Ok(ok)), self.now);
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event()).collect()
    }

    /// Joins and takes `partitions`.
    fn join(&mut self, partitions: &[i32]) {
        let (id, hb) = self.heartbeat();
        assert_eq!(hb.member_epoch, 0);
        assert_eq!(hb.subscribed_topic_names, Some(vec![Arc::from(T)]));
        assert_eq!(hb.rebalance_timeout_ms, 300_000);
        assert_eq!(hb.topic_partitions, Some(vec![]));
        assert_eq!(hb.server_assignor.as_deref(), Some("uniform"));
        self.answer(id, 1, Some(partitions));
        assert_eq!(
            self.events(),
            vec![GroupEvent::NeedTopicNames(vec![topic_id()])]
        );
        self.m
            .handle_topic_names(BTreeMap::from([(topic_id(), T.to_string())]));
        assert_eq!(self.events(), vec![GroupEvent::Assigned(tps(partitions))]);
        // Acknowledged at once.
        let (id, hb) = self.heartbeat();
        assert_eq!(hb.member_epoch, 1);
        assert_eq!(
            hb.topic_partitions,
            Some(vec![(topic_id(), partitions.to_vec())])
        );
        assert_eq!(hb.subscribed_topic_names, None, "unchanged fields are null");
        self.answer(id, 1, None);
        assert_eq!(self.m.state(), GroupState::Stable);
    }
}

#[test]
fn joins_resolves_topic_ids_and_acknowledges() {
    let mut sim = Sim::new(None);
    sim.join(&[0, 1]);
    assert!(sim.m.poll_request(sim.now).is_none());
    let next = sim.m.poll_timeout().unwrap();
    assert_eq!(
        next - sim.now,
        Duration::from_millis(5_000),
        "broker's interval"
    );
    sim.now = next;
    let (_, hb) = sim.heartbeat();
    assert_eq!(hb.topic_partitions, None);
    assert_eq!(hb.rebalance_timeout_ms, -1);
}

#[test]
fn revokes_before_acknowledging() {
    let mut sim = Sim::new(None);
    sim.join(&[0, 1, 2]);
    sim.now += Duration::from_millis(5_000);
    sim.m.application_polled(sim.now);
    let (id, _) = sim.heartbeat();
    sim.answer(id, 2, Some(&[0]));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[1, 2]),
            lost: false
        }]
    );
    assert!(
        sim.m.poll_request(sim.now).is_none(),
        "no acknowledgement before the revocation ends"
    );
    sim.now += Duration::from_millis(5_000);
    let (id, hb) = sim.heartbeat();
    assert_eq!(
        hb.topic_partitions, None,
        "regular heartbeats continue meanwhile"
    );
    sim.answer(id, 2, None);
    sim.m.revoke_done(sim.now);
    let (_, hb) = sim.heartbeat();
    assert_eq!(hb.topic_partitions, Some(vec![(topic_id(), vec![0])]));
    assert_eq!(
        sim.m.assignment().iter().cloned().collect::<Vec<_>>(),
        tps(&[0])
    );
}

/// Closing while a revocation is in progress revokes what the member keeps as
/// well (committed first), and leaves once the driver is done.
#[test]
fn close_during_a_revocation_revokes_the_rest_too() {
    let mut sim = Sim::new(None);
    sim.join(&[0, 1, 2]);
    sim.now += Duration::from_millis(5_000);
    let (id, _) = sim.heartbeat();
    sim.answer(id, 2, Some(&[0]));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[1, 2]),
            lost: false
        }]
    );
    sim.m.close(sim.now);
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0]),
            lost: false
        }]
    );
    assert!(sim.m.assignment().is_empty());
    sim.m.revoke_done(sim.now);
    let (_, hb) = sim.heartbeat();
    assert_eq!(hb.member_epoch, LEAVE_EPOCH);
}

#[test]
fn fenced_member_loses_partitions_and_rejoins() {
    let mut sim = Sim::new(None);
    sim.join(&[0]);
    sim.now += Duration::from_millis(5_000);
    let (id, _) = sim.heartbeat();
    sim.m.handle_response(
        id,
        GroupResponse::ConsumerGroupHeartbeat(Err(KafkaCode::FencedMemberEpoch)),
        sim.now,
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoke {
            partitions: tps(&[0]),
            lost: true
        }]
    );
    let (_, hb) = sim.heartbeat();
    assert_eq!(hb.member_epoch, 0);
    assert!(hb.subscribed_topic_names.is_some());
}

#[test]
fn unsupported_broker_is_a_clear_fatal_error() {
    let mut sim = Sim::new(None);
    let (id, _) = sim.heartbeat();
    sim.m.handle_response(
        id,
        GroupResponse::ConsumerGroupHeartbeat(Err(KafkaCode::UnsupportedVersion)),
        sim.now,
    );
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Fatal(GroupError::ConsumerProtocolUnsupported)]
    );
    assert_eq!(sim.m.state(), GroupState::Failed);
}

#[test]
fn close_revokes_then_leaves_with_the_right_epoch() {
    for (instance, epoch) in [(None, LEAVE_EPOCH), (Some("i"), STATIC_LEAVE_EPOCH)] {
        let mut sim = Sim::new(instance);
        sim.join(&[0]);
        sim.m.close(sim.now);
        assert_eq!(
            sim.events(),
            vec![GroupEvent::Revoke {
                partitions: tps(&[0]),
                lost: false
            }]
        );
        sim.m.revoke_done(sim.now);
        let (id, hb) = sim.heartbeat();
        assert_eq!(hb.member_epoch, epoch);
        sim.answer(id, epoch, None);
        assert_eq!(sim.events(), vec![GroupEvent::Closed]);
    }
}

#[test]
fn stalled_application_leaves_then_rejoins() {
    let mut sim = Sim::new(None);
    sim.join(&[0]);
    loop {
        sim.now = sim.m.poll_timeout().unwrap();
        sim.m.handle_timeout(sim.now);
        let (id, hb) = sim.heartbeat();
        if hb.member_epoch == LEAVE_EPOCH {
            sim.answer(id, LEAVE_EPOCH, None);
            break;
        }
        sim.answer(id, 1, None);
    }
    assert_eq!(
        sim.events(),
        vec![
            GroupEvent::PollIntervalExceeded,
            GroupEvent::Revoke {
                partitions: tps(&[0]),
                lost: true
            }
        ]
    );
    assert_eq!(sim.m.state(), GroupState::Idle);
    sim.m.application_polled(sim.now);
    let (_, hb) = sim.heartbeat();
    assert_eq!(hb.member_epoch, 0);
}
