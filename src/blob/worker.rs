//! Work on an upload's bytes (hashing, writing a file) on the blocking pool, beside the task
//! that receives them: SHA-256 is the costliest step of a push (one core of this machine class
//! hashes about 1.8 GB/s), so with it here the runtime reads the socket while a thread hashes
//! and another writes.
//!
//! A thread is held only while there are bytes to work on: chunks that arrive while a batch is
//! being worked on gather into the next batch, which starts when that one ends. A client that
//! trickles its body therefore holds no thread between its chunks (a thread per waiting upload
//! would let a few hundred slow clients exhaust the pool), while a fast one keeps a thread busy
//! with large batches.

use std::io;

use bytes::Bytes;
use tokio::task::JoinHandle;

/// Bytes gathered before the receiver waits for the batch in progress: bounds an upload's
/// memory to about twice this.
const MAX_PENDING: usize = 1 << 20;

pub(super) struct Worker<S: Send + 'static> {
    /// The state, while no batch is being worked on.
    idle: Option<io::Result<S>>,
    running: Option<JoinHandle<io::Result<S>>>,
    pending: Vec<Bytes>,
    pending_bytes: usize,
    step: fn(&mut S, &[u8]) -> io::Result<()>,
}

impl<S: Send + 'static> Worker<S> {
    /// A worker applying `step` to every chunk, in order.
    pub(super) fn new(state: S, step: fn(&mut S, &[u8]) -> io::Result<()>) -> Self {
        Self { idle: Some(Ok(state)), running: None, pending: Vec::new(), pending_bytes: 0, step }
    }

    /// Queues a chunk (a reference-counted view: no copy). Waits only when a batch is being
    /// worked on and the next one is full; fails if a step failed.
    pub(super) async fn push(&mut self, chunk: Bytes) -> io::Result<()> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if let Some(running) = &self.running
            && !running.is_finished()
            && self.pending_bytes < MAX_PENDING
        {
            return Ok(());
        }
        self.settle().await?;
        self.start();
        Ok(())
    }

    /// The state, once every chunk went through `step`.
    pub(super) async fn finish(mut self) -> io::Result<S> {
        self.settle().await?;
        if !self.pending.is_empty() {
            self.start();
            self.settle().await?;
        }
        self.idle.take().unwrap_or_else(|| Err(io::Error::other("upload worker lost its state")))
    }

    /// Waits for the batch in progress, if any; its error, if it failed.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(running) = self.running.take() {
            self.idle = Some(running.await.unwrap_or_else(|e| Err(io::Error::other(e))));
        }
        match &self.idle {
            Some(Err(e)) => Err(io::Error::new(e.kind(), e.to_string())),
            _ => Ok(()),
        }
    }

    /// Starts a batch of the pending chunks on the blocking pool.
    fn start(&mut self) {
        let Some(Ok(mut state)) = self.idle.take() else { return };
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let step = self.step;
        self.running = Some(tokio::task::spawn_blocking(move || {
            for chunk in &batch {
                step(&mut state, chunk)?;
            }
            Ok(state)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(v: &mut Vec<u8>, chunk: &[u8]) -> io::Result<()> {
        if chunk == b"fail" {
            return Err(io::Error::other("step failed"));
        }
        v.extend_from_slice(chunk);
        Ok(())
    }

    #[tokio::test]
    async fn chunks_go_through_in_order_and_failures_surface() {
        let mut w = Worker::new(Vec::new(), append);
        for i in 0..1000u32 {
            w.push(Bytes::from(i.to_le_bytes().to_vec())).await.expect("push");
        }
        let all = w.finish().await.expect("finish");
        let expected: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(all, expected);

        let mut w = Worker::new(Vec::new(), append);
        w.push(Bytes::from_static(b"ok")).await.expect("push");
        w.push(Bytes::from_static(b"fail")).await.ok();
        w.push(Bytes::from_static(b"more")).await.ok();
        assert!(w.finish().await.is_err(), "a failed step fails the whole");
    }

    #[tokio::test]
    async fn no_thread_is_held_between_chunks() {
        let mut w = Worker::new(Vec::new(), append);
        w.push(Bytes::from_static(b"first")).await.expect("push");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(w.running.as_ref().is_none_or(|r| r.is_finished()), "the batch ended: its thread is free");
        w.push(Bytes::from_static(b"second")).await.expect("push");
        assert_eq!(w.finish().await.expect("finish"), b"firstsecond");
    }
}
