//! stub
/// stub
pub enum Compression { /// none
None }
