//! `decode_response` on hostile bytes: for every response type, random frames and
//! randomly mutated valid frames must come back as `Ok` or a typed error, never as a
//! panic or an abort (a panic fails the test; an abort kills the test binary).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod guard_samples;

use bytes::Bytes;
use flame_kafka_codec::guard::response_body_len;
use flame_kafka_codec::messages::ApiKey;
use flame_kafka_codec::versions::client_range;
use guard_samples::{decode_frame, decoded_len, frame, samples};
use proptest::prelude::*;

const CORRELATION_ID: i32 = 42;
const CASES: u32 = 2000;

/// One edit of a valid body.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite the byte at (offset mod len).
    Set(usize, u8),
    /// Insert a byte at (offset mod len).
    Insert(usize, u8),
    /// Remove the byte at (offset mod len).
    Remove(usize),
    /// Write a big-endian i32 at (offset mod len).
    Int32(usize, i32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), any::<i32>()).prop_map(|(at, n)| Edit::Int32(at, n)),
    ]
}

fn apply(body: &mut Vec<u8>, edit: &Edit) {
    if body.is_empty() {
        return;
    }
    let len = body.len();
    match *edit {
        Edit::Set(at, b) => body[at % len] = b,
        Edit::Insert(at, b) => body.insert(at % len, b),
        Edit::Remove(at) => {
            body.remove(at % len);
        }
        Edit::Int32(at, n) => {
            for (i, b) in n.to_be_bytes().into_iter().enumerate() {
                if let Some(slot) = body.get_mut(at % len + i) {
                    *slot = b;
                }
            }
        }
    }
}

/// Random bytes after the expected correlation id (and, for header v1, whatever
/// the random bytes say about tagged fields).
fn random_frames(api: ApiKey) {
    let (min, max) = client_range(api).expect("a client API");
    let config = ProptestConfig::with_cases(CASES);
    let strategy = (min..=max, prop::collection::vec(any::<u8>(), 0..512));
    let result =
        proptest::test_runner::TestRunner::new(config).run(&strategy, |(version, rest)| {
            let mut bytes = CORRELATION_ID.to_be_bytes().to_vec();
            bytes.extend(rest);
            let _ = decode_frame(api, version, Bytes::from(bytes), CORRELATION_ID);
            Ok(())
        });
    if let Err(e) = result {
        panic!("{api:?}: {e}");
    }
}

/// Valid samples with a few random edits; where the guard accepts the result and
/// kafka-protocol decodes it, both must agree on where the body ends.
fn mutated_samples(api: ApiKey) {
    let (min, max) = client_range(api).expect("a client API");
    let config = ProptestConfig::with_cases(CASES);
    let strategy = (
        min..=max,
        any::<bool>(),
        prop::collection::vec(edit(), 1..6),
    );
    let result =
        proptest::test_runner::TestRunner::new(config).run(&strategy, |(version, full, edits)| {
            let sample = &samples(api, version)[usize::from(!full)];
            let mut body = sample.to_vec();
            for e in &edits {
                apply(&mut body, e);
            }
            if let Ok(len) = response_body_len(api, version, &body) {
                if let Ok(decoded) = decoded_len(api, version, &body) {
                    prop_assert_eq!(decoded, len);
                }
            }
            let whole = frame(api, version, CORRELATION_ID, &body);
            let _ = decode_frame(api, version, whole, CORRELATION_ID);
            Ok(())
        });
    if let Err(e) = result {
        panic!("{api:?}: {e}");
    }
}

macro_rules! hostile_bytes_tests {
    ($($name:ident => $api:expr,)*) => {
        $(
            #[test]
            fn $name() {
                random_frames($api);
                mutated_samples($api);
            }
        )*
    };
}

hostile_bytes_tests! {
    hostile_produce => ApiKey::Produce,
    hostile_fetch => ApiKey::Fetch,
    hostile_list_offsets => ApiKey::ListOffsets,
    hostile_metadata => ApiKey::Metadata,
    hostile_offset_commit => ApiKey::OffsetCommit,
    hostile_offset_fetch => ApiKey::OffsetFetch,
    hostile_find_coordinator => ApiKey::FindCoordinator,
    hostile_join_group => ApiKey::JoinGroup,
    hostile_heartbeat => ApiKey::Heartbeat,
    hostile_leave_group => ApiKey::LeaveGroup,
    hostile_sync_group => ApiKey::SyncGroup,
    hostile_describe_groups => ApiKey::DescribeGroups,
    hostile_sasl_handshake => ApiKey::SaslHandshake,
    hostile_api_versions => ApiKey::ApiVersions,
    hostile_create_topics => ApiKey::CreateTopics,
    hostile_delete_topics => ApiKey::DeleteTopics,
    hostile_init_producer_id => ApiKey::InitProducerId,
    hostile_sasl_authenticate => ApiKey::SaslAuthenticate,
    hostile_consumer_group_heartbeat => ApiKey::ConsumerGroupHeartbeat,
}
