//! Signals as events of the loop (behaviour.md §13.2): TERM, INT, HUP and USR1 are blocked
//! and read from a signalfd, so nothing runs in signal context (the C daemon cleaned up inside
//! a handler that was not async-signal-safe); SIGPIPE is ignored so a control client that
//! hangs up early costs an EPIPE, not the daemon.

use super::{Context, Error};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    pub fn install() -> Result<Signals, Error> {
        // SAFETY: SIG_IGN installs no handler code; nothing runs in signal context.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }
            .map_err(|e| Error::new("ignoring SIGPIPE", e.into()))?;
        let mut mask = SigSet::empty();
        for sig in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
        ] {
            mask.add(sig);
        }
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .map_err(|e| Error::new("blocking signals", e.into()))?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(std::io::Error::from)
            .context(|| "creating the signalfd".into())?;
        Ok(Signals { fd })
    }

    /// The next pending signal, if any.
    pub fn pending(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
