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

#[cfg(test)]
mod tests {
    use sqlx::{ConnectOptions, Connection};

    use super::*;
    use crate::trust::inventory::tests::rpm_blob;

    #[tokio::test]
    async fn packages_come_from_an_rpmdb_in_wal_mode_read_from_memory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rpmdb.sqlite");
        let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", path.display()))
            .expect("options")
            .connect()
            .await
            .expect("create");
        for sql in [
            "PRAGMA journal_mode = WAL",
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
        let s = |v: &str| format!("{v}\0").into_bytes();
        for (name, version, release) in [("openssl-libs", "3.0.7", "27.el9"), ("gpg-pubkey", "fd431d51", "4ae0493b")] {
            let blob = rpm_blob(&[
                (1000, 6, s(name)),
                (1001, 6, s(version)),
                (1002, 6, s(release)),
                (1044, 6, s("openssl-3.0.7-27.el9.src.rpm")),
            ]);
            sqlx::query("INSERT INTO Packages (blob) VALUES ($1)").bind(blob).execute(&mut conn).await.expect("insert");
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.expect("checkpoint");
        conn.close().await.expect("close");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes[18], 2, "the file says WAL");
        let distro = Distro { id: "rocky".into(), version_id: "9.3".into(), pretty_name: None };
        let found = packages(bytes, Some(&distro)).await.expect("packages");
        let names: Vec<(&str, &str, &str)> =
            found.iter().map(|p| (p.ecosystem.as_str(), p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(names, [("Rocky Linux", "openssl-libs", "3.0.7-27.el9")], "gpg-pubkey rows are keys, not packages");
        assert_eq!(found[0].source.as_deref(), Some("openssl"));
        assert!(packages(b"not a database".to_vec(), None).await.is_err());
    }
}
