//! The order in which LDAP servers named by SRV records are tried (RFC 2782).
//!
//! RFC 2782: "A client MUST attempt to contact the target host with the
//! lowest-numbered priority it can reach; target hosts with the same priority
//! SHOULD be tried in an order defined by the weight field." Within one
//! priority the RFC's weighted draw is used: "compute the sum of the weights …
//! choose a uniform random number between 0 and the sum computed (inclusive),
//! and select the RR whose running sum value is the first in the selected
//! order which is greater than or equal to the random number selected."
//!
//! Weight 0: the RFC says "records with weight 0 should have a very small
//! chance of being selected". We take that chance as zero while any record of
//! the same priority with a positive weight is left: the draw is from
//! 1..=sum instead of 0..=sum (as Go's `net.LookupSRV` does). So weight-0
//! records are tried last within their priority, deterministically, and
//! weights 0 vs 100 always try the 100 first (DCDT D16).

use super::dns::SrvRecord;

/// RFC 2782: "A Target of '.' means that the service is decidedly not
/// available at this domain."
pub fn says_unavailable(records: &[SrvRecord]) -> bool {
    records.len() == 1 && records[0].target.is_empty()
}

/// `records` in the order to try them. `below(n)` returns a uniform number in
/// `0..n` (n ≥ 1).
pub fn order(mut records: Vec<SrvRecord>, below: &mut dyn FnMut(u32) -> u32) -> Vec<SrvRecord> {
    records.retain(|r| !r.target.is_empty());
    // "arrange all SRV RRs (that have not been ordered yet) in any order,
    // except that all those with weight 0 are placed at the beginning".
    records.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(|r| r.priority != first.priority)
            .unwrap_or(rest.len());
        let (group, tail) = rest.split_at(end);
        out.extend(by_weight(group.to_vec(), below));
        rest = tail;
    }
    out
}

/// One priority's records in weighted-random order.
fn by_weight(mut group: Vec<SrvRecord>, below: &mut dyn FnMut(u32) -> u32) -> Vec<SrvRecord> {
    let mut out = Vec::with_capacity(group.len());
    while !group.is_empty() {
        let sum = group
            .iter()
            .fold(0u32, |a, r| a.saturating_add(u32::from(r.weight)));
        let index = if sum == 0 {
            0
        } else {
            // A draw in 1..=sum: the first running sum ≥ it is never a weight-0 record.
            let draw = below(sum).min(sum - 1) + 1;
            let mut running = 0u32;
            group
                .iter()
                .position(|r| {
                    running = running.saturating_add(u32::from(r.weight));
                    running >= draw
                })
                .unwrap_or(0)
        };
        out.push(group.remove(index));
    }
    out
}

/// A uniform number in `0..n` from OpenSSL's CSPRNG (0 if it fails).
pub fn random_below(n: u32) -> u32 {
    let mut b = [0u8; 4];
    if n == 0 || openssl::rand::rand_bytes(&mut b).is_err() {
        return 0;
    }
    u32::from_le_bytes(b) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 389,
            target: target.into(),
        }
    }

    fn targets(v: &[SrvRecord]) -> Vec<&str> {
        v.iter().map(|r| r.target.as_str()).collect()
    }

    #[test]
    fn priority_first_then_weight() {
        let records = vec![rec(20, 0, "c"), rec(10, 5, "b"), rec(10, 0, "a")];
        for draw in [0, 1, 4, 99] {
            let got = order(records.clone(), &mut |n| draw % n);
            assert_eq!(targets(&got), ["b", "a", "c"], "draw {draw}");
        }
    }

    #[test]
    fn weight_zero_is_never_first_beside_a_weighted_record() {
        let records = vec![rec(0, 0, "zero"), rec(0, 100, "hundred")];
        for draw in 0..100 {
            let got = order(records.clone(), &mut |n| draw % n);
            assert_eq!(targets(&got), ["hundred", "zero"]);
        }
        // With the real generator too.
        for _ in 0..50 {
            let got = order(records.clone(), &mut random_below);
            assert_eq!(targets(&got), ["hundred", "zero"]);
        }
    }

    #[test]
    fn weights_share_the_draw() {
        let records = vec![rec(0, 30, "a"), rec(0, 70, "b")];
        assert_eq!(targets(&order(records.clone(), &mut |_| 0)), ["a", "b"]);
        assert_eq!(targets(&order(records.clone(), &mut |_| 29)), ["a", "b"]);
        assert_eq!(targets(&order(records.clone(), &mut |_| 30)), ["b", "a"]);
        assert_eq!(targets(&order(records, &mut |_| 99)), ["b", "a"]);
    }

    #[test]
    fn all_zero_keeps_the_given_order_and_dot_means_none() {
        let records = vec![rec(0, 0, "x"), rec(0, 0, "y")];
        assert_eq!(targets(&order(records, &mut |_| 0)), ["x", "y"]);
        assert!(says_unavailable(&[rec(0, 0, "")]));
        assert!(order(vec![rec(0, 0, "")], &mut |_| 0).is_empty());
        assert!(order(Vec::new(), &mut |_| 0).is_empty());
    }
}
