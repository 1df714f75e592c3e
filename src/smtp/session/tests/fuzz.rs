//! Fuzz-style robustness: thousands of deterministic pseudo-random inputs,
//! mixing raw bytes with SMTP fragments so deep states are reached. The
//! session must never panic and must always greet first.

use std::net::SocketAddr;

use super::super::backend::SessionInfo;
use super::super::config::Mode;
use super::super::input::Input;
use super::super::state::{Next, Session};
use super::super::testing::{MemoryBackend, fuzz_one, session_transcript, test_config};

/// Fragments that steer the session into its interesting states.
const FRAGMENTS: &[&[u8]] = &[
    b"EHLO x.test\r\n",
    b"HELO x\r\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SIZE=99999999999999999999999 BODY=8BITMIME\r\n",
    b"MAIL FROM:<a@b.example> ENVID=a+2B+ RET=FULL AUTH=<>\r\n",
    b"RCPT TO:<b@direct.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40y\r\n",
    b"RCPT TO:<Postmaster>\r\n",
    b"DATA\r\n",
    b".\r\n",
    b"..\r\n",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\r\n",
    b"\n",
    b"\r",
    b".",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN YWxpY2U=\r\n",
    b"AGFsaWNlAHNlY3JldA==\r\n",
    b"*\r\n",
    b"STARTTLS\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"BDAT 5 LAST\r\n",
    b"\0\xff\xfe",
];

/// A prefix that opens a transaction (in MX mode) and enters DATA.
const TRANSACTION: &[u8] =
    b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<b@direct.example>\r\nDATA\r\n";

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn input(rng: &mut XorShift) -> Vec<u8> {
    let mut data = vec![rng.next() as u8];
    if rng.below(2) == 0 {
        data.extend_from_slice(TRANSACTION);
    }
    for _ in 0..rng.below(24) {
        match rng.below(4) {
            0 => data.extend((0..rng.below(48)).map(|_| rng.next() as u8)),
            1 => data.extend(std::iter::repeat_n(b'x', rng.below(1200))),
            _ => data.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]),
        }
    }
    data
}

#[tokio::test]
async fn random_inputs_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut in_data, mut queued) = (0, 0);
    for _ in 0..3000 {
        let data = input(&mut rng);
        let out = session_transcript(&data).await;
        assert!(out.starts_with(b"220 mx.test ESMTP hisp\r\n"), "{data:?}");
        assert!(out.ends_with(b"\r\n"), "{data:?}");
        in_data += usize::from(contains(&out, b"\r\n354 "));
        queued += usize::from(contains(&out, b"queued as"));
    }
    // The generator must actually reach the deep states.
    assert!(
        in_data > 500 && queued > 100,
        "in_data={in_data} queued={queued}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// AUTH is only reachable inside TLS, so drive the sans-I/O session
/// directly as if TLS were up, in Submission mode, in small chunks.
async fn drive_as_if_tls(data: &[u8]) -> usize {
    let config = test_config(Mode::Submission);
    let backend = MemoryBackend::default();
    let info = SessionInfo {
        peer: SocketAddr::from(([192, 0, 2, 9], 587)),
        helo: String::new(),
        tls: true,
        user: None,
    };
    let mut session = Session::new(&config, &backend, info);
    let mut input = Input::default();
    for chunk in data.chunks(7) {
        input.extend(chunk);
        while let Some(next) = session.ingest(&mut input).await {
            if !matches!(next, Next::Continue) {
                return backend.messages().len();
            }
        }
    }
    backend.messages().len()
}

#[tokio::test]
async fn random_inputs_with_auth_never_panic() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut queued = 0;
    for _ in 0..3000 {
        let mut data = b"EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n".to_vec();
        if rng.below(3) == 0 {
            data.clear();
        }
        data.extend(input(&mut rng));
        queued += drive_as_if_tls(&data).await;
    }
    assert!(queued > 50, "queued={queued}");
}

#[test]
fn fuzz_entry_point_runs_its_own_runtime() {
    fuzz_one(b"");
    fuzz_one(b"\x01EHLO x\r\nAUTH PLAIN\r\n*\r\nQUIT\r\n");
    fuzz_one(b"\x00EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@direct.example>\r\nDATA\r\nx\r\n.\r\n");
}
