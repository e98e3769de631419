//! Which process opened a loopback connection to the back ends: the reader program's, or another
//! one holding its tap's token (stolen from it). Linux only: read from `/proc`.

use std::net::SocketAddr;

/// Who sent a request, as far as `/proc` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A process of the reader program's tap: in its process group, or escaped from it (a child
    /// of this process in a session of its own, see `program::contain_reader_programs`).
    Reader,
    /// A process outside the reader program's tap: the token was stolen.
    Other {
        /// Its process id.
        pid: u32,
    },
    /// The connection's owner was not found (gone, or hidden from this user): given the benefit
    /// of the doubt, as the reader's.
    Unknown,
}

/// The sender of the connection `client -> server` (both on this machine), judged against the
/// reader program whose process group is led by `leader`; `escaped` says whether a process whose
/// parent is this one and whose group is `group` is a reader's leftover (not another reader's).
pub fn sender(client: SocketAddr, server: SocketAddr, leader: u32, escaped: &dyn Fn(u32) -> bool) -> Sender {
    let Some(inode) = socket_inode(client, server) else { return Sender::Unknown };
    let me = std::process::id();
    let processes = processes();
    let of_reader = |process: &Process| process.pgrp == leader || (process.ppid == me && process.pid != me && escaped(process.pgrp));
    // The reader's own processes first: the common case costs only their descriptors.
    let (readers, others): (Vec<&Process>, Vec<&Process>) = processes.iter().partition(|process| of_reader(process));
    if readers.iter().any(|process| holds(process.pid, inode)) {
        return Sender::Reader;
    }
    match others.iter().find(|process| process.pid != me && holds(process.pid, inode)) {
        Some(process) => Sender::Other { pid: process.pid },
        None => Sender::Unknown,
    }
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

/// Whether process `pid` has the socket `inode` among its descriptors.
fn holds(pid: u32, inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str()))
}

/// The inode of the client's end of `client -> server`, from `/proc/net/tcp` (or `tcp6`).
fn socket_inode(client: SocketAddr, server: SocketAddr) -> Option<u64> {
    let (table, local, remote) = match (client, server) {
        (SocketAddr::V4(client), SocketAddr::V4(server)) => ("/proc/net/tcp", v4_field(client), v4_field(server)),
        _ => return None,
    };
    let text = std::fs::read_to_string(table).ok()?;
    find_inode(&text, &local, &remote)
}

/// An IPv4 socket address as `/proc/net/tcp` writes it: the address's bytes in the host's order,
/// the port big-endian, both in upper-case hex.
fn v4_field(address: std::net::SocketAddrV4) -> String {
    format!("{:08X}:{:04X}", u32::from_ne_bytes(address.ip().octets()), address.port())
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
    fn a_connection_of_this_process_is_found_and_is_not_a_readers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(socket_inode(peer, server).is_some(), "the connection is in /proc/net/tcp");
        // This process holds the client's end, but is never taken for the thief (it is the harness).
        assert_eq!(sender(peer, server, u32::MAX, &|_| false), Sender::Unknown);
    }
}
