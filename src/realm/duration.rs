//! Durations written as in realm files: `90s`, `5m`, `10h`, `7d` (or a plain number of seconds).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    pub const fn seconds(s: i64) -> Duration {
        Duration(s)
    }
    pub const fn minutes(m: i64) -> Duration {
        Duration(m * 60)
    }
    pub const fn hours(h: i64) -> Duration {
        Duration(h * 3600)
    }
    pub fn as_secs(self) -> i64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("'{text}' is not a duration such as 30s, 5m, 10h or 7d"))?;
        let factor = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return Err(format!("'{text}' has an unknown unit '{unit}': use s, m, h or d")),
        };
        n.checked_mul(factor)
            .filter(|s| *s > 0)
            .map(Duration)
            .ok_or_else(|| format!("'{text}' must be a positive duration"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s % 86400 == 0 {
            write!(f, "{}d", s / 86400)
        } else if s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) if s > 0 => Ok(Duration(s)),
            Raw::Seconds(s) => Err(serde::de::Error::custom(format!("{s} must be a positive duration"))),
            Raw::Text(t) => Duration::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Duration::parse("90s").unwrap().as_secs(), 90);
        assert_eq!(Duration::parse("5m").unwrap().as_secs(), 300);
        assert_eq!(Duration::parse("10h").unwrap().as_secs(), 36000);
        assert_eq!(Duration::parse("7d").unwrap().as_secs(), 604800);
        assert_eq!(Duration::parse("42").unwrap().as_secs(), 42);
        assert!(Duration::parse("5 minutes").is_err());
        assert!(Duration::parse("0m").is_err());
        assert!(Duration::parse("m").is_err());
    }

    #[test]
    fn displays_in_largest_unit() {
        assert_eq!(Duration::minutes(30).to_string(), "30m");
        assert_eq!(Duration::seconds(90).to_string(), "90s");
        assert_eq!(Duration::hours(48).to_string(), "2d");
    }
}
