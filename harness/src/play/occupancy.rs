//! Whether a vpcd reader is free for this run: nobody else's card in it, and the card that
//! answers through pcscd is the one our bridge serves. A harness that plays against another
//! process's card would judge a reader on the wrong device, so it stops first (exit 2) and names
//! what holds the reader.

/// How long a card pcscd still shows after the last one of ours left may take to go (pcscd
/// polls about every 0.4 s).
#[cfg(feature = "pcsc")]
const STALE_PRESENCE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Fails when `reader` (vpcd `port`) shows a card before our bridge has connected: another card
/// process holds it. Waits out a presence pcscd still shows for a bridge that has just left.
#[cfg(feature = "pcsc")]
pub fn ensure_no_card(reader: &str, port: u16) -> Result<(), String> {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + STALE_PRESENCE_WAIT;
    loop {
        let readers = mynatap_drivers::pcsc_transport::list_readers().map_err(|e| e.to_string())?;
        let present = readers.iter().any(|(name, present)| name == reader && *present);
        if !present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(occupied_message(reader, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What to tell a person whose reader is taken.
pub fn occupied_message(reader: &str, port: u16) -> String {
    let holder = vpcd_clients(port).into_iter().next();
    let who = holder.map_or_else(
        || format!("another card process is connected to vpcd port {port}"),
        |(pid, command)| format!("process {pid} (`{command}`) is connected to vpcd port {port}"),
    );
    format!("reader `{reader}` already holds a card: {who}. Stop it (or give this run another reader) and run again")
}

/// Processes with an established TCP connection to `port` (vpcd's card side), as
/// (pid, command line); best effort from /proc, empty where it cannot be read.
pub fn vpcd_clients(port: u16) -> Vec<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (fields.get(2), fields.get(3), fields.get(9)) else { continue };
            let remote_port = remote.rsplit_once(':').and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
            // 01 = ESTABLISHED.
            if remote_port == Some(port) && *state == "01" && *inode != "0" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else { return found };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| inodes.iter().any(|inode| target.as_os_str() == inode.as_str())));
        if holds {
            let command = std::fs::read(process.path().join("cmdline"))
                .map(|bytes| {
                    bytes
                        .split(|b| *b == 0)
                        .filter(|part| !part.is_empty())
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            found.push((pid, command.chars().take(120).collect()));
        }
    }
    found.sort();
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_process_connected_to_a_port() {
        // This process is skipped, so a child holds the connection.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut child = std::process::Command::new("python3")
            .args(["-c", &format!("import socket,time; s=socket.create_connection(('127.0.0.1',{port})); print('up', flush=True); time.sleep(30)")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let clients = vpcd_clients(port);
        let message = occupied_message("Virtual PCD 00 00", port);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(clients.len(), 1, "{clients:?}");
        assert_eq!(clients[0].0, child.id());
        assert!(clients[0].1.contains("socket.create_connection"), "{clients:?}");
        assert!(message.contains(&format!("process {}", child.id())), "{message}");
    }
}
