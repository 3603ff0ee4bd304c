//! Table tests of the offset-reset steps: every phase × every observation, then whole resets driven to their end.

use super::*;
use crate::api::consumer_group::OffsetResetTarget;
use OffsetResetPhase::*;

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn spec() -> OffsetReset {
    OffsetReset { id: "replay-1".into(), to: OffsetResetTarget::Earliest, value: None, topics: vec![] }
}

fn status(phase: OffsetResetPhase) -> OffsetResetStatus {
    OffsetResetStatus {
        id: "replay-1".into(),
        phase,
        saved_replicas: Some(3),
        message: Some("before".into()),
        started_at: Some(Time(Timestamp::from_second(1_600_000_000).unwrap())),
        finished_at: None,
    }
}

/// What the controller observed, in the row's words.
#[derive(Clone, Copy, Debug)]
struct Seen {
    target: bool,
    members: i32,
    replicas: Option<i32>,
    written: Option<Result<usize, &'static str>>,
}

impl Seen {
    fn facts(self) -> Facts {
        Facts {
            group: "billing".into(),
            members: self.members,
            target: self.target.then(|| "Deployment web".to_string()),
            replicas: self.replicas,
            written: self.written.map(|w| w.map_err(str::to_string)),
            now: now(),
        }
    }
}

const fn seen(target: bool, members: i32, replicas: Option<i32>, written: Option<Result<usize, &'static str>>) -> Seen {
    Seen { target, members, replicas, written }
}

#[test]
fn every_phase_times_every_observation() {
    // (from, observed, expected phase, action, event reason, message)
    type Row = (OffsetResetPhase, Seen, OffsetResetPhase, Option<Action>, Option<&'static str>, Option<&'static str>);
    let ok = Some(Ok(4));
    let err = Some(Err("broker said no"));
    let waiting = Some("scaled Deployment web to 0; waiting for the group to be empty");
    let rows: &[Row] = &[
        // Pending, with a scale target: read its replicas, then scale to 0 (not when already there).
        (Pending, seen(true, 2, None, None), Pending, Some(Action::ReadReplicas), None, Some("before")),
        (
            Pending,
            seen(true, 2, Some(3), None),
            WaitingForEmptyGroup,
            Some(Action::ScaleTo(0)),
            Some("OffsetReset"),
            waiting,
        ),
        (Pending, seen(true, 0, Some(0), None), WaitingForEmptyGroup, None, None, waiting),
        // Pending, without a target: members the operator cannot stop refuse the reset.
        (Pending, seen(false, 2, None, None), Refused, None, Some("OffsetResetRefused"), None),
        (Pending, seen(false, 0, None, None), Resetting, None, None, Some("before")),
        // Waiting for the group to empty.
        (WaitingForEmptyGroup, seen(true, 1, None, None), WaitingForEmptyGroup, None, None, Some("before")),
        (WaitingForEmptyGroup, seen(true, 0, None, None), Resetting, None, None, Some("before")),
        (WaitingForEmptyGroup, seen(false, 0, None, None), Resetting, None, None, Some("before")),
        // Resetting: back to waiting when members return, else write, then finish (restoring the replicas).
        (Resetting, seen(true, 1, None, None), WaitingForEmptyGroup, None, None, Some("before")),
        (Resetting, seen(true, 1, None, ok), WaitingForEmptyGroup, None, None, Some("before")),
        (Resetting, seen(true, 0, None, None), Resetting, Some(Action::WriteOffsets), None, Some("before")),
        (Resetting, seen(false, 0, None, None), Resetting, Some(Action::WriteOffsets), None, Some("before")),
        (
            Resetting,
            seen(true, 0, None, ok),
            Done,
            Some(Action::ScaleTo(3)),
            Some("OffsetReset"),
            Some("4 partition(s) reset to Earliest; replicas restored to 3"),
        ),
        (
            Resetting,
            seen(false, 0, None, ok),
            Done,
            None,
            Some("OffsetReset"),
            Some("4 partition(s) reset to Earliest"),
        ),
        (
            Resetting,
            seen(true, 0, None, err),
            Failed,
            Some(Action::ScaleTo(3)),
            Some("OffsetResetFailed"),
            Some("failed: broker said no; replicas restored to 3"),
        ),
        (Resetting, seen(false, 0, None, err), Failed, None, Some("OffsetResetFailed"), Some("failed: broker said no")),
    ];
    let finals = [Done, Refused, Failed];
    let observations =
        [seen(true, 0, None, None), seen(true, 2, Some(3), ok), seen(false, 2, None, err), seen(false, 0, None, None)];
    let mut count = 0;
    for &(from, seen, phase, action, reason, message) in rows {
        let before = status(from);
        let s = step(&spec(), Some(&before), &seen.facts());
        let row = format!("{from} × {seen:?}");
        assert_eq!(s.status.phase, phase, "{row}");
        assert_eq!(s.action, action, "{row}");
        assert_eq!(s.event.as_ref().map(ResetEvent::reason), reason, "{row}");
        if let Some(m) = message {
            assert_eq!(s.status.message.as_deref(), Some(m), "{row}");
        }
        assert_eq!(s.status.finished_at.is_some(), phase.is_terminal(), "{row}: finished_at with a final phase");
        assert_eq!(s.status.started_at, before.started_at, "{row}: the start is kept");
        count += 1;
    }
    // A final phase stays, whatever is observed.
    for from in finals {
        for seen in observations {
            let before = OffsetResetStatus { finished_at: Some(Time(now())), ..status(from) };
            let s = step(&spec(), Some(&before), &seen.facts());
            assert_eq!((s.status, s.action, s.event), (before.clone(), None, None), "{from} × {seen:?}");
            count += 1;
        }
    }
    assert_eq!(count, 16 + 12);
}

#[test]
fn a_new_id_starts_pending_whatever_came_before() {
    for before in [None, Some(OffsetResetStatus { id: "replay-0".into(), ..status(Done) })] {
        let s = step(&spec(), before.as_ref(), &seen(true, 2, Some(3), None).facts());
        assert_eq!(s.action, None);
        assert_eq!(s.status.id, "replay-1");
        assert_eq!(s.status.phase, Pending);
        assert_eq!(s.status.started_at, Some(Time(now())));
        assert_eq!((s.status.saved_replicas, s.status.message.as_deref()), (None, None), "nothing carried over");
        assert!(!s.settled(before.as_ref()), "a new status is a change");
    }
}

#[test]
fn the_scale_down_and_the_refusal_say_what_and_why() {
    let down = step(&spec(), Some(&status(Pending)), &seen(true, 2, Some(5), None).facts());
    assert_eq!(down.status.saved_replicas, Some(5));
    let e = down.event.unwrap();
    assert_eq!((e.action(), e.warning()), ("Scale", false));
    assert_eq!(e.note(), "offset reset replay-1: scaled Deployment web from 5 to 0");
    let refused = step(&spec(), Some(&status(Pending)), &seen(false, 2, None, None).facts());
    let e = refused.event.unwrap();
    assert_eq!((e.action(), e.warning()), ("Reset", true));
    assert!(e.note().starts_with("group \"billing\" has 2 member(s)"), "{}", e.note());
    assert_eq!(refused.status.message.as_deref(), Some(e.note()));
    let failed = step(&spec(), Some(&status(Resetting)), &seen(false, 0, None, Some(Err("no partition"))).facts());
    assert_eq!(failed.event.map(|e| (e.warning(), e.note().to_string())), Some((true, "no partition".to_string())));
}

/// Drives a reset as the controller does: carry out each action, feed back its result, until settled.
fn drive(
    observed: Seen,
    mut replicas_now: i32,
    write: Result<usize, &'static str>,
) -> (OffsetResetStatus, Vec<String>) {
    let mut facts = observed.facts();
    let mut status: Option<OffsetResetStatus> = None;
    let mut log = vec![];
    for _ in 0..10 {
        let s = step(&spec(), status.as_ref(), &facts);
        if s.settled(status.as_ref()) {
            return (s.status, log);
        }
        match s.action {
            Some(Action::ReadReplicas) => facts.replicas = Some(replicas_now),
            Some(Action::ScaleTo(n)) => {
                log.push(format!("scale {replicas_now}→{n}"));
                replicas_now = n;
            }
            Some(Action::WriteOffsets) => {
                log.push("write".into());
                facts.written = Some(write.map_err(str::to_string));
            }
            None => {}
        }
        if let Some(e) = &s.event {
            log.push(e.reason().to_string());
        }
        status = Some(s.status);
    }
    panic!("did not settle: {status:?} {log:?}");
}

#[test]
fn whole_resets_settle_in_their_final_phase() {
    let (st, log) = drive(seen(true, 0, None, None), 4, Ok(6));
    assert_eq!((st.phase, st.saved_replicas), (Done, Some(4)));
    assert_eq!(log, ["scale 4→0", "OffsetReset", "write", "scale 0→4", "OffsetReset"]);
    let (st, log) = drive(seen(true, 0, None, None), 2, Err("denied"));
    assert_eq!(st.phase, Failed);
    assert_eq!(log, ["scale 2→0", "OffsetReset", "write", "scale 0→2", "OffsetResetFailed"]);
    let (st, log) = drive(seen(false, 0, None, None), 0, Ok(1));
    assert_eq!((st.phase, log), (Done, vec!["write".to_string(), "OffsetReset".to_string()]));
    // Members still there after scaling down: the reset waits (and writes nothing).
    let (st, log) = drive(seen(true, 3, None, None), 3, Ok(1));
    assert_eq!((st.phase, log), (WaitingForEmptyGroup, vec!["scale 3→0".to_string(), "OffsetReset".to_string()]));
    let (st, log) = drive(seen(false, 1, None, None), 0, Ok(1));
    assert_eq!((st.phase, log), (Refused, vec!["OffsetResetRefused".to_string()]));
}
