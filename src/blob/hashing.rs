//! Hashing an upload on a thread of its own. SHA-256 is the costliest step of a push (one core
//! of this machine class hashes about 1.8 GB/s), so it must not share a core with receiving the
//! body: with it here, the runtime reads the socket, this thread hashes and the store writes,
//! all at once.

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::oci::Hasher;

/// Chunks queued for the hashing thread: enough to smooth the hand-over (16 is no faster), few
/// enough to bound an upload's memory.
const QUEUE: usize = 4;

pub(super) struct BackgroundHasher {
    chunks: mpsc::Sender<Bytes>,
    thread: JoinHandle<Hasher>,
}

impl BackgroundHasher {
    pub(super) fn start(mut hasher: Hasher) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let thread = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk);
            }
            hasher
        });
        Self { chunks, thread }
    }

    /// Queues a chunk (a reference-counted view: no copy), waiting while the queue is full.
    pub(super) async fn update(&self, chunk: Bytes) {
        // The thread stops only when the sender is dropped, or panics (reported by `finish`).
        let _ = self.chunks.send(chunk).await;
    }

    /// The hasher, once every queued chunk went through it.
    pub(super) async fn finish(self) -> std::io::Result<Hasher> {
        drop(self.chunks);
        self.thread.await.map_err(std::io::Error::other)
    }
}
