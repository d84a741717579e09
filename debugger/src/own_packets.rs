//! Answers to the packets gdbstub does not serve (see `wire`): the address of a
//! thread-local variable and the siginfo of the signal a thread is stopped for.

use crate::machine;
use crate::target::GdbTarget;
use crate::tls;
use crate::wire::OwnPacket;

impl GdbTarget {
    /// The reply to `p`; `general`: the thread gdb named with `Hg` (0: the stop's).
    pub fn answer(&mut self, p: &OwnPacket, general: u32) -> Vec<u8> {
        match *p {
            OwnPacket::TlsAddr { tid, offset, lm } => {
                let tid = if tid == 0 { self.stopped } else { tid };
                match self.tls_address(tid, offset, lm) {
                    Ok(addr) => format!("{addr:x}").into_bytes(),
                    Err(why) => {
                        eprintln!("ftrun: thread-local storage of thread {tid}: {why}");
                        b"E01".to_vec()
                    }
                }
            }
            OwnPacket::Siginfo { offset, length } => {
                let tid = if general == 0 { self.stopped } else { general };
                let Some(pid) = self.pid_of(tid) else {
                    return b"E01".to_vec();
                };
                let Some(info) = machine::siginfo(pid) else {
                    return b"E01".to_vec();
                };
                let start = (offset as usize).min(info.len());
                let end = (start + length as usize).min(info.len());
                let mut reply = vec![if end == info.len() { b'l' } else { b'm' }];
                reply.extend_from_slice(&info[start..end]);
                reply
            }
        }
    }

    fn tls_address(&mut self, tid: u32, offset: u64, lm: u64) -> Result<u64, String> {
        let pid = self.pid_of(tid).ok_or("no such thread")?;
        let fs_base = self
            .replay()
            .and_then(|r| r.tracee_of(tid))
            .and_then(|t| t.regs().ok())
            .map(|g| g.fs_base)
            .ok_or("cannot read its registers")?;
        tls::address(pid, fs_base, lm, offset)
    }
}
