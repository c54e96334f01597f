//! The demo city (placeholder until seeding lands).
use std::net::SocketAddr;
use std::path::Path;
use crate::error::AppError;
use crate::service::Service;
/// Printed credentials.
pub struct Credential { pub username: String, pub password: String, pub role: String }
/// Seeds.
pub fn seed_if_empty(_s: &Service, _n: usize) -> Result<Vec<Credential>, AppError> { Ok(vec![]) }
/// Prints.
pub fn print_credentials(_c: &[Credential], _l: SocketAddr, _d: &Path) {}
