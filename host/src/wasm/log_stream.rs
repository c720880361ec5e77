//! The guest's stdout and stderr: instead of going nowhere, what a guest
//! writes there (a `print`, a Rust panic's message) goes into the batch's
//! bounded [`LogBuffer`], through both WASI versions' streams.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::batch::{LogBuffer, LogStream};

/// A batch's log, shared by the store's streams and its `log` import.
pub(crate) type SharedLog = Arc<Mutex<LogBuffer>>;

/// The most bytes a guest may hand over in one write: it always may write
/// again, and the buffer keeps only what fits its bounds.
const WRITE_PERMIT: usize = 64 << 10;

/// stdout or stderr of one store.
#[derive(Clone)]
pub(crate) struct GuestStream {
    log: SharedLog,
    stream: LogStream,
}

impl GuestStream {
    pub(crate) fn new(log: &SharedLog, stream: LogStream) -> GuestStream {
        GuestStream {
            log: log.clone(),
            stream,
        }
    }

    fn take(&self, bytes: &[u8]) {
        // A poisoned lock means a panic elsewhere in this store's thread:
        // the lines are lost, the run is not.
        if let Ok(mut log) = self.log.lock() {
            log.write(self.stream, bytes);
        }
    }
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
