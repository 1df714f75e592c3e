//! The discovery caches: answers per place (a DNS name, an SRV name, an LDAP
//! mail value), each kept until a deadline computed from the clock the caller
//! reads; expired entries are dropped on the next insert.

use std::collections::HashMap;
use std::sync::Mutex;

/// A small expiring map; the caller gives the time.
#[derive(Debug)]
pub struct Cache<T> {
    entries: Mutex<HashMap<String, (i64, T)>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Cache<T> {
    /// The value under `key`, unless it expired by `now`.
    pub fn get(&self, key: &str, now: i64) -> Option<T> {
        let map = self.entries.lock().ok()?;
        map.get(key)
            .filter(|(until, _)| *until > now)
            .map(|(_, v)| v.clone())
    }

    /// Keep `value` for `ttl` seconds (0: not at all).
    pub fn put(&self, key: &str, value: T, ttl: u64, now: i64) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        map.retain(|_, (until, _)| *until > now);
        if ttl > 0 {
            let until = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
            map.insert(key.to_string(), (until, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_until_the_deadline_and_not_at_all_for_zero() {
        let c: Cache<u8> = Cache::default();
        c.put("a", 1, 10, 100);
        assert_eq!(c.get("a", 109), Some(1));
        assert_eq!(c.get("a", 110), None);
        c.put("b", 2, 0, 100);
        assert_eq!(c.get("b", 100), None);
        c.put("c", 3, u64::MAX, 100);
        assert_eq!(c.get("c", i64::MAX - 1), Some(3));
    }
}
