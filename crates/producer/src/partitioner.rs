//! Partitioners: which partition a record goes to when the application does not say.
//!
//! The hash functions are the ones the Java client and librdkafka compute, bit for
//! bit, so that a key lands on the same partition whichever client wrote it:
//!
//! | name                | keyed records                      | null key (empty key)           |
//! |---------------------|------------------------------------|--------------------------------|
//! | `consistent_random` | CRC32(key) % n (librdkafka default) | sticky random (sticky random)  |
//! | `consistent`        | CRC32(key) % n                     | CRC32(empty) % n = 0           |
//! | `murmur2_random`    | murmur2(key) & 0x7fffffff % n      | sticky random (hashed)         |
//! | `murmur2`           | murmur2(key) & 0x7fffffff % n      | murmur2(empty) & 0x7fffffff % n |
//! | `fnv1a_random`      | fnv1a(key) % n                     | sticky random (hashed)         |
//! | `fnv1a`             | fnv1a(key) % n                     | fnv1a(empty) % n               |
//! | `random`            | random per record                  | sticky random                  |
//! | `java` / `default`  | toPositive(murmur2(key)) % n       | uniform sticky (per batch)     |
//!
//! "Sticky random" is librdkafka's rule (since 1.9): records without a key go to one
//! random partition for `sticky.partitioning.linger.ms` (default 10 ms; 0 means a
//! new random partition per record), then to another. "Uniform sticky" is the Java
//! client's rule: records without a key go to one partition until a batch for it is
//! full or sent, then to another. The non-`_random` librdkafka partitioners hash a
//! null key as the empty key (librdkafka calls them with `keylen == 0`). Both sticky
//! rules are carried out by the accumulator, which knows the clock and the batches;
//! this module only says which rule applies ([`Placement`]).
//!
//! The pure functions [`murmur2`], [`crc32`], [`fnv1a`] and the `*_partition`
//! helpers are what the cross-client tests call.

use std::fmt;
use std::str::FromStr;

/// How a producer picks the partition of a record that names none (librdkafka's
/// `partitioner`; default `consistent_random`, as librdkafka).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Partitioner {
    /// `consistent_random`: CRC32 of the key; null and empty keys sticky random.
    #[default]
    ConsistentRandom,
    /// `consistent`: CRC32 of the key; null and empty keys hash as empty (partition 0).
    Consistent,
    /// `murmur2_random`: Java-compatible murmur2 of the key; null keys sticky random.
    Murmur2Random,
    /// `murmur2`: Java-compatible murmur2 of the key; null keys hash as empty.
    Murmur2,
    /// `random`: a random partition for every keyed record; null keys sticky random.
    Random,
    /// `fnv1a`: FNV-1a of the key (Sarama-compatible); null keys hash as empty.
    Fnv1a,
    /// `fnv1a_random`: FNV-1a of the key; null keys sticky random.
    Fnv1aRandom,
    /// `java` (also `default`): the Java client's built-in partitioner: murmur2 of
    /// the key, "uniform sticky" for null keys.
    Java,
}

/// Where a record goes, as far as the partitioner alone can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// This partition, computed from the key.
    Partition(i32),
    /// A uniformly random partition, chosen per record.
    Random,
    /// The topic's current sticky partition (librdkafka's time-based rule, or the
    /// Java client's per-batch rule for [`Partitioner::Java`]).
    Sticky,
}

/// The name given to [`Partitioner::from_str`] is not a partitioner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown partitioner `{0}` (expected one of: consistent_random, consistent, murmur2_random, murmur2, random, fnv1a, fnv1a_random, java)")]
pub struct UnknownPartitioner(pub String);

impl Partitioner {
    /// Every partitioner, in the order of the table above.
    pub const ALL: [Partitioner; 8] = [
        Partitioner::ConsistentRandom,
        Partitioner::Consistent,
        Partitioner::Murmur2Random,
        Partitioner::Murmur2,
        Partitioner::Fnv1aRandom,
        Partitioner::Fnv1a,
        Partitioner::Random,
        Partitioner::Java,
    ];

    /// The librdkafka name (`java` for [`Partitioner::Java`]).
    pub fn name(self) -> &'static str {
        match self {
            Partitioner::ConsistentRandom => "consistent_random",
            Partitioner::Consistent => "consistent",
            Partitioner::Murmur2Random => "murmur2_random",
            Partitioner::Murmur2 => "murmur2",
            Partitioner::Random => "random",
            Partitioner::Fnv1a => "fnv1a",
            Partitioner::Fnv1aRandom => "fnv1a_random",
            Partitioner::Java => "java",
        }
    }

    /// Where a record with `key` goes among `partition_count` partitions.
    ///
    /// `partition_count` must be positive; a count below 1 is treated as 1.
    pub fn place(self, key: Option<&[u8]>, partition_count: i32) -> Placement {
        let n = partition_count;
        match (self, key) {
            (Partitioner::ConsistentRandom, None) => Placement::Sticky,
            (Partitioner::ConsistentRandom, Some([])) => Placement::Sticky,
            (Partitioner::ConsistentRandom | Partitioner::Consistent, key) => {
                Placement::Partition(crc32_partition(key.unwrap_or_default(), n))
            }
            (Partitioner::Murmur2Random | Partitioner::Fnv1aRandom, None) => Placement::Sticky,
            (Partitioner::Murmur2Random | Partitioner::Murmur2, key) => {
                Placement::Partition(murmur2_partition(key.unwrap_or_default(), n))
            }
            (Partitioner::Fnv1aRandom | Partitioner::Fnv1a, key) => {
                Placement::Partition(fnv1a_partition(key.unwrap_or_default(), n))
            }
            (Partitioner::Random, None) => Placement::Sticky,
            (Partitioner::Random, Some(_)) => Placement::Random,
            (Partitioner::Java, None) => Placement::Sticky,
            (Partitioner::Java, Some(key)) => Placement::Partition(java_partition(key, n)),
        }
    }

    /// The partition for `key` when it depends on the key alone; `None` when this
    /// partitioner spreads the record randomly or stickily instead.
    pub fn partition_for_key(self, key: Option<&[u8]>, partition_count: i32) -> Option<i32> {
        match self.place(key, partition_count) {
            Placement::Partition(p) => Some(p),
            Placement::Random | Placement::Sticky => None,
        }
    }
}

impl fmt::Display for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Partitioner {
    type Err = UnknownPartitioner;

    /// Parses a librdkafka partitioner name, or `java` / `default` for the Java
    /// client's built-in partitioner.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "java" | "default" => Ok(Partitioner::Java),
            other => Partitioner::ALL
                .into_iter()
                .find(|p| p.name() == other)
                .ok_or_else(|| UnknownPartitioner(other.to_owned())),
        }
    }
}

/// The Java client's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`,
/// reading the input as little-endian words. librdkafka's `rd_murmur2` is the same.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes `int length`; keys beyond 2 GiB cannot be sent, so truncation is moot.
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's `Utils.toPositive`: clears the sign bit (not `abs`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The Java client's partition for a keyed record: `toPositive(murmur2(key)) % n`.
pub fn java_partition(key: &[u8], partition_count: i32) -> i32 {
    to_positive(murmur2(key)) % partition_count.max(1)
}

/// librdkafka's `murmur2` partitioners: `(rd_murmur2(key) & 0x7fffffff) % n`, equal
/// to [`java_partition`].
pub fn murmur2_partition(key: &[u8], partition_count: i32) -> i32 {
    java_partition(key, partition_count)
}

/// CRC-32 (IEEE 802.3, reflected polynomial `0xEDB88320`, as zlib and `crc32fast`
/// compute it): librdkafka's `rd_crc32`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC32_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// librdkafka's `consistent` partitioners: `rd_crc32(key) % n` (unsigned).
pub fn crc32_partition(key: &[u8], partition_count: i32) -> i32 {
    (crc32(key) % partition_count.max(1) as u32) as i32
}

/// librdkafka's `rd_fnv1a`: 32-bit FNV-1a, then the absolute value of the hash as a
/// signed integer (to match Sarama's hash partitioner).
pub fn fnv1a(data: &[u8]) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    const OFFSET: u32 = 0x811c_9dc5;
    let mut h = OFFSET;
    for &byte in data {
        h ^= u32::from(byte);
        h = h.wrapping_mul(PRIME);
    }
    // C negates the int32; i32::MIN stays itself (as it does on every C compiler).
    (h as i32).wrapping_abs() as u32
}

/// librdkafka's `fnv1a` partitioners: `rd_fnv1a(key) % n` (unsigned).
pub fn fnv1a_partition(key: &[u8], partition_count: i32) -> i32 {
    (fnv1a(key) % partition_count.max(1) as u32) as i32
}

/// The CRC-32 lookup table, one entry per byte value, built at compile time.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka's `rdmurmur2.c` unit-test vectors ("java_murmur2_results").
    const MURMUR2_VECTORS: &[(&str, u32)] = &[
        ("kafka", 0xd067cf64),
        ("giberish123456789", 0x8f552b0c),
        ("1234", 0x9fc97b14),
        ("234", 0xe7c009ca),
        ("34", 0x873930da),
        ("4", 0x5a4b5ca1),
        ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c),
        ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377),
        ("eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09e),
        ("AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f),
        ("", 0x106e08d9),
    ];

    #[test]
    fn murmur2_matches_librdkafka_vectors() {
        for &(key, want) in MURMUR2_VECTORS {
            assert_eq!(murmur2(key.as_bytes()) as u32, want, "{key:?}");
        }
    }

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        // Apache Kafka's UtilsTest.testMurmur2.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for &(key, want) in cases {
            assert_eq!(murmur2(key), want, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn fnv1a_matches_librdkafka_vectors() {
        // librdkafka's rdfnv1a.c unit-test vectors (taken from Go's hash/fnv + abs).
        let cases: &[(&str, u32)] = &[
            ("kafka", 0x0d33c4e1),
            ("giberish123456789", 0x77a58295),
            ("1234", 0x023bdd03),
            ("234", 0x2dea3cd2),
            ("34", 0x740fa83e),
            ("4", 0x310ca263),
            ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x65cbd69c),
            ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x6e49c79a),
            ("eAmbleWillBeRemoved,ThePrePartThatIs", 0x69eed356),
            ("AmbleWillBeRemoved,ThePrePartThatIs", 0x6abcc023),
            ("", 0x7ee3623b),
        ];
        for &(key, want) in cases {
            assert_eq!(fnv1a(key.as_bytes()), want, "{key:?}");
        }
    }

    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn partitions_follow_the_formulas() {
        let n = 7;
        for key in ["kafka", "a", "", "xyz-123"] {
            let k = key.as_bytes();
            assert_eq!(
                java_partition(k, n),
                ((murmur2(k) as u32 & 0x7fff_ffff) % 7) as i32
            );
            assert_eq!(crc32_partition(k, n), (crc32(k) % 7) as i32);
            assert_eq!(fnv1a_partition(k, n), (fnv1a(k) % 7) as i32);
            assert!((0..n).contains(&java_partition(k, n)));
        }
        // A count below 1 never divides by zero.
        assert_eq!(java_partition(b"x", 0), 0);
    }

    #[test]
    fn placement_rules() {
        use Placement::*;
        let n = 12;
        let k = Some(&b"key"[..]);
        let empty = Some(&b""[..]);
        let p = |part: Partitioner, key| part.place(key, n);
        assert_eq!(p(Partitioner::ConsistentRandom, None), Sticky);
        assert_eq!(p(Partitioner::ConsistentRandom, empty), Sticky);
        assert_eq!(
            p(Partitioner::ConsistentRandom, k),
            Partition(crc32_partition(b"key", n))
        );
        assert_eq!(p(Partitioner::Consistent, None), Partition(0));
        assert_eq!(p(Partitioner::Consistent, empty), Partition(0));
        assert_eq!(p(Partitioner::Murmur2Random, None), Sticky);
        assert_eq!(
            p(Partitioner::Murmur2Random, empty),
            Partition(murmur2_partition(b"", n))
        );
        assert_eq!(
            p(Partitioner::Murmur2, None),
            Partition(murmur2_partition(b"", n))
        );
        assert_eq!(p(Partitioner::Fnv1aRandom, None), Sticky);
        assert_eq!(
            p(Partitioner::Fnv1a, None),
            Partition(fnv1a_partition(b"", n))
        );
        assert_eq!(p(Partitioner::Random, None), Sticky);
        assert_eq!(p(Partitioner::Random, k), Random);
        assert_eq!(p(Partitioner::Java, None), Sticky);
        assert_eq!(
            p(Partitioner::Java, empty),
            Partition(java_partition(b"", n))
        );
        assert_eq!(
            Partitioner::Java.partition_for_key(k, n),
            Some(java_partition(b"key", n))
        );
        assert_eq!(Partitioner::Random.partition_for_key(k, n), None);
    }

    #[test]
    fn names_round_trip() {
        for p in Partitioner::ALL {
            assert_eq!(p.name().parse::<Partitioner>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("default".parse::<Partitioner>(), Ok(Partitioner::Java));
        assert_eq!(Partitioner::default(), Partitioner::ConsistentRandom);
        let err = "murmur3".parse::<Partitioner>().unwrap_err();
        assert!(err.to_string().contains("murmur3"));
    }
}
