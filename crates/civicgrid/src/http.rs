//! Enough HTTP/1.1 for the benchmarks and the simulator to drive our own
//! server over keep-alive connections, as many clients at once would.

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection, as a client app holds one: enough
/// HTTP for JSON requests to our own server (bodies with a Content-Length).
pub struct Conn {
    addr: String,
    stream: BufReader<TcpStream>,
}

impl Conn {
    pub async fn open(addr: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("could not connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn { addr: addr.to_owned(), stream: BufReader::new(stream) })
    }

    /// Sends a request and reads the whole answer: (status, body).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                anyhow::bail!("the server closed the connection mid-answer");
            }
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse()?,
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "transfer-encoding" => anyhow::bail!("chunked answers are not expected from the API"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        if close {
            *self = Conn::open(&self.addr).await?;
        }
        Ok((status, body))
    }
}
