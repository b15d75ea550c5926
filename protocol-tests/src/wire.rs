//! A minimal blocking client built from the codec crate alone: frames a request,
//! writes it, reads the response frame and decodes it. The smoke tests use it to show
//! the codec talking to a real broker with nothing else in between.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use flame_kafka_codec::frame::{decode_response, encode_request, FrameDecoder, RequestMeta};
use flame_kafka_codec::protocol::Request;
use flame_kafka_codec::CodecError;

/// One plaintext connection, one request at a time.
pub struct WireClient {
    stream: TcpStream,
    next_correlation_id: i32,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl WireClient {
    /// Connects to `addr` (`host:port`); panics with the address if it cannot.
    pub fn connect(addr: &str) -> WireClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        WireClient {
            stream,
            next_correlation_id: 1,
            decoder: FrameDecoder::default(),
            buf: BytesMut::new(),
        }
    }

    /// Sends `request` at `version` and returns the decoded response.
    ///
    /// # Errors
    /// A codec error if the response does not decode.
    pub fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, CodecError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut out = BytesMut::new();
        encode_request(
            &mut out,
            RequestMeta {
                correlation_id,
                client_id: "flame-kafka-protocol-tests",
            },
            version,
            request,
        )?;
        self.stream
            .write_all(&out)
            .unwrap_or_else(|e| panic!("write: {e}"));
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return decode_response::<R>(frame, version, correlation_id);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("read: {e}"));
            assert!(n > 0, "broker closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
