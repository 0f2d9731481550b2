//! Per-address budgets for what an unauthenticated client can make the server store (a new
//! sign-in's authentication session): a fixed one-minute window per address, in memory. Each
//! node keeps its own (a cluster of N nodes allows N times the budget), which is enough for
//! its purpose: no single address can fill the disk.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many addresses are tracked at once; past this the oldest window is forgotten, so the
/// table cannot grow without bound under a flood from many addresses.
const MAX_TRACKED: usize = 100_000;

const WINDOW_SECS: i64 = 60;

/// A budget of `per_minute` writes per address (0: unlimited).
pub struct AddressBudget {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl AddressBudget {
    pub fn new(per_minute: u32) -> AddressBudget {
        AddressBudget {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one write of `address` at time `now` (seconds); false when its budget for the
    /// current minute is spent.
    pub fn spend(&self, address: &str, now: i64) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let Ok(mut windows) = self.windows.lock() else {
            return true;
        };
        let key = budget_key(address);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&key) {
            windows.retain(|_, (start, _)| now - *start < WINDOW_SECS);
            if windows.len() >= MAX_TRACKED {
                // Every tracked window is live: the new address goes uncounted this minute
                // rather than anyone's count being forgotten.
                return true;
            }
        }
        let (start, spent) = windows.entry(key).or_insert((now, 0));
        if now - *start >= WINDOW_SECS {
            (*start, *spent) = (now, 0);
        }
        if *spent >= self.per_minute {
            return false;
        }
        *spent += 1;
        true
    }
}

/// What one budget is kept for: an IPv4 address, or an IPv6 address's /64 (one subscriber's
/// network, whose addresses are free to rotate).
fn budget_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::AddressBudget;

    #[test]
    fn each_address_gets_its_budget_per_minute() {
        let budget = AddressBudget::new(3);
        assert_eq!([0, 1, 2, 3].map(|_| budget.spend("a", 100)), [true, true, true, false]);
        assert!(budget.spend("b", 100), "another address has its own budget");
        assert!(!budget.spend("a", 159), "still the same minute");
        assert!(budget.spend("a", 160), "a new minute, a new budget");
    }

    #[test]
    fn an_ipv6_network_shares_one_budget() {
        let budget = AddressBudget::new(2);
        assert!(budget.spend("2001:db8::1", 0));
        assert!(budget.spend("2001:db8::2", 0));
        assert!(!budget.spend("2001:db8::ffff", 0), "another address of the same /64");
        assert!(budget.spend("2001:db8:0:1::1", 0), "another /64");
    }

    #[test]
    fn zero_means_unlimited() {
        let budget = AddressBudget::new(0);
        assert!((0..1000).all(|_| budget.spend("a", 0)));
    }
}
