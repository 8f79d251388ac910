//! Stale DHCP leases. dnsmasq remembers every lease it gave (in memory and in its
//! lease file) and refuses to give an address leased to another MAC until that
//! lease expires ("not using configured address … because it is leased to …"), 12
//! hours here. Nimbus reuses a deleted port's address for the next port, so
//! without this the next guest with that address got no lease at all. Neutron's
//! DHCP agent calls `dhcp_release` on port delete; here, when a lease no longer
//! matches a `mac,ip` line of the hostsfile, dnsmasq is stopped, its lease file
//! rewritten without those leases, and dnsmasq started again ([`super::dhcp`]).

use std::collections::BTreeSet;

/// The lease file `leases` without the IPv4 leases that no `mac,ip[,name]` line of
/// `hosts` stands behind, or `None` when every lease still holds.
pub fn without_stale(leases: &str, hosts: &str) -> Option<String> {
    let wanted: BTreeSet<(String, &str)> = hosts
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((f.next()?.trim().to_ascii_lowercase(), f.next()?.trim()))
        })
        .collect();
    let mut dropped = false;
    let mut kept = String::new();
    for line in leases.lines() {
        // `<expiry> <mac> <ip> <hostname> <client id>`; other lines (the IPv6
        // `duid` line and leases) are not ours to judge.
        let f: Vec<&str> = line.split_whitespace().collect();
        let ipv4_lease =
            f.len() >= 3 && f[1].contains(':') && f[2].parse::<std::net::Ipv4Addr>().is_ok();
        if ipv4_lease && !wanted.contains(&(f[1].to_ascii_lowercase(), f[2])) {
            dropped = true;
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    dropped.then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "fa:16:3e:00:00:01,10.0.0.3,vm-a\nfa:16:3e:00:00:02,10.0.0.4\n";

    #[test]
    fn leases_that_match_the_hostsfile_stay() {
        let leases = "1764200000 fa:16:3e:00:00:01 10.0.0.3 vm-a 01:fa:16:3e:00:00:01\n\
                      1764200000 FA:16:3E:00:00:02 10.0.0.4 * *\n";
        assert_eq!(without_stale(leases, HOSTS), None);
        assert_eq!(without_stale("", HOSTS), None);
    }

    #[test]
    fn a_reused_address_or_a_deleted_port_drops_its_lease() {
        // 10.0.0.4 was leased to a port that is gone; its address now belongs to :02.
        let leases = "1764200000 fa:16:3e:00:00:01 10.0.0.3 vm-a *\n\
                      1764200000 fa:16:3e:00:00:09 10.0.0.4 old *\n\
                      1764200000 fa:16:3e:00:00:08 10.0.0.7 gone *\n\
                      duid 00:01:00:01:2c:aa:bb:cc\n";
        assert_eq!(
            without_stale(leases, HOSTS).unwrap(),
            "1764200000 fa:16:3e:00:00:01 10.0.0.3 vm-a *\nduid 00:01:00:01:2c:aa:bb:cc\n"
        );
    }

    #[test]
    fn a_port_whose_address_changed_drops_the_old_lease() {
        let leases = "1764200000 fa:16:3e:00:00:02 10.0.0.9 * *\n";
        assert_eq!(without_stale(leases, HOSTS).unwrap(), "");
    }
}
