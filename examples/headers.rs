//! Headers: repeated names, null values and binary values travel as published.
//!
//! `cargo run -p flame-kafka --example headers -- 127.0.0.1:19092`
use std::time::Duration;

use flame_kafka::{Headers, Message};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = format!("headers-{}", std::process::id());
    let producer = flame_kafka::produce(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("allow.auto.create.topics", "true"),
        ],
        &[&topic],
    )
    .await?;
    let mut headers = Headers::new();
    headers
        .insert("trace-id", "abc123")
        .insert("tag", "red")
        .insert("tag", "blue");
    headers
        .insert_null("empty")
        .insert("binary", vec![0u8, 159, 146, 150]);
    producer
        .publish(&topic, "with headers", Some("k".into()), headers.clone())
        .await?
        .await?;

    let consumer = flame_kafka::consume(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", topic.as_str()),
            ("auto.offset.reset", "earliest"),
        ],
        &[&topic],
    )
    .await?;
    let (tx, mut rx) = mpsc::channel::<Message>(1);
    let runner = consumer.clone();
    let run = tokio::spawn(async move {
        runner
            .run(move |message: Message| {
                let tx = tx.clone();
                async move { tx.send(message).await.map_err(|e| e.to_string()) }
            })
            .await
    });
    let received = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await?
        .ok_or("no message")?;
    consumer.close().await;
    run.await??;
    for (name, value) in received.headers.iter() {
        println!(
            "{name} = {:?}",
            value.map(|v| String::from_utf8_lossy(v).into_owned())
        );
    }
    if received.headers != headers {
        return Err("headers differ from what was published".into());
    }
    println!("headers arrived exactly as published");
    Ok(())
}
