//! What a `User-Agent` says about a device, for people: browser, operating system, kind of
//! device. Parsed with `woothee` (Project Woothee's shared dataset); the header is capped
//! before it is stored, so parsing is bounded.

/// A browser as people recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Name and major version, e.g. `Chrome 131`; `Unknown` when unrecognised.
    pub browser: String,
    /// e.g. `Linux`, `Windows 10`, `iPhone`; `Unknown` when unrecognised.
    pub os: String,
    pub device: Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Desktop,
    Mobile,
    Tablet,
    Other,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Other => "other",
        })
    }
}

const UNKNOWN: &str = "Unknown";

/// Parsed agents by header text: a user's sessions come from the same few browsers, and the
/// sessions list shows them on every request. Bounded: emptied when full.
static PARSED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Agent>>> =
    std::sync::LazyLock::new(Default::default);

const PARSED_MAX: usize = 1024;

pub fn describe(user_agent: Option<&str>) -> Agent {
    let key = user_agent.map(crate::web::http::cap_user_agent).unwrap_or_default();
    if let Some(found) = PARSED.lock().ok().and_then(|m| m.get(key).cloned()) {
        return found;
    }
    let agent = parse(user_agent);
    if let Ok(mut m) = PARSED.lock() {
        if m.len() >= PARSED_MAX {
            m.clear();
        }
        m.insert(key.to_string(), agent.clone());
    }
    agent
}

fn parse(user_agent: Option<&str>) -> Agent {
    let unknown = Agent {
        browser: UNKNOWN.into(),
        os: UNKNOWN.into(),
        device: Device::Other,
    };
    let Some(ua) = user_agent.filter(|u| !u.is_empty()) else {
        return unknown;
    };
    let capped = crate::web::http::cap_user_agent(ua);
    let Some(found) = woothee::parser::Parser::new().parse(capped) else {
        return unknown;
    };
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_string());
    let major = found.version.split('.').next().unwrap_or_default();
    let browser = match known(found.name) {
        Some(name) if !major.is_empty() && major != "UNKNOWN" => format!("{name} {major}"),
        Some(name) => name,
        None => UNKNOWN.into(),
    };
    // Woothee counts tablets as smartphones: an iPad, or Android without "Mobile" (Google's
    // convention for tablets), is a tablet.
    let tablet = found.os == "iPad" || (found.os == "Android" && !capped.contains("Mobile"));
    Agent {
        browser,
        os: known(found.os).unwrap_or_else(|| UNKNOWN.into()),
        device: match found.category {
            "pc" => Device::Desktop,
            "smartphone" if tablet => Device::Tablet,
            "smartphone" | "mobilephone" => Device::Mobile,
            _ => Device::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_named_with_their_system_and_device() {
        let chrome_linux =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let a = describe(Some(chrome_linux));
        assert_eq!(
            (a.browser.as_str(), a.os.as_str(), a.device),
            ("Chrome 131", "Linux", Device::Desktop)
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let b = describe(Some(iphone));
        assert_eq!(
            (b.browser.as_str(), b.os.as_str(), b.device),
            ("Safari 17", "iPhone", Device::Mobile)
        );
        let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe(Some(ipad)).device, Device::Tablet);
        let galaxy_tab = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(describe(Some(galaxy_tab)).device, Device::Tablet);
        let pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
        assert_eq!(describe(Some(pixel)).device, Device::Mobile);
        let firefox_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let c = describe(Some(firefox_windows));
        assert_eq!((c.browser.as_str(), c.device), ("Firefox 133", Device::Desktop));
        assert!(c.os.starts_with("Windows"), "{c:?}");
    }

    #[test]
    fn nothing_or_nonsense_is_unknown() {
        for ua in [
            None,
            Some(""),
            Some("curl/8.5.0 \u{0}"),
            Some(&"x".repeat(100_000) as &str),
        ] {
            let a = describe(ua);
            assert_eq!(a.device, Device::Other, "{ua:?}");
        }
    }
}
