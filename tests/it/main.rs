#![allow(unreachable_pub)]
//! The one integration-test binary: every test talks to a real Berth server over TCP on
//! 127.0.0.1:0, through raw HTTP or through a client that nobody here wrote.

mod support;
mod tasks;

mod acr;
mod acr_listings;
mod audit;
mod auth;
mod cli;
mod clients;
mod crash;
mod hostile;
mod lifecycle;
mod matrix;
mod nodes;
mod observability;
mod oci;
mod openapi;
pub mod portal;
mod process;
mod quarantine;
mod redirect;
mod s3;
mod security;
pub mod trust;
mod usage;
mod vulndb;
mod webhooks;
