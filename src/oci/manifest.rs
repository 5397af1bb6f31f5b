//! Manifest parsing: decides the media type, validates the shape and lists what a manifest
//! references (config, layers, child manifests, subject). The exact bytes are stored untouched;
//! this only reads them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerManifestList,
}

impl MediaType {
    pub const OCI_MANIFEST: &'static str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &'static str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &'static str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &'static str = "application/vnd.docker.distribution.manifest.list.v2+json";

    pub fn parse(s: &str) -> Option<Self> {
        // Parameters such as "; charset=utf-8" do not change the type.
        match s.split(';').next().unwrap_or_default().trim() {
            Self::OCI_MANIFEST => Some(Self::OciManifest),
            Self::OCI_INDEX => Some(Self::OciIndex),
            Self::DOCKER_MANIFEST => Some(Self::DockerManifest),
            Self::DOCKER_MANIFEST_LIST => Some(Self::DockerManifestList),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OciManifest => Self::OCI_MANIFEST,
            Self::OciIndex => Self::OCI_INDEX,
            Self::DockerManifest => Self::DOCKER_MANIFEST,
            Self::DockerManifestList => Self::DOCKER_MANIFEST_LIST,
        }
    }

    fn is_index(&self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerManifestList)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest schemaVersion must be 2")]
    SchemaVersion,
    #[error("manifest media type {0:?} is not supported")]
    UnsupportedMediaType(String),
    #[error("manifest mediaType {body:?} does not match Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("{0} manifest must have a {1:?} field")]
    MissingField(&'static str, &'static str),
    #[error("an image index cannot have {0:?}")]
    IndexWithField(&'static str),
    #[error("manifest names {0} distinct blobs and manifests; at most {MAX_REFERENCES} are accepted")]
    TooManyReferences(usize),
}

/// Distinct blobs and manifests one manifest may name: far more than any image (a few hundred
/// layers at most) or index needs, few enough that storing one stays a short transaction.
pub const MAX_REFERENCES: usize = 10_000;

/// What a manifest points at, and how the registry treats the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// A blob the repository must hold: the config or a layer.
    Blob,
    /// A layer with `urls` (foreign / non-distributable): it need not be in the registry.
    ForeignLayer,
    /// A manifest listed by an index: the repository must hold it.
    Child,
    /// The `subject` of a referrer: it may be pushed later, or never.
    Subject,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blob => "blob",
            Self::ForeignLayer => "foreign",
            Self::Child => "child",
            Self::Subject => "subject",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub digest: Digest,
    pub kind: RefKind,
}

/// Everything the registry needs to know about a manifest, read from its bytes.
#[derive(Debug, Clone)]
pub struct ManifestInfo {
    pub media_type: MediaType,
    /// `artifactType` as the referrers API reports it: the manifest's own, else (for an image
    /// manifest) its config's media type.
    pub artifact_type: Option<String>,
    pub config_digest: Option<Digest>,
    pub subject: Option<Digest>,
    pub references: Vec<Reference>,
    /// The manifest's annotations as a JSON object, if it has any.
    pub annotations: Option<String>,
    /// An image's config media type.
    pub config_media_type: Option<String>,
    /// Bytes of the config and layers an image manifest names (0 for an index).
    pub referenced_size: u64,
    /// An index's entries with the platform each declares.
    pub platforms: Vec<ChildPlatform>,
}

/// Serialized as listings keep it (`{"digest", "architecture", "os"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ChildPlatform {
    pub digest: Digest,
    pub architecture: Option<String>,
    pub os: Option<String>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: Option<String>,
    os: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: Digest,
    size: u64,
    #[serde(default)]
    urls: Vec<String>,
    platform: Option<Platform>,
}

impl ManifestInfo {
    /// Parses manifest bytes. `content_type` is the request's `Content-Type`, used when the
    /// manifest has no `mediaType` field (allowed by OCI; umoci writes such manifests).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if raw.schema_version.as_ref().and_then(|v| v.as_i64()) != Some(2) {
            return Err(ManifestError::SchemaVersion);
        }
        let header = content_type.and_then(MediaType::parse);
        let media_type = match (&raw.media_type, header) {
            (Some(body), header) => {
                let parsed = MediaType::parse(body).ok_or_else(|| ManifestError::UnsupportedMediaType(body.clone()))?;
                if let (Some(h), Some(ct)) = (header, content_type)
                    && h != parsed
                {
                    return Err(ManifestError::MediaTypeMismatch { body: body.clone(), header: ct.to_owned() });
                }
                parsed
            }
            (None, Some(h)) => h,
            (None, None) if raw.manifests.is_some() => MediaType::OciIndex,
            (None, None) => MediaType::OciManifest,
        };

        let mut references = Vec::new();
        let mut config_digest = None;
        let mut config_media_type = None;
        let mut referenced_size = 0u64;
        let mut platforms = Vec::new();
        let mut artifact_type = raw.artifact_type.clone();
        if media_type.is_index() {
            if raw.config.is_some() {
                return Err(ManifestError::IndexWithField("config"));
            }
            if raw.layers.is_some() {
                return Err(ManifestError::IndexWithField("layers"));
            }
            let children = raw.manifests.ok_or(ManifestError::MissingField("an index", "manifests"))?;
            for d in children {
                let (architecture, os) = d.platform.map(|p| (p.architecture, p.os)).unwrap_or_default();
                platforms.push(ChildPlatform { digest: d.digest.clone(), architecture, os });
                references.push(Reference { digest: d.digest, kind: RefKind::Child });
            }
        } else {
            let config = raw.config.ok_or(ManifestError::MissingField("an image", "config"))?;
            if artifact_type.is_none() {
                artifact_type = config.media_type.clone();
            }
            config_digest = Some(config.digest.clone());
            config_media_type = config.media_type.clone();
            referenced_size = config.size;
            references.push(Reference { digest: config.digest, kind: RefKind::Blob });
            let layers = match (raw.layers, &media_type) {
                (Some(l), _) => l,
                (None, MediaType::DockerManifest) => {
                    return Err(ManifestError::MissingField("a Docker", "layers"));
                }
                (None, _) => Vec::new(),
            };
            for d in layers {
                referenced_size = referenced_size.saturating_add(d.size);
                let kind = if d.urls.is_empty() { RefKind::Blob } else { RefKind::ForeignLayer };
                references.push(Reference { digest: d.digest, kind });
            }
        }
        let subject = raw.subject.map(|s| s.digest);
        if let Some(s) = &subject {
            references.push(Reference { digest: s.clone(), kind: RefKind::Subject });
        }
        // A blob listed twice is one reference, and one row.
        let mut seen = std::collections::HashSet::new();
        references.retain(|r| seen.insert((r.digest.clone(), r.kind)));
        if references.len() > MAX_REFERENCES {
            return Err(ManifestError::TooManyReferences(references.len()));
        }
        let mut seen = std::collections::HashSet::new();
        platforms.retain(|p| seen.insert(p.digest.clone()));
        let annotations = raw.annotations.filter(|a| !a.is_empty()).map(|a| serde_json::to_string(&a)).transpose();
        Ok(Self {
            media_type,
            artifact_type,
            config_digest,
            subject,
            references,
            annotations: annotations.map_err(|e| ManifestError::Json(e.to_string()))?,
            config_media_type,
            referenced_size,
            platforms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifest_lists_config_layers_and_subject() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.example+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"x","digest":"{}","size":1}},{{"mediaType":"x","digest":"{}","size":1,"urls":["https://example.com/l"]}}],
            "subject":{{"mediaType":"{}","digest":"{}","size":3}},"annotations":{{"k":"v"}}}}"#,
            MediaType::OCI_MANIFEST,
            d('a'),
            d('b'),
            d('c'),
            MediaType::OCI_MANIFEST,
            d('e')
        );
        let info = ManifestInfo::parse(m.as_bytes(), Some(MediaType::OCI_MANIFEST)).expect("valid");
        assert_eq!(info.media_type, MediaType::OciManifest);
        assert_eq!(info.artifact_type.as_deref(), Some("application/vnd.example+json"));
        let kinds: Vec<_> = info.references.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [RefKind::Blob, RefKind::Blob, RefKind::ForeignLayer, RefKind::Subject]);
        assert_eq!(info.subject.map(|s| s.to_string()), Some(d('e')));
        assert_eq!(info.annotations.as_deref(), Some(r#"{"k":"v"}"#));
        assert_eq!(info.config_media_type.as_deref(), Some("application/vnd.example+json"));
        assert_eq!(info.referenced_size, 4);
    }

    #[test]
    fn index_lists_child_platforms() {
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"x","digest":"{}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}},
            {{"mediaType":"x","digest":"{}","size":1}}]}}"#,
            d('a'),
            d('b')
        );
        let info = ManifestInfo::parse(index.as_bytes(), None).expect("valid");
        let arch: Vec<_> = info.platforms.iter().map(|p| (p.architecture.as_deref(), p.os.as_deref())).collect();
        assert_eq!(arch, [(Some("arm64"), Some("linux")), (None, None)]);
        assert_eq!(info.referenced_size, 0);
    }

    #[test]
    fn repeated_references_count_once_and_too_many_are_refused() {
        let layer = |digest: &str| format!(r#"{{"mediaType":"x","digest":"{digest}","size":1}}"#);
        let image = |layers: Vec<String>| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{}","size":1}},"layers":[{}]}}"#,
                d('a'),
                layers.join(",")
            )
        };
        let same = image(vec![layer(&d('b')); 30_000]);
        let info = ManifestInfo::parse(same.as_bytes(), None).expect("one blob many times is fine");
        assert_eq!(info.references.len(), 2, "the config and one layer");
        let distinct: Vec<String> =
            (0..MAX_REFERENCES as u32).map(|i| layer(&format!("sha256:{:064x}", u64::from(i) + 1))).collect();
        let many = image(distinct);
        assert_eq!(
            ManifestInfo::parse(many.as_bytes(), None).map(|i| i.references.len()),
            Err(ManifestError::TooManyReferences(MAX_REFERENCES + 1))
        );
    }

    #[test]
    fn media_type_comes_from_body_header_or_shape() {
        let index =
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"x","digest":"{}","size":1}}]}}"#, d('a'));
        assert_eq!(ManifestInfo::parse(index.as_bytes(), None).map(|i| i.media_type), Ok(MediaType::OciIndex));
        let list = ManifestInfo::parse(index.as_bytes(), Some(MediaType::DOCKER_MANIFEST_LIST)).map(|i| i.media_type);
        assert_eq!(list, Ok(MediaType::DockerManifestList));
        let image = format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{}","size":1}}}}"#, d('a'));
        assert_eq!(ManifestInfo::parse(image.as_bytes(), None).map(|i| i.media_type), Ok(MediaType::OciManifest));
    }

    #[test]
    fn malformed_manifests_are_rejected() {
        let cases: [(&str, Option<&str>); 7] = [
            ("not json", None),
            (r#"{"schemaVersion":1}"#, None),
            (r#"{"schemaVersion":2,"mediaType":"application/x-unknown","config":{}}"#, None),
            (r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#, None),
            (r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, None),
            (r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}"#, None),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                Some(MediaType::OCI_MANIFEST),
            ),
        ];
        for (body, ct) in cases {
            assert!(ManifestInfo::parse(body.as_bytes(), ct).is_err(), "{body}");
        }
    }
}
