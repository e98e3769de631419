//! The inode of one TCP socket, asked of the kernel by its four addresses (sock_diag netlink).
//!
//! Reading `/proc/net/tcp` walks every socket of the machine: with the thousands of closed
//! connections a certification leaves in TIME_WAIT it took 4-10 ms a request, which was most of a
//! session reader's back-end wait. An exact sock_diag lookup takes microseconds.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
};
use netlink_sys::{Socket, protocols::NETLINK_SOCK_DIAG};

/// Why the kernel could not be asked (the caller then reads `/proc/net/tcp`).
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The netlink socket could not be opened, bound, or written or read.
    #[error("sock_diag netlink: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel's answer did not decode, or was not what was asked.
    #[error("sock_diag netlink answer: {0}")]
    Answer(String),
}

/// Largest answer read: one socket's description with no extensions is about 100 bytes.
const ANSWER_BUFFER: usize = 8192;
/// `ENOENT`: the kernel knows no socket with those addresses.
const NO_SUCH_SOCKET: i32 = -2;

/// The inode of the TCP socket connected from `client` to `server`, both IPv4 (its client end):
/// `Ok(None)` when no open socket has those addresses (closed, or only its TIME_WAIT remnant,
/// which has inode 0). A client on a dual-stack IPv6 socket (a JVM's default) is found as
/// `::ffff:a.b.c.d`.
pub fn tcp_client_inode(client: SocketAddr, server: SocketAddr) -> Result<Option<u64>, DiagError> {
    let (SocketAddr::V4(client), SocketAddr::V4(server)) = (client, server) else {
        return Err(DiagError::Answer("only IPv4 loopback addresses are looked up".into()));
    };
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    let v4 = lookup(&mut socket, AF_INET, IpAddr::V4(*client.ip()), client.port(), IpAddr::V4(*server.ip()), server.port())?;
    if v4.is_some() {
        return Ok(v4);
    }
    let mapped = |address: std::net::Ipv4Addr| IpAddr::V6(address.to_ipv6_mapped());
    lookup(&mut socket, AF_INET6, mapped(*client.ip()), client.port(), mapped(*server.ip()), server.port())
}

/// One exact lookup in one address family.
fn lookup(socket: &mut Socket, family: u8, source: IpAddr, source_port: u16, destination: IpAddr, destination_port: u16) -> Result<Option<u64>, DiagError> {
    let mut header = NetlinkHeader::default();
    // No NLM_F_DUMP: the kernel finds the one socket by its addresses instead of listing all.
    header.flags = NLM_F_REQUEST;
    let request = InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port,
            destination_port,
            source_address: source,
            destination_address: destination,
            interface_id: 0,
            // INET_DIAG_NOCOOKIE: find the socket by its addresses alone.
            cookie: [0xff; 8],
        },
    };
    let mut packet = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;

    let mut answer = vec![0; ANSWER_BUFFER];
    let received = socket.recv(&mut &mut answer[..], 0)?;
    let answer = answer.get(..received).ok_or_else(|| DiagError::Answer("longer than its buffer".into()))?;
    let message = NetlinkMessage::<SockDiagMessage>::deserialize(answer).map_err(|error| DiagError::Answer(error.to_string()))?;
    match message.payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => Ok(Some(u64::from(response.header.inode)).filter(|inode| *inode != 0)),
        NetlinkPayload::Error(error) if error.code.map(i32::from) == Some(NO_SUCH_SOCKET) => Ok(None),
        other => Err(DiagError::Answer(format!("unexpected {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this machine lets a process open a sock_diag socket (a sandbox may not: the
    /// caller then reads `/proc/net/tcp`, tested in the parent module).
    fn sock_diag_available() -> bool {
        Socket::new(NETLINK_SOCK_DIAG).is_ok()
    }

    #[test]
    fn finds_a_connected_client_and_not_a_closed_one() {
        if !sock_diag_available() {
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let from = client.local_addr().unwrap();
        let inode = tcp_client_inode(from, server).unwrap().expect("the connected client is found");
        // The same inode as the client's descriptor names.
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", client.as_raw_fd())).unwrap();
        assert_eq!(link.to_str().unwrap(), format!("socket:[{inode}]"));
        // The server's end is not the client's: reversed addresses name another socket.
        assert_ne!(tcp_client_inode(server, from).unwrap(), Some(inode));
        drop(client);
        assert_eq!(tcp_client_inode(from, server).unwrap(), None, "a closed client has no inode");
    }

    #[test]
    fn finds_a_dual_stack_client_by_its_mapped_address() {
        if !sock_diag_available() {
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        // A dual-stack IPv6 socket connecting to an IPv4 address, as a JVM does.
        let Ok(client) = std::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), server.port())) else {
            return; // no IPv6 on this machine: nothing to look up
        };
        let SocketAddr::V6(local) = client.local_addr().unwrap() else { panic!("an IPv6 socket") };
        let from = SocketAddr::new(IpAddr::V4(local.ip().to_ipv4_mapped().unwrap()), local.port());
        assert!(tcp_client_inode(from, server).unwrap().is_some());
    }
}
