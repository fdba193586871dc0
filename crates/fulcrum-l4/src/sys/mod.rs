//! The crate's only `unsafe`: thin wrappers over Linux system calls the standard library and
//! tokio do not offer — splice(2) and pipe2(2) for the zero-copy relay ([`splice`]), and
//! recvmmsg(2) / sendmmsg(2) for batched datagram I/O ([`mmsg`]). Each wrapper checks its
//! arguments' ownership through the types it takes (`BorrowedFd`, `OwnedFd`, a tokio socket,
//! buffers it owns) so callers stay safe code; every `unsafe` block says why it is sound.
//!
//! This file holds only module lines and helpers they share. Must not: hold policy (what to do
//! with a byte, a datagram or an error is the caller's).

#[cfg(target_os = "linux")]
pub(crate) mod mmsg;
#[cfg(target_os = "linux")]
pub(crate) mod splice;

/// A libc return value as a `Result`: `-1` becomes the thread's `errno`.
#[cfg(target_os = "linux")]
fn cvt(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
