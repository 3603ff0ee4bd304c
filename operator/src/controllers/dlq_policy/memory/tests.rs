use super::*;
use crate::decisions::dlq::moves::MovePhase;

fn handle(id: &str) -> MoveHandle {
    let progress = MoveProgress {
        phase: MovePhase::Running,
        moved: 3,
        total: Some(10),
        started_ms: 0,
        finished_ms: None,
        message: None,
    };
    MoveHandle {
        id: id.into(),
        control: Arc::new(MoveControl::new(5)),
        progress: Arc::new(Mutex::new(progress)),
        join: tokio::spawn(std::future::pending()),
    }
}

#[tokio::test]
async fn a_policy_polling_its_monitor_does_not_hold_up_another() {
    let memories = PolicyMemories::default();
    let a = memories.monitor("ns/a");
    let held = a.lock().await; // a's poll is peeking, which blocks
    // Another policy finds and takes its own monitor meanwhile.
    let b = memories.monitor("ns/b");
    assert!(b.try_lock().is_ok(), "b waits for a's peek");
    // The same policy gets the same monitor: its own polls take turns.
    let again = memories.monitor("ns/a");
    assert!(Arc::ptr_eq(&a, &again));
    assert!(again.try_lock().is_err());
    drop(held);
    assert!(again.try_lock().is_ok());
}

#[tokio::test]
async fn forgetting_a_policy_drops_its_monitor_and_series_and_hands_back_its_move() {
    let (memories, metrics) = (PolicyMemories::default(), Metrics::default());
    for name in ["gone", "kept"] {
        memories.monitor(&format!("ns/{name}")).lock().await.samples.push(EndSample { at_ms: 1, total_end: 2 });
        memories.insert_move(&format!("ns/{name}"), handle(name));
        let labels = ResourceLabels { namespace: "ns".into(), name: name.into() };
        metrics.dlq_depth.get_or_create(&labels).set(4);
        metrics.dlq_oldest_age_seconds.get_or_create(&labels).set(60);
        metrics.dlq_within_limit.get_or_create(&labels).set(1);
    }
    let gone = memories.forget(&metrics, "ns", "gone").expect("its move is handed back");
    assert_eq!(gone.id, "gone");
    gone.join.abort();
    assert_eq!(memories.monitored(), ["ns/kept"]);
    assert!(memories.live_move("ns/gone").is_none());
    assert_eq!(
        memories.live_move("ns/kept").map(|m| (m.id, m.progress.moved, m.finished)),
        Some(("kept".into(), 3, false))
    );
    let text = metrics.encode();
    assert!(!text.contains(r#"name="gone""#), "{text}");
    assert_eq!(text.matches(r#"name="kept""#).count(), 3, "{text}");
    // Forgetting again (a second cleanup) finds nothing to stop.
    assert!(memories.forget(&metrics, "ns", "gone").is_none());
    // A fresh monitor for a policy of the same name starts empty.
    assert!(memories.monitor("ns/gone").lock().await.samples.is_empty());
    for h in memories.take_moves() {
        h.join.abort();
    }
}
