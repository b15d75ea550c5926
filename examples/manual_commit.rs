//! Manual commits: auto-commit off, each message committed after it is processed;
//! a second consumer of the same group then finds nothing left to read.
//!
//! `cargo run -p flame-kafka --example manual_commit -- 127.0.0.1:19092`
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flame_kafka::{Consumer, Headers, Message};

const COUNT: usize = 5;

async fn consume_for(consumer: Consumer, seconds: u64) -> Result<usize, flame_kafka::Error> {
    let seen = Arc::new(AtomicUsize::new(0));
    let closer = consumer.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        closer.close().await;
    });
    let (counter, committer) = (seen.clone(), consumer.clone());
    consumer
        .run(move |message: Message| {
            let (counter, committer) = (counter.clone(), committer.clone());
            async move {
                committer.commit(&message).await?; // the position after this message
                println!(
                    "committed {}[{}]@{}",
                    message.topic, message.partition, message.offset
                );
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<(), flame_kafka::Error>(())
            }
        })
        .await?;
    Ok(seen.load(Ordering::SeqCst))
}

#[tokio::main]
async fn main() -> Result<(), flame_kafka::Error> {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = format!("manual-commit-{}", std::process::id());
    let group = format!("{topic}-group");
    let producer = flame_kafka::produce(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("allow.auto.create.topics", "true"),
        ],
        &[&topic],
    )
    .await?;
    for i in 0..COUNT {
        producer
            .publish(&topic, format!("message {i}"), None, Headers::new())
            .await?;
    }
    producer.flush().await?;
    let config = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ];
    let first = consume_for(flame_kafka::consume(config, &[&topic]).await?, 8).await?;
    let second = consume_for(flame_kafka::consume(config, &[&topic]).await?, 4).await?;
    println!("first consumer: {first} messages; second consumer: {second} (all committed)");
    if first != COUNT || second != 0 {
        std::process::exit(1);
    }
    Ok(())
}
