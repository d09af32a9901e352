//! Typed values of `chains-config`: formats, storage backends, signers and
//! artifact types. Each enum owns the words it accepts, so the validator's
//! allowed lists and messages come from here.

use std::fmt;

/// Defines a word-valued enum: its accepted words (aliases allowed), the
/// canonical word of each variant, `parse`, `as_str` and `Display`.
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $word:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every accepted word, aliases included, in documentation order.
            pub const WORDS: &'static [&'static str] = &[$($word $(, $alias)*),+];
            /// Every variant.
            pub const ALL: &'static [Self] = &[$(Self::$var),+];

            /// Reads a config word; `None` when it is not one of [`Self::WORDS`].
            pub fn parse(word: &str) -> Option<Self> {
                match word {
                    $($word $(| $alias)* => Some(Self::$var),)+
                    _ => None,
                }
            }

            /// The canonical config word.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$var => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// Payload format of a run (`artifacts.{taskrun,pipelinerun}.format`).
    Format {
        /// SLSA Provenance v0.2 in an in-toto Statement v0.1 (`slsa/v1` is an alias).
        InToto = "in-toto" | "slsa/v1",
        /// SLSA Provenance v1.0, alpha 3 of Chains' mapping.
        SlsaV2Alpha3 = "slsa/v2alpha3",
        /// SLSA Provenance v1.0, alpha 4 (StepAction results).
        SlsaV2Alpha4 = "slsa/v2alpha4",
        /// The run's status as JSON.
        Tekton = "tekton",
    }
}

impl Format {
    /// True for the formats signed inside a DSSE envelope (in-toto statements).
    pub fn is_in_toto(self) -> bool {
        !matches!(self, Self::Tekton)
    }
}

word_enum! {
    /// Payload format of images (`artifacts.oci.format`).
    ImageFormat {
        /// The cosign container image signature payload.
        SimpleSigning = "simplesigning",
    }
}

word_enum! {
    /// A storage backend (`artifacts.*.storage` lists).
    StorageKind {
        Tekton = "tekton",
        Oci = "oci",
        Gcs = "gcs",
        DocDb = "docdb",
        Grafeas = "grafeas",
        Kafka = "kafka",
        Archivista = "archivista",
    }
}

word_enum! {
    /// Who signs an artifact type (`artifacts.*.signer`).
    SignerKind {
        /// A local key (x509.pem or cosign.key), or keyless with Fulcio.
        X509 = "x509",
        /// A key in a KMS (`signers.kms.kmsref`).
        Kms = "kms",
        /// Not signed at all.
        None = "none",
    }
}

word_enum! {
    /// The Rekor entry kind of in-toto attestations (`transparency.entry-kind`).
    /// Signatures of other payloads are always `hashedrekord` entries.
    LogEntryKind {
        /// `intoto` v0.0.2: Rekor keeps the attestation, so `rekor-cli get`
        /// shows it (as upstream Chains before v0.29).
        InToto = "intoto",
        /// `dsse` v0.0.1, what upstream Chains v0.29+ sends; Rekor keeps
        /// only hashes.
        Dsse = "dsse",
    }
}

word_enum! {
    /// How `oci` storage encodes attestations (`storage.oci.encoding-format`).
    OciEncoding {
        /// A DSSE envelope layer (cosign's `.att` layout).
        Dsse = "dsse",
        /// A sigstore bundle v0.3, as an OCI 1.1 referrer of the image.
        SigstoreBundle = "sigstore-bundle",
    }
}

word_enum! {
    /// The SLSA v1 `buildType` (`builddefinition.buildtype`).
    BuildType {
        /// Chains' generic build type.
        Slsa = "https://tekton.dev/chains/v2/slsa",
        /// With Tekton-specific fields (the run's own spec and status).
        SlsaTekton = "https://tekton.dev/chains/v2/slsa-tekton",
    }
}

word_enum! {
    /// The Pub/Sub provider of the `kafka` backend (`storage.pubsub.provider`).
    PubSubProvider {
        /// Not set.
        Unset = "",
        InMemory = "inmemory",
        Kafka = "kafka",
    }
}

word_enum! {
    /// The three artifact types of `chains-config` (`artifacts.<type>.*`).
    Artifact {
        TaskRun = "taskrun",
        PipelineRun = "pipelinerun",
        Oci = "oci",
    }
}

impl Artifact {
    /// The config key `artifacts.<type>.<field>`.
    pub fn key(self, field: &str) -> String {
        format!("artifacts.{self}.{field}")
    }
}

impl From<crate::tekton::RunKind> for Artifact {
    fn from(kind: crate::tekton::RunKind) -> Self {
        match kind {
            crate::tekton::RunKind::TaskRun => Self::TaskRun,
            crate::tekton::RunKind::PipelineRun => Self::PipelineRun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_and_every_variant_has_its_word() {
        for w in Format::WORDS {
            assert!(Format::parse(w).is_some(), "{w}");
        }
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(*f));
        }
        assert_eq!(Format::parse("slsa/v1"), Some(Format::InToto));
        assert_eq!(Format::InToto.to_string(), "in-toto");
        assert_eq!(StorageKind::WORDS.len(), StorageKind::ALL.len());
        assert_eq!(SignerKind::parse("none"), Some(SignerKind::None));
        assert_eq!(Artifact::Oci.key("storage"), "artifacts.oci.storage");
        assert!(Format::parse("bogus").is_none());
    }
}
