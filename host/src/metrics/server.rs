//! [`MetricsServer`]: `GET /metrics` on `--metrics-addr`, answered from a
//! thread of its own for as long as the server is kept.

use std::sync::Arc;
use std::thread::JoinHandle;

use super::families::Metrics;
use crate::error::{MigrateError, Result};

/// The content type of the OpenMetrics text format (which Prometheus reads).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An HTTP endpoint serving [`Metrics`]. Dropping it stops serving.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: String,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (`HOST:PORT`; port 0 picks a free one) and serves
    /// `metrics` at `/metrics`. Fails, before any run starts, when the
    /// address cannot be listened on (a port in use, a bad host).
    pub fn start(addr: &str, metrics: Arc<Metrics>) -> Result<MetricsServer> {
        let refused = |message: String| MigrateError::MetricsAddr {
            addr: addr.to_string(),
            message,
        };
        if !addr.contains(':') {
            return Err(refused("expected HOST:PORT, e.g. 0.0.0.0:9464".into()));
        }
        let server = tiny_http::Server::http(addr).map_err(|e| refused(e.to_string()))?;
        let server = Arc::new(server);
        let bound = server
            .server_addr()
            .to_ip()
            .map_or_else(|| addr.to_string(), |a| a.to_string());
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("mongoshift-metrics".into())
            .spawn(move || serve(&serving, &metrics))
            .map_err(|e| refused(format!("cannot start its thread: {e}")))?;
        Ok(MetricsServer {
            server,
            addr: bound,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port chosen, for port 0).
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

fn serve(server: &tiny_http::Server, metrics: &Metrics) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => {
                let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                    .expect("a valid header");
                tiny_http::Response::from_string(metrics.encode()).with_header(header)
            }
            _ => tiny_http::Response::from_string("mongoshift: metrics are at GET /metrics\n")
                .with_status_code(404),
        };
        // A scraper that hung up is its own business.
        let _ = request.respond(response);
    }
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
