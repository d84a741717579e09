//! Sockets and message queues: how each syscall is recorded.

use crate::rule::{out, Ipc, Len::*, Rule, Rule::*, Sent, Special};
use libc::*;

const NONE: Rule = Emulate(&[]);
const SOCKADDR_OUT: Rule = Emulate(&[out(1, LenAt(2)), out(2, Fixed(4))]);

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_socket, NONE),
    (SYS_socketpair, Emulate(&[out(3, Fixed(8))])),
    (SYS_connect, NONE),
    (SYS_bind, NONE),
    (SYS_listen, NONE),
    (SYS_shutdown, NONE),
    (SYS_setsockopt, NONE),
    (SYS_accept, SOCKADDR_OUT),
    (SYS_accept4, SOCKADDR_OUT),
    (SYS_getsockname, SOCKADDR_OUT),
    (SYS_getpeername, SOCKADDR_OUT),
    (
        SYS_getsockopt,
        Emulate(&[out(3, LenAt(4)), out(4, Fixed(4))]),
    ),
    (
        SYS_sendto,
        Output {
            fd: 0,
            sent: Sent::Buf { buf: 1 },
        },
    ),
    (
        SYS_sendmsg,
        Output {
            fd: 0,
            sent: Sent::Msg { msg: 1 },
        },
    ),
    (
        SYS_recvfrom,
        Emulate(&[out(1, Ret), out(4, LenAt(5)), out(5, Fixed(4))]),
    ),
    (SYS_recvmsg, EmulateSpecial(Special::RecvMsg { msg: 1 })),
    // Each sent `struct mmsghdr` (64 bytes) gets its `msg_len`; the bytes leave the process
    // (`leaves_process`), so output waits its turn like sendmsg's.
    (SYS_sendmmsg, Emulate(&[out(1, RetTimes(64))])),
    (SYS_recvmmsg, EmulateSpecial(Special::RecvMmsg { vec: 1 })),
    // SysV message queues live in the kernel, outside the process: emulated like sockets.
    (SYS_msgget, NONE),
    (SYS_msgsnd, NONE),
    (SYS_msgrcv, EmulateSpecial(Special::MsgRcv)),
    (SYS_msgctl, EmulateSpecial(Special::IpcCtl(Ipc::Msg))),
    // POSIX message queues too: a queue is a descriptor on a kernel object, and replay
    // hands back what each call returned (the message and its priority, the attributes).
    (SYS_mq_open, NONE),
    (SYS_mq_unlink, NONE),
    (SYS_mq_timedsend, NONE),
    (
        SYS_mq_timedreceive,
        Emulate(&[out(1, Ret), out(3, Fixed(4))]),
    ),
    (SYS_mq_notify, NONE),
    // The old attributes: a `struct mq_attr` (four longs and four reserved ones).
    (SYS_mq_getsetattr, Emulate(&[out(2, Fixed(64))])),
];
