//! The registry's key codec, the one place that knows how a record looks in etcd: `run` writes
//! with [`render`], `lbsync` reads with [`parse`]. `keys`: `P<name>/{unit,host,public_ipv4_addr,
//! private_ipv4_addr,port}` plus `public_ipv6_addr`/`private_ipv6_addr` for IPv6 (each address
//! field only when the record has it); `json`: one object at `P<name>`; with a `--value-template`, one key
//! holding the template's text (written only; not an instance lbsync reads). Reading is pure: anything incomplete
//! or invalid is skipped with a reason naming the key.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::{KeyFormat, Layout, Record};

/// The five fields the 2014 sidekick wrote, in its order.
pub const FIELDS: [&str; 5] = [
    "unit",
    "host",
    "public_ipv4_addr",
    "private_ipv4_addr",
    "port",
];

/// The IPv6 fields, written beside [`FIELDS`] when the record has IPv6 addresses.
pub const IPV6_FIELDS: [&str; 2] = ["public_ipv6_addr", "private_ipv6_addr"];

/// `lbsync --address-family`: which address of an instance makes its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddressFamily {
    #[default]
    Ipv4,
    Ipv6,
    /// IPv4 when the instance has one, else IPv6.
    Any,
}

impl AddressFamily {
    /// The spellings `--address-family` accepts, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["ipv4", "ipv6", "any"];

    /// The fields read for the address, the first present one wins.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            AddressFamily::Ipv4 => &["public_ipv4_addr"],
            AddressFamily::Ipv6 => &["public_ipv6_addr"],
            AddressFamily::Any => &["public_ipv4_addr", "public_ipv6_addr"],
        }
    }
}

impl std::str::FromStr for AddressFamily {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ipv4" => Ok(AddressFamily::Ipv4),
            "ipv6" => Ok(AddressFamily::Ipv6),
            "any" => Ok(AddressFamily::Any),
            _ => Err(format!(
                "unknown address family {s:?}: expected one of {}",
                AddressFamily::NAMES.join(", ")
            )),
        }
    }
}

/// The keys and values that announce `record` under `layout`.
pub fn render(layout: &Layout, record: &Record) -> BTreeMap<String, String> {
    if let Some(t) = &layout.template {
        return BTreeMap::from([(layout.prefix.clone(), t.render(record))]);
    }
    match layout.format {
        KeyFormat::Keys => record
            .fields()
            .into_iter()
            .map(|(f, v)| (layout.field_key(f), v))
            .collect(),
        KeyFormat::Json => {
            let json = serde_json::to_string(record).unwrap_or_default();
            BTreeMap::from([(layout.prefix.clone(), json)])
        }
    }
}

/// One registered, complete, valid instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub name: String,
    pub addr: SocketAddr,
}

/// A key that does not describe a usable instance, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// Which fields hold the address nodes are made of, by default (`--address-family ipv4`).
pub const DEFAULT_ADDRESS_FIELD: &[&str] = &["public_ipv4_addr"];

fn parse_port(v: &str) -> Result<u16, String> {
    match v.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(format!("port {v:?} is not a number from 1 to 65535")),
    }
}

fn parse_ip(field: &str, v: &str) -> Result<IpAddr, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{field} {v:?} is not an IPv4 or IPv6 address"))
}

/// The first of `fields` that `has`, else the error text naming them all.
fn first_field<'f>(fields: &[&'f str], has: impl Fn(&str) -> bool) -> Result<&'f str, String> {
    fields
        .iter()
        .copied()
        .find(|f| has(f))
        .ok_or_else(|| fields.join(" or "))
}

fn from_json(value: &str, fields: &[&str]) -> Result<SocketAddr, String> {
    let v: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let address_field = first_field(fields, |f| obj.get(f).is_some_and(|a| a.is_string()))
        .map_err(|names| format!("no {names} string"))?;
    let ip = obj
        .get(address_field)
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    let port = match obj.get("port") {
        Some(serde_json::Value::Number(n)) => parse_port(&n.to_string())?,
        Some(serde_json::Value::String(s)) => parse_port(s)?,
        _ => return Err("no port".into()),
    };
    Ok(SocketAddr::new(parse_ip(address_field, ip)?, port))
}

/// One instance's address from its field keys; the error names the key at fault (`None`: the
/// instance has neither an address nor a port key).
fn from_fields(
    f: &HashMap<&str, (&str, &str)>,
    fields: &[&str],
) -> Result<SocketAddr, (Option<String>, String)> {
    let at = |key: &str, reason: String| (Some(key.to_string()), reason);
    let address_field = first_field(fields, |n| f.contains_key(n))
        .map(str::to_string)
        .unwrap_or_else(|names| names);
    let address_field = address_field.as_str();
    match (f.get(address_field), f.get("port")) {
        (Some((ip_key, ip)), Some((port_key, port))) => {
            let ip = parse_ip(address_field, ip).map_err(|r| at(ip_key, r))?;
            let port = parse_port(port).map_err(|r| at(port_key, r))?;
            Ok(SocketAddr::new(ip, port))
        }
        (None, Some((port_key, _))) => {
            Err(at(port_key, format!("incomplete: no {address_field} key")))
        }
        (Some((ip_key, _)), None) => Err(at(ip_key, "incomplete: no port key".into())),
        (None, None) => Err((None, format!("incomplete: no {address_field} key"))),
    }
}

fn add(out: &mut BTreeMap<String, Instance>, name: &str, addr: SocketAddr) {
    out.insert(
        name.to_string(),
        Instance {
            name: name.to_string(),
            addr,
        },
    );
}

/// Reads every key under `prefix` into instances and skipped keys; an instance's address is the
/// first of `fields` it has ([`AddressFamily::fields`]).
pub fn parse(
    prefix: &str,
    kvs: &BTreeMap<String, String>,
    address_fields: &[&str],
) -> (BTreeMap<String, Instance>, Vec<Skipped>) {
    let mut fields: BTreeMap<&str, HashMap<&str, (&str, &str)>> = BTreeMap::new();
    let mut json: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (key, value) in kvs {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        match rest.split_once('/') {
            None if rest.is_empty() => skipped.push(Skipped {
                key: key.clone(),
                reason: "the prefix itself holds a value".into(),
            }),
            None => {
                json.insert(rest, (key.as_str(), value.as_str()));
            }
            Some((name, field))
                if !name.is_empty() && !field.is_empty() && !field.contains('/') =>
            {
                fields
                    .entry(name)
                    .or_default()
                    .insert(field, (key.as_str(), value.as_str()));
            }
            Some(_) => skipped.push(Skipped {
                key: key.clone(),
                reason: "not PREFIX<name>/<field>".into(),
            }),
        }
    }
    let mut out = BTreeMap::new();
    for (name, f) in &fields {
        match from_fields(f, address_fields) {
            Ok(addr) => add(&mut out, name, addr),
            // A complete JSON object under the same name is used instead.
            Err(_) if json.contains_key(name) => {}
            Err((key, reason)) => skipped.push(Skipped {
                key: key.unwrap_or_else(|| format!("{prefix}{name}/")),
                reason,
            }),
        }
    }
    for (name, (key, value)) in json {
        if out.contains_key(name) {
            continue;
        }
        match from_json(value, address_fields) {
            Ok(addr) => add(&mut out, name, addr),
            Err(reason) => skipped.push(Skipped {
                key: key.to_string(),
                reason,
            }),
        }
    }
    (out, skipped)
}

/// The addresses of a set of instances, without duplicates.
pub fn addresses(instances: &BTreeMap<String, Instance>) -> BTreeSet<SocketAddr> {
    instances.values().map(|i| i.addr).collect()
}

#[cfg(test)]
mod tests;
