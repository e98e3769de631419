//! The vpcd virtual readers pcscd is configured with: each `DEVICENAME /dev/null:PORT` entry of
//! the vpcd driver in reader.conf.d gives two readers, on PORT and PORT+1, named
//! `FRIENDLYNAME NN 00` and `FRIENDLYNAME NN 01` (NN counts the entries of one name, from 00).

use std::path::Path;

/// One virtual reader: the port its card connects to and the name PC/SC shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualReader {
    /// The port vpcd listens on for this reader's card.
    pub port: u16,
    /// The reader's name as PC/SC shows it.
    pub name: String,
}

/// vsmartcard's default port (0x8C7B), as Debian's reader.conf.d/vpcd configures it.
pub const DEFAULT_PORT: u16 = 35963;

/// The readers of one vpcd entry.
fn pair(friendly: &str, index: usize, port: u16) -> [VirtualReader; 2] {
    [
        VirtualReader { port, name: format!("{friendly} {index:02} 00") },
        VirtualReader { port: port.saturating_add(1), name: format!("{friendly} {index:02} 01") },
    ]
}

/// The readers of reader.conf texts (in the order pcscd loads them).
pub fn parse_conf(texts: &[String]) -> Vec<VirtualReader> {
    let mut readers: Vec<VirtualReader> = Vec::new();
    let mut per_name: Vec<(String, usize)> = Vec::new();
    for text in texts {
        let (mut friendly, mut port, mut vpcd) = (None, None, false);
        let mut flush = |friendly: &mut Option<String>, port: &mut Option<u16>, vpcd: &mut bool| {
            if let (Some(name), Some(at), true) = (friendly.take(), port.take(), *vpcd) {
                let index = match per_name.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, count)) => {
                        *count += 1;
                        *count - 1
                    }
                    None => {
                        per_name.push((name.clone(), 1));
                        0
                    }
                };
                readers.extend(pair(&name, index, at));
            }
            *vpcd = false;
        };
        for line in text.lines().map(str::trim) {
            let (key, value) = line.split_once(char::is_whitespace).map(|(k, v)| (k, v.trim())).unwrap_or((line, ""));
            match key {
                "FRIENDLYNAME" => {
                    flush(&mut friendly, &mut port, &mut vpcd);
                    friendly = Some(value.trim_matches('"').to_owned());
                }
                "DEVICENAME" => {
                    port = value.rsplit_once(':').and_then(|(_, p)| {
                        p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")).map_or_else(|| p.parse().ok(), |hex| u16::from_str_radix(hex, 16).ok())
                    });
                }
                "LIBPATH" => vpcd = value.contains("vpcd"),
                _ => {}
            }
        }
        flush(&mut friendly, &mut port, &mut vpcd);
    }
    readers
}

/// The virtual readers configured on this machine (`/etc/reader.conf.d`, files in name order);
/// Debian's default pair when nothing is found.
pub fn configured() -> Vec<VirtualReader> {
    let dir = Path::new("/etc/reader.conf.d");
    let mut files: Vec<_> = std::fs::read_dir(dir).map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    let texts: Vec<String> = files.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect();
    let readers = parse_conf(&texts);
    if readers.is_empty() { pair("Virtual PCD", 0, DEFAULT_PORT).to_vec() } else { readers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vpcd_entry_gives_two_readers() {
        let debian =
            "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   /dev/null:0x8C7B\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x8C7B\n"
                .to_owned();
        let more = "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x8C7D\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n".to_owned();
        let other = "FRIENDLYNAME \"CCID\"\nDEVICENAME /dev/ttyS0\nLIBPATH /usr/lib/libccid.so\n".to_owned();
        let readers = parse_conf(&[debian, other, more]);
        let shown: Vec<(u16, &str)> = readers.iter().map(|r| (r.port, r.name.as_str())).collect();
        assert_eq!(shown, [(35963, "Virtual PCD 00 00"), (35964, "Virtual PCD 00 01"), (35965, "Virtual PCD 01 00"), (35966, "Virtual PCD 01 01")]);
    }
}
