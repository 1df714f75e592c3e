//! The MLLP listener: frames (0x0B … 0x1C 0x0D) in, one ACK out per frame.
//! Per message: a registered sending facility (else AR), an ADT message type
//! (else AR), parseable (else AE); a message already received (same MSH-3,
//! MSH-4, MSH-10) gets the ACK it got the first time and is not processed
//! again; otherwise it is committed to the store and only then acknowledged.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Notifier;
use super::adt;
use crate::hl7::{self, AckCode, AckError, ErrorCode, Framer, Header};
use crate::ops::OpsError;
use crate::store::StoreError;
use crate::store::notify::{self, AdtKey};

/// Accept connections until `stop` flips; each connection runs to its end.
pub async fn serve(n: Notifier, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let n = n.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(&n, stream, peer).await {
                        tracing::info!(%peer, error = %e, "MLLP connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Read frames and answer each with its ACK, in order.
pub async fn connection<S>(n: &Notifier, mut stream: S, peer: SocketAddr) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framer = Framer::new(n.gw.hisp.config.notify.max_frame.max(1024));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let got = match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => {
                tracing::info!(%peer, "MLLP connection idle too long: closed");
                return Ok(());
            }
        };
        if got == 0 {
            return Ok(());
        }
        framer.push(buf.get(..got).unwrap_or(&[]));
        while let Some(frame) = framer.next_frame() {
            match frame {
                Ok(bytes) => {
                    let ack = n.receive(&bytes).await;
                    stream.write_all(&hl7::frame(ack.as_bytes())).await?;
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "MLLP framing problem");
                    if let Some(nack) = n.frame_error(&e) {
                        stream.write_all(&hl7::frame(nack.as_bytes())).await?;
                    }
                }
            }
        }
        stream.flush().await?;
    }
}

/// A connection that sends nothing for this long is closed.
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

fn ack(header: &Header, code: AckCode, error: Option<AckError>, now: i64) -> String {
    let control = format!("ACK{}", header.control_id);
    hl7::build_ack(header, code, error.as_ref(), &control, now)
}

fn err(code: ErrorCode, message: &str) -> Option<AckError> {
    Some(AckError {
        code,
        message: message.to_string(),
        location: None,
    })
}

impl Notifier {
    /// The answer to a frame that could not be taken whole (too large): an AR,
    /// so a sender waiting for every ACK does not wait forever. Skipped
    /// garbage between frames gets no answer.
    fn frame_error(&self, e: &hl7::FrameError) -> Option<String> {
        let hl7::FrameError::TooLarge { .. } = e else {
            return None;
        };
        let why = format!(
            "the message is larger than {} bytes",
            self.gw.hisp.config.notify.max_frame
        );
        Some(ack(
            &Header::default(),
            AckCode::AR,
            err(ErrorCode::ApplicationInternalError, &why),
            self.gw.hisp.now(),
        ))
    }

    /// The ACK for one received frame (committing it first when it is new).
    pub async fn receive(&self, bytes: &[u8]) -> String {
        let now = self.gw.hisp.now();
        let msg = match hl7::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "unparseable HL7 message");
                return ack(
                    &Header::default(),
                    AckCode::AE,
                    err(ErrorCode::SegmentSequence, &e.to_string()),
                    now,
                );
            }
        };
        let header = msg.header();
        if !adt::supported(&header.message_type) {
            let why = format!(
                "message type {} is not accepted here (ADT only)",
                header.message_type
            );
            return ack(
                &header,
                AckCode::AR,
                err(ErrorCode::UnsupportedMessageType, &why),
                now,
            );
        }
        if header.control_id.trim().is_empty()
            || header.sending_facility.namespace_id.trim().is_empty()
        {
            // The dedup key needs both: without them every later message would
            // look like a retry of this one.
            let why = "MSH-4 (sending facility) and MSH-10 (message control id) are required";
            return ack(
                &header,
                AckCode::AR,
                err(ErrorCode::RequiredFieldMissing, why),
                now,
            );
        }
        match self.commit(&header, bytes, now).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "cannot commit an ADT message");
                ack(
                    &header,
                    AckCode::AE,
                    err(
                        ErrorCode::ApplicationInternalError,
                        "temporary failure; send again",
                    ),
                    now,
                )
            }
        }
    }

    async fn commit(&self, header: &Header, bytes: &[u8], now: i64) -> Result<String, OpsError> {
        let key = AdtKey {
            app: &header.sending_app.namespace_id,
            facility: &header.sending_facility.namespace_id,
            control_id: &header.control_id,
        };
        let mut conn = self.gw.hisp.conn().await?;
        if let Some(stored) = notify::stored_ack(&mut conn, &key).await? {
            tracing::info!(control_id = %key.control_id, "duplicate ADT message: stored ACK returned");
            return Ok(stored);
        }
        if notify::find_feed(&mut conn, key.facility).await?.is_none() {
            let why = format!(
                "sending facility '{}' is not a registered feed",
                key.facility
            );
            tracing::warn!(facility = %key.facility, "ADT from an unregistered facility refused");
            return Ok(ack(
                header,
                AckCode::AR,
                err(ErrorCode::UnknownKeyIdentifier, &why),
                now,
            ));
        }
        let reply = ack(header, AckCode::AA, None, now);
        match notify::insert_adt(
            &mut conn,
            self.gw.hisp.store.sealer(),
            &key,
            &reply,
            Some(bytes),
            now,
        )
        .await
        {
            Ok(_) => {
                self.ready.notify_one();
                Ok(reply)
            }
            Err(StoreError::Duplicate(_)) => {
                Ok(notify::stored_ack(&mut conn, &key).await?.unwrap_or(reply))
            }
            Err(e) => Err(e.into()),
        }
    }
}
