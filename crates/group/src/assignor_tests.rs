use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest, TestCaseError};
use proptest::strategy::Strategy as PropStrategy;

use super::*;

fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.into(),
        group_instance_id: None,
        subscription: Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
    }
}

fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

fn names(assigned: &[TopicPartition]) -> Vec<String> {
    assigned.iter().map(ToString::to_string).collect()
}

#[test]
fn range_gives_first_members_the_extra_partitions() {
    let members = [member("b", &["t"]), member("a", &["t"])];
    let out = Strategy::Range.assign(&members, &counts(&[("t", 5)]));
    assert_eq!(names(&out["a"]), ["t-0", "t-1", "t-2"]);
    assert_eq!(names(&out["b"]), ["t-3", "t-4"]);
}

#[test]
fn round_robin_deals_across_topics() {
    let members = [member("c0", &["t0", "t1"]), member("c1", &["t0", "t1"])];
    let out = Strategy::RoundRobin.assign(&members, &counts(&[("t0", 3), ("t1", 3)]));
    assert_eq!(names(&out["c0"]), ["t0-0", "t0-2", "t1-1"]);
    assert_eq!(names(&out["c1"]), ["t0-1", "t1-0", "t1-2"]);
}

#[test]
fn static_members_are_ordered_by_instance_id() {
    let mut a = member("zzz", &["t"]);
    a.group_instance_id = Some("instance-a".into());
    let mut b = member("aaa", &["t"]);
    b.group_instance_id = Some("instance-b".into());
    let out = Strategy::Range.assign(&[b, a], &counts(&[("t", 2)]));
    assert_eq!(names(&out["zzz"]), ["t-0"]);
    assert_eq!(names(&out["aaa"]), ["t-1"]);
}

#[test]
fn unknown_topics_and_unsubscribed_members_get_nothing() {
    let members = [member("a", &["missing"]), member("b", &["t"])];
    let out = Strategy::CooperativeSticky.assign(&members, &counts(&[("t", 2)]));
    assert!(out["a"].is_empty());
    assert_eq!(out["b"].len(), 2);
}

#[test]
fn sticky_revokes_before_moving() {
    let mut a = member("a", &["t"]);
    a.subscription.owned_partitions = (0..4).map(|p| TopicPartition::new("t", p)).collect();
    a.subscription.generation = 1;
    let b = member("b", &["t"]);
    let out = Strategy::CooperativeSticky.assign(&[a.clone(), b.clone()], &counts(&[("t", 4)]));
    assert_eq!(out["a"].len(), 2, "a keeps two");
    assert!(out["b"].is_empty(), "b waits until a revokes");
    // Next round: a owns what it kept.
    a.subscription.owned_partitions = out["a"].clone();
    a.subscription.generation = 2;
    let out = Strategy::CooperativeSticky.assign(&[a.clone(), b], &counts(&[("t", 4)]));
    assert_eq!(out["a"], a.subscription.owned_partitions);
    assert_eq!(out["b"].len(), 2);
}

#[test]
fn sticky_trusts_the_highest_generation_claim() {
    let mut a = member("a", &["t"]);
    a.subscription.owned_partitions = vec![TopicPartition::new("t", 0)];
    a.subscription.generation = 3;
    let mut b = member("b", &["t"]);
    b.subscription.owned_partitions = vec![TopicPartition::new("t", 0)];
    b.subscription.generation = 2;
    let out = Strategy::CooperativeSticky.assign(&[a, b], &counts(&[("t", 2)]));
    assert_eq!(names(&out["a"]), ["t-0"]);
    assert_eq!(names(&out["b"]), ["t-1"]);
}

#[test]
fn rebalance_protocol_needs_every_strategy_cooperative() {
    use RebalanceProtocol::*;
    assert_eq!(
        rebalance_protocol_of(&[Strategy::CooperativeSticky]),
        Cooperative
    );
    assert_eq!(
        rebalance_protocol_of(&[Strategy::Range, Strategy::CooperativeSticky]),
        Eager
    );
    assert_eq!(rebalance_protocol_of(&[]), Eager);
}

// ---------------------------------------------------------------- properties

/// A group: partition counts per topic, and per member the topics it subscribes to.
fn group(
    homogeneous: bool,
) -> impl PropStrategy<Value = (BTreeMap<String, i32>, Vec<MemberSubscription>)> {
    (
        proptest::collection::vec(1..12i32, 1..4),
        proptest::collection::vec(proptest::collection::vec(any::<bool>(), 4), 1..8),
    )
        .prop_map(move |(topic_counts, member_masks)| {
            let topics: Vec<String> = (0..topic_counts.len()).map(|i| format!("t{i}")).collect();
            let counts = topics.iter().cloned().zip(topic_counts).collect();
            let members = member_masks
                .iter()
                .enumerate()
                .map(|(i, mask)| {
                    let subscribed: Vec<&str> = topics
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| homogeneous || mask[*j])
                        .map(|(_, t)| t.as_str())
                        .collect();
                    member(&format!("m{i}"), &subscribed)
                })
                .collect();
            (counts, members)
        })
}

/// Every partition of a subscribed topic is assigned exactly once, to a subscriber.
fn check_exactly_once(
    counts: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    out: &BTreeMap<String, Vec<TopicPartition>>,
) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for m in members {
        for tp in &out[&m.member_id] {
            prop_assert!(
                m.subscribes(&tp.topic),
                "{tp} given to non-subscriber {}",
                m.member_id
            );
            prop_assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
    for (topic, &n) in counts {
        if members.iter().any(|m| m.subscribes(topic)) {
            for p in 0..n {
                prop_assert!(
                    seen.contains(&TopicPartition::new(topic.as_str(), p)),
                    "{topic}-{p} unassigned"
                );
            }
        }
    }
    Ok(())
}

fn spread(out: &BTreeMap<String, Vec<TopicPartition>>) -> usize {
    let sizes: Vec<usize> = out.values().map(Vec::len).collect();
    sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0)
}

/// The most partitions any balanced assignment can leave with their owners.
fn optimal_kept(total: usize, owned: &[usize]) -> usize {
    let mut owned = owned.to_vec();
    owned.sort_unstable_by(|a, b| b.cmp(a));
    let m = owned.len();
    owned
        .iter()
        .enumerate()
        .map(|(i, &o)| o.min(total / m + usize::from(i < total % m)))
        .sum()
}

proptest! {
    #[test]
    fn every_strategy_assigns_each_partition_once((counts, members) in group(false)) {
        for strategy in [Strategy::Range, Strategy::RoundRobin, Strategy::CooperativeSticky] {
            let out = strategy.assign(&members, &counts);
            prop_assert_eq!(out.len(), members.len());
            check_exactly_once(&counts, &members, &out)?;
        }
    }

    #[test]
    fn balanced_within_one_with_identical_subscriptions((counts, members) in group(true)) {
        prop_assert!(spread(&Strategy::RoundRobin.assign(&members, &counts)) <= 1);
        prop_assert!(spread(&Strategy::CooperativeSticky.assign(&members, &counts)) <= 1);
        // range: within one per topic.
        let out = Strategy::Range.assign(&members, &counts);
        for topic in counts.keys() {
            let per: Vec<usize> = out.values().map(|l| l.iter().filter(|tp| &*tp.topic == topic).count()).collect();
            prop_assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1);
        }
    }

    /// Members leave and join; the sticky assignor keeps as much as balance allows,
    /// never hands a partition straight from one member to another, and the follow-up
    /// rebalance completes a balanced assignment.
    #[test]
    fn sticky_across_membership_changes(
        (counts, members) in group(true),
        leave in proptest::collection::vec(any::<bool>(), 8),
        joiners in 0..4usize,
    ) {
        let total: usize = counts.values().map(|&n| n as usize).sum();
        let first = Strategy::CooperativeSticky.assign(&members, &counts);
        let mut next: Vec<MemberSubscription> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| !leave[*i])
            .map(|(_, m)| {
                let mut m = m.clone();
                m.subscription.owned_partitions = first[&m.member_id].clone();
                m.subscription.generation = 1;
                m
            })
            .collect();
        let topics: Vec<&str> = counts.keys().map(String::as_str).collect();
        next.extend((0..joiners).map(|j| member(&format!("new{j}"), &topics)));
        if next.is_empty() {
            return Ok(());
        }
        let second = Strategy::CooperativeSticky.assign(&next, &counts);
        let mut kept = 0;
        for m in &next {
            for tp in &second[&m.member_id] {
                let owner = next.iter().find(|o| o.subscription.owned_partitions.contains(tp));
                if let Some(owner) = owner {
                    prop_assert_eq!(&owner.member_id, &m.member_id, "{} moved without revocation", tp);
                    kept += 1;
                }
            }
        }
        let owned: Vec<usize> = next.iter().map(|m| m.subscription.owned_partitions.len()).collect();
        prop_assert_eq!(kept, optimal_kept(total, &owned));
        // Round three: owners have revoked what they lost.
        for m in &mut next {
            m.subscription.owned_partitions = second[&m.member_id].clone();
            m.subscription.generation = 2;
        }
        let third = Strategy::CooperativeSticky.assign(&next, &counts);
        check_exactly_once(&counts, &next, &third)?;
        prop_assert!(spread(&third) <= 1);
        for m in &next {
            for tp in &m.subscription.owned_partitions {
                prop_assert!(third[&m.member_id].contains(tp), "{} lost {} in the follow-up", m.member_id, tp);
            }
        }
    }
}
