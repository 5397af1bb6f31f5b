//! Usage and quota (ACR's `show-usage`): bytes stored with shared content counted once, the
//! tier's limits, and the recount that checks the usage counters. The quota check that holds
//! runs in the metadata store, inside the transaction that adds the bytes; the one here only
//! refuses early, before an upload's object is written.

use super::{Error, Registry, Result};
use crate::config::Sku;
use crate::meta::UsageRecount;

const GIB: u64 = 1 << 30;

/// The tier and storage limit in effect: settings changed through the API, else the
/// configuration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub sku: Sku,
    pub storage_bytes: u64,
    pub webhooks: u64,
    pub geo_replications: u64,
    pub ip_rules: u64,
    pub tokens: u64,
    pub scope_maps: u64,
}

impl Limits {
    /// ACR's published limits per tier; `quota` replaces the included storage.
    pub fn of(sku: Sku, quota: Option<u64>) -> Self {
        let (storage, webhooks, geo, ip_rules, tokens) = match sku {
            Sku::Basic => (10 * GIB, 2, 0, 0, 100),
            Sku::Standard => (100 * GIB, 10, 0, 0, 500),
            Sku::Premium => (500 * GIB, 500, 50, 200, 50_000),
        };
        Self {
            sku,
            storage_bytes: quota.unwrap_or(storage),
            webhooks,
            geo_replications: geo,
            ip_rules,
            tokens,
            scope_maps: tokens,
        }
    }
}

/// One line of `show-usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageItem {
    pub name: &'static str,
    pub current: u64,
    pub limit: u64,
    pub unit: &'static str,
}

/// Setting names in the metadata store.
const SKU_SETTING: &str = "sku";
const QUOTA_SETTING: &str = "storage_quota";

impl Registry {
    pub async fn limits(&self) -> Result<Limits> {
        let sku = match self.meta.setting(SKU_SETTING).await? {
            Some(s) => Sku::parse(&s).unwrap_or(self.defaults.sku),
            None => self.defaults.sku,
        };
        let quota = match self.meta.setting(QUOTA_SETTING).await? {
            Some(q) => q.parse().ok(),
            None => self.defaults.storage_quota,
        };
        Ok(Limits::of(sku, quota))
    }

    /// Sets the tier and/or the storage quota (`Some(None)` returns to the tier's storage).
    pub async fn set_limits(&self, sku: Option<Sku>, quota: Option<Option<u64>>) -> Result<Limits> {
        if let Some(sku) = sku {
            self.meta.set_setting(SKU_SETTING, sku.as_str()).await?;
        }
        match quota {
            Some(Some(q)) => self.meta.set_setting(QUOTA_SETTING, &q.to_string()).await?,
            // An empty value parses as no quota: the tier's storage applies.
            Some(None) => self.meta.set_setting(QUOTA_SETTING, "").await?,
            None => {}
        }
        self.limits().await
    }

    /// The bytes stored, every distinct blob and manifest once (the counters: no sums).
    pub async fn storage_used(&self) -> Result<u64> {
        Ok(self.meta.usage().await?.total())
    }

    /// Recomputes usage from the stored blobs and manifests, compares it with the counters and
    /// repairs them if they differ.
    pub async fn recount_usage(&self) -> Result<UsageRecount> {
        Ok(self.meta.recount_usage().await?)
    }

    /// `show-usage`: storage against its limit, and the counted resources against theirs.
    pub async fn usage(&self) -> Result<Vec<UsageItem>> {
        let limits = self.limits().await?;
        let (tokens, scope_maps) = self.meta.token_counts().await?;
        let item = |name, current, limit, unit| UsageItem { name, current, limit, unit };
        Ok(vec![
            item("Size", self.storage_used().await?, limits.storage_bytes, "Bytes"),
            item("Webhooks", self.meta.webhook_count().await?, limits.webhooks, "Count"),
            item("Geo-replications", 0, limits.geo_replications, "Count"),
            item("IPRules", 0, limits.ip_rules, "Count"),
            item("ScopeMaps", scope_maps, limits.scope_maps, "Count"),
            item("Tokens", tokens, limits.tokens, "Count"),
        ])
    }

    /// Refuses a new repository token (`scope_map` false) or scope map past the tier's limit.
    pub async fn check_room(&self, scope_map: bool) -> Result<()> {
        let limits = self.limits().await?;
        let (tokens, maps) = self.meta.token_counts().await?;
        let (what, count, limit) =
            if scope_map { ("scope maps", maps, limits.scope_maps) } else { ("tokens", tokens, limits.tokens) };
        if count >= limit {
            return Err(Error::LimitReached(format!(
                "the {} tier allows {limit} {what} and {count} exist (berth update --sku raises the limit)",
                limits.sku.as_str()
            )));
        }
        Ok(())
    }

    /// Refuses early a push that would store `adding` more bytes past `limit`, before its
    /// object is written (cheap: the counters). Concurrent pushes can all pass this; the
    /// metadata store's check in the transaction that records the bytes is the one that holds.
    pub(super) async fn check_quota_early(&self, adding: u64, limit: u64) -> Result<()> {
        if adding == 0 {
            return Ok(());
        }
        let used = self.storage_used().await?;
        if used.saturating_add(adding) > limit {
            return Err(Error::QuotaExceeded { used, limit, adding });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_acr() {
        let basic = Limits::of(Sku::Basic, None);
        assert_eq!((basic.storage_bytes, basic.webhooks, basic.tokens), (10 * GIB, 2, 100));
        let standard = Limits::of(Sku::Standard, None);
        assert_eq!((standard.storage_bytes, standard.webhooks, standard.scope_maps), (100 * GIB, 10, 500));
        let premium = Limits::of(Sku::Premium, Some(7));
        assert_eq!((premium.storage_bytes, premium.webhooks, premium.tokens), (7, 500, 50_000));
    }
}
