//! stub
/// stub
pub struct Header;
/// stub
pub struct Record;
/// stub
pub struct RecordBatch;
