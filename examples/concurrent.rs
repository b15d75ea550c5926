//! Concurrent processing: `flame.concurrency` callbacks at once. Commits still never
//! pass a message whose callback has not finished.
//!
//! `cargo run -p flame-kafka --example concurrent -- 127.0.0.1:19092`
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flame_kafka::{Headers, Message};

const COUNT: usize = 200;

#[tokio::main]
async fn main() -> Result<(), flame_kafka::Error> {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = format!("concurrent-{}", std::process::id());
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
            .publish(
                &topic,
                format!("job {i}"),
                Some(format!("{i}").into()),
                Headers::new(),
            )
            .await?;
    }
    producer.flush().await?;

    let consumer = flame_kafka::consume(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", topic.as_str()),
            ("auto.offset.reset", "earliest"),
            ("flame.concurrency", "16"),
        ],
        &[&topic],
    )
    .await?;
    let (done, running, peak) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (closer, finished) = (consumer.clone(), done.clone());
    tokio::spawn(async move {
        while finished.load(Ordering::SeqCst) < COUNT {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        closer.close().await;
    });
    let started = std::time::Instant::now();
    consumer
        .run(move |message: Message| {
            let (done, running, peak) = (done.clone(), running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 + (message.offset % 7) as u64 * 5))
                    .await;
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<(), std::convert::Infallible>(())
            }
        })
        .await?;
    println!(
        "processed {COUNT} jobs of ~35 ms in {:?}",
        started.elapsed()
    );
    Ok(())
}
