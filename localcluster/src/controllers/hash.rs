//! The hashes controllers name things by: `pod-template-hash` (Deployments, DaemonSets) and the
//! ControllerRevision hash (StatefulSets), encoded as `rand.SafeEncodeString` encodes them.
//!
//! Upstream hashes a Go dump of the template (`hashutil.DeepHashObject`); here it is the JSON
//! of the template: the same template always gets the same hash and a changed one another, but
//! the values differ from a real cluster's for the same template.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The characters `SafeEncodeString` maps bytes to: no vowels, no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bits (`fnv.New32a`).
fn fnv1a(data: &[&[u8]]) -> u32 {
    let mut hash = FNV_OFFSET;
    for byte in data.iter().flat_map(|d| d.iter()) {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1, 32 bits (`fnv.New32`).
fn fnv1(data: &[&[u8]]) -> u32 {
    let mut hash = FNV_OFFSET;
    for byte in data.iter().flat_map(|d| d.iter()) {
        hash = hash.wrapping_mul(FNV_PRIME);
        hash ^= u32::from(*byte);
    }
    hash
}

/// `rand.SafeEncodeString`: each byte of `text` mapped to one of [`ALPHANUMS`].
pub(crate) fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// `controller.ComputeHash`: the template, then the collision count (as 8 little-endian bytes
/// holding a `uint32`) when there is one.
pub(crate) fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut count = [0u8; 8];
    if let Some(n) = collision_count {
        count[..4].copy_from_slice(&n.cast_unsigned().to_le_bytes());
    }
    let hash = match collision_count {
        Some(_) => fnv1a(&[&json, &count]),
        None => fnv1a(&[&json]),
    };
    safe_encode(&hash.to_string())
}

/// `history.HashControllerRevision`: the revision's data, then the collision count in decimal.
pub(crate) fn revision_hash(data: &[u8], collision_count: Option<i32>) -> String {
    let probe = collision_count.map(|n| n.to_string()).unwrap_or_default();
    safe_encode(&fnv1(&[data, probe.as_bytes()]).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        // The test vectors of the FNV reference implementation.
        assert_eq!(fnv1a(&[b""]), 0x811c_9dc5);
        assert_eq!(fnv1a(&[b"a"]), 0xe40c_292c);
        assert_eq!(fnv1a(&[b"foobar"]), 0xbf9c_f968);
        assert_eq!(fnv1(&[b"a"]), 0x050c_5d7e);
        assert_eq!(fnv1(&[b"foo", b"bar"]), 0x31f0_b262);
    }

    #[test]
    fn hashes_are_safe_encoded_and_follow_the_template() {
        // The encoding maps byte values: "0" is 48, and 48 % 27 = 21 is "4", as upstream.
        assert_eq!(safe_encode("0123"), "4567");
        let mut template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
        }))
        .unwrap();
        let first = template_hash(&template, None);
        assert_eq!(first, template_hash(&template, None));
        assert!(first.len() >= 8 && first.len() <= 10, "{first}");
        assert!(
            first.chars().all(|c| ALPHANUMS.contains(&(c as u8))),
            "{first}"
        );
        assert_ne!(first, template_hash(&template, Some(1)));
        template.spec.as_mut().unwrap().containers[0].image = Some("nginx:1.28".into());
        assert_ne!(first, template_hash(&template, None));
        assert_ne!(revision_hash(b"{}", None), revision_hash(b"{}", Some(1)));
    }
}
