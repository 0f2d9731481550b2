//! Writes small GeoIP2-City-shaped `.mmdb` files (MaxMind DB format 2.0: a binary search tree
//! over the 128 address bits, a data section, the metadata) so tests never download one. The
//! server reads them with the `maxminddb` crate, as it reads a real database.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One network and the place the database gives for it.
pub struct Place {
    pub network: &'static str,
    pub prefix: u8,
    pub city: (&'static str, &'static str),
    pub country: (&'static str, &'static str),
    pub iso_code: &'static str,
}

/// Loopback (127.0.0.0/8, where tests connect from) is "Berlin, Germany".
pub const LOOPBACK_IN_BERLIN: Place = Place {
    network: "127.0.0.0",
    prefix: 8,
    city: ("Berlin", "Berlin"),
    country: ("Germany", "Deutschland"),
    iso_code: "DE",
};

/// Writes a database listing `places` to `dir/GeoLite2-City-test.mmdb`.
pub fn write_city_database(dir: &Path, places: &[Place]) -> PathBuf {
    let path = dir.join("GeoLite2-City-test.mmdb");
    std::fs::write(&path, city_database(places)).expect("the fixture database is written");
    path
}

#[derive(Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

fn city_database(places: &[Place]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    for place in places {
        let offset = data.len();
        encode_place(place, &mut data);
        insert(&mut nodes, &network_bits(place), offset);
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for node in &nodes {
        for record in node {
            let value = match *record {
                Record::Empty => count,
                Record::Node(n) => n,
                Record::Data(offset) => count + 16 + offset,
            };
            out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    metadata(count as u32, &mut out);
    out
}

/// The bits of the network's address in the 128-bit tree (IPv4 under `::/96`), `prefix` long.
fn network_bits(place: &Place) -> Vec<u8> {
    let addr: IpAddr = place.network.parse().expect("a fixture network is an address");
    let (bytes, prefix) = match addr {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[12..].copy_from_slice(&v4.octets());
            (b, 96 + place.prefix as usize)
        }
        IpAddr::V6(v6) => (v6.octets(), place.prefix as usize),
    };
    (0..prefix).map(|i| (bytes[i / 8] >> (7 - i % 8)) & 1).collect()
}

fn insert(nodes: &mut Vec<[Record; 2]>, bits: &[u8], offset: usize) {
    let mut current = 0;
    for (i, bit) in bits.iter().map(|b| *b as usize).enumerate() {
        if i + 1 == bits.len() {
            nodes[current][bit] = Record::Data(offset);
            return;
        }
        current = match nodes[current][bit] {
            Record::Node(next) => next,
            Record::Empty | Record::Data(_) => {
                nodes.push([Record::Empty; 2]);
                let next = nodes.len() - 1;
                nodes[current][bit] = Record::Node(next);
                next
            }
        };
    }
}

fn encode_place(place: &Place, out: &mut Vec<u8>) {
    let names = |out: &mut Vec<u8>, (en, de): (&str, &str)| {
        map_header(2, out);
        string("de", out);
        string(de, out);
        string("en", out);
        string(en, out);
    };
    map_header(2, out);
    string("city", out);
    map_header(1, out);
    string("names", out);
    names(out, place.city);
    string("country", out);
    map_header(2, out);
    string("iso_code", out);
    string(place.iso_code, out);
    string("names", out);
    names(out, place.country);
}

fn metadata(node_count: u32, out: &mut Vec<u8>) {
    map_header(9, out);
    string("binary_format_major_version", out);
    unsigned(5, 2, out);
    string("binary_format_minor_version", out);
    unsigned(5, 0, out);
    string("build_epoch", out);
    unsigned(9, 1_700_000_000, out);
    string("database_type", out);
    string("GeoLite2-City", out);
    string("description", out);
    map_header(1, out);
    string("en", out);
    string("Gatehouse test fixture", out);
    string("ip_version", out);
    unsigned(5, 6, out);
    string("languages", out);
    // An array (extended type 11) of two strings.
    out.extend_from_slice(&[2, 11 - 7]);
    string("de", out);
    string("en", out);
    string("node_count", out);
    unsigned(6, node_count as u64, out);
    string("record_size", out);
    unsigned(5, 24, out);
}

/// A control byte: the type in the top three bits (types past 7 extended in the next byte),
/// the size (below 29 here) in the low five.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    assert!(size < 29, "fixture values are short");
    if kind <= 7 {
        out.push((kind << 5) | size as u8);
    } else {
        out.push(size as u8);
        out.push(kind - 7);
    }
}

fn map_header(pairs: usize, out: &mut Vec<u8>) {
    control(7, pairs, out);
}

fn string(s: &str, out: &mut Vec<u8>) {
    control(2, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// An unsigned integer of type 5 (16 bits), 6 (32) or 9 (64), in as few bytes as it needs.
fn unsigned(kind: u8, value: u64, out: &mut Vec<u8>) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}
