//! Approximate locations ("Berlin, Germany") of client addresses, from an optional
//! MaxMind GeoIP2/GeoLite2 City or DB-IP City Lite `.mmdb` file named by `geoip_database`.
//! Without one, nothing has a location. Addresses are looked up when shown, so nothing
//! derived from an address is stored, and a newer database file names old sessions too.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

/// The database, read into memory once at start.
pub struct GeoIp {
    reader: Option<Reader<Vec<u8>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read the GeoIP database {path}: {reason} (a MaxMind or DB-IP City .mmdb file)")]
pub struct GeoIpError {
    path: String,
    reason: String,
}

impl GeoIp {
    /// No database: no address has a location.
    pub fn none() -> GeoIp {
        GeoIp { reader: None }
    }

    /// Reads the database at `path`, refusing a file that is not one.
    pub fn open(path: &Path) -> Result<GeoIp, GeoIpError> {
        let fail = |reason: String| GeoIpError {
            path: path.display().to_string(),
            reason,
        };
        let reader = Reader::open_readfile(path).map_err(|e| fail(e.to_string()))?;
        Ok(GeoIp { reader: Some(reader) })
    }

    pub fn is_enabled(&self) -> bool {
        self.reader.is_some()
    }

    /// "City, Country" (or the one that is known) for an address, in `lang` (`de` or
    /// English otherwise); `None` for private addresses the database does not list, for text
    /// that is no address, and without a database.
    pub fn locate(&self, ip: &str, lang: &str) -> Option<String> {
        let reader = self.reader.as_ref()?;
        let addr: IpAddr = ip.parse().ok()?;
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        let city: geoip2::City = reader.lookup(addr).ok()?.decode().ok()??;
        let name = |names: &geoip2::Names<'_>| {
            let localized = if lang == "de" { names.german } else { None };
            localized.or(names.english).map(str::to_string)
        };
        let parts: Vec<String> = [name(&city.city.names), name(&city.country.names)]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
