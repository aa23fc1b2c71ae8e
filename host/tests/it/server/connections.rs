//! How connections end: a request answered before its body was read (413,
//! 401, 415) still reaches a client (or a reverse proxy) that goes on
//! sending the body, rather than being lost to a connection reset.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Scratch;

/// Sends a `POST /runs` announcing `length` bytes of body, sends them all
/// (as a proxy relaying an upload does, whatever the server answered
/// meanwhile), then reads the answer.
fn upload(addr: &str, length: usize, headers: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {length}\r\n{headers}\r\n"
    )?;
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < length {
        let n = chunk.len().min(length - sent);
        stream.write_all(&chunk[..n])?;
        sent += n;
        if sent == n {
            // The server has answered and closed its side by now.
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn a_413_reaches_a_client_that_goes_on_sending_the_body() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_BODY_LIMIT_BYTES", "1000000")]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    for _ in 0..3 {
        let answer = upload(&addr, 8_000_000, "").expect("the upload and its answer");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    // Refused before the body for another reason: the same.
    let answer = upload(&addr, 900_000, "Content-Encoding: gzip\r\n").expect("answer");
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
}
