//! Unit tests of the guard's interpreter on hand-made bytes; the differential tests
//! against kafka-protocol's encoder live in `tests/guard_roundtrip.rs`.

use super::*;
use crate::versions::CLIENT_VERSIONS;

fn reason(result: Result<usize, CodecError>) -> String {
    match result {
        Err(CodecError::MalformedResponse { reason, .. }) => reason,
        other => panic!("expected MalformedResponse, got {other:?}"),
    }
}

#[test]
fn schemas_cover_exactly_the_client_versions() {
    assert_eq!(responses::SCHEMAS.len(), CLIENT_VERSIONS.len());
    for &(api, min, max) in CLIENT_VERSIONS {
        for version in min..=max {
            assert!(schema_for(api, version).is_some(), "{api:?} v{version}");
        }
        for version in [min - 1, max + 1] {
            let err = reason(response_body_len(api, version, &[0; 64]));
            assert!(err.contains("no schema"), "{api:?} v{version}: {err}");
        }
    }
}

#[test]
fn huge_array_count_is_refused_before_anything_is_walked() {
    // Metadata v1: brokers count i32::MAX, then four stray bytes.
    let body = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    let err = reason(response_body_len(ApiKey::Metadata, 1, &body));
    assert!(
        err.starts_with("MetadataResponse.brokers: array of 2147483647"),
        "{err}"
    );
}

#[test]
fn compact_lengths_are_checked() {
    // Metadata v12: throttle, then a brokers count of u32::MAX - 1.
    let body = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let err = reason(response_body_len(ApiKey::Metadata, 12, &body));
    assert!(err.contains("array of 4294967294 elements"), "{err}");
}

#[test]
fn array_elements_need_their_minimum_size() {
    // Heartbeat has no array; use SaslHandshake v0: two strings need 4 bytes.
    let ok = [0, 0, 0, 0, 0, 2, 0, 0, 0, 0];
    assert_eq!(response_body_len(ApiKey::SaslHandshake, 0, &ok), Ok(10));
    let short = [0, 0, 0, 0, 0, 2, 0, 0, 0];
    let err = reason(response_body_len(ApiKey::SaslHandshake, 0, &short));
    assert!(err.contains("at least 2 bytes each"), "{err}");
}

#[test]
fn paths_name_the_offending_element() {
    // SaslHandshake v1: mechanisms ["a", <length 9 with 1 byte left>].
    let body = [0, 0, 0, 0, 0, 2, 0, 1, b'a', 0, 9, b'x'];
    let err = reason(response_body_len(ApiKey::SaslHandshake, 1, &body));
    assert_eq!(
        err,
        "SaslHandshakeResponse.mechanisms[1]: string of 9 bytes exceeds the 1 bytes left"
    );
}

#[test]
fn negative_lengths_other_than_null_are_refused() {
    let body = [0, 0, 0xff, 0xff, 0xff, 0xfe];
    let err = reason(response_body_len(ApiKey::SaslHandshake, 0, &body));
    assert!(err.contains("negative array length -2"), "{err}");
    // -1 is a null array: accepted here, refused by decode (mechanisms is not nullable).
    let null = [0, 0, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(response_body_len(ApiKey::SaslHandshake, 0, &null), Ok(6));
}

#[test]
fn overlong_varints_are_refused() {
    // Heartbeat v4: throttle, error, then a tagged-field count that overflows u32.
    let body = [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x1f];
    let err = reason(response_body_len(ApiKey::Heartbeat, 4, &body));
    assert!(err.contains("varint overflows"), "{err}");
}

#[test]
fn unknown_tagged_fields_are_skipped_by_size() {
    let body = [0, 0, 0, 0, 0, 0, 2, 7, 1, 0xaa, 9, 0];
    assert_eq!(
        response_body_len(ApiKey::Heartbeat, 4, &body),
        Ok(body.len())
    );
    let huge = [0, 0, 0, 0, 0, 0, 1, 7, 0xff, 0xff, 0x03];
    let err = reason(response_body_len(ApiKey::Heartbeat, 4, &huge));
    assert!(
        err.contains("HeartbeatResponse.<tag 7>: tagged field of 65535"),
        "{err}"
    );
    let many = [0, 0, 0, 0, 0, 0, 0x7f, 0];
    let err = reason(response_body_len(ApiKey::Heartbeat, 4, &many));
    assert!(err.contains("127 tagged fields"), "{err}");
}

#[test]
fn known_tagged_fields_are_walked_and_must_fill_their_size() {
    // ApiVersions v3: no api keys, throttle, then tag 0 (supported_features).
    let head = [0, 0, 1, 0, 0, 0, 0, 1, 0];
    // supported_features with a count of u32::MAX - 1 inside a 5-byte field.
    let mut huge = head.to_vec();
    huge.extend([5, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    let err = reason(response_body_len(ApiKey::ApiVersions, 3, &huge));
    assert!(
        err.starts_with("ApiVersionsResponse.supported_features: array of 4294967294"),
        "{err}"
    );
    // An empty array (1 byte) in a field that says it has 2 bytes.
    let mut loose = head.to_vec();
    loose.extend([2, 1, 0]);
    let err = reason(response_body_len(ApiKey::ApiVersions, 3, &loose));
    assert!(
        err.contains("declares 2 bytes but its value takes 1"),
        "{err}"
    );
    let mut exact = head.to_vec();
    exact.extend([1, 1]);
    assert_eq!(
        response_body_len(ApiKey::ApiVersions, 3, &exact),
        Ok(exact.len())
    );
}

#[test]
fn nullable_struct_markers() {
    // ConsumerGroupHeartbeat v0: throttle, error, null message, member "", epoch,
    // interval, then the assignment marker.
    let head = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
    for (marker, expected) in [(0xffu8, true), (1, false), (2, false)] {
        let mut body = head.to_vec();
        body.extend([marker, 0]);
        let result = response_body_len(ApiKey::ConsumerGroupHeartbeat, 0, &body);
        assert_eq!(result.is_ok(), expected, "marker {marker}: {result:?}");
    }
    let mut present = head.to_vec();
    present.extend([1, 1, 0, 0]); // empty topic_partitions, two tag sections
    assert_eq!(
        response_body_len(ApiKey::ConsumerGroupHeartbeat, 0, &present),
        Ok(present.len())
    );
}

#[test]
fn trailing_bytes_are_allowed_and_measured() {
    let body = [0, 0, 0, 0, 0, 0, 0xde, 0xad];
    assert_eq!(response_body_len(ApiKey::Heartbeat, 1, &body), Ok(6));
    assert_eq!(check_response(ApiKey::Heartbeat, 1, &body), Ok(()));
}

#[test]
fn header_checks() {
    assert!(matches!(
        check_response_header(&[0, 0, 1], 0),
        Err(CodecError::Truncated { needed: 1, .. })
    ));
    assert_eq!(check_response_header(&[0, 0, 0, 1], 0), Ok(()));
    assert!(
        check_response_header(&[0, 0, 0, 1], 1).is_err(),
        "v1 needs its tags"
    );
    assert_eq!(check_response_header(&[0, 0, 0, 1, 0], 1), Ok(()));
    assert_eq!(check_response_header(&[0, 0, 0, 1, 1, 3, 1, 9], 1), Ok(()));
    assert!(matches!(
        check_response_header(&[0, 0, 0, 1, 1, 3, 0x10, 9], 1),
        Err(CodecError::Truncated { needed: 15, .. })
    ));
}

#[test]
fn length_prefixes_are_listed_in_order() {
    let body = [0, 0, 0, 0, 0, 2, 0, 1, b'a', 0, 0];
    let prefixes = length_prefixes(ApiKey::SaslHandshake, 0, &body).unwrap();
    let offsets: Vec<usize> = prefixes.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, [2, 6, 9]);
    assert_eq!(prefixes[0].encoding, LengthEncoding::Int32);
    assert_eq!(prefixes[1].encoding, LengthEncoding::Int16);
}

#[test]
fn api_versions_v0_fallback_is_recognised() {
    // error 35, one api key (18, 0..=3).
    let v0 = [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3];
    assert!(is_api_versions_v0_fallback(3, &v0));
    assert!(!is_api_versions_v0_fallback(0, &v0));
    let err = reason(response_body_len(ApiKey::ApiVersions, 3, &v0));
    assert!(err.contains("UNSUPPORTED_VERSION"), "{err}");
}
