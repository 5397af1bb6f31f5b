//! Errors of the blob store.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object not found")]
    NotFound,
    /// Another chunk of the same upload holds its file (or the upload ended meanwhile).
    #[error("the upload is being written by another request")]
    Claimed,
    /// The request body failed while it was being stored (client went away, bad framing).
    #[error("request body failed: {0}")]
    Body(std::io::Error),
    /// A stream was longer than the most the caller takes.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("object store: {0}")]
    Store(object_store::Error),
    #[error("file i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

impl Error {
    /// Whether the store ran out of space (ENOSPC, wherever in the chain of causes it is).
    pub fn is_storage_full(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::StorageFull
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
