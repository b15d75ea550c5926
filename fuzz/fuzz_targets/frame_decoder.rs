//! cargo-fuzz target `frame_decoder`: see [`flame_kafka_fuzz::frame_decoder`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flame_kafka_fuzz::frame_decoder(data);
});
