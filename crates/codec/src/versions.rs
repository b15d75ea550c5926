//! Which version of each API to speak: the versions this client implements, and the
//! highest one it shares with a broker (from that broker's ApiVersions response).

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::Request;

use crate::CodecError;

/// The versions this client implements, per API: `(api, min, max)`.
///
/// The ranges are narrower than kafka-protocol's `VERSIONS` on purpose: Produce and
/// Fetch stop before v13, which name topics by id instead of by name; every
/// response version listed here is covered by the bounds guard in
/// [`crate::guard`], so raising a maximum means extending that guard first.
pub const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
];

/// The range of versions this client implements for `api`, if it implements it.
pub fn client_range(api: ApiKey) -> Option<(i16, i16)> {
    CLIENT_VERSIONS
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|&(_, min, max)| (min, max))
}

/// The version to use for each API with one broker: the highest version both sides
/// implement. Built once per connection from the broker's ApiVersions response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedVersions {
    /// `(api key, chosen version)`; absent where the two sides share none.
    chosen: Vec<(i16, i16)>,
}

impl NegotiatedVersions {
    /// Intersects the broker's advertised ranges with [`CLIENT_VERSIONS`].
    pub fn from_broker(response: &ApiVersionsResponse) -> Self {
        let mut chosen = Vec::new();
        for &(api, client_min, client_max) in CLIENT_VERSIONS {
            let key = api as i16;
            let Some(broker) = response.api_keys.iter().find(|v| v.api_key == key) else {
                continue;
            };
            let max = client_max.min(broker.max_version);
            if max >= client_min.max(broker.min_version) {
                chosen.push((key, max));
            }
        }
        NegotiatedVersions { chosen }
    }

    /// Every API at the highest version this client implements: for tests and for
    /// brokers known in advance.
    pub fn client_maximums() -> Self {
        NegotiatedVersions {
            chosen: CLIENT_VERSIONS
                .iter()
                .map(|&(api, _, max)| (api as i16, max))
                .collect(),
        }
    }

    /// The version to send `R` at.
    ///
    /// # Errors
    /// [`CodecError::NoCommonVersion`] when the broker supports no version of `R`
    /// that this client implements (or this client does not implement `R` at all).
    pub fn version<R: Request>(&self) -> Result<i16, CodecError> {
        self.version_of(api_key_of::<R>())
    }

    /// The version to use for `api`; see [`NegotiatedVersions::version`].
    ///
    /// # Errors
    /// [`CodecError::NoCommonVersion`], as for [`NegotiatedVersions::version`].
    pub fn version_of(&self, api: ApiKey) -> Result<i16, CodecError> {
        let key = api as i16;
        if let Some(&(_, version)) = self.chosen.iter().find(|(k, _)| *k == key) {
            return Ok(version);
        }
        let (client_min, client_max) = client_range(api).unwrap_or((-1, -1));
        Err(CodecError::NoCommonVersion {
            api,
            client_min,
            client_max,
        })
    }
}

/// The [`ApiKey`] of a request type.
pub fn api_key_of<R: Request>() -> ApiKey {
    // Every `Request` impl in kafka-protocol has a KEY that is a valid ApiKey; the
    // fallback is unreachable but keeps this total.
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{FetchRequest, ProduceRequest};

    fn broker(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        let mut response = ApiVersionsResponse::default();
        response.api_keys = ranges
            .iter()
            .map(|&(api, min, max)| {
                ApiVersion::default()
                    .with_api_key(api as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect();
        response
    }

    #[test]
    fn picks_highest_common_version() {
        let v = NegotiatedVersions::from_broker(&broker(&[
            (ApiKey::Produce, 3, 13),
            (ApiKey::Fetch, 0, 7),
        ]));
        assert_eq!(v.version::<ProduceRequest>(), Ok(12));
        assert_eq!(v.version::<FetchRequest>(), Ok(7));
    }

    #[test]
    fn no_overlap_names_the_api() {
        let v = NegotiatedVersions::from_broker(&broker(&[(ApiKey::Produce, 0, 2)]));
        let err = v.version::<ProduceRequest>().unwrap_err();
        assert_eq!(
            err,
            CodecError::NoCommonVersion {
                api: ApiKey::Produce,
                client_min: 3,
                client_max: 12
            }
        );
        assert!(err.to_string().contains("Produce"));
        assert!(
            v.version::<FetchRequest>().is_err(),
            "absent API has no version"
        );
    }

    #[test]
    fn client_ranges_lie_within_kafka_protocol_versions() {
        use kafka_protocol::messages::*;
        fn within<R: Request>(api: ApiKey) {
            let (min, max) = client_range(api).unwrap();
            assert!(min >= R::VERSIONS.min && max <= R::VERSIONS.max, "{api:?}");
        }
        within::<ProduceRequest>(ApiKey::Produce);
        within::<FetchRequest>(ApiKey::Fetch);
        within::<ListOffsetsRequest>(ApiKey::ListOffsets);
        within::<MetadataRequest>(ApiKey::Metadata);
        within::<OffsetCommitRequest>(ApiKey::OffsetCommit);
        within::<OffsetFetchRequest>(ApiKey::OffsetFetch);
        within::<FindCoordinatorRequest>(ApiKey::FindCoordinator);
        within::<JoinGroupRequest>(ApiKey::JoinGroup);
        within::<HeartbeatRequest>(ApiKey::Heartbeat);
        within::<LeaveGroupRequest>(ApiKey::LeaveGroup);
        within::<SyncGroupRequest>(ApiKey::SyncGroup);
        within::<DescribeGroupsRequest>(ApiKey::DescribeGroups);
        within::<SaslHandshakeRequest>(ApiKey::SaslHandshake);
        within::<ApiVersionsRequest>(ApiKey::ApiVersions);
        within::<CreateTopicsRequest>(ApiKey::CreateTopics);
        within::<DeleteTopicsRequest>(ApiKey::DeleteTopics);
        within::<InitProducerIdRequest>(ApiKey::InitProducerId);
        within::<SaslAuthenticateRequest>(ApiKey::SaslAuthenticate);
        within::<ConsumerGroupHeartbeatRequest>(ApiKey::ConsumerGroupHeartbeat);
    }
}
