//! Facts about this host: its name, the IPv4 address of the default-route interface (the
//! fallback public address), and whether a process id is alive.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr};

/// The kernel's hostname (what fleet's `%H` expands to).
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&buf)
        .ok()?
        .to_str()
        .ok()?
        .trim()
        .to_string();
    (!name.is_empty()).then_some(name)
}

/// The interface of the default IPv4 route, from the text of `/proc/net/route`.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    route_table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, mask) = (cols.first()?, cols.get(1)?, cols.get(7)?);
        (*dest == "00000000" && *mask == "00000000").then(|| iface.to_string())
    })
}

/// The first IPv4 address of `iface`.
pub fn interface_ipv4(iface: &str) -> Option<Ipv4Addr> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a linked list we walk read-only and free exactly once.
    unsafe {
        if libc::getifaddrs(&mut addrs) != 0 {
            return None;
        }
        let mut found = None;
        let mut cur = addrs;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(ifa.ifa_name).to_str().ok() == Some(iface)
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                break;
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(addrs);
        found
    }
}

/// The address of the default-route interface, if this host has a default route. Read from
/// `/proc/self/net/route` (the same table as `/proc/net/route`, which is a symlink to it), which
/// stays visible under systemd's `ProcSubset=pid`.
pub fn default_route_ip() -> Option<IpAddr> {
    let table = std::fs::read_to_string("/proc/self/net/route").ok()?;
    interface_ipv4(&default_route_interface(&table)?).map(IpAddr::V4)
}

/// Whether `pid` names a live process other than this one (a zombie is dead).
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid == std::process::id() {
        return false;
    }
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(raw, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// From the text of `/proc/PID/stat`: the state after the parenthesised command is Z or X.
fn is_zombie(stat: &str) -> bool {
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    matches!(state, Some('Z') | Some('X'))
}

#[cfg(test)]
mod tests;
