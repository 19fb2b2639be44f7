//! PostgreSQL's wire protocol, as far as the relay reads it: the untyped messages a
//! client opens a connection with (startup, TLS and cancel requests), and the framing of
//! the typed messages that follow (a type byte, then a length that counts itself), so
//! that the relay forwards whole messages and knows when a backend is idle.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The code of a request for TLS (answered `N`: the relay's socket is local).
pub(super) const SSL_REQUEST: u32 = 80_877_103;
/// The code of a request for GSSAPI encryption (answered `N` too).
pub(super) const GSS_REQUEST: u32 = 80_877_104;
/// The code of a cancel request (forwarded to the server as it came).
pub(super) const CANCEL_REQUEST: u32 = 80_877_102;

/// The largest message the relay reads: PostgreSQL's own limit on a field is 1 GB.
const LARGEST: usize = 1 << 30;

/// A typed message, whole: its type byte, its length and its body.
pub(super) struct Message {
    /// The message as it goes on the wire.
    pub(super) bytes: Vec<u8>,
}

impl Message {
    /// The message's type byte (`Z` for ReadyForQuery, `S` for Sync, ...).
    pub(super) fn kind(&self) -> u8 {
        self.bytes[0]
    }

    /// The message's body, after its type and length.
    pub(super) fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }

    /// Whether this is the server's AuthenticationOk.
    pub(super) fn is_authentication_ok(&self) -> bool {
        self.kind() == b'R' && self.body() == [0, 0, 0, 0]
    }
}

/// A stream read message by message, cancel-safely: what was read of a message that is
/// not whole yet stays in the buffer, so a read dropped by a `select!` loses nothing.
pub(super) struct Framed<R> {
    stream: R,
    buffer: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Framed<R> {
    /// Reads `stream`.
    pub(super) fn new(stream: R) -> Framed<R> {
        Framed {
            stream,
            buffer: Vec::with_capacity(8192),
        }
    }

    /// Whether a whole message is buffered already (so a writer may wait before it
    /// flushes).
    pub(super) fn has_message(&self) -> bool {
        matches!(typed_length(&self.buffer), Ok(Some(_)))
    }

    /// The next typed message; `None` at a clean end of the stream, between messages.
    pub(super) async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            if let Some(length) = typed_length(&self.buffer)? {
                let bytes = self.buffer.drain(..length).collect();
                return Ok(Some(Message { bytes }));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next untyped message of a connection's start (a length, then a code): its
    /// code and the whole message. `None` at a clean end of the stream.
    pub(super) async fn next_opening(&mut self) -> io::Result<Option<(u32, Vec<u8>)>> {
        loop {
            if self.buffer.len() >= 8 {
                let total = be_u32(&self.buffer[..4]) as usize;
                // A startup message holds a few parameters: 10 kB is far more than any
                // client sends.
                if !(8..=10_240).contains(&total) {
                    return Err(malformed(
                        "an opening message whose length is out of bounds",
                    ));
                }
                if self.buffer.len() >= total {
                    let code = be_u32(&self.buffer[4..8]);
                    let bytes = self.buffer.drain(..total).collect();
                    return Ok(Some((code, bytes)));
                }
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Reads more of the stream into the buffer; `false` at a clean end (nothing
    /// buffered), an error at an end in the middle of a message.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.stream.read_buf(&mut self.buffer).await? > 0 {
            return Ok(true);
        }
        if self.buffer.is_empty() {
            Ok(false)
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection ended in the middle of a message",
            ))
        }
    }
}

/// The length on the wire of the typed message at the start of `buffer`, if it is all
/// there.
fn typed_length(buffer: &[u8]) -> io::Result<Option<usize>> {
    if buffer.len() < 5 {
        return Ok(None);
    }
    let length = be_u32(&buffer[1..5]) as usize;
    if !(4..=LARGEST).contains(&length) {
        return Err(malformed("a message whose length is out of bounds"));
    }
    Ok((buffer.len() > length).then_some(1 + length))
}

/// A big-endian `u32` from four bytes.
fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A typed message of `kind` with `body`.
pub(super) fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + body.len());
    bytes.push(kind);
    bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A simple-query message for `sql`.
pub(super) fn query(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(b'Q', &body)
}

/// The error of bytes that are not PostgreSQL's protocol.
fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not PostgreSQL's protocol: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_read_whole_and_the_end_between_them_is_clean() {
        let mut wire = query("SELECT 1");
        wire.extend(message(b'S', &[]));
        let mut reader = Framed::new(wire.as_slice());
        let first = reader.next().await.unwrap().unwrap();
        assert_eq!(first.kind(), b'Q');
        assert_eq!(first.body(), b"SELECT 1\0");
        assert!(reader.has_message());
        let second = reader.next().await.unwrap().unwrap();
        assert_eq!((second.kind(), second.body().len()), (b'S', 0));
        assert!(!reader.has_message());
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_message_cut_short_or_too_long_is_an_error() {
        let wire = query("SELECT 1");
        let mut cut = Framed::new(&wire[..wire.len() - 2]);
        assert!(cut.next().await.is_err());
        let mut huge = Framed::new(&[b'D', 0xff, 0xff, 0xff, 0xff][..]);
        let error = huge.next().await.err().unwrap();
        assert!(error.to_string().contains("out of bounds"), "{error}");
    }

    #[tokio::test]
    async fn an_opening_gives_its_code() {
        let mut startup = 0u32.to_be_bytes().to_vec();
        startup.extend(196_608u32.to_be_bytes());
        startup.extend(b"user\0root\0\0");
        let length = startup.len() as u32;
        startup[..4].copy_from_slice(&length.to_be_bytes());
        let mut reader = Framed::new(startup.as_slice());
        let (code, bytes) = reader.next_opening().await.unwrap().unwrap();
        assert_eq!((code, bytes), (196_608, startup));
        let authentication_ok = Message {
            bytes: message(b'R', &[0, 0, 0, 0]),
        };
        assert!(authentication_ok.is_authentication_ok());
    }
}
