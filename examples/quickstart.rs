//! Quickstart: publish a few messages through the flame API, then consume them back
//! in a consumer group and close the consumer from another task.
//!
//! `cargo run -p flame-kafka --example quickstart -- 127.0.0.1:19092`
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flame_kafka::{Headers, Message};

const COUNT: usize = 10;
/// COUNT keyed messages plus one built with `Message::new`.
const TOTAL: usize = COUNT + 1;

#[tokio::main]
async fn main() -> Result<(), flame_kafka::Error> {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = format!("quickstart-{}", std::process::id());

    let producer = flame_kafka::produce(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("allow.auto.create.topics", "true"),
        ],
        &[&topic],
    )
    .await?;
    for i in 0..COUNT {
        let mut headers = Headers::new();
        headers.insert("A", format!("header-{i}"));
        producer
            .publish(
                &topic,
                format!("payload {i}"),
                Some(format!("key-{}", i % 3).into()),
                headers,
            )
            .await?;
    }
    let mut message = Message::new("another payload", Some("the key".into()));
    message.headers.insert("aaaaaaa", "bbbbbbbb");
    let ack = producer.publish_message(&topic, message).await?.await?;
    producer.flush().await?;
    println!(
        "published {} messages; the last went to partition {} at offset {}",
        TOTAL, ack.partition, ack.offset
    );

    let consumer = flame_kafka::consume(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", "quickstart"),
            ("auto.offset.reset", "earliest"),
        ],
        &[&topic],
    )
    .await?;
    let seen = Arc::new(AtomicUsize::new(0));
    let closer = consumer.clone();
    let counter = seen.clone();
    // Stop after every message arrived (or after 60 s), from another task.
    tokio::spawn(async move {
        for _ in 0..600 {
            if counter.load(Ordering::SeqCst) >= TOTAL {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closer.close().await;
    });
    let counter = seen.clone();
    consumer
        .run(move |message: Message| {
            let counter = counter.clone();
            async move {
                println!(
                    "{}[{}]@{} key={:?} A={:?}: {}",
                    message.topic,
                    message.partition,
                    message.offset,
                    String::from_utf8_lossy(message.key_bytes()),
                    message.headers.get_str("A"),
                    message
                );
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<(), std::convert::Infallible>(())
            }
        })
        .await?;
    let consumed = seen.load(Ordering::SeqCst);
    println!("consumed {consumed} messages");
    if consumed != TOTAL {
        eprintln!("expected {} messages", TOTAL);
        std::process::exit(1);
    }
    Ok(())
}
