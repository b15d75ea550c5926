use super::*;
use proptest::prelude::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn encode(records: &[Record], compression: Compression) -> Bytes {
    let mut out = BytesMut::new();
    encode_batch(
        &mut out,
        records,
        ProducerStamp::default(),
        compression,
        None,
    )
    .unwrap();
    out.freeze()
}

fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
}

fn record() -> impl Strategy<Value = Record> {
    let header =
        (proptest::collection::vec(any::<u8>(), 0..12), opt_bytes()).prop_map(|(key, value)| {
            Header {
                key: Bytes::from(key),
                value,
            }
        });
    (
        -1_000_000i64..1_000_000,
        opt_bytes(),
        opt_bytes(),
        proptest::collection::vec(header, 0..4),
    )
        .prop_map(|(ts, key, value, headers)| Record {
            offset: 0,
            timestamp: 1_700_000_000_000 + ts,
            key,
            value,
            headers,
        })
}

proptest! {
    #[test]
    fn batches_round_trip_for_every_codec(records in proptest::collection::vec(record(), 1..30), codec in 0usize..5) {
        let compression = CODECS[codec];
        let bytes = encode(&records, compression);
        let batches = decode_batches(bytes, &DecodeLimits::default()).unwrap();
        prop_assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        prop_assert_eq!(batch.compression, compression);
        prop_assert_eq!(batch.records.len(), records.len());
        prop_assert_eq!(batch.next_offset(), records.len() as i64);
        for (i, (got, want)) in batch.records.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset, i as i64);
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(&got.key, &want.key);
            prop_assert_eq!(&got.value, &want.value);
            prop_assert_eq!(&got.headers, &want.headers);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_batches(Bytes::from(data), &DecodeLimits::default());
    }

    #[test]
    fn every_single_byte_corruption_is_caught_or_harmless(flip in 0usize..200, codec in 0usize..5) {
        let records = vec![Record { timestamp: 5, key: Some(Bytes::from_static(b"k")), value: Some(Bytes::from(vec![7u8; 100])), ..Record::default() }];
        let mut bytes = encode(&records, CODECS[codec]).to_vec();
        let at = flip % bytes.len();
        bytes[at] ^= 0x5a;
        // Corruption of the CRC-covered part must be detected; of the header before it,
        // it may change offsets or the length but must never panic.
        if decode_batches(Bytes::from(bytes), &DecodeLimits::default()).is_ok() {
            prop_assert!(at < CRC_START, "undetected corruption at byte {}", at);
        }
    }
}

#[test]
fn uncompressed_values_are_slices_of_the_input() {
    let records = vec![Record {
        value: Some(Bytes::from_static(b"zero-copy value")),
        ..Record::default()
    }];
    let bytes = encode(&records, Compression::None);
    let range = bytes.as_ptr_range();
    let batches = decode_batches(bytes.clone(), &DecodeLimits::default()).unwrap();
    let value = batches[0].records[0].value.as_ref().unwrap();
    assert!(range.contains(&value.as_ptr()), "value was copied");
}

#[test]
fn truncated_last_batch_is_skipped() {
    let one = encode(&[Record::default()], Compression::None);
    let mut two = BytesMut::from(&one[..]);
    two.extend_from_slice(&one[..one.len() - 3]);
    let batches = decode_batches(two.freeze(), &DecodeLimits::default()).unwrap();
    assert_eq!(batches.len(), 1);
}

#[test]
fn crc_mismatch_is_a_typed_error_unless_checks_are_off() {
    let record = Record {
        value: Some(Bytes::from_static(b"value")),
        ..Record::default()
    };
    let mut bytes = encode(&[record], Compression::None).to_vec();
    let last_value_byte = bytes.len() - 2; // before the header count
    bytes[last_value_byte] ^= 1;
    let err = decode_batches(Bytes::from(bytes.clone()), &DecodeLimits::default()).unwrap_err();
    assert!(
        matches!(err, CodecError::CrcMismatch { base_offset: 0, .. }),
        "{err:?}"
    );
    let lax = DecodeLimits {
        verify_crc: false,
        ..DecodeLimits::default()
    };
    let batches = decode_batches(Bytes::from(bytes), &lax).unwrap();
    assert_eq!(batches[0].records[0].value.as_deref(), Some(&b"valud"[..]));
}

#[test]
fn legacy_magic_is_refused() {
    let mut bytes = encode(&[Record::default()], Compression::None).to_vec();
    bytes[16] = 1;
    let err = decode_batches(Bytes::from(bytes), &DecodeLimits::default()).unwrap_err();
    assert_eq!(
        err,
        CodecError::UnsupportedMagic {
            base_offset: 0,
            magic: 1
        }
    );
}

#[test]
fn header_fields_are_written_as_kafka_lays_them_out() {
    let stamp = ProducerStamp {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 7,
        transactional: true,
    };
    let records = [
        Record {
            timestamp: 1000,
            ..Record::default()
        },
        Record {
            timestamp: 900,
            ..Record::default()
        },
    ];
    let mut out = BytesMut::new();
    encode_batch(&mut out, &records, stamp, Compression::Lz4, None).unwrap();
    assert_eq!(be_i32(&out[8..12]) as usize, out.len() - 12, "batch length");
    assert_eq!(out[16], 2, "magic");
    assert_eq!(
        be_i16(&out[21..23]),
        0x10 | 3,
        "attributes: transactional + lz4"
    );
    assert_eq!(be_i32(&out[23..27]), 1, "last offset delta");
    assert_eq!(be_i64(&out[27..35]), 1000, "base timestamp");
    assert_eq!(be_i64(&out[35..43]), 1000, "max timestamp");
    assert_eq!(be_i64(&out[43..51]), 42);
    assert_eq!(be_i16(&out[51..53]), 3);
    assert_eq!(be_i32(&out[53..57]), 7);
    assert_eq!(be_i32(&out[57..61]), 2, "record count");
    let batch = &decode_batches(out.freeze(), &DecodeLimits::default()).unwrap()[0];
    assert_eq!(batch.records[1].timestamp, 900, "negative timestamp delta");
    assert!(batch.transactional);
}

#[test]
fn golden_uncompressed_record_bytes() {
    // One record, key "k", value "v", header ("h", null), timestamp delta 0, offset delta 0.
    let records = [Record {
        timestamp: 0,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: vec![Header {
            key: Bytes::from_static(b"h"),
            value: None,
        }],
        ..Record::default()
    }];
    let bytes = encode(&records, Compression::None);
    // length 11 (zigzag 22), attrs, ts 0, off 0, key len 1 (2), 'k', val len 1, 'v',
    // 1 header (2), key len 1, 'h', value len -1 (1).
    assert_eq!(
        &bytes[61..],
        &[22, 0, 0, 0, 2, b'k', 2, b'v', 2, 2, b'h', 1]
    );
}

#[test]
fn control_records_are_recognised() {
    let records = [Record {
        key: Some(Bytes::from_static(&[0, 0, 0, 1])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ..Record::default()
    }];
    let mut bytes = encode(&records, Compression::None).to_vec();
    let attributes = be_i16(&bytes[21..23]) | CONTROL_BIT | TRANSACTIONAL_BIT;
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[CRC_START..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = &decode_batches(Bytes::from(bytes), &DecodeLimits::default()).unwrap()[0];
    assert_eq!(batch.control_type(), Some(ControlType::Commit));
}

#[test]
fn batches_of_every_codec_append_after_what_the_buffer_holds() {
    // Large enough for several lz4 blocks; appended one after another.
    let records: Vec<Record> = (0..300)
        .map(|i| Record {
            offset: 0,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![(i % 7) as u8; 700 + i as usize])),
            headers: vec![Header {
                key: Bytes::from_static(b"h"),
                value: None,
            }],
        })
        .collect();
    let mut out = BytesMut::new();
    for codec in CODECS {
        encode_batch(&mut out, &records, ProducerStamp::default(), codec, None).unwrap();
    }
    let batches = decode_batches(out.freeze(), &DecodeLimits::default()).unwrap();
    assert_eq!(batches.len(), CODECS.len());
    for (batch, codec) in batches.iter().zip(CODECS) {
        assert_eq!(batch.compression, codec);
        assert_eq!(batch.records.len(), records.len());
        for (got, want) in batch.records.iter().zip(&records) {
            assert_eq!(
                (&got.key, &got.value, got.timestamp),
                (&want.key, &want.value, want.timestamp)
            );
            assert_eq!(got.headers, want.headers);
        }
    }
}
