//! The files a TLS setting is built from, read together.
//!
//! [`TlsFiles`] holds their bytes: a rebuild compares them with what is serving (nothing to do
//! when every file still holds the same bytes, whatever its modification time says) and is
//! built from exactly the bytes it compared. [`Stamps`] holds their metadata, so a poll can
//! notice from metadata alone that a file was written (mtime, size, inode; or appeared or
//! vanished).
//!
//! Files are read with blocking `std::fs` calls: they are small and are only read when a
//! configuration is built or reloaded, never on the data path.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fulcrum_config::model::{ListenerTls, PoolTls};

use crate::TlsError;

/// The contents of a TLS setting's files, in [`listener_files`] / `pool_files` order, each
/// path once. Private keys are among them: the bytes stay in this process, which holds the
/// parsed keys anyway.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes: a key is among them.
        f.debug_list()
            .entries(self.files.iter().map(|(p, b)| (p, b.len())))
            .finish()
    }
}

impl TlsFiles {
    /// Reads every file of `paths` (a path listed twice is read once).
    pub(crate) fn read(paths: &[PathBuf]) -> Result<TlsFiles, TlsError> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::with_capacity(paths.len());
        for path in paths {
            if files.iter().any(|(p, _)| p == path) {
                continue;
            }
            let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            })?;
            files.push((path.clone(), bytes));
        }
        Ok(TlsFiles { files })
    }

    /// The bytes of `path`, which must be one of the paths read.
    pub(crate) fn get(&self, path: &Path) -> Result<&[u8], TlsError> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.as_slice())
            .ok_or_else(|| TlsError::Read {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not read"),
            })
    }
}

/// Every file of a listener's TLS: each certificate and key, then the client CA bundle.
pub fn listener_files(tls: &ListenerTls) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = tls
        .certs
        .iter()
        .flat_map(|p| [p.cert.clone(), p.key.clone()])
        .collect();
    if let Some(auth) = &tls.client_auth {
        out.push(auth.ca.clone());
    }
    out
}

/// Every file of a pool's TLS: the CA bundle (only read when verifying), then the client
/// certificate and key.
pub(crate) fn pool_files(tls: &PoolTls) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let (true, Some(ca)) = (tls.verify, &tls.ca) {
        out.push(ca.clone());
    }
    if let Some(pair) = &tls.client_cert {
        out.push(pair.cert.clone());
        out.push(pair.key.clone());
    }
    out
}

/// The metadata of a list of files at one moment, to notice that any of them was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamps(Vec<Option<FileStamp>>);

/// What we remember of a file to notice it changed without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    /// A file replaced by rename (the safe way to rotate) gets a new inode even when its size
    /// and mtime happen to match.
    #[cfg(unix)]
    ino: u64,
}

impl Stamps {
    /// The stamps of `paths` now; a file that cannot be stat'ed has none.
    pub fn of(paths: &[PathBuf]) -> Stamps {
        Stamps(
            paths
                .iter()
                .map(|path| {
                    let meta = std::fs::metadata(path).ok()?;
                    Some(FileStamp {
                        modified: meta.modified().ok(),
                        len: meta.len(),
                        #[cfg(unix)]
                        ino: std::os::unix::fs::MetadataExt::ino(&meta),
                    })
                })
                .collect(),
        )
    }
}
