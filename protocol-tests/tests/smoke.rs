//! Smoke test of the harness through the codec crate alone: ApiVersions and Metadata
//! against every listener of the single broker and every node of the cluster.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use flame_kafka_codec::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, SaslHandshakeRequest,
};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::NegotiatedVersions;
use flame_kafka_protocol_tests::wire::WireClient;
use flame_kafka_protocol_tests::{bootstrap, cluster_bootstrap, env};

fn api_versions(addr: &str) -> NegotiatedVersions {
    let mut client = WireClient::connect(addr);
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("flame-kafka"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"));
    let response = client.call(3, &request).expect("ApiVersions decodes");
    assert_eq!(response.error_code, 0, "{addr}");
    let produce = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("Produce is listed");
    assert!(produce.max_version >= 12, "{addr}: Produce {produce:?}");
    NegotiatedVersions::from_broker(&response)
}

/// Returns (node id, port) of every broker the metadata lists.
fn brokers(addr: &str) -> Vec<(i32, i32)> {
    let versions = api_versions(addr);
    let version = versions
        .version::<MetadataRequest>()
        .expect("a common Metadata version");
    assert_eq!(version, 12, "Kafka 4 speaks Metadata v12");
    let mut client = WireClient::connect(addr);
    let response = client
        .call(
            version,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .expect("Metadata decodes");
    let mut brokers: Vec<(i32, i32)> = response
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.port))
        .collect();
    brokers.sort();
    brokers
}

#[test]
fn single_broker_plaintext_listener_answers() {
    let addr = bootstrap();
    let port: i32 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let brokers = brokers(&addr);
    assert_eq!(brokers.len(), 1, "{brokers:?}");
    assert_eq!(brokers[0].1, port);
}

#[test]
fn sasl_listener_offers_plain_and_scram() {
    let addr = env("FLAME_KAFKA_SASL_BOOTSTRAP");
    api_versions(&addr);
    let mut client = WireClient::connect(&addr);
    let response = client
        .call(
            1,
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str("SCRAM-SHA-512")),
        )
        .expect("SaslHandshake decodes");
    assert_eq!(response.error_code, 0);
    let mut mechanisms: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
    mechanisms.sort();
    assert_eq!(mechanisms, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
}

#[test]
fn every_cluster_node_lists_all_three() {
    let nodes = cluster_bootstrap();
    let ports: Vec<i32> = nodes
        .split(',')
        .map(|a| a.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<(i32, i32)> = (1..=3).zip(ports).collect();
    for addr in nodes.split(',') {
        assert_eq!(brokers(addr), expected, "metadata from {addr}");
    }
}
