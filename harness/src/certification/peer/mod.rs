//! Which process opened a loopback connection to the back ends: the reader program's, or another
//! one holding its tap's token (stolen from it). Linux only: read from `/proc`.

use std::net::SocketAddr;

mod diag;

/// Who sent a request, as far as `/proc` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A process of the reader program's tap: in its process group, or escaped from it (a child
    /// of this process in a session of its own, see `containment::contain_reader_programs`).
    Reader,
    /// A process outside the reader program's tap (this pid): the token was stolen.
    Other {
        /// Its process id.
        pid: u32,
    },
    /// The connection was closed before its request was answered: no HTTP client of a reader
    /// does that, a spoiler sending with a stolen token and leaving might.
    Gone,
    /// `/proc` could not tell (unreadable, or the sender's descriptors hidden from this user):
    /// given the benefit of the doubt, as the reader's.
    Unknown,
}

/// The sender of the connection `client -> server` (both on this machine), judged against the
/// reader program whose process group is led by `leader` (`None`: no reader program runs, so
/// no process is the reader's); `escaped` says whether a child of this process in the group it
/// names is a reader's leftover (not another running reader's).
pub fn sender(client: SocketAddr, server: SocketAddr, leader: Option<u32>, escaped: &dyn Fn(u32) -> bool) -> Sender {
    let found = match diag::tcp_client_inode(client, server) {
        Ok(found) => found,
        // No sock_diag (an unusual kernel or sandbox): the socket tables, slower but the same.
        Err(error) => {
            tracing::debug!(%error, "sock_diag lookup failed; reading /proc/net/tcp");
            let Some(found) = inode_from_tables(client, server) else { return Sender::Unknown };
            found
        }
    };
    let Some(inode) = found else { return Sender::Gone };
    // A session reader's connections are its leader's own (one JVM, one process): its
    // descriptors first, before every process's `stat`.
    if leader.is_some_and(|leader| process_group(leader) == Some(leader) && holds(leader, inode) == Some(true)) {
        return Sender::Reader;
    }
    let me = std::process::id();
    let processes = processes();
    let of_reader =
        |process: &Process| leader.is_some_and(|leader| process.pgrp == leader || (process.ppid == me && process.pid != me && escaped(process.pgrp)));
    // The reader's own processes first: the common case costs only their descriptors.
    let (readers, others): (Vec<&Process>, Vec<&Process>) = processes.iter().partition(|process| of_reader(process));
    let mut hidden = false;
    for process in &readers {
        match holds(process.pid, inode) {
            Some(true) => return Sender::Reader,
            Some(false) => {}
            None => hidden = true,
        }
    }
    if hidden {
        return Sender::Unknown;
    }
    match others.iter().find(|process| process.pid != me && holds(process.pid, inode) == Some(true)) {
        Some(process) => Sender::Other { pid: process.pid },
        None => Sender::Unknown,
    }
}

/// The client socket's inode read from `/proc/net/tcp` (and `tcp6`, where a dual-stack client
/// is, as `::ffff:127.0.0.1`): `Some(None)` when no open socket has those addresses (a closed
/// connection lingers a while with inode 0), `None` when the tables cannot be read.
fn inode_from_tables(client: SocketAddr, server: SocketAddr) -> Option<Option<u64>> {
    let (SocketAddr::V4(client), SocketAddr::V4(server)) = (client, server) else { return None };
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let found = find_inode(&table, &v4_field(client), &v4_field(server)).or_else(|| {
        let table = std::fs::read_to_string("/proc/net/tcp6").ok()?;
        find_inode(&table, &v4_mapped_field(client), &v4_mapped_field(server))
    });
    Some(found.filter(|inode| *inode != 0))
}

/// Whether any process of the process group `leader` holds a connected Unix socket: a PC/SC
/// client (libpcsclite talks to pcscd over one) must, so a group without one sent no command.
/// False when no process of the group is found (it has exited, or has not started).
#[cfg(feature = "pcsc")]
pub fn group_holds_unix_connection(leader: u32) -> bool {
    // Unreadable: any socket of the group counts.
    let connected: Option<std::collections::HashSet<u64>> = std::fs::read_to_string("/proc/net/unix").ok().map(|table| connected_unix_inodes(&table).collect());
    let any_connected = |inodes: Vec<u64>| connected.as_ref().map_or(!inodes.is_empty(), |connected| inodes.iter().any(|inode| connected.contains(inode)));
    // The leader itself first (a session reader holds its PC/SC connection there): one process's
    // descriptors instead of every process's `stat` (about 1 ms a tap on a busy machine).
    if process_group(leader) == Some(leader) && any_connected(socket_inodes(leader)) {
        return true;
    }
    any_connected(processes().iter().filter(|process| process.pgrp == leader).flat_map(|process| socket_inodes(process.pid)).collect())
}

/// The process group of process `pid`, if it runs.
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// The inodes of connected sockets in `/proc/net/unix` (`Num RefCount Protocol Flags Type St
/// Inode Path`; state `03` is connected).
#[cfg(any(feature = "pcsc", test))]
fn connected_unix_inodes(table: &str) -> impl Iterator<Item = u64> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(5) == Some(&"03")).then(|| fields.get(6)?.parse().ok()).flatten()
    })
}

/// The inodes of the sockets process `pid` holds.
#[cfg(feature = "pcsc")]
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    fds.flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

#[derive(Debug)]
struct Process {
    pid: u32,
    ppid: u32,
    pgrp: u32,
}

/// Every process `/proc` lists, with its parent and group.
fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp ...`: comm may hold anything, so read after its `)`.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(Process { pid, ppid: fields.get(1)?.parse().ok()?, pgrp: fields.get(2)?.parse().ok()? })
        })
        .collect()
}

/// Whether process `pid` has the socket `inode` among its descriptors (`None`: they cannot be
/// read by this user; a process that has exited holds nothing).
fn holds(pid: u32, inode: u64) -> Option<bool> {
    let wanted = format!("socket:[{inode}]");
    match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(fds) => Some(fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str()))),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
        Err(_) => Some(false),
    }
}

/// An IPv4 socket address as `/proc/net/tcp` writes it: the address's bytes in the host's order,
/// the port big-endian, both in upper-case hex.
fn v4_field(address: std::net::SocketAddrV4) -> String {
    format!("{:08X}:{:04X}", u32::from_ne_bytes(address.ip().octets()), address.port())
}

/// An IPv4 socket address as `/proc/net/tcp6` writes it, mapped (`::ffff:a.b.c.d`): four 32-bit
/// words, each in the host's order.
fn v4_mapped_field(address: std::net::SocketAddrV4) -> String {
    let mapped = address.ip().to_ipv6_mapped().octets();
    let words: String =
        mapped.chunks_exact(4).filter_map(|word| <[u8; 4]>::try_from(word).ok()).map(|word| format!("{:08X}", u32::from_ne_bytes(word))).collect();
    format!("{words}:{:04X}", address.port())
}

/// The inode of the row whose local and remote addresses are these (`sl local rem st ... inode`).
fn find_inode(table: &str, local: &str, remote: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local) && fields.get(2) == Some(&remote)).then(|| fields.get(9)?.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_row_of_a_connection() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(find_inode(table, "0100007F:A1B2", "0100007F:1F90"), Some(4242));
        assert_eq!(find_inode(table, "0100007F:1F90", "0100007F:A1B2"), None);
        assert_eq!(find_inode("", "a", "b"), None);
    }

    #[test]
    fn connected_unix_sockets_are_read_from_the_table() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 1111 /run/pcscd/pcscd.comm\n0000000000000000: 00000003 00000000 00000000 0001 03 2222\n";
        assert_eq!(connected_unix_inodes(table).collect::<Vec<_>>(), [2222]);
        #[cfg(feature = "pcsc")]
        assert!(!group_holds_unix_connection(u32::MAX), "no such group");
    }

    #[test]
    fn mapped_addresses_read_as_tcp6_writes_them() {
        let address: std::net::SocketAddrV4 = "127.0.0.1:8080".parse().unwrap();
        // On a little-endian machine, as /proc shows ::ffff:127.0.0.1.
        if cfg!(target_endian = "little") {
            assert_eq!(v4_mapped_field(address), "0000000000000000FFFF00000100007F:1F90");
        }
    }

    #[test]
    fn a_connection_of_this_process_is_found_and_is_not_a_readers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        // This process holds the client's end, but is never taken for the thief (it is the harness).
        assert_eq!(sender(peer, server, Some(u32::MAX), &|_| false), Sender::Unknown);
        // A connection nobody holds any more.
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let gone: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(sender(gone, server, None, &|_| false), Sender::Gone);
    }

    #[test]
    fn the_socket_tables_find_the_inode_the_kernel_gives() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        let from_tables = inode_from_tables(peer, server).expect("the tables are readable").expect("the client is in them");
        if let Ok(from_kernel) = diag::tcp_client_inode(peer, server) {
            assert_eq!(from_kernel, Some(from_tables));
        }
        drop(client);
    }
}
