use super::*;

fn consumer(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut all = vec![("bootstrap.servers", "127.0.0.1:9092"), ("group.id", "g")];
    all.extend_from_slice(pairs);
    Config::parse(all, Role::Consumer)
}

fn producer(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut all = vec![("bootstrap.servers", "127.0.0.1:9092")];
    all.extend_from_slice(pairs);
    Config::parse(all, Role::Producer)
}

#[test]
fn defaults_and_aliases() {
    let c = producer(&[
        ("queue.buffering.max.ms", "20"),
        ("compression.codec", "LZ4"),
    ])
    .unwrap();
    assert_eq!(c.int("linger.ms"), 20);
    assert_eq!(c.str("compression.type"), Some("lz4"));
    assert_eq!(c.str("acks"), Some("all"));
    assert!(c.bool("enable.idempotence"));
    assert!(!c.is_set("acks"));
    let c = Config::parse(
        [("metadata.broker.list", "h:1"), ("group.id", "g")],
        Role::Consumer,
    )
    .unwrap();
    assert_eq!(c.str("bootstrap.servers"), Some("h:1"));
}

#[test]
fn unknown_key_is_named_with_a_hint() {
    let err = producer(&[("linger.msx", "5")]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownKey {
            key: "linger.msx".into(),
            hint: Some("linger.ms")
        }
    );
    assert!(err.to_string().contains("`linger.msx`"), "{err}");
    assert!(
        err.to_string().contains("did you mean `linger.ms`"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_key_and_what_is_accepted() {
    let cases: &[(&str, &str, &str)] = &[
        ("linger.ms", "soon", "an integer from 0 to 900000"),
        ("linger.ms", "-1", "an integer from 0 to 900000"),
        (
            "compression.type",
            "brotli",
            "one of none, gzip, snappy, lz4, zstd",
        ),
        ("enable.idempotence", "maybe", "true or false"),
        ("acks", "2", "one of all, -1, 0, 1"),
    ];
    for (key, value, expected) in cases {
        let err = producer(&[(key, value)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("`{key}`")), "{text}");
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn list_values_are_checked_item_by_item() {
    let c = consumer(&[("partition.assignment.strategy", "cooperative-sticky, range")]).unwrap();
    assert_eq!(
        c.str("partition.assignment.strategy"),
        Some("cooperative-sticky,range")
    );
    let err = consumer(&[("partition.assignment.strategy", "range,sticky")]).unwrap_err();
    assert!(err.to_string().contains("`partition.assignment.strategy`"));
}

#[test]
fn wrong_role_is_an_error() {
    let err = consumer(&[("linger.ms", "5")]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::WrongRole {
            key: "linger.ms",
            role: "producer",
            used_as: "consumer"
        }
    );
    let err = producer(&[("group.id", "g")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("`group.id` is a consumer property"),
        "{err}"
    );
}

#[test]
fn required_keys() {
    let err = Config::parse([("group.id", "g")], Role::Consumer).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Missing {
            key: "bootstrap.servers",
            alias: "metadata.broker.list"
        }
    );
    assert!(err.to_string().contains("metadata.broker.list"));
    let err = Config::parse([("bootstrap.servers", "h:1")], Role::Consumer).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Missing {
            key: "group.id",
            alias: ""
        }
    );
}

#[test]
fn duplicates_and_unsupported() {
    let err = producer(&[("linger.ms", "1"), ("queue.buffering.max.ms", "2")]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Duplicate {
                key: "linger.ms",
                ..
            }
        ),
        "{err}"
    );
    let err = producer(&[("transactional.id", "t")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("`transactional.id` is not supported"),
        "{err}"
    );
}

#[test]
fn ignored_keys_are_accepted() {
    let c = producer(&[("debug", "all"), ("socket.keepalive.enable", "true")]).unwrap();
    assert!(!c.is_set("debug"));
}

#[test]
fn secrets_never_show() {
    let err = producer(&[("sasl.password", "hunter2"), ("sasl.password", "hunter3")]).unwrap_err();
    assert!(!format!("{err:?} {err}").contains("hunter"));
    let c = producer(&[
        ("sasl.password", "hunter2"),
        ("ssl.key.pem", "-----BEGIN PRIVATE KEY-----abc"),
    ])
    .unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("PRIVATE"),
        "{debug}"
    );
    assert_eq!(c.str("sasl.password"), Some("hunter2"));
}

#[test]
fn every_default_is_valid_for_its_own_property() {
    for p in table::PROPERTIES {
        if let Some(default) = p.default {
            assert!(validate(p, default).is_ok(), "{}", p.name);
        }
    }
}

#[test]
fn committed_reference_page_is_current() {
    let committed = include_str!("../../../../docs/CONFIGURATION.md");
    assert_eq!(
        committed,
        reference_markdown(),
        "regenerate docs/CONFIGURATION.md"
    );
}

/// Keys that once fell through the cracks between the table and the lower crates.
#[test]
fn sticky_linger_and_client_rack_reach_the_lower_crates() {
    let p = crate::settings::producer(&producer(&[]).unwrap()).unwrap();
    assert_eq!(p.sticky_partitioning_linger, Duration::from_millis(10));
    let p =
        crate::settings::producer(&producer(&[("sticky.partitioning.linger.ms", "0")]).unwrap())
            .unwrap();
    assert_eq!(p.sticky_partitioning_linger, Duration::ZERO);

    let c = crate::settings::consumer(&consumer(&[]).unwrap()).unwrap();
    assert_eq!(c.client_rack, None);
    let c = crate::settings::consumer(
        &consumer(&[("client.rack", "r2"), ("metadata.max.age.ms", "60000")]).unwrap(),
    )
    .unwrap();
    assert_eq!(c.client_rack.as_deref(), Some("r2"));
    assert_eq!(c.read_replica_ttl, Duration::from_secs(60));
    assert!(matches!(
        producer(&[("client.rack", "r1")]),
        Err(ConfigError::WrongRole { .. })
    ));
}
