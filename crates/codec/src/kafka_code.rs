//! Every Kafka error code, once: its named variant, whether it is retriable, and its
//! description. The table follows Kafka's `Errors` enum (the protocol guide's list).
//!
//! Each row is `code => Variant = "KAFKA_NAME", retriable, "description";` where
//! `Variant` is the UpperCamelCase of Kafka's `Errors` constant `KAFKA_NAME`, and
//! `retriable` is true exactly when the Java client's exception for the code extends
//! `RetriableException` (directly or through `InvalidMetadataException`).

macro_rules! kafka_codes {
    ($( $code:literal => $name:ident = $kafka_name:literal, $retriable:literal, $desc:literal; )*) => {
        /// A Kafka protocol error code (never 0: success is not an error).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum KafkaCode {
            $(
                #[doc = concat!("`", $kafka_name, "` (", stringify!($code), "): ", $desc)]
                $name,
            )*
            /// A code this client does not know (a newer broker's); not retriable.
            Unknown(i16),
        }

        impl KafkaCode {
            /// Every known variant, in code order (test-only: checks the table).
            #[cfg(test)]
            const ALL: &'static [KafkaCode] = &[$( KafkaCode::$name, )*];

            /// The error for a response's `error_code` field; `None` for 0 (no error).
            pub fn from_code(code: i16) -> Option<KafkaCode> {
                match code {
                    0 => None,
                    $( $code => Some(KafkaCode::$name), )*
                    other => Some(KafkaCode::Unknown(other)),
                }
            }

            /// The numeric code on the wire.
            pub fn code(self) -> i16 {
                match self {
                    $( KafkaCode::$name => $code, )*
                    KafkaCode::Unknown(code) => code,
                }
            }

            /// Whether the same request may succeed if sent again (after a metadata
            /// refresh or a backoff), as Kafka classifies the error.
            pub fn is_retriable(self) -> bool {
                match self {
                    $( KafkaCode::$name => $retriable, )*
                    KafkaCode::Unknown(_) => false,
                }
            }

            /// Kafka's description of the error.
            pub fn description(self) -> &'static str {
                match self {
                    $( KafkaCode::$name => $desc, )*
                    KafkaCode::Unknown(_) => "An error code this client does not know.",
                }
            }

            /// Kafka's name for the error, the constant in its `Errors` enum and the
            /// protocol guide (e.g. `"NOT_LEADER_OR_FOLLOWER"`); `"UNKNOWN"` for a
            /// code this client does not know.
            pub fn name(self) -> &'static str {
                match self {
                    $( KafkaCode::$name => $kafka_name, )*
                    KafkaCode::Unknown(_) => "UNKNOWN",
                }
            }
        }
    };
}

kafka_codes! {
    -1 => UnknownServerError = "UNKNOWN_SERVER_ERROR", false, "The server experienced an unexpected error when processing the request.";
    1 => OffsetOutOfRange = "OFFSET_OUT_OF_RANGE", false, "The requested offset is not within the range of offsets maintained by the server.";
    2 => CorruptMessage = "CORRUPT_MESSAGE", true, "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.";
    3 => UnknownTopicOrPartition = "UNKNOWN_TOPIC_OR_PARTITION", true, "This server does not host this topic-partition.";
    4 => InvalidFetchSize = "INVALID_FETCH_SIZE", false, "The requested fetch size is invalid.";
    5 => LeaderNotAvailable = "LEADER_NOT_AVAILABLE", true, "There is no leader for this topic-partition as we are in the middle of a leadership election.";
    6 => NotLeaderOrFollower = "NOT_LEADER_OR_FOLLOWER", true, "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
    7 => RequestTimedOut = "REQUEST_TIMED_OUT", true, "The request timed out.";
    8 => BrokerNotAvailable = "BROKER_NOT_AVAILABLE", false, "The broker is not available.";
    9 => ReplicaNotAvailable = "REPLICA_NOT_AVAILABLE", true, "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition.";
    10 => MessageTooLarge = "MESSAGE_TOO_LARGE", false, "The request included a message larger than the max message size the server will accept.";
    11 => StaleControllerEpoch = "STALE_CONTROLLER_EPOCH", false, "The controller moved to another broker.";
    12 => OffsetMetadataTooLarge = "OFFSET_METADATA_TOO_LARGE", false, "The metadata field of the offset request was too large.";
    13 => NetworkException = "NETWORK_EXCEPTION", true, "The server disconnected before a response was received.";
    14 => CoordinatorLoadInProgress = "COORDINATOR_LOAD_IN_PROGRESS", true, "The coordinator is loading and hence can't process requests.";
    15 => CoordinatorNotAvailable = "COORDINATOR_NOT_AVAILABLE", true, "The coordinator is not available.";
    16 => NotCoordinator = "NOT_COORDINATOR", true, "This is not the correct coordinator.";
    17 => InvalidTopicException = "INVALID_TOPIC_EXCEPTION", false, "The request attempted to perform an operation on an invalid topic.";
    18 => RecordListTooLarge = "RECORD_LIST_TOO_LARGE", false, "The request included message batch larger than the configured segment size on the server.";
    19 => NotEnoughReplicas = "NOT_ENOUGH_REPLICAS", true, "Messages are rejected since there are fewer in-sync replicas than required.";
    20 => NotEnoughReplicasAfterAppend = "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, "Messages are written to the log, but to fewer in-sync replicas than required.";
    21 => InvalidRequiredAcks = "INVALID_REQUIRED_ACKS", false, "Produce request specified an invalid value for required acks.";
    22 => IllegalGeneration = "ILLEGAL_GENERATION", false, "Specified group generation id is not valid.";
    23 => InconsistentGroupProtocol = "INCONSISTENT_GROUP_PROTOCOL", false, "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.";
    24 => InvalidGroupId = "INVALID_GROUP_ID", false, "The group id is invalid.";
    25 => UnknownMemberId = "UNKNOWN_MEMBER_ID", false, "The coordinator is not aware of this member.";
    26 => InvalidSessionTimeout = "INVALID_SESSION_TIMEOUT", false, "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).";
    27 => RebalanceInProgress = "REBALANCE_IN_PROGRESS", false, "The group is rebalancing, so a rejoin is needed.";
    28 => InvalidCommitOffsetSize = "INVALID_COMMIT_OFFSET_SIZE", false, "The committing offset data size is not valid.";
    29 => TopicAuthorizationFailed = "TOPIC_AUTHORIZATION_FAILED", false, "Topic authorization failed.";
    30 => GroupAuthorizationFailed = "GROUP_AUTHORIZATION_FAILED", false, "Group authorization failed.";
    31 => ClusterAuthorizationFailed = "CLUSTER_AUTHORIZATION_FAILED", false, "Cluster authorization failed.";
    32 => InvalidTimestamp = "INVALID_TIMESTAMP", false, "The timestamp of the message is out of acceptable range.";
    33 => UnsupportedSaslMechanism = "UNSUPPORTED_SASL_MECHANISM", false, "The broker does not support the requested SASL mechanism.";
    34 => IllegalSaslState = "ILLEGAL_SASL_STATE", false, "Request is not valid given the current SASL state.";
    35 => UnsupportedVersion = "UNSUPPORTED_VERSION", false, "The version of API is not supported.";
    36 => TopicAlreadyExists = "TOPIC_ALREADY_EXISTS", false, "Topic with this name already exists.";
    37 => InvalidPartitions = "INVALID_PARTITIONS", false, "Number of partitions is below 1.";
    38 => InvalidReplicationFactor = "INVALID_REPLICATION_FACTOR", false, "Replication factor is below 1 or larger than the number of available brokers.";
    39 => InvalidReplicaAssignment = "INVALID_REPLICA_ASSIGNMENT", false, "Replica assignment is invalid.";
    40 => InvalidConfig = "INVALID_CONFIG", false, "Configuration is invalid.";
    41 => NotController = "NOT_CONTROLLER", true, "This is not the correct controller for this cluster.";
    42 => InvalidRequest = "INVALID_REQUEST", false, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.";
    43 => UnsupportedForMessageFormat = "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, "The message format version on the broker does not support the request.";
    44 => PolicyViolation = "POLICY_VIOLATION", false, "Request parameters do not satisfy the configured policy.";
    45 => OutOfOrderSequenceNumber = "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "The broker received an out of order sequence number.";
    46 => DuplicateSequenceNumber = "DUPLICATE_SEQUENCE_NUMBER", false, "The broker received a duplicate sequence number.";
    47 => InvalidProducerEpoch = "INVALID_PRODUCER_EPOCH", false, "Producer attempted to produce with an old epoch.";
    48 => InvalidTxnState = "INVALID_TXN_STATE", false, "The producer attempted a transactional operation in an invalid state.";
    49 => InvalidProducerIdMapping = "INVALID_PRODUCER_ID_MAPPING", false, "The producer attempted to use a producer id which is not currently assigned to its transactional id.";
    50 => InvalidTransactionTimeout = "INVALID_TRANSACTION_TIMEOUT", false, "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).";
    51 => ConcurrentTransactions = "CONCURRENT_TRANSACTIONS", true, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.";
    52 => TransactionCoordinatorFenced = "TRANSACTION_COORDINATOR_FENCED", false, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.";
    53 => TransactionalIdAuthorizationFailed = "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, "Transactional Id authorization failed.";
    54 => SecurityDisabled = "SECURITY_DISABLED", false, "Security features are disabled.";
    55 => OperationNotAttempted = "OPERATION_NOT_ATTEMPTED", false, "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.";
    56 => KafkaStorageError = "KAFKA_STORAGE_ERROR", true, "Disk error when trying to access log file on the disk.";
    57 => LogDirNotFound = "LOG_DIR_NOT_FOUND", false, "The user-specified log directory is not found in the broker config.";
    58 => SaslAuthenticationFailed = "SASL_AUTHENTICATION_FAILED", false, "SASL Authentication failed.";
    59 => UnknownProducerId = "UNKNOWN_PRODUCER_ID", false, "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.";
    60 => ReassignmentInProgress = "REASSIGNMENT_IN_PROGRESS", false, "A partition reassignment is in progress.";
    61 => DelegationTokenAuthDisabled = "DELEGATION_TOKEN_AUTH_DISABLED", false, "Delegation Token feature is not enabled.";
    62 => DelegationTokenNotFound = "DELEGATION_TOKEN_NOT_FOUND", false, "Delegation Token is not found on server.";
    63 => DelegationTokenOwnerMismatch = "DELEGATION_TOKEN_OWNER_MISMATCH", false, "Specified Principal is not valid Owner/Renewer.";
    64 => DelegationTokenRequestNotAllowed = "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false, "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.";
    65 => DelegationTokenAuthorizationFailed = "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false, "Delegation Token authorization failed.";
    66 => DelegationTokenExpired = "DELEGATION_TOKEN_EXPIRED", false, "Delegation Token is expired.";
    67 => InvalidPrincipalType = "INVALID_PRINCIPAL_TYPE", false, "Supplied principalType is not supported.";
    68 => NonEmptyGroup = "NON_EMPTY_GROUP", false, "The group is not empty.";
    69 => GroupIdNotFound = "GROUP_ID_NOT_FOUND", false, "The group id does not exist.";
    70 => FetchSessionIdNotFound = "FETCH_SESSION_ID_NOT_FOUND", true, "The fetch session ID was not found.";
    71 => InvalidFetchSessionEpoch = "INVALID_FETCH_SESSION_EPOCH", true, "The fetch session epoch is invalid.";
    72 => ListenerNotFound = "LISTENER_NOT_FOUND", true, "There is no listener on the leader broker that matches the listener on which metadata request was processed.";
    73 => TopicDeletionDisabled = "TOPIC_DELETION_DISABLED", false, "Topic deletion is disabled.";
    74 => FencedLeaderEpoch = "FENCED_LEADER_EPOCH", true, "The leader epoch in the request is older than the epoch on the broker.";
    75 => UnknownLeaderEpoch = "UNKNOWN_LEADER_EPOCH", true, "The leader epoch in the request is newer than the epoch on the broker.";
    76 => UnsupportedCompressionType = "UNSUPPORTED_COMPRESSION_TYPE", false, "The requesting client does not support the compression type of given partition.";
    77 => StaleBrokerEpoch = "STALE_BROKER_EPOCH", false, "Broker epoch has changed.";
    78 => OffsetNotAvailable = "OFFSET_NOT_AVAILABLE", true, "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.";
    79 => MemberIdRequired = "MEMBER_ID_REQUIRED", false, "The group member needs to have a valid member id before actually entering a consumer group.";
    80 => PreferredLeaderNotAvailable = "PREFERRED_LEADER_NOT_AVAILABLE", true, "The preferred leader was not available.";
    81 => GroupMaxSizeReached = "GROUP_MAX_SIZE_REACHED", false, "The group has reached its maximum size.";
    82 => FencedInstanceId = "FENCED_INSTANCE_ID", false, "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.";
    83 => EligibleLeadersNotAvailable = "ELIGIBLE_LEADERS_NOT_AVAILABLE", true, "Eligible topic partition leaders are not available.";
    84 => ElectionNotNeeded = "ELECTION_NOT_NEEDED", true, "Leader election not needed for topic partition.";
    85 => NoReassignmentInProgress = "NO_REASSIGNMENT_IN_PROGRESS", false, "No partition reassignment is in progress.";
    86 => GroupSubscribedToTopic = "GROUP_SUBSCRIBED_TO_TOPIC", false, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.";
    87 => InvalidRecord = "INVALID_RECORD", false, "This record has failed the validation on broker and hence will be rejected.";
    88 => UnstableOffsetCommit = "UNSTABLE_OFFSET_COMMIT", true, "There are unstable offsets that need to be cleared.";
    89 => ThrottlingQuotaExceeded = "THROTTLING_QUOTA_EXCEEDED", true, "The throttling quota has been exceeded.";
    90 => ProducerFenced = "PRODUCER_FENCED", false, "There is a newer producer with the same transactionalId which fences the current one.";
    91 => ResourceNotFound = "RESOURCE_NOT_FOUND", false, "A request illegally referred to a resource that does not exist.";
    92 => DuplicateResource = "DUPLICATE_RESOURCE", false, "A request illegally referred to the same resource twice.";
    93 => UnacceptableCredential = "UNACCEPTABLE_CREDENTIAL", false, "Requested credential would not meet criteria for acceptability.";
    94 => InconsistentVoterSet = "INCONSISTENT_VOTER_SET", false, "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.";
    95 => InvalidUpdateVersion = "INVALID_UPDATE_VERSION", false, "The given update version was invalid.";
    96 => FeatureUpdateFailed = "FEATURE_UPDATE_FAILED", false, "Unable to update finalized features due to an unexpected server error.";
    97 => PrincipalDeserializationFailure = "PRINCIPAL_DESERIALIZATION_FAILURE", false, "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.";
    98 => SnapshotNotFound = "SNAPSHOT_NOT_FOUND", false, "Requested snapshot was not found.";
    99 => PositionOutOfRange = "POSITION_OUT_OF_RANGE", false, "Requested position is not greater than or equal to zero, and less than the size of the snapshot.";
    100 => UnknownTopicId = "UNKNOWN_TOPIC_ID", true, "This server does not host this topic ID.";
    101 => DuplicateBrokerRegistration = "DUPLICATE_BROKER_REGISTRATION", false, "This broker ID is already in use.";
    102 => BrokerIdNotRegistered = "BROKER_ID_NOT_REGISTERED", false, "The given broker ID was not registered.";
    103 => InconsistentTopicId = "INCONSISTENT_TOPIC_ID", true, "The log's topic ID did not match the topic ID in the request.";
    104 => InconsistentClusterId = "INCONSISTENT_CLUSTER_ID", false, "The clusterId in the request does not match that found on the server.";
    105 => TransactionalIdNotFound = "TRANSACTIONAL_ID_NOT_FOUND", false, "The transactionalId could not be found.";
    106 => FetchSessionTopicIdError = "FETCH_SESSION_TOPIC_ID_ERROR", true, "The fetch session encountered inconsistent topic ID usage.";
    107 => IneligibleReplica = "INELIGIBLE_REPLICA", false, "The new ISR contains at least one ineligible replica.";
    108 => NewLeaderElected = "NEW_LEADER_ELECTED", false, "The AlterPartition request successfully updated the partition state but the leader has changed.";
    109 => OffsetMovedToTieredStorage = "OFFSET_MOVED_TO_TIERED_STORAGE", false, "The requested offset is moved to tiered storage.";
    110 => FencedMemberEpoch = "FENCED_MEMBER_EPOCH", false, "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.";
    111 => UnreleasedInstanceId = "UNRELEASED_INSTANCE_ID", false, "The instance ID is still used by another member in the consumer group. That member must leave first.";
    112 => UnsupportedAssignor = "UNSUPPORTED_ASSIGNOR", false, "The assignor or its version range is not supported by the consumer group.";
    113 => StaleMemberEpoch = "STALE_MEMBER_EPOCH", false, "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.";
    114 => MismatchedEndpointType = "MISMATCHED_ENDPOINT_TYPE", false, "The request was sent to an endpoint of the wrong type.";
    115 => UnsupportedEndpointType = "UNSUPPORTED_ENDPOINT_TYPE", false, "This endpoint type is not supported yet.";
    116 => UnknownControllerId = "UNKNOWN_CONTROLLER_ID", false, "This controller ID is not known.";
    117 => UnknownSubscriptionId = "UNKNOWN_SUBSCRIPTION_ID", false, "Client sent a push telemetry request with an invalid or outdated subscription ID.";
    118 => TelemetryTooLarge = "TELEMETRY_TOO_LARGE", false, "Client sent a push telemetry request larger than the maximum size the broker will accept.";
    119 => InvalidRegistration = "INVALID_REGISTRATION", false, "The controller has considered the broker registration to be invalid.";
    120 => TransactionAbortable = "TRANSACTION_ABORTABLE", false, "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.";
    121 => InvalidRecordState = "INVALID_RECORD_STATE", false, "The record state is invalid. The acknowledgement of delivery could not be completed.";
    122 => ShareSessionNotFound = "SHARE_SESSION_NOT_FOUND", true, "The share session was not found.";
    123 => InvalidShareSessionEpoch = "INVALID_SHARE_SESSION_EPOCH", true, "The share session epoch is invalid.";
    124 => FencedStateEpoch = "FENCED_STATE_EPOCH", false, "The share coordinator rejected the request because the share-group state epoch did not match.";
    125 => InvalidVoterKey = "INVALID_VOTER_KEY", false, "The voter key doesn't match the receiving replica's key.";
    126 => DuplicateVoter = "DUPLICATE_VOTER", false, "The voter is already part of the set of voters.";
    127 => VoterNotFound = "VOTER_NOT_FOUND", false, "The voter is not part of the set of voters.";
    128 => InvalidRegularExpression = "INVALID_REGULAR_EXPRESSION", false, "The regular expression is not valid.";
    129 => RebootstrapRequired = "REBOOTSTRAP_REQUIRED", false, "Client metadata is stale. The client should rebootstrap to obtain new metadata.";
    130 => StreamsInvalidTopology = "STREAMS_INVALID_TOPOLOGY", false, "The supplied topology is invalid.";
    131 => StreamsInvalidTopologyEpoch = "STREAMS_INVALID_TOPOLOGY_EPOCH", false, "The supplied topology epoch is invalid.";
    132 => StreamsTopologyFenced = "STREAMS_TOPOLOGY_FENCED", false, "The supplied topology epoch is outdated.";
    133 => ShareSessionLimitReached = "SHARE_SESSION_LIMIT_REACHED", true, "The limit of share sessions has been reached.";
}

impl KafkaCode {
    /// Whether the client's view of partition leadership or topic identity is out of
    /// date, so it should refresh its cluster metadata before retrying: the partition
    /// moved (`NOT_LEADER_OR_FOLLOWER`, `LEADER_NOT_AVAILABLE`,
    /// `REPLICA_NOT_AVAILABLE`, `KAFKA_STORAGE_ERROR`), the leader epoch it sent
    /// disagrees with the broker's (`FENCED_LEADER_EPOCH`, `UNKNOWN_LEADER_EPOCH`),
    /// the topic is unknown or was recreated (`UNKNOWN_TOPIC_OR_PARTITION`,
    /// `UNKNOWN_TOPIC_ID`, `INCONSISTENT_TOPIC_ID`), or the controller moved
    /// (`NOT_CONTROLLER`: the controller id comes from metadata).
    ///
    /// Coordinator errors are not included; see
    /// [`needs_coordinator_refresh`](Self::needs_coordinator_refresh).
    pub fn needs_metadata_refresh(self) -> bool {
        matches!(
            self,
            KafkaCode::NotLeaderOrFollower
                | KafkaCode::LeaderNotAvailable
                | KafkaCode::ReplicaNotAvailable
                | KafkaCode::UnknownTopicOrPartition
                | KafkaCode::FencedLeaderEpoch
                | KafkaCode::UnknownLeaderEpoch
                | KafkaCode::KafkaStorageError
                | KafkaCode::UnknownTopicId
                | KafkaCode::InconsistentTopicId
                | KafkaCode::NotController
        )
    }

    /// Whether the group or transaction coordinator the request went to is not (or
    /// no longer) the right one, so the client should look it up again with
    /// FindCoordinator before retrying (`NOT_COORDINATOR`,
    /// `COORDINATOR_NOT_AVAILABLE`).
    ///
    /// `COORDINATOR_LOAD_IN_PROGRESS` is not included: the coordinator is right but
    /// busy, so the client only backs off and retries.
    pub fn needs_coordinator_refresh(self) -> bool {
        matches!(
            self,
            KafkaCode::NotCoordinator | KafkaCode::CoordinatorNotAvailable
        )
    }
}

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({}): {}", self.code(), self.description())
    }
}

impl std::error::Error for KafkaCode {}

#[cfg(test)]
mod tests {
    use super::KafkaCode;
    use std::collections::HashSet;

    /// The highest code Kafka 4.1 defines (`SHARE_SESSION_LIMIT_REACHED`).
    const HIGHEST: i16 = 133;

    #[test]
    fn zero_is_no_error() {
        assert_eq!(KafkaCode::from_code(0), None);
    }

    #[test]
    fn table_is_complete() {
        // -1, then 1 through HIGHEST with no gaps.
        assert_eq!(KafkaCode::ALL.len(), HIGHEST as usize + 1);
        for code in (-1..=HIGHEST).filter(|&c| c != 0) {
            let known = KafkaCode::from_code(code);
            assert!(
                matches!(known, Some(err) if !matches!(err, KafkaCode::Unknown(_))),
                "code {code} is missing from the table"
            );
        }
    }

    #[test]
    fn round_trip_every_code() {
        for code in -1..=200i16 {
            match KafkaCode::from_code(code) {
                None => assert_eq!(code, 0),
                Some(err) => {
                    assert_eq!(err.code(), code);
                    if code > HIGHEST {
                        assert_eq!(err, KafkaCode::Unknown(code));
                        assert!(!err.is_retriable());
                        assert_eq!(err.name(), "UNKNOWN");
                    }
                }
            }
        }
        for code in [i16::MIN, -2, i16::MAX] {
            assert_eq!(KafkaCode::from_code(code), Some(KafkaCode::Unknown(code)));
            assert_eq!(KafkaCode::Unknown(code).code(), code);
        }
    }

    #[test]
    fn no_two_variants_share_a_code_or_name() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &err in KafkaCode::ALL {
            assert!(
                codes.insert(err.code()),
                "{err:?} reuses code {}",
                err.code()
            );
            assert!(
                names.insert(err.name()),
                "{err:?} reuses name {}",
                err.name()
            );
            assert_eq!(KafkaCode::from_code(err.code()), Some(err));
        }
    }

    #[test]
    fn names_match_variants() {
        for &err in KafkaCode::ALL {
            let camel: String = err
                .name()
                .split('_')
                .map(|word| {
                    let (first, rest) = word.split_at(1);
                    first.to_string() + &rest.to_ascii_lowercase()
                })
                .collect();
            assert_eq!(camel, format!("{err:?}"));
            assert!(!err.description().is_empty());
        }
    }

    #[test]
    fn spot_check_classification() {
        let cases: &[(i16, &str, bool)] = &[
            (-1, "UNKNOWN_SERVER_ERROR", false),
            (1, "OFFSET_OUT_OF_RANGE", false),
            (2, "CORRUPT_MESSAGE", true),
            (3, "UNKNOWN_TOPIC_OR_PARTITION", true),
            (6, "NOT_LEADER_OR_FOLLOWER", true),
            (7, "REQUEST_TIMED_OUT", true),
            (10, "MESSAGE_TOO_LARGE", false),
            (13, "NETWORK_EXCEPTION", true),
            (16, "NOT_COORDINATOR", true),
            (17, "INVALID_TOPIC_EXCEPTION", false),
            (22, "ILLEGAL_GENERATION", false),
            (27, "REBALANCE_IN_PROGRESS", false),
            (29, "TOPIC_AUTHORIZATION_FAILED", false),
            (35, "UNSUPPORTED_VERSION", false),
            (41, "NOT_CONTROLLER", true),
            (47, "INVALID_PRODUCER_EPOCH", false),
            (51, "CONCURRENT_TRANSACTIONS", true),
            (56, "KAFKA_STORAGE_ERROR", true),
            (59, "UNKNOWN_PRODUCER_ID", false),
            (74, "FENCED_LEADER_EPOCH", true),
            (89, "THROTTLING_QUOTA_EXCEEDED", true),
            (90, "PRODUCER_FENCED", false),
            (100, "UNKNOWN_TOPIC_ID", true),
            (106, "FETCH_SESSION_TOPIC_ID_ERROR", true),
            (109, "OFFSET_MOVED_TO_TIERED_STORAGE", false),
            (120, "TRANSACTION_ABORTABLE", false),
            (128, "INVALID_REGULAR_EXPRESSION", false),
            (129, "REBOOTSTRAP_REQUIRED", false),
            (133, "SHARE_SESSION_LIMIT_REACHED", true),
        ];
        for &(code, name, retriable) in cases {
            let Some(err) = KafkaCode::from_code(code) else {
                panic!("{code} is not an error");
            };
            assert_eq!(err.name(), name, "name of {code}");
            assert_eq!(err.is_retriable(), retriable, "retriable of {name}");
        }
        assert_eq!(
            KafkaCode::from_code(6),
            Some(KafkaCode::NotLeaderOrFollower)
        );
        assert_eq!(KafkaCode::from_code(100), Some(KafkaCode::UnknownTopicId));
    }

    #[test]
    fn refresh_helpers() {
        let metadata: HashSet<KafkaCode> = KafkaCode::ALL
            .iter()
            .copied()
            .filter(|e| e.needs_metadata_refresh())
            .collect();
        assert_eq!(metadata.len(), 10);
        assert!(metadata.contains(&KafkaCode::NotLeaderOrFollower));
        assert!(metadata.contains(&KafkaCode::UnknownTopicId));
        for err in &metadata {
            assert!(err.is_retriable(), "{err:?} needs a refresh, so must retry");
            assert!(!err.needs_coordinator_refresh());
        }
        assert!(KafkaCode::NotCoordinator.needs_coordinator_refresh());
        assert!(KafkaCode::CoordinatorNotAvailable.needs_coordinator_refresh());
        assert!(!KafkaCode::CoordinatorLoadInProgress.needs_coordinator_refresh());
        assert!(!KafkaCode::RequestTimedOut.needs_metadata_refresh());
        assert!(!KafkaCode::Unknown(500).needs_metadata_refresh());
        assert!(!KafkaCode::Unknown(500).needs_coordinator_refresh());
    }

    #[test]
    fn display_names_the_error() {
        let text = KafkaCode::NotLeaderOrFollower.to_string();
        assert!(text.starts_with("NotLeaderOrFollower (6): "), "{text}");
        assert_eq!(
            KafkaCode::Unknown(999).to_string().split(' ').nth(1),
            Some("(999):")
        );
    }
}
