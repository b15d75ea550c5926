//! The `cooperative-sticky` assignor.
//!
//! 1. Each partition's *previous owner* is the member that claims it in its
//!    subscription's owned partitions with the highest generation (a tie between two
//!    members at one generation means neither is trusted with it). A claim counts
//!    only while the member still subscribes to the topic and the partition exists.
//! 2. Every member keeps what it owns; partitions nobody owns go, most constrained
//!    first (fewest eligible members), to the eligible member holding the fewest.
//! 3. While some member holds two or more partitions more than another member that
//!    could take one of them, one moves from the fuller to the emptier. Each move
//!    lowers the sum of squared counts, so this ends; with identical subscriptions it
//!    ends balanced within one, having moved only what balance requires.
//! 4. Cooperative adjustment: a partition whose target member differs from its
//!    previous owner is left out of this assignment. Its owner sees it missing,
//!    revokes it and rejoins; in that next rebalance nobody owns it, and step 2 hands
//!    it over.

use std::collections::{BTreeMap, BTreeSet};

use crate::assignor::{subscribed_topics, MemberSubscription};
use crate::TopicPartition;

/// Runs the algorithm above; `members` are ordered and unique, `out` holds an empty
/// list per member.
pub(crate) fn assign(
    members: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    if members.is_empty() {
        return;
    }
    let topics = subscribed_topics(members, partition_counts);
    let counts: BTreeMap<&str, i32> = topics.iter().map(|(t, c)| (&**t, *c)).collect();
    let previous = previous_owners(members, &counts);

    // Step 2: keep, then place the unowned.
    let mut held: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];
    for (tp, &owner) in &previous {
        held[owner].insert(tp.clone());
    }
    let mut unowned: Vec<(usize, TopicPartition, Vec<usize>)> = Vec::new();
    for (topic, count) in &topics {
        let eligible: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].subscribes(topic))
            .collect();
        if eligible.is_empty() {
            continue;
        }
        for partition in 0..*count {
            let tp = TopicPartition::new(topic.clone(), partition);
            if !previous.contains_key(&tp) {
                unowned.push((eligible.len(), tp, eligible.clone()));
            }
        }
    }
    unowned.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (_, tp, eligible) in unowned {
        // `eligible` is non-empty (checked above).
        if let Some(&to) = eligible.iter().min_by_key(|&&i| (held[i].len(), i)) {
            held[to].insert(tp);
        }
    }

    // Step 3: balance.
    while let Some((from, to, tp)) = next_move(members, &held, &previous) {
        held[from].remove(&tp);
        held[to].insert(tp);
    }

    // Step 4: cooperative adjustment.
    for (i, member) in members.iter().enumerate() {
        let Some(list) = out.get_mut(&member.member_id) else {
            continue;
        };
        list.extend(
            held[i]
                .iter()
                .filter(|tp| previous.get(*tp).is_none_or(|&owner| owner == i))
                .cloned(),
        );
    }
}

/// The trusted previous owner (index into `members`) of each partition.
fn previous_owners(
    members: &[&MemberSubscription],
    counts: &BTreeMap<&str, i32>,
) -> BTreeMap<TopicPartition, usize> {
    // partition -> (generation, owner or None when two members tie)
    let mut claims: BTreeMap<TopicPartition, (i32, Option<usize>)> = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        let generation = member.subscription.generation;
        for tp in &member.subscription.owned_partitions {
            let exists = counts
                .get(&*tp.topic)
                .is_some_and(|&n| tp.partition >= 0 && tp.partition < n);
            if !exists || !member.subscribes(&tp.topic) {
                continue;
            }
            match claims.get_mut(tp) {
                None => {
                    claims.insert(tp.clone(), (generation, Some(i)));
                }
                Some(claim) if generation > claim.0 => *claim = (generation, Some(i)),
                Some(claim) if generation == claim.0 && claim.1 != Some(i) => claim.1 = None,
                Some(_) => {}
            }
        }
    }
    claims
        .into_iter()
        .filter_map(|(tp, (_, owner))| owner.map(|o| (tp, o)))
        .collect()
}

/// One balancing move: from the fullest member that has a partition an emptier
/// member (by two or more) could take. Prefers moving partitions the giver did not
/// previously own, then the highest-numbered.
fn next_move(
    members: &[&MemberSubscription],
    held: &[BTreeSet<TopicPartition>],
    previous: &BTreeMap<TopicPartition, usize>,
) -> Option<(usize, usize, TopicPartition)> {
    let mut by_count: Vec<usize> = (0..members.len()).collect();
    by_count.sort_by_key(|&i| (held[i].len(), i));
    for &from in by_count.iter().rev() {
        for &to in &by_count {
            if held[to].len() + 2 > held[from].len() {
                break;
            }
            let movable = held[from]
                .iter()
                .rev()
                .filter(|tp| members[to].subscribes(&tp.topic))
                .min_by_key(|tp| previous.get(*tp) == Some(&from));
            if let Some(tp) = movable {
                return Some((from, to, tp.clone()));
            }
        }
    }
    None
}
