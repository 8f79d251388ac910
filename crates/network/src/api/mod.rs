//! The Neutron v2.0 routes under `/network`.
