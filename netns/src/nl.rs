//! A blocking netlink socket bound to the namespace it was opened in, and the parts of
//! reply handling shared by rtnetlink and nfnetlink.

use std::io;

use hutch_ns::NsHandle;
use netlink_sys::{Socket, SocketAddr};

use crate::error::{NetlinkError, Op};
use crate::sys::run_in_netns;

/// `NLMSG_ERROR`.
pub(crate) const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub(crate) const NLMSG_DONE: u16 = 3;
/// `NLM_F_CAPPED`: an error message carries only the request's header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS`: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: a NUL-terminated error string.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Size of the receive buffer; larger datagrams are an error (the kernel's dump
/// messages are at most 32 KiB).
const RECV_BUF: usize = 1 << 16;

pub(crate) struct NlSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl NlSocket {
    /// Opens a socket of `protocol` in the calling thread's network namespace.
    pub(crate) fn open(protocol: isize) -> Result<NlSocket, NetlinkError> {
        let err = |source| NetlinkError::Socket { source };
        let mut sock = Socket::new(protocol).map_err(err)?;
        sock.bind_auto().map_err(err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(err)?;
        // Both are best effort: they only make error reports shorter and richer.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        // Start at a value unlikely to collide with a previous user of a recycled port id.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1)
            | 1;
        Ok(NlSocket {
            sock,
            seq,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Opens a socket of `protocol` in network namespace `ns` from a short-lived helper
    /// thread; the caller's threads do not move.
    pub(crate) fn open_in(ns: &NsHandle, protocol: isize) -> Result<NlSocket, NetlinkError> {
        run_in_netns(ns, || NlSocket::open(protocol))
            .map_err(|source| NetlinkError::Namespace { source })?
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    pub(crate) fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let n = self.sock.send(bytes, 0)?;
        if n != bytes.len() {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        Ok(())
    }

    /// Receives one datagram (blocking, or `None` on `EAGAIN` when `nowait`).
    pub(crate) fn recv(&mut self, nowait: bool) -> io::Result<Option<&[u8]>> {
        self.buf.clear();
        let flags = if nowait { libc::MSG_DONTWAIT } else { 0 };
        loop {
            match self.sock.recv(&mut self.buf, flags | libc::MSG_TRUNC) {
                Ok(n) if n > RECV_BUF => return Err(io::Error::from_raw_os_error(libc::EMSGSIZE)),
                Ok(_) => return Ok(Some(&self.buf)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if nowait && e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One raw netlink message from a datagram.
pub(crate) struct RawMsg<'a> {
    pub(crate) kind: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// The whole message, header included.
    pub(crate) bytes: &'a [u8],
}

/// Splits a datagram into messages.
pub(crate) fn split(mut data: &[u8]) -> io::Result<Vec<RawMsg<'_>>> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes(data[0..4].try_into().unwrap_or_default()) as usize;
        if len < 16 || len > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "netlink message length out of range",
            ));
        }
        out.push(RawMsg {
            kind: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32::from_ne_bytes(data[8..12].try_into().unwrap_or_default()),
            bytes: &data[..len],
        });
        let next = (len + 3) & !3;
        data = &data[next.min(data.len())..];
    }
    Ok(out)
}

/// The errno of an `NLMSG_ERROR` message (0 for an ACK) and the extended-ack text.
pub(crate) fn decode_error(msg: &RawMsg<'_>) -> (i32, Option<String>) {
    let b = msg.bytes;
    if b.len() < 20 {
        return (libc::EBADMSG, None);
    }
    let code = i32::from_ne_bytes(b[16..20].try_into().unwrap_or_default());
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 && b.len() >= 36 {
        let inner_len = if msg.flags & NLM_F_CAPPED != 0 {
            16
        } else {
            u32::from_ne_bytes(b[20..24].try_into().unwrap_or_default()) as usize
        };
        let mut tlvs = b.get(20 + ((inner_len + 3) & !3)..).unwrap_or(&[]);
        while tlvs.len() >= 4 {
            let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
            let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
            if len < 4 || len > tlvs.len() {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                let text = &tlvs[4..len];
                let text = text.split(|&c| c == 0).next().unwrap_or(&[]);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
            tlvs = &tlvs[((len + 3) & !3).min(tlvs.len())..];
        }
    }
    (-code, message)
}

pub(crate) fn kernel_error(
    op: Op,
    subject: String,
    errno: i32,
    message: Option<String>,
) -> NetlinkError {
    NetlinkError::Kernel {
        op,
        subject,
        message,
        source: io::Error::from_raw_os_error(errno),
    }
}

pub(crate) fn decode_failure(
    op: Op,
    subject: String,
    what: impl std::fmt::Display,
) -> NetlinkError {
    NetlinkError::Decode {
        op,
        subject,
        source: io::Error::new(io::ErrorKind::InvalidData, what.to_string()),
    }
}
