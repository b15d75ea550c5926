//! cargo-fuzz target `response_decode`: see [`flame_kafka_fuzz::response_decode`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flame_kafka_fuzz::response_decode(data);
});
