//! Helpers for the DNS tests: a responder on a port of its own, raw UDP and TCP
//! exchanges, hickory-resolver, and the real `dig`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hisp::direct::DirectAddress;
use hisp::dns::server::{self as dns, SharedZones};
use hisp::ops::address::{AddressIssued, NewAddress};
use hisp::server::DnsSockets;
use hisp::store::users::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::harness::Env;

pub const JO: &str = "jo.direct.example.org";

pub async fn add(env: &Env, address: &str, single_use: bool) -> AddressIssued {
    let req = NewAddress {
        address: DirectAddress::parse(address).expect("address"),
        name: Some("Jo Smith".into()),
        role: Role::Provider,
        password: None,
        single_use: Some(single_use),
    };
    env.hisp
        .address_add(req, "test")
        .await
        .expect("add address")
}

/// A responder on 127.0.0.1 with a port of its own; `finish` stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub zones: SharedZones,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start(env: &Env) -> Running {
    let sockets = DnsSockets::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind dns");
    let addr = sockets.local_addr().expect("addr");
    let zones = dns::load_shared(&env.hisp).await.expect("load zones");
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(dns::serve_zones(
        env.hisp.clone(),
        zones.clone(),
        sockets.udp,
        sockets.tcp,
        rx,
    ));
    Running {
        addr,
        zones,
        stop,
        task,
    }
}

impl Running {
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("join").expect("clean shutdown");
    }
}

pub fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::query();
    m.metadata.id = 0x4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// Send raw bytes over UDP; the reply, or None after `wait`.
pub async fn udp_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    sock.send_to(bytes, addr).await.expect("send");
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

pub async fn udp(addr: SocketAddr, m: &Message) -> (Message, usize) {
    let raw = udp_raw(addr, &m.to_vec().expect("encode"), Duration::from_secs(5))
        .await
        .expect("a UDP answer");
    (Message::from_vec(&raw).expect("decode"), raw.len())
}

pub async fn tcp(addr: SocketAddr, m: &Message) -> Message {
    let bytes = m.to_vec().expect("encode");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let len = u16::try_from(bytes.len()).expect("len");
    s.write_all(&len.to_be_bytes()).await.expect("send");
    s.write_all(&bytes).await.expect("send");
    let n = usize::from(s.read_u16().await.expect("length"));
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await.expect("read");
    Message::from_vec(&buf).expect("decode")
}

pub fn certs_of(m: &Message) -> Vec<Vec<u8>> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CERT(c) => Some(c.cert_data.clone()),
            _ => None,
        })
        .collect()
}

pub fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

pub async fn resolver_certs(addr: SocketAddr, name: &str) -> Vec<Vec<u8>> {
    let mut ns = NameServerConfig::udp_and_tcp(IpAddr::from([127, 0, 0, 1]));
    for c in &mut ns.connections {
        c.port = addr.port();
    }
    let config = ResolverConfig::from_name_servers(vec![ns]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().cache_size = 0;
    let resolver = builder.build().expect("resolver");
    let lookup = resolver
        .lookup(format!("{name}."), RecordType::CERT)
        .await
        .expect("CERT lookup");
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::CERT(c) => Some(c.cert_data.clone()),
            _ => None,
        })
        .collect()
}

/// Run the real `dig`; None (with a message) when it is not installed outside CI.
pub async fn dig(addr: SocketAddr, args: &[&str]) -> Option<String> {
    let mut cmd = std::process::Command::new("dig");
    cmd.arg(format!("@{}", addr.ip()))
        .args([
            "-p",
            &addr.port().to_string(),
            "+norecurse",
            "+time=5",
            "+tries=1",
        ])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join");
    match out {
        Ok(o) => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install dig (dnsutils)"
            );
            eprintln!("dig is not installed: skipped the dig assertions");
            None
        }
        Err(e) => panic!("dig: {e}"),
    }
}

/// The DER of every CERT line in dig's answer section (`name ttl IN CERT PKIX 0 0 <base64>`).
pub fn dig_certs(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() > 7 && w[3] == "CERT").then(|| {
                assert_eq!(&w[4..7], ["PKIX", "0", "0"], "{l}");
                openssl::base64::decode_block(&w[7..].concat()).expect("base64")
            })
        })
        .collect()
}

pub fn dig_flags(text: &str) -> String {
    text.lines()
        .find_map(|l| l.split(";; flags: ").nth(1))
        .and_then(|l| l.split(';').next())
        .unwrap_or_default()
        .to_string()
}
