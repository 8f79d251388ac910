//! Network: Neutron v2.0 for Nimbus (catalog type `network`, served at
//! `/network/v2.0`). Networks, subnets with IPAM, ports, security groups.
//!
//! - [`types`]: what is stored. The node agent (`crates/agent`) reads networks,
//!   subnets and ports to build bridges, taps and DHCP; it writes only port status.
//! - Ports for servers are created by the compute API inside its own transaction
//!   (through this crate's allocation functions), so a server's addresses exist
//!   from the moment it does.

pub mod types;
