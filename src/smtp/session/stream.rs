//! The connection's byte stream, plain or upgraded to TLS by STARTTLS.
//! Generic over the underlying stream so tests can use an in-memory pipe.

use std::io;
use std::pin::Pin;

use openssl::ssl::{Ssl, SslAcceptor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_openssl::SslStream;

use super::error::SessionError;

/// Plain before STARTTLS, TLS after.
pub(super) enum Stream<S> {
    /// The stream as accepted.
    Plain(S),
    /// After a successful handshake.
    Tls(Box<SslStream<S>>),
    /// Only during a failed upgrade; every operation errors.
    Gone,
}

impl<S> Stream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Read some bytes; 0 at end of stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Gone => Err(gone()),
        }
    }

    /// Write all of `bytes` and flush.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Gone => Err(gone()),
        }
    }

    /// Close our side (TLS close_notify first when in TLS).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::Gone => Ok(()),
        }
    }

    /// Run the server side of the TLS handshake on the plain stream.
    pub async fn accept_tls(&mut self, acceptor: &SslAcceptor) -> Result<(), SessionError> {
        let Stream::Plain(plain) = std::mem::replace(self, Stream::Gone) else {
            return Err(SessionError::Tls("stream is not plain".to_string()));
        };
        let ssl = Ssl::new(acceptor.context()).map_err(|e| SessionError::Tls(e.to_string()))?;
        let mut tls = SslStream::new(ssl, plain).map_err(|e| SessionError::Tls(e.to_string()))?;
        Pin::new(&mut tls)
            .accept()
            .await
            .map_err(|e| SessionError::Tls(e.to_string()))?;
        *self = Stream::Tls(Box::new(tls));
        Ok(())
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream lost in a failed TLS upgrade",
    )
}
