//! `ferry-probe [URL]`: container health check without curl in the image.
//! Exits 0 when `URL` (default: `FERRY_PROBE_URL`, else the local broker's
//! and then the local controller's `/readyz`) answers 2xx.
//! `ferry-probe init-secret PATH` makes a cluster secret (see [`secret`]).

mod secret;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("init-secret") {
        if let Err(e) = secret::init(&args[2..]) {
            eprintln!("init-secret: {e}");
            std::process::exit(1);
        }
        return;
    }
    let urls: Vec<String> = match std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FERRY_PROBE_URL").ok())
    {
        Some(u) => vec![u],
        None => vec![
            "http://127.0.0.1:7201/readyz".into(),
            "http://127.0.0.1:7101/readyz".into(),
        ],
    };
    for url in &urls {
        match probe(url) {
            Ok(true) => std::process::exit(0),
            Ok(false) => eprintln!("{url}: not ready"),
            Err(e) => eprintln!("{url}: {e}"),
        }
    }
    std::process::exit(1);
}

/// GET over plain HTTP/1.0; true on a 2xx status.
fn probe(url: &str) -> std::io::Result<bool> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs"))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.") && head[9] == b'2')
}
