//! The node agent (ADR 0004): owns one host. It registers the host as a
//! `Hypervisor`, watches the servers bound to it (and their ports, networks and
//! subnets), makes the host match them (QEMU guests, disks, config drives, the
//! dataplane), and writes what it observes back into the store.
