//! Writes docs/CONFIGURATION.md from the configuration table.
fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIGURATION.md");
    std::fs::write(path, flame_kafka::config::reference_markdown())
}
