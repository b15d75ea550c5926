//! TLS and SASL: the librdkafka keys for a SASL_SSL listener with SCRAM-SHA-512 and
//! a private CA. The values come from the environment the test harness prints
//! (`bash protocol-tests/harness/kafka.sh env`).
//!
//! `cargo run -p flame-kafka --example tls_sasl`
use flame_kafka::Headers;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), flame_kafka::Error> {
    let bootstrap = env("FLAME_KAFKA_SASL_SSL_BOOTSTRAP", "localhost:9095");
    let ca = env("FLAME_KAFKA_CA", "ca.pem");
    let user = env("FLAME_KAFKA_SASL_USER", "alice");
    let password = env("FLAME_KAFKA_SASL_PASSWORD", "alice-secret");
    let topic = format!("tls-sasl-{}", std::process::id());
    let config = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", user.as_str()),
        ("sasl.password", password.as_str()),
        ("ssl.ca.location", ca.as_str()),
        ("allow.auto.create.topics", "true"),
    ];
    let producer = flame_kafka::produce(config, &[&topic]).await?;
    let ack = producer
        .publish(&topic, "over TLS, authenticated", None, Headers::new())
        .await?
        .await?;
    println!(
        "delivered over SASL_SSL to {topic}[{}]@{}",
        ack.partition, ack.offset
    );
    Ok(())
}
