//! rpm's package database, `rpmdb.sqlite` (rpm 4.16 and later: Fedora 33+, RHEL 9, Rocky,
//! Alma), read from the scanner's bounded in-memory copy: SQLite opens it as an in-memory
//! database (nothing is written to disk), and each row of `Packages` is an rpm header blob.
//! Older BerkeleyDB and SUSE's ndb databases are not read (the inventory notes them).

use std::str::FromStr;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteOwnedBuf};
use sqlx::{ConnectOptions, Row};

use super::Error;
use super::inventory::{Distro, Package, rpm_header};

/// Rows read at most: far more packages than any distribution installs.
const MAX_PACKAGES: usize = 100_000;

/// The packages recorded in `db`, with the OSV ecosystem of `distro`.
pub async fn packages(mut db: Vec<u8>, distro: Option<&Distro>) -> Result<Vec<Package>, Error> {
    // A database in WAL mode (header bytes 18-19 = 2) cannot be opened from memory; its main
    // file alone is the state as of its last checkpoint, which rpm takes on close.
    if db.len() >= 100 && db.starts_with(b"SQLite format 3\0") {
        db[18] = 1;
        db[19] = 1;
    }
    let bad = |e: sqlx::Error| Error::Unreadable(format!("not a readable SQLite database: {e}"));
    let buf = SqliteOwnedBuf::try_from(db.as_slice()).map_err(bad)?;
    drop(db);
    let mut conn = SqliteConnectOptions::from_str("sqlite::memory:").map_err(bad)?.connect().await.map_err(bad)?;
    conn.deserialize(None, buf, true).await.map_err(bad)?;
    let ecosystem = distro.and_then(Distro::ecosystem).unwrap_or_else(|| "Red Hat".to_string());
    let mut found = Vec::new();
    let mut rows = sqlx::query("SELECT blob FROM Packages").fetch(&mut conn);
    while let Some(row) = rows.try_next().await.map_err(bad)? {
        if found.len() >= MAX_PACKAGES {
            break;
        }
        let blob: Vec<u8> = row.try_get(0).map_err(bad)?;
        // gpg-pubkey rows are the keys rpm trusts, not packages.
        if let Ok(h) = rpm_header(&blob)
            && h.name != "gpg-pubkey"
        {
            found.push(h.to_package(&ecosystem, "/var/lib/rpm/rpmdb.sqlite"));
        }
    }
    Ok(found)
}
