//! Every Kafka error code, once: its named variant, whether it is retriable, and its
//! description. The table follows Kafka's `Errors` enum (the protocol guide's list).

macro_rules! kafka_codes {
    ($( $code:literal => $name:ident, $retriable:literal, $desc:literal; )*) => {
        /// A Kafka protocol error code (never 0: success is not an error).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum KafkaCode {
            $(
                #[doc = $desc]
                $name,
            )*
            /// A code this client does not know (a newer broker's); not retriable.
            Unknown(i16),
        }

        impl KafkaCode {
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
        }
    };
}

kafka_codes! {
    -1 => UnknownServerError, false, "The server experienced an unexpected error when processing the request.";
    1 => OffsetOutOfRange, false, "The requested offset is not within the range of offsets maintained by the server.";
    3 => UnknownTopicOrPartition, true, "This server does not host this topic-partition.";
    6 => NotLeaderOrFollower, true, "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
}

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({}): {}", self.code(), self.description())
    }
}

impl std::error::Error for KafkaCode {}
