//! End-to-end sync tests: a real server on a loopback port, devices with their own databases.

mod bad_input;
mod convergence;
mod crash;
mod faults;
mod incident_loop;
mod login;
mod merge;
mod photos;
mod rejected;
mod restore;
mod scope;
mod sim;
mod tasks;
