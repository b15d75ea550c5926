//! cargo-fuzz target `record_batch_decode`: see [`flame_kafka_fuzz::record_batch_decode`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flame_kafka_fuzz::record_batch_decode(data);
});
