//! The daemon's clock and its one timer: CLOCK_MONOTONIC, read once per loop iteration, and
//! one timerfd armed with the engine's next deadline as an absolute time, so that a slow
//! iteration never shifts a deadline.

use super::{Context, Error, check};
use crate::time::Instant;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn monotonic() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

fn millis(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec as u64 / 1_000_000)
}

/// Milliseconds since the daemon started, as the engine counts them.
pub struct Clock {
    epoch_ms: u64,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            epoch_ms: millis(&monotonic()),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_millis(millis(&monotonic()).saturating_sub(self.epoch_ms))
    }

    /// The wall clock, in milliseconds since the Unix epoch (0 before it): what signed
    /// intercom datagrams carry. It may jump (NTP setting a router's clock after boot); the
    /// engine takes it afresh every loop turn and never times anything with it.
    pub fn wall_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn to_timespec(&self, at: Instant) -> libc::timespec {
        let ms = self.epoch_ms.saturating_add(at.as_millis());
        // nix converts without naming time_t, which is 32 bits in the libc crate's view of
        // 32-bit musl (seconds of CLOCK_MONOTONIC fit for 68 years of uptime).
        *nix::sys::time::TimeSpec::from(std::time::Duration::from_millis(ms)).as_ref()
    }
}

pub struct Timer {
    fd: OwnedFd,
    armed: Option<Instant>,
}

impl Timer {
    pub fn new() -> Result<Timer, Error> {
        // SAFETY: timerfd_create takes plain integers and returns a new descriptor or -1.
        let fd = check(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })
        .context(|| "creating the timerfd".into())?;
        Ok(Timer {
            // SAFETY: `fd` was just returned by timerfd_create and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: None,
        })
    }

    /// Arms the timer for `at` (absolute), or disarms it; a no-op when nothing changed, so
    /// the loop costs no system call per iteration at idle.
    pub fn arm(&mut self, clock: &Clock, at: Option<Instant>) -> io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        let value = match at {
            // A zero it_value disarms; a deadline at the epoch itself must still fire.
            Some(at) => {
                let ts = clock.to_timespec(at);
                if ts.tv_sec == 0 && ts.tv_nsec == 0 {
                    libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 1,
                    }
                } else {
                    ts
                }
            }
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not requested (null).
        check(unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })?;
        self.armed = at;
        Ok(())
    }

    /// Consumes the expiration count after the timer fired.
    pub fn acknowledge(&mut self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        if n == 8 {
            self.armed = None;
        }
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
