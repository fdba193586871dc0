//! The crate's only `unsafe`: thin wrappers over Linux system calls the standard library and
//! tokio do not offer (splice(2) and pipe2(2) for the zero-copy relay). Each wrapper checks
//! its arguments' ownership through the types it takes (`BorrowedFd`, `OwnedFd`) so callers
//! stay safe code; every `unsafe` block says why it is sound.

#[cfg(target_os = "linux")]
pub(crate) mod splice;
