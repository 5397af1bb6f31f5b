//! The portal, tested in a real browser (Debian's Chromium through chromedriver) and over raw
//! HTTP: one module per area of the portal.

mod access;
pub mod browser;
mod pages;
mod repository;
mod settings;
mod tasks;
