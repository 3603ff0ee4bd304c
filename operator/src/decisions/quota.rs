//! A `KafkaUser`'s client quotas: the spec's `quotas` in Kafka's key names, and what to set and remove so that
//! Kafka's quotas for the user entity are exactly those. Pure.

use std::collections::BTreeMap;

use crate::api::kafka_user::Quotas;

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";

/// The spec's quotas by Kafka's key names (Kafka keeps every quota as a double); none when absent.
pub fn desired(quotas: Option<&Quotas>) -> BTreeMap<String, f64> {
    let Some(q) = quotas else { return BTreeMap::new() };
    [
        (PRODUCER_BYTE_RATE, q.producer_byte_rate.map(|v| v as f64)),
        (CONSUMER_BYTE_RATE, q.consumer_byte_rate.map(|v| v as f64)),
        (REQUEST_PERCENTAGE, q.request_percentage.map(f64::from)),
        (CONTROLLER_MUTATION_RATE, q.controller_mutation_rate),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect()
}

/// The quota changes for the user entity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuotaPlan {
    /// Keys to set, with their value: missing in Kafka or with another value.
    pub set: BTreeMap<String, f64>,
    /// Keys Kafka has for the user that the spec does not ask for.
    pub remove: Vec<String>,
}

impl QuotaPlan {
    /// Kafka already matches.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// Compares the spec's quotas with `observed`, Kafka's quotas for the user entity (key → value). Values are
/// compared exactly: Kafka hands back the double it was given.
pub fn quota_plan(desired_quotas: Option<&Quotas>, observed: &BTreeMap<String, f64>) -> QuotaPlan {
    let want = desired(desired_quotas);
    let set = want.iter().filter(|(k, v)| observed.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), *v)).collect();
    let remove = observed.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
    QuotaPlan { set, remove }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_key_is_set_changed_removed_or_left() {
        let all = Quotas {
            producer_byte_rate: Some(1_048_576),
            consumer_byte_rate: Some(2_097_152),
            request_percentage: Some(55),
            controller_mutation_rate: Some(0.5),
        };
        let produce_only = Quotas { producer_byte_rate: Some(1_048_576), ..Quotas::default() };
        let empty = Quotas::default();
        let zero = Quotas { consumer_byte_rate: Some(0), ..Quotas::default() };
        let all_in_kafka = kv(&[
            (PRODUCER_BYTE_RATE, 1_048_576.0),
            (CONSUMER_BYTE_RATE, 2_097_152.0),
            (REQUEST_PERCENTAGE, 55.0),
            (CONTROLLER_MUTATION_RATE, 0.5),
        ]);
        // (desired, observed) → (set, remove)
        type Row<'a> = (Option<&'a Quotas>, BTreeMap<String, f64>, (BTreeMap<String, f64>, Vec<&'a str>));
        let table: Vec<Row<'_>> = vec![
            // Nothing asked, nothing there.
            (None, kv(&[]), (kv(&[]), vec![])),
            // An empty quotas block is no quota.
            (Some(&empty), kv(&[]), (kv(&[]), vec![])),
            // All four set on a fresh user.
            (Some(&all), kv(&[]), (all_in_kafka.clone(), vec![])),
            // Unchanged.
            (Some(&all), all_in_kafka.clone(), (kv(&[]), vec![])),
            // One value changed behind our back.
            (
                Some(&all),
                kv(&[
                    (PRODUCER_BYTE_RATE, 1.0),
                    (CONSUMER_BYTE_RATE, 2_097_152.0),
                    (REQUEST_PERCENTAGE, 55.0),
                    (CONTROLLER_MUTATION_RATE, 0.5),
                ]),
                (kv(&[(PRODUCER_BYTE_RATE, 1_048_576.0)]), vec![]),
            ),
            // Keys the spec dropped are removed.
            (
                Some(&produce_only),
                all_in_kafka.clone(),
                (kv(&[]), vec![CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, REQUEST_PERCENTAGE]),
            ),
            // No quotas any more: every key removed.
            (
                None,
                all_in_kafka.clone(),
                (kv(&[]), vec![CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE]),
            ),
            // A zero quota is a quota (fully throttled), not an absent one.
            (Some(&zero), kv(&[]), (kv(&[(CONSUMER_BYTE_RATE, 0.0)]), vec![])),
            // Set and remove at once.
            (
                Some(&zero),
                kv(&[(PRODUCER_BYTE_RATE, 5.0)]),
                (kv(&[(CONSUMER_BYTE_RATE, 0.0)]), vec![PRODUCER_BYTE_RATE]),
            ),
        ];
        for (i, (desired, observed, (set, remove))) in table.into_iter().enumerate() {
            let p = quota_plan(desired, &observed);
            assert_eq!(p.set, set, "row {i}");
            assert_eq!(p.remove, remove, "row {i}");
            assert_eq!(p.is_empty(), set.is_empty() && remove.is_empty(), "row {i}");
        }
    }
}
