//! Address ranges (allowlists): CIDRs or single addresses, as organizations' and realms'
//! policies list them, and whether an address is within them.

/// A CIDR range, or one address as its own range; host bits cleared.
pub fn parse(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    let net = match text.parse::<ipnet::IpNet>() {
        Ok(net) => net,
        Err(_) => ipnet::IpNet::from(text.parse::<std::net::IpAddr>().ok()?),
    };
    // Addresses are compared as IPv4 when they are IPv4-mapped, so ranges are too.
    if let ipnet::IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
    {
        return ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
            .ok()
            .map(|n| ipnet::IpNet::V4(n.trunc()));
    }
    Some(net.trunc())
}

/// Whether `ip` is within one of the ranges (space-separated CIDRs); any address when there
/// are none, no unknown address when there are.
pub fn allowed(ranges: &str, ip: Option<&str>) -> bool {
    allowed_in(ranges.split_ascii_whitespace(), ip)
}

/// [`allowed`] for ranges listed one by one.
pub fn allowed_in<'a>(ranges: impl IntoIterator<Item = &'a str>, ip: Option<&str>) -> bool {
    let parsed: Option<Vec<ipnet::IpNet>> = ranges.into_iter().map(parse).collect();
    // A stored range that does not read (never written so) allows nothing rather than anything.
    let Some(ranges) = parsed else { return false };
    if ranges.is_empty() {
        return true;
    }
    let Some(addr) = ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) else {
        return false;
    };
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    let addr = match addr {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, std::net::IpAddr::V4),
        v4 => v4,
    };
    ranges.iter().any(|net| net.contains(&addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_hold_addresses_in_their_ranges() {
        assert!(allowed("", None));
        assert!(allowed("", Some("203.0.113.9")));
        assert!(allowed("127.0.0.1/32 10.0.0.0/8", Some("10.200.1.1")));
        assert!(allowed("127.0.0.1/32", Some("::ffff:127.0.0.1")));
        assert!(!allowed("127.0.0.1/32", Some("127.0.0.2")));
        assert!(!allowed("127.0.0.1/32", None));
        assert!(!allowed("127.0.0.1/32", Some("not an address")));
        assert!(!allowed("garbage", Some("127.0.0.1")));
    }

    #[test]
    fn address_ranges_are_cidrs_or_single_addresses() {
        assert_eq!(
            parse("192.0.2.7/24").map(|n| n.to_string()),
            Some("192.0.2.0/24".into())
        );
        assert_eq!(parse("127.0.0.1").map(|n| n.to_string()), Some("127.0.0.1/32".into()));
        assert_eq!(
            parse("2001:db8::1/32").map(|n| n.to_string()),
            Some("2001:db8::/32".into())
        );
        assert_eq!(parse("10.0.0.0/33"), None);
        assert_eq!(
            parse("::ffff:10.1.0.0/112").map(|n| n.to_string()),
            Some("10.1.0.0/16".into())
        );
        assert_eq!(parse("example.com"), None);
    }
}
