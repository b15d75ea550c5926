//! Client-side partition assignors of the classic group protocol: the group leader
//! runs the one the group agreed on over every member's [`Subscription`].
//!
//! Pure functions, no I/O. The names are the standard ones, so a group may mix
//! flame-kafka, Java and librdkafka members:
//!
//! - [`Strategy::Range`] (`range`): per topic, consecutive ranges of partitions to the
//!   members subscribed to it, the first `n % m` members getting one extra. Balanced
//!   within one *per topic*; across topics the first members may get more.
//! - [`Strategy::RoundRobin`] (`roundrobin`): all partitions in (topic, partition)
//!   order dealt to members in turn, skipping members not subscribed to the topic.
//!   Balanced within one when all members subscribe to the same topics.
//! - [`Strategy::CooperativeSticky`] (`cooperative-sticky`): keeps every partition
//!   with its current owner where balance allows, balanced within one when all members
//!   subscribe to the same topics, and *incremental*: a partition that must move to
//!   another member is left unassigned in this rebalance (its owner revokes it and
//!   rejoins), and assigned to its new owner in the next one.
//!
//! Members are ordered by `group.instance.id` when they have one, else by member id,
//! as the Java client orders them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::protocol::Subscription;
use crate::sticky;
use crate::TopicPartition;

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `range`: per-topic consecutive ranges (eager).
    Range,
    /// `roundrobin`: partitions dealt in turn (eager).
    RoundRobin,
    /// `cooperative-sticky`: sticky and incremental (cooperative).
    CooperativeSticky,
}

/// How members hand partitions over during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before it rejoins ("stop the world").
    Eager,
    /// Members keep their partitions while rejoining and revoke only those that move.
    Cooperative,
}

impl Strategy {
    /// The protocol name used in JoinGroup (`range`, `roundrobin`, `cooperative-sticky`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Range => "range",
            Strategy::RoundRobin => "roundrobin",
            Strategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The strategy with protocol name `name`, if this client implements it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "range" => Some(Strategy::Range),
            "roundrobin" => Some(Strategy::RoundRobin),
            "cooperative-sticky" => Some(Strategy::CooperativeSticky),
            _ => None,
        }
    }

    /// The rebalance protocol the strategy supports.
    pub fn rebalance_protocol(self) -> RebalanceProtocol {
        match self {
            Strategy::Range | Strategy::RoundRobin => RebalanceProtocol::Eager,
            Strategy::CooperativeSticky => RebalanceProtocol::Cooperative,
        }
    }

    /// Assigns the partitions of `partition_counts` (topic → number of partitions) to
    /// `members`. Every member appears in the result, possibly with no partitions;
    /// topics missing from `partition_counts` (unknown or not yet created) are skipped.
    pub fn assign(
        self,
        members: &[MemberSubscription],
        partition_counts: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut ordered: Vec<&MemberSubscription> = members.iter().collect();
        ordered.sort_by(|a, b| a.sort_key().cmp(b.sort_key()));
        ordered.dedup_by(|a, b| a.member_id == b.member_id);
        let mut out: BTreeMap<String, Vec<TopicPartition>> = ordered
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        match self {
            Strategy::Range => range(&ordered, partition_counts, &mut out),
            Strategy::RoundRobin => round_robin(&ordered, partition_counts, &mut out),
            Strategy::CooperativeSticky => sticky::assign(&ordered, partition_counts, &mut out),
        }
        for partitions in out.values_mut() {
            partitions.sort();
        }
        out
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The rebalance protocol of a configured strategy list: cooperative only when every
/// strategy supports it (so a member never acts cooperatively in an eager group), as
/// the Java client decides.
pub fn rebalance_protocol_of(strategies: &[Strategy]) -> RebalanceProtocol {
    if !strategies.is_empty()
        && strategies
            .iter()
            .all(|s| s.rebalance_protocol() == RebalanceProtocol::Cooperative)
    {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// One member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member's id.
    pub member_id: String,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// What it subscribed to and what it owns.
    pub subscription: Subscription,
}

impl MemberSubscription {
    fn sort_key(&self) -> &str {
        self.group_instance_id.as_deref().unwrap_or(&self.member_id)
    }

    pub(crate) fn subscribes(&self, topic: &str) -> bool {
        self.subscription
            .topics
            .binary_search_by(|t| t.as_str().cmp(topic))
            .is_ok()
    }
}

/// Every topic any member subscribes to that has known partitions, with its count.
pub(crate) fn subscribed_topics(
    members: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Vec<(Arc<str>, i32)> {
    let wanted: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
        .collect();
    partition_counts
        .iter()
        .filter(|(topic, &count)| count > 0 && wanted.contains(topic.as_str()))
        .map(|(topic, &count)| (Arc::from(topic.as_str()), count))
        .collect()
}

fn range(
    members: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    for (topic, count) in subscribed_topics(members, partition_counts) {
        let subscribers: Vec<&&MemberSubscription> =
            members.iter().filter(|m| m.subscribes(&topic)).collect();
        if subscribers.is_empty() {
            continue;
        }
        let n = subscribers.len() as i32;
        let (per_member, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let take = per_member + i32::from((i as i32) < extra);
            if let Some(list) = out.get_mut(&member.member_id) {
                list.extend((next..next + take).map(|p| TopicPartition::new(topic.clone(), p)));
            }
            next += take;
        }
    }
}

fn round_robin(
    members: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    if members.is_empty() {
        return;
    }
    let mut turn = 0usize;
    for (topic, count) in subscribed_topics(members, partition_counts) {
        if !members.iter().any(|m| m.subscribes(&topic)) {
            continue;
        }
        for partition in 0..count {
            // Advance to the next member subscribed to this topic (one exists).
            while !members[turn % members.len()].subscribes(&topic) {
                turn += 1;
            }
            let member = members[turn % members.len()];
            if let Some(list) = out.get_mut(&member.member_id) {
                list.push(TopicPartition::new(topic.clone(), partition));
            }
            turn += 1;
        }
    }
}

#[cfg(test)]
#[path = "assignor_tests.rs"]
mod tests;
