//! Graceful shutdown: consume until Ctrl-C (or for N seconds), then close: running
//! callbacks finish, their offsets are committed, the member leaves the group.
//!
//! `cargo run -p flame-kafka --example graceful_shutdown -- 127.0.0.1:19092 my-topic [seconds]`
use std::time::Duration;

use flame_kafka::Message;

#[tokio::main]
async fn main() -> Result<(), flame_kafka::Error> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "topic1".into());
    let seconds: Option<u64> = args.next().and_then(|s| s.parse().ok());
    let consumer = flame_kafka::consume(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", "graceful-shutdown-example"),
            ("allow.auto.create.topics", "true"),
        ],
        &[&topic],
    )
    .await?;
    let closer = consumer.clone();
    tokio::spawn(async move {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        println!("shutting down");
        closer.close().await;
    });
    consumer
        .run(|message: Message| async move {
            println!(
                "{}[{}]@{}: {}",
                message.topic, message.partition, message.offset, message
            );
            Ok::<(), std::convert::Infallible>(())
        })
        .await?;
    println!("closed cleanly");
    Ok(())
}
