//! `ip-range`: the client's address is in one of `cidrs` (IPv4 or IPv6, e.g. 10.0.0.0/8).

use std::net::IpAddr;

use serde_json::Value;

use super::Condition;
use crate::flow::step::Step;
use crate::flow::{EngineError, FlowContext};

pub struct IpRange;

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}' has a bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_match(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_match(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], addr: &[u8], prefix: u8) -> bool {
    let full = (prefix / 8) as usize;
    if net[..full] != addr[..full] {
        return false;
    }
    let rest = prefix % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        net[full] & mask == addr[full] & mask
    }
}

#[async_trait::async_trait]
impl Condition for IpRange {
    fn name(&self) -> &'static str {
        "ip-range"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["cidrs", "negate"], &["cidrs"])?;
        for c in crate::flow::step::string_list(config, "cidrs")? {
            Cidr::parse(&c)?;
        }
        Ok(())
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, _: &[Step]) -> Result<bool, EngineError> {
        let Some(ip) = ctx.ip.as_deref().and_then(|i| i.parse::<IpAddr>().ok()) else {
            return Ok(false);
        };
        let cidrs = crate::flow::step::string_list(config, "cidrs").unwrap_or_default();
        let inside = cidrs.iter().filter_map(|c| Cidr::parse(c).ok()).any(|c| c.contains(ip));
        Ok(inside != super::negated(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.5".parse().unwrap()));
        let c = Cidr::parse("192.168.1.0/25").unwrap();
        assert!(c.contains("192.168.1.127".parse().unwrap()));
        assert!(!c.contains("192.168.1.128".parse().unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8:1::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}
